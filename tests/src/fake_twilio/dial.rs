//! Webhooks of calls that `<Dial>`: the dialled (child) leg's status callbacks, the `<Dial>`
//! action request, and a `<Record>`'s transcription callback, with Twilio's parameter names;
//! and Twilio's record of how a call ended (the Calls resource), whatever its callbacks said.

use serde_json::json;

use super::FakeTwilio;
use super::wire::{API_VERSION, Params, new_sid, now};

impl FakeTwilio {
    /// Twilio ended call `sid` with `status` (`completed`, `no-answer`, …) after
    /// `duration_secs`, and no callback says so (they were lost): from now on its Call resource
    /// (`GET …/Calls/{sid}.json`) does. A call created through the API keeps its resource, with
    /// `status`, `duration` (a string, as Twilio sends it) and `end_time` updated; any other
    /// call (an inbound one, a leg a `<Dial>` created: see [`FakeTwilio::dialed_leg_sid`]) gets
    /// a resource of its own, as Twilio keeps one for every call.
    pub fn end_call(&self, sid: &str, status: &str, duration_secs: Option<u32>) {
        let account = self.account_sid().to_owned();
        let mut recorded = self.shared.lock();
        let parent = recorded
            .dialed_legs
            .iter()
            .find(|(_, child)| *child == sid)
            .map(|(parent, _)| parent.clone());
        let end = |resource: &mut serde_json::Value| {
            resource["status"] = json!(status);
            resource["duration"] = json!(duration_secs.map(|d| d.to_string()));
            resource["end_time"] = json!(now());
            resource["date_updated"] = json!(now());
        };
        if let Some(created) = recorded
            .calls
            .iter_mut()
            .find(|c| c.request.sid.as_deref() == Some(sid))
        {
            end(&mut created.resource);
            return;
        }
        let resource = recorded
            .call_records
            .entry(sid.to_owned())
            .or_insert_with(|| {
                json!({
                    "account_sid": account,
                    "api_version": API_VERSION,
                    "date_created": now(),
                    "direction": if parent.is_some() { "outbound-dial" } else { "inbound" },
                    "parent_call_sid": parent,
                    "sid": sid,
                    "uri": format!("/{API_VERSION}/Accounts/{account}/Calls/{sid}.json"),
                })
            });
        end(resource);
    }

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

    /// The member at `number` answered the `<Dial>` of call `parent_sid` that the TwiML
    /// `twiml` answered (the caller `from`): the `statusCallback` URL of that `<Number>` and the
    /// parameters Twilio posts there for its `answered` event ([`Self::dialed_leg_status_params`]
    /// with `CallStatus` `in-progress`). `None` when no `<Number>` dials `number`, or it does not
    /// ask for `answered` (Twilio would send nothing).
    #[must_use]
    pub fn number_answered(
        &self,
        twiml: &str,
        parent_sid: &str,
        from: &str,
        number: &str,
    ) -> Option<(String, Vec<(String, String)>)> {
        let unescape = |v: &str| {
            v.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&")
        };
        let attr = |tag: &str, name: &str| {
            let key = format!(" {name}=\"");
            let start = tag.find(&key)? + key.len();
            let end = start + tag[start..].find('"')?;
            Some(unescape(&tag[start..end]))
        };
        twiml.split("<Number").skip(1).find_map(|rest| {
            let (tag, rest) = rest.split_once('>')?;
            let (dialled, _) = rest.split_once("</Number>")?;
            if unescape(dialled.trim()) != number {
                return None;
            }
            let events = attr(tag, "statusCallbackEvent").unwrap_or_else(|| "completed".into());
            if !events.split_whitespace().any(|e| e == "answered") {
                return None;
            }
            let url = attr(tag, "statusCallback")?;
            let params =
                self.dialed_leg_status_params(parent_sid, from, number, "in-progress", None);
            Some((url, params))
        })
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
