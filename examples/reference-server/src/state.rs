//! Shared application state.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::DefaultClock;
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use workos_core::crypto::{ApiKeyHasher, Cipher};
use workos_core::ids::ApiKeyId;
use workos_store::SqlStore;

use crate::config::Config;

/// The per-caller GCRA limiter, keyed by API key or user.
pub type Limiter =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The state's contents.
pub struct Inner {
    /// The engine's storage.
    pub store: SqlStore,
    /// Hashes and verifies API keys.
    pub hasher: ApiKeyHasher,
    /// Encrypts secrets at rest.
    pub cipher: Arc<Cipher>,
    /// Registers webhook endpoints and rotates their secrets.
    pub webhooks: workos_webhooks::service::WebhookService<SqlStore>,
    /// Partners with their webhook signing secrets (minted, sealed, rotated).
    pub partners: workos_webhooks::leads::PartnerService<SqlStore>,
    /// The delivery pipeline's settings (retry schedule, timeout, allowed subnets), which the
    /// lead sender shares.
    pub webhook_config: workos_webhooks::worker::WebhookConfig,
    /// HS256 key for user JWTs, when configured.
    pub jwt: Option<jsonwebtoken::DecodingKey>,
    /// Public form submissions per minute per client address.
    pub form_limiter: governor::DefaultKeyedRateLimiter<String>,
    /// The proxies whose `X-Forwarded-For` is believed (`WORKOS_TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How often the queued-lead job runs; `None` when it is off.
    pub lead_routing_interval: Option<Duration>,
    /// Requests per minute per caller.
    pub limiter: Limiter,
    /// The configured per-minute limit (for the `RateLimit-Limit` header).
    pub rate_limit_per_minute: u32,
    /// When this process last recorded each API key's use.
    pub touched: Mutex<HashMap<ApiKeyId, Instant>>,
    /// API keys read recently (`WORKOS_API_KEY_CACHE_SECS`).
    pub api_keys: crate::api_key_cache::ApiKeyCache,
    /// The public base URL.
    pub public_url: String,
    /// Validates Twilio's webhook signatures, when Twilio is configured.
    pub twilio_validator: Option<workos_twilio::signature::RequestValidator>,
    /// What inbound messages and calls from unknown numbers do.
    pub unknown_sender: workos_core::domain::UnknownSender,
    /// What inbound calls hear before the recording starts.
    pub voice_greeting: String,
    /// Sends SMS and places calls, when a Twilio account is configured.
    pub messenger: Option<workos_twilio::engine::Messenger<SqlStore>>,
    /// Orgs' own Twilio accounts (used instead of the platform's when set).
    pub twilio_accounts: crate::twilio_accounts::TwilioAccounts,
    /// Which org owns each Twilio number, for inbound SMS (cached, re-checked by the write).
    pub twilio_numbers: crate::twilio_numbers::TwilioNumbers,
    /// Gmail (connect, send, sync), when `GOOGLE_*` is configured.
    pub gmail: Option<Arc<crate::gmail_sync::GmailService>>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Builds the state from a store and the configuration.
    #[must_use]
    pub fn new(store: SqlStore, config: Config) -> Self {
        let platform = twilio_client(&config);
        let messenger = platform.clone().map(|client| {
            let client = Arc::new(client);
            workos_twilio::engine::Messenger::new(
                Arc::new(store.clone()),
                client.clone(),
                client,
                &config.public_url,
            )
        });
        let per_minute = NonZeroU32::new(config.rate_limit_per_minute).unwrap_or(NonZeroU32::MIN);
        let limiter = RateLimiter::keyed(Quota::per_minute(per_minute))
            .with_middleware::<StateInformationMiddleware>();
        let cipher = Arc::new(Cipher::new(1, config.encryption_key));
        let twilio_accounts = crate::twilio_accounts::TwilioAccounts::new(
            store.clone(),
            cipher.clone(),
            platform,
            config.twilio_api_base_url.clone(),
            config.twilio_timeout,
        );
        let twilio_numbers = crate::twilio_numbers::TwilioNumbers::new(store.clone());
        let gmail = config
            .gmail
            .map(|c| crate::gmail_sync::GmailService::new(c, store.clone(), cipher.clone()));
        let gmail = gmail.and_then(|g| {
            g.inspect_err(|e| tracing::error!(error = %e, "Gmail is misconfigured; Gmail is off"))
                .ok()
                .map(Arc::new)
        });
        Self(Arc::new(Inner {
            store: store.clone(),
            hasher: ApiKeyHasher::new(&config.api_key_pepper),
            webhooks: workos_webhooks::service::WebhookService::new(
                Arc::new(store.clone()),
                cipher.clone(),
                config.webhooks.allowed_subnets.clone(),
            ),
            partners: workos_webhooks::leads::PartnerService::new(Arc::new(store), cipher.clone()),
            webhook_config: config.webhooks.clone(),
            cipher,
            jwt: config
                .jwt_secret
                .as_deref()
                .map(jsonwebtoken::DecodingKey::from_secret),
            limiter,
            form_limiter: RateLimiter::keyed(Quota::per_minute(
                NonZeroU32::new(crate::routes::leads::FORM_SUBMISSIONS_PER_MINUTE)
                    .unwrap_or(NonZeroU32::MIN),
            )),
            trusted_proxies: config.trusted_proxies,
            lead_routing_interval: config.lead_routing_interval,
            rate_limit_per_minute: config.rate_limit_per_minute,
            touched: Mutex::new(HashMap::new()),
            api_keys: crate::api_key_cache::ApiKeyCache::new(config.api_key_cache_ttl),
            public_url: config.public_url,
            twilio_validator: config
                .twilio_auth_token
                .map(workos_twilio::signature::RequestValidator::new),
            unknown_sender: config.unknown_sender,
            voice_greeting: config.voice_greeting,
            messenger,
            twilio_accounts,
            twilio_numbers,
            gmail,
        }))
    }

    /// The lead sender `workos-server serve` and `worker` run next to the webhook pipeline: the
    /// pipeline's settings, the server's cipher, and its Gmail channel for email partners (none
    /// when Gmail is not configured: their deliveries fail with that reason and are retried).
    ///
    /// # Errors
    /// As [`workos_webhooks::leads::LeadSender::new`].
    pub fn lead_sender(&self) -> workos_core::Result<workos_webhooks::leads::LeadSender<SqlStore>> {
        let email = self.gmail.as_ref().map(|g| {
            Arc::new(g.gmail.sender(workos_gmail::PersonPolicy::SentOnly))
                as Arc<dyn workos_core::channel::EmailChannel>
        });
        workos_webhooks::leads::LeadSender::new(
            Arc::new(self.store.clone()),
            self.cipher.clone(),
            email,
            &self.webhook_config,
        )
    }

    /// Whether this process should record a use of `key` now (at most once a minute).
    pub fn should_touch(&self, key: ApiKeyId) -> bool {
        let now = Instant::now();
        let mut touched = self
            .touched
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match touched.get(&key) {
            Some(last) if now.duration_since(*last) < Duration::from_secs(60) => false,
            _ => {
                touched.insert(key, now);
                true
            }
        }
    }
}

/// The platform Twilio account's REST client, when `TWILIO_ACCOUNT_SID` and `TWILIO_AUTH_TOKEN`
/// are set.
fn twilio_client(config: &Config) -> Option<workos_twilio::TwilioClient> {
    let (sid, token) = (
        config.twilio_account_sid.as_ref()?,
        config.twilio_auth_token.as_ref()?,
    );
    match workos_twilio::TwilioClient::builder()
        .account_sid(sid.clone())
        .auth_token(token.clone())
        .base_url(config.twilio_api_base_url.clone())
        .timeout(config.twilio_timeout)
        .build()
    {
        Ok(client) => Some(client),
        Err(e) => {
            tracing::error!(error = %e, "Twilio is misconfigured; outbound SMS and calls are off");
            None
        }
    }
}
