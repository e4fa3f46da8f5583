//! Reading the org's domain events.

use async_trait::async_trait;

use crate::error::Result;
use crate::events::{DomainEvent, EventFilter};
use crate::ids::EventId;
use crate::page::{Page, PageRequest};
use crate::tenant::TenantContext;

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
