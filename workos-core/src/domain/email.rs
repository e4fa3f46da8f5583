//! The emails stored from connected accounts ([integrations](super::Integration)).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::integration::{check_object, empty_object};
use super::{Direction, EmailAddress, TimeRange, check_text};
use crate::error::{ValidationError, Validator};
use crate::ids::{EmailId, IntegrationId, InteractionId, OrgId, PersonId};

/// An email stored from a connected account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Email {
    /// Its id.
    pub id: EmailId,
    /// The org.
    pub org_id: OrgId,
    /// The account it was synced from or sent through.
    pub integration_id: IntegrationId,
    /// The provider's id (Gmail message id); unique per integration.
    pub provider_id: String,
    /// The provider's thread id.
    pub thread_id: Option<String>,
    /// The RFC 5322 `Message-ID` header.
    pub message_id: Option<String>,
    /// Inbound (received) or outbound (sent).
    pub direction: Direction,
    /// The `From` mailbox, as the provider gave it.
    pub from: String,
    /// The `To` mailboxes.
    pub to: Vec<String>,
    /// The `Cc` mailboxes.
    pub cc: Vec<String>,
    /// Subject line.
    pub subject: Option<String>,
    /// A short plain-text excerpt of the body.
    pub snippet: Option<String>,
    /// Selected headers, a JSON object. Its `attachments` lists the message's files, each
    /// `{"id", "filename", "content_type", "size"}`; the `id` (Gmail's MIME part id) is what
    /// `GET /api/v1/emails/{id}/attachments/{attachment_id}` takes.
    pub headers: serde_json::Value,
    /// The provider's labels (Gmail: `INBOX`, `UNREAD`, `STARRED`, …), kept current by the
    /// sync; sorted, without duplicates.
    #[serde(default)]
    pub labels: Vec<String>,
    /// The person on the other end, when known.
    pub person_id: Option<PersonId>,
    /// The timeline entry.
    pub interaction_id: Option<InteractionId>,
    /// When it was sent or received.
    pub occurred_at: DateTime<Utc>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// The most labels an email keeps.
pub const MAX_EMAIL_LABELS: usize = 100;

/// Checks a list of provider labels: at most [`MAX_EMAIL_LABELS`], each 1–255 characters.
fn check_labels(v: &mut Validator, field: &str, labels: &[String]) {
    v.require(
        labels.len() <= MAX_EMAIL_LABELS,
        field,
        "at most 100 labels",
    );
    for (i, l) in labels.iter().enumerate() {
        check_text(v, &format!("{field}[{i}]"), l, true, 255);
    }
}

/// Labels as stored: sorted, without duplicates.
#[must_use]
pub fn normalize_labels(labels: impl IntoIterator<Item = String>) -> Vec<String> {
    let set: std::collections::BTreeSet<String> = labels.into_iter().collect();
    set.into_iter().collect()
}

/// An email to store, as the sync (or the send path) read it from the provider.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewEmail {
    /// The account it belongs to.
    pub integration_id: IntegrationId,
    /// The provider's id (Gmail message id), 1–255 characters; the record is idempotent on
    /// (integration, provider id).
    pub provider_id: String,
    /// The provider's thread id, up to 255 characters.
    #[serde(default)]
    pub thread_id: Option<String>,
    /// The RFC 5322 `Message-ID` header, up to 1,000 characters.
    #[serde(default)]
    pub message_id: Option<String>,
    /// Inbound (received) or outbound (sent).
    pub direction: Direction,
    /// The `From` mailbox (`ada@example.com` or `Ada <ada@example.com>`), 1–1,000 characters.
    pub from: String,
    /// The `To` mailboxes; with `cc`, at most 1,000 entries of up to 1,000 characters each.
    #[serde(default)]
    pub to: Vec<String>,
    /// The `Cc` mailboxes.
    #[serde(default)]
    pub cc: Vec<String>,
    /// Subject line, up to 10,000 characters.
    #[serde(default)]
    pub subject: Option<String>,
    /// A short plain-text excerpt, up to 10,000 characters.
    #[serde(default)]
    pub snippet: Option<String>,
    /// Selected headers, a JSON object of at most 256 KiB (default `{}`).
    #[serde(default = "empty_object")]
    pub headers: serde_json::Value,
    /// The provider's labels, at most 100 of up to 255 characters each (stored sorted and
    /// without duplicates).
    #[serde(default)]
    pub labels: Vec<String>,
    /// When it was sent or received.
    pub occurred_at: DateTime<Utc>,
    /// The person on the other end, when the caller already knows it; otherwise the person is
    /// matched by the counterpart's address (inbound: `from`; outbound: the first `to`).
    #[serde(default)]
    pub person_id: Option<PersonId>,
    /// Whether to create a person for a counterpart address no person has.
    #[serde(default)]
    pub create_person: bool,
}

impl NewEmail {
    /// Checks what the types cannot.
    ///
    /// # Errors
    /// A [`ValidationError`] naming each invalid field.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut v = Validator::new();
        check_text(&mut v, "provider_id", &self.provider_id, true, 255);
        check_text(
            &mut v,
            "thread_id",
            self.thread_id.as_deref().unwrap_or(""),
            false,
            255,
        );
        check_text(
            &mut v,
            "message_id",
            self.message_id.as_deref().unwrap_or(""),
            false,
            1_000,
        );
        check_text(&mut v, "from", &self.from, true, 1_000);
        v.require(
            self.to.len() + self.cc.len() <= 1_000,
            "to",
            "at most 1000 recipients",
        );
        for (field, list) in [("to", &self.to), ("cc", &self.cc)] {
            for (i, a) in list.iter().enumerate() {
                check_text(&mut v, &format!("{field}[{i}]"), a, true, 1_000);
            }
        }
        check_text(
            &mut v,
            "subject",
            self.subject.as_deref().unwrap_or(""),
            false,
            10_000,
        );
        check_text(
            &mut v,
            "snippet",
            self.snippet.as_deref().unwrap_or(""),
            false,
            10_000,
        );
        check_object(&mut v, "headers", &self.headers, 256 * 1024);
        check_labels(&mut v, "labels", &self.labels);
        v.finish()
    }

    /// The counterpart's mailbox as given: `from` for inbound mail, the first `to` for
    /// outbound mail.
    #[must_use]
    pub fn counterpart(&self) -> Option<&str> {
        match self.direction {
            Direction::Inbound => Some(self.from.as_str()),
            Direction::Outbound => self.to.first().map(String::as_str),
        }
    }
}

/// The address of a mailbox written as `ada@example.com` or `Ada Lovelace <ada@example.com>`,
/// normalised; `None` when it holds no valid address.
#[must_use]
pub fn mailbox_address(mailbox: &str) -> Option<EmailAddress> {
    let s = mailbox.trim();
    let inner = match (s.rfind('<'), s.strip_suffix('>')) {
        (Some(start), Some(rest)) => &rest[start + 1..],
        _ => s,
    };
    EmailAddress::parse(inner).ok()
}

/// Narrows a list of emails.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EmailFilter {
    /// With this person.
    pub person_id: Option<PersonId>,
    /// This way.
    pub direction: Option<Direction>,
    /// In this provider thread.
    pub thread_id: Option<String>,
    /// Of this connected account.
    pub integration_id: Option<IntegrationId>,
    /// Happened within.
    pub occurred: TimeRange,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailboxes_yield_their_address() {
        let a = |s| mailbox_address(s).map(|a| a.as_ref().to_owned());
        assert_eq!(a("Ada@Example.com").as_deref(), Some("ada@example.com"));
        assert_eq!(
            a(" \"Lovelace, Ada\" <Ada@Example.com> ").as_deref(),
            Some("ada@example.com")
        );
        assert_eq!(a("Ada <nope>"), None);
        assert_eq!(a(""), None);
    }

    #[test]
    fn new_email_validation_names_fields() {
        let new = NewEmail {
            integration_id: IntegrationId::new(),
            provider_id: " ".into(),
            thread_id: None,
            message_id: None,
            direction: Direction::Outbound,
            from: "me@example.com".into(),
            to: vec![String::new()],
            cc: vec![],
            subject: None,
            snippet: None,
            headers: serde_json::Value::Null,
            labels: vec![],
            occurred_at: Utc::now(),
            person_id: None,
            create_person: false,
        };
        let err = new.validate().unwrap_err();
        let fields: Vec<_> = err.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["provider_id", "to[0]", "headers"]);
        assert_eq!(new.counterpart(), Some(""));
    }
}
