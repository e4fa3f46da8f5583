//! The fake's resumable upload of `messages.send` (`uploadType=resumable`), as Google documents
//! it:
//!
//! - `POST /upload/gmail/v1/users/me/messages/send?uploadType=resumable` with the JSON metadata
//!   (`{"threadId"}`, or empty), `X-Upload-Content-Type: message/*` and
//!   `X-Upload-Content-Length` answers `200` with the session URI in `Location` (the same path
//!   with `upload_id`).
//! - `PUT` to the session URI with `Content-Range: bytes FIRST-LAST/TOTAL` appends a chunk:
//!   `FIRST` must be what the session has, the body exactly the range, and every chunk but the
//!   last a multiple of 256 KiB (`400` otherwise). `308` with `Range: bytes=0-N` (none while
//!   the session has nothing) asks for the rest; the last byte sends the message (checked as
//!   the other upload forms are) and answers `200` with the message resource.
//! - `PUT` with `Content-Range: bytes */TOTAL` and no body asks for the state: `308` (and
//!   `Range`) while incomplete, `200` with the same resource once complete (never sent twice).
//! - An unknown session is `404`.
//!
//! [`Fault::Interrupt`] on [`Route::UploadChunk`] keeps the first half of that chunk and answers
//! `503`, like a connection that broke mid-chunk; [`Fault::Status`] drops the chunk whole.

use mail_parser::MessageParser;

use super::*;

/// Google's chunk granularity.
pub(super) const UPLOAD_CHUNK_GRANULARITY: usize = 256 * 1024;

/// The most Gmail's upload endpoint takes.
const MAX_UPLOAD: usize = 35_000_000;

/// A resumable upload session.
#[derive(Debug, Default)]
pub(super) struct Upload {
    total: usize,
    thread_id: Option<String>,
    received: Vec<u8>,
    /// The message resource, once sent.
    result: Option<Value>,
}

fn bad(message: &str) -> Response {
    google_error(StatusCode::BAD_REQUEST, message, "badRequest")
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// `POST …/messages/send?uploadType=resumable`: opens a session.
pub(super) fn start(m: &mut Mailbox, headers: &HeaderMap, body: &[u8]) -> Response {
    let media = header(headers, "x-upload-content-type").unwrap_or_default();
    if !media.to_ascii_lowercase().starts_with("message/") {
        return bad("Media type is not supported. Valid media types: [message/rfc822]");
    }
    let Some(total) = header(headers, "x-upload-content-length").and_then(|v| v.parse().ok())
    else {
        return bad("The fake wants X-Upload-Content-Length");
    };
    if total > MAX_UPLOAD {
        return google_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request too large",
            "uploadTooLarge",
        );
    }
    let metadata = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(v) if v.is_object() => v,
            _ => {
                return google_error(
                    StatusCode::BAD_REQUEST,
                    "Invalid JSON payload received.",
                    "parseError",
                );
            }
        }
    };
    let id = uuid::Uuid::new_v4().simple().to_string();
    m.uploads.insert(
        id.clone(),
        Upload {
            total,
            thread_id: metadata
                .get("threadId")
                .and_then(Value::as_str)
                .map(str::to_owned),
            ..Upload::default()
        },
    );
    let host = header(headers, "host").unwrap_or("127.0.0.1");
    let location = format!(
        "http://{host}/upload/gmail/v1/users/me/messages/send?uploadType=resumable&upload_id={id}"
    );
    let mut response = StatusCode::OK.into_response();
    response.headers_mut().insert(
        header::LOCATION,
        header::HeaderValue::from_str(&location).expect("an ASCII URL"),
    );
    response
}

/// `308`, with the `Range` the session has.
fn incomplete(upload: &Upload) -> Response {
    let mut response = StatusCode::PERMANENT_REDIRECT.into_response();
    if !upload.received.is_empty() {
        let range = format!("bytes=0-{}", upload.received.len() - 1);
        response.headers_mut().insert(
            header::RANGE,
            header::HeaderValue::from_str(&range).expect("digits"),
        );
    }
    response
}

/// `PUT` to a session URI: a chunk, or a status query.
pub(super) fn put(
    m: &mut Mailbox,
    headers: &HeaderMap,
    query: &[(String, String)],
    body: &[u8],
    interrupt: bool,
) -> Response {
    let Some(id) = first(query, "upload_id").map(str::to_owned) else {
        return not_found();
    };
    let Some(upload) = m.uploads.get_mut(&id) else {
        return not_found();
    };
    let Some(range) = header(headers, "content-range").and_then(|r| r.strip_prefix("bytes "))
    else {
        return bad("Missing Content-Range");
    };
    let Some((span, total)) = range.split_once('/') else {
        return bad("Invalid Content-Range");
    };
    if total.parse::<usize>().ok() != Some(upload.total) {
        return bad("Content-Range total does not match X-Upload-Content-Length");
    }
    if span == "*" {
        if !body.is_empty() {
            return bad("A status query has no body");
        }
        return match &upload.result {
            Some(result) => axum::Json(result.clone()).into_response(),
            None => incomplete(upload),
        };
    }
    if upload.result.is_some() {
        return bad("The upload is already complete");
    }
    let Some((first_byte, last_byte)) = span
        .split_once('-')
        .and_then(|(a, b)| Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?)))
    else {
        return bad("Invalid Content-Range");
    };
    if first_byte != upload.received.len() {
        return bad(&format!(
            "Content-Range starts at {first_byte}; the session has {} bytes",
            upload.received.len()
        ));
    }
    if last_byte < first_byte
        || last_byte >= upload.total
        || body.len() != last_byte - first_byte + 1
    {
        return bad("The body does not fill its Content-Range");
    }
    let last = last_byte + 1 == upload.total;
    if !last && !body.len().is_multiple_of(UPLOAD_CHUNK_GRANULARITY) {
        return bad("A chunk but the last must be a multiple of 256 KiB");
    }
    if interrupt {
        upload.received.extend_from_slice(&body[..body.len() / 2]);
        return google_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "Backend Error",
            "backendError",
        );
    }
    upload.received.extend_from_slice(body);
    if !last {
        return incomplete(upload);
    }
    let raw = upload.received.clone();
    let thread_id = upload.thread_id.clone();
    let valid = MessageParser::default()
        .parse(&raw)
        .is_some_and(|msg| msg.from().is_some() && !msg.parts.is_empty());
    if !valid {
        m.uploads.remove(&id);
        return google_error(
            StatusCode::BAD_REQUEST,
            "Invalid RFC 5322 message",
            "invalidArgument",
        );
    }
    let response = deliver(m, raw, thread_id, true);
    if response.status().is_success()
        && let Some(sent) = m.sent.last_mut()
    {
        sent.resumable = true;
        let result = json!({"id": sent.id, "threadId": sent.thread_id, "labelIds": ["SENT"]});
        if let Some(upload) = m.uploads.get_mut(&id) {
            upload.result = Some(result);
        }
    }
    response
}
