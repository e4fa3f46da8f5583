//! Communication records: SMS/MMS messages and phone calls, as stored from the Twilio channel.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::TimeRange;
use crate::ids::{CallId, InteractionId, OrgId, PersonId, PhoneId, SmsId};

/// Which way a message or call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the outside world to the org.
    Inbound,
    /// From the org to the outside world.
    Outbound,
}

impl Direction {
    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
        }
    }

    /// Parses a stored name.
    ///
    /// # Errors
    /// [`crate::Error::Validation`] on `direction`.
    pub fn parse(s: &str) -> crate::Result<Self> {
        match s {
            "inbound" => Ok(Self::Inbound),
            "outbound" => Ok(Self::Outbound),
            _ => Err(crate::Error::invalid(
                "direction",
                "must be inbound or outbound",
            )),
        }
    }
}

/// A media attachment of an MMS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Media {
    /// Where the provider serves it.
    pub url: String,
    /// Its MIME type.
    pub content_type: Option<String>,
}

/// An SMS or MMS message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Sms {
    /// Its id.
    pub id: SmsId,
    /// The org.
    pub org_id: OrgId,
    /// The org's number it went through.
    pub phone_id: Option<PhoneId>,
    /// The provider's id (Twilio `MessageSid`).
    pub message_sid: Option<String>,
    /// Inbound or outbound.
    pub direction: Direction,
    /// Sender, as the provider gave it (E.164 for phone numbers; short codes are kept as given).
    pub from: String,
    /// Recipient.
    pub to: String,
    /// Text.
    pub body: String,
    /// MMS media.
    pub media: Vec<Media>,
    /// The provider's status (`received`, `queued`, `delivered`, … and unknown ones as given).
    pub status: String,
    /// The provider's error code, when delivery failed.
    pub error_code: Option<String>,
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

/// What to do with a message from a number no person has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownSender {
    /// Create a person with that phone (the default).
    #[default]
    CreatePerson,
    /// Store the message without a person.
    StoreUnmatched,
}

/// A message arriving from the provider, after its signature and org were established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSms {
    /// The org's number it arrived on (inbound) or left from (outbound).
    pub phone_id: Option<PhoneId>,
    /// The provider's id; the record is idempotent on it.
    pub message_sid: Option<String>,
    /// Inbound or outbound.
    pub direction: Direction,
    /// Sender.
    pub from: String,
    /// Recipient.
    pub to: String,
    /// Text.
    pub body: String,
    /// MMS media.
    pub media: Vec<Media>,
    /// The provider's status.
    pub status: String,
    /// The person, when the caller already knows it (outbound to a person).
    pub person_id: Option<PersonId>,
    /// For inbound messages from unknown numbers.
    pub unknown_sender: UnknownSender,
}

/// A phone call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Call {
    /// Its id.
    pub id: CallId,
    /// The org.
    pub org_id: OrgId,
    /// The org's number.
    pub phone_id: Option<PhoneId>,
    /// The provider's id (Twilio `CallSid`).
    pub call_sid: Option<String>,
    /// Inbound or outbound.
    pub direction: Direction,
    /// Caller.
    pub from: String,
    /// Callee.
    pub to: String,
    /// The provider's status (`ringing`, `completed`, … and unknown ones as given).
    pub status: String,
    /// Length in seconds, once known.
    pub duration_seconds: Option<u32>,
    /// The recording's provider id.
    pub recording_sid: Option<String>,
    /// Where the recording is served.
    pub recording_url: Option<String>,
    /// The recording's length in seconds.
    pub recording_seconds: Option<u32>,
    /// The person on the other end, when known.
    pub person_id: Option<PersonId>,
    /// The timeline entry.
    pub interaction_id: Option<InteractionId>,
    /// When it started.
    pub occurred_at: DateTime<Utc>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A call to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCall {
    /// The org's number.
    pub phone_id: Option<PhoneId>,
    /// The provider's id; the record is idempotent on it.
    pub call_sid: Option<String>,
    /// Inbound or outbound.
    pub direction: Direction,
    /// Caller.
    pub from: String,
    /// Callee.
    pub to: String,
    /// The provider's status.
    pub status: String,
    /// The person, when the caller already knows it.
    pub person_id: Option<PersonId>,
    /// For inbound calls from unknown numbers.
    pub unknown_sender: UnknownSender,
}

/// Narrows a list of messages or calls.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommsFilter {
    /// With this person.
    pub person_id: Option<PersonId>,
    /// This way.
    pub direction: Option<Direction>,
    /// With this provider status.
    pub status: Option<String>,
    /// Happened within.
    pub occurred: TimeRange,
}
