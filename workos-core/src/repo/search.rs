//! Search across people, companies and deals, for a type-ahead box.

use async_trait::async_trait;

use crate::domain::{SearchQuery, SearchResults};
use crate::error::Result;
use crate::tenant::TenantContext;

/// Finds the context org's live people, companies and deals by name, email, phone and domain
/// (viewer role). What matches and how results rank is the same on every backend:
/// [`crate::domain::SearchQuery`] and the `search` module.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait SearchRepo: Send + Sync {
    /// The records matching `query`, best first; soft-deleted records and other orgs' never
    /// appear.
    ///
    /// # Errors
    /// [`crate::Error::Forbidden`] for a context that may not read;
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn search(&self, ctx: &TenantContext, query: SearchQuery) -> Result<SearchResults>;
}
