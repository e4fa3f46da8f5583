//! Communication records: SMS/MMS messages and phone calls, as stored from the Twilio channel.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::TimeRange;
use crate::ids::{CallId, InteractionId, MemberId, OrgId, PersonId, PhoneId, SmsId};

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
    /// The provider's status (`ringing`, `completed`, … and unknown ones as given). It only
    /// moves forward along Twilio's progression (see [`call_status_advances`]); a final status
    /// stays. A click-to-call's status is the customer's: once the rep answered, the dialled
    /// leg decides how the call ended (`no-answer`, `busy`, `failed` or `completed`).
    pub status: String,
    /// Length in seconds, once known (a click-to-call's: the customer leg's).
    pub duration_seconds: Option<u32>,
    /// The provider id of the leg the engine dialled (Twilio's child `CallSid`): the
    /// customer's in a click-to-call, the member's who took an inbound call.
    pub dial_call_sid: Option<String>,
    /// The member who took an inbound call that rang members (their dialled leg answered), once
    /// known; `call.answered` says when it becomes known.
    pub answered_by_member_id: Option<MemberId>,
    /// The recording's provider id.
    pub recording_sid: Option<String>,
    /// Where the recording is served.
    pub recording_url: Option<String>,
    /// The recording's length in seconds.
    pub recording_seconds: Option<u32>,
    /// Whether the recording is a voicemail (an inbound call nobody answered).
    pub voicemail: bool,
    /// The provider's transcription status of the voicemail (`completed`, `failed`), when the
    /// org transcribes voicemail.
    pub transcription_status: Option<String>,
    /// The voicemail's transcription text.
    pub transcription_text: Option<String>,
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

/// Where a call status belongs on Twilio's documented progression: `queued` < `initiated` <
/// `ringing` < `in-progress` < the final ones (`completed`, `busy`, `no-answer`, `failed`,
/// `canceled`). `None` for a status Twilio did not document.
#[must_use]
pub fn call_status_rank(status: &str) -> Option<u8> {
    match status {
        "queued" => Some(0),
        "initiated" => Some(1),
        "ringing" => Some(2),
        "in-progress" => Some(3),
        "completed" | "busy" | "no-answer" | "failed" | "canceled" => Some(4),
        _ => None,
    }
}

/// Whether `status` is final: the call ended.
#[must_use]
pub fn call_status_is_final(status: &str) -> bool {
    call_status_rank(status) == Some(4)
}

/// Whether a call at `current` moves to `next`: never from a final status, never back or
/// sideways along the progression (a replayed or late callback), always to an unknown
/// status (stored as given) or from one.
#[must_use]
pub fn call_status_advances(current: &str, next: &str) -> bool {
    if call_status_is_final(current) {
        return false;
    }
    match (call_status_rank(current), call_status_rank(next)) {
        (Some(c), Some(n)) => n > c,
        (None, Some(_)) => true,
        (_, None) => current != next,
    }
}

/// Where a message status belongs on Twilio's documented progression of an outbound message:
/// `accepted`/`scheduled` < `queued` < `sending` < `sent` < `delivered` < `read`, with
/// `undelivered`, `failed`, `canceled` and (inbound) `received` final beside `delivered`.
/// `None` for a status Twilio did not document (`partially_delivered`, `receiving`, …).
#[must_use]
pub fn sms_status_rank(status: &str) -> Option<u8> {
    match status {
        "accepted" | "scheduled" => Some(0),
        "queued" => Some(1),
        "sending" => Some(2),
        "sent" => Some(3),
        "delivered" | "undelivered" | "failed" | "canceled" | "received" => Some(4),
        "read" => Some(5),
        _ => None,
    }
}

/// Whether a message status is final: nothing changes it (`delivered` still becomes `read`,
/// on channels with read receipts).
#[must_use]
pub fn sms_status_is_final(status: &str) -> bool {
    matches!(
        status,
        "undelivered" | "failed" | "canceled" | "received" | "read"
    )
}

/// Whether a message at `current` moves to `next`: never from a final status, never back or
/// sideways along the progression (a replayed or late callback), always to an undocumented
/// status (stored as given) or from one.
#[must_use]
pub fn sms_status_advances(current: &str, next: &str) -> bool {
    if sms_status_is_final(current) {
        return false;
    }
    match (sms_status_rank(current), sms_status_rank(next)) {
        (Some(c), Some(n)) => n > c,
        (None, Some(_)) => true,
        (_, None) => current != next,
    }
}

/// Which leg of a stored call a status callback reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallLeg {
    /// The call's own leg (its `call_sid`): for a click-to-call, the rep's. Once the call was
    /// bridged, its final status no longer decides the call's (the dialled leg does).
    Own,
    /// The rep of a click-to-call answered and the engine is dialling the customer.
    Bridging,
    /// The leg the engine dialled (Twilio's child call, whose `ParentCallSid` is the call's
    /// `call_sid`), with its own `CallSid` when known. A report of another dialled leg than
    /// the one recorded is ignored.
    Dialed {
        /// The dialled leg's `CallSid`.
        call_sid: Option<String>,
        /// The member whose phone the leg rang, when the report says (an inbound call's
        /// ringing names the member in each leg's status callback URL).
        member_id: Option<MemberId>,
    },
    /// The provider's own record of the call, read when its callbacks never came
    /// ([`CallProgress`] of a reconciliation): a final status applies to the call even once it
    /// was bridged, and only a final one applies.
    Provider,
}

/// A status report of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallProgress {
    /// The stored call's provider id (the parent's, for a dialled leg).
    pub call_sid: String,
    /// Which leg reports.
    pub leg: CallLeg,
    /// The reported status.
    pub status: String,
    /// The leg's length in seconds, when reported.
    pub duration_seconds: Option<u32>,
}

/// A call still not final long after it started (its last callbacks never came), as a
/// reconciliation with the provider reads it: which legs to ask the provider about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnfinishedCall {
    /// The org.
    pub org_id: OrgId,
    /// The call.
    pub id: CallId,
    /// Its provider id.
    pub call_sid: String,
    /// The leg it dialled, when known.
    pub dial_call_sid: Option<String>,
    /// Whether it is a click-to-call whose rep answered (then the dialled leg decides).
    pub bridged: bool,
    /// Its stored status.
    pub status: String,
}

/// A call's recording, as the provider reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecording {
    /// The call's provider id.
    pub call_sid: String,
    /// The recording's provider id.
    pub recording_sid: String,
    /// Where the provider serves it.
    pub recording_url: String,
    /// Its length in seconds.
    pub recording_seconds: Option<u32>,
    /// Whether it is a voicemail (the engine's voicemail `<Record>` says so in its callback).
    pub voicemail: bool,
}

/// A voicemail transcription, as the provider reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallTranscription {
    /// The call's provider id.
    pub call_sid: String,
    /// The provider's transcription status (`completed`, `failed`).
    pub status: String,
    /// The text (absent when it failed).
    pub text: Option<String>,
}

/// The longest transcription text stored (Twilio transcribes at most two minutes).
pub const MAX_TRANSCRIPTION_CHARS: usize = 20_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_statuses_only_move_forward() {
        assert!(call_status_advances("queued", "ringing"));
        assert!(call_status_advances("ringing", "no-answer"));
        assert!(call_status_advances("in-progress", "completed"));
        assert!(!call_status_advances("in-progress", "ringing"));
        assert!(!call_status_advances("ringing", "ringing"));
        assert!(!call_status_advances("no-answer", "completed"));
        assert!(!call_status_advances("completed", "busy"));
        assert!(call_status_advances("ringing", "answering-machine"));
        assert!(call_status_advances("answering-machine", "completed"));
        assert!(!call_status_advances("completed", "answering-machine"));
        assert!(call_status_is_final("canceled"));
        assert!(!call_status_is_final("in-progress"));
    }

    #[test]
    fn sms_statuses_only_move_forward() {
        assert!(sms_status_advances("queued", "sent"));
        assert!(sms_status_advances("sent", "delivered"));
        assert!(sms_status_advances("delivered", "read"));
        assert!(sms_status_advances("accepted", "queued"));
        assert!(!sms_status_advances("delivered", "sent"));
        assert!(!sms_status_advances("sent", "sent"));
        assert!(!sms_status_advances("delivered", "failed"));
        assert!(!sms_status_advances("failed", "delivered"));
        assert!(!sms_status_advances("undelivered", "read"));
        assert!(sms_status_advances("sent", "partially_delivered"));
        assert!(sms_status_advances("partially_delivered", "delivered"));
        assert!(!sms_status_advances("read", "delivered"));
    }
}
