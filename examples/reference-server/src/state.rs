//! Shared application state: the engine's services, built once from the configuration.

use std::num::NonZeroU32;
use std::sync::Arc;

use workos_axum::{Authentication, Idempotency, JwtVerifier};
use workos_core::auth::Authenticator;
use workos_core::crypto::{ApiKeyHasher, Cipher};
#[cfg(feature = "leads")]
use workos_limits::Quota;
use workos_limits::{MemoryLimiter, RateLimiter, RedisLimiter};
use workos_store::SqlStore;

use crate::config::Config;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The state's contents.
pub struct Inner {
    /// The engine's storage.
    pub store: SqlStore,
    /// Mints API keys (`admin`, the api-keys route).
    pub hasher: ApiKeyHasher,
    /// Authentication, and the limits it enforces: API keys (with the recently read ones,
    /// `WORKOS_API_KEY_CACHE_SECS`), user JWTs when configured, and the callers' rate limits
    /// (`WORKOS_RATE_LIMIT_PER_MINUTE`, `WORKOS_ORG_RATE_LIMIT_PER_MINUTE`,
    /// `WORKOS_AUTH_FAILURES_PER_MINUTE`) over the limiter every rate limit shares (this
    /// process's memory, or Redis with `WORKOS_REDIS_URL`), behind `WORKOS_TRUSTED_PROXIES`.
    pub authn: Arc<Authentication>,
    /// `Idempotency-Key`s, kept in the store.
    pub idempotency: Idempotency,
    /// Encrypts secrets at rest.
    pub cipher: Arc<Cipher>,
    /// `WORKOS_ADMIN_BIND`: where `/metrics` is served instead of the public port, when set.
    pub admin_bind: Option<std::net::SocketAddr>,
    /// Registers webhook endpoints and rotates their secrets.
    #[cfg(feature = "webhooks")]
    pub webhooks: workos_webhooks::service::WebhookService<SqlStore>,
    /// The delivery pipeline's settings (retry schedule, timeout, allowed subnets), which the
    /// lead sender shares.
    #[cfg(any(feature = "webhooks", feature = "leads"))]
    pub webhook_config: workos_webhooks::worker::WebhookConfig,
    /// Partners with their webhook signing secrets (minted, sealed, rotated).
    #[cfg(feature = "leads")]
    pub partners: workos_leads::PartnerService<SqlStore>,
    /// Public form submissions per client address (through the limiter).
    #[cfg(feature = "leads")]
    pub form_quota: Quota,
    /// Orgs' own Twilio accounts and the platform's: which one checks and sends for an org.
    #[cfg(feature = "twilio")]
    pub twilio: Arc<workos_twilio::TwilioAccounts<SqlStore>>,
    /// Twilio's webhooks (signatures, org, records, TwiML).
    #[cfg(feature = "twilio")]
    pub twilio_inbound: workos_twilio::InboundService<SqlStore>,
    /// Gmail (connect, send, sync), when `GOOGLE_*` is configured.
    #[cfg(feature = "gmail")]
    pub gmail: Option<workos_gmail::GmailService>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Builds the state from a store and the configuration.
    ///
    /// # Panics
    /// When the user-JWT verifier cannot be built from `config.jwt` (its JWKS client), which
    /// [`Config::from_lookup`](crate::config::Config::from_lookup) has already refused: the
    /// server refuses to start rather than run with JWT login off.
    #[must_use]
    pub fn new(store: SqlStore, config: Config) -> Self {
        let non_zero = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        #[cfg(feature = "leads")]
        let per_minute = |n: u32| Quota::per_minute(non_zero(n));
        let limiter = limiter(config.redis_url.as_deref());
        #[cfg(any(feature = "webhooks", feature = "leads"))]
        let mut config = config;
        // Webhook endpoints' rates go through the same limiter, so they hold per deployment.
        #[cfg(any(feature = "webhooks", feature = "leads"))]
        {
            config.webhooks.limiter = Arc::clone(&limiter);
        }
        // The server seals with key id 1 whatever the key; a previous key (a rotation in
        // progress) opens what it sealed until `admin reencrypt` has re-sealed it.
        let cipher = match config.previous_encryption_key {
            Some(previous) => Cipher::new(1, config.encryption_key).with_previous_key(previous),
            None => Cipher::new(1, config.encryption_key),
        };
        let cipher = Arc::new(cipher);
        let hasher = ApiKeyHasher::new(&config.api_key_pepper);
        #[cfg(feature = "twilio")]
        let twilio = Arc::new(workos_twilio::TwilioAccounts::new(
            Arc::new(store.clone()),
            cipher.clone(),
            &config.twilio,
            &config.public_url,
        ));
        Self(Arc::new(Inner {
            #[cfg(feature = "webhooks")]
            webhooks: workos_webhooks::service::WebhookService::new(
                Arc::new(store.clone()),
                cipher.clone(),
                config.webhooks.allowed_subnets.clone(),
            ),
            #[cfg(any(feature = "webhooks", feature = "leads"))]
            webhook_config: config.webhooks.clone(),
            #[cfg(feature = "leads")]
            partners: workos_leads::PartnerService::new(
                Arc::new(store.clone()),
                cipher.clone(),
                config.webhooks.allowed_subnets.clone(),
            ),
            #[cfg(feature = "leads")]
            form_quota: per_minute(crate::routes::leads::FORM_SUBMISSIONS_PER_MINUTE),
            #[cfg(feature = "twilio")]
            twilio_inbound: workos_twilio::InboundService::new(
                Arc::new(store.clone()),
                twilio.clone(),
                &config.twilio,
                &config.public_url,
            ),
            #[cfg(feature = "twilio")]
            twilio,
            #[cfg(feature = "gmail")]
            gmail: config.gmail.and_then(|c| {
                let (store, cipher) = (Arc::new(store.clone()), Arc::clone(&cipher));
                workos_gmail::GmailService::new(c, config.gmail_push.as_ref(), store, cipher)
                    .inspect_err(
                        |e| tracing::error!(error = %e, "Gmail is misconfigured; Gmail is off"),
                    )
                    .ok()
            }),
            authn: Arc::new(
                Authentication::new(
                    Authenticator::new(
                        Arc::new(store.clone()),
                        hasher.clone(),
                        config.api_key_cache_ttl,
                    ),
                    limiter,
                    non_zero(config.rate_limit_per_minute),
                )
                // `JwtConfig::from_lookup` already built the JWKS client once: a configuration
                // that cannot be served never gets here, and never runs with JWT login
                // silently off.
                .with_jwt(config.jwt.as_ref().map(|c| {
                    JwtVerifier::new(c).unwrap_or_else(|e| panic!("WORKOS_JWT_JWKS_URL: {e:#}"))
                }))
                .with_org_limit(config.org_rate_limit_per_minute.map(non_zero))
                .with_failed_auth_limit(non_zero(config.auth_failures_per_minute))
                .with_trusted_proxies(config.trusted_proxies),
            ),
            idempotency: idempotency(&store),
            store,
            hasher,
            cipher,
            admin_bind: config.admin_bind,
        }))
    }

    /// The lead sender `workos-server serve` and `worker` run next to the webhook pipeline: the
    /// pipeline's settings, the server's cipher, and its Gmail channel for email partners (none
    /// when Gmail is not configured: their deliveries fail with that reason and are retried).
    ///
    /// # Errors
    /// As [`workos_leads::LeadSender::new`].
    #[cfg(feature = "leads")]
    pub fn lead_sender(&self) -> workos_core::Result<workos_leads::LeadSender<SqlStore>> {
        #[cfg(feature = "gmail")]
        let email = self.gmail.as_ref().map(|g| {
            Arc::new(g.client.sender(workos_gmail::PersonPolicy::SentOnly))
                as Arc<dyn workos_core::channel::EmailChannel>
        });
        #[cfg(not(feature = "gmail"))]
        let email = None;
        workos_leads::LeadSender::new(
            Arc::new(self.store.clone()),
            self.cipher.clone(),
            email,
            &self.webhook_config,
        )
    }
}

/// `Idempotency-Key`s in `store`; the send route (feature `gmail`) takes files, so its bodies
/// may be larger.
fn idempotency(store: &SqlStore) -> Idempotency {
    let idempotency = Idempotency::new(Arc::new(store.clone()));
    #[cfg(feature = "gmail")]
    let idempotency = idempotency.with_body_limit(
        crate::routes::email_send::SEND_PATH,
        crate::routes::email_send::MAX_SEND_BODY_BYTES,
    );
    idempotency
}

/// The limiter: Redis's at `redis_url` when set (checked when the configuration was read),
/// else this process's memory.
fn limiter(redis_url: Option<&str>) -> Arc<dyn RateLimiter> {
    let Some(url) = redis_url else {
        return Arc::new(MemoryLimiter::new());
    };
    match RedisLimiter::new(url.trim()) {
        Ok(redis) => Arc::new(redis),
        Err(e) => {
            // Unreachable after `Config` checked the URL; limit per process rather than not.
            tracing::error!(error = %e, "WORKOS_REDIS_URL unusable; limiting per process");
            Arc::new(MemoryLimiter::new())
        }
    }
}
