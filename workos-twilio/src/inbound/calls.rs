//! Voice webhooks: inbound calls (ringing the members set for the number, then voicemail),
//! click-to-call's bridge, the `<Dial>` and `<Record>` actions, call status callbacks of every
//! leg, recordings and transcriptions.

use workos_core::domain::{
    CallLeg, CallProgress, CallRecording, CallTranscription, Direction, NewCall, RingStrategy,
    RingTargets,
};
use workos_core::ids::{MemberId, OrgId, PhoneId};
use workos_core::repo::{
    CallSettingsRepo, CommsRepo, Directory, IntegrationRepo, OptOutRepo, OrgRepo, PersonRepo,
    PhoneRepo,
};
use workos_core::tenant::TenantContext;
use workos_core::{Error, Result};

use super::{InboundRequest, InboundService, WEBHOOK_PATH, bad_payload, system};
use crate::models::{
    CallStatusCallback, DialActionCallback, InboundCall, RecordingCallback, TranscriptionCallback,
    Twiml, empty_twiml,
};
use crate::twiml::{Dial, DialNumber, DialRecord, Record};

/// How long a click-to-call rings the callee before giving up.
const BRIDGE_RING_SECONDS: u32 = 30;

/// The longest voicemail, in seconds (Twilio transcribes recordings of up to two minutes).
const VOICEMAIL_MAX_SECONDS: u32 = 120;

/// What a caller answers a call from a number no org owns.
const NOT_IN_SERVICE: &str = "This number is not in service.";

/// The dialled leg's progress events a click-to-call asks for.
const DIALED_LEG_EVENTS: &str = "initiated ringing answered completed";

/// The progress event a member's leg of an inbound call's ringing reports: only `answered`,
/// which says who took the call (the legs nobody answered end `canceled` or `no-answer`, which
/// says nothing about the call; the `<Dial>` action reports how ringing ended).
const RINGING_LEG_EVENTS: &str = "answered";

impl<S> InboundService<S>
where
    S: Directory
        + CommsRepo
        + IntegrationRepo
        + PhoneRepo
        + PersonRepo
        + OrgRepo
        + OptOutRepo
        + CallSettingsRepo
        + 'static,
{
    /// The URL of the engine's webhook `route` for `org` (Twilio signs it, so the org and
    /// anything else in it cannot be changed on the way back).
    fn hook(&self, org: OrgId, route: &str) -> String {
        format!("{}{WEBHOOK_PATH}/{route}?org={org}", self.public_url)
    }

    /// An inbound call (or the instructions request of a call the engine placed): stores it
    /// with an interaction and `call.received`. An inbound call rings the members set for the
    /// number ([`CallSettingsRepo::ring_targets`]), in order or all at once, and when nobody
    /// answers (or nobody is set) the caller hears the greeting and leaves a voicemail,
    /// transcribed when the org says so. A call the engine placed without a rep hears the
    /// greeting and is recorded, then hangs up. A call to a number no org owns hears that the
    /// number is not in service.
    ///
    /// # Errors
    /// As [`InboundService::message`].
    pub async fn voice(&self, request: &InboundRequest<'_>) -> Result<String> {
        let params = self.params(request)?;
        let outbound = params
            .get("Direction")
            .is_some_and(|d| d.starts_with("outbound"));
        let ours = params.get(if outbound { "From" } else { "To" });
        let phone = self.owners.uncached(&[ours]).await?;
        let org = request.org().or(phone.as_ref().map(|p| p.org_id));
        self.verify(org, request, &params).await?;
        let call = InboundCall::from_params(&params.0).map_err(|e| bad_payload(&e))?;
        // Calls the engine placed come back here for their instructions, with the org in the
        // URL and Twilio's `Direction` saying so; whichever of the two requests records first,
        // the call is recorded the right way round.
        let direction = if outbound {
            Direction::Outbound
        } else {
            Direction::Inbound
        };
        let Some(org) = org else {
            tracing::warn!(call_sid = %call.call_sid, "inbound call to a number no org owns; ignored");
            return Ok(Twiml::new().say(NOT_IN_SERVICE).build());
        };
        let ctx = system(org, "twilio.voice", request);
        let phone_id = phone.filter(|p| p.org_id == org).map(|p| p.id);
        let new = NewCall {
            phone_id,
            call_sid: Some(call.call_sid.clone()),
            direction,
            from: call.from,
            to: call.to,
            status: call.call_status.as_str().to_owned(),
            person_id: None,
            unknown_sender: self.unknown_sender,
        };
        self.store.record_call(&ctx, new).await?;
        match (direction, phone_id) {
            (Direction::Inbound, Some(phone)) => self.ring(&ctx, phone, 0).await,
            // The `<Record>`'s action hangs up; without one Twilio would ask this URL again and
            // record again. The trailing `<Hangup/>` ends a call whose recording got no audio.
            _ => Ok(Twiml::new()
                .say(&self.voice_greeting)
                .record_with(
                    &Record::new()
                        .action(&self.hook(org, "hangup"))
                        .recording_status_callback(&self.hook(org, "recording")),
                )
                .hangup()
                .build()),
        }
    }

    /// The TwiML that rings the members of `phone` from the `next`-th on, or, when none is
    /// left, takes a voicemail. The `<Dial>`'s action comes back to [`InboundService::ring_next`]
    /// with the index of the member after those it rang; each `<Number>`'s `answered` status
    /// callback names its member, so the call records who took it.
    async fn ring(&self, ctx: &TenantContext, phone: PhoneId, next: usize) -> Result<String> {
        let org = ctx.org_id();
        let targets = self.store.ring_targets(ctx, phone).await?;
        let Some(RingTargets {
            settings, phones, ..
        }) = targets
        else {
            return self.voicemail(ctx).await;
        };
        let ringing: Vec<_> = match settings.strategy {
            RingStrategy::Sequential => phones.iter().skip(next).take(1).collect(),
            RingStrategy::Simultaneous if next == 0 => phones.iter().collect(),
            RingStrategy::Simultaneous => Vec::new(),
        };
        if ringing.is_empty() {
            return self.voicemail(ctx).await;
        }
        let after = next + ringing.len();
        let action = format!("{}&phone={phone}&next={after}", self.hook(org, "ring"));
        let mut dial = Dial::new()
            .action(&action)
            .answer_on_bridge()
            .timeout(settings.timeout_seconds);
        let status = self.hook(org, "call-status");
        for (member, number) in ringing {
            dial = dial.number(
                DialNumber::new(number.as_ref())
                    .status_callback(&format!("{status}&member={member}"), RINGING_LEG_EVENTS),
            );
        }
        Ok(Twiml::new().dial(&dial).build())
    }

    /// The voicemail TwiML: the greeting, then a recording (its callback marks it a voicemail;
    /// transcribed when the org transcribes voicemail), then hang up.
    async fn voicemail(&self, ctx: &TenantContext) -> Result<String> {
        let org = ctx.org_id();
        let transcribe = self.store.call_settings(ctx).await?.transcribe_voicemail;
        let mut record = Record::new()
            .action(&self.hook(org, "hangup"))
            .max_length(VOICEMAIL_MAX_SECONDS)
            .recording_status_callback(&format!("{}&voicemail=1", self.hook(org, "recording")));
        if transcribe {
            record = record.transcribe(&self.hook(org, "transcription"));
        }
        Ok(Twiml::new()
            .say(&self.voice_greeting)
            .record_with(&record)
            .build())
    }

    /// The `<Dial>` action of an inbound call's ringing: when a member answered, the dialled
    /// leg is stored on the call (`dial_call_sid`, `completed`) and the call ends; otherwise
    /// the next member rings, or the caller leaves a voicemail.
    ///
    /// # Errors
    /// As [`InboundService::message`]; [`Error::Validation`] on `org`, `phone` or `next` when
    /// the URL lacks them.
    pub async fn ring_next(&self, request: &InboundRequest<'_>) -> Result<String> {
        let (org, dial) = self
            .engine_callback(request, DialActionCallback::from_params, "ring URL")
            .await?;
        let phone: PhoneId = request
            .query_param("phone")
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| Error::invalid("phone", "the ring URL must name the number"))?;
        let next: usize = request
            .query_param("next")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| Error::invalid("next", "the ring URL must say who rings next"))?;
        let ctx = system(org, "twilio.ring", request);
        if dial.answered() {
            self.dial_ended(&ctx, &dial).await?;
            return Ok(empty_twiml().to_owned());
        }
        self.ring(&ctx, phone, next).await
    }

    /// Stores the outcome of a dial on the call that dialled.
    async fn dial_ended(&self, ctx: &TenantContext, dial: &DialActionCallback) -> Result<()> {
        let progress = CallProgress {
            call_sid: dial.call_sid.clone(),
            leg: CallLeg::Dialed {
                call_sid: dial.dial_call_sid.clone(),
                member_id: None,
            },
            status: dial.leg_status().to_owned(),
            duration_seconds: dial.dial_call_duration,
        };
        self.store.update_call_status(ctx, progress).await?;
        Ok(())
    }

    /// The instructions of a click-to-call's first leg, asked when the rep answers: dial the
    /// callee named in the (signed) URL with the org's number as caller id, recording both legs
    /// when the URL says so; the recording callback names the org, so it lands on the call.
    /// From here on the customer's leg decides how the call ends: its status callbacks and the
    /// dial's action ([`InboundService::bridge_ended`]) update the call.
    ///
    /// # Errors
    /// As [`InboundService::message`]; [`Error::Validation`] on `org` or `to` when the URL
    /// lacks them.
    pub async fn bridge(&self, request: &InboundRequest<'_>) -> Result<String> {
        let (org, call) = self
            .engine_callback(request, InboundCall::from_params, "bridge URL")
            .await?;
        let to = request
            .query_param("to")
            .and_then(|t| workos_core::domain::E164::parse(&t).ok())
            .ok_or_else(|| Error::invalid("to", "the bridge URL must name the number to dial"))?;
        let ctx = system(org, "twilio.bridge", request);
        let bridging = CallProgress {
            call_sid: call.call_sid.clone(),
            leg: CallLeg::Bridging,
            status: "in-progress".to_owned(),
            duration_seconds: None,
        };
        self.store.update_call_status(&ctx, bridging).await?;
        // The rep's leg was placed from the org's number: the callee sees that number too.
        let mut dial = Dial::new()
            .action(&self.hook(org, "bridge-ended"))
            .caller_id(&call.from)
            .timeout(BRIDGE_RING_SECONDS);
        if request.query_param("record").as_deref() == Some("1") {
            dial = dial.record(DialRecord::FromAnswerDual, &self.hook(org, "recording"));
        }
        let dial = dial.number(
            DialNumber::new(to.as_ref())
                .status_callback(&self.hook(org, "call-status"), DIALED_LEG_EVENTS),
        );
        tracing::debug!(call_sid = %call.call_sid, "click-to-call: the rep answered, dialling");
        Ok(Twiml::new().dial(&dial).build())
    }

    /// The `<Dial>` action of a click-to-call, asked when the customer's leg ended: stores its
    /// outcome on the call (as its status callbacks do; whichever comes first decides, a later
    /// one changes nothing) and ends the call.
    ///
    /// # Errors
    /// As [`InboundService::message`]; [`Error::Validation`] on `org` when the URL names none.
    pub async fn bridge_ended(&self, request: &InboundRequest<'_>) -> Result<String> {
        let (org, dial) = self
            .engine_callback(request, DialActionCallback::from_params, "action URL")
            .await?;
        let ctx = system(org, "twilio.bridge_ended", request);
        self.dial_ended(&ctx, &dial).await?;
        Ok(empty_twiml().to_owned())
    }

    /// The action of the voicemail `<Record>`: hang up (without one, Twilio would ask the
    /// voice URL again and record again).
    ///
    /// # Errors
    /// As [`InboundService::message`].
    pub async fn hangup(&self, request: &InboundRequest<'_>) -> Result<String> {
        let params = self.params(request)?;
        self.verify(request.org(), request, &params).await?;
        Ok(Twiml::new().hangup().build())
    }

    /// A call status callback: updates the call's status and duration; emits
    /// `call.completed` (or `call.status_changed`). A callback of a leg the engine dialled
    /// (`ParentCallSid`) updates the call that dialled it; when its URL names the member the
    /// leg rang (an inbound call's ringing), that member took the call (`call.answered`).
    /// Statuses only move forward; a callback of no known org is ignored (logged).
    ///
    /// # Errors
    /// As [`InboundService::message`]; [`Error::Validation`] on `member` when the URL names
    /// one that is not a member id.
    pub async fn call_status(&self, request: &InboundRequest<'_>) -> Result<()> {
        let params = self.params(request)?;
        let org = self
            .callback_org(request, &[params.get("To"), params.get("From")])
            .await?;
        self.verify(org, request, &params).await?;
        let status = CallStatusCallback::from_params(&params.0).map_err(|e| bad_payload(&e))?;
        let member_id = request
            .query_param("member")
            .map(|m| {
                m.parse::<MemberId>()
                    .map_err(|_| Error::invalid("member", "must be a member id"))
            })
            .transpose()?;
        let Some(org) = org else {
            tracing::warn!(call_sid = %status.call_sid, "status callback for a call of no known org");
            return Ok(());
        };
        let ctx = system(org, "twilio.call_status", request);
        let progress = match status.parent_call_sid {
            Some(parent) => CallProgress {
                call_sid: parent,
                leg: CallLeg::Dialed {
                    call_sid: Some(status.call_sid),
                    member_id,
                },
                status: status.call_status.as_str().to_owned(),
                duration_seconds: status.call_duration,
            },
            None => CallProgress {
                call_sid: status.call_sid,
                leg: CallLeg::Own,
                status: status.call_status.as_str().to_owned(),
                duration_seconds: status.call_duration.or(status.duration),
            },
        };
        self.store.update_call_status(&ctx, progress).await?;
        Ok(())
    }

    /// A recording callback: stores the recording's SID, URL and duration on the call (a
    /// voicemail when the URL says so). The callback URL must name the org (the engine's
    /// TwiML puts it there).
    ///
    /// # Errors
    /// As [`InboundService::message`]; [`Error::Validation`] on `org` when the URL names none.
    pub async fn recording(&self, request: &InboundRequest<'_>) -> Result<()> {
        let (org, rec) = self
            .engine_callback(
                request,
                RecordingCallback::from_params,
                "recording callback URL",
            )
            .await?;
        let ctx = system(org, "twilio.recording", request);
        let recording = CallRecording {
            call_sid: rec.call_sid,
            recording_sid: rec.recording_sid,
            recording_url: rec.recording_url,
            recording_seconds: rec.recording_duration,
            voicemail: request.query_param("voicemail").as_deref() == Some("1"),
        };
        self.store.record_recording(&ctx, recording).await?;
        Ok(())
    }

    /// A voicemail's transcription callback: stores the text (or the failure) on the call;
    /// emits `call.transcription_available`.
    ///
    /// # Errors
    /// As [`InboundService::message`]; [`Error::Validation`] on `org` when the URL names none.
    pub async fn transcription(&self, request: &InboundRequest<'_>) -> Result<()> {
        let (org, t) = self
            .engine_callback(
                request,
                TranscriptionCallback::from_params,
                "transcription callback URL",
            )
            .await?;
        let ctx = system(org, "twilio.transcription", request);
        let transcription = CallTranscription {
            call_sid: t.call_sid,
            status: t.transcription_status,
            text: t.transcription_text,
        };
        self.store.record_transcription(&ctx, transcription).await?;
        Ok(())
    }
}
