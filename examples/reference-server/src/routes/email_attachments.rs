//! `GET /api/v1/emails/{id}/attachments/{attachment_id}`: an email's attachment, streamed from
//! Gmail by [`workos_gmail::Gmail::attachment_stream`] (tenant-checked, at most
//! [`workos_gmail::MAX_ATTACHMENT_BYTES`]): the answer starts with the first decoded bytes,
//! and a download that breaks off after the headers were sent is aborted (the connection is
//! closed before the announced length), never completed with wrong bytes.

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_SECURITY_POLICY, CONTENT_TYPE,
    X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use futures_util::TryStreamExt as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use workos_core::ids::EmailId;
use workos_gmail::AttachmentRef;

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiPath, Ctx};
use crate::state::AppState;

/// The route.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(download_attachment))
}

/// `Content-Disposition: attachment` with the file name twice: an ASCII fallback (quoted, with
/// anything but printable ASCII, quotes and backslashes replaced) and the exact name as
/// RFC 8187 `filename*` (UTF-8, percent-encoded), as RFC 6266 advises.
fn content_disposition(filename: Option<&str>) -> HeaderValue {
    let name = filename
        .map(|f| f.trim().replace(['/', '\\'], "_"))
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| "attachment".to_owned());
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::with_capacity(name.len() * 3);
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    HeaderValue::from_str(&format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// Download an attachment of a stored email.
///
/// `attachment_id` is the attachment's `id` in the email's `headers.attachments` (Gmail's MIME
/// part id, e.g. `1` or `0.2`; `root` when the whole message is the file), or `index-N` for
/// the N-th entry (from 0) of `headers.attachments` (entries recorded without an `id`). The
/// bytes are streamed from the Gmail account that synced or sent the email as they arrive,
/// with the attachment's type, file name (`Content-Disposition: attachment`) and
/// `Content-Length`. Attachments over 25 MiB are refused (`422` on `attachment_id`); open them
/// in Gmail.
#[utoipa::path(get, path = "/emails/{id}/attachments/{attachment_id}", tag = "emails",
    params(("id" = EmailId, Path), ("attachment_id" = String, Path, description = "The attachment's `id` in `headers.attachments` (`1`, `0.2`, `root`), or `index-N` for its position there")),
    responses(
        (status = 200, description = "The file, with its type and `Content-Disposition: attachment`", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem), (status = 502, body = Problem), (status = 503, body = Problem)))]
async fn download_attachment(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath((id, attachment_id)): ApiPath<(EmailId, String)>,
) -> ApiResult<Response> {
    if AttachmentRef::parse(&attachment_id).is_none() {
        return Err(ApiError::not_found("attachment not found"));
    }
    let gmail = crate::routes::integrations::gmail_service(&state)?;
    let file = gmail
        .client
        .attachment_stream(&ctx, id, &attachment_id)
        .await?;
    let content_type = HeaderValue::from_str(&file.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    // Past this point the status is sent: an error can only abort the body (hyper closes the
    // connection), so it is logged here, without the token or the bytes.
    let body = file.body.inspect_err(move |e| {
        tracing::warn!(email_id = %id, error = %e, "an attachment download broke off");
    });
    let mut response = Response::new(Body::from_stream(body));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, content_type);
    if let Some(size) = file.size {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(size));
    }
    headers.insert(
        CONTENT_DISPOSITION,
        content_disposition(file.filename.as_deref()),
    );
    // Never rendered as a page of this origin, never cached by a shared cache.
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_ids() {
        for ok in ["1", "0.2", "12.0.3", "root", "index-0", "index-12"] {
            assert!(AttachmentRef::parse(ok).is_some(), "{ok}");
        }
        assert_eq!(
            AttachmentRef::parse("root"),
            Some(AttachmentRef::Part(String::new()))
        );
        assert_eq!(
            AttachmentRef::parse("index-3"),
            Some(AttachmentRef::Index(3))
        );
        for bad in [
            "", ".", "1.", "a", "1/2", "../1", "1 ", "index-", "index--1", "index-x", "Root",
        ] {
            assert!(AttachmentRef::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn dispositions_are_safe() {
        let header = |f: Option<&str>| content_disposition(f).to_str().unwrap().to_owned();
        assert_eq!(
            header(Some("plan.pdf")),
            "attachment; filename=\"plan.pdf\"; filename*=UTF-8''plan.pdf"
        );
        assert_eq!(
            header(Some("Devis été \"final\".pdf")),
            "attachment; filename=\"Devis _t_ _final_.pdf\"; filename*=UTF-8''Devis%20%C3%A9t%C3%A9%20%22final%22.pdf"
        );
        assert_eq!(
            header(Some("a\r\nSet-Cookie: x=1")),
            "attachment; filename=\"a__Set-Cookie: x=1\"; filename*=UTF-8''a%0D%0ASet-Cookie%3A%20x%3D1"
        );
        assert_eq!(
            header(Some("../../etc/passwd")),
            "attachment; filename=\".._.._etc_passwd\"; filename*=UTF-8''.._.._etc_passwd"
        );
        assert_eq!(
            header(None),
            "attachment; filename=\"attachment\"; filename*=UTF-8''attachment"
        );
    }
}
