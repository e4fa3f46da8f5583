//! Attachments and large messages: `users.messages.get` with `format=full` (the MIME tree,
//! with each part's `partId` and `body.attachmentId`), `users.messages.attachments.get`, and
//! `users.messages.send` through Gmail's upload endpoint.
//!
//! [`GmailApi::send_upload`] is Google's multipart upload (`uploadType=multipart`): one
//! `multipart/related` request whose first part is the JSON metadata (`{"threadId": …}`) and
//! whose second is the message itself as `message/rfc822`, the raw bytes without base64. The
//! engine itself sends large messages with the resumable upload instead
//! ([`super::resumable`]), which survives a failed chunk; both take up to 35 MB, against the
//! few megabytes a `raw` string in JSON is meant for. The engine caps a message at
//! [`crate::mime::MAX_MESSAGE_BYTES`] (Gmail refuses more than 25 MB of attachments).

use std::fmt;

use serde::Deserialize;
use workos_core::{Error, Result};

use super::encoding::path_segment;
use super::{Attempt, GmailApi, Method, SentMessage, attempt, decode_base64url, json};

/// Messages up to this size go to `messages.send` as base64url in JSON; larger ones through
/// the resumable upload. Google advises its simple requests for up to about 5 MB.
pub const SIMPLE_SEND_MAX_BYTES: usize = 5 * 1024 * 1024;

/// `users.messages.get` with `format=full`: the message's MIME tree.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct FullMessage {
    /// The message id.
    pub id: String,
    /// Its thread.
    #[serde(default)]
    pub thread_id: Option<String>,
    /// The root part.
    pub payload: MessagePart,
}

/// One MIME part of a [`FullMessage`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct MessagePart {
    /// Gmail's part id: `""` for the root, `"0"`, `"1"`, … for its children, `"0.1"` below.
    #[serde(default)]
    pub part_id: String,
    /// The part's MIME type.
    #[serde(default)]
    pub mime_type: String,
    /// The file name, when the part is an attachment (empty otherwise).
    #[serde(default)]
    pub filename: String,
    /// The part's headers.
    #[serde(default)]
    pub headers: Vec<PartHeader>,
    /// The body, or where to fetch it.
    #[serde(default)]
    pub body: MessagePartBody,
    /// The children of a multipart part.
    #[serde(default)]
    pub parts: Vec<MessagePart>,
}

impl MessagePart {
    /// The part with `part_id` in this tree.
    #[must_use]
    pub fn find(&self, part_id: &str) -> Option<&Self> {
        let mut stack = vec![self];
        while let Some(part) = stack.pop() {
            if part.part_id == part_id {
                return Some(part);
            }
            stack.extend(part.parts.iter());
        }
        None
    }
}

/// A header of a [`MessagePart`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct PartHeader {
    /// The header's name.
    pub name: String,
    /// Its value.
    #[serde(default)]
    pub value: String,
}

/// A part's body (`MessagePartBody`), also what `users.messages.attachments.get` answers.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct MessagePartBody {
    /// Set when the bytes must be fetched with `messages.attachments.get`. Gmail issues a
    /// new one on every read; each works.
    #[serde(default)]
    pub attachment_id: Option<String>,
    /// The decoded size in bytes.
    #[serde(default)]
    pub size: u64,
    /// The bytes in base64url, when given inline.
    #[serde(default)]
    pub data: Option<String>,
}

impl fmt::Debug for MessagePartBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessagePartBody")
            .field("attachment_id", &self.attachment_id.is_some())
            .field("size", &self.size)
            .field("data_len", &self.data.as_ref().map(String::len))
            .finish()
    }
}

impl MessagePartBody {
    /// The bytes of `data` (empty when there is none).
    ///
    /// # Errors
    /// [`Error::Provider`] when `data` is not base64url.
    pub fn decode(&self) -> Result<Vec<u8>> {
        self.data
            .as_deref()
            .map_or_else(|| Ok(Vec::new()), decode_base64url)
    }
}

impl GmailApi {
    /// `users.messages.get` with `format=full`.
    ///
    /// # Errors
    /// [`Error::NotFound`] (kind `gmail_message`) when the message is gone; otherwise as the
    /// [module](super) says.
    pub async fn get_full(&self, token: &str, id: &str) -> Result<FullMessage> {
        let url = self.url(&format!("messages/{}", path_segment(id)));
        let response = self
            .get(
                Method::MessagesGet,
                token,
                &url,
                &[("format", "full".to_owned())],
            )
            .await
            .map_err(gone("gmail_message"))?;
        json(response).await
    }

    /// `users.messages.attachments.get`: the bytes of an attachment of message `id`.
    ///
    /// # Errors
    /// [`Error::NotFound`] (kind `attachment`) when Gmail has no such attachment; otherwise
    /// as the [module](super) says.
    pub async fn get_attachment(
        &self,
        token: &str,
        id: &str,
        attachment_id: &str,
    ) -> Result<MessagePartBody> {
        let url = self.url(&format!(
            "messages/{}/attachments/{}",
            path_segment(id),
            path_segment(attachment_id)
        ));
        let response = self
            .get(Method::AttachmentsGet, token, &url, &[])
            .await
            .map_err(gone("attachment"))?;
        json(response).await
    }

    /// `users.messages.send` through the upload endpoint (`uploadType=multipart`): the
    /// message as `message/rfc822` after a JSON part with `threadId`. Never retried.
    ///
    /// # Errors
    /// As the [module](super) says.
    pub async fn send_upload(
        &self,
        token: &str,
        raw: &[u8],
        thread_id: Option<&str>,
    ) -> Result<SentMessage> {
        let metadata = match thread_id {
            Some(t) => serde_json::json!({ "threadId": t }),
            None => serde_json::json!({}),
        };
        let (content_type, body) = related_body(&metadata.to_string(), raw);
        self.count(Method::MessagesSend);
        let request = self
            .http
            .post(format!(
                "{}/upload/gmail/v1/users/me/messages/send",
                self.base_url
            ))
            .query(&[("uploadType", "multipart")])
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
        match attempt(request).await {
            Attempt::Ok(response) => json(response).await,
            Attempt::Failed { error, .. } => Err(error),
        }
    }
}

/// A `404` as [`Error::NotFound`] of `kind`.
pub(super) fn gone(kind: &'static str) -> impl Fn(Error) -> Error {
    move |e| match e {
        Error::Provider {
            status: Some(404), ..
        } => Error::not_found(kind),
        e => e,
    }
}

/// The `Content-Type` and body of a `multipart/related` upload of `metadata` (JSON) and the
/// message `raw`, with a boundary that occurs in neither.
fn related_body(metadata: &str, raw: &[u8]) -> (String, Vec<u8>) {
    let boundary = loop {
        let candidate = format!("workos_{}", uuid::Uuid::now_v7().simple());
        let needle = candidate.as_bytes();
        if !raw.windows(needle.len()).any(|w| w == needle) {
            break candidate;
        }
    };
    let mut body = Vec::with_capacity(raw.len() + metadata.len() + 256);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{metadata}\r\n--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(raw);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/related; boundary={boundary}"), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn related_body_frames_the_message() {
        let raw = b"Subject: hi\r\n\r\nbody --not-a-boundary\r\n";
        let (content_type, body) = related_body(r#"{"threadId":"t1"}"#, raw);
        let boundary = content_type
            .strip_prefix("multipart/related; boundary=")
            .unwrap();
        let text = String::from_utf8(body).unwrap();
        let parts: Vec<&str> = text.split(&format!("--{boundary}")).collect();
        assert_eq!(parts.len(), 4, "{text}");
        assert_eq!(
            parts[1],
            "\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{\"threadId\":\"t1\"}\r\n"
        );
        assert_eq!(
            parts[2],
            "\r\nContent-Type: message/rfc822\r\n\r\nSubject: hi\r\n\r\nbody --not-a-boundary\r\n\r\n"
        );
        assert_eq!(parts[3], "--\r\n");
    }

    #[test]
    fn parts_are_found_by_id() {
        let tree: MessagePart = serde_json::from_value(serde_json::json!({
            "partId": "", "mimeType": "multipart/mixed", "body": {"size": 0},
            "parts": [
                {"partId": "0", "mimeType": "multipart/alternative", "parts": [
                    {"partId": "0.0", "mimeType": "text/plain", "body": {"size": 2, "data": "aGk"}}
                ]},
                {"partId": "1", "mimeType": "application/pdf", "filename": "a.pdf",
                 "body": {"size": 3, "attachmentId": "ANGj"}}
            ]
        }))
        .unwrap();
        assert_eq!(tree.find("0.0").unwrap().body.decode().unwrap(), b"hi");
        let pdf = tree.find("1").unwrap();
        assert_eq!(pdf.filename, "a.pdf");
        assert_eq!(pdf.body.attachment_id.as_deref(), Some("ANGj"));
        assert!(tree.find("2").is_none());
        assert!(!format!("{:?}", tree.find("0.0").unwrap().body).contains("aGk"));
    }
}
