//! Timelines: what happened with a person, a company or a deal.

use async_trait::async_trait;

use crate::domain::{Timeline, TimelineRequest, TimelineSubject};
use crate::error::Result;
use crate::tenant::TenantContext;

/// The timelines of the context org's people, companies and deals (viewer role). What belongs
/// to each, and the order: [`crate::domain::TimelineSubject`] and the `timeline` module.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait TimelineRepo: Send + Sync {
    /// A page of `subject`'s timeline, newest first. Emails, SMS and calls deleted since their
    /// entry was made are left out (a page may then hold fewer than `limit` items; only a
    /// `None` cursor ends the timeline).
    ///
    /// # Errors
    /// [`crate::Error::NotFound`] when the subject is absent, deleted, or of another org.
    async fn timeline(
        &self,
        ctx: &TenantContext,
        subject: TimelineSubject,
        page: TimelineRequest,
    ) -> Result<Timeline>;
}
