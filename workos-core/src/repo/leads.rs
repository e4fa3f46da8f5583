//! Leads, fulfillment partners and lead deliveries: traits owned by the lead-gen work.
//!
//! Capture, partners and deliveries are storage only: *which* partner gets a lead (matching,
//! priorities, weights, caps, hours) is routing's decision, made on top of these.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{
    DedupePolicy, Lead, LeadDelivery, LeadDeliveryFilter, LeadDeliveryStatus, LeadFilter,
    LeadPatch, LeadStatus, NewLead, NewPartner, Partner, PartnerFilter, PartnerPatch, ReturnReason,
};
use crate::error::Result;
use crate::ids::{LeadDeliveryId, LeadId, OrgId, PartnerId};
use crate::page::{Page, PageRequest};
use crate::repo::SealedSecrets;
use crate::tenant::TenantContext;

/// What [`LeadRepo::capture_lead`] stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedLead {
    /// The stored lead: status `new`, or `duplicate` with `duplicate_of` set.
    pub lead: Lead,
    /// Whether a person was created for it (false when it was linked to an existing person,
    /// and for duplicates, which never change people).
    pub person_created: bool,
}

impl CapturedLead {
    /// Whether capture found the lead a duplicate.
    #[must_use]
    pub fn is_duplicate(&self) -> bool {
        self.lead.status == LeadStatus::Duplicate
    }
}

/// Leads of the context's org. Capturing and changing need the member role; reading, viewer.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait LeadRepo: Send + Sync {
    /// Stores a submitted lead captured at `now` (its `created_at`), in one transaction:
    ///
    /// 1. **Dedupe**: when another lead that is not itself a duplicate, captured after
    ///    `now - policy.window_days` (in the same vertical, for
    ///    [`DedupeScope::SameVertical`](crate::domain::DedupeScope::SameVertical)), matches on
    ///    any of `policy.fields`, the lead is stored with status `duplicate`, `duplicate_of` the
    ///    most recent such lead, and that lead's person and first touch. No person is created
    ///    or changed.
    /// 2. Otherwise it is linked to the live person with its email (else its phone), or to a
    ///    new person with its name, email and phone (emitting `person.created`); a concurrent
    ///    creation of the same person is resolved by using that person.
    /// 3. **First touch**: the person's earliest lead's `first_touch` is copied; when the person
    ///    has no lead yet, the lead's own attribution becomes the first touch (`None` when it
    ///    has none). A first touch is never overwritten.
    ///
    /// Emits `lead.created` (for duplicates too; the snapshot's `status` tells them apart).
    /// On Postgres, captures that share an email or phone are serialised (a transaction-scoped
    /// advisory lock per value), so two concurrent submissions cannot both be `new`.
    ///
    /// # Errors
    /// [`crate::Error::Validation`] naming each bad field of `new` (`email` when neither an
    /// email nor a phone is given) or of `policy`; [`crate::Error::Forbidden`].
    async fn capture_lead(
        &self,
        ctx: &TenantContext,
        new: NewLead,
        policy: &DedupePolicy,
        now: DateTime<Utc>,
    ) -> Result<CapturedLead>;

    /// One lead.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`] when absent or of another org.
    async fn get_lead(&self, ctx: &TenantContext, id: LeadId) -> Result<Lead>;

    /// A page of leads matching the filter, in id order.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn list_leads(
        &self,
        ctx: &TenantContext,
        filter: LeadFilter,
        page: PageRequest,
    ) -> Result<Page<Lead>>;

    /// Sets a lead's status (any status but `duplicate`, which only capture sets). Emits
    /// `lead.status_changed` when it changed.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`]; [`crate::Error::Validation`] on `status` for `duplicate`;
    /// [`crate::Error::Forbidden`].
    async fn set_lead_status(
        &self,
        ctx: &TenantContext,
        id: LeadId,
        status: LeadStatus,
    ) -> Result<Lead>;

    /// Applies a patch (member role): a status change as [`LeadRepo::set_lead_status`] does
    /// (`lead.status_changed`), a notes change emitting `lead.updated`; nothing when nothing
    /// changes.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`]; [`crate::Error::Validation`] naming `status` or `notes`;
    /// [`crate::Error::Forbidden`].
    async fn update_lead(&self, ctx: &TenantContext, id: LeadId, patch: LeadPatch) -> Result<Lead>;

    /// Soft-deletes a lead (member role): it then reads as not found and is not listed; its
    /// deliveries stay (those already scheduled are still sent). Emits `lead.deleted`.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`]; [`crate::Error::Forbidden`].
    async fn delete_lead(&self, ctx: &TenantContext, id: LeadId) -> Result<()>;
}

/// Fulfillment partners of the context's org. Writes need the admin role; reading, viewer.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait PartnerRepo: Send + Sync {
    /// Creates a partner. Emits `partner.created`.
    ///
    /// # Errors
    /// [`crate::Error::Validation`] naming each bad field (`timezone`, `price_minor`,
    /// `delivery.url`, …); [`crate::Error::Forbidden`] below admin.
    async fn create_partner(&self, ctx: &TenantContext, new: NewPartner) -> Result<Partner>;

    /// Creates a partner under the id `id`, as [`PartnerRepo::create_partner`] does, and for a
    /// webhook partner stores `secret` (its sealed signing secret) in the same transaction, so
    /// no lead is ever routed to it before it has one. The caller chooses the id because the
    /// sealed secret's associated data names the partner. `secret` is ignored for an email
    /// partner.
    ///
    /// # Errors
    /// As [`PartnerRepo::create_partner`]; [`crate::Error::Conflict`] on `id` when a partner
    /// already has it.
    async fn create_partner_with_secret(
        &self,
        ctx: &TenantContext,
        id: PartnerId,
        new: NewPartner,
        secret: Option<SealedSecrets>,
    ) -> Result<Partner>;

    /// One partner.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`] when absent, deleted, or of another org.
    async fn get_partner(&self, ctx: &TenantContext, id: PartnerId) -> Result<Partner>;

    /// A page of (live) partners matching the filter, in id order.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn list_partners(
        &self,
        ctx: &TenantContext,
        filter: PartnerFilter,
        page: PageRequest,
    ) -> Result<Page<Partner>>;

    /// Applies a patch. Emits `partner.updated` when anything changed.
    ///
    /// # Errors
    /// As for creation, and [`crate::Error::NotFound`] for the partner.
    async fn update_partner(
        &self,
        ctx: &TenantContext,
        id: PartnerId,
        patch: PartnerPatch,
    ) -> Result<Partner>;

    /// Applies a patch as [`PartnerRepo::update_partner`] does and, in the same transaction,
    /// keeps the partner's signing secret in step with its delivery: a partner that is an
    /// email partner after the patch loses its secret; a webhook partner without one gets
    /// `mint` (sealed for this partner). Returns the partner and whether `mint` was stored.
    ///
    /// # Errors
    /// As [`PartnerRepo::update_partner`].
    async fn update_partner_with_secret(
        &self,
        ctx: &TenantContext,
        id: PartnerId,
        patch: PartnerPatch,
        mint: SealedSecrets,
    ) -> Result<(Partner, bool)>;

    /// Soft-deletes a partner: it then reads as not found; its deliveries stay. Emits
    /// `partner.deleted`.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`]; [`crate::Error::Forbidden`] below admin.
    async fn delete_partner(&self, ctx: &TenantContext, id: PartnerId) -> Result<()>;

    /// The partner's sealed webhook signing secret, if it has one (admin). The store keeps it
    /// as opaque bytes; only `workos-webhooks` opens it.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`]; [`crate::Error::Forbidden`] below admin.
    async fn partner_signing_secret(
        &self,
        ctx: &TenantContext,
        id: PartnerId,
    ) -> Result<Option<SealedSecrets>>;

    /// Replaces the partner's sealed signing secret with `next` (a rotation) if it still is
    /// `expected` (as read by [`PartnerRepo::partner_signing_secret`]): a compare-and-swap,
    /// so two rotations racing cannot drop each other's secret. Returns `false`, changing
    /// nothing, when it is not (the caller reads it again and retries). Emits
    /// `partner.secret_rotated` (the partner, never a secret).
    ///
    /// # Errors
    /// [`crate::Error::NotFound`]; [`crate::Error::Forbidden`] below admin.
    async fn swap_partner_signing_secret(
        &self,
        ctx: &TenantContext,
        id: PartnerId,
        expected: Option<SealedSecrets>,
        next: SealedSecrets,
    ) -> Result<bool>;

    /// Sets (or, with `None`, clears) the partner's sealed webhook signing secret (admin).
    /// Emits no event: the secret is never part of one.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`]; [`crate::Error::Forbidden`] below admin.
    async fn set_partner_signing_secret(
        &self,
        ctx: &TenantContext,
        id: PartnerId,
        secret: Option<SealedSecrets>,
    ) -> Result<()>;
}

/// Deliveries of leads to partners. Writes need the member role; reading, viewer.
///
/// # Caps and concurrency
/// [`LeadDeliveryRepo::partner_usage`] in its own transaction is a snapshot: two routings that
/// each read "one slot left" could both take it. Cap-enforcing routing must, in *one*
/// transaction, lock the partner row first — on Postgres
/// `SELECT id FROM fulfillment_partners WHERE org_id = $1 AND id = $2 FOR UPDATE`, which queues
/// every other routing to that partner until commit (SQLite's single writer already serialises
/// write transactions) — then count usage (the same query as `partner_usage`) and record the
/// delivery. The store's implementation keeps both steps as transaction-level helpers for that.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait LeadDeliveryRepo: Send + Sync {
    /// Records that a lead was routed to a partner at `price_minor` (in the partner's currency),
    /// with status `pending`. A lead goes to a partner at most once. Emits `lead.routed` (about
    /// the delivery). The lead's own status is routing's to set ([`LeadRepo::set_lead_status`]).
    ///
    /// # Errors
    /// [`crate::Error::NotFound`] for the lead or the partner (absent, deleted, or of another
    /// org); [`crate::Error::Conflict`] on `partner_id` when the lead was already routed to it;
    /// [`crate::Error::Validation`] on `rule` (over 200 characters) or `price_minor`
    /// (negative); [`crate::Error::Forbidden`].
    async fn record_delivery(
        &self,
        ctx: &TenantContext,
        lead_id: LeadId,
        partner_id: PartnerId,
        rule: Option<String>,
        price_minor: i64,
    ) -> Result<LeadDelivery>;

    /// One delivery.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`].
    async fn get_lead_delivery(
        &self,
        ctx: &TenantContext,
        id: LeadDeliveryId,
    ) -> Result<LeadDelivery>;

    /// Moves a delivery to `status` (see [`LeadDeliveryStatus`] for the allowed moves), keeping
    /// `response` when given (else the previous one) and `return_reason` for returns. A move to
    /// `delivered` or `failed` counts an attempt. Emits `lead.delivered`,
    /// `lead.delivery_failed`, `lead.accepted`, `lead.rejected` or `lead.returned`.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`]; [`crate::Error::Conflict`] on `status` for a move the
    /// current status does not allow; [`crate::Error::Validation`] on `return_reason`
    /// (required exactly for `returned`) or `response` (over 64 KiB);
    /// [`crate::Error::Forbidden`].
    async fn update_delivery(
        &self,
        ctx: &TenantContext,
        id: LeadDeliveryId,
        status: LeadDeliveryStatus,
        response: Option<serde_json::Value>,
        return_reason: Option<ReturnReason>,
    ) -> Result<LeadDelivery>;

    /// A page of a lead's deliveries, in id order.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`] for the lead.
    async fn list_lead_deliveries(
        &self,
        ctx: &TenantContext,
        lead_id: LeadId,
        page: PageRequest,
    ) -> Result<Page<LeadDelivery>>;

    /// A page of a partner's deliveries matching the filter, in id order.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`] for the partner.
    async fn list_partner_deliveries(
        &self,
        ctx: &TenantContext,
        partner_id: PartnerId,
        filter: LeadDeliveryFilter,
        page: PageRequest,
    ) -> Result<Page<LeadDelivery>>;

    /// How many of the partner's deliveries recorded at or after `since` count toward its caps:
    /// every one not `returned` (pending and failed ones hold their slot). The caller picks
    /// `since` (the start of the partner's local day or month). See the trait docs for using
    /// this under concurrency.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`] for the partner.
    async fn partner_usage(
        &self,
        ctx: &TenantContext,
        partner_id: PartnerId,
        since: DateTime<Utc>,
    ) -> Result<u32>;
}

/// Lead routing: settings, routing itself, partner callbacks and reporting. Reading settings
/// and the summary needs viewer; routing and callbacks, member; changing settings, admin.
///
/// # Concurrency
/// [`RoutingRepo::route_lead`] runs in *one* transaction: it locks the lead (and the settings
/// row for round robin), reads each candidate's usage since its local midnight and month start
/// (what [`LeadDeliveryRepo::partner_usage`] counts, kept in per-window counters), records the
/// deliveries, and last takes a slot of each chosen partner's cap counters with a conditional
/// increment that waits for any other routing holding that counter (`FOR UPDATE` semantics on
/// Postgres; SQLite's single writer serialises). A partner that filled meanwhile is left out
/// and the choice made again. Concurrent routings can therefore never exceed a cap.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait RoutingRepo: Send + Sync {
    /// The settings in force for `vertical` (normalised as leads' verticals are): that
    /// vertical's own, else the org-wide ones, else the built-in defaults.
    ///
    /// # Errors
    /// [`crate::Error::Validation`] on `vertical` (over 100 characters).
    async fn get_routing_settings(
        &self,
        ctx: &TenantContext,
        vertical: Option<String>,
    ) -> Result<crate::domain::RoutingSettings>;

    /// Replaces the settings of `vertical` (`None`: the org-wide ones). Emits
    /// `routing_settings.updated`.
    ///
    /// # Errors
    /// [`crate::Error::Validation`] naming each bad field; [`crate::Error::Forbidden`] below
    /// admin.
    async fn put_routing_settings(
        &self,
        ctx: &TenantContext,
        vertical: Option<String>,
        input: crate::domain::RoutingSettingsInput,
    ) -> Result<crate::domain::RoutingSettings>;

    /// Routes a `new` or `queued` lead at `now` (the clock every cap window and delivery time
    /// is read from), in one transaction (see the trait docs):
    ///
    /// 1. Candidates: live partners buying the lead's vertical and region
    ///    ([`crate::domain::partner_buys`]); with `shared` distribution, only non-exclusive
    ///    ones.
    /// 2. Eligible: active candidates under their daily and monthly caps, counted since the
    ///    start of the day and month in each partner's time zone (returned deliveries excluded).
    /// 3. Chosen by the settings' strategy: one partner (`exclusive`) or up to `max_partners`
    ///    (`shared`); a `pending` delivery is recorded for each at its price (`lead.routed`).
    /// 4. The lead becomes `routed`; or, with no eligible partner, `queued` (when candidates
    ///    exist and `when_full` is `queue`) or `unrouted`; `lead.status_changed` when it changed.
    ///
    /// A `duplicate` lead is never routed: it is answered unchanged, without deliveries.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`] for the lead; [`crate::Error::Conflict`] on `status` when the
    /// lead is past routing; [`crate::Error::Forbidden`] below member.
    async fn route_lead(
        &self,
        ctx: &TenantContext,
        lead_id: LeadId,
        now: DateTime<Utc>,
    ) -> Result<crate::domain::RoutedLead>;

    /// Captures a lead and routes it at `now`, in one transaction: deduplicated under the
    /// dedupe policy of the settings in force for its vertical, captured as
    /// [`LeadRepo::capture_lead`] does, then routed as [`RoutingRepo::route_lead`] does. A
    /// duplicate is stored and answered without deliveries, never routed. Either all of it is
    /// stored or nothing is: no lead is left `new` for the routing job to find.
    ///
    /// # Errors
    /// As for [`LeadRepo::capture_lead`] (validation names each bad field) and
    /// [`RoutingRepo::route_lead`].
    async fn capture_and_route_lead(
        &self,
        ctx: &TenantContext,
        new: crate::domain::NewLead,
        now: DateTime<Utc>,
    ) -> Result<crate::domain::RoutedLead>;

    /// Routes up to `limit` `queued` leads, oldest first (as a scheduled job would when
    /// partners have room again); returns what became of each.
    ///
    /// # Errors
    /// As for [`RoutingRepo::route_lead`].
    async fn route_queued_leads(
        &self,
        ctx: &TenantContext,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<crate::domain::RoutedLead>>;

    /// Routes up to `limit` leads a routing job owes a try, oldest first: the org's `queued`
    /// leads and its `new` leads captured before `new_before` (capture and routing are separate
    /// transactions, so a crash between them leaves a lead `new`). Each lead is picked and
    /// routed at `now` in its own transaction; a lead another router holds is skipped (on
    /// Postgres `FOR UPDATE SKIP LOCKED`; SQLite's single writer serialises them), so jobs
    /// running at once never route a lead twice. A lead that stays queued is tried once per
    /// call.
    ///
    /// # Errors
    /// As for [`RoutingRepo::route_lead`].
    async fn route_pending_leads(
        &self,
        ctx: &TenantContext,
        now: DateTime<Utc>,
        new_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<crate::domain::RoutedLead>>;

    /// The orgs with leads [`RoutingRepo::route_pending_leads`] would pick up (`queued` ones,
    /// or `new` ones captured before `new_before`), in id order after `after`, at most
    /// `limit`: how a routing job working across orgs finds its work. Reads in the system
    /// scope (no tenant).
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] or [`crate::Error::Internal`] from the database.
    async fn orgs_with_pending_leads(
        &self,
        new_before: DateTime<Utc>,
        after: Option<OrgId>,
        limit: u32,
    ) -> Result<Vec<OrgId>>;

    /// A partner's answer about a delivery at `now`: accept or reject a `delivered` one, or
    /// return a `delivered` or `accepted` one within the settings' return window (counted from
    /// when it was routed). The answer is kept as the delivery's `response`; a return stops
    /// counting toward the partner's caps. Emits `lead.accepted`, `lead.rejected` or
    /// `lead.returned`, and `lead.status_changed` when the lead's status follows
    /// ([`crate::domain::lead_status_from_deliveries`]).
    ///
    /// # Errors
    /// [`crate::Error::NotFound`]; [`crate::Error::Conflict`] on `status` for a move the
    /// delivery's status does not allow, or on `return_window` once it has passed;
    /// [`crate::Error::Validation`] on `note`; [`crate::Error::Forbidden`] below member.
    async fn delivery_callback(
        &self,
        ctx: &TenantContext,
        id: LeadDeliveryId,
        callback: crate::domain::DeliveryCallback,
        now: DateTime<Utc>,
    ) -> Result<LeadDelivery>;

    /// Leads and deliveries created in `range`, per partner and per `utm_source` /
    /// `utm_campaign`, with acceptance and return rates.
    ///
    /// # Errors
    /// [`crate::Error::Validation`] on `to` when the range is empty.
    async fn lead_summary(
        &self,
        ctx: &TenantContext,
        range: crate::domain::TimeRange,
    ) -> Result<crate::domain::LeadSummary>;
}

/// Public lead forms of the context's org. Writes need admin; reading, viewer. The signing
/// secret is kept sealed (the caller seals and opens it); the store never sees it in clear.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait LeadFormRepo: Send + Sync {
    /// Creates a form with a new random `public_form_id` and, optionally, a sealed secret.
    /// Emits `lead_form.created`.
    ///
    /// # Errors
    /// [`crate::Error::Validation`] naming each bad field; [`crate::Error::Forbidden`].
    async fn create_lead_form(
        &self,
        ctx: &TenantContext,
        new: crate::domain::NewLeadForm,
        sealed_secret: Option<Vec<u8>>,
    ) -> Result<crate::domain::LeadForm>;

    /// One form.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`].
    async fn get_lead_form(
        &self,
        ctx: &TenantContext,
        id: crate::domain::LeadFormId,
    ) -> Result<crate::domain::LeadForm>;

    /// A page of (live) forms, in id order.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn list_lead_forms(
        &self,
        ctx: &TenantContext,
        page: PageRequest,
    ) -> Result<Page<crate::domain::LeadForm>>;

    /// Applies a patch; `secret` sets, clears or keeps the sealed secret. Emits
    /// `lead_form.updated`.
    ///
    /// # Errors
    /// As for creation, and [`crate::Error::NotFound`].
    async fn update_lead_form(
        &self,
        ctx: &TenantContext,
        id: crate::domain::LeadFormId,
        patch: crate::domain::LeadFormPatch,
        secret: crate::domain::Patch<Vec<u8>>,
    ) -> Result<crate::domain::LeadForm>;

    /// Soft-deletes a form: its public URL stops answering. Emits `lead_form.deleted`.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`]; [`crate::Error::Forbidden`].
    async fn delete_lead_form(
        &self,
        ctx: &TenantContext,
        id: crate::domain::LeadFormId,
    ) -> Result<()>;

    /// The live form with this public id, in whatever org, with its sealed secret: the lookup
    /// that establishes the tenant of an anonymous submission (like
    /// [`crate::repo::Directory`]'s lookups, for trusted callers only).
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn lead_form_by_public_id(
        &self,
        public_form_id: &str,
    ) -> Result<Option<(crate::domain::LeadForm, Option<Vec<u8>>)>>;
}

/// A lead delivery claimed by a sender, with everything needed to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueLeadDelivery {
    /// The delivery (`pending`, or `failed` with a retry due).
    pub delivery: LeadDelivery,
    /// The lead it delivers.
    pub lead: Lead,
    /// The partner it goes to.
    pub partner: Partner,
    /// The partner's sealed signing secret (webhook partners; `None` when it has none).
    pub signing_secret: Option<SealedSecrets>,
}

/// What a sending attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeadSendOutcome {
    /// The partner's endpoint or mailbox took it: `delivered`.
    Delivered,
    /// It failed and is tried again at this time: `failed`, still due then.
    Retry {
        /// When the next attempt is due.
        next_attempt_at: DateTime<Utc>,
    },
    /// It failed for good (the retry schedule is used up): `failed`, no longer due.
    GaveUp,
}

/// One attempt at a claimed delivery, for [`LeadDeliveryQueue::record_lead_attempts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadAttempt {
    /// The delivery's org.
    pub org_id: OrgId,
    /// The delivery.
    pub delivery_id: LeadDeliveryId,
    /// What it came to.
    pub outcome: LeadSendOutcome,
    /// What the partner answered, kept as the delivery's `response` (e.g. `{"status": 200,
    /// "body": "…"}`, or `{"error": "…"}` when nothing came back); at most 64 KiB.
    pub response: serde_json::Value,
}

/// The lead-delivery sender's cross-tenant queue: claims on due deliveries and their outcomes.
/// For trusted sender processes only (it works in the system scope).
///
/// A delivery is due while it is `pending` (from when it was routed) or `failed` with a next
/// attempt time that has come, and no sender's lease on it is running.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait LeadDeliveryQueue: Send + Sync {
    /// Claims up to `limit` due deliveries of every org, most overdue first, for `lease`: no
    /// other sender takes them until the lease runs out (on Postgres concurrent claims skip
    /// each other's rows, `FOR UPDATE SKIP LOCKED`; SQLite's single writer serialises them).
    /// Deliveries of deleted leads or partners are never claimed.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn claim_lead_deliveries(
        &self,
        limit: u32,
        lease: std::time::Duration,
    ) -> Result<Vec<DueLeadDelivery>>;

    /// Records attempts in one transaction: each delivery still `pending` or `failed` becomes
    /// `delivered` or `failed` (attempts + 1, the response kept, the lease released, the next
    /// attempt time set for a retry) and emits `lead.delivered` or `lead.delivery_failed` (the
    /// delivery with `next_attempt_at`, `null` once it failed for good). A delivery that moved
    /// on meanwhile (or is gone) is left alone. Returns the deliveries as recorded.
    ///
    /// # Errors
    /// [`crate::Error::Validation`] on `response` over 64 KiB; [`crate::Error::Unavailable`].
    async fn record_lead_attempts(&self, attempts: Vec<LeadAttempt>) -> Result<Vec<LeadDelivery>>;

    /// Hands claimed deliveries back unattempted (a sender stopping): their leases end now, so
    /// any sender claims them at once instead of after the lease. Each is `(org, delivery)`;
    /// deliveries no longer leased, or gone, are left alone.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn release_lead_deliveries(&self, claimed: &[(OrgId, LeadDeliveryId)]) -> Result<()>;

    /// When the earliest claimable delivery is due (a leased one: when its lease ends), if any
    /// is.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn next_lead_delivery_due(&self) -> Result<Option<DateTime<Utc>>>;
}
