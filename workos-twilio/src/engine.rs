//! The outbound engine flow: pick the org's own sending number, send through a channel, then
//! store the message or call with its interaction and event. Storage is reached only through
//! the `workos-core` traits.

use std::sync::Arc;

use workos_core::channel::{CallChannel, OutboundCall, OutboundSms, SmsChannel, SmsSender};
use workos_core::domain::{
    Call, Direction, E164, HttpUrl, NewCall, NewSms, Phone, Sms, UnknownSender,
};
use workos_core::ids::{MemberId, PersonId};
use workos_core::page::PageRequest;
use workos_core::repo::{CallSettingsRepo, CommsRepo, OptOutRepo, PersonRepo, PhoneRepo};
use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};

use crate::client::TwilioErrorKind;

/// Who to reach.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Recipient {
    /// A number.
    Number(E164),
    /// A person of the org, at their primary phone.
    Person(PersonId),
}

impl Recipient {
    /// The recipient of a request naming a number (`to`) or a person (`person_id`): exactly
    /// one of the two.
    ///
    /// # Errors
    /// [`Error::Validation`] on `to` when neither is given, on `person_id` when both are.
    pub fn from_parts(to: Option<E164>, person_id: Option<PersonId>) -> Result<Self> {
        match (to, person_id) {
            (Some(n), None) => Ok(Self::Number(n)),
            (None, Some(p)) => Ok(Self::Person(p)),
            (Some(_), Some(_)) => Err(Error::invalid(
                "person_id",
                "give to or person_id, not both",
            )),
            (None, None) => Err(Error::invalid("to", "is required (or person_id)")),
        }
    }
}

/// An SMS to send for an org.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendSms {
    /// Recipient.
    pub to: Recipient,
    /// One of the org's numbers; the org's first SMS-capable number when absent.
    pub from: Option<E164>,
    /// Text, 1–1,600 characters (may be empty with media).
    pub body: String,
    /// MMS media.
    pub media_urls: Vec<HttpUrl>,
}

/// A call to place for an org.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartCall {
    /// Callee.
    pub to: Recipient,
    /// One of the org's numbers; the org's first voice-capable number when absent.
    pub from: Option<E164>,
    /// Click-to-call: the calling rep, rung first from the org's number; when the rep answers,
    /// the callee is dialled with the org's number as caller id. `None`: the callee hears the
    /// org's greeting and is recorded, as an inbound caller does.
    pub agent: Option<Agent>,
}

/// The rep a click-to-call rings first.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Agent {
    /// A member of the org, at the phone set on their membership.
    Member(MemberId),
    /// A phone number.
    Phone(E164),
}

impl Agent {
    /// The agent of a request naming a member (`member_id`) or a phone (`agent_phone`), or
    /// neither (no click-to-call).
    ///
    /// # Errors
    /// [`Error::Validation`] on `member_id` when both are given.
    pub fn from_parts(member_id: Option<MemberId>, phone: Option<E164>) -> Result<Option<Self>> {
        match (member_id, phone) {
            (Some(_), Some(_)) => Err(Error::invalid(
                "member_id",
                "give member_id or agent_phone, not both",
            )),
            (Some(m), None) => Ok(Some(Self::Member(m))),
            (None, Some(p)) => Ok(Some(Self::Phone(p))),
            (None, None) => Ok(None),
        }
    }
}

/// Sends SMS and places calls for orgs, and records them.
pub struct Messenger<S> {
    store: Arc<S>,
    sms: Arc<dyn SmsChannel>,
    calls: Arc<dyn CallChannel>,
    public_url: String,
}

// Not derived: cloning shares the store and channels, so `S` need not be `Clone`.
impl<S> Clone for Messenger<S> {
    fn clone(&self) -> Self {
        Self {
            store: Arc::clone(&self.store),
            sms: Arc::clone(&self.sms),
            calls: Arc::clone(&self.calls),
            public_url: self.public_url.clone(),
        }
    }
}

impl<S> std::fmt::Debug for Messenger<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Messenger")
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

/// The longest message Twilio accepts.
const MAX_BODY_CHARS: usize = 1600;

impl<S> Messenger<S>
where
    S: PhoneRepo + PersonRepo + CommsRepo + OptOutRepo + CallSettingsRepo,
{
    /// A messenger over `store`, sending through the channels; `public_url` is where Twilio
    /// reaches this server for status callbacks and call instructions.
    pub fn new(
        store: Arc<S>,
        sms: Arc<dyn SmsChannel>,
        calls: Arc<dyn CallChannel>,
        public_url: &str,
    ) -> Self {
        Self {
            store,
            sms,
            calls,
            public_url: public_url.trim_end_matches('/').to_owned(),
        }
    }

    fn callback(&self, ctx: &TenantContext, route: &str) -> Result<HttpUrl> {
        let url = format!(
            "{}{}/{route}?org={}",
            self.public_url,
            crate::inbound::WEBHOOK_PATH,
            ctx.org_id()
        );
        HttpUrl::parse(&url).map_err(|e| Error::invalid("public_url", e.to_string()))
    }

    async fn resolve(
        &self,
        ctx: &TenantContext,
        to: &Recipient,
    ) -> Result<(E164, Option<PersonId>)> {
        match to {
            Recipient::Number(n) => Ok((n.clone(), None)),
            Recipient::Person(id) => {
                let person = self.store.get_person(ctx, *id).await.map_err(|e| match e {
                    Error::NotFound { .. } => Error::invalid("person_id", "no such person"),
                    other => other,
                })?;
                let phone = person
                    .phone
                    .ok_or_else(|| Error::invalid("person_id", "the person has no phone"))?;
                Ok((phone, Some(person.id)))
            }
        }
    }

    /// The org's number to send from: the one asked for, which must be the org's own, or its
    /// first number able to do `what`.
    async fn sender(
        &self,
        ctx: &TenantContext,
        from: Option<&E164>,
        able: fn(&Phone) -> bool,
    ) -> Result<Phone> {
        let mut page = PageRequest::first(200)?;
        loop {
            let phones = self.store.list_phones(ctx, page.clone()).await?;
            let found = phones.data.into_iter().find(|p| match from {
                Some(n) => &p.number == n,
                None => able(p),
            });
            if let Some(phone) = found {
                return Ok(phone);
            }
            match phones.next_cursor {
                Some(c) => page = page.after(Some(c)),
                None => break,
            }
        }
        Err(match from {
            Some(_) => Error::invalid("from", "is not a number of this org"),
            None => Error::invalid(
                "from",
                "the org has no number that can send this; add one under /api/v1/phones",
            ),
        })
    }

    /// Sends an SMS and records it (`sms.sent`). A recipient who opted out of the org's SMS is
    /// refused before Twilio is asked; Twilio's own opted-out answer (21610) is recorded as an
    /// opt-out (`sms.opted_out`).
    ///
    /// # Errors
    /// [`Error::Validation`] naming `to`, `person_id`, `from` or `body` (opted-out recipients,
    /// and Twilio's invalid-number and opted-out answers, land on `to`); [`Error::Provider`]/[`Error::Unavailable`] from
    /// Twilio, never retried.
    pub async fn send_sms(&self, ctx: &TenantContext, request: SendSms) -> Result<Sms> {
        ctx.authorize(Access::WriteCrm)?;
        let chars = request.body.chars().count();
        if chars > MAX_BODY_CHARS || (chars == 0 && request.media_urls.is_empty()) {
            return Err(Error::invalid(
                "body",
                format!("must be 1 to {MAX_BODY_CHARS} characters"),
            ));
        }
        let (to, person_id) = self.resolve(ctx, &request.to).await?;
        crate::opt_outs::refuse_opted_out(&*self.store, ctx, &to).await?;
        let from = self
            .sender(ctx, request.from.as_ref(), |p| {
                p.capabilities.sms || p.capabilities.mms
            })
            .await?;
        let outbound = OutboundSms {
            from: SmsSender::Number(from.number.clone()),
            to: to.clone(),
            body: request.body.clone(),
            media_urls: request.media_urls,
            status_callback: Some(self.callback(ctx, "status")?),
        };
        let receipt = match self.sms.send_sms(ctx, outbound).await {
            Ok(receipt) => receipt,
            Err(e) => {
                if TwilioErrorKind::of(&e) == Some(TwilioErrorKind::Unsubscribed) {
                    crate::opt_outs::record_refusal(&*self.store, ctx, &to).await;
                }
                return Err(recipient_errors(e));
            }
        };
        let new = NewSms {
            phone_id: Some(from.id),
            message_sid: Some(receipt.sid.clone()),
            direction: Direction::Outbound,
            from: from.number.as_ref().to_owned(),
            to: to.as_ref().to_owned(),
            body: request.body,
            media: Vec::new(),
            status: receipt.status,
            person_id,
            unknown_sender: UnknownSender::CreatePerson,
        };
        let recorded = self.store.record_sms(ctx, new).await.inspect_err(|e| {
            // The message left; only the record is missing. Say which, so it can be mended.
            tracing::error!(message_sid = %receipt.sid, error = %e, "sent an SMS but could not record it");
        })?;
        Ok(recorded.record)
    }

    /// The phone on member `id`'s membership.
    async fn member_phone(&self, ctx: &TenantContext, id: MemberId) -> Result<E164> {
        self.store.member_phone(ctx, id).await?.ok_or_else(|| {
            Error::invalid(
                "member_id",
                "no such member, or the member has no phone (PUT /api/v1/members/{id}/phone)",
            )
        })
    }

    /// The instructions of a click-to-call's first leg: when the rep at `agent` answers, dial
    /// `to` (and record both legs when the org records calls). The callee and the choice ride
    /// in the URL, which Twilio signs, so neither can be changed on the way back.
    async fn bridge_url(&self, ctx: &TenantContext, to: &E164) -> Result<HttpUrl> {
        let record = self.store.call_settings(ctx).await?.record_calls;
        let callee: String = form_urlencoded::byte_serialize(to.as_ref().as_bytes()).collect();
        let url = format!(
            "{}&to={callee}&record={}",
            self.callback(ctx, "bridge")?,
            u8::from(record)
        );
        HttpUrl::parse(&url).map_err(|e| Error::invalid("public_url", e.to_string()))
    }

    /// Places a call and records it (`call.started`), linked to the person called. With
    /// `agent_phone` (click-to-call) Twilio rings the rep first and, once they answer, dials
    /// the callee from the org's number ([`crate::InboundService::bridge`]).
    ///
    /// # Errors
    /// As [`Messenger::send_sms`].
    pub async fn start_call(&self, ctx: &TenantContext, request: StartCall) -> Result<Call> {
        ctx.authorize(Access::WriteCrm)?;
        let (to, person_id) = self.resolve(ctx, &request.to).await?;
        let from = self
            .sender(ctx, request.from.as_ref(), |p| p.capabilities.voice)
            .await?;
        let (ring, instructions_url) = match &request.agent {
            None => (to.clone(), self.callback(ctx, "voice")?),
            Some(agent) => {
                let (field, phone) = match agent {
                    Agent::Phone(p) => ("agent_phone", p.clone()),
                    Agent::Member(m) => ("member_id", self.member_phone(ctx, *m).await?),
                };
                if phone == to {
                    return Err(Error::invalid(field, "must differ from the number called"));
                }
                let url = self.bridge_url(ctx, &to).await?;
                (phone, url)
            }
        };
        let outbound = OutboundCall {
            from: from.number.clone(),
            to: ring,
            instructions_url,
            status_callback: Some(self.callback(ctx, "call-status")?),
        };
        let receipt = self
            .calls
            .start_call(ctx, outbound)
            .await
            .map_err(recipient_errors)?;
        let new = NewCall {
            phone_id: Some(from.id),
            call_sid: Some(receipt.sid.clone()),
            direction: Direction::Outbound,
            from: from.number.as_ref().to_owned(),
            to: to.as_ref().to_owned(),
            status: receipt.status,
            person_id,
            unknown_sender: UnknownSender::CreatePerson,
        };
        let recorded = self.store.record_call(ctx, new).await.inspect_err(|e| {
            tracing::error!(call_sid = %receipt.sid, error = %e, "placed a call but could not record it");
        })?;
        Ok(recorded.record)
    }
}

/// Twilio's answers about the recipient are the caller's input errors, on `to`.
fn recipient_errors(e: Error) -> Error {
    match TwilioErrorKind::of(&e) {
        Some(TwilioErrorKind::InvalidToNumber) => {
            Error::invalid("to", "Twilio says the number is invalid")
        }
        Some(TwilioErrorKind::NotMobileNumber) => Error::invalid("to", "is not a mobile number"),
        Some(TwilioErrorKind::Unsubscribed) => Error::invalid(
            "to",
            "the recipient has opted out (replied STOP) from this sender",
        ),
        _ => e,
    }
}
