//! SMS opt-outs and the org's SMS and call settings.

use async_trait::async_trait;

use crate::domain::{
    CallSettings, E164, OptOutChange, RingSettings, RingTargets, SmsOptOut, SmsSettings,
};
use crate::error::Result;
use crate::ids::{MemberId, PhoneId};
use crate::page::{Page, PageRequest};
use crate::tenant::TenantContext;

/// Each org's SMS consent per phone number, and its SMS settings. A change of consent emits
/// `sms.opted_out` or `sms.opted_in` in its transaction; recording the state a number already
/// has writes nothing.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait OptOutRepo: Send + Sync {
    /// Records that `change.number` opted out (or back in): the new state, or `None` when the
    /// number already had it (or opts in without ever having opted out): nothing written, no
    /// event.
    ///
    /// # Errors
    /// [`crate::Error::Forbidden`] for a reader; [`crate::Error::Unavailable`] when the storage
    /// fails.
    async fn record_opt_out(
        &self,
        ctx: &TenantContext,
        change: OptOutChange,
    ) -> Result<Option<SmsOptOut>>;
    /// The number's consent state, when it ever changed.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn opt_out(&self, ctx: &TenantContext, number: &E164) -> Result<Option<SmsOptOut>>;
    /// Those of `numbers` that are opted out now.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn opted_out_among(&self, ctx: &TenantContext, numbers: &[E164]) -> Result<Vec<E164>>;
    /// A page of the org's numbers with a consent state (`opted_out` narrows to one state).
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn list_opt_outs(
        &self,
        ctx: &TenantContext,
        opted_out: Option<bool>,
        page: PageRequest,
    ) -> Result<Page<SmsOptOut>>;
    /// The org's SMS settings (defaults when never set).
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn sms_settings(&self, ctx: &TenantContext) -> Result<SmsSettings>;
    /// Replaces the org's SMS settings (admins); emits `sms_settings.updated`.
    ///
    /// # Errors
    /// [`crate::Error::Validation`] on `help_text`; [`crate::Error::Forbidden`] below admin.
    async fn set_sms_settings(
        &self,
        ctx: &TenantContext,
        settings: SmsSettings,
    ) -> Result<SmsSettings>;
}

/// The org's call settings, the phone each member takes calls on, and which members an
/// inbound call to each of the org's numbers rings. Every change emits its event in its
/// transaction.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait CallSettingsRepo: Send + Sync {
    /// The org's call settings (defaults when never set).
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn call_settings(&self, ctx: &TenantContext) -> Result<CallSettings>;
    /// Replaces the org's call settings (admins); emits `call_settings.updated`.
    ///
    /// # Errors
    /// [`crate::Error::Forbidden`] below admin.
    async fn set_call_settings(
        &self,
        ctx: &TenantContext,
        settings: CallSettings,
    ) -> Result<CallSettings>;
    /// The phone of member `id` (for click-to-call), when set.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn member_phone(&self, ctx: &TenantContext, id: MemberId) -> Result<Option<E164>>;
    /// Sets (or, with `None`, clears) the phone of member `id` (admins); emits
    /// `member_phone.updated` when it changed.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`] (`member`) when the org has no such member;
    /// [`crate::Error::Forbidden`] below admin.
    async fn set_member_phone(
        &self,
        ctx: &TenantContext,
        id: MemberId,
        phone: Option<E164>,
    ) -> Result<Option<E164>>;
    /// The ringing of the org's number `phone` (defaults when never set: nobody, straight to
    /// voicemail).
    ///
    /// # Errors
    /// [`crate::Error::NotFound`] (`phone`) when the org has no such number.
    async fn ringing(&self, ctx: &TenantContext, phone: PhoneId) -> Result<RingSettings>;
    /// Replaces the ringing of the org's number `phone` (admins); emits
    /// `phone_ringing.updated`.
    ///
    /// # Errors
    /// [`crate::Error::Validation`] on `members` (more than 10, a repeat, or not a member of
    /// the org) or `timeout_seconds`; [`crate::Error::NotFound`] (`phone`);
    /// [`crate::Error::Forbidden`] below admin.
    async fn set_ringing(
        &self,
        ctx: &TenantContext,
        phone: PhoneId,
        settings: RingSettings,
    ) -> Result<RingSettings>;
    /// What an inbound call to `phone` rings: its settings and its members' phones, in order.
    /// `None` when the org has no such number.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn ring_targets(
        &self,
        ctx: &TenantContext,
        phone: PhoneId,
    ) -> Result<Option<RingTargets>>;
}
