//! Webhooks of calls that `<Dial>`: the dialled (child) leg's status callbacks, the `<Dial>`
//! action request, and a `<Record>`'s transcription callback, with Twilio's parameter names.

use super::{API_VERSION, FakeTwilio, Params, new_sid, now};

impl FakeTwilio {
    /// The `CallSid` of the leg call `parent_sid`'s `<Dial>` created: the same for every
    /// callback of that call (made up on first use, as Twilio creates it when it dials).
    #[must_use]
    pub fn dialed_leg_sid(&self, parent_sid: &str) -> String {
        self.shared
            .lock()
            .dialed_legs
            .entry(parent_sid.to_owned())
            .or_insert_with(|| new_sid("CA"))
            .clone()
    }

    /// A status callback of the leg that call `parent_sid` dialled (`<Number statusCallback>`),
    /// `from` (the caller id) → `to`: its own `CallSid` ([`FakeTwilio::dialed_leg_sid`]),
    /// `ParentCallSid`, `Direction` `outbound-dial`, `CallStatus` `status`, `CallbackSource`
    /// `call-progress-events`, an increasing `SequenceNumber`, `Timestamp`, and — when
    /// `call_duration_secs` is given — `CallDuration` and `Duration` (minutes, rounded up).
    #[must_use]
    pub fn dialed_leg_status_params(
        &self,
        parent_sid: &str,
        from: &str,
        to: &str,
        status: &str,
        call_duration_secs: Option<u32>,
    ) -> Vec<(String, String)> {
        let sid = self.dialed_leg_sid(parent_sid);
        let sequence = {
            let mut recorded = self.shared.lock();
            let next = recorded.call_sequence.entry(sid.clone()).or_insert(0);
            let current = *next;
            *next += 1;
            current
        };
        let mut p = Params::default();
        p.add("AccountSid", self.account_sid())
            .add("ApiVersion", API_VERSION)
            .add("CallSid", &sid)
            .add("CallStatus", status)
            .add("CallbackSource", "call-progress-events")
            .add("Called", to)
            .add("Caller", from)
            .add("Direction", "outbound-dial")
            .add("From", from)
            .add("ParentCallSid", parent_sid)
            .add("SequenceNumber", &sequence.to_string())
            .add("Timestamp", &now())
            .add("To", to);
        if let Some(secs) = call_duration_secs {
            p.add("CallDuration", &secs.to_string())
                .add("Duration", &secs.div_ceil(60).to_string());
        }
        p.0
    }

    /// The request Twilio makes to a `<Dial>`'s `action` when the dial of call `call_sid`
    /// (`from` → `to`, `direction` `inbound` or `outbound-api`) ended: the call's own
    /// parameters (`CallStatus` `in-progress`: it is still up) with `DialCallStatus`
    /// (`completed`, `answered`, `busy`, `no-answer`, `failed`, `canceled`), `DialCallSid`
    /// (the dialled leg, [`FakeTwilio::dialed_leg_sid`]; absent when it `failed` before one was
    /// created), `DialBridged`, and `DialCallDuration` when it was answered.
    #[must_use]
    pub fn dial_action_params(
        &self,
        call_sid: &str,
        from: &str,
        to: &str,
        direction: &str,
        dial_status: &str,
        dial_duration_secs: Option<u32>,
    ) -> Vec<(String, String)> {
        let answered = matches!(dial_status, "completed" | "answered");
        let mut p = Params::default();
        p.add("AccountSid", self.account_sid())
            .add("ApiVersion", API_VERSION)
            .add("CallSid", call_sid)
            .add("CallStatus", "in-progress")
            .add("Called", to)
            .add("Caller", from)
            .add("DialBridged", if answered { "true" } else { "false" });
        if dial_status != "failed" {
            p.add("DialCallSid", &self.dialed_leg_sid(call_sid));
        }
        p.add("DialCallStatus", dial_status);
        if let Some(secs) = dial_duration_secs.filter(|_| answered) {
            p.add("DialCallDuration", &secs.to_string());
        }
        p.add("Direction", direction)
            .add("From", from)
            .add("To", to);
        p.0
    }

    /// A `<Record>`'s `transcribeCallback` for recording `recording_sid` of inbound call
    /// `call_sid` (`from` → `to`): `TranscriptionSid` `TR…`, `TranscriptionStatus`
    /// `completed` with `TranscriptionText` (or `failed` without, when `text` is `None`),
    /// `TranscriptionType` `fast`, `TranscriptionUrl`, `RecordingSid`, `RecordingUrl`, and the
    /// call's parameters.
    #[must_use]
    pub fn transcription_params(
        &self,
        call_sid: &str,
        recording_sid: &str,
        from: &str,
        to: &str,
        text: Option<&str>,
    ) -> Vec<(String, String)> {
        let account = self.account_sid();
        let transcription_sid = new_sid("TR");
        let base = format!("{}/{API_VERSION}/Accounts/{account}", self.base_url());
        let mut p = Params::default();
        p.add("AccountSid", account)
            .add("ApiVersion", API_VERSION)
            .add("CallSid", call_sid)
            .add("CallStatus", "completed")
            .add("Called", to)
            .add("Caller", from)
            .add("Direction", "inbound")
            .add("From", from)
            .add("RecordingSid", recording_sid)
            .add(
                "RecordingUrl",
                &format!("{base}/Recordings/{recording_sid}"),
            )
            .add("To", to)
            .add("TranscriptionSid", &transcription_sid)
            .add(
                "TranscriptionStatus",
                if text.is_some() {
                    "completed"
                } else {
                    "failed"
                },
            );
        if let Some(text) = text {
            p.add("TranscriptionText", text);
        }
        p.add("TranscriptionType", "fast").add(
            "TranscriptionUrl",
            &format!("{base}/Recordings/{recording_sid}/Transcriptions/{transcription_sid}"),
        );
        p.0
    }
}
