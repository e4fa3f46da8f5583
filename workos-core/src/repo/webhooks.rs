//! Webhook endpoints, their deliveries and attempts, and the delivery pipeline's queue.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{
    DeliveryAttempt, DeliveryFilter, DeliveryStatus, NewWebhook, Webhook, WebhookDelivery,
    WebhookPatch,
};
use crate::error::Result;
use crate::events::DomainEvent;
use crate::ids::{OrgId, WebhookDeliveryId, WebhookId};
use crate::page::{Page, PageRequest};
use crate::tenant::TenantContext;

/// An endpoint's signing secrets, sealed with the engine's AEAD cipher. The store keeps them
/// as opaque bytes; only `workos-webhooks` opens them.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecrets(pub Vec<u8>);

impl std::fmt::Debug for SealedSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealedSecrets(..)")
    }
}

/// Webhook endpoints of the context's org (admin writes), their deliveries and attempts.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait WebhookRepo: Send + Sync {
    /// Registers an endpoint with its sealed secrets and its custom headers' values sealed
    /// (`headers`; only the names of `new.headers` are stored readable). Emits
    /// `webhook_endpoint.created` with the endpoint redacted ([`Webhook::redacted`]).
    ///
    /// # Errors
    /// [`crate::Error::Validation`], [`crate::Error::Forbidden`].
    async fn create_webhook(
        &self,
        ctx: &TenantContext,
        new: NewWebhook,
        secrets: SealedSecrets,
        headers: SealedSecrets,
    ) -> Result<Webhook>;
    /// One endpoint.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`].
    async fn get_webhook(&self, ctx: &TenantContext, id: WebhookId) -> Result<Webhook>;
    /// A page of endpoints.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn list_webhooks(&self, ctx: &TenantContext, page: PageRequest) -> Result<Page<Webhook>>;
    /// Changes an endpoint; `headers` holds the sealed values of `patch.headers` when the
    /// patch replaces them. Emits `webhook_endpoint.updated`.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`], [`crate::Error::Validation`].
    async fn update_webhook(
        &self,
        ctx: &TenantContext,
        id: WebhookId,
        patch: WebhookPatch,
        headers: Option<SealedSecrets>,
    ) -> Result<Webhook>;
    /// Deletes an endpoint and its deliveries. Emits `webhook_endpoint.deleted`.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`].
    async fn delete_webhook(&self, ctx: &TenantContext, id: WebhookId) -> Result<()>;
    /// The endpoint's sealed secrets (admin).
    ///
    /// # Errors
    /// [`crate::Error::NotFound`].
    async fn webhook_secrets(&self, ctx: &TenantContext, id: WebhookId) -> Result<SealedSecrets>;
    /// Replaces the endpoint's sealed secrets with `secrets` (a rotation) if they still are
    /// `expected` (as read by [`WebhookRepo::webhook_secrets`]): a compare-and-swap, so two
    /// rotations racing cannot drop each other's secret. Returns `false`, changing nothing, when
    /// they are not (the caller reads them again and retries). Emits
    /// `webhook_endpoint.secret_rotated` (the endpoint, never a secret).
    ///
    /// # Errors
    /// [`crate::Error::NotFound`], [`crate::Error::Forbidden`].
    async fn swap_webhook_secrets(
        &self,
        ctx: &TenantContext,
        id: WebhookId,
        expected: SealedSecrets,
        secrets: SealedSecrets,
    ) -> Result<bool>;
    /// A page of the endpoint's deliveries, newest last.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`] for the endpoint.
    async fn list_deliveries(
        &self,
        ctx: &TenantContext,
        webhook_id: WebhookId,
        filter: DeliveryFilter,
        page: PageRequest,
    ) -> Result<Page<WebhookDelivery>>;
    /// One delivery.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`].
    async fn get_delivery(
        &self,
        ctx: &TenantContext,
        id: WebhookDeliveryId,
    ) -> Result<WebhookDelivery>;
    /// Every attempt of a delivery, oldest first.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`] for the delivery.
    async fn list_attempts(
        &self,
        ctx: &TenantContext,
        id: WebhookDeliveryId,
    ) -> Result<Vec<DeliveryAttempt>>;
    /// Schedules a delivery to be sent again now, whatever its status.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`].
    async fn replay_delivery(
        &self,
        ctx: &TenantContext,
        id: WebhookDeliveryId,
    ) -> Result<WebhookDelivery>;
    /// Schedules every failed delivery of the endpoint created since `since` to be sent again;
    /// returns how many.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`] for the endpoint.
    async fn recover_deliveries(
        &self,
        ctx: &TenantContext,
        webhook_id: WebhookId,
        since: DateTime<Utc>,
    ) -> Result<u64>;
}

/// An endpoint whose custom headers are still stored in plaintext: its org, id and headers
/// ([`DeliveryQueue::plaintext_webhook_headers`]).
pub type PlaintextHeaders = (OrgId, WebhookId, std::collections::BTreeMap<String, String>);

/// A delivery claimed by a worker, with everything needed to send it.
#[derive(Debug, Clone, PartialEq)]
pub struct DueDelivery {
    /// The delivery (its id is the `webhook-id`).
    pub delivery: WebhookDelivery,
    /// The endpoint URL.
    pub url: String,
    /// Extra headers stored before they were sealed (an endpoint not yet converted); empty
    /// once `sealed_headers` holds them.
    pub headers: std::collections::BTreeMap<String, String>,
    /// The endpoint's extra headers, sealed (a JSON object of names to values).
    pub sealed_headers: Option<SealedSecrets>,
    /// The endpoint's sealed secrets.
    pub secrets: SealedSecrets,
    /// The endpoint's rate limit.
    pub rate_limit_per_second: Option<u32>,
    /// Since when every attempt at the endpoint has failed, if they have.
    pub failing_since: Option<DateTime<Utc>>,
    /// The event as delivered (the body is its JSON).
    pub event: DomainEvent,
}

/// What [`DeliveryQueue::dispatch_committed`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dispatched {
    /// Deliveries created, the claimed ones included.
    pub created: usize,
    /// The deliveries claimed for the caller, to send.
    pub claimed: Vec<DueDelivery>,
}

/// What one attempt came to, for [`DeliveryQueue::record_attempts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptOutcome {
    /// The org of the delivery.
    pub org_id: OrgId,
    /// The endpoint.
    pub webhook_id: WebhookId,
    /// The attempt (its `next_attempt_at` is the schedule's decision).
    pub attempt: DeliveryAttempt,
    /// The delivery's status after it.
    pub status: DeliveryStatus,
    /// Disable the endpoint, with this reason (`gone`, `failing`), emitting
    /// `webhook_endpoint.disabled`.
    pub disable_endpoint: Option<String>,
}

/// The delivery pipeline's cross-tenant queue: fan-out of the event log into deliveries, and the
/// claims workers take on due deliveries. For trusted worker processes only.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait DeliveryQueue: Send + Sync {
    /// Reads up to `limit` of `org`'s events after the dispatcher's cursor for it and creates
    /// one pending delivery per (event, matching enabled endpoint), moving the cursor in the
    /// same transaction, so no event is lost or fanned out twice across restarts. Returns
    /// (events read, deliveries created), or `None` when another dispatcher holds the org's
    /// claim. Which orgs have events to dispatch: [`crate::events::EventLog::pending_orgs`].
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn dispatch_events(
        &self,
        consumer: &str,
        org: OrgId,
        limit: u32,
    ) -> Result<Option<(usize, usize)>>;

    /// Fans out events known to be committed (named by an in-process notice, see
    /// [`crate::events::EventNotice::events`], each with its org, which lets the store find it
    /// by its key however long the log) at once, without waiting for them to be read in
    /// log order: creates their deliveries (skipping those that exist) and claims up to `claim`
    /// of the new ones for `lease`, returned ready to send (the caller sends them; other
    /// workers leave them alone until the lease ends). The rest are left pending for any worker
    /// and workers are woken. [`DeliveryQueue::dispatch_events`] still reads every event in log
    /// order later and makes no second delivery of any. `None` when the store has no such fast
    /// path (then `dispatch_events` does it all).
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn dispatch_committed(
        &self,
        events: &[(OrgId, crate::ids::EventId)],
        claim: u32,
        lease: std::time::Duration,
    ) -> Result<Option<Dispatched>> {
        let _ = (events, claim, lease);
        Ok(None)
    }

    /// Claims up to `limit` due deliveries for `lease`: no other worker takes them until the
    /// lease runs out (so a worker that died is replaced after it).
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn claim_deliveries(
        &self,
        limit: u32,
        lease: std::time::Duration,
    ) -> Result<Vec<DueDelivery>>;

    /// Claims up to `limit` of `org`'s due deliveries for `lease`, as
    /// [`DeliveryQueue::claim_deliveries`] does across orgs: for a worker that knows which org
    /// has work (on a distributed database, a claim routed to the org's shard alone).
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn claim_org_deliveries(
        &self,
        org: OrgId,
        limit: u32,
        lease: std::time::Duration,
    ) -> Result<Vec<DueDelivery>>;

    /// Records attempts and their consequences in one transaction.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn record_attempts(&self, outcomes: Vec<AttemptOutcome>) -> Result<()>;

    /// Hands claimed deliveries back without recording an attempt (e.g. held back by their
    /// endpoint's rate limit, or claimed by a worker shutting down): any worker may claim them
    /// again from `available_at` (their lease is cut to it), their attempt count unchanged.
    /// Deliveries no longer pending or retrying are left alone.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn release_deliveries(
        &self,
        deliveries: Vec<(OrgId, WebhookDeliveryId)>,
        available_at: DateTime<Utc>,
    ) -> Result<()>;

    /// Notices whenever deliveries became due now (created by a dispatcher, replayed,
    /// recovered or released) in any process sharing the storage: what delivery workers wait
    /// on. Like the event bus, a notice only says "look now"; a missed one costs latency.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage cannot subscribe.
    async fn subscribe_due(&self) -> Result<Box<dyn crate::events::EventSubscription>>;

    /// When the earliest scheduled delivery is due, if any is.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn next_delivery_due(&self) -> Result<Option<DateTime<Utc>>>;
    /// Up to `limit` endpoints, of any org, whose custom headers are still stored in plaintext
    /// (written before headers were sealed at rest), with those headers.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn plaintext_webhook_headers(&self, limit: u32) -> Result<Vec<PlaintextHeaders>>;
    /// Stores an endpoint's headers sealed and leaves only their names readable, if they are
    /// still in plaintext; answers whether it did.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn seal_webhook_headers(
        &self,
        org: OrgId,
        id: WebhookId,
        sealed: SealedSecrets,
    ) -> Result<bool>;
}
