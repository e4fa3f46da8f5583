//! Gmail push, the receiving side: Pub/Sub's push requests, checked and turned into
//! incremental syncs.
//!
//! Gmail publishes `{"emailAddress", "historyId"}` to the topic the mailboxes are watched to
//! ([`crate::watch`]); a push subscription posts each message to the server with a Google-signed
//! OIDC token. [`GmailPush`] does the rest:
//!
//! 1. **Authenticates** the request ([`GmailPush::verify`], [`oidc`]): the bearer token must be
//!    an RS256 JWT signed by one of Google's keys (its JWKS, cached), issued by
//!    `https://accounts.google.com` or `accounts.google.com`, for the configured audience,
//!    unexpired, with the configured service account as its verified `email`.
//! 2. **Reads** the envelope ([`PushNotification::parse`]).
//! 3. **Syncs** every integration of that mailbox ([`GmailPush::receive`]), coalesced
//!    ([`coalesce`]): a push whose `historyId` the stored sync has reached costs nothing, and
//!    the pushes that arrive while a mailbox's sync is due or running wait for that one sync.
//!    Across processes the sync claim of the [`SyncScheduler`](crate::SyncScheduler) keeps one
//!    sync of a mailbox at a time.
//!
//! ```no_run
//! # async fn demo(gmail: workos_gmail::Gmail, store: std::sync::Arc<workos_store::SqlStore>,
//! #     authorization: Option<&str>, body: &[u8]) -> workos_core::Result<()> {
//! use workos_gmail::push::{GmailPush, PushConfig, PushNotification};
//! use workos_gmail::SyncConfig;
//!
//! let config = PushConfig::from_lookup(|name| std::env::var(name).ok())?
//!     .expect("GMAIL_PUBSUB_TOPIC is set");
//! let push = GmailPush::new(&config, gmail.sync_engine(SyncConfig::default()), store)?;
//! // For each request:
//! if push.verify(authorization).await.is_ok() {
//!     let note = PushNotification::parse(body)?;
//!     let report = push.receive(&note).await?;
//!     println!("{} mailbox(es) synced", report.synced);
//! }
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use workos_core::domain::GMAIL;
use workos_core::repo::IntegrationScheduler;
use workos_core::{Error, Result};

pub mod coalesce;
pub mod oidc;

pub use coalesce::{PushOutcome, PushSyncs};
pub use oidc::{GOOGLE_ISSUERS, GOOGLE_JWKS_URL, PushAuthError, PushVerifier};

/// The environment variables [`PushConfig::from_lookup`] reads.
pub mod env {
    /// The Pub/Sub topic mailboxes are watched to, `projects/{project}/topics/{topic}`; push is
    /// on when it is set.
    pub const TOPIC: &str = "GMAIL_PUBSUB_TOPIC";
    /// The audience the push subscription's OIDC tokens carry (required with the topic).
    pub const AUDIENCE: &str = "GMAIL_PUBSUB_AUDIENCE";
    /// The service account the push subscription signs its tokens as (required with the
    /// topic).
    pub const SERVICE_ACCOUNT: &str = "GMAIL_PUBSUB_SERVICE_ACCOUNT";
    /// Google's OIDC signing keys (default [`super::GOOGLE_JWKS_URL`]).
    pub const JWKS_URL: &str = "GOOGLE_OIDC_JWKS_URL";
}

/// How long [`GmailPush::receive`] waits for the sync a push asked for before answering
/// (Pub/Sub's default acknowledgement deadline is 10 s; the sync goes on after the answer).
pub const DEFAULT_ANSWER_WITHIN: Duration = Duration::from_secs(8);

/// Where push notifications come from and how they are authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushConfig {
    /// The topic mailboxes are watched to, `projects/{project}/topics/{topic}`.
    pub topic: String,
    /// The `aud` the push subscription's tokens must carry.
    pub audience: String,
    /// The `email` (verified) the tokens must carry: the push subscription's service account.
    pub service_account: String,
    /// Google's JWKS.
    pub jwks_url: String,
    /// How long a push waits for its sync before it is answered.
    pub answer_within: Duration,
}

impl PushConfig {
    /// Reads the configuration through `lookup` with the names in [`env`](mod@env). Blank
    /// values count as unset. `Ok(None)` when [`env::TOPIC`] is unset: push is off.
    ///
    /// # Errors
    /// [`Error::Validation`] naming each variable that is missing or malformed when the topic
    /// is set.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Self>> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let Some(topic) = get(env::TOPIC) else {
            return Ok(None);
        };
        let mut v = workos_core::error::Validator::new();
        let parts: Vec<&str> = topic.split('/').collect();
        v.require(
            parts.len() == 4
                && parts[0] == "projects"
                && parts[2] == "topics"
                && !parts[1].is_empty()
                && !parts[3].is_empty(),
            env::TOPIC,
            "must be projects/{project}/topics/{topic}",
        );
        let audience = get(env::AUDIENCE);
        v.require(
            audience.is_some(),
            env::AUDIENCE,
            "must be set with GMAIL_PUBSUB_TOPIC: the audience of the push subscription's tokens",
        );
        let service_account = get(env::SERVICE_ACCOUNT);
        v.require(
            service_account
                .as_deref()
                .is_some_and(|s| workos_core::domain::EmailAddress::parse(s).is_ok()),
            env::SERVICE_ACCOUNT,
            "must be set with GMAIL_PUBSUB_TOPIC to the email of the push subscription's service account",
        );
        let jwks_url = get(env::JWKS_URL).unwrap_or_else(|| GOOGLE_JWKS_URL.to_owned());
        v.require(
            url::Url::parse(&jwks_url).is_ok_and(|u| matches!(u.scheme(), "https" | "http")),
            env::JWKS_URL,
            "must be an http(s) URL",
        );
        v.finish()?;
        Ok(Some(Self {
            topic,
            audience: audience.unwrap_or_default(),
            service_account: service_account.unwrap_or_default().to_lowercase(),
            jwks_url,
            answer_within: DEFAULT_ANSWER_WITHIN,
        }))
    }
}

/// What Gmail published: the mailbox and its history id after the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushNotification {
    /// The mailbox's address, lower-cased.
    pub email_address: String,
    /// Its history id after the change.
    pub history_id: u64,
    /// Pub/Sub's message id (for logs).
    pub message_id: Option<String>,
}

#[derive(Deserialize)]
struct Envelope {
    message: Option<EnvelopeMessage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnvelopeMessage {
    data: Option<String>,
    message_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GmailData {
    email_address: Option<String>,
    history_id: Option<serde_json::Value>,
}

/// The largest push body accepted (Gmail's notifications are about 300 bytes).
pub const MAX_PUSH_BODY: usize = 64 * 1024;

impl PushNotification {
    /// Reads a Pub/Sub push body: `{"message": {"data": base64 of {"emailAddress",
    /// "historyId"}, "messageId", …}, "subscription"}`.
    ///
    /// # Errors
    /// [`Error::Validation`] naming the first field that is missing or malformed (`body`,
    /// `message`, `message.data`, `message.data.emailAddress`, `message.data.historyId`).
    pub fn parse(body: &[u8]) -> Result<Self> {
        if body.len() > MAX_PUSH_BODY {
            return Err(Error::invalid(
                "body",
                format!("must be at most {MAX_PUSH_BODY} bytes"),
            ));
        }
        let envelope: Envelope = serde_json::from_slice(body)
            .map_err(|e| Error::invalid("body", format!("is not a Pub/Sub push message: {e}")))?;
        let message = envelope
            .message
            .ok_or_else(|| Error::invalid("message", "is required"))?;
        let data = message
            .data
            .ok_or_else(|| Error::invalid("message.data", "is required"))?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .or_else(|_| crate::api::decode_base64url(&data))
            .map_err(|_| Error::invalid("message.data", "is not base64"))?;
        let gmail: GmailData = serde_json::from_slice(&decoded).map_err(|_| {
            Error::invalid(
                "message.data",
                "is not Gmail's JSON {\"emailAddress\", \"historyId\"}",
            )
        })?;
        let email_address = gmail
            .email_address
            .map(|a| a.trim().to_lowercase())
            .filter(|a| workos_core::domain::EmailAddress::parse(a).is_ok())
            .ok_or_else(|| {
                Error::invalid("message.data.emailAddress", "must be an email address")
            })?;
        // Gmail sends a number; a decimal string is taken too.
        let history_id = match gmail.history_id {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
        .ok_or_else(|| {
            Error::invalid("message.data.historyId", "must be a positive whole number")
        })?;
        Ok(Self {
            email_address,
            history_id,
            message_id: message.message_id,
        })
    }
}

/// What [`GmailPush::receive`] did for the integrations of the pushed mailbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PushReport {
    /// Integrations connected to the mailbox (several orgs may connect one mailbox); 0 when
    /// no org has it (the push is acknowledged and ignored).
    pub mailboxes: usize,
    /// Synced up to the pushed history id by this push's sync (or one it joined).
    pub synced: usize,
    /// Synced that far already: nothing to do.
    pub already_synced: usize,
    /// Still syncing when the answer was due (the sync goes on).
    pub pending: usize,
    /// The sync failed (or the integration needs reauthorisation); the scheduler retries.
    pub failed: usize,
}

/// Gmail push notifications, from request to sync (see the [module](self)).
#[derive(Clone)]
pub struct GmailPush {
    verifier: Arc<PushVerifier>,
    syncs: PushSyncs,
    claims: Arc<dyn IntegrationScheduler>,
}

impl std::fmt::Debug for GmailPush {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GmailPush")
            .field("verifier", &self.verifier)
            .field("syncs", &self.syncs)
            .finish_non_exhaustive()
    }
}

impl GmailPush {
    /// Push for `config`, syncing with `engine`, finding mailboxes and claiming syncs through
    /// `claims` (the store).
    ///
    /// # Errors
    /// [`Error::Internal`] when the HTTP client for the JWKS cannot be built.
    pub fn new(
        config: &PushConfig,
        engine: crate::SyncEngine,
        claims: Arc<dyn IntegrationScheduler>,
    ) -> Result<Self> {
        let http = crate::http_client(crate::DEFAULT_HTTP_TIMEOUT)?;
        Ok(Self {
            verifier: Arc::new(PushVerifier::new(config, http)),
            syncs: PushSyncs::new(engine, Arc::clone(&claims), config.answer_within),
            claims,
        })
    }

    /// Checks the request's `Authorization` header value (`Bearer <OIDC token>`).
    ///
    /// # Errors
    /// [`PushAuthError`]: the token is missing or not valid (answer `401`), or Google's keys
    /// could not be fetched (answer `503`: Pub/Sub retries).
    pub async fn verify(&self, authorization: Option<&str>) -> Result<(), PushAuthError> {
        self.verifier.verify(authorization).await
    }

    /// Syncs every integration of the notified mailbox as far as its history id (coalesced,
    /// see [`coalesce`]); waits at most [`PushConfig::answer_within`] for the syncs.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when the store cannot be read.
    pub async fn receive(&self, note: &PushNotification) -> Result<PushReport> {
        let integrations = self
            .claims
            .integrations_of_account(GMAIL, &note.email_address)
            .await?;
        let mut report = PushReport {
            mailboxes: integrations.len(),
            ..PushReport::default()
        };
        if integrations.is_empty() {
            tracing::info!(
                message_id = note.message_id.as_deref(),
                "Gmail push for a mailbox no org has connected; acknowledged"
            );
        }
        let outcomes = futures_util::future::join_all(
            integrations
                .iter()
                .map(|r| self.syncs.request(r.org_id, r.id, note.history_id)),
        )
        .await;
        for outcome in outcomes {
            match outcome {
                PushOutcome::Synced => report.synced += 1,
                PushOutcome::AlreadySynced => report.already_synced += 1,
                PushOutcome::Pending => report.pending += 1,
                PushOutcome::Failed => report.failed += 1,
            }
        }
        Ok(report)
    }

    /// The coalescing syncs (for their counters).
    #[must_use]
    pub fn syncs(&self) -> &PushSyncs {
        &self.syncs
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn body(data: &serde_json::Value) -> Vec<u8> {
        let data = base64::engine::general_purpose::STANDARD.encode(data.to_string());
        json!({"message": {"data": data, "messageId": "2070443601311540", "publishTime": "2026-12-06T22:00:00Z"},
            "subscription": "projects/p/subscriptions/gmail-push"})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn reads_gmail_notifications() {
        let note = PushNotification::parse(&body(
            &json!({"emailAddress": "Ada@Example.com", "historyId": 9_876_543_210_u64}),
        ))
        .unwrap();
        assert_eq!(note.email_address, "ada@example.com");
        assert_eq!(note.history_id, 9_876_543_210);
        assert_eq!(note.message_id.as_deref(), Some("2070443601311540"));
        let as_string = PushNotification::parse(&body(
            &json!({"emailAddress": "a@b.example", "historyId": "42"}),
        ))
        .unwrap();
        assert_eq!(as_string.history_id, 42);
    }

    #[test]
    fn names_the_bad_field() {
        let field = |b: &[u8]| match PushNotification::parse(b).unwrap_err() {
            Error::Validation(v) => v.errors[0].field.clone(),
            e => panic!("{e:?}"),
        };
        assert_eq!(field(b"nope"), "body");
        assert_eq!(field(b"{}"), "message");
        assert_eq!(field(br#"{"message": {}}"#), "message.data");
        assert_eq!(field(br#"{"message": {"data": "***"}}"#), "message.data");
        assert_eq!(
            field(&body(&json!({"emailAddress": "nobody", "historyId": 1}))),
            "message.data.emailAddress"
        );
        assert_eq!(
            field(&body(
                &json!({"emailAddress": "a@b.example", "historyId": -1})
            )),
            "message.data.historyId"
        );
    }

    #[test]
    fn config_needs_audience_and_account_with_a_topic() {
        assert_eq!(PushConfig::from_lookup(|_| None).unwrap(), None);
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let e = PushConfig::from_lookup(vars(&[(env::TOPIC, "my-topic")])).unwrap_err();
        let text = e.to_string();
        for name in [env::TOPIC, env::AUDIENCE, env::SERVICE_ACCOUNT] {
            assert!(text.contains(name), "{name} in {text}");
        }
        let ok = PushConfig::from_lookup(vars(&[
            (env::TOPIC, "projects/acme/topics/gmail"),
            (
                env::AUDIENCE,
                "https://crm.example/api/v1/webhooks/gmail/push",
            ),
            (env::SERVICE_ACCOUNT, "Push@acme.iam.gserviceaccount.com"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(ok.service_account, "push@acme.iam.gserviceaccount.com");
        assert_eq!(ok.jwks_url, GOOGLE_JWKS_URL);
    }
}
