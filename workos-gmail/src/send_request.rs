//! [`SendEmailRequest`]: a send as a client writes it (addresses as text, files as base64),
//! turned into a [`SendEmail`] by `TryFrom`, each error naming its field (`to[1]`,
//! `attachments[0].content`, …). A server deserialises it from its request body; files that
//! arrive otherwise (multipart parts) are added to the result's `attachments`.

use base64::Engine as _;
use serde::Deserialize;
use workos_core::channel::Attachment;
use workos_core::domain::EmailAddress;
use workos_core::ids::{EmailId, IntegrationId};
use workos_core::{Error, Result};

use crate::SendEmail;

/// The most the base64 files of one [`SendEmailRequest`] may weigh in all, decoded (5 MiB).
/// Larger files belong in a body that carries them as bytes (up to
/// [`crate::mime::MAX_MESSAGE_BYTES`] per message).
pub const MAX_BASE64_ATTACHMENT_BYTES: usize = 5 << 20;

/// An email to send from a connected Gmail account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(as = SendEmailBody)
)]
#[serde(deny_unknown_fields)]
pub struct SendEmailRequest {
    /// Recipients (at least one).
    #[serde(default)]
    pub to: Vec<String>,
    /// Copy recipients.
    #[serde(default)]
    pub cc: Vec<String>,
    /// Blind copy recipients.
    #[serde(default)]
    pub bcc: Vec<String>,
    /// Subject line.
    #[serde(default)]
    pub subject: String,
    /// Plain-text body.
    #[serde(default)]
    pub text: Option<String>,
    /// HTML body.
    #[serde(default)]
    pub html: Option<String>,
    /// Files, base64-encoded (at most 5 MiB decoded in all; send larger ones as
    /// `multipart/form-data`).
    #[serde(default)]
    pub attachments: Vec<Base64Attachment>,
    /// A stored email to reply to: same account (by default), same thread, `In-Reply-To`.
    #[serde(default)]
    pub reply_to_email_id: Option<EmailId>,
    /// The account to send from (default: the replied-to email's, or the org's active Gmail
    /// account).
    #[serde(default)]
    pub integration_id: Option<IntegrationId>,
}

/// A file sent as base64 in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(as = AttachmentBody)
)]
#[serde(deny_unknown_fields)]
pub struct Base64Attachment {
    /// The name shown to recipients, 1–255 characters.
    pub filename: String,
    /// Its MIME type, e.g. `application/pdf` (no parameters; not `multipart/*` or
    /// `message/*`).
    pub content_type: String,
    /// The bytes in standard base64 (RFC 4648 §4, padded).
    pub content: String,
}

impl TryFrom<SendEmailRequest> for SendEmail {
    type Error = Error;

    /// Decodes the files, then parses the addresses; no `deadline` (the caller sets its own).
    ///
    /// # Errors
    /// [`Error::Validation`] naming the first bad field: `attachments[i].content` (not
    /// base64), `attachments` (over [`MAX_BASE64_ATTACHMENT_BYTES`] decoded), `to[i]`, `cc[i]`
    /// or `bcc[i]` (not an email address). The rest of the message (at least one recipient,
    /// file names and types, size) is checked when it is sent.
    fn try_from(request: SendEmailRequest) -> Result<Self> {
        let attachments = decode_attachments(request.attachments)?;
        Ok(Self {
            to: addresses("to", &request.to)?,
            cc: addresses("cc", &request.cc)?,
            bcc: addresses("bcc", &request.bcc)?,
            subject: request.subject,
            text: request.text,
            html: request.html,
            attachments,
            reply_to_email_id: request.reply_to_email_id,
            integration_id: request.integration_id,
            deadline: None,
        })
    }
}

/// The addresses of `field`, each named by its index when it is not one.
fn addresses(field: &str, values: &[String]) -> Result<Vec<EmailAddress>> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            EmailAddress::parse(v.trim())
                .map_err(|_| Error::invalid(format!("{field}[{i}]"), "is not an email address"))
        })
        .collect()
}

/// The base64 files, decoded, within [`MAX_BASE64_ATTACHMENT_BYTES`] in all.
fn decode_attachments(list: Vec<Base64Attachment>) -> Result<Vec<Attachment>> {
    let mut total = 0usize;
    let mut out = Vec::with_capacity(list.len());
    for (i, a) in list.into_iter().enumerate() {
        let content = base64::engine::general_purpose::STANDARD
            .decode(a.content.trim())
            .map_err(|_| Error::invalid(format!("attachments[{i}].content"), "is not base64"))?;
        total += content.len();
        if total > MAX_BASE64_ATTACHMENT_BYTES {
            return Err(Error::invalid(
                "attachments",
                "base64 files in JSON are limited to 5 MiB in all; send larger ones as multipart/form-data",
            ));
        }
        out.push(Attachment {
            filename: a.filename,
            content_type: a.content_type,
            content,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(e: Error) -> String {
        match e {
            Error::Validation(v) => v.errors[0].field.clone(),
            other => panic!("not a validation error: {other}"),
        }
    }

    #[test]
    fn a_request_becomes_a_send_naming_each_bad_field() {
        let request: SendEmailRequest = serde_json::from_value(serde_json::json!({
            "to": [" a@example.com "], "cc": ["b@example.com"], "subject": "Hi", "text": "Hello",
            "attachments": [{"filename": "a.txt", "content_type": "text/plain", "content": "aGk="}]
        }))
        .unwrap();
        let send = SendEmail::try_from(request.clone()).unwrap();
        assert_eq!(send.to[0].as_ref(), "a@example.com");
        assert_eq!(send.attachments[0].content, b"hi");
        assert_eq!(send.deadline, None);

        let mut bad = request.clone();
        bad.bcc = vec!["ok@example.com".into(), "nope".into()];
        assert_eq!(field(SendEmail::try_from(bad).unwrap_err()), "bcc[1]");
        let mut bad = request.clone();
        bad.attachments[0].content = "not base64!".into();
        bad.to = vec!["nope".into()];
        // Files are checked first.
        assert_eq!(
            field(SendEmail::try_from(bad).unwrap_err()),
            "attachments[0].content"
        );
    }

    #[test]
    fn base64_files_are_capped_in_all_decoded() {
        let file = |bytes: usize| Base64Attachment {
            filename: "f.bin".into(),
            content_type: "application/octet-stream".into(),
            content: base64::engine::general_purpose::STANDARD.encode(vec![0u8; bytes]),
        };
        let at_cap = SendEmailRequest {
            attachments: vec![file(MAX_BASE64_ATTACHMENT_BYTES - 1), file(1)],
            ..SendEmailRequest::default()
        };
        assert!(SendEmail::try_from(at_cap).is_ok());
        let over = SendEmailRequest {
            attachments: vec![file(MAX_BASE64_ATTACHMENT_BYTES), file(1)],
            ..SendEmailRequest::default()
        };
        assert_eq!(field(SendEmail::try_from(over).unwrap_err()), "attachments");
    }
}
