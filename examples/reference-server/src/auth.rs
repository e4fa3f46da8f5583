//! Authentication (API keys and user JWTs), rate limiting, and the tenant context.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use workos_core::ids::{OrgId, UserId};
use workos_core::tenant::TenantContext;
use workos_limits::Decision;

use crate::client_ip;
use crate::config::JwtConfig;
use crate::error::ApiError;
use crate::state::AppState;

/// Authenticates the request, applies the caller's rate limit, and hands the handler a
/// [`TenantContext`] (through the request's extensions) carrying the request id.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    // A client whose failures used up its budget is refused before its credentials are
    // looked up ([`workos_limits::FailedAuth`]).
    let client = client_ip::limit_key(client_ip::of_request(
        req.headers(),
        req.extensions(),
        &state.trusted_proxies,
    ));
    if let Some(retry_after) = state.failed_auth.refused_for(&client) {
        return limited(state.failed_auth.per_minute(), retry_after);
    }
    let (ctx, limit_key) = match resolve(&state, req.headers()).await {
        Ok(found) => found,
        Err(e) if e.status() == StatusCode::UNAUTHORIZED => {
            return match state.failed_auth.failed(&*state.limiter, &client).await {
                Some(retry_after) => limited(state.failed_auth.per_minute(), retry_after),
                None => e.into_response(),
            };
        }
        Err(e) => return e.into_response(),
    };
    tracing::Span::current().record("org_id", tracing::field::display(ctx.org_id()));

    let per_minute = state.rate_limit_per_minute;
    let (remaining, reset) = match state.limiter.check(&limit_key, state.caller_quota).await {
        Decision::Allowed { remaining, reset } => (remaining, reset),
        Decision::Limited { retry_after } => return limited(per_minute, retry_after),
    };
    // The org's quota, shared by all its keys and users: counted once the caller's allowed.
    if let Some(org_quota) = state.org_quota
        && let Decision::Limited { retry_after } = state
            .limiter
            .check(&format!("org:{}", ctx.org_id()), org_quota)
            .await
    {
        return limited(org_quota.burst().get(), retry_after);
    }

    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let ctx = match request_id {
        Some(id) => ctx.with_request_id(id),
        None => ctx,
    };
    let org_id = ctx.org_id();
    req.extensions_mut().insert(ctx);
    let mut response = next.run(req).await;
    // For the access log, which runs outside the routes.
    response.extensions_mut().insert(org_id);
    rate_limit_headers(response.headers_mut(), per_minute, remaining, reset);
    response
}

/// 429 with `Retry-After` and the limit that refused (`limit` a minute).
fn limited(limit: u32, retry_after: Duration) -> Response {
    let mut response = ApiError::rate_limited(retry_after).into_response();
    rate_limit_headers(response.headers_mut(), limit, 0, retry_after);
    response
}

fn rate_limit_headers(headers: &mut HeaderMap, limit: u32, remaining: u32, reset: Duration) {
    headers.insert("ratelimit-limit", HeaderValue::from(limit));
    headers.insert("ratelimit-remaining", HeaderValue::from(remaining));
    headers.insert(
        "ratelimit-reset",
        HeaderValue::from(reset.as_secs_f64().ceil() as u64),
    );
    headers.insert(
        "ratelimit-policy",
        HeaderValue::from_str(&format!("{limit};w=60")).expect("ascii"),
    );
}

/// Finds the context for the request's credentials, and the key its rate limit is counted on.
async fn resolve(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(TenantContext, String), ApiError> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <API key or JWT>"))?;
    let token = header
        .to_str()
        .ok()
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or_else(|| ApiError::unauthorized("Authorization must be: Bearer <API key or JWT>"))?;

    if token.starts_with("wos_") {
        return api_key(state, token).await;
    }
    user_jwt(state, headers, token).await
}

async fn api_key(state: &AppState, token: &str) -> Result<(TenantContext, String), ApiError> {
    let key = state
        .auth
        .api_key(token)
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid API key"))?;
    Ok((
        TenantContext::api_key(key.org_id, key.id, key.role),
        format!("key:{}", key.id),
    ))
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
}

/// Checks user JWTs: HS256 only, signature, `exp` (required), `nbf` (when present), and `aud`
/// / `iss` (required) when `WORKOS_JWT_AUDIENCE` / `WORKOS_JWT_ISSUER` are set.
pub struct JwtVerifier {
    /// HS256 with `WORKOS_JWT_SECRET`.
    secret: Option<jsonwebtoken::DecodingKey>,
    /// RS256 and ES256 with the keys at `WORKOS_JWT_JWKS_URL`.
    jwks: Option<crate::jwks::JwksKeys>,
    validation: jsonwebtoken::Validation,
}

impl JwtVerifier {
    /// The verifier for `config`.
    ///
    /// # Errors
    /// When the secret is empty, or the JWKS client cannot be built.
    pub fn new(config: &JwtConfig) -> anyhow::Result<Self> {
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        match &config.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                required.push("aud");
            }
            // Without a configured audience any `aud` is accepted (the library would refuse all).
            None => validation.validate_aud = false,
        }
        if let Some(iss) = &config.issuer {
            validation.set_issuer(&[iss]);
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);
        Ok(Self {
            // jsonwebtoken refuses an empty HMAC key; the configuration already refuses one
            // shorter than `MIN_JWT_SECRET_BYTES`.
            secret: config
                .secret
                .as_deref()
                .map(jsonwebtoken::DecodingKey::from_secret)
                .transpose()
                .map_err(|e| anyhow::anyhow!("WORKOS_JWT_SECRET: not a usable HS256 key: {e}"))?,
            jwks: config
                .jwks_url
                .clone()
                .map(crate::jwks::JwksKeys::new)
                .transpose()?,
            validation,
        })
    }

    /// The token's claims once its signature (HS256 with the secret; RS256 or ES256 with the
    /// JWKS key its `kid` names), expiry, `nbf` and configured `aud` / `iss` check out.
    async fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        use jsonwebtoken::Algorithm;
        let invalid = || ApiError::unauthorized("invalid or expired token");
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid())?;
        let key = match (header.alg, &self.secret, &self.jwks) {
            (Algorithm::HS256, Some(secret), _) => secret.clone(),
            (alg @ (Algorithm::RS256 | Algorithm::ES256), _, Some(jwks)) => {
                let kid = header.kid.as_deref().ok_or_else(invalid)?;
                jwks.key(kid, alg).await.ok_or_else(invalid)?
            }
            _ => return Err(invalid()),
        };
        let mut validation = self.validation.clone();
        validation.algorithms = vec![header.alg];
        jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|_| invalid())
    }
}

async fn user_jwt(
    state: &AppState,
    headers: &HeaderMap,
    token: &str,
) -> Result<(TenantContext, String), ApiError> {
    let claims = state
        .jwt
        .as_ref()
        .ok_or_else(|| ApiError::unauthorized("invalid API key"))?
        .verify(token)
        .await?;
    let user_id: UserId = claims
        .sub
        .parse()
        .map_err(|_| ApiError::unauthorized("token subject is not a user id"))?;
    let org_id: OrgId = headers
        .get("x-org-id")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::bad_request("X-Org-Id is required with a user token"))?
        .parse()
        .map_err(|_| ApiError::bad_request("X-Org-Id is not an org id"))?;
    Ok((
        member_context(state, org_id, user_id).await?,
        format!("user:{user_id}"),
    ))
}

/// The context of `user_id` acting in `org_id`, with their role there now.
///
/// # Errors
/// 403 when the user is not a member (the same answer whether or not the org exists).
pub async fn member_context(
    state: &AppState,
    org_id: OrgId,
    user_id: UserId,
) -> Result<TenantContext, ApiError> {
    state.auth.member(org_id, user_id).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "not a member of this org",
        )
    })
}
