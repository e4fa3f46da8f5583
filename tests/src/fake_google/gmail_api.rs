//! The Gmail API endpoints of the fake: profile, messages (list, get), history and send (the
//! attachment routes and the upload endpoint are in `attachments`), and [`SentMessage`], what
//! a send records.

use super::*;

/// A message the fake sent (see [`FakeGoogle::sent`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SentMessage {
    /// The new message's id.
    pub id: String,
    /// Its thread.
    pub thread_id: String,
    /// The `threadId` the request asked for.
    pub requested_thread_id: Option<String>,
    /// The RFC 5322 bytes as received (base64url-decoded).
    pub raw: Vec<u8>,
    /// What the recipients get: the message without its `Bcc` header, as Gmail delivers it.
    pub delivered: Vec<u8>,
    /// Every address it went to (`To`, `Cc` and `Bcc`).
    pub envelope_to: Vec<String>,
    /// Whether it came through the upload endpoint (`/upload/…/messages/send`) rather than
    /// as `raw` in JSON.
    pub uploaded: bool,
    /// Whether it came through a resumable upload session (`uploadType=resumable`).
    pub resumable: bool,
}

impl SentMessage {
    /// The unfolded values of header `name` in the message as received.
    #[must_use]
    pub fn header(&self, name: &str) -> Vec<String> {
        header_values(&self.raw, name)
    }
}

pub(super) fn visible(msg: &StoredMessage) -> bool {
    !msg.deleted && !msg.labels.iter().any(|l| l == "SPAM" || l == "TRASH")
}

pub(super) fn profile(m: &Mailbox) -> Response {
    let live: Vec<&StoredMessage> = m.messages.iter().filter(|x| !x.deleted).collect();
    let mut threads: Vec<&str> = live.iter().map(|x| x.thread_id.as_str()).collect();
    threads.sort_unstable();
    threads.dedup();
    axum::Json(json!({
        "emailAddress": m.account,
        "messagesTotal": live.len(),
        "threadsTotal": threads.len(),
        "historyId": m.history_id.to_string(),
    }))
    .into_response()
}

pub(super) fn page_size(query: &[(String, String)]) -> usize {
    first(query, "maxResults")
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(1, 500)
}

pub(super) fn list_messages(m: &Mailbox, query: &[(String, String)]) -> Response {
    let max = page_size(query);
    let newer_than = first(query, "q").and_then(|q| {
        q.split_whitespace().find_map(|term| {
            let days = term.strip_prefix("newer_than:")?.strip_suffix('d')?;
            days.parse::<i64>().ok()
        })
    });
    let cutoff = newer_than.map(|d| Utc::now() - chrono::Duration::days(d));
    // Page tokens name the position (index in the mailbox) to continue below.
    let below = match first(query, "pageToken") {
        None => m.messages.len(),
        Some(t) => match t.strip_prefix("p").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) if n <= m.messages.len() => n,
            _ => {
                return google_error(
                    StatusCode::BAD_REQUEST,
                    "Invalid pageToken",
                    "invalidArgument",
                );
            }
        },
    };
    let matching: Vec<(usize, &StoredMessage)> = m.messages[..below]
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, x)| visible(x) && cutoff.is_none_or(|c| x.internal_date >= c))
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .take(max)
        .map(|(_, x)| json!({"id": x.id, "threadId": x.thread_id}))
        .collect();
    let mut body = json!({"resultSizeEstimate": matching.len()});
    if !page.is_empty() {
        body["messages"] = Value::Array(page);
    }
    if matching.len() > max {
        body["nextPageToken"] = json!(format!("p{}", matching[max - 1].0));
    }
    axum::Json(body).into_response()
}

pub(super) fn get_message(m: &Mailbox, id: &str, query: &[(String, String)]) -> Response {
    let Some(msg) = m
        .messages
        .iter()
        .find(|x| x.id == id && !x.deleted && !x.unavailable)
    else {
        return not_found();
    };
    let text = String::from_utf8_lossy(&msg.raw);
    let body_start = text
        .find("\r\n\r\n")
        .map(|i| i + 4)
        .or_else(|| text.find("\n\n").map(|i| i + 2))
        .unwrap_or(text.len());
    let snippet: String = text[body_start..]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(100)
        .collect();
    let mut body = json!({
        "id": msg.id,
        "threadId": msg.thread_id,
        "labelIds": msg.labels,
        "snippet": snippet.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('\'', "&#39;"),
        "sizeEstimate": msg.raw.len(),
        "historyId": msg.history_id.to_string(),
        "internalDate": msg.internal_date.timestamp_millis().to_string(),
    });
    match first(query, "format").unwrap_or("full") {
        "raw" => body["raw"] = json!(URL_SAFE.encode(&msg.raw)),
        "minimal" => {}
        _ => body["payload"] = super::attachments::payload(&msg.id, &msg.raw),
    }
    axum::Json(body).into_response()
}

pub(super) fn list_history(m: &Mailbox, query: &[(String, String)]) -> Response {
    let Some(start) = first(query, "startHistoryId").and_then(|s| s.parse::<u64>().ok()) else {
        return google_error(
            StatusCode::BAD_REQUEST,
            "Invalid startHistoryId",
            "invalidArgument",
        );
    };
    if start < m.min_history_id || start > m.history_id {
        return not_found();
    }
    let types: Vec<&str> = query
        .iter()
        .filter(|(k, _)| k == "historyTypes")
        .map(|(_, v)| v.as_str())
        .collect();
    let wanted = |c: &Change| {
        let name = match c {
            Change::Added => "messageAdded",
            Change::Deleted => "messageDeleted",
            Change::LabelsAdded(_) => "labelAdded",
            Change::LabelsRemoved(_) => "labelRemoved",
        };
        types.is_empty() || types.contains(&name)
    };
    let records: Vec<&HistoryEntry> = m
        .history
        .iter()
        .filter(|h| h.id > start && wanted(&h.change))
        .collect();
    let offset = match first(query, "pageToken") {
        None => 0,
        Some(t) => match t.strip_prefix("h").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) if n <= records.len() => n,
            _ => {
                return google_error(
                    StatusCode::BAD_REQUEST,
                    "Invalid pageToken",
                    "invalidArgument",
                );
            }
        },
    };
    let max = page_size(query);
    let page: Vec<Value> = records[offset..]
        .iter()
        .take(max)
        .map(|h| {
            let message =
                json!({"id": h.message_id, "threadId": h.thread_id, "labelIds": h.labels});
            let (key, change) = match &h.change {
                Change::Added => ("messagesAdded", json!({"message": message})),
                Change::Deleted => ("messagesDeleted", json!({"message": message})),
                Change::LabelsAdded(l) => {
                    ("labelsAdded", json!({"message": message, "labelIds": l}))
                }
                Change::LabelsRemoved(l) => {
                    ("labelsRemoved", json!({"message": message, "labelIds": l}))
                }
            };
            json!({
                "id": h.id.to_string(),
                "messages": [{"id": h.message_id, "threadId": h.thread_id}],
                key: [change],
            })
        })
        .collect();
    let mut body = json!({"historyId": m.history_id.to_string()});
    if !page.is_empty() {
        body["history"] = Value::Array(page);
    }
    if records.len() > offset + max {
        body["nextPageToken"] = json!(format!("h{}", offset + max));
    }
    axum::Json(body).into_response()
}

pub(super) fn send(m: &mut Mailbox, body: &[u8]) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return google_error(
            StatusCode::BAD_REQUEST,
            "Invalid JSON payload received.",
            "parseError",
        );
    };
    let Some(encoded) = request.get("raw").and_then(Value::as_str) else {
        return google_error(
            StatusCode::BAD_REQUEST,
            "'raw' RFC822 payload message string or uploading message via /upload/* URL required",
            "invalidArgument",
        );
    };
    let trimmed = encoded.trim_end_matches('=');
    let Ok(raw) = URL_SAFE_NO_PAD.decode(trimmed) else {
        return google_error(
            StatusCode::BAD_REQUEST,
            "Invalid value for ByteString",
            "invalidArgument",
        );
    };
    let requested_thread_id = request
        .get("threadId")
        .and_then(Value::as_str)
        .map(str::to_owned);
    deliver(m, raw, requested_thread_id, false)
}

/// Sends `raw` (either endpoint): checks its recipients as Gmail does, adds it to the
/// mailbox as `SENT` and records it in [`FakeGoogle::sent`].
pub(super) fn deliver(
    m: &mut Mailbox,
    raw: Vec<u8>,
    requested_thread_id: Option<String>,
    uploaded: bool,
) -> Response {
    let mut envelope = Vec::new();
    for (name, message) in [
        ("To", "Invalid To header"),
        ("Cc", "Invalid Cc header"),
        ("Bcc", "Invalid Bcc header"),
    ] {
        for value in header_values(&raw, name) {
            for a in addresses(&value) {
                if !is_address(&a) {
                    return google_error(StatusCode::BAD_REQUEST, message, "invalidArgument");
                }
                envelope.push(a.to_lowercase());
            }
        }
    }
    if envelope.is_empty() {
        return google_error(
            StatusCode::BAD_REQUEST,
            "Recipient address required",
            "invalidArgument",
        );
    }
    let id = insert_message(
        m,
        raw.clone(),
        vec!["SENT".to_owned()],
        Utc::now(),
        requested_thread_id.clone(),
    );
    let thread_id = m
        .messages
        .last()
        .map(|x| x.thread_id.clone())
        .unwrap_or_default();
    m.sent.push(SentMessage {
        id: id.clone(),
        thread_id: thread_id.clone(),
        requested_thread_id,
        delivered: without_header(&raw, "Bcc"),
        raw,
        envelope_to: envelope,
        uploaded,
        resumable: false,
    });
    axum::Json(json!({"id": id, "threadId": thread_id, "labelIds": ["SENT"]})).into_response()
}
