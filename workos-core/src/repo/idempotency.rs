//! Idempotency keys for retried writes, and what they hold.

use async_trait::async_trait;

use crate::error::Result;
use crate::tenant::TenantContext;

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
