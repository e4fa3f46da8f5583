//! Authentication (API keys and user JWTs), the callers' rate limits, and the tenant context:
//! the one place a request's credentials become a [`TenantContext`].
//!
//! Build an [`Authentication`] once, and mount [`authenticate`] as a route layer with it as
//! the layer's state:
//! `router.route_layer(axum::middleware::from_fn_with_state(Arc::new(authentication), authenticate))`.
//! Handlers then take [`Ctx`](crate::extract::Ctx).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use workos_core::auth::Authenticator;
use workos_core::ids::{OrgId, UserId};
use workos_core::tenant::TenantContext;
use workos_limits::{Decision, FailedAuth, Quota, RateLimiter};

use crate::client_ip;
use crate::error::ApiError;

/// What [`authenticate`] needs: the engine's [`Authenticator`], the user-JWT verifier when
/// users log in with tokens, and the limits it enforces. Built once, shared (`Arc`) by every
/// request.
pub struct Authentication {
    authenticator: Authenticator,
    jwt: Option<JwtVerifier>,
    limiter: Arc<dyn RateLimiter>,
    caller_quota: Quota,
    org_quota: Option<Quota>,
    failed_auth: FailedAuth,
    trusted_proxies: Vec<ipnet::IpNet>,
}

impl std::fmt::Debug for Authentication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authentication")
            .field("jwt", &self.jwt.is_some())
            .field("caller_quota", &self.caller_quota)
            .field("org_quota", &self.org_quota)
            .field("trusted_proxies", &self.trusted_proxies)
            .finish_non_exhaustive()
    }
}

impl Authentication {
    /// API keys through `authenticator`, `per_minute` requests per API key or user counted on
    /// `limiter`, 30 failed authentications a minute per client address; no user JWTs, no
    /// per-org limit and no trusted proxies until set.
    #[must_use]
    pub fn new(
        authenticator: Authenticator,
        limiter: Arc<dyn RateLimiter>,
        per_minute: NonZeroU32,
    ) -> Self {
        Self {
            authenticator,
            jwt: None,
            limiter,
            caller_quota: Quota::per_minute(per_minute),
            org_quota: None,
            failed_auth: FailedAuth::new(NonZeroU32::new(30).unwrap_or(NonZeroU32::MIN)),
            trusted_proxies: Vec::new(),
        }
    }

    /// Accepts user JWTs checked by `verifier` (with an `X-Org-Id` header naming the org).
    #[must_use]
    pub fn with_jwt(mut self, verifier: Option<JwtVerifier>) -> Self {
        self.jwt = verifier;
        self
    }

    /// Also limits each org, across its keys and users, to `per_minute` requests.
    #[must_use]
    pub fn with_org_limit(mut self, per_minute: Option<NonZeroU32>) -> Self {
        self.org_quota = per_minute.map(Quota::per_minute);
        self
    }

    /// Refuses a client address after `per_minute` failed authentications in a minute
    /// ([`FailedAuth`]).
    #[must_use]
    pub fn with_failed_auth_limit(mut self, per_minute: NonZeroU32) -> Self {
        self.failed_auth = FailedAuth::new(per_minute);
        self
    }

    /// The proxies whose `X-Forwarded-For` is believed ([`client_ip::client_ip`]).
    #[must_use]
    pub fn with_trusted_proxies(mut self, trusted: Vec<ipnet::IpNet>) -> Self {
        self.trusted_proxies = trusted;
        self
    }

    /// The engine's authenticator (to forget cached keys when they change).
    pub const fn authenticator(&self) -> &Authenticator {
        &self.authenticator
    }

    /// The limiter the callers' limits count on, which other limits may share.
    pub fn limiter(&self) -> &Arc<dyn RateLimiter> {
        &self.limiter
    }

    /// The proxies whose `X-Forwarded-For` is believed.
    pub fn trusted_proxies(&self) -> &[ipnet::IpNet] {
        &self.trusted_proxies
    }

    /// The context of `user_id` acting in `org_id`, with their role there now.
    ///
    /// # Errors
    /// 403 when the user is not a member (the same answer whether or not the org exists).
    pub async fn member_context(
        &self,
        org_id: OrgId,
        user_id: UserId,
    ) -> Result<TenantContext, ApiError> {
        self.authenticator
            .member(org_id, user_id)
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "not a member of this org",
                )
            })
    }
}

/// Authenticates the request, applies the caller's rate limit, and hands the handler a
/// [`TenantContext`] (through the request's extensions) carrying the request id.
pub async fn authenticate(
    State(state): State<Arc<Authentication>>,
    mut req: Request,
    next: Next,
) -> Response {
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

    let per_minute = state.caller_quota.burst().get();
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
    state: &Authentication,
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

async fn api_key(state: &Authentication, token: &str) -> Result<(TenantContext, String), ApiError> {
    let key = state
        .authenticator
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
    state: &Authentication,
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
        state.member_context(org_id, user_id).await?,
        format!("user:{user_id}"),
    ))
}
/// The shortest `WORKOS_JWT_SECRET` accepted: an HS256 key shorter than the hash (32 bytes)
/// can be brute-forced offline from any one token (RFC 7518 §3.2).
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// How user JWTs are checked: HS256 with a shared secret, and/or RS256 / ES256 with the keys a
/// JWKS URL publishes.
#[derive(Clone)]
pub struct JwtConfig {
    /// `WORKOS_JWT_SECRET`: the HS256 key, at least [`MIN_JWT_SECRET_BYTES`].
    pub secret: Option<Vec<u8>>,
    /// `WORKOS_JWT_JWKS_URL`: where the identity provider publishes its public keys (RS256,
    /// ES256), e.g. Supabase's `https://<project>.supabase.co/auth/v1/.well-known/jwks.json`.
    pub jwks_url: Option<String>,
    /// `WORKOS_JWT_AUDIENCE`: when set, a token's `aud` must name it.
    pub audience: Option<String>,
    /// `WORKOS_JWT_ISSUER`: when set, a token's `iss` must be it.
    pub issuer: Option<String>,
}

impl std::fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret is never printed.
        f.debug_struct("JwtConfig")
            .field("jwks_url", &self.jwks_url)
            .field("audience", &self.audience)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl JwtConfig {
    /// Reads `WORKOS_JWT_SECRET`, `WORKOS_JWT_JWKS_URL`, `WORKOS_JWT_AUDIENCE` and
    /// `WORKOS_JWT_ISSUER` through `get`; `None` when neither a secret nor a JWKS URL is set
    /// (JWT auth off). Blank values count as unset.
    ///
    /// # Errors
    /// A secret shorter than [`MIN_JWT_SECRET_BYTES`], a JWKS URL that is not an `http(s)://`
    /// URL with a host (or whose client cannot be built), or
    /// an audience or issuer without a secret or URL (they would silently check nothing).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Option<Self>> {
        let set = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let (audience, issuer) = (set("WORKOS_JWT_AUDIENCE"), set("WORKOS_JWT_ISSUER"));
        let (secret, jwks_url) = (set("WORKOS_JWT_SECRET"), set("WORKOS_JWT_JWKS_URL"));
        if secret.is_none() && jwks_url.is_none() {
            if audience.is_some() || issuer.is_some() {
                bail!(
                    "WORKOS_JWT_AUDIENCE / WORKOS_JWT_ISSUER are set but neither \
                     WORKOS_JWT_SECRET nor WORKOS_JWT_JWKS_URL is"
                );
            }
            return Ok(None);
        }
        if let Some(secret) = &secret
            && secret.len() < MIN_JWT_SECRET_BYTES
        {
            bail!(
                "WORKOS_JWT_SECRET: must be at least {MIN_JWT_SECRET_BYTES} bytes (got {})",
                secret.len()
            );
        }
        if let Some(url) = &jwks_url {
            // Refused here, so the server does not start with JWT login silently off.
            let parsed = reqwest::Url::parse(url.trim()).ok().filter(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host_str().is_some_and(|h| !h.is_empty())
            });
            if parsed.is_none() {
                bail!(
                    "WORKOS_JWT_JWKS_URL: must be an http(s):// URL with a host, e.g. \
                     https://<project>.supabase.co/auth/v1/.well-known/jwks.json"
                );
            }
            crate::jwks::JwksKeys::new(url.trim().to_owned())
                .context("WORKOS_JWT_JWKS_URL: cannot build the JWKS client")?;
        }
        Ok(Some(Self {
            secret: secret.map(String::into_bytes),
            jwks_url: jwks_url.map(|u| u.trim().to_owned()),
            audience,
            issuer,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn jwt_configuration_is_off_without_a_secret_or_url_and_refuses_weak_or_idle_settings() {
        assert!(JwtConfig::from_lookup(lookup(&[])).expect("off").is_none());
        let short = JwtConfig::from_lookup(lookup(&[("WORKOS_JWT_SECRET", "short")]));
        assert!(short.unwrap_err().to_string().contains("WORKOS_JWT_SECRET"));
        // An audience checked against nothing would silently accept every token.
        let idle = JwtConfig::from_lookup(lookup(&[("WORKOS_JWT_AUDIENCE", "app")]));
        assert!(
            idle.unwrap_err()
                .to_string()
                .contains("WORKOS_JWT_AUDIENCE")
        );
        let bad_url = JwtConfig::from_lookup(lookup(&[("WORKOS_JWT_JWKS_URL", "ftp://x")]));
        assert!(
            bad_url
                .unwrap_err()
                .to_string()
                .contains("WORKOS_JWT_JWKS_URL")
        );
        let secret = "s".repeat(MIN_JWT_SECRET_BYTES);
        let config = JwtConfig::from_lookup(lookup(&[("WORKOS_JWT_SECRET", &secret)]))
            .expect("valid")
            .expect("on");
        assert_eq!(config.secret.as_deref(), Some(secret.as_bytes()));
        assert!(JwtVerifier::new(&config).is_ok());
    }
}
