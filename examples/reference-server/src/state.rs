//! Shared application state: the engine's services, built once from the configuration.

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
    /// Checks user JWTs, when configured.
    pub jwt: Option<crate::auth::JwtVerifier>,
    /// `WORKOS_ADMIN_BIND`: where `/metrics` is served instead of the public port, when set.
    pub admin_bind: Option<std::net::SocketAddr>,
    /// Requests per minute per caller.
    pub limiter: Limiter,
    /// The configured per-minute limit (for the `RateLimit-Limit` header).
    pub rate_limit_per_minute: u32,
    /// When this process last recorded each API key's use.
    pub touched: Mutex<HashMap<ApiKeyId, Instant>>,
    /// API keys read recently (`WORKOS_API_KEY_CACHE_SECS`).
    pub api_keys: crate::api_key_cache::ApiKeyCache,
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
    /// Public form submissions per minute per client address.
    #[cfg(feature = "leads")]
    pub form_limiter: governor::DefaultKeyedRateLimiter<String>,
    /// The proxies whose `X-Forwarded-For` is believed (`WORKOS_TRUSTED_PROXIES`).
    #[cfg(feature = "leads")]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How often the queued-lead job runs; `None` when it is off.
    #[cfg(feature = "leads")]
    pub lead_routing_interval: Option<Duration>,
    /// Orgs' own Twilio accounts and the platform's: which one checks and sends for an org.
    #[cfg(feature = "twilio")]
    pub twilio: Arc<workos_twilio::TwilioAccounts<SqlStore>>,
    /// Twilio's webhooks (signatures, org, records, TwiML).
    #[cfg(feature = "twilio")]
    pub twilio_inbound: workos_twilio::InboundService<SqlStore>,
    /// Gmail (connect, send, sync), when `GOOGLE_*` is configured.
    #[cfg(feature = "gmail")]
    pub gmail: Option<GmailService>,
}

/// Gmail as the routes and the scheduler share it.
#[cfg(feature = "gmail")]
#[derive(Debug, Clone)]
pub struct GmailService {
    /// The client: connects, sends.
    pub client: workos_gmail::Gmail,
    /// The sync engine (its quota budget and per-integration locks are shared by the routes
    /// and the scheduler).
    pub sync: workos_gmail::SyncEngine,
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
        let per_minute = NonZeroU32::new(config.rate_limit_per_minute).unwrap_or(NonZeroU32::MIN);
        let limiter = RateLimiter::keyed(Quota::per_minute(per_minute))
            .with_middleware::<StateInformationMiddleware>();
        let cipher = Arc::new(Cipher::new(1, config.encryption_key));
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
            partners: workos_leads::PartnerService::new(Arc::new(store.clone()), cipher.clone()),
            #[cfg(feature = "leads")]
            form_limiter: RateLimiter::keyed(Quota::per_minute(
                NonZeroU32::new(crate::routes::leads::FORM_SUBMISSIONS_PER_MINUTE)
                    .unwrap_or(NonZeroU32::MIN),
            )),
            #[cfg(feature = "leads")]
            trusted_proxies: config.trusted_proxies,
            #[cfg(feature = "leads")]
            lead_routing_interval: config.lead_routing_interval,
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
            gmail: config.gmail.and_then(|c| gmail(c, &store, &cipher)),
            store,
            hasher: ApiKeyHasher::new(&config.api_key_pepper),
            cipher,
            jwt: config.jwt.as_ref().map(crate::auth::JwtVerifier::new),
            admin_bind: config.admin_bind,
            limiter,
            rate_limit_per_minute: config.rate_limit_per_minute,
            touched: Mutex::new(HashMap::new()),
            api_keys: crate::api_key_cache::ApiKeyCache::new(config.api_key_cache_ttl),
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

    /// The Gmail sync scheduler over this state's engine and store, when Gmail is configured.
    #[cfg(feature = "gmail")]
    #[must_use]
    pub fn gmail_scheduler(
        &self,
        config: workos_gmail::SchedulerConfig,
    ) -> Option<workos_gmail::SyncScheduler> {
        let gmail = self.gmail.as_ref()?;
        Some(workos_gmail::SyncScheduler::new(
            gmail.sync.clone(),
            Arc::new(self.store.clone()),
            config,
        ))
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

/// Gmail over `store` (OAuth states included, so Google's redirect may reach any process),
/// sealing tokens with `cipher`; `None` (logged) when the client cannot be built.
#[cfg(feature = "gmail")]
fn gmail(
    config: workos_gmail::GmailConfig,
    store: &SqlStore,
    cipher: &Arc<Cipher>,
) -> Option<GmailService> {
    let states = Arc::new(workos_gmail::SharedStateStore::new(
        Arc::new(store.clone()),
        Arc::clone(cipher),
    ));
    workos_gmail::Gmail::builder(config, Arc::new(store.clone()), Arc::clone(cipher))
        .state_store(states)
        .build()
        .inspect_err(|e| tracing::error!(error = %e, "Gmail is misconfigured; Gmail is off"))
        .ok()
        .map(|client| GmailService {
            sync: client.sync_engine(workos_gmail::SyncConfig::default()),
            client,
        })
}
