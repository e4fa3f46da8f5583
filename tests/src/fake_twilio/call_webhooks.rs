//! Webhook payloads of calls: an incoming call, a call status callback, a recording status
//! callback, and the instructions request of an answered click-to-call.

use super::FakeTwilio;
use super::state::find;
use super::wire::{API_VERSION, Params, country, new_sid, now};

impl FakeTwilio {
    /// An incoming call (the voice webhook): `CallSid` `CA…`, `CallStatus` `ringing`,
    /// `Direction` `inbound`, `From`/`Caller`, `To`/`Called`, `AccountSid`, `ApiVersion`.
    #[must_use]
    pub fn inbound_call_params(&self, from: &str, to: &str) -> Vec<(String, String)> {
        let mut p = Params::default();
        p.add("AccountSid", self.account_sid())
            .add("ApiVersion", API_VERSION)
            .add("CallSid", &new_sid("CA"))
            .add("CallStatus", "ringing")
            .add("Called", to)
            .add("CalledCountry", country(to))
            .add("Caller", from)
            .add("CallerCountry", country(from))
            .add("Direction", "inbound")
            .add("From", from)
            .add("FromCountry", country(from))
            .add("To", to)
            .add("ToCountry", country(to));
        p.0
    }

    /// A call status callback of an outbound call `call_sid` (`from` → `to`) with
    /// `CallStatus` `status` (`initiated`, `ringing`, `in-progress`, `completed`, …), an
    /// increasing `SequenceNumber` per call, `Timestamp`, and — when `call_duration_secs`
    /// is given — `CallDuration` and `Duration` (minutes, rounded up).
    #[must_use]
    pub fn call_status_params(
        &self,
        call_sid: &str,
        from: &str,
        to: &str,
        status: &str,
        call_duration_secs: Option<u32>,
    ) -> Vec<(String, String)> {
        let sequence = {
            let mut recorded = self.shared.lock();
            let next = recorded
                .call_sequence
                .entry(call_sid.to_owned())
                .or_insert(0);
            let current = *next;
            *next += 1;
            current
        };
        let mut p = Params::default();
        p.add("AccountSid", self.account_sid())
            .add("ApiVersion", API_VERSION)
            .add("CallSid", call_sid)
            .add("CallStatus", status)
            .add("CallbackSource", "call-progress-events")
            .add("Called", to)
            .add("Caller", from)
            .add("Direction", "outbound-api")
            .add("From", from)
            .add("SequenceNumber", &sequence.to_string())
            .add("Timestamp", &now())
            .add("To", to);
        if let Some(secs) = call_duration_secs {
            p.add("CallDuration", &secs.to_string())
                .add("Duration", &secs.div_ceil(60).to_string());
        }
        p.0
    }

    /// A `completed` recording status callback for call `call_sid`: `RecordingSid` `RE…`,
    /// `RecordingUrl` (under this fake's base URL), `RecordingDuration`, `RecordingStatus`,
    /// `RecordingChannels`, `RecordingSource`, `RecordingStartTime`.
    #[must_use]
    pub fn recording_params(&self, call_sid: &str, duration_secs: u32) -> Vec<(String, String)> {
        let recording_sid = new_sid("RE");
        let url = format!(
            "{}/{API_VERSION}/Accounts/{}/Recordings/{recording_sid}",
            self.base_url,
            self.account_sid()
        );
        let mut p = Params::default();
        p.add("AccountSid", self.account_sid())
            .add("CallSid", call_sid)
            .add("RecordingSid", &recording_sid)
            .add("RecordingUrl", &url)
            .add("RecordingStatus", "completed")
            .add("RecordingDuration", &duration_secs.to_string())
            .add("RecordingChannels", "1")
            .add("RecordingStartTime", &now())
            .add("RecordingSource", "RecordVerb")
            .add("ErrorCode", "0");
        p.0
    }

    /// The callee of the call `sid` (created through the API) answered: the URL Twilio then
    /// requests for the call's instructions (the call's `Url`) and the parameters it posts
    /// (`CallSid`, `CallStatus` `in-progress`, `Direction` `outbound-api`, `From`/`To` as
    /// created, `AccountSid`, `ApiVersion`), ready for [`send_webhook`](Self::send_webhook).
    /// `None` when no call `sid` was created or it was created with inline `Twiml`.
    #[must_use]
    pub fn answered_call(&self, sid: &str) -> Option<(String, Vec<(String, String)>)> {
        let recorded = self.shared.lock();
        let call = find(&recorded.calls, sid)?;
        let url = call
            .request
            .param("Url")
            .filter(|u| !u.is_empty())?
            .to_owned();
        let from = call.request.param("From").unwrap_or_default();
        let to = call.request.param("To").unwrap_or_default();
        let account = call.resource["account_sid"].as_str().unwrap_or_default();
        let mut p = Params::default();
        p.add("AccountSid", account)
            .add("ApiVersion", API_VERSION)
            .add("CallSid", sid)
            .add("CallStatus", "in-progress")
            .add("Called", to)
            .add("Caller", from)
            .add("Direction", "outbound-api")
            .add("From", from)
            .add("To", to);
        Some((url, p.0))
    }
}
