//! Errors as RFC 9457 problem documents (`application/problem+json`).

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use workos_core::Error;
use workos_core::error::FieldError;

/// A problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem, e.g. `urn:workos:problem:validation`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong this time.
    pub detail: String,
    /// Per-field errors, for validation problems.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub errors: Vec<FieldError>,
}

/// An error answered to an API client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    detail: String,
    errors: Vec<FieldError>,
    retry_after: Option<Duration>,
}

impl ApiError {
    /// A problem with a status, a kind slug and a detail.
    pub fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// 400: the request cannot be read.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", detail)
    }

    /// 401: no or invalid credentials.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    /// 404 for a resource kind.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    /// 422 with one field error.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            format!("invalid input: {message}"),
        );
        e.errors.push(FieldError {
            field: field.into(),
            message,
        });
        e
    }

    /// 429 with the time to wait.
    pub fn rate_limited(retry_after: Duration) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "too many requests; retry later",
        );
        e.retry_after = Some(retry_after);
        e
    }

    /// 409 `integration-not-configured`: the provider a route needs is not set up, for this
    /// server or this org; `detail` names what to configure. Not a 5xx: nothing failed and
    /// retrying changes nothing; the same request succeeds once the integration is configured,
    /// which is what 409 (a conflict with the current state) says, where 422 would blame the
    /// request's content.
    pub fn not_configured(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "integration-not-configured", detail)
    }

    /// 409: no Twilio account can send for the org.
    #[cfg(feature = "twilio")]
    pub fn twilio_not_configured() -> Self {
        Self::not_configured(
            "Twilio is not configured: connect the org's account (PUT /api/v1/integrations/twilio) \
             or set the server's TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN",
        )
    }

    /// A failed Twilio send: as any engine error, except that a send whose request left but
    /// whose answer never came may have happened, so the client is told not to resend (a 504)
    /// rather than the generic "retry later".
    #[cfg(feature = "twilio")]
    pub fn from_send(e: Error) -> Self {
        if workos_twilio::client::is_outcome_unknown(&e) {
            Self::new(
                StatusCode::GATEWAY_TIMEOUT,
                "outcome-unknown",
                "Twilio did not answer in time: it may have sent this; do not resend blindly",
            )
        } else {
            e.into()
        }
    }

    /// The HTTP status.
    pub const fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound { kind } => Self::not_found(format!("{kind} not found")),
            Error::Validation(v) => {
                let mut out = Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation",
                    v.to_string(),
                );
                out.errors = v.errors;
                out
            }
            Error::Conflict { field, message } => {
                let mut out = Self::new(
                    StatusCode::CONFLICT,
                    "conflict",
                    format!("{field}: {message}"),
                );
                out.errors.push(FieldError { field, message });
                out
            }
            Error::Forbidden(detail) => Self::new(StatusCode::FORBIDDEN, "forbidden", detail),
            Error::RateLimited { retry_after } => Self::rate_limited(retry_after),
            Error::Unavailable { message, .. } => {
                tracing::warn!(error = %message, "dependency unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "a dependency is unavailable; retry later",
                )
            }
            Error::Provider {
                provider,
                status,
                code,
                message,
            } => {
                tracing::warn!(provider, ?status, ?code, "provider error");
                Self::new(
                    StatusCode::BAD_GATEWAY,
                    "provider",
                    format!("{provider}: {message}"),
                )
            }
            other => {
                // Details stay in the logs; clients learn only that it failed.
                tracing::error!(error = %other, source = ?std::error::Error::source(&other), "internal error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                )
            }
        }
    }
}

impl From<workos_core::json::JsonObjectError> for ApiError {
    fn from(e: workos_core::json::JsonObjectError) -> Self {
        use workos_core::json::JsonObjectError;
        match e {
            JsonObjectError::Malformed(_) => Self::bad_request(e.to_string()),
            JsonObjectError::NotAnObject => Self::invalid_field("body", e.to_string()),
            JsonObjectError::Invalid { field, message } => Self::invalid_field(field, message),
        }
    }
}

impl From<workos_core::error::ValidationError> for ApiError {
    fn from(e: workos_core::error::ValidationError) -> Self {
        Error::Validation(e).into()
    }
}

fn title(status: StatusCode) -> String {
    status.canonical_reason().unwrap_or("Error").to_owned()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            kind: format!("urn:workos:problem:{}", self.kind),
            title: title(self.status),
            status: self.status.as_u16(),
            detail: self.detail,
            errors: self.errors,
        };
        let mut response = (self.status, axum::Json(problem)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(wait) = self.retry_after {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(wait.as_secs_f64().ceil().max(1.0) as u64),
            );
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
