//! Emails stored from connected accounts.

use async_trait::async_trait;

use super::Recorded;
use crate::domain::{Email, EmailFilter, NewEmail};
use crate::error::Result;
use crate::ids::{EmailId, IntegrationId};
use crate::page::{Page, PageRequest};
use crate::tenant::TenantContext;

/// Emails of the context's org. Recording is idempotent on (integration, provider id), and each
/// new email resolves (or creates) the person by the counterpart's address, adds an `email`
/// interaction and emits `email.received`/`email.sent`, in one transaction.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait EmailRepo: Send + Sync {
    /// Records an email (member role). A provider id already stored for the integration
    /// returns the stored email with `created: false` and writes nothing. Otherwise the person
    /// is `new.person_id`, or the one holding the counterpart's address (inbound: `from`;
    /// outbound: the first `to`; matched case-insensitively against every email of every
    /// person), or, with `create_person`, a new person with that address (never for the
    /// integration's own account). The interaction's summary is the subject (or
    /// `(no subject)`), its body the snippet.
    ///
    /// # Errors
    /// [`crate::Error::Validation`] naming each bad field (also `person_id` when it is not a
    /// live person of the org); [`crate::Error::NotFound`] when the integration is not in the
    /// org; [`crate::Error::Conflict`] on `status` when the integration is disconnected (for a
    /// new email); [`crate::Error::Forbidden`].
    async fn record_email(&self, ctx: &TenantContext, new: NewEmail) -> Result<Recorded<Email>>;

    /// One email.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`] when absent or of another org.
    async fn get_email(&self, ctx: &TenantContext, id: EmailId) -> Result<Email>;

    /// A page of emails matching the filter, in id (recording) order.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn list_emails(
        &self,
        ctx: &TenantContext,
        filter: EmailFilter,
        page: PageRequest,
    ) -> Result<Page<Email>>;

    /// Applies label changes the provider reported to the email with `provider_id` of the
    /// integration (member role): adds `added`, then removes `removed`. `None` when no such
    /// email is stored (e.g. it was never synced: skipped as a draft or outside the window).
    /// Emits no event; a change that changes nothing writes nothing.
    ///
    /// # Errors
    /// [`crate::Error::Validation`] on `labels` when the result would exceed
    /// [`crate::domain::MAX_EMAIL_LABELS`] or a label is empty or over 255 characters;
    /// [`crate::Error::NotFound`] when the integration is not in the org;
    /// [`crate::Error::Forbidden`].
    async fn update_email_labels(
        &self,
        ctx: &TenantContext,
        integration_id: IntegrationId,
        provider_id: &str,
        added: &[String],
        removed: &[String],
    ) -> Result<Option<Email>>;

    /// How many emails of the integration are stored: (inbound, outbound).
    ///
    /// # Errors
    /// [`crate::Error::NotFound`] when the integration is not in the org.
    async fn email_counts(
        &self,
        ctx: &TenantContext,
        integration_id: IntegrationId,
    ) -> Result<(u64, u64)>;
}
