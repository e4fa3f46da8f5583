//! The OIDC tokens Pub/Sub signs its push requests with, checked against Google's keys.
//!
//! A token is accepted when it is an RS256 JWT whose `kid` names one of Google's keys (the
//! JWKS at [`PushConfig::jwks_url`](super::PushConfig)), its signature verifies, `iss` is
//! `https://accounts.google.com` or `accounts.google.com` (Google documents both), `aud` is
//! the configured audience, `exp` has not passed (60 s of leeway for clock skew), and `email`
//! is the configured service account with `email_verified` true.
//!
//! The keys are cached for the `max-age` of the JWKS answer (between 5 minutes and a day; an
//! hour without one), at most [`MAX_KEYS`] of them. A token naming a key not in the cache
//! refetches the JWKS (Google rotates its keys), but at most once per [`MIN_REFETCH`], so a
//! stream of tokens with made-up key ids cannot make the server hammer Google.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::PushConfig;

/// Google's OIDC signing keys (JWKS).
pub const GOOGLE_JWKS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";
/// The issuers Google's ID tokens carry.
pub const GOOGLE_ISSUERS: [&str; 2] = ["https://accounts.google.com", "accounts.google.com"];
/// The most keys kept from a JWKS (Google publishes two or three).
pub const MAX_KEYS: usize = 16;
/// The shortest time between two fetches of the JWKS.
pub const MIN_REFETCH: Duration = Duration::from_secs(30);
/// The largest JWKS answer read.
const MAX_JWKS_BYTES: usize = 64 * 1024;
/// How long keys are kept when the answer says nothing.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(3600);

/// Why a push request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushAuthError {
    /// No `Authorization: Bearer …` header.
    Missing,
    /// The token is not valid; the reason says which check failed (no token content).
    Invalid(&'static str),
    /// Google's keys could not be fetched: the token could not be checked (retry later).
    KeysUnavailable(String),
}

impl fmt::Display for PushAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => {
                f.write_str("a Google-signed OIDC token (Authorization: Bearer) is required")
            }
            Self::Invalid(why) => write!(f, "the OIDC token is not valid: {why}"),
            Self::KeysUnavailable(why) => write!(f, "Google's signing keys are unavailable: {why}"),
        }
    }
}

impl std::error::Error for PushAuthError {}

#[derive(Deserialize)]
struct Claims {
    email: Option<String>,
    email_verified: Option<serde_json::Value>,
}

struct Keys {
    by_kid: HashMap<String, DecodingKey>,
    fresh_until: Instant,
}

/// Checks push tokens (see the [module](self)). Shared by every request of a process.
pub struct PushVerifier {
    http: reqwest::Client,
    jwks_url: String,
    validation: Validation,
    service_account: String,
    keys: tokio::sync::RwLock<Option<Keys>>,
    /// When the JWKS was last fetched (or tried); held while fetching, so one fetch runs.
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
}

impl fmt::Debug for PushVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushVerifier")
            .field("jwks_url", &self.jwks_url)
            .field("audience", &self.validation.aud)
            .field("service_account", &self.service_account)
            .finish_non_exhaustive()
    }
}

impl PushVerifier {
    /// A verifier for `config`'s audience and service account, fetching keys with `http`.
    #[must_use]
    pub fn new(config: &PushConfig, http: reqwest::Client) -> Self {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&GOOGLE_ISSUERS);
        validation.set_audience(&[config.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        Self {
            http,
            jwks_url: config.jwks_url.clone(),
            validation,
            service_account: config.service_account.to_lowercase(),
            keys: tokio::sync::RwLock::new(None),
            last_fetch: tokio::sync::Mutex::new(None),
        }
    }

    /// Checks an `Authorization` header value.
    ///
    /// # Errors
    /// See [`PushAuthError`].
    pub async fn verify(&self, authorization: Option<&str>) -> Result<(), PushAuthError> {
        let token = authorization
            .and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or(PushAuthError::Missing)?;
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| PushAuthError::Invalid("not a JWT"))?;
        if header.alg != Algorithm::RS256 {
            return Err(PushAuthError::Invalid("not signed with RS256"));
        }
        let kid = header
            .kid
            .ok_or(PushAuthError::Invalid("no key id (kid)"))?;
        let key = self.key(&kid).await?;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &self.validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            PushAuthError::Invalid(match e.kind() {
                ErrorKind::ExpiredSignature => "expired",
                ErrorKind::InvalidAudience => "wrong audience",
                ErrorKind::InvalidIssuer => "wrong issuer",
                ErrorKind::InvalidSignature => "bad signature",
                ErrorKind::ImmatureSignature => "not valid yet",
                ErrorKind::MissingRequiredClaim(_) => "a required claim is missing",
                _ => "malformed",
            })
        })?;
        let verified = matches!(
            data.claims.email_verified,
            Some(serde_json::Value::Bool(true))
        ) || matches!(&data.claims.email_verified, Some(serde_json::Value::String(s)) if s == "true");
        let email = data.claims.email.unwrap_or_default().to_lowercase();
        if email != self.service_account {
            return Err(PushAuthError::Invalid("not the configured service account"));
        }
        if !verified {
            return Err(PushAuthError::Invalid("email not verified"));
        }
        Ok(())
    }

    /// The key `kid`, from the cache or a fetch of the JWKS.
    async fn key(&self, kid: &str) -> Result<DecodingKey, PushAuthError> {
        {
            let keys = self.keys.read().await;
            if let Some(keys) = keys.as_ref()
                && keys.fresh_until > Instant::now()
                && let Some(key) = keys.by_kid.get(kid)
            {
                return Ok(key.clone());
            }
        }
        let mut last = self.last_fetch.lock().await;
        if last.is_some_and(|at| at.elapsed() < MIN_REFETCH) {
            // Fetched a moment ago (maybe by a request this one waited for): what we have is
            // what Google has, stale or not.
            return match self.keys.read().await.as_ref() {
                Some(keys) => keys
                    .by_kid
                    .get(kid)
                    .cloned()
                    .ok_or(PushAuthError::Invalid("unknown signing key")),
                None => Err(PushAuthError::KeysUnavailable(
                    "the last fetch of the JWKS failed; retry later".to_owned(),
                )),
            };
        }
        *last = Some(Instant::now());
        let fetched = self.fetch().await;
        let mut keys = self.keys.write().await;
        match fetched {
            Ok(fresh) => {
                let key = fresh.by_kid.get(kid).cloned();
                *keys = Some(fresh);
                key.ok_or(PushAuthError::Invalid("unknown signing key"))
            }
            // Stale keys still check tokens while Google cannot be reached.
            Err(e) => keys
                .as_ref()
                .and_then(|k| k.by_kid.get(kid).cloned())
                .ok_or(e),
        }
    }

    async fn fetch(&self) -> Result<Keys, PushAuthError> {
        let unavailable = |why: String| PushAuthError::KeysUnavailable(why);
        let response = self
            .http
            .get(&self.jwks_url)
            .send()
            .await
            .map_err(|e| unavailable(format!("fetching the JWKS failed: {e}")))?;
        if !response.status().is_success() {
            return Err(unavailable(format!(
                "the JWKS answered {}",
                response.status()
            )));
        }
        let max_age = response
            .headers()
            .get_all(reqwest::header::CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .find_map(|d| d.trim().strip_prefix("max-age=")?.parse::<u64>().ok())
            .map_or(DEFAULT_MAX_AGE, |s| {
                Duration::from_secs(s.clamp(5 * 60, 24 * 3600))
            });
        if response
            .content_length()
            .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
        {
            return Err(unavailable("the JWKS is too large".to_owned()));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| unavailable(format!("reading the JWKS failed: {e}")))?;
        if body.len() > MAX_JWKS_BYTES {
            return Err(unavailable("the JWKS is too large".to_owned()));
        }
        let set: JwkSet = serde_json::from_slice(&body)
            .map_err(|e| unavailable(format!("the JWKS does not parse: {e}")))?;
        let by_kid: HashMap<String, DecodingKey> = set
            .keys
            .iter()
            .filter(|k| matches!(k.algorithm, AlgorithmParameters::RSA(_)))
            .filter_map(|k| Some((k.common.key_id.clone()?, DecodingKey::from_jwk(k).ok()?)))
            .take(MAX_KEYS)
            .collect();
        if by_kid.is_empty() {
            return Err(unavailable("the JWKS holds no RSA key".to_owned()));
        }
        Ok(Keys {
            by_kid,
            fresh_until: Instant::now() + max_age,
        })
    }
}
