//! The fake's attachment routes and large sends: `messages.get` with `format=full` (the MIME
//! tree as Gmail gives it: `partId`, `mimeType`, `filename`, `headers`, and a `body` with
//! `attachmentId` for attachments or base64url `data` for text), `messages.attachments.get`
//! (`{"size", "data"}`, base64url), and `POST /upload/gmail/v1/users/me/messages/send` with
//! `uploadType=multipart` (a `multipart/related` body: JSON metadata, then the message as
//! `message/rfc822`) or `uploadType=media` (the message alone).
//!
//! Like Gmail's, attachment ids are opaque and differ on every read; each one issued works.
//! [`FakeGoogle::hold_next_attachment_body`] holds an answer part way, until its [`BodyGate`]
//! opens.

use futures_util::StreamExt as _;
use mail_parser::{Message, MessageParser, MimeHeaders as _, PartType};

use super::*;

/// Gmail's ids are long opaque tokens; the fake's carry the message, the part and a nonce.
fn issue_attachment_id(message_id: &str, part_id: &str) -> String {
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "ANGjdJ{}",
        URL_SAFE_NO_PAD.encode(format!("{message_id}:{part_id}:{nonce}"))
    )
}

fn read_attachment_id(id: &str) -> Option<(String, String)> {
    let decoded = URL_SAFE_NO_PAD.decode(id.strip_prefix("ANGjdJ")?).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let mut fields = text.splitn(3, ':');
    Some((fields.next()?.to_owned(), fields.next()?.to_owned()))
}

fn mime_type(part: &mail_parser::MessagePart<'_>) -> String {
    part.content_type().map_or_else(
        || "text/plain".to_owned(),
        |ct| match ct.subtype() {
            Some(sub) => format!("{}/{sub}", ct.ctype()).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        },
    )
}

/// The part of `message` with Gmail's `part_id`, walking the tree as Gmail numbers it.
fn find_part<'a>(
    message: &'a Message<'a>,
    part_id: &str,
) -> Option<&'a mail_parser::MessagePart<'a>> {
    let mut index = 0usize;
    if !part_id.is_empty() {
        for n in part_id.split('.') {
            let n: usize = n.parse().ok()?;
            let PartType::Multipart(children) = &message.parts.get(index)?.body else {
                return None;
            };
            index = *children.get(n)? as usize;
        }
    }
    message.parts.get(index)
}

/// The payload (`format=full`) of `raw`, whose message id is `message_id`.
pub(super) fn payload(message_id: &str, raw: &[u8]) -> Value {
    let Some(message) = MessageParser::default().parse(raw) else {
        return json!({"partId": "", "mimeType": "text/plain", "filename": "", "headers": [], "body": {"size": 0}});
    };
    part_json(&message, 0, String::new(), message_id, 0)
}

fn part_json(
    message: &Message<'_>,
    index: usize,
    part_id: String,
    message_id: &str,
    depth: usize,
) -> Value {
    let Some(part) = message.parts.get(index) else {
        return json!({});
    };
    let headers: Vec<Value> = part
        .headers
        .iter()
        .map(|h| {
            let value = message
                .raw_message
                .get(h.offset_start as usize..h.offset_end as usize)
                .map(|v| {
                    String::from_utf8_lossy(v)
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            json!({"name": h.name.as_str(), "value": value})
        })
        .collect();
    let filename = part.attachment_name().unwrap_or_default().to_owned();
    let mut out = json!({
        "partId": part_id,
        "mimeType": mime_type(part),
        "filename": filename,
        "headers": headers,
    });
    match &part.body {
        PartType::Multipart(children) if depth < 16 => {
            out["body"] = json!({"size": 0});
            out["parts"] = Value::Array(
                children
                    .iter()
                    .enumerate()
                    .map(|(n, child)| {
                        let id = if part_id.is_empty() {
                            n.to_string()
                        } else {
                            format!("{part_id}.{n}")
                        };
                        part_json(message, *child as usize, id, message_id, depth + 1)
                    })
                    .collect(),
            );
        }
        _ => {
            let bytes = part.contents();
            out["body"] = if filename.is_empty()
                && matches!(part.body, PartType::Text(_) | PartType::Html(_))
            {
                json!({"size": bytes.len(), "data": URL_SAFE.encode(bytes)})
            } else {
                json!({"size": bytes.len(), "attachmentId": issue_attachment_id(message_id, &part_id)})
            };
        }
    }
    out
}

/// `GET /gmail/v1/users/me/messages/{id}/attachments/{attachmentId}`.
pub(super) fn get_attachment(m: &mut Mailbox, path: &str) -> Response {
    let rest = path
        .strip_prefix("/gmail/v1/users/me/messages/")
        .unwrap_or_default();
    let Some((id, attachment_id)) = rest.split_once("/attachments/") else {
        return not_found();
    };
    let Some(msg) = m
        .messages
        .iter()
        .find(|x| x.id == id && !x.deleted && !x.unavailable)
    else {
        return not_found();
    };
    let Some((of_message, part_id)) = read_attachment_id(attachment_id) else {
        return google_error(
            StatusCode::BAD_REQUEST,
            "Invalid attachment token",
            "invalidArgument",
        );
    };
    let Some(message) = MessageParser::default().parse(&msg.raw) else {
        return not_found();
    };
    match find_part(&message, &part_id) {
        Some(part) if of_message == msg.id && !matches!(part.body, PartType::Multipart(_)) => {
            let bytes = part.contents();
            let answer = json!({"size": bytes.len(), "data": URL_SAFE.encode(bytes)}).to_string();
            match m.attachment_gate.take() {
                Some(gate) => held(answer, gate),
                None => (
                    [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
                    answer,
                )
                    .into_response(),
            }
        }
        _ => google_error(
            StatusCode::BAD_REQUEST,
            "Invalid attachment token",
            "invalidArgument",
        ),
    }
}

/// `answer` with all but its first [`HELD_PREFIX_BYTES`] held until `gate` opens.
fn held(answer: String, gate: Arc<tokio::sync::Semaphore>) -> Response {
    let mut answer = answer.into_bytes();
    let rest = answer.split_off(HELD_PREFIX_BYTES.min(answer.len()));
    let parts = futures_util::stream::iter([(answer, None), (rest, Some(gate))]).then(
        |(bytes, gate)| async move {
            match gate {
                Some(gate) => match gate.acquire().await {
                    Ok(_) => Ok(bytes),
                    // Broken off: the connection closes before the rest.
                    Err(_) => Err(std::io::Error::other("the fake broke the answer off")),
                },
                None => Ok(bytes),
            }
        },
    );
    (
        [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
        axum::body::Body::from_stream(parts),
    )
        .into_response()
}

/// The metadata and message of an upload, or Google's error.
fn read_upload(
    headers: &HeaderMap,
    query: &[(String, String)],
    body: &[u8],
) -> Result<(Value, Vec<u8>), Box<Response>> {
    let bad =
        |message: &str| Box::new(google_error(StatusCode::BAD_REQUEST, message, "badRequest"));
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match first(query, "uploadType") {
        Some("media") if essence.starts_with("message/") => Ok((json!({}), body.to_vec())),
        Some("media") => Err(bad(
            "Media type 'application/octet-stream' is not supported. Valid media types: [message/rfc822]",
        )),
        Some("multipart") => {
            if essence != "multipart/related" {
                return Err(bad(
                    "Invalid multipart request: the Content-Type must be multipart/related",
                ));
            }
            let Some(boundary) = content_type.split(';').find_map(|p| {
                p.trim()
                    .strip_prefix("boundary=")
                    .map(|b| b.trim_matches('"').to_owned())
            }) else {
                return Err(bad("Invalid multipart request with 0 mime parts."));
            };
            let parts = split_related(body, &boundary);
            let [metadata, media] = parts.as_slice() else {
                return Err(bad(&format!(
                    "Invalid multipart request with {} mime parts.",
                    parts.len()
                )));
            };
            let part_type = |headers: &str| {
                header_values(headers.as_bytes(), "Content-Type")
                    .into_iter()
                    .next()
                    .unwrap_or_default()
                    .to_ascii_lowercase()
            };
            if !part_type(&metadata.0).starts_with("application/json") {
                return Err(bad("Metadata part is not JSON"));
            }
            if !part_type(&media.0).starts_with("message/") {
                return Err(bad(
                    "Media type is not supported. Valid media types: [message/rfc822]",
                ));
            }
            let Ok(metadata_json) = serde_json::from_slice::<Value>(&metadata.1) else {
                return Err(Box::new(google_error(
                    StatusCode::BAD_REQUEST,
                    "Invalid JSON payload received.",
                    "parseError",
                )));
            };
            Ok((metadata_json, media.1.clone()))
        }
        _ => Err(bad(
            "Invalid upload type: the fake takes uploadType=multipart or media",
        )),
    }
}

/// The parts of a `multipart/related` body: each one's header section and bytes.
fn split_related(body: &[u8], boundary: &str) -> Vec<(String, Vec<u8>)> {
    let delimiter = format!("--{boundary}");
    let needle = delimiter.as_bytes();
    let mut starts = Vec::new();
    let mut i = 0;
    while i + needle.len() <= body.len() {
        if &body[i..i + needle.len()] == needle && (i == 0 || body[..i].ends_with(b"\n")) {
            starts.push(i);
            i += needle.len();
        } else {
            i += 1;
        }
    }
    let mut parts = Vec::new();
    for pair in starts.windows(2) {
        let chunk = &body[pair[0] + needle.len()..pair[1]];
        let chunk = chunk.strip_prefix(b"\r\n").unwrap_or(chunk);
        // The CRLF before the next delimiter belongs to the delimiter.
        let chunk = chunk.strip_suffix(b"\r\n").unwrap_or(chunk);
        let Some(split) = chunk.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        parts.push((
            String::from_utf8_lossy(&chunk[..split + 2]).into_owned(),
            chunk[split + 4..].to_vec(),
        ));
    }
    let closed = starts
        .last()
        .is_some_and(|&s| body[s + needle.len()..].starts_with(b"--"));
    if closed { parts } else { Vec::new() }
}

/// `POST /upload/gmail/v1/users/me/messages/send`: checks the upload is Google's format and the
/// message a parseable RFC 5322 message with a `From`, then sends it as `messages.send` does.
pub(super) fn upload_send(
    m: &mut Mailbox,
    headers: &HeaderMap,
    query: &[(String, String)],
    body: &[u8],
) -> Response {
    let (metadata, raw) = match read_upload(headers, query, body) {
        Ok(upload) => upload,
        Err(response) => return *response,
    };
    let valid = MessageParser::default()
        .parse(&raw)
        .is_some_and(|msg| msg.from().is_some() && !msg.parts.is_empty());
    if !valid {
        return google_error(
            StatusCode::BAD_REQUEST,
            "Invalid RFC 5322 message",
            "invalidArgument",
        );
    }
    let thread_id = metadata
        .get("threadId")
        .and_then(Value::as_str)
        .map(str::to_owned);
    deliver(m, raw, thread_id, true)
}

impl SentMessage {
    /// The attachments of the message as sent: file name, MIME type and decoded bytes.
    #[must_use]
    pub fn attachments(&self) -> Vec<(Option<String>, String, Vec<u8>)> {
        let Some(message) = MessageParser::default().parse(&self.raw) else {
            return Vec::new();
        };
        message
            .attachments()
            .map(|part| {
                (
                    part.attachment_name().map(str::to_owned),
                    mime_type(part),
                    part.contents().to_vec(),
                )
            })
            .collect()
    }
}

impl FakeGoogle {
    /// Holds back the next `messages.attachments.get` answer: its first
    /// [`HELD_PREFIX_BYTES`] go out at once, the rest only after [`BodyGate::open`]. A client
    /// that reads the first bytes of the attachment before opening the gate proves it streams.
    #[must_use]
    pub fn hold_next_attachment_body(&self) -> BodyGate {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        self.shared.lock().attachment_gate = Some(Arc::clone(&gate));
        BodyGate(gate)
    }
}

/// How much of a held attachment answer goes out before its gate opens (see
/// [`FakeGoogle::hold_next_attachment_body`]).
pub const HELD_PREFIX_BYTES: usize = 64 * 1024;

/// Releases a held answer (see [`FakeGoogle::hold_next_attachment_body`]).
#[derive(Debug, Clone)]
pub struct BodyGate(Arc<tokio::sync::Semaphore>);

impl BodyGate {
    /// Lets the rest of the answer go.
    pub fn open(&self) {
        self.0.add_permits(1);
    }

    /// Breaks the answer off instead: the connection closes before the rest.
    pub fn break_off(&self) {
        self.0.close();
    }
}
