//! SMS and calls, recorded idempotently on the provider's id.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{
    Call, CallProgress, CallRecording, CallTranscription, CommsFilter, NewCall, NewSms, Sms,
};
use crate::error::Result;
use crate::ids::{CallId, SmsId};
use crate::page::{Page, PageRequest};
use crate::tenant::TenantContext;

/// Whether a provider-idempotent record was new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded<T> {
    /// The record (the existing one when the provider id was seen before).
    pub record: T,
    /// False when the provider id was already stored: a retry, nothing was written.
    pub created: bool,
}

/// SMS and calls of the context's org. Recording is idempotent on the provider's id, and each
/// new record resolves (or creates) the person by phone, adds an interaction and emits its event
/// (`sms.received`/`sms.sent`, `call.received`/`call.started`) in one transaction.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait CommsRepo: Send + Sync {
    /// Records a message.
    ///
    /// # Errors
    /// [`crate::Error::Validation`] (e.g. a body over 1,600 characters), [`crate::Error::Forbidden`];
    /// [`crate::Error::NotFound`] (`phone`) when `phone_id` is not (or no longer) a number of
    /// the org: nothing is written.
    async fn record_sms(&self, ctx: &TenantContext, new: NewSms) -> Result<Recorded<Sms>>;
    /// Updates a message's provider status; emits `sms.status_changed` when it changed. The
    /// status only moves forward along Twilio's progression and a final one stays
    /// ([`crate::domain::sms_status_advances`]): replayed and late callbacks change nothing.
    /// Unknown statuses are stored as given; an error code is kept once set. `None` when no
    /// message has that id in the org.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn update_sms_status(
        &self,
        ctx: &TenantContext,
        message_sid: &str,
        status: &str,
        error_code: Option<String>,
    ) -> Result<Option<Sms>>;
    /// One message.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`].
    async fn get_sms(&self, ctx: &TenantContext, id: SmsId) -> Result<Sms>;
    /// A page of messages.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn list_sms(
        &self,
        ctx: &TenantContext,
        filter: CommsFilter,
        page: PageRequest,
    ) -> Result<Page<Sms>>;
    /// Records a call.
    ///
    /// # Errors
    /// [`crate::Error::Validation`], [`crate::Error::Forbidden`]; [`crate::Error::NotFound`]
    /// (`phone`) as for [`CommsRepo::record_sms`].
    async fn record_call(&self, ctx: &TenantContext, new: NewCall) -> Result<Recorded<Call>>;
    /// Applies a status report of one of a call's legs; emits `call.completed` (or
    /// `call.status_changed`) when the call changed. The status only moves forward along
    /// Twilio's progression and a final status stays ([`crate::domain::call_status_advances`]):
    /// replayed and late reports change nothing. Once a click-to-call is bridged
    /// ([`crate::domain::CallLeg::Bridging`]), the final status of its own (the rep's) leg no
    /// longer applies: the dialled leg's does. `None` when no call has that id in the org.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn update_call_status(
        &self,
        ctx: &TenantContext,
        progress: CallProgress,
    ) -> Result<Option<Call>>;
    /// Stores a call's recording; emits `call.recording_available`. `None` when no call has
    /// that id in the org. A retry of the same recording changes nothing.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn record_recording(
        &self,
        ctx: &TenantContext,
        recording: CallRecording,
    ) -> Result<Option<Call>>;
    /// Stores a voicemail's transcription on its call; emits `call.transcription_available`.
    /// `None` when no call has that id in the org; a retry changes nothing.
    ///
    /// # Errors
    /// [`crate::Error::Validation`] on `TranscriptionText` over
    /// [`crate::domain::MAX_TRANSCRIPTION_CHARS`]; [`crate::Error::Unavailable`] when the
    /// storage fails.
    async fn record_transcription(
        &self,
        ctx: &TenantContext,
        transcription: CallTranscription,
    ) -> Result<Option<Call>>;
    /// The calls of every org that are not final and started between `started_after` and
    /// `started_before`, with a provider id, in id order after `after`, at most `limit`: how
    /// a reconciliation job finds calls whose last callbacks never came. Reads in the system
    /// scope (no tenant).
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn unfinished_calls(
        &self,
        started_after: DateTime<Utc>,
        started_before: DateTime<Utc>,
        after: Option<CallId>,
        limit: u32,
    ) -> Result<Vec<crate::domain::UnfinishedCall>>;
    /// One call.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`].
    async fn get_call(&self, ctx: &TenantContext, id: CallId) -> Result<Call>;
    /// A page of calls.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn list_calls(
        &self,
        ctx: &TenantContext,
        filter: CommsFilter,
        page: PageRequest,
    ) -> Result<Page<Call>>;
}
