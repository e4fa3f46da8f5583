//! Scripted answers: the next requests fail with a Twilio error, are rate-limited, or are
//! answered late.

use std::time::Duration;

use axum::http::StatusCode;

use super::FakeTwilio;
use super::state::Recorded;

/// A scripted answer.
#[derive(Debug, Clone)]
pub(super) enum Injection {
    Fail {
        status: StatusCode,
        code: i64,
        message: String,
        retry_after: Option<u64>,
    },
    Hang(Duration),
}

impl FakeTwilio {
    /// Answers the next request with HTTP `status` and Twilio's error body
    /// `{"code": code, "message": message, "more_info": …, "status": status}`, without
    /// processing it (nothing is created). A `429` scripted here carries no `Retry-After`
    /// header; see [`rate_limit_next`](Self::rate_limit_next).
    ///
    /// # Panics
    /// When `status` is not a valid HTTP status code.
    pub fn fail_next(&self, status: u16, code: i64, message: &str) {
        self.push(Injection::Fail {
            status: StatusCode::from_u16(status).expect("a valid HTTP status"),
            code,
            message: message.to_owned(),
            retry_after: None,
        });
    }

    /// Answers the next request with `429 Too Many Requests` (code `20429`) and
    /// `Retry-After: <retry_after in whole seconds, rounded up>`.
    pub fn rate_limit_next(&self, retry_after: Duration) {
        let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        self.push(Injection::Fail {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: 20429,
            message: "Too Many Requests".to_owned(),
            retry_after: Some(secs),
        });
    }

    /// Processes the next request normally — a message or call *is* created — but waits
    /// `delay` before answering, like a response lost to a slow network.
    pub fn hang_next(&self, delay: Duration) {
        self.push(Injection::Hang(delay));
    }

    /// Forgets recorded requests, created resources and scripted answers.
    pub fn reset(&self) {
        *self.shared.lock() = Recorded::default();
    }

    pub(super) fn push(&self, injection: Injection) {
        self.shared.lock().injections.push_back(injection);
    }
}
