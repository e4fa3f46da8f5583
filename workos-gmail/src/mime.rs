//! Building outbound RFC 5322 messages with `mail-builder`.
//!
//! The message carries `From` (the connected account), `To`, `Cc` and `Bcc`, `Subject`, a
//! `Message-ID` of our own (so it is known before Gmail answers), `In-Reply-To` and
//! `References` for replies, a text body, an HTML alternative and attachments.
//!
//! `Bcc` is written into the message on purpose: `messages.send` takes no envelope, and Gmail
//! delivers to the `To`, `Cc` and `Bcc` addresses of the raw message, removing `Bcc` from
//! the copies it delivers (the sender's `SENT` copy keeps it, as in every mail client).

use std::borrow::Cow;

use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::message_id::MessageId;
use workos_core::channel::OutboundEmail;
use workos_core::error::Validator;
use workos_core::{Error, Result};

/// The most a message may weigh (Gmail refuses more than 25 MB of attachments).
pub const MAX_MESSAGE_BYTES: usize = 25 * 1024 * 1024;
/// The most files one message carries.
pub const MAX_ATTACHMENTS: usize = 100;
/// The most recipients (To + Cc + Bcc) of one message (Gmail's own limit is 500 for
/// consumer accounts).
pub const MAX_RECIPIENTS: usize = 500;

/// A message ready for `messages.send`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BuiltMessage {
    /// The RFC 5322 bytes.
    pub raw: Vec<u8>,
    /// Its `Message-ID`, with angle brackets (`<…@…>`).
    pub message_id: String,
}

/// Removes CR and LF, which could otherwise start a header of the caller's choosing.
fn one_line(s: &str) -> Cow<'_, str> {
    if s.contains(['\r', '\n']) {
        Cow::Owned(
            s.split(['\r', '\n'])
                .filter(|part| !part.is_empty())
                .collect::<Vec<_>>()
                .join(" "),
        )
    } else {
        Cow::Borrowed(s)
    }
}

/// A `Message-ID`'s content without angle brackets or whitespace.
fn bare_message_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// A new `Message-ID` content (no brackets) in the domain of `from`.
#[must_use]
pub fn new_message_id(from: &str) -> String {
    let domain = from
        .rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('>'))
        .filter(|d| !d.is_empty())
        .unwrap_or("workos.invalid");
    format!("{}@{domain}", uuid::Uuid::now_v7().simple())
}

/// Checks what the types of [`OutboundEmail`] cannot.
///
/// # Errors
/// [`Error::Validation`] naming each bad field.
pub fn validate(email: &OutboundEmail) -> Result<()> {
    let mut v = Validator::new();
    let recipients = email.to.len() + email.cc.len() + email.bcc.len();
    v.require(
        recipients > 0,
        "to",
        "at least one recipient (to, cc or bcc)",
    );
    v.require(
        recipients <= MAX_RECIPIENTS,
        "to",
        &format!("at most {MAX_RECIPIENTS} recipients in all"),
    );
    v.require(
        email.subject.chars().count() <= 998,
        "subject",
        "must be at most 998 characters",
    );
    v.require(
        email.attachments.len() <= MAX_ATTACHMENTS,
        "attachments",
        &format!("at most {MAX_ATTACHMENTS} files"),
    );
    for (i, a) in email.attachments.iter().enumerate() {
        v.require(
            !a.filename.trim().is_empty() && a.filename.chars().count() <= 255,
            &format!("attachments[{i}].filename"),
            "must be 1-255 characters",
        );
        let content_type = a.content_type.to_ascii_lowercase();
        v.require(
            is_mime_type(&content_type),
            &format!("attachments[{i}].content_type"),
            "must be a MIME type such as application/pdf",
        );
        // A container type would need a structure of its own that the bytes do not have
        // (`multipart/*` boundaries; `message/*` may not be base64-encoded, RFC 2046 5.2.1).
        v.require(
            !content_type.starts_with("multipart/") && !content_type.starts_with("message/"),
            &format!("attachments[{i}].content_type"),
            "multipart/* and message/* cannot be attached as files; use application/octet-stream",
        );
    }
    let size: usize = email
        .attachments
        .iter()
        .map(|a| a.content.len())
        .sum::<usize>()
        + email.text.as_ref().map_or(0, String::len)
        + email.html.as_ref().map_or(0, String::len);
    v.require(
        size <= MAX_MESSAGE_BYTES,
        "attachments",
        "the message must be at most 25 MB",
    );
    if let Some(id) = &email.in_reply_to {
        let bare = bare_message_id(id);
        v.require(
            !bare.is_empty() && bare.len() <= 998 && !bare.contains(['<', '>']),
            "in_reply_to",
            "must be a Message-ID such as <abc@example.com>",
        );
    }
    if let Some(t) = &email.thread_id {
        v.require(
            !t.trim().is_empty() && t.len() <= 255,
            "thread_id",
            "must be 1-255 characters",
        );
    }
    v.finish().map_err(Error::Validation)
}

/// Whether `s` is a bare MIME type (`type/subtype`, RFC 2045 tokens, no parameters).
pub(crate) fn is_mime_type(s: &str) -> bool {
    let Some((top, sub)) = s.split_once('/') else {
        return false;
    };
    let token = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    // Parameters (`; charset=…`) are not accepted: the builder writes its own.
    token(top) && token(sub)
}

/// Builds the message `from` (the account's address) sends, with `message_id` (content
/// without brackets, see [`new_message_id`]).
///
/// # Errors
/// [`Error::Validation`] as [`validate`] says; [`Error::Internal`] if serialising fails.
pub fn build(from: &str, email: &OutboundEmail, message_id: &str) -> Result<BuiltMessage> {
    validate(email)?;
    let list = |addresses: &[workos_core::domain::EmailAddress]| {
        Address::new_list(
            addresses
                .iter()
                .map(|a| Address::from(a.as_ref().to_owned()))
                .collect(),
        )
    };
    let mut builder = MessageBuilder::new()
        .from(Address::from(from.to_owned()))
        .message_id(MessageId::new(message_id.to_owned()))
        .subject(one_line(&email.subject).into_owned());
    if !email.to.is_empty() {
        builder = builder.to(list(&email.to));
    }
    if !email.cc.is_empty() {
        builder = builder.cc(list(&email.cc));
    }
    if !email.bcc.is_empty() {
        builder = builder.bcc(list(&email.bcc));
    }
    if let Some(parent) = &email.in_reply_to {
        let parent = bare_message_id(parent);
        builder = builder
            .in_reply_to(MessageId::new(parent.clone()))
            .references(MessageId::new(parent));
    }
    match (&email.text, &email.html) {
        (None, None) => builder = builder.text_body(String::new()),
        (text, html) => {
            if let Some(text) = text {
                builder = builder.text_body(text.clone());
            }
            if let Some(html) = html {
                builder = builder.html_body(html.clone());
            }
        }
    }
    for a in &email.attachments {
        builder = builder.attachment(
            a.content_type.to_ascii_lowercase(),
            one_line(&a.filename).replace(['/', '\\'], "_"),
            a.content.clone(),
        );
    }
    let raw = builder
        .write_to_vec()
        .map_err(|e| Error::internal("building the message", e))?;
    Ok(BuiltMessage {
        raw,
        message_id: format!("<{message_id}>"),
    })
}

#[cfg(test)]
mod tests {
    use workos_core::channel::Attachment;
    use workos_core::domain::EmailAddress;
    use workos_core::ids::IntegrationId;

    use super::*;

    fn addr(s: &str) -> EmailAddress {
        EmailAddress::parse(s).unwrap()
    }

    fn email() -> OutboundEmail {
        OutboundEmail {
            integration_id: IntegrationId::new(),
            to: vec![addr("ada@example.com"), addr("bob@example.org")],
            cc: vec![addr("carol@example.net")],
            bcc: vec![addr("dan@example.com")],
            subject: "Quarterly numbers — Überblick\r\nBcc: evil@example.com".into(),
            text: Some("Hello Ada".into()),
            html: Some("<p>Hello <b>Ada</b></p>".into()),
            attachments: vec![Attachment {
                filename: "report.pdf".into(),
                content_type: "application/pdf".into(),
                content: b"%PDF-1.4 fake".to_vec(),
            }],
            in_reply_to: Some("<parent-1@example.com>".into()),
            thread_id: Some("t1".into()),
        }
    }

    #[test]
    fn builds_a_parseable_message() {
        let built = build("me@example.com", &email(), "m1@example.com").unwrap();
        assert_eq!(built.message_id, "<m1@example.com>");
        let parsed = mail_parser::MessageParser::default()
            .parse(&built.raw)
            .unwrap();
        assert_eq!(parsed.message_id(), Some("m1@example.com"));
        assert_eq!(
            parsed.subject(),
            Some("Quarterly numbers — Überblick Bcc: evil@example.com")
        );
        let to: Vec<_> = parsed
            .to()
            .unwrap()
            .iter()
            .filter_map(|a| a.address())
            .collect();
        assert_eq!(to, ["ada@example.com", "bob@example.org"]);
        let bcc: Vec<_> = parsed
            .bcc()
            .unwrap()
            .iter()
            .filter_map(|a| a.address())
            .collect();
        assert_eq!(bcc, ["dan@example.com"]);
        assert_eq!(parsed.in_reply_to().as_text(), Some("parent-1@example.com"));
        assert_eq!(parsed.body_text(0).as_deref(), Some("Hello Ada"));
        assert!(parsed.body_html(0).unwrap().contains("<b>Ada</b>"));
        assert_eq!(parsed.attachment_count(), 1);
        // The injected line stayed inside the subject.
        let raw = String::from_utf8_lossy(&built.raw);
        assert!(!raw.contains("\r\nBcc: evil"));
    }

    #[test]
    fn validation_names_fields() {
        let mut e = email();
        e.to.clear();
        e.cc.clear();
        e.bcc.clear();
        e.attachments[0].content_type = "pdf".into();
        e.in_reply_to = Some("<>".into());
        let Err(Error::Validation(v)) = build("me@example.com", &e, "x@y") else {
            panic!("expected validation")
        };
        let fields: Vec<_> = v.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["to", "attachments[0].content_type", "in_reply_to"]);
    }

    #[test]
    fn message_ids_use_the_sender_domain() {
        assert!(new_message_id("me@example.com").ends_with("@example.com"));
        assert!(new_message_id("nobody").ends_with("@workos.invalid"));
    }
}
