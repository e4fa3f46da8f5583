//! Public keys for user JWTs from a JWKS URL (`WORKOS_JWT_JWKS_URL`), as Supabase and other
//! identity providers publish them: RS256 (RSA) and ES256 (P-256) keys, by `kid`.
//!
//! The key set is fetched on first use and cached. It is fetched again when it is older than
//! [`MAX_AGE`] (after a failed fetch: [`MIN_REFETCH`]), and when a token names a `kid` the
//! cached set does not hold (the provider rotated its keys), at most once per [`MIN_REFETCH`]:
//! tokens with made-up `kid`s cannot make the server hammer the provider. One fetch at a time;
//! a failed fetch keeps the keys it had.

use std::collections::HashMap;
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::{Mutex, RwLock};
use tokio::time::Instant;

/// The cached set is fetched again when older than this.
pub const MAX_AGE: Duration = Duration::from_secs(600);
/// An unknown `kid` fetches the set again at most this often.
pub const MIN_REFETCH: Duration = Duration::from_secs(30);
/// A key set larger than this is refused (a provider publishes a few keys).
const MAX_BODY_BYTES: usize = 64 * 1024;
/// Keys kept from one set.
const MAX_KEYS: usize = 32;
/// How long a fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Cached {
    keys: HashMap<String, (Algorithm, DecodingKey)>,
    /// When a fetch was last tried, and whether it worked.
    tried: Option<(Instant, bool)>,
    /// When an unknown `kid` last made the set be fetched.
    unknown_kid_fetch: Option<Instant>,
}

impl Cached {
    /// Whether the set is due a fetch: never fetched, older than [`MAX_AGE`], or the last try
    /// failed more than [`MIN_REFETCH`] ago.
    fn stale(&self) -> bool {
        match self.tried {
            None => true,
            Some((at, true)) => at.elapsed() >= MAX_AGE,
            Some((at, false)) => at.elapsed() >= MIN_REFETCH,
        }
    }
}

/// The keys published at a JWKS URL, cached. See the [module docs](self).
pub struct JwksKeys {
    url: String,
    client: reqwest::Client,
    cached: RwLock<Cached>,
    fetching: Mutex<()>,
}

impl std::fmt::Debug for JwksKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksKeys")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl JwksKeys {
    /// Keys to be fetched from `url`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(url: String) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            url,
            client,
            cached: RwLock::default(),
            fetching: Mutex::new(()),
        })
    }

    /// The key `kid` for tokens signed with `alg` (RS256 or ES256), fetching the set when it is
    /// stale or does not know `kid` (bounded, see the [module docs](self)); `None` when the
    /// provider publishes no such key for that algorithm.
    pub async fn key(&self, kid: &str, alg: Algorithm) -> Option<DecodingKey> {
        {
            let cached = self.cached.read().await;
            if !cached.stale()
                && let Some(known) = lookup(&cached, kid, alg)
            {
                return known;
            }
        }
        let _one_fetch = self.fetching.lock().await;
        let due = {
            let cached = self.cached.read().await;
            // Another request may have fetched while this one waited.
            if !cached.stale()
                && let Some(known) = lookup(&cached, kid, alg)
            {
                return known;
            }
            cached.stale()
                || cached
                    .unknown_kid_fetch
                    .is_none_or(|at| at.elapsed() >= MIN_REFETCH)
        };
        if due {
            let fetched = self.fetch().await;
            let mut cached = self.cached.write().await;
            let now = Instant::now();
            if !cached.stale() {
                cached.unknown_kid_fetch = Some(now);
            }
            cached.tried = Some((now, fetched.is_ok()));
            match fetched {
                Ok(keys) => cached.keys = keys,
                Err(e) => tracing::warn!(url = %self.url, error = %e, "cannot fetch the JWKS"),
            }
        }
        // A stale set (the provider unreachable) still answers: better than refusing everyone.
        lookup(&*self.cached.read().await, kid, alg).flatten()
    }

    async fn fetch(&self) -> anyhow::Result<HashMap<String, (Algorithm, DecodingKey)>> {
        let response = self
            .client
            .get(&self.url)
            .send()
            .await?
            .error_for_status()?;
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BODY_BYTES as u64)
        {
            anyhow::bail!("the key set is over {MAX_BODY_BYTES} bytes");
        }
        let body = response.bytes().await?;
        anyhow::ensure!(
            body.len() <= MAX_BODY_BYTES,
            "the key set is over {MAX_BODY_BYTES} bytes"
        );
        let set: JwkSet = serde_json::from_slice(&body)?;
        Ok(usable_keys(&set))
    }
}

/// `None` when `cached` does not know `kid`; else its key when it is for `alg` (a known key of
/// another algorithm answers `Some(None)`: no reason to fetch the set again).
fn lookup(cached: &Cached, kid: &str, alg: Algorithm) -> Option<Option<DecodingKey>> {
    cached
        .keys
        .get(kid)
        .map(|(key_alg, key)| (*key_alg == alg).then(|| key.clone()))
}

/// The RS256 and ES256 (P-256) keys of `set` that have a `kid`, by `kid`; others are skipped
/// (HS256 keys never come from a URL).
fn usable_keys(set: &JwkSet) -> HashMap<String, (Algorithm, DecodingKey)> {
    set.keys
        .iter()
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            let (alg, named) = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => (Algorithm::RS256, KeyAlgorithm::RS256),
                AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
                    (Algorithm::ES256, KeyAlgorithm::ES256)
                }
                _ => return None,
            };
            // A key that names its algorithm must name this one.
            if jwk.common.key_algorithm.is_some_and(|a| a != named) {
                return None;
            }
            Some((kid, (alg, DecodingKey::from_jwk(jwk).ok()?)))
        })
        .take(MAX_KEYS)
        .collect()
}
