//! Integrations (connected accounts, e.g. Gmail mailboxes): the tenant's repository, the
//! cross-tenant scheduler, and the OAuth states of connections in progress.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::SealedSecrets;
use crate::domain::{Integration, IntegrationStatus, IntegrationWatch, NewIntegration};
use crate::error::Result;
use crate::ids::{IntegrationId, OrgId, UserId};
use crate::page::{Page, PageRequest};
use crate::tenant::TenantContext;

/// Connected accounts of the context's org (e.g. Gmail mailboxes) and their sealed credentials.
///
/// Connecting and disconnecting need the admin role. The calls the sync and send jobs make
/// (reading and replacing credentials, status and sync state) need the member role, so a
/// system context or a member's request can make them. Reading needs any member. A
/// disconnected integration changes only by being connected again.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait IntegrationRepo: Send + Sync {
    /// Connects an account with its sealed credentials, status `active` (admin). Connecting an
    /// account whose integration is `disconnected` revives that integration (same id, so its
    /// emails stay attached) with the new credentials and settings and a fresh sync state.
    /// Emits `integration.connected`.
    ///
    /// # Errors
    /// [`crate::Error::Validation`]; [`crate::Error::Conflict`] on `account` when the org has
    /// this provider and account connected already; [`crate::Error::Forbidden`].
    async fn create_integration(
        &self,
        ctx: &TenantContext,
        new: NewIntegration,
        credentials: SealedSecrets,
    ) -> Result<Integration>;

    /// One integration (never its credentials).
    ///
    /// # Errors
    /// [`crate::Error::NotFound`] when absent or of another org.
    async fn get_integration(&self, ctx: &TenantContext, id: IntegrationId) -> Result<Integration>;

    /// A page of integrations, disconnected ones included, in id order.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn list_integrations(
        &self,
        ctx: &TenantContext,
        page: PageRequest,
    ) -> Result<Page<Integration>>;

    /// The integration's sealed credentials, as opaque bytes (member role).
    ///
    /// # Errors
    /// [`crate::Error::NotFound`]; [`crate::Error::Conflict`] on `status` when it is
    /// disconnected (its credentials are gone); [`crate::Error::Forbidden`].
    async fn integration_credentials(
        &self,
        ctx: &TenantContext,
        id: IntegrationId,
    ) -> Result<SealedSecrets>;

    /// Replaces the sealed credentials, e.g. after a token refresh (member role). Emits no
    /// event.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`]; [`crate::Error::Conflict`] on `status` when it is
    /// disconnected; [`crate::Error::Forbidden`].
    async fn replace_integration_credentials(
        &self,
        ctx: &TenantContext,
        id: IntegrationId,
        credentials: SealedSecrets,
    ) -> Result<()>;

    /// Sets the status and `last_error` (`None` clears it) (member role). Emits
    /// `integration.needs_reauth` when the status moves to `needs_reauth`; other changes emit
    /// nothing. Setting what is already stored writes nothing.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`]; [`crate::Error::Validation`] on `status` for
    /// `disconnected` (use [`IntegrationRepo::disconnect_integration`]);
    /// [`crate::Error::Conflict`] on `status` when it is disconnected;
    /// [`crate::Error::Forbidden`].
    async fn set_integration_status(
        &self,
        ctx: &TenantContext,
        id: IntegrationId,
        status: IntegrationStatus,
        last_error: Option<String>,
    ) -> Result<Integration>;

    /// Stores the sync's bookmark (a JSON object) and, when given, when a sync last completed
    /// (`None` keeps the stored time) (member role). Emits no event.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`]; [`crate::Error::Validation`] on `sync_state` when it is not
    /// a JSON object; [`crate::Error::Conflict`] on `status` when it is disconnected;
    /// [`crate::Error::Forbidden`].
    async fn update_sync_state(
        &self,
        ctx: &TenantContext,
        id: IntegrationId,
        sync_state: serde_json::Value,
        last_synced_at: Option<DateTime<Utc>>,
    ) -> Result<Integration>;

    /// Stores the provider watch (push notifications) made for the integration, or clears it
    /// with `None` (member role). Emits no event. Clearing the watch of a disconnected
    /// integration is allowed (and changes nothing: disconnecting clears it).
    ///
    /// # Errors
    /// [`crate::Error::NotFound`]; [`crate::Error::Conflict`] on `status` when storing a watch
    /// of a disconnected integration; [`crate::Error::Forbidden`].
    async fn set_integration_watch(
        &self,
        ctx: &TenantContext,
        id: IntegrationId,
        watch: Option<IntegrationWatch>,
    ) -> Result<Integration>;

    /// Connects an account again, or for the first time (admin): when the org has an
    /// integration of this provider and account in any status (`needs_reauth` and
    /// `disconnected` included), it becomes `active` with the new sealed credentials and
    /// settings, its `last_error` cleared and its sync claim released; its sync state (and
    /// `last_synced_at`) is reset when it was `disconnected` (its credentials were wiped, so
    /// the mailbox was not followed meanwhile and is read again in full; emails are
    /// idempotent on their provider id) and kept otherwise (an incremental sync picks up
    /// where it stopped). Without one, it is created as by
    /// [`IntegrationRepo::create_integration`]. Emits `integration.connected`. All in one
    /// transaction.
    ///
    /// # Errors
    /// [`crate::Error::Validation`]; [`crate::Error::Forbidden`].
    async fn reconnect_integration(
        &self,
        ctx: &TenantContext,
        new: NewIntegration,
        credentials: SealedSecrets,
    ) -> Result<Integration>;

    /// Disconnects (admin): deletes the credentials, clears `last_error` and the watch, and sets
    /// the status `disconnected`; stored emails are kept. Emits `integration.disconnected`; disconnecting
    /// a disconnected integration changes nothing and emits nothing.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`]; [`crate::Error::Forbidden`].
    async fn disconnect_integration(
        &self,
        ctx: &TenantContext,
        id: IntegrationId,
    ) -> Result<Integration>;
}

/// An integration a scheduler claimed with [`IntegrationScheduler::claim_due_integrations`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimedIntegration {
    /// Its org (sync it in a system context of this org).
    pub org_id: OrgId,
    /// The integration.
    pub id: IntegrationId,
    /// Until when no other scheduler claims it.
    pub claimed_until: DateTime<Utc>,
}

/// An integration found across orgs ([`IntegrationScheduler::integrations_of_account`],
/// [`IntegrationScheduler::integrations_to_watch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntegrationRef {
    /// Its org (work on it in a system context of this org).
    pub org_id: OrgId,
    /// The integration.
    pub id: IntegrationId,
}

/// The cross-tenant side of integrations, for trusted scheduler processes only: claiming due
/// syncs so that several processes share the work without syncing an account twice.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait IntegrationScheduler: Send + Sync {
    /// Claims up to `limit` integrations of `provider`, across orgs, that are due: not
    /// `needs_reauth` or `disconnected`, never synced or last synced before `synced_before`,
    /// and not claimed (or their claim ran out). Each is claimed for `lease`: no other call
    /// returns it until then, so a scheduler that died is replaced after the lease. Postgres
    /// skips rows another claimer has locked (`FOR UPDATE SKIP LOCKED`); SQLite has one
    /// writer at a time. Least recently synced first.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn claim_due_integrations(
        &self,
        provider: &str,
        synced_before: DateTime<Utc>,
        lease: std::time::Duration,
        limit: u32,
    ) -> Result<Vec<ClaimedIntegration>>;

    /// Ends the claim on an integration early (after its sync ran), so it is due again as
    /// soon as `synced_before` allows. Releasing an unclaimed integration changes nothing.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn release_integration_claim(&self, org_id: OrgId, id: IntegrationId) -> Result<()>;

    /// Claims one integration for `lease`, whether due or not (a push notification asks for
    /// its sync now), unless another claim on it runs or it is `needs_reauth` or
    /// `disconnected`: `None` then. Shares the claim of
    /// [`IntegrationScheduler::claim_due_integrations`], so a pushed sync and a scheduled one
    /// never run at once, in any process.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn claim_integration(
        &self,
        org_id: OrgId,
        id: IntegrationId,
        lease: std::time::Duration,
    ) -> Result<Option<ClaimedIntegration>>;

    /// The integrations of `provider` connected to `account` (lower-cased as stored), across
    /// orgs, that are not `disconnected` (one mailbox may be connected by several orgs).
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn integrations_of_account(
        &self,
        provider: &str,
        account: &str,
    ) -> Result<Vec<IntegrationRef>>;

    /// Up to `limit` integrations of `provider`, across orgs, neither `needs_reauth` nor
    /// `disconnected`, whose watch is missing or expires before `expiring_before`, soonest
    /// first (missing first).
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn integrations_to_watch(
        &self,
        provider: &str,
        expiring_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<IntegrationRef>>;
}

/// A started OAuth connect as the store keeps it until the provider redirects back.
#[derive(Clone, PartialEq, Eq)]
pub struct PendingOAuth {
    /// The org that started the connect.
    pub org_id: OrgId,
    /// The user who started it.
    pub user_id: UserId,
    /// The provider, e.g. `gmail`.
    pub provider: String,
    /// The PKCE verifier, sealed by the caller (opaque bytes).
    pub sealed_verifier: SealedSecrets,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for PendingOAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingOAuth")
            .field("org_id", &self.org_id)
            .field("user_id", &self.user_id)
            .field("provider", &self.provider)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Started OAuth connects, shared by every process on the store, so the provider's redirect
/// may reach another process than the one that started the connect. The `state` is a bearer
/// secret: the store keeps only a hash of it. System level: the redirect carries no
/// credentials, the state is what authenticates it.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait OAuthStateRepo: Send + Sync {
    /// Keeps `pending` under `state`, and drops expired states.
    ///
    /// # Errors
    /// [`crate::Error::Conflict`] on `state` when it is kept already;
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn put_oauth_state(&self, state: &str, pending: PendingOAuth) -> Result<()>;

    /// Removes and returns what is kept under `state`, atomically (`DELETE … RETURNING`), so
    /// a state is used once even when two callbacks race. `None` when unknown, used or expired.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn take_oauth_state(&self, state: &str) -> Result<Option<PendingOAuth>>;
}
