//! Repository traits: the tenant-scoped storage API every backend implements.
//!
//! Every method takes a [`TenantContext`]; the org comes from it, never from input, and the
//! actor's role is checked against the [`Access`](crate::tenant::Access) the method needs. A
//! record of another org reads as [`Error::NotFound`](crate::Error::NotFound), never as
//! forbidden. Every write also appends its domain event in the same transaction.
//!
//! The only methods without a context are in [`Directory`]: the lookups that *establish* a
//! tenant (an API key by prefix, a membership, an inbound phone number) and org creation.

mod email;
mod integrations;
mod leads;
mod opt_outs;
mod search;
mod subnets;
mod timeline;

pub use email::*;
pub use integrations::*;
pub use leads::*;
pub use opt_outs::*;
pub use search::*;
pub use subnets::*;
pub use timeline::*;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{
    ApiKey, ApiKeyCredentials, ApiKeyPatch, Call, CallProgress, CallRecording, CallTranscription,
    CommsFilter, Company, CompanyFilter, CompanyPatch, Deal, DealFilter, DealPatch,
    DeliveryAttempt, DeliveryFilter, DeliveryStatus, E164, EmailAddress, Interaction,
    InteractionFilter, InteractionPatch, Member, NewApiKey, NewCall, NewCompany, NewDeal,
    NewInteraction, NewMember, NewOrg, NewPerson, NewPhone, NewSms, NewTask, NewWebhook, Org,
    Person, PersonFilter, PersonPatch, Phone, PhonePatch, Sms, Task, TaskFilter, TaskPatch,
    Webhook, WebhookDelivery, WebhookPatch,
};
use crate::error::Result;
use crate::events::{DomainEvent, EventFilter};
use crate::ids::{
    ApiKeyId, CallId, CompanyId, DealId, EventId, InteractionId, MemberId, OrgId, PersonId,
    PhoneId, SmsId, TaskId, UserId, WebhookDeliveryId, WebhookId,
};
use crate::page::{Page, PageRequest};
use crate::tenant::{Role, TenantContext};

/// Lookups that establish a tenant, and org creation. Cross-tenant by nature: only
/// authenticators and trusted jobs call these.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait Directory: Send + Sync {
    /// Creates an org; with `owner`, that user becomes its first member with [`Role::Owner`].
    /// Emits `org.created` (and `member.created`).
    ///
    /// # Errors
    /// [`crate::Error::Validation`] for a bad name.
    async fn create_org(&self, new: NewOrg, owner: Option<UserId>) -> Result<Org>;

    /// The live (not revoked) API key whose lookup prefix is `prefix`, with its hash, for the
    /// caller to verify the presented key against in constant time.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn api_key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKeyCredentials>>;

    /// Records that key `key_id` of `org_id` authenticated (at most one write per key per
    /// minute).
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn touch_api_key(&self, org_id: OrgId, key_id: ApiKeyId) -> Result<()>;

    /// The membership of `user_id` in `org_id`, if any.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn membership(&self, org_id: OrgId, user_id: UserId) -> Result<Option<Member>>;

    /// Whether any org exists (a fresh installation has none).
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn has_orgs(&self) -> Result<bool>;

    /// The org-owned phone mapping for an inbound number, if any.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn phone_by_number(&self, number: &E164) -> Result<Option<Phone>>;
}

/// The context's own org.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait OrgRepo: Send + Sync {
    /// The context's org.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`] if it was deleted.
    async fn get_org(&self, ctx: &TenantContext) -> Result<Org>;

    /// Renames the org (owner only). Emits `org.updated`.
    ///
    /// # Errors
    /// [`crate::Error::Forbidden`], [`crate::Error::Validation`].
    async fn rename_org(&self, ctx: &TenantContext, name: String) -> Result<Org>;
}

/// Members of the context's org. Reading needs viewer; changes need owner.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait MemberRepo: Send + Sync {
    /// Adds a user. Emits `member.created`.
    ///
    /// # Errors
    /// [`crate::Error::Conflict`] on `user_id` when already a member; [`crate::Error::Forbidden`].
    async fn create_member(&self, ctx: &TenantContext, new: NewMember) -> Result<Member>;
    /// One member.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`].
    async fn get_member(&self, ctx: &TenantContext, id: MemberId) -> Result<Member>;
    /// A page of members.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn list_members(&self, ctx: &TenantContext, page: PageRequest) -> Result<Page<Member>>;
    /// Changes a member's role. Emits `member.updated`.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`]; [`crate::Error::Conflict`] when it would leave no owner.
    async fn set_member_role(
        &self,
        ctx: &TenantContext,
        id: MemberId,
        role: Role,
    ) -> Result<Member>;
    /// Removes a member. Emits `member.deleted`.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`]; [`crate::Error::Conflict`] when it would leave no owner.
    async fn delete_member(&self, ctx: &TenantContext, id: MemberId) -> Result<()>;
}

/// API keys of the context's org (admin).
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait ApiKeyRepo: Send + Sync {
    /// Stores a key's prefix and hash. Emits `api_key.created`.
    ///
    /// # Errors
    /// [`crate::Error::Conflict`] on a prefix collision; [`crate::Error::Forbidden`].
    async fn create_api_key(&self, ctx: &TenantContext, new: NewApiKey) -> Result<ApiKey>;
    /// One key (never its hash).
    ///
    /// # Errors
    /// [`crate::Error::NotFound`].
    async fn get_api_key(&self, ctx: &TenantContext, id: ApiKeyId) -> Result<ApiKey>;
    /// A page of keys, revoked ones included.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn list_api_keys(&self, ctx: &TenantContext, page: PageRequest) -> Result<Page<ApiKey>>;
    /// Renames a key. Emits `api_key.updated`.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`], [`crate::Error::Validation`].
    async fn update_api_key(
        &self,
        ctx: &TenantContext,
        id: ApiKeyId,
        patch: ApiKeyPatch,
    ) -> Result<ApiKey>;
    /// Revokes a key; it never authenticates again. Emits `api_key.revoked`. A key with a
    /// stronger role than the caller's (an owner's key, for an admin) is not revoked.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`]; [`crate::Error::Forbidden`] for a stronger key.
    async fn revoke_api_key(&self, ctx: &TenantContext, id: ApiKeyId) -> Result<ApiKey>;
}

/// Provider phone numbers of the context's org (admin writes).
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait PhoneRepo: Send + Sync {
    /// Maps a number to the org. Emits `phone.created`.
    ///
    /// # Errors
    /// [`crate::Error::Conflict`] on `number` when any org already has it.
    async fn create_phone(&self, ctx: &TenantContext, new: NewPhone) -> Result<Phone>;
    /// One mapping.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`].
    async fn get_phone(&self, ctx: &TenantContext, id: PhoneId) -> Result<Phone>;
    /// A page of mappings.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn list_phones(&self, ctx: &TenantContext, page: PageRequest) -> Result<Page<Phone>>;
    /// Changes a mapping's label or capabilities. Emits `phone.updated`.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`], [`crate::Error::Validation`].
    async fn update_phone(
        &self,
        ctx: &TenantContext,
        id: PhoneId,
        patch: PhonePatch,
    ) -> Result<Phone>;
    /// Removes a mapping. Emits `phone.deleted`.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`].
    async fn delete_phone(&self, ctx: &TenantContext, id: PhoneId) -> Result<()>;
}

/// Declares a CRM repository trait: create, get, list with a filter, patch, soft delete.
macro_rules! crm_repo {
    ($(#[$doc:meta])* $trait:ident, $entity:ident, $id:ident, $new:ident, $patch:ident, $filter:ident,
     $create:ident, $get:ident, $list:ident, $update:ident, $delete:ident) => {
        $(#[$doc])*
        #[cfg_attr(feature = "testing", mockall::automock)]
        #[async_trait]
        pub trait $trait: Send + Sync {
            #[doc = concat!("Creates a ", stringify!($entity), " (member role). Emits its `.created` event.")]
            ///
            /// # Errors
            /// [`crate::Error::Validation`] naming each bad field; [`crate::Error::Conflict`] on a
            /// taken unique value; [`crate::Error::NotFound`] when a referenced record is not in
            /// the org; [`crate::Error::Forbidden`].
            async fn $create(&self, ctx: &TenantContext, new: $new) -> Result<$entity>;

            #[doc = concat!("One ", stringify!($entity), ".")]
            ///
            /// # Errors
            /// [`crate::Error::NotFound`] when absent, deleted, or of another org.
            async fn $get(&self, ctx: &TenantContext, id: $id) -> Result<$entity>;

            #[doc = concat!("A page of ", stringify!($entity), " records matching the filter, in id order.")]
            ///
            /// # Errors
            /// [`crate::Error::Unavailable`] when the storage fails.
            async fn $list(&self, ctx: &TenantContext, filter: $filter, page: PageRequest) -> Result<Page<$entity>>;

            #[doc = concat!("Applies a patch (member role). Emits `.updated` when anything changed.")]
            ///
            /// # Errors
            /// As for creation, and [`crate::Error::NotFound`] for the record itself.
            async fn $update(&self, ctx: &TenantContext, id: $id, patch: $patch) -> Result<$entity>;

            #[doc = concat!("Soft-deletes (member role); it then reads as not found. Emits `.deleted`.")]
            ///
            /// # Errors
            /// [`crate::Error::NotFound`]; [`crate::Error::Forbidden`].
            async fn $delete(&self, ctx: &TenantContext, id: $id) -> Result<()>;
        }
    };
}

crm_repo!(
    /// Companies.
    CompanyRepo, Company, CompanyId, NewCompany, CompanyPatch, CompanyFilter,
    create_company, get_company, list_companies, update_company, delete_company
);
crm_repo!(
    /// People. Emails and phones, primary or additional, are unique within the org.
    PersonRepo, Person, PersonId, NewPerson, PersonPatch, PersonFilter,
    create_person, get_person, list_people, update_person, delete_person
);
crm_repo!(
    /// Deals.
    DealRepo, Deal, DealId, NewDeal, DealPatch, DealFilter,
    create_deal, get_deal, list_deals, update_deal, delete_deal
);
crm_repo!(
    /// Tasks.
    TaskRepo, Task, TaskId, NewTask, TaskPatch, TaskFilter,
    create_task, get_task, list_tasks, update_task, delete_task
);
crm_repo!(
    /// Interactions (timeline entries).
    InteractionRepo, Interaction, InteractionId, NewInteraction, InteractionPatch, InteractionFilter,
    create_interaction, get_interaction, list_interactions, update_interaction, delete_interaction
);

/// Finding people by contact details, as channels do for inbound messages.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait ContactLookup: Send + Sync {
    /// The person with this email, primary or additional, case-insensitively.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn person_by_email(
        &self,
        ctx: &TenantContext,
        email: &EmailAddress,
    ) -> Result<Option<Person>>;

    /// The person with this phone, primary or additional.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn person_by_phone(&self, ctx: &TenantContext, phone: &E164) -> Result<Option<Person>>;
}

/// The context org's domain events, newest last.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait EventRepo: Send + Sync {
    /// A page of the org's events matching the filter, in id (time) order.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn list_events(
        &self,
        ctx: &TenantContext,
        filter: EventFilter,
        page: PageRequest,
    ) -> Result<Page<DomainEvent>>;

    /// One of the org's events.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`].
    async fn get_event(&self, ctx: &TenantContext, id: EventId) -> Result<DomainEvent>;
}

/// Everything a storage backend provides; what the engine and the reference server hold.
pub trait Store:
    Directory
    + OrgRepo
    + MemberRepo
    + ApiKeyRepo
    + PhoneRepo
    + CompanyRepo
    + PersonRepo
    + DealRepo
    + TaskRepo
    + InteractionRepo
    + TimelineRepo
    + SearchRepo
    + ContactLookup
    + EventRepo
    + IdempotencyRepo
    + WebhookRepo
    + DeliveryQueue
    + CommsRepo
    + IntegrationRepo
    + IntegrationScheduler
    + OAuthStateRepo
    + EmailRepo
    + LeadRepo
    + PartnerRepo
    + LeadDeliveryRepo
    + RoutingRepo
    + LeadFormRepo
    + LeadDeliveryQueue
    + OptOutRepo
    + CallSettingsRepo
    + SubnetAllowanceRepo
    + crate::events::EventLog
    + crate::events::EventBus
{
}

impl<T> Store for T where
    T: Directory
        + OrgRepo
        + MemberRepo
        + ApiKeyRepo
        + PhoneRepo
        + CompanyRepo
        + PersonRepo
        + DealRepo
        + TaskRepo
        + InteractionRepo
        + TimelineRepo
        + SearchRepo
        + ContactLookup
        + EventRepo
        + IdempotencyRepo
        + WebhookRepo
        + DeliveryQueue
        + CommsRepo
        + IntegrationRepo
        + IntegrationScheduler
        + OAuthStateRepo
        + EmailRepo
        + LeadRepo
        + PartnerRepo
        + LeadDeliveryRepo
        + RoutingRepo
        + LeadFormRepo
        + LeadDeliveryQueue
        + OptOutRepo
        + CallSettingsRepo
        + SubnetAllowanceRepo
        + crate::events::EventLog
        + crate::events::EventBus
{
}

/// What an idempotency key currently holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyState {
    /// The key was free and is now reserved for this request: run it, then
    /// [`IdempotencyRepo::complete_idempotent`] (or [`IdempotencyRepo::release_idempotent`]).
    Reserved,
    /// A request with this key is still running.
    InProgress,
    /// The key was used with a different request (fingerprint).
    Mismatch,
    /// The key already holds a completed response: answer it again.
    Completed(StoredResponse),
}

/// A response kept for an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// The `Location` header, when there was one.
    pub location: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// Idempotency keys for retried writes (`Idempotency-Key` on POST), scoped to the org.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait IdempotencyRepo: Send + Sync {
    /// Reserves `key` for a request with `fingerprint` (e.g. a hash of method, path and body)
    /// for `lease`, or reports what the key already holds. A reservation whose lease ran out
    /// without a response (its process died) is taken over by this request, whatever its
    /// fingerprint: nothing was ever answered for it. Keys older than 24 hours are forgotten,
    /// and each reservation purges a batch of the org's old keys.
    ///
    /// The caller must finish the request within `lease`, and complete or release the key.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn reserve_idempotent(
        &self,
        ctx: &TenantContext,
        key: &str,
        fingerprint: &[u8],
        lease: std::time::Duration,
    ) -> Result<IdempotencyState>;

    /// Stores the response of a reserved key.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn complete_idempotent(
        &self,
        ctx: &TenantContext,
        key: &str,
        response: StoredResponse,
    ) -> Result<()>;

    /// Frees a reserved key whose request failed in a way worth retrying (or never finished:
    /// the client went away, the handler panicked). A completed key is kept.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn release_idempotent(&self, ctx: &TenantContext, key: &str) -> Result<()>;

    /// Forgets up to 1000 of the org's keys created more than `older_than` ago (completed, or
    /// reserved with a lapsed lease); returns how many. Call it until it returns 0 to purge
    /// all; [`IdempotencyRepo::reserve_idempotent`] also purges a small batch of keys older
    /// than 24 hours on every reservation.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn purge_idempotent(
        &self,
        ctx: &TenantContext,
        older_than: std::time::Duration,
    ) -> Result<u64>;
}

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
    /// [`crate::events::EventNotice::events`]) at once, without waiting for them to be read in
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
        events: &[crate::ids::EventId],
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

/// Whether a provider-idempotent record was new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded<T> {
    /// The record (the existing one when the provider id was seen before).
    pub record: T,
    /// False when the provider id was already stored: a retry, nothing was written.
    pub created: bool,
}

/// SMS and calls of the context's org. Recording is idempotent on the provider's id, and each
/// new record resolves (or creates) the person by phone, adds an interaction and emits its event
/// (`sms.received`/`sms.sent`, `call.received`/`call.started`) in one transaction.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait CommsRepo: Send + Sync {
    /// Records a message.
    ///
    /// # Errors
    /// [`crate::Error::Validation`] (e.g. a body over 1,600 characters), [`crate::Error::Forbidden`];
    /// [`crate::Error::NotFound`] (`phone`) when `phone_id` is not (or no longer) a number of
    /// the org: nothing is written.
    async fn record_sms(&self, ctx: &TenantContext, new: NewSms) -> Result<Recorded<Sms>>;
    /// Updates a message's provider status; emits `sms.status_changed` when it changed. The
    /// status only moves forward along Twilio's progression and a final one stays
    /// ([`crate::domain::sms_status_advances`]): replayed and late callbacks change nothing.
    /// Unknown statuses are stored as given; an error code is kept once set. `None` when no
    /// message has that id in the org.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn update_sms_status(
        &self,
        ctx: &TenantContext,
        message_sid: &str,
        status: &str,
        error_code: Option<String>,
    ) -> Result<Option<Sms>>;
    /// One message.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`].
    async fn get_sms(&self, ctx: &TenantContext, id: SmsId) -> Result<Sms>;
    /// A page of messages.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn list_sms(
        &self,
        ctx: &TenantContext,
        filter: CommsFilter,
        page: PageRequest,
    ) -> Result<Page<Sms>>;
    /// Records a call.
    ///
    /// # Errors
    /// [`crate::Error::Validation`], [`crate::Error::Forbidden`]; [`crate::Error::NotFound`]
    /// (`phone`) as for [`CommsRepo::record_sms`].
    async fn record_call(&self, ctx: &TenantContext, new: NewCall) -> Result<Recorded<Call>>;
    /// Applies a status report of one of a call's legs; emits `call.completed` (or
    /// `call.status_changed`) when the call changed. The status only moves forward along
    /// Twilio's progression and a final status stays ([`crate::domain::call_status_advances`]):
    /// replayed and late reports change nothing. Once a click-to-call is bridged
    /// ([`crate::domain::CallLeg::Bridging`]), the final status of its own (the rep's) leg no
    /// longer applies: the dialled leg's does. `None` when no call has that id in the org.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn update_call_status(
        &self,
        ctx: &TenantContext,
        progress: CallProgress,
    ) -> Result<Option<Call>>;
    /// Stores a call's recording; emits `call.recording_available`. `None` when no call has
    /// that id in the org. A retry of the same recording changes nothing.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn record_recording(
        &self,
        ctx: &TenantContext,
        recording: CallRecording,
    ) -> Result<Option<Call>>;
    /// Stores a voicemail's transcription on its call; emits `call.transcription_available`.
    /// `None` when no call has that id in the org; a retry changes nothing.
    ///
    /// # Errors
    /// [`crate::Error::Validation`] on `TranscriptionText` over
    /// [`crate::domain::MAX_TRANSCRIPTION_CHARS`]; [`crate::Error::Unavailable`] when the
    /// storage fails.
    async fn record_transcription(
        &self,
        ctx: &TenantContext,
        transcription: CallTranscription,
    ) -> Result<Option<Call>>;
    /// The calls of every org that are not final and started between `started_after` and
    /// `started_before`, with a provider id, in id order after `after`, at most `limit`: how
    /// a reconciliation job finds calls whose last callbacks never came. Reads in the system
    /// scope (no tenant).
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn unfinished_calls(
        &self,
        started_after: DateTime<Utc>,
        started_before: DateTime<Utc>,
        after: Option<CallId>,
        limit: u32,
    ) -> Result<Vec<crate::domain::UnfinishedCall>>;
    /// One call.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`].
    async fn get_call(&self, ctx: &TenantContext, id: CallId) -> Result<Call>;
    /// A page of calls.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn list_calls(
        &self,
        ctx: &TenantContext,
        filter: CommsFilter,
        page: PageRequest,
    ) -> Result<Page<Call>>;
}
