//! Sending routed leads to fulfillment partners: [`LeadSender`] claims due deliveries
//! ([`LeadDeliveryQueue`]) across orgs and sends each: webhook partners get an HTTP POST of the
//! [lead document](crate::document::lead_document) signed per Standard Webhooks (`webhook-id` =
//! `msg_<delivery id>`, the same on every attempt) through the [`HttpSender`] (SSRF guard,
//! pinned addresses, no redirects, timeout, 4 KiB response cap); email partners get a text and
//! HTML email through the engine's [`EmailChannel`], sent from the org's connected Gmail
//! account. [`LeadSender::spawn`] runs it as a tokio task.
//!
//! What an attempt leads to:
//!
//! | answer | delivery |
//! |---|---|
//! | 2xx, or the email was sent | `delivered`, response `{status, body}` (or `{email}`) |
//! | 410 Gone | `failed` for good |
//! | anything else, no answer, no connected mailbox, no signing secret | `failed`, retried per the [`RetrySchedule`] (not before a `Retry-After`), `failed` for good once it is used up |
//!
//! Each outcome emits `lead.delivered` or `lead.delivery_failed` (with `next_attempt_at`, `null`
//! once it failed for good). Delivery is at least once: a sender that dies after sending but
//! before recording sends again once its lease ends, with the same `webhook-id` (receivers
//! de-duplicate on it).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use url::Url;
use workos_core::channel::{EmailChannel, OutboundEmail};
use workos_core::crypto::Cipher;
use workos_core::domain::{IntegrationStatus, LeadDelivery, PartnerDelivery, now};
use workos_core::events::EventBus;
use workos_core::ids::{LeadDeliveryId, OrgId};
use workos_core::page::PageRequest;
use workos_core::repo::{
    DueLeadDelivery, IntegrationRepo, LeadAttempt, LeadDeliveryQueue, LeadSendOutcome,
    SealedSecrets, SubnetAllowanceRepo,
};
use workos_core::tenant::TenantContext;
use workos_core::{Error, Result};
use workos_webhooks::schedule::RetrySchedule;
use workos_webhooks::sender::{HttpSender, Message, SendError, SendResponse, Verdict, classify};
use workos_webhooks::service::SecretSealer;
use workos_webhooks::signing::WebhookSecret;
use workos_webhooks::wakeups::Wakeups;
use workos_webhooks::worker::{START_MARGIN, WebhookConfig};

use crate::document::{EMAIL_PROVIDER, lead_document, lead_email, message_id};
use crate::partners::partner_aad;

/// What one send came to, before the retry schedule is applied.
#[derive(Debug)]
enum Sent {
    /// Taken: delivered, with this response.
    Delivered(Value),
    /// Refused for good (410 Gone).
    Gone(Value),
    /// Not taken; worth another attempt (not before `retry_after`).
    Retry {
        response: Value,
        retry_after: Option<Duration>,
    },
}

fn error_response(message: impl Into<String>) -> Value {
    json!({ "error": message.into() })
}

fn http_response(result: &std::result::Result<SendResponse, SendError>) -> Sent {
    let response = match result {
        Ok(r) => json!({ "status": r.status, "body": r.body }),
        Err(e) => json!({ "error": e.kind.as_str(), "message": e.message }),
    };
    match classify(result) {
        Verdict::Delivered => Sent::Delivered(response),
        Verdict::Gone => Sent::Gone(response),
        Verdict::Retry { retry_after } => Sent::Retry {
            response,
            retry_after,
        },
    }
}

/// Sends due lead deliveries and records the outcomes. See the [module docs](self).
pub struct LeadSender<S: ?Sized> {
    store: Arc<S>,
    sealer: SecretSealer,
    sender: HttpSender,
    email: Option<Arc<dyn EmailChannel>>,
    schedule: RetrySchedule,
    batch: u32,
    max_in_flight: usize,
    poll_interval: Duration,
    lease: Duration,
}

impl<S: ?Sized> std::fmt::Debug for LeadSender<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeadSender")
            .field("sender", &self.sender)
            .field("email", &self.email.is_some())
            .field("schedule", &self.schedule)
            .field("batch", &self.batch)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl<S> LeadSender<S>
where
    S: LeadDeliveryQueue + IntegrationRepo + SubnetAllowanceRepo + EventBus + ?Sized + 'static,
{
    /// A sender over `store` with the webhook pipeline's settings (retry schedule, timeout,
    /// SSRF allow-list, claim batch, attempts in flight, poll interval), opening partners'
    /// secrets with `cipher` and sending email partners' leads through `email` (`None`: email
    /// deliveries fail, and are retried, until a sender with a channel runs).
    ///
    /// # Errors
    /// [`Error::Internal`] when the HTTP client cannot be built.
    pub fn new(
        store: Arc<S>,
        cipher: Arc<Cipher>,
        email: Option<Arc<dyn EmailChannel>>,
        config: &WebhookConfig,
    ) -> Result<Self> {
        let sender = HttpSender::new(config.allowed_subnets.clone(), config.timeout)
            .map_err(|e| Error::internal("lead sender", e))?;
        Ok(Self {
            store,
            sealer: SecretSealer::new(cipher),
            sender,
            email,
            schedule: config.retry_schedule.clone(),
            batch: config.claim_batch.max(1),
            max_in_flight: config.max_in_flight.max(1),
            poll_interval: config.poll_interval,
            lease: config.lease(),
        })
    }

    /// Claims one batch of due deliveries, sends them and records the outcomes. Returns how
    /// many were claimed.
    ///
    /// # Errors
    /// The store's errors (claiming, or recording after three tries: the deliveries are then
    /// sent again once their lease runs out).
    pub async fn run_once(&self) -> Result<usize> {
        let (_keep, mut never) = watch::channel(false);
        self.run_once_until(&mut never).await
    }

    /// [`LeadSender::run_once`], stopped early when `shutdown` turns `true`: no attempt starts
    /// after that, the attempts under way are cut off (the receiver may have the lead: it is
    /// sent again, with the same `webhook-id`), the finished ones are recorded, and every
    /// other delivery of the batch is handed back ([`LeadDeliveryQueue::release_lead_deliveries`])
    /// for any sender to claim at once, instead of after its lease.
    ///
    /// # Errors
    /// As [`LeadSender::run_once`], and the store's errors handing deliveries back (they are
    /// then claimed again when their lease ends).
    pub async fn run_once_until(&self, shutdown: &mut watch::Receiver<bool>) -> Result<usize> {
        if *shutdown.borrow() {
            return Ok(0);
        }
        let claimed = self
            .store
            .claim_lead_deliveries(self.batch, self.lease)
            .await?;
        let count = claimed.len();
        if count == 0 {
            return Ok(0);
        }
        let start_by = Instant::now()
            + self
                .lease
                .saturating_sub(self.sender.timeout() + START_MARGIN);
        let mut unfinished: Vec<(OrgId, LeadDeliveryId)> = claimed
            .iter()
            .map(|d| (d.delivery.org_id, d.delivery.id))
            .collect();
        let mut running = futures_util::stream::iter(claimed)
            .map(|due| {
                let id = due.delivery.id;
                async move { (id, self.attempt(due, start_by).await) }
            })
            .buffer_unordered(self.max_in_flight);
        let mut attempts: Vec<LeadAttempt> = Vec::with_capacity(count);
        let mut stopped = false;
        loop {
            tokio::select! {
                next = running.next() => match next {
                    Some((id, attempt)) => {
                        unfinished.retain(|(_, d)| *d != id);
                        attempts.extend(attempt);
                    }
                    None => break,
                },
                _ = shutdown.wait_for(|stop| *stop), if !stopped => {
                    stopped = true;
                    break;
                }
            }
        }
        drop(running);
        self.record(attempts).await?;
        if stopped && !unfinished.is_empty() {
            tracing::info!(
                handed_back = unfinished.len(),
                "lead sender stopping: deliveries not attempted are handed back"
            );
            self.store.release_lead_deliveries(&unfinished).await?;
        }
        Ok(count)
    }

    /// Runs until `shutdown` turns `true` (or its sender is dropped), waking on event-bus
    /// notices (routing commits `lead.routed`), when the next retry is due, and at least every
    /// poll interval. On shutdown the batch in flight stops at once: its finished attempts are
    /// recorded and the rest handed back ([`LeadSender::run_once_until`]).
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        let mut wakeups = Wakeups::events(self.store.clone());
        while !*shutdown.borrow() {
            wakeups.ensure().await;
            let claimed = match self.run_once_until(&mut shutdown).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "lead delivery round failed");
                    0
                }
            };
            if claimed >= self.batch as usize {
                continue;
            }
            let idle = self.idle_time(claimed > 0).await;
            if idle.is_zero() {
                continue;
            }
            if !wakeups.wait(None, idle, &mut shutdown).await {
                break;
            }
        }
        tracing::debug!("lead sender stopped");
    }

    /// Spawns [`LeadSender::run`] on the current tokio runtime until the handle is shut down
    /// (or dropped), supervised: a run that panics is logged, counted and started again (its
    /// claimed deliveries come back when their lease ends).
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn spawn(self) -> LeadSenderHandle
    where
        S: Send + Sync,
    {
        let (shutdown, signal) = watch::channel(false);
        let this = Arc::new(self);
        // A shutdown during a restart backoff ends it at once.
        let stopped = workos_webhooks::worker::stopped(signal.clone());
        let task =
            workos_core::supervise::spawn_supervised_until("lead-sender", stopped, move || {
                let (this, signal) = (Arc::clone(&this), signal.clone());
                async move { this.run(signal).await }
            });
        LeadSenderHandle {
            shutdown,
            task: Some(task),
        }
    }

    /// How long to sleep before the next claim (as the webhook worker decides).
    async fn idle_time(&self, worked: bool) -> Duration {
        match self.store.next_lead_delivery_due().await {
            Ok(Some(due)) => match (due - Utc::now()).to_std() {
                Ok(wait) if !wait.is_zero() => wait.min(self.poll_interval),
                _ if worked => Duration::ZERO,
                _ => self.poll_interval,
            },
            Ok(None) => self.poll_interval,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the next lead delivery due time");
                self.poll_interval
            }
        }
    }

    /// One attempt, or `None` when it is not made now (too late in the lease, or a secret the
    /// engine cannot open: the engine's fault, not the partner's, so no attempt is counted).
    async fn attempt(&self, due: DueLeadDelivery, start_by: Instant) -> Option<LeadAttempt> {
        let delivery = &due.delivery;
        if Instant::now() >= start_by {
            tracing::debug!(delivery_id = %delivery.id, "lease too short; left for a later claim");
            return None;
        }
        let doc = lead_document(delivery, &due.lead, &due.partner);
        let started = now();
        let sent = match &due.partner.delivery {
            PartnerDelivery::Webhook { url } => {
                let secrets = match &due.signing_secret {
                    None => None,
                    Some(sealed) => match self.open_secrets(delivery, sealed) {
                        Ok(secrets) => Some(secrets).filter(|s| !s.is_empty()),
                        Err(e) => {
                            tracing::error!(partner_id = %delivery.partner_id, error = %e,
                                "cannot open the partner's signing secret");
                            return None;
                        }
                    },
                };
                match secrets {
                    Some(secrets) => self.post(delivery, url.as_ref(), &doc, &secrets).await,
                    None => Sent::Retry {
                        response: error_response(
                            "the partner has no signing secret: rotate it (POST /api/v1/partners/{id}/rotate-secret)",
                        ),
                        retry_after: None,
                    },
                }
            }
            PartnerDelivery::Email { address } => self.mail(delivery, address, &doc).await,
        };
        Some(decide(&self.schedule, delivery, started, sent))
    }

    fn open_secrets(
        &self,
        delivery: &LeadDelivery,
        sealed: &SealedSecrets,
    ) -> Result<Vec<WebhookSecret>> {
        let t = now();
        Ok(self
            .sealer
            .open_for(&partner_aad(delivery.org_id, delivery.partner_id), sealed)?
            .into_iter()
            .filter(|e| e.is_valid_at(t))
            .map(|e| e.secret)
            .collect())
    }

    async fn post(
        &self,
        delivery: &LeadDelivery,
        url: &str,
        doc: &Value,
        secrets: &[WebhookSecret],
    ) -> Sent {
        let url = match Url::parse(url) {
            Ok(url) => url,
            Err(e) => return Sent::Gone(error_response(format!("invalid URL: {e}"))),
        };
        let body = match serde_json::to_vec(doc) {
            Ok(body) => body,
            Err(e) => return Sent::Gone(error_response(format!("cannot serialise: {e}"))),
        };
        let msg_id = message_id(delivery.id);
        let headers = std::collections::BTreeMap::new();
        let ctx = TenantContext::system(delivery.org_id, "leads.delivery");
        let message = Message {
            url: &url,
            msg_id: &msg_id,
            body: &body,
            headers: &headers,
            secrets,
        };
        let result = self.sender.send_for_org(&*self.store, &ctx, message).await;
        if let Err(e) = &result {
            tracing::debug!(delivery_id = %delivery.id, error = %e, "lead webhook attempt failed");
        }
        http_response(&result)
    }

    async fn mail(
        &self,
        delivery: &LeadDelivery,
        address: &workos_core::domain::EmailAddress,
        doc: &Value,
    ) -> Sent {
        let retry = |message: String| Sent::Retry {
            response: error_response(message),
            retry_after: None,
        };
        let Some(channel) = &self.email else {
            return retry("email delivery is not configured on this server (no Gmail)".into());
        };
        let ctx = TenantContext::system(delivery.org_id, "lead-delivery");
        let integration = match self.sending_account(&ctx).await {
            Ok(Some(id)) => id,
            Ok(None) => {
                return retry(
                    "no connected Gmail account to send from: connect one (POST /api/v1/integrations/gmail/connect)"
                        .into(),
                );
            }
            Err(e) => return retry(format!("cannot list the org's integrations: {e}")),
        };
        let (subject, text, html) = lead_email(doc);
        let email = OutboundEmail {
            integration_id: integration,
            to: vec![address.clone()],
            cc: Vec::new(),
            bcc: Vec::new(),
            subject,
            text: Some(text),
            html: Some(html),
            attachments: Vec::new(),
            in_reply_to: None,
            thread_id: None,
        };
        match channel.send_email(&ctx, email).await {
            Ok(sent) => Sent::Delivered(json!({
                "email": {
                    "to": address,
                    "provider_message_id": sent.provider_message_id,
                    "message_id": sent.message_id_header,
                }
            })),
            Err(Error::RateLimited { retry_after }) => Sent::Retry {
                response: error_response("the mail provider is rate limiting"),
                retry_after: Some(retry_after),
            },
            Err(e) => {
                tracing::debug!(delivery_id = %delivery.id, error = %e, "lead email attempt failed");
                retry(format!("sending the email failed: {e}"))
            }
        }
    }

    /// The org's first usable Gmail account, if it has one.
    async fn sending_account(
        &self,
        ctx: &TenantContext,
    ) -> Result<Option<workos_core::ids::IntegrationId>> {
        let mut page = PageRequest::first(100)?;
        loop {
            let integrations = self.store.list_integrations(ctx, page.clone()).await?;
            if let Some(i) = integrations.data.iter().find(|i| {
                i.provider == EMAIL_PROVIDER
                    && matches!(
                        i.status,
                        IntegrationStatus::Active
                            | IntegrationStatus::Syncing
                            | IntegrationStatus::Failing
                    )
            }) {
                return Ok(Some(i.id));
            }
            match integrations.next_cursor {
                Some(cursor) => page = page.after(Some(cursor)),
                None => return Ok(None),
            }
        }
    }

    /// Records attempts, trying three times.
    async fn record(&self, attempts: Vec<LeadAttempt>) -> Result<()> {
        if attempts.is_empty() {
            return Ok(());
        }
        let mut backoff = Duration::from_millis(200);
        for _ in 0..2 {
            match self.store.record_lead_attempts(attempts.clone()).await {
                Ok(_) => return Ok(()),
                Err(e) => {
                    tracing::warn!(error = %e, "recording lead delivery attempts failed; trying again");
                    tokio::time::sleep(backoff).await;
                    backoff *= 5;
                }
            }
        }
        self.store.record_lead_attempts(attempts).await.map(|_| ())
    }
}

/// The outcome of an attempt at `delivery` that started at `started`: delivered; given up
/// (`410 Gone`, or the schedule used up); or retried at the schedule's next time, not before a
/// `Retry-After`.
fn decide(
    schedule: &RetrySchedule,
    delivery: &LeadDelivery,
    started: DateTime<Utc>,
    sent: Sent,
) -> LeadAttempt {
    let (outcome, response) = match sent {
        Sent::Delivered(response) => (LeadSendOutcome::Delivered, response),
        Sent::Gone(response) => (LeadSendOutcome::GaveUp, response),
        Sent::Retry {
            response,
            retry_after,
        } => {
            let ended = now().max(started);
            let attempts_made = delivery.attempts.saturating_add(1);
            match schedule.next_after(attempts_made, ended, retry_after) {
                Some(next_attempt_at) => (LeadSendOutcome::Retry { next_attempt_at }, response),
                None => (LeadSendOutcome::GaveUp, response),
            }
        }
    };
    LeadAttempt {
        org_id: delivery.org_id,
        delivery_id: delivery.id,
        outcome,
        response,
    }
}

/// Controls a spawned [`LeadSender`]. Dropping it signals shutdown without waiting.
#[derive(Debug)]
pub struct LeadSenderHandle {
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl LeadSenderHandle {
    /// Signals shutdown and waits until the sender stopped: attempts under way are cut off, the
    /// finished ones recorded and the rest of the batch handed back (see
    /// [`LeadSender::run_once_until`]).
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take()
            && let Err(e) = task.await
        {
            tracing::error!(error = %e, "lead sender task failed");
        }
    }

    /// Whether the sender is still running.
    #[must_use]
    pub fn is_running(&self) -> bool {
        self.task.as_ref().is_some_and(|t| !t.is_finished())
    }
}

impl Drop for LeadSenderHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

#[cfg(test)]
mod tests {
    use workos_core::ids::PartnerId;

    use super::*;

    fn delivery(attempts: u32) -> LeadDelivery {
        LeadDelivery {
            id: LeadDeliveryId::new(),
            org_id: OrgId::new(),
            lead_id: workos_core::ids::LeadId::new(),
            partner_id: PartnerId::new(),
            rule: None,
            price_minor: 100,
            currency: workos_core::domain::Currency::parse("USD").unwrap(),
            status: workos_core::domain::LeadDeliveryStatus::Pending,
            attempts,
            response: None,
            return_reason: None,
            created_at: now(),
            updated_at: now(),
        }
    }

    #[test]
    fn outcomes_follow_the_schedule() {
        let schedule = RetrySchedule::parse("0,60,60").unwrap();
        let retry = |retry_after| Sent::Retry {
            response: json!({"status": 500}),
            retry_after,
        };
        let t = now();
        let first = decide(&schedule, &delivery(0), t, retry(None));
        let LeadSendOutcome::Retry { next_attempt_at } = first.outcome else {
            panic!("retried: {first:?}");
        };
        assert!(next_attempt_at >= t + chrono::Duration::seconds(50));
        assert_eq!(first.response, json!({"status": 500}));
        // Retry-After longer than the schedule's delay wins.
        let later = decide(
            &schedule,
            &delivery(0),
            t,
            retry(Some(Duration::from_secs(3600))),
        );
        let LeadSendOutcome::Retry { next_attempt_at } = later.outcome else {
            panic!("retried: {later:?}");
        };
        assert!(next_attempt_at >= t + chrono::Duration::seconds(3600));
        // The third attempt was the last.
        assert_eq!(
            decide(&schedule, &delivery(2), t, retry(None)).outcome,
            LeadSendOutcome::GaveUp
        );
        assert_eq!(
            decide(
                &schedule,
                &delivery(0),
                t,
                Sent::Gone(json!({"status": 410}))
            )
            .outcome,
            LeadSendOutcome::GaveUp
        );
        assert_eq!(
            decide(
                &schedule,
                &delivery(2),
                t,
                Sent::Delivered(json!({"status": 200}))
            )
            .outcome,
            LeadSendOutcome::Delivered
        );
    }
}
