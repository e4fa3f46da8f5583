//! Google's errors typed into [`workos_core::Error`]: the error body, the mapping of statuses
//! and reasons, and [`is_unauthorized`].

use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;
use workos_core::Error;

use crate::oauth::PROVIDER;

/// The wait suggested when Google rate-limits without a `Retry-After`.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

#[derive(Deserialize, Default)]
struct GoogleErrorBody {
    #[serde(default)]
    error: GoogleError,
}

#[derive(Deserialize, Default)]
struct GoogleError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    errors: Vec<GoogleErrorItem>,
}

#[derive(Deserialize, Default)]
struct GoogleErrorItem {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// Whether `err` is Gmail's `401`: the access token was refused.
#[must_use]
pub fn is_unauthorized(err: &Error) -> bool {
    matches!(
        err,
        Error::Provider {
            provider: PROVIDER,
            status: Some(401),
            ..
        }
    )
}

pub(super) fn provider_error(status: Option<u16>, code: Option<&str>, message: String) -> Error {
    Error::Provider {
        provider: PROVIDER,
        status,
        code: code.map(str::to_owned),
        message,
    }
}

/// Google's error in a failed `response`, and whether it is worth retrying (a `5xx`).
pub(crate) async fn failure(response: reqwest::Response) -> (Error, bool) {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body: GoogleErrorBody = response
        .bytes()
        .await
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    (
        map_error(status, retry_after, &body.error),
        status.is_server_error(),
    )
}

fn map_error(status: StatusCode, retry_after: Option<Duration>, e: &GoogleError) -> Error {
    let reason = e.errors.iter().find_map(|i| i.reason.clone());
    let message = if e.message.is_empty() {
        e.errors
            .iter()
            .find_map(|i| i.message.clone())
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned())
    } else {
        e.message.clone()
    };
    let rate_limited = status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN
            && matches!(
                reason.as_deref(),
                Some("rateLimitExceeded" | "userRateLimitExceeded")
            ));
    if rate_limited {
        return Error::RateLimited {
            retry_after: retry_after.unwrap_or(DEFAULT_RETRY_AFTER),
        };
    }
    if status.is_server_error() {
        return Error::Unavailable {
            message: format!("Gmail API answered {}: {message}", status.as_u16()),
            source: None,
        };
    }
    if status == StatusCode::BAD_REQUEST {
        let lower = message.to_ascii_lowercase();
        if lower.contains("invalid to header")
            || lower.contains("invalid cc header")
            || lower.contains("invalid bcc header")
            || lower.contains("recipient address required")
        {
            return Error::invalid("to", message);
        }
    }
    provider_error(
        Some(status.as_u16()),
        reason.as_deref().or(e.status.as_deref()),
        message,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(message: &str, reason: Option<&str>) -> GoogleError {
        GoogleError {
            message: message.to_owned(),
            status: None,
            errors: vec![GoogleErrorItem {
                reason: reason.map(str::to_owned),
                message: None,
            }],
        }
    }

    #[test]
    fn errors_are_typed() {
        let e = map_error(
            StatusCode::UNAUTHORIZED,
            None,
            &err("Invalid Credentials", Some("authError")),
        );
        assert!(is_unauthorized(&e), "{e:?}");
        let e = map_error(
            StatusCode::FORBIDDEN,
            Some(Duration::from_secs(7)),
            &err("User-rate limit exceeded", Some("userRateLimitExceeded")),
        );
        assert!(
            matches!(e, Error::RateLimited { retry_after } if retry_after == Duration::from_secs(7))
        );
        let e = map_error(
            StatusCode::TOO_MANY_REQUESTS,
            None,
            &err("slow down", Some("rateLimitExceeded")),
        );
        assert!(
            matches!(e, Error::RateLimited { retry_after } if retry_after == DEFAULT_RETRY_AFTER)
        );
        let e = map_error(
            StatusCode::FORBIDDEN,
            None,
            &err("Insufficient Permission", Some("insufficientPermissions")),
        );
        assert!(
            matches!(e, Error::Provider { status: Some(403), code: Some(ref c), .. } if c == "insufficientPermissions")
        );
        let e = map_error(
            StatusCode::BAD_REQUEST,
            None,
            &err("Invalid To header", Some("invalidArgument")),
        );
        assert!(matches!(e, Error::Validation(ref v) if v.errors[0].field == "to"));
        let e = map_error(StatusCode::BAD_GATEWAY, None, &GoogleError::default());
        assert!(matches!(e, Error::Unavailable { .. }));
    }
}
