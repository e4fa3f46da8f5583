//! Scripting and counting: faults injected into the next answers of a route, and the
//! requests counted per route and per token grant.

use super::*;

/// A scripted answer (see [`FakeGoogle::inject`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// `401` with Google's "Invalid Credentials" body.
    Unauthorized,
    /// `status` (429, or 403 with reason `userRateLimitExceeded`) with a `Retry-After` of
    /// that many seconds, when given.
    RateLimited {
        /// `429` or `403`.
        status: u16,
        /// The `Retry-After` header.
        retry_after: Option<u64>,
    },
    /// Google's error body with this HTTP status (e.g. `500`, `503`, `400`).
    Status(u16),
    /// Google's error body with this status, message and reason, e.g. `400`,
    /// `Invalid To header`, `invalidArgument`.
    Error {
        /// The HTTP status.
        status: u16,
        /// `error.message`.
        message: String,
        /// `error.errors[0].reason`.
        reason: String,
    },
    /// Processes the request normally but answers after this delay.
    Delay(Duration),
    /// Processes the request normally (to let requests through before later faults).
    Pass,
    /// For [`Route::UploadChunk`]: keeps the first half of the chunk and answers `503`, like a
    /// connection that broke mid-chunk (elsewhere: as [`Fault::Pass`]).
    Interrupt,
}

impl FakeGoogle {
    /// The next `times` requests of `route` get `fault` (after any already scripted).
    pub fn inject(&self, route: Route, fault: Fault, times: usize) {
        let mut m = self.shared.lock();
        let queue = m.faults.entry(route).or_default();
        for _ in 0..times {
            queue.push_back(fault.clone());
        }
    }

    /// Drops every scripted fault.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Requests of `route` so far (scripted failures included).
    #[must_use]
    pub fn calls(&self, route: Route) -> usize {
        self.shared.lock().calls.get(&route).copied().unwrap_or(0)
    }

    /// Token requests of `grant_type` (`authorization_code`, `refresh_token`) so far, failed
    /// ones included.
    #[must_use]
    pub fn token_grants(&self, grant_type: &str) -> usize {
        self.shared
            .lock()
            .grants
            .get(grant_type)
            .copied()
            .unwrap_or(0)
    }

    /// Sets every counter back to zero.
    pub fn reset_counters(&self) {
        let mut m = self.shared.lock();
        m.calls.clear();
        m.grants.clear();
    }
}
