//! The Gmail REST API (v1) for one access token at a time: the calls the engine makes, with
//! Google's errors typed into [`workos_core::Error`], retries of idempotent reads, and a count
//! of calls and quota units.
//!
//! | call | quota units |
//! | --- | --- |
//! | `users.getProfile` | 1 |
//! | `users.messages.list` | 5 |
//! | `users.messages.get` | 5 |
//! | `users.history.list` | 2 |
//! | `users.messages.send` | 100 |
//! | `users.messages.attachments.get` | 5 |
//!
//! Messages over [`SIMPLE_SEND_MAX_BYTES`] are sent through Gmail's upload endpoint with the
//! resumable protocol (`/upload/gmail/v1/users/me/messages/send?uploadType=resumable`, see
//! [`resumable`]), up to Gmail's own limits; attachments are read as streams ([`stream`]).
//!
//! Errors: `401` is [`Error::Provider`] with status 401 (the caller refreshes the token and
//! retries once, see [`is_unauthorized`]); `429`, and `403` with reason `rateLimitExceeded` or
//! `userRateLimitExceeded`, are [`Error::RateLimited`] (`Retry-After` when given, else
//! [`DEFAULT_RETRY_AFTER`]); `404` of a message is [`Error::NotFound`]; `404` of the history is
//! [`HistoryOutcome::Expired`]; `400` "Invalid To header" (and its Cc/Bcc siblings, and
//! "Recipient address required") is [`Error::Validation`] on `to`; `5xx` and network failures
//! are [`Error::Unavailable`], retried for reads with exponential backoff ([`RetryPolicy`]),
//! never for a send.
//!
//! [`Error::Provider`]: workos_core::Error::Provider
//! [`Error::RateLimited`]: workos_core::Error::RateLimited
//! [`Error::NotFound`]: workos_core::Error::NotFound
//! [`Error::Validation`]: workos_core::Error::Validation
//! [`Error::Unavailable`]: workos_core::Error::Unavailable

use std::fmt;

mod encoding;
mod errors;
mod history;
pub mod media;
mod messages;
mod profile;
mod request;
pub mod resumable;
mod retry;
mod send;
pub mod stream;
mod usage;

pub use encoding::{decode_base64url, encode_base64url};
pub use errors::{DEFAULT_RETRY_AFTER, is_unauthorized};
pub use history::{
    HistoryLabelChange, HistoryMessage, HistoryOutcome, HistoryPage, HistoryQuery, HistoryRecord,
    HistoryType,
};
pub use media::{FullMessage, MessagePart, MessagePartBody, PartHeader, SIMPLE_SEND_MAX_BYTES};
pub use messages::{ListQuery, MessageList, MessageRef, RawMessage};
pub use profile::Profile;
pub(crate) use request::{Attempt, attempt, json};
pub use resumable::{QUERY_RESERVE, RESUMABLE_CHUNK_BYTES, RESUMABLE_RETRIES};
pub use retry::RetryPolicy;
pub use send::SentMessage;
pub use stream::{ATTACHMENT_TIMEOUT, DataDecoder};
use usage::Counters;
pub use usage::{ApiUsage, Method};

/// The Gmail API at a base URL. Cheap to clone; clones share the usage counters.
#[derive(Clone)]
pub struct GmailApi {
    pub(crate) http: reqwest::Client,
    base_url: String,
    retry: RetryPolicy,
    counters: std::sync::Arc<Counters>,
}

impl fmt::Debug for GmailApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GmailApi")
            .field("base_url", &self.base_url)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl GmailApi {
    /// A client of the API at `base_url` (e.g. `https://gmail.googleapis.com`).
    pub fn new(http: reqwest::Client, base_url: impl Into<String>, retry: RetryPolicy) -> Self {
        Self {
            http,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            retry,
            counters: std::sync::Arc::default(),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}/gmail/v1/users/me/{path}", self.base_url)
    }
}
