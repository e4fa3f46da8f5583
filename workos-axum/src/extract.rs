//! Request extractors whose every failure is a 4xx problem naming what is wrong.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use workos_core::json::quoted_after;
use workos_core::tenant::TenantContext;

use crate::error::ApiError;

/// A JSON body: `Content-Type: application/json` required (415 otherwise), malformed JSON is a
/// 400, and a value of the wrong shape is a 422 naming the field (`additional_emails[1]`).
/// Unknown fields are rejected by the input types themselves.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                let m = m.trim();
                m.eq_ignore_ascii_case("application/json")
                    || (m.starts_with("application/") && m.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "the body must be JSON with Content-Type: application/json",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        parse_json(&bytes).map(Self)
    }
}

/// The answer to a body that could not be read: `408` when the client was too slow to send it
/// (`WORKOS_BODY_READ_TIMEOUT_SECS`), else what axum says (`413` over the size limit, `400`).
pub fn body_rejection(e: axum::extract::rejection::BytesRejection) -> ApiError {
    if is_read_timeout(&e) {
        return read_timeout();
    }
    ApiError::new(e.status(), "bad-request", e.body_text())
}

/// Whether reading a body failed because the client was too slow to send it.
pub fn is_read_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(err) = source {
        if err.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// `408`: the body was not sent within `WORKOS_BODY_READ_TIMEOUT_SECS`.
pub fn read_timeout() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::REQUEST_TIMEOUT,
        "request-timeout",
        "the request body was not sent in time",
    )
}

/// Parses JSON bytes with field paths in errors.
///
/// # Errors
/// 400 for malformed JSON, 422 naming the field for a wrong shape or value.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    workos_core::json::from_object_slice(bytes).map_err(ApiError::from)
}

/// Query parameters; a malformed one is a 422 naming it.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        refuse_nul(query)?;
        let de = serde_urlencoded_de(query);
        de.map(Self)
    }
}

/// Postgres cannot store or compare text holding NUL: a query parameter holding one is refused
/// here, naming the parameter, rather than as a database error naming nothing.
///
/// # Errors
/// 422 naming the first parameter whose value holds NUL.
pub fn refuse_nul(query: &str) -> Result<(), ApiError> {
    match form_urlencoded::parse(query.as_bytes()).find(|(_, v)| v.contains('\0')) {
        Some((name, _)) => Err(ApiError::invalid_field(
            name.into_owned(),
            "must not contain NUL characters",
        )),
        None => Ok(()),
    }
}

fn serde_urlencoded_de<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    // axum's Query rejection text names the field; keep it, minus the boilerplate prefix.
    axum::extract::Query::<T>::try_from_uri(
        &format!("/?{query}")
            .parse()
            .map_err(|_| ApiError::bad_request("bad query string"))?,
    )
    .map(|q| q.0)
    .map_err(|e| {
        let text = e.body_text();
        let text = text
            .trim_start_matches("Failed to deserialize query string: ")
            .to_owned();
        let field = quoted_after(&text, "unknown field `")
            .or_else(|| text.split(':').next().filter(|f| !f.contains(' ')))
            .unwrap_or("query")
            .to_owned();
        ApiError::invalid_field(field, text)
    })
}

/// A path segment that must be an id of the given kind; anything else is a 404 (nothing can
/// exist at that path).
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|_| ApiError::not_found("no such resource: the id in the path is not valid"))
    }
}

/// The authenticated tenant context of the request (set by the auth middleware), carrying the
/// request id into the events the request writes.
pub struct Ctx(pub TenantContext);

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<TenantContext>()
            .cloned()
            .map(Self)
            .ok_or_else(|| ApiError::unauthorized("authentication required"))
    }
}
