//! The public intake `POST /api/v1/forms/{public_form_id}/leads` (no API key: an optional HMAC
//! signature, a honeypot field and a per-IP rate limit instead). The engine's
//! [`workos_leads::intake`] does the rest.

use std::net::{IpAddr, SocketAddr};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use workos_core::domain::NewLead;
use workos_leads::intake::{self, BodyFormat, IntakeError, Submission};

use crate::error::{ApiError, ApiResult, Problem};
use crate::state::AppState;

/// Public form bodies above this are refused with 413.
pub(crate) const MAX_FORM_BODY_BYTES: usize = 64 * 1024;
/// Public form submissions allowed per client IP per minute.
pub(crate) const FORM_SUBMISSIONS_PER_MINUTE: u32 = 30;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(submit_form))
}

/// The client's address for the per-IP limit and the consent record: the TCP peer, unless the
/// peer is a trusted proxy (`WORKOS_TRUSTED_PROXIES`); then the right-most `X-Forwarded-For`
/// entry that is not a trusted proxy (entries left of it are the client's to forge). When
/// every entry is trusted, the left-most; when an entry does not parse, the trusted hop just
/// right of it. `None` without a peer (served without connect info): every such client then
/// shares one budget.
pub(crate) fn client_ip(
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    trusted: &[ipnet::IpNet],
) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = peer?.ip().to_canonical();
    if !is_trusted(&client) {
        return Some(client);
    }
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    for hop in hops.rsplit(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Ok(ip) = hop.parse::<IpAddr>() else {
            break;
        };
        client = ip.to_canonical();
        if !is_trusted(&client) {
            break;
        }
    }
    Some(client)
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, Json(json!({ "status": "accepted" }))).into_response()
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too-large",
        "the body is over 64 KiB",
    )
}

impl From<IntakeError> for ApiError {
    fn from(e: IntakeError) -> Self {
        match e {
            IntakeError::UnsupportedMediaType => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                e.to_string(),
            ),
            IntakeError::Body(e) => e.into(),
            IntakeError::Engine(e) => e.into(),
        }
    }
}

/// Submit a lead to a public form (no API key). Limited per client IP (429); bodies over 64 KiB
/// are refused (413); a form with a secret needs `X-Form-Signature: sha256=<hex HMAC-SHA256 of
/// the raw body>` (403 otherwise); a filled honeypot field is answered 202 and dropped; missing
/// required fields are a 422 naming each. Accepted submissions are captured and routed like
/// `POST /leads` and answered 202, telling the submitter nothing more.
#[utoipa::path(post, path = "/forms/{public_form_id}/leads", tag = "lead-forms", security(),
    params(("public_form_id" = String, Path, description = "The form's public id")),
    request_body = NewLead,
    responses((status = 202, description = "Accepted"), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 413, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
async fn submit_form(
    State(state): State<AppState>,
    Path(public_form_id): Path<String>,
    request: Request,
) -> ApiResult<Response> {
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let ip = client_ip(headers, peer, &state.trusted_proxies);
    let limit_key = ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    if let workos_limits::Decision::Limited { retry_after } = state
        .limiter
        .check(&format!("form-ip:{limit_key}"), state.form_quota)
        .await
    {
        return Err(ApiError::rate_limited(retry_after));
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_FORM_BODY_BYTES) {
        return Err(too_large());
    }
    let body: Bytes = axum::body::to_bytes(body, MAX_FORM_BODY_BYTES)
        .await
        .map_err(|e| {
            if crate::extract::is_read_timeout(&e) {
                crate::extract::read_timeout()
            } else {
                too_large()
            }
        })?;

    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let submission = Submission {
        public_form_id: &public_form_id,
        format: BodyFormat::from_content_type(text(header::CONTENT_TYPE.as_str())),
        body: &body,
        signature: text("x-form-signature"),
        client_ip: ip,
        request_id: text("x-request-id"),
    };
    intake::submit(&state.store, &state.cipher, submission).await?;
    Ok(accepted())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", v.parse().unwrap());
        h
    }

    #[test]
    fn the_client_is_the_peer_unless_the_peer_is_a_trusted_proxy() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let untrusted_peer = Some("198.51.100.1:5000".parse().unwrap());
        let proxy_peer = Some("10.0.0.5:5000".parse().unwrap());
        // An untrusted peer's header is ignored.
        assert_eq!(
            client_ip(&xff("1.2.3.4"), untrusted_peer, &trusted),
            Some(ip("198.51.100.1"))
        );
        assert_eq!(
            client_ip(&xff("1.2.3.4"), untrusted_peer, &[]),
            Some(ip("198.51.100.1"))
        );
        // Behind a trusted proxy: the right-most untrusted entry.
        assert_eq!(
            client_ip(&xff("6.6.6.6, 1.2.3.4, 10.9.9.9"), proxy_peer, &trusted),
            Some(ip("1.2.3.4"))
        );
        // Every entry trusted: the left-most; no header: the proxy itself.
        assert_eq!(
            client_ip(&xff("10.1.1.1, 10.2.2.2"), proxy_peer, &trusted),
            Some(ip("10.1.1.1"))
        );
        assert_eq!(
            client_ip(&HeaderMap::new(), proxy_peer, &trusted),
            Some(ip("10.0.0.5"))
        );
        // Garbage stops the walk at the last trusted hop.
        assert_eq!(
            client_ip(&xff("1.2.3.4, junk, 10.3.3.3"), proxy_peer, &trusted),
            Some(ip("10.3.3.3"))
        );
        // IPv4-mapped IPv6 peers match IPv4 ranges.
        let mapped = Some("[::ffff:10.0.0.5]:5000".parse().unwrap());
        assert_eq!(
            client_ip(&xff("1.2.3.4"), mapped, &trusted),
            Some(ip("1.2.3.4"))
        );
        // Without connect info there is no client address.
        assert_eq!(client_ip(&xff("1.2.3.4"), None, &trusted), None);
    }
}
