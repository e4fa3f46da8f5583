//! Errors as RFC 9457 problem documents (`application/problem+json`).

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use workos_core::Error;
use workos_core::error::FieldError;

/// A problem document.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
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

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    async fn answer(e: ApiError) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
        let response = e.into_response();
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.expect("body").to_bytes();
        (
            parts.status,
            parts.headers,
            serde_json::from_slice(&bytes).expect("json"),
        )
    }

    #[tokio::test]
    async fn engine_errors_are_problem_documents_with_their_status() {
        let (status, headers, body) =
            answer(Error::conflict("email", "already taken").into()).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
        assert_eq!(body["type"], "urn:workos:problem:conflict");
        assert_eq!(body["title"], "Conflict");
        assert_eq!(body["status"], 409);
        assert_eq!(body["errors"][0]["field"], "email");

        let (status, headers, body) = answer(ApiError::unauthorized("no key")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
        assert!(body.get("errors").is_none(), "no empty field list: {body}");
    }

    #[tokio::test]
    async fn internal_details_stay_out_of_the_answer_and_waits_round_up() {
        let (status, _, body) =
            answer(Error::internal("reading /etc/x", "no such file").into()).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["detail"], "internal error");

        let (status, headers, _) =
            answer(ApiError::rate_limited(Duration::from_millis(1500))).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers[header::RETRY_AFTER], "2");
    }
}
