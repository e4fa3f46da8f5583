//! How SMS and calls are read: their rows, the columns selected and the conversion to the
//! domain records.

use sqlx::types::Json;
use uuid::Uuid;
use workos_core::domain::{Call, Direction, Media, Sms, Timestamp};
use workos_core::ids::{CallId, InteractionId, MemberId, OrgId, PersonId, PhoneId, SmsId};
use workos_core::{Error, Result};

use super::super::corrupt;

#[derive(sqlx::FromRow)]
pub(crate) struct SmsRow {
    id: Uuid,
    org_id: Uuid,
    phone_id: Option<Uuid>,
    message_sid: Option<String>,
    direction: String,
    from_number: String,
    to_number: String,
    body: String,
    media: Json<Vec<Media>>,
    status: String,
    error_code: Option<String>,
    person_id: Option<Uuid>,
    interaction_id: Option<Uuid>,
    occurred_at: Timestamp,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl TryFrom<SmsRow> for Sms {
    type Error = Error;

    fn try_from(r: SmsRow) -> Result<Self> {
        Ok(Self {
            id: SmsId::from_uuid(r.id),
            org_id: OrgId::from_uuid(r.org_id),
            phone_id: r.phone_id.map(PhoneId::from_uuid),
            message_sid: r.message_sid,
            direction: Direction::parse(&r.direction).map_err(|e| corrupt("direction", e))?,
            from: r.from_number,
            to: r.to_number,
            body: r.body,
            media: r.media.0,
            status: r.status,
            error_code: r.error_code,
            person_id: r.person_id.map(PersonId::from_uuid),
            interaction_id: r.interaction_id.map(InteractionId::from_uuid),
            occurred_at: r.occurred_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

pub(crate) const SMS_COLUMNS: &str = "s.id, s.org_id, s.phone_id, s.message_sid, s.direction, s.from_number, s.to_number, s.body, \
     s.media, s.status, s.error_code, s.person_id, \
     (SELECT i.id FROM interactions i WHERE i.org_id = s.org_id AND i.sms_id = s.id) AS interaction_id, \
     s.occurred_at, s.created_at, s.updated_at";

#[derive(sqlx::FromRow)]
pub(crate) struct CallRow {
    id: Uuid,
    org_id: Uuid,
    phone_id: Option<Uuid>,
    call_sid: Option<String>,
    direction: String,
    from_number: String,
    to_number: String,
    status: String,
    duration_seconds: Option<i32>,
    dial_call_sid: Option<String>,
    answered_by_member_id: Option<Uuid>,
    recording_sid: Option<String>,
    recording_url: Option<String>,
    recording_seconds: Option<i32>,
    voicemail: bool,
    transcription_status: Option<String>,
    transcription_text: Option<String>,
    person_id: Option<Uuid>,
    interaction_id: Option<Uuid>,
    occurred_at: Timestamp,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl TryFrom<CallRow> for Call {
    type Error = Error;

    fn try_from(r: CallRow) -> Result<Self> {
        Ok(Self {
            id: CallId::from_uuid(r.id),
            org_id: OrgId::from_uuid(r.org_id),
            phone_id: r.phone_id.map(PhoneId::from_uuid),
            call_sid: r.call_sid,
            direction: Direction::parse(&r.direction).map_err(|e| corrupt("direction", e))?,
            from: r.from_number,
            to: r.to_number,
            status: r.status,
            duration_seconds: r.duration_seconds.and_then(|d| u32::try_from(d).ok()),
            dial_call_sid: r.dial_call_sid,
            answered_by_member_id: r.answered_by_member_id.map(MemberId::from_uuid),
            recording_sid: r.recording_sid,
            recording_url: r.recording_url,
            recording_seconds: r.recording_seconds.and_then(|d| u32::try_from(d).ok()),
            voicemail: r.voicemail,
            transcription_status: r.transcription_status,
            transcription_text: r.transcription_text,
            person_id: r.person_id.map(PersonId::from_uuid),
            interaction_id: r.interaction_id.map(InteractionId::from_uuid),
            occurred_at: r.occurred_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

pub(crate) const CALL_COLUMNS: &str = "c.id, c.org_id, c.phone_id, c.call_sid, c.direction, c.from_number, c.to_number, c.status, \
     c.duration_seconds, c.dial_call_sid, c.answered_by_member_id, c.recording_sid, c.recording_url, c.recording_seconds, \
     c.voicemail, c.transcription_status, c.transcription_text, c.person_id, \
     (SELECT i.id FROM interactions i WHERE i.org_id = c.org_id AND i.call_id = c.id) AS interaction_id, \
     c.occurred_at, c.created_at, c.updated_at";
