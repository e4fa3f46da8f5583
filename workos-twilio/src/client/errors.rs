//! What the client's errors mean: [`TwilioErrorKind`] for Twilio's codes, [`TransportError`] for
//! answers that never came, and the mapping of responses onto [`workos_core::Error`].

use std::error::Error as StdError;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use workos_core::Error;

use super::{DEFAULT_RETRY_AFTER, MAX_RETRY_AFTER, PROVIDER};
use crate::models::TwilioErrorBody;

/// Twilio error codes a caller commonly acts on. Twilio's code and message stay in the
/// [`Error::Provider`]; this only names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TwilioErrorKind {
    /// 20003: authentication failed (wrong account SID, token or API key).
    AuthenticationFailed,
    /// 20404: the resource does not exist.
    NotFound,
    /// 20429: too many requests.
    TooManyRequests,
    /// 21211: the `To` number is invalid.
    InvalidToNumber,
    /// 21610: the recipient replied STOP and is unsubscribed from this sender; do not
    /// retry until they opt in again (START).
    Unsubscribed,
    /// 21614: the `To` number is not a mobile number.
    NotMobileNumber,
}

impl TwilioErrorKind {
    /// The kind of Twilio error code `code` (as carried in [`Error::Provider::code`]).
    #[must_use]
    pub fn from_code(code: &str) -> Option<Self> {
        Some(match code.trim() {
            "20003" => Self::AuthenticationFailed,
            "20404" => Self::NotFound,
            "20429" => Self::TooManyRequests,
            "21211" => Self::InvalidToNumber,
            "21610" => Self::Unsubscribed,
            "21614" => Self::NotMobileNumber,
            _ => return None,
        })
    }

    /// The kind of a Twilio [`Error::Provider`]; `None` for other errors and other codes.
    #[must_use]
    pub fn of(error: &Error) -> Option<Self> {
        match error {
            Error::Provider {
                provider,
                code: Some(code),
                ..
            } if *provider == PROVIDER => Self::from_code(code),
            _ => None,
        }
    }

    /// The Twilio error code.
    #[must_use]
    pub const fn code(self) -> u32 {
        match self {
            Self::AuthenticationFailed => 20003,
            Self::NotFound => 20404,
            Self::TooManyRequests => 20429,
            Self::InvalidToNumber => 21211,
            Self::Unsubscribed => 21610,
            Self::NotMobileNumber => 21614,
        }
    }

    /// Whether sending the same message to the same recipient can never succeed as is
    /// (invalid, non-mobile or unsubscribed recipient).
    #[must_use]
    pub const fn is_recipient_permanent(self) -> bool {
        matches!(
            self,
            Self::InvalidToNumber | Self::Unsubscribed | Self::NotMobileNumber
        )
    }
}

/// What kind of transport failure a [`TransportError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// No connection could be established (DNS, refused, TLS handshake, connect timeout):
    /// the request was not sent.
    Connect,
    /// The request timed out after it may have been sent.
    Timeout,
    /// The connection failed mid-request or mid-response (reset, closed, unreadable body).
    Io,
}

/// The source of an [`Error::Unavailable`] returned by [`TwilioClient`](super::TwilioClient): no (complete)
/// response was received.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct TransportError {
    kind: TransportErrorKind,
    outcome_unknown: bool,
    detail: String,
}

impl TransportError {
    /// What failed.
    #[must_use]
    pub const fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    /// Whether a creating request (message, call) may have taken effect at Twilio although
    /// no answer was received. Always `false` for reads and for [`TransportErrorKind::Connect`].
    #[must_use]
    pub const fn outcome_unknown(&self) -> bool {
        self.outcome_unknown
    }
}

/// Whether `error` says a message or call may have been created although the request
/// failed (timeout or dropped connection after sending): such a send must not be repeated
/// blindly.
#[must_use]
pub fn is_outcome_unknown(error: &Error) -> bool {
    transport_error(error).is_some_and(TransportError::outcome_unknown)
}

/// The [`TransportError`] behind an [`Error::Unavailable`] from this client, if any.
#[must_use]
pub fn transport_error(error: &Error) -> Option<&TransportError> {
    match error {
        Error::Unavailable {
            source: Some(source),
            ..
        } => source.downcast_ref::<TransportError>(),
        _ => None,
    }
}

/// What a request does, for error messages and retry policy.
#[derive(Debug, Clone, Copy)]
pub(super) enum Op {
    /// Creates a resource; never retried.
    Create(&'static str),
    /// Reads a resource; idempotent.
    Fetch(&'static str),
}

impl Op {
    pub(super) const fn noun(self) -> &'static str {
        match self {
            Self::Create(noun) | Self::Fetch(noun) => noun,
        }
    }
}

/// Maps a request that got no (complete) response to `Error::Unavailable`.
pub(super) fn unavailable(
    e: &reqwest::Error,
    op: Op,
    response_status: Option<StatusCode>,
) -> Error {
    let kind = if e.is_connect() && response_status.is_none() {
        TransportErrorKind::Connect
    } else if e.is_timeout() {
        TransportErrorKind::Timeout
    } else {
        TransportErrorKind::Io
    };
    let what = match kind {
        TransportErrorKind::Connect => "could not connect to Twilio",
        TransportErrorKind::Timeout => "Twilio did not answer in time",
        TransportErrorKind::Io => "the connection to Twilio failed",
    };
    let (outcome_unknown, message) = match (op, kind) {
        (Op::Create(noun), TransportErrorKind::Connect) => {
            (false, format!("{what}: the {noun} was not sent"))
        }
        (Op::Create(noun), _) => match response_status {
            Some(status) if status.is_success() => (
                true,
                format!(
                    "{what} while reading its answer (HTTP {}): outcome unknown, the {noun} \
                     was probably created; not retried",
                    status.as_u16()
                ),
            ),
            _ => (
                true,
                format!(
                    "{what}: outcome unknown, the {noun} MAY have been sent; not retried \
                     (check its status before sending again)"
                ),
            ),
        },
        (Op::Fetch(noun), _) => (false, format!("{what} while fetching the {noun}")),
    };
    Error::Unavailable {
        message,
        source: Some(Box::new(TransportError {
            kind,
            outcome_unknown,
            detail: describe(e),
        })),
    }
}

/// An error with its chain of causes, without the URL.
pub(super) fn describe(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    if let Some(url) = e.url() {
        out = out.replace(url.as_str(), "<url>");
    }
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Maps an error status and body to `Error::RateLimited` (429) or `Error::Provider`.
pub(super) fn error_from_response(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error {
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Error::RateLimited {
            retry_after: retry_after(headers).unwrap_or(DEFAULT_RETRY_AFTER),
        };
    }
    match serde_json::from_slice::<TwilioErrorBody>(body) {
        Ok(parsed) => Error::Provider {
            provider: PROVIDER,
            status: Some(status.as_u16()),
            code: parsed.code.map(|c| c.to_string()),
            message: parsed.message,
        },
        Err(_) => {
            let reason = status.canonical_reason().unwrap_or("error");
            let message = if status == StatusCode::UNAUTHORIZED {
                "authentication failed: check the account SID and auth token".to_owned()
            } else {
                let text = String::from_utf8_lossy(body);
                let snippet: String = text.trim().chars().take(200).collect();
                if snippet.is_empty() {
                    reason.to_owned()
                } else {
                    format!("{reason}: {snippet}")
                }
            };
            Error::Provider {
                provider: PROVIDER,
                status: Some(status.as_u16()),
                code: None,
                message,
            }
        }
    }
}

/// A `Retry-After` header in delay-seconds, capped at an hour.
pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let secs: u64 = value.parse().ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}
