//! Gmail push, the mailbox side: `users.watch` publishes a mailbox's changes to a Pub/Sub topic
//! for seven days, `users.stop` ends that.
//!
//! With a topic configured ([`GmailBuilder::watch_topic`](crate::GmailBuilder::watch_topic)),
//! every mailbox is watched when it is connected ([`Gmail::finish_connect`]), the watch is
//! renewed by the [`SyncScheduler`](crate::SyncScheduler) once fewer than
//! [`WATCH_RENEW_MARGIN`] remain of it (so about once a day, as Google recommends, and days
//! before its expiry), and it is stopped when the mailbox is disconnected
//! ([`Gmail::disconnect`]). The watch's expiry and history id are stored on the integration
//! (`watch_expires_at`, `watch_history_id`). What Pub/Sub then pushes is received by
//! [`crate::push`].
//!
//! `users.watch` and `users.stop` cost 100 quota units each and are not counted in
//! [`crate::ApiUsage`] (which counts the sync's and the sender's calls).

use std::time::Duration;

use chrono::{DateTime, TimeZone as _, Utc};
use serde::{Deserialize, Serialize};
use workos_core::domain::{GMAIL, Integration, IntegrationWatch};
use workos_core::ids::IntegrationId;
use workos_core::repo::IntegrationScheduler;
use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};

use crate::api::{Attempt, GmailApi, attempt, json};
use crate::gmail::Gmail;

/// A watch is renewed once fewer than this remain of it: Google's watches last seven days, so
/// renewals come about daily (Google's recommendation) with six days to spare.
pub const WATCH_RENEW_MARGIN: Duration = Duration::from_secs(6 * 24 * 3600);

/// How many watches a scheduler run renews at most.
const RENEW_BATCH: u32 = 100;

/// Google's answer to `users.watch`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct WatchResponse {
    /// The mailbox's history id now.
    pub history_id: String,
    /// When the watch expires, in milliseconds since the epoch (a decimal string).
    pub expiration: String,
}

impl WatchResponse {
    /// When the watch expires.
    ///
    /// # Errors
    /// [`Error::Provider`] when `expiration` is no time.
    pub fn expires_at(&self) -> Result<DateTime<Utc>> {
        self.expiration
            .trim()
            .parse::<i64>()
            .ok()
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
            .ok_or_else(|| Error::Provider {
                provider: crate::oauth::PROVIDER,
                status: None,
                code: Some("bad_response".to_owned()),
                message: "users.watch answered no expiration".to_owned(),
            })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WatchBody<'a> {
    topic_name: &'a str,
}

impl GmailApi {
    /// `users.watch`: publish the mailbox's changes (every label) to `topic`
    /// (`projects/{project}/topics/{topic}`). Calling it again renews the watch.
    ///
    /// # Errors
    /// As the [api module](crate::api) says; Google answers `400`/`403` when the topic does
    /// not exist or Gmail may not publish to it.
    pub async fn watch(&self, token: &str, topic: &str) -> Result<WatchResponse> {
        let request = self
            .http
            .post(self.url("watch"))
            .bearer_auth(token)
            .json(&WatchBody { topic_name: topic });
        match attempt(request).await {
            Attempt::Ok(response) => json(response).await,
            Attempt::Failed { error, .. } => Err(error),
        }
    }

    /// `users.stop`: no more push notifications for the mailbox.
    ///
    /// # Errors
    /// As the [api module](crate::api) says.
    pub async fn stop(&self, token: &str) -> Result<()> {
        let request = self.http.post(self.url("stop")).bearer_auth(token);
        match attempt(request).await {
            Attempt::Ok(_) => Ok(()),
            Attempt::Failed { error, .. } => Err(error),
        }
    }
}

impl Gmail {
    /// Watches (or re-watches) the integration's mailbox to the configured topic and stores
    /// the watch on the integration (member role; a system context in a worker).
    ///
    /// # Errors
    /// [`Error::Conflict`] on `watch_topic` when no topic is configured; as
    /// [`Gmail::with_token`] and [`GmailApi::watch`].
    pub async fn watch(&self, ctx: &TenantContext, id: IntegrationId) -> Result<Integration> {
        ctx.authorize(Access::WriteCrm)?;
        let Some(topic) = self.watch_topic() else {
            return Err(Error::conflict(
                "watch_topic",
                "no Pub/Sub topic is configured (GMAIL_PUBSUB_TOPIC)",
            ));
        };
        self.usable_integration(ctx, id).await?;
        let api = self.api();
        let answer = self
            .with_token(ctx, id, |t| async move { api.watch(&t, topic).await })
            .await?;
        let watch = IntegrationWatch {
            expires_at: answer.expires_at()?,
            history_id: answer.history_id,
        };
        self.store()
            .set_integration_watch(ctx, id, Some(watch))
            .await
    }

    /// Stops the integration's watch at Google and forgets it (member role).
    ///
    /// # Errors
    /// As [`Gmail::with_token`] and [`GmailApi::stop`].
    pub async fn stop_watch(&self, ctx: &TenantContext, id: IntegrationId) -> Result<()> {
        ctx.authorize(Access::WriteCrm)?;
        let api = self.api();
        self.with_token(ctx, id, |t| async move { api.stop(&t).await })
            .await?;
        self.store().set_integration_watch(ctx, id, None).await?;
        Ok(())
    }

    /// Watches every mailbox, across orgs, that has no watch or whose watch expires within
    /// `margin` ([`WATCH_RENEW_MARGIN`] in the scheduler); returns how many were watched.
    /// Nothing without a topic. Failures are logged and retried at the next call (the watch
    /// stays due). Two processes renewing the same mailbox at once cost a call, nothing else:
    /// a watch made again replaces the previous one.
    pub async fn renew_watches(
        &self,
        claims: &dyn IntegrationScheduler,
        margin: Duration,
    ) -> usize {
        if self.watch_topic().is_none() {
            return 0;
        }
        let before = Utc::now() + chrono::Duration::from_std(margin).unwrap_or_default();
        let due = match claims
            .integrations_to_watch(GMAIL, before, RENEW_BATCH)
            .await
        {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "Gmail watches: listing the due ones failed");
                return 0;
            }
        };
        let mut renewed = 0;
        for r in due {
            let ctx = TenantContext::system(r.org_id, "gmail-watch");
            match self.watch(&ctx, r.id).await {
                Ok(_) => renewed += 1,
                Err(e) => {
                    tracing::warn!(org_id = %r.org_id, integration_id = %r.id, error = %e,
                        "Gmail watch renewal failed");
                }
            }
        }
        renewed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiration_is_milliseconds_since_the_epoch() {
        let answer = WatchResponse {
            history_id: "1234".into(),
            expiration: "1767225600000".into(),
        };
        assert_eq!(
            answer.expires_at().unwrap(),
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
        );
        let bad = WatchResponse {
            history_id: "1".into(),
            expiration: "soon".into(),
        };
        assert!(bad.expires_at().is_err());
    }
}
