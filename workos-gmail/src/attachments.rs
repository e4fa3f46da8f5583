//! Downloading an email's attachment ([`Gmail::attachment`]): the stored email names its
//! attachments by Gmail's part id (`headers.attachments[].id`); the bytes stay at Gmail and
//! are fetched on demand with `users.messages.get` (`format=full`, which gives the part's
//! `attachmentId`) and `users.messages.attachments.get`.

use std::fmt;

use serde::Deserialize;
use workos_core::domain::Email;
use workos_core::ids::EmailId;
use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};

use crate::gmail::Gmail;
use crate::mime::is_mime_type;

/// The largest attachment [`Gmail::attachment`] serves (25 MiB, what Gmail lets a message
/// carry when it is sent). Bigger ones (Gmail receives messages of up to 50 MB) are refused
/// before their bytes are fetched; they stay readable in Gmail.
pub const MAX_ATTACHMENT_BYTES: usize = 25 * 1024 * 1024;

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

/// An entry of `headers.attachments`, as the sync and the sender store it.
#[derive(Deserialize)]
struct StoredAttachment {
    id: Option<String>,
    filename: Option<String>,
    content_type: Option<String>,
    size: Option<u64>,
}

fn stored_attachment(email: &Email, attachment_id: &str) -> Option<StoredAttachment> {
    email
        .headers
        .get("attachments")?
        .as_array()?
        .iter()
        .filter_map(|a| StoredAttachment::deserialize(a).ok())
        .find(|a| a.id.as_deref() == Some(attachment_id))
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
    /// The attachment `attachment_id` (its Gmail part id, `headers.attachments[].id`) of the
    /// stored email `email_id`, fetched from the Gmail account that synced or sent it
    /// (viewer role: the account's token is used on the engine's behalf and never leaves it).
    ///
    /// # Errors
    /// [`Error::NotFound`] (kind `email`) when the org has no such email, (kind `attachment`)
    /// when the email has no such attachment, (kind `gmail_message`) when the message is gone
    /// from Gmail; [`Error::Validation`] on `attachment_id` when it is over
    /// [`MAX_ATTACHMENT_BYTES`]; [`Error::Conflict`] when the account is disconnected; as
    /// [`Gmail::with_token`] otherwise.
    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id(), email_id = %email_id))]
    pub async fn attachment(
        &self,
        ctx: &TenantContext,
        email_id: EmailId,
        attachment_id: &str,
    ) -> Result<AttachmentContent> {
        ctx.authorize(Access::Read)?;
        let email = self.store().get_email(ctx, email_id).await?;
        let stored = stored_attachment(&email, attachment_id)
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
        let part = full
            .payload
            .find(attachment_id)
            .filter(|p| !p.filename.is_empty() || p.body.attachment_id.is_some())
            .ok_or_else(|| Error::not_found("attachment"))?;
        if part.body.size > limit {
            return Err(too_large(part.body.size));
        }
        let body = match part.body.attachment_id.as_deref() {
            Some(id) => {
                self.with_token(&engine, integration.id, |t| async move {
                    api.get_attachment(&t, message_id, id).await
                })
                .await?
            }
            None => part.body.clone(),
        };
        let bytes = body.decode()?;
        if bytes.len() as u64 > limit {
            return Err(too_large(bytes.len() as u64));
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
        Ok(AttachmentContent {
            filename,
            content_type,
            bytes,
        })
    }
}
