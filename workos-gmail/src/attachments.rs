//! Downloading an email's attachment ([`Gmail::attachment_stream`], [`Gmail::attachment`]): the
//! stored email lists its attachments in `headers.attachments`; the bytes stay at Gmail and are
//! fetched on demand with `users.messages.get` (`format=full`, which gives the part's
//! `attachmentId`) and `users.messages.attachments.get`, decoded as they arrive
//! ([`crate::api::stream`]), so a download holds one network chunk in memory, not the file.
//!
//! # Attachment ids
//!
//! An attachment's id ([`attachment_id`], [`AttachmentRef`]) is URL-safe and stays the same for
//! the message's life:
//!
//! - Gmail's MIME part id (`1`, `0.2`, …) for a part of a multipart message;
//! - `root` for a message whose whole body is the attachment (Gmail's part id `""`);
//! - `index-N` for the N-th entry (from 0) of `headers.attachments`, whatever it carries:
//!   the way to name the attachments of emails recorded before ids were stored (entries
//!   without `id`). Such an entry is found in the message's MIME tree on demand: the entries
//!   and the tree's attachment parts are matched in order, by file name (by MIME type for an
//!   entry without one). Nothing is written back; each download resolves it again (no extra
//!   Gmail call: the tree is read for every download anyway).

use std::fmt;

use futures_util::stream::{self, BoxStream, StreamExt as _, TryStreamExt as _};
use serde::Deserialize;
use workos_core::domain::Email;
use workos_core::ids::EmailId;
use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};

use crate::api::MessagePart;
use crate::gmail::Gmail;
use crate::mime::is_mime_type;

/// The largest attachment [`Gmail::attachment_stream`] serves (25 MiB, what Gmail lets a
/// message carry when it is sent). Bigger ones (Gmail receives messages of up to 50 MB) are
/// refused before their bytes are fetched; they stay readable in Gmail.
pub const MAX_ATTACHMENT_BYTES: usize = 25 * 1024 * 1024;

/// The id of the root part (Gmail's part id `""`: the whole message is the attachment).
pub const ROOT_ATTACHMENT_ID: &str = "root";

/// The prefix of a positional id (`index-0`: the first entry of `headers.attachments`).
pub const INDEX_PREFIX: &str = "index-";

/// The id an attachment with Gmail's MIME part id `part_id` is stored and downloaded under:
/// the part id itself, or [`ROOT_ATTACHMENT_ID`] for the root part (`""`).
#[must_use]
pub fn attachment_id(part_id: &str) -> String {
    if part_id.is_empty() {
        ROOT_ATTACHMENT_ID.to_owned()
    } else {
        part_id.to_owned()
    }
}

/// An attachment id as the download takes it (see the [module](self)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttachmentRef {
    /// Gmail's MIME part id (`""` for [`ROOT_ATTACHMENT_ID`]).
    Part(String),
    /// The entry of `headers.attachments` at this position.
    Index(usize),
}

impl AttachmentRef {
    /// Reads `id`; `None` when it cannot name an attachment.
    #[must_use]
    pub fn parse(id: &str) -> Option<Self> {
        if id == ROOT_ATTACHMENT_ID {
            return Some(Self::Part(String::new()));
        }
        if let Some(n) = id.strip_prefix(INDEX_PREFIX) {
            let digits = !n.is_empty() && n.len() <= 4 && n.bytes().all(|b| b.is_ascii_digit());
            return digits.then(|| n.parse().ok().map(Self::Index)).flatten();
        }
        let part = id.len() <= 64
            && id
                .split('.')
                .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        part.then(|| Self::Part(id.to_owned()))
    }
}

/// An attachment's bytes with its name and type.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AttachmentContent {
    /// The file name, when the message gave one.
    pub filename: Option<String>,
    /// The MIME type (`application/octet-stream` when the message gave none fit to serve).
    pub content_type: String,
    /// The decoded bytes.
    pub bytes: Vec<u8>,
}

impl fmt::Debug for AttachmentContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttachmentContent")
            .field("filename", &self.filename)
            .field("content_type", &self.content_type)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// An attachment on its way from Gmail: its name and type (known before any byte), its size
/// when Gmail told it, and the bytes as they are decoded. The stream fails (and ends) when
/// Gmail's answer breaks off, is not Gmail's, or does not come to `size`.
#[non_exhaustive]
pub struct AttachmentStream {
    /// The file name, when the message gave one.
    pub filename: Option<String>,
    /// The MIME type (`application/octet-stream` when the message gave none fit to serve).
    pub content_type: String,
    /// The decoded size in bytes, when Gmail gave it (the stream comes to exactly this).
    pub size: Option<u64>,
    /// The bytes, chunk by chunk.
    pub body: BoxStream<'static, Result<Vec<u8>>>,
}

impl fmt::Debug for AttachmentStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttachmentStream")
            .field("filename", &self.filename)
            .field("content_type", &self.content_type)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// An entry of `headers.attachments`, as the sync and the sender store it.
#[derive(Deserialize)]
struct StoredAttachment {
    id: Option<String>,
    filename: Option<String>,
    content_type: Option<String>,
    size: Option<u64>,
}

fn stored_attachments(email: &Email) -> Vec<StoredAttachment> {
    email
        .headers
        .get("attachments")
        .and_then(|a| a.as_array())
        .map(|list| {
            list.iter()
                .map(|a| {
                    StoredAttachment::deserialize(a).unwrap_or(StoredAttachment {
                        id: None,
                        filename: None,
                        content_type: None,
                        size: None,
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// What the download looks for in the message's tree.
enum Wanted {
    /// The part with this id.
    Part(String),
    /// The entry at this position, matched in order.
    Position(usize),
}

/// The stored entry `wanted` names, and how to find its part.
fn resolve(
    list: Vec<StoredAttachment>,
    wanted: &AttachmentRef,
) -> Option<(StoredAttachment, Wanted)> {
    match wanted {
        AttachmentRef::Index(n) => {
            let mut list = list;
            if *n >= list.len() {
                return None;
            }
            let entry = list.swap_remove(*n);
            let how = match entry.id.as_deref().and_then(AttachmentRef::parse) {
                Some(AttachmentRef::Part(p)) => Wanted::Part(p),
                _ if entry.id.as_deref() == Some("") => Wanted::Part(String::new()),
                _ => Wanted::Position(*n),
            };
            Some((entry, how))
        }
        AttachmentRef::Part(part) => {
            let entry = list.into_iter().find(|a| {
                // An entry stored before `root` existed carries the root's part id `""`.
                a.id.as_deref().is_some_and(|id| {
                    id == part.as_str() || (part.is_empty() && id == ROOT_ATTACHMENT_ID)
                })
            })?;
            Some((entry, Wanted::Part(part.clone())))
        }
    }
}

/// The parts that can be attachments, in the message's order (depth first).
fn attachment_parts(root: &MessagePart) -> Vec<&MessagePart> {
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(part) = stack.pop() {
        if part.parts.is_empty() && !part.mime_type.starts_with("multipart/") {
            if !part.filename.is_empty() || part.body.attachment_id.is_some() {
                out.push(part);
            }
        } else {
            stack.extend(part.parts.iter().rev());
        }
    }
    out
}

/// The part of the `position`-th entry of `list`: entries and attachment parts matched in
/// order, by file name, or by MIME type for an entry without one.
fn part_at<'a>(
    root: &'a MessagePart,
    list: &[StoredAttachment],
    position: usize,
) -> Option<&'a MessagePart> {
    let parts = attachment_parts(root);
    let mut cursor = 0;
    for (i, entry) in list.iter().enumerate() {
        let matches = |p: &&MessagePart| match entry.filename.as_deref() {
            Some(name) => p.filename == name,
            None => entry
                .content_type
                .as_deref()
                .is_some_and(|t| p.mime_type.eq_ignore_ascii_case(t)),
        };
        let found = parts[cursor.min(parts.len())..].iter().position(matches);
        match found {
            Some(offset) => {
                if i == position {
                    return Some(parts[cursor + offset]);
                }
                cursor += offset + 1;
            }
            None if i == position => return None,
            None => {}
        }
    }
    None
}

fn too_large(size: u64) -> Error {
    Error::invalid(
        "attachment_id",
        format!(
            "the attachment is {size} bytes; at most {MAX_ATTACHMENT_BYTES} bytes (25 MiB) are served, open larger ones in Gmail"
        ),
    )
}

impl Gmail {
    /// The attachment `attachment_id` (see the [module](self) for the ids) of the stored email
    /// `email_id`, streamed from the Gmail account that synced or sent it (viewer role: the
    /// account's token is used on the engine's behalf and never leaves it). Everything that
    /// can be refused is refused before the stream starts.
    ///
    /// # Errors
    /// [`Error::NotFound`] (kind `email`) when the org has no such email, (kind `attachment`)
    /// when the email has no such attachment, (kind `gmail_message`) when the message is gone
    /// from Gmail; [`Error::Validation`] on `attachment_id` when it is over
    /// [`MAX_ATTACHMENT_BYTES`]; [`Error::Conflict`] when the account is disconnected; as
    /// [`Gmail::with_token`] otherwise.
    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id(), email_id = %email_id))]
    pub async fn attachment_stream(
        &self,
        ctx: &TenantContext,
        email_id: EmailId,
        attachment_id: &str,
    ) -> Result<AttachmentStream> {
        ctx.authorize(Access::Read)?;
        let wanted =
            AttachmentRef::parse(attachment_id).ok_or_else(|| Error::not_found("attachment"))?;
        let email = self.store().get_email(ctx, email_id).await?;
        let list = stored_attachments(&email);
        let (stored, how) = resolve(stored_attachments(&email), &wanted)
            .ok_or_else(|| Error::not_found("attachment"))?;
        let limit = MAX_ATTACHMENT_BYTES as u64;
        if let Some(size) = stored.size.filter(|s| *s > limit) {
            return Err(too_large(size));
        }
        let integration = self.usable_integration(ctx, email.integration_id).await?;
        // Reading the token refreshes it when due, a write a viewer may not make itself.
        let mut engine = TenantContext::system(ctx.org_id(), "gmail.attachment");
        if let Some(request_id) = ctx.request_id() {
            engine = engine.with_request_id(request_id);
        }
        let api = self.api();
        let message_id = email.provider_id.as_str();
        let full = self
            .with_token(&engine, integration.id, |t| async move {
                api.get_full(&t, message_id).await
            })
            .await?;
        let part = match how {
            Wanted::Part(id) => full.payload.find(&id),
            Wanted::Position(n) => part_at(&full.payload, &list, n),
        }
        .filter(|p| !p.filename.is_empty() || p.body.attachment_id.is_some())
        .ok_or_else(|| Error::not_found("attachment"))?;
        if part.body.size > limit {
            return Err(too_large(part.body.size));
        }
        let content_type = [
            stored.content_type.as_deref(),
            Some(part.mime_type.as_str()),
        ]
        .into_iter()
        .flatten()
        .map(str::to_ascii_lowercase)
        .find(|t| is_mime_type(t) && !t.starts_with("multipart/"))
        .unwrap_or_else(|| "application/octet-stream".to_owned());
        let filename = stored
            .filename
            .or_else(|| (!part.filename.is_empty()).then(|| part.filename.clone()));
        let (size, body) = match part.body.attachment_id.clone() {
            Some(id) => {
                // Gmail gives every part its size; a missing one (0) is not trusted as such.
                let size = Some(part.body.size).filter(|s| *s > 0);
                let body = self
                    .with_token(&engine, integration.id, |t| {
                        let id = id.clone();
                        async move { api.attachment_body(&t, message_id, &id, limit, size).await }
                    })
                    .await?;
                (size, body)
            }
            None => {
                let bytes = part.body.decode()?;
                if bytes.len() as u64 > limit {
                    return Err(too_large(bytes.len() as u64));
                }
                let size = Some(bytes.len() as u64);
                (size, stream::once(async move { Ok(bytes) }).boxed())
            }
        };
        Ok(AttachmentStream {
            filename,
            content_type,
            size,
            body,
        })
    }

    /// [`Gmail::attachment_stream`], collected: the whole file in memory.
    ///
    /// # Errors
    /// As [`Gmail::attachment_stream`], and the stream's error when the download breaks off.
    pub async fn attachment(
        &self,
        ctx: &TenantContext,
        email_id: EmailId,
        attachment_id: &str,
    ) -> Result<AttachmentContent> {
        let file = self.attachment_stream(ctx, email_id, attachment_id).await?;
        let capacity = usize::try_from(file.size.unwrap_or(0)).unwrap_or(0);
        let bytes = file
            .body
            .try_fold(Vec::with_capacity(capacity), |mut all, chunk| async move {
                all.extend_from_slice(&chunk);
                Ok(all)
            })
            .await?;
        Ok(AttachmentContent {
            filename: file.filename,
            content_type: file.content_type,
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: Option<&str>, filename: Option<&str>, content_type: &str) -> StoredAttachment {
        StoredAttachment {
            id: id.map(str::to_owned),
            filename: filename.map(str::to_owned),
            content_type: Some(content_type.to_owned()),
            size: None,
        }
    }

    #[test]
    fn ids_resolve_to_entries() {
        let root = |list| resolve(list, &AttachmentRef::Part(String::new()));
        // `root`, and the `""` an entry stored before `root` existed carries.
        for stored in ["root", ""] {
            let (e, how) =
                root(vec![entry(Some(stored), Some("a.pdf"), "application/pdf")]).expect("found");
            assert_eq!(e.filename.as_deref(), Some("a.pdf"));
            assert!(matches!(how, Wanted::Part(p) if p.is_empty()));
        }
        let list = || {
            vec![
                entry(Some("1"), Some("a.pdf"), "application/pdf"),
                entry(None, Some("b.png"), "image/png"),
            ]
        };
        assert!(matches!(
            resolve(list(), &AttachmentRef::Index(0)),
            Some((_, Wanted::Part(p))) if p == "1"
        ));
        assert!(matches!(
            resolve(list(), &AttachmentRef::Index(1)),
            Some((_, Wanted::Position(1)))
        ));
        assert!(resolve(list(), &AttachmentRef::Index(2)).is_none());
        assert!(resolve(list(), &AttachmentRef::Part("2".into())).is_none());
        assert_eq!(attachment_id(""), "root");
        assert_eq!(attachment_id("0.1"), "0.1");
    }

    #[test]
    fn positions_match_parts_in_order() {
        let tree: MessagePart = serde_json::from_value(serde_json::json!({
            "partId": "", "mimeType": "multipart/mixed", "parts": [
                {"partId": "0", "mimeType": "text/plain", "body": {"size": 2, "data": "aGk"}},
                {"partId": "1", "mimeType": "image/png", "filename": "x.png", "body": {"size": 3, "attachmentId": "A"}},
                {"partId": "2", "mimeType": "multipart/mixed", "parts": [
                    {"partId": "2.0", "mimeType": "image/png", "body": {"size": 3, "attachmentId": "B"}},
                    {"partId": "2.1", "mimeType": "text/csv", "filename": "y.csv", "body": {"size": 3, "attachmentId": "C"}}
                ]}
            ]
        }))
        .unwrap();
        let list = vec![
            entry(None, Some("x.png"), "image/png"),
            entry(None, None, "image/png"),
            entry(None, Some("gone.txt"), "text/plain"),
            entry(None, Some("y.csv"), "text/csv"),
        ];
        let at = |n| part_at(&tree, &list, n).map(|p| p.part_id.clone());
        assert_eq!(at(0).as_deref(), Some("1"));
        assert_eq!(at(1).as_deref(), Some("2.0"));
        assert_eq!(at(2), None, "no such part");
        assert_eq!(at(3).as_deref(), Some("2.1"));
        assert_eq!(at(4), None);
    }
}
