//! Typed TwiML for connecting calls: `<Dial>` with `<Number>` nouns, as click-to-call and call
//! routing answer, and `<Record>` for voicemail. Attribute names and values are Twilio's; every
//! value is XML-escaped.

use std::fmt::Write as _;

use crate::models::{Twiml, xml_escape};

/// `record` of `<Dial>`: whether and how the connected call is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DialRecord {
    /// `do-not-record` (Twilio's default).
    DoNotRecord,
    /// `record-from-answer-dual`: both legs, one channel each, from when the callee answers.
    FromAnswerDual,
    /// `record-from-ringing-dual`: both legs, one channel each, from ringing.
    FromRingingDual,
}

impl DialRecord {
    /// The attribute value.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::DoNotRecord => "do-not-record",
            Self::FromAnswerDual => "record-from-answer-dual",
            Self::FromRingingDual => "record-from-ringing-dual",
        }
    }
}

/// A `<Number>` noun: one number to dial, with the status callback of its leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialNumber {
    number: String,
    status_callback: Option<(String, &'static str)>,
}

impl DialNumber {
    /// The number to dial (E.164).
    #[must_use]
    pub fn new(number: &str) -> Self {
        Self {
            number: number.to_owned(),
            status_callback: None,
        }
    }

    /// `statusCallback` for this leg, with `statusCallbackEvent` (e.g. `"answered completed"`).
    #[must_use]
    pub fn status_callback(mut self, url: &str, events: &'static str) -> Self {
        self.status_callback = Some((url.to_owned(), events));
        self
    }
}

/// The `<Dial>` verb: connects the current call to up to ten numbers (the first to answer wins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dial {
    caller_id: Option<String>,
    timeout: Option<u32>,
    record: Option<DialRecord>,
    recording_status_callback: Option<String>,
    action: Option<String>,
    answer_on_bridge: bool,
    numbers: Vec<DialNumber>,
}

impl Dial {
    /// A dial with no numbers yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// `callerId`: the number the callee sees (one of the account's numbers).
    #[must_use]
    pub fn caller_id(mut self, number: &str) -> Self {
        self.caller_id = Some(number.to_owned());
        self
    }

    /// `timeout`: seconds to ring before giving up (Twilio allows 5–600).
    #[must_use]
    pub fn timeout(mut self, seconds: u32) -> Self {
        self.timeout = Some(seconds.clamp(5, 600));
        self
    }

    /// `record`, and the `recordingStatusCallback` that reports the recording.
    #[must_use]
    pub fn record(mut self, record: DialRecord, recording_status_callback: &str) -> Self {
        self.record = Some(record);
        self.recording_status_callback = Some(recording_status_callback.to_owned());
        self
    }

    /// `action`: where Twilio asks what to do when the dial ends.
    #[must_use]
    pub fn action(mut self, url: &str) -> Self {
        self.action = Some(url.to_owned());
        self
    }

    /// `answerOnBridge="true"`: the caller hears ringing until the callee answers.
    #[must_use]
    pub fn answer_on_bridge(mut self) -> Self {
        self.answer_on_bridge = true;
        self
    }

    /// Adds a `<Number>` (Twilio dials at most ten at once; more are ignored).
    #[must_use]
    pub fn number(mut self, number: DialNumber) -> Self {
        if self.numbers.len() < 10 {
            self.numbers.push(number);
        }
        self
    }

    fn write(&self, out: &mut String) {
        out.push_str("<Dial");
        let mut attr = |name: &str, value: &str| {
            let _ = write!(out, r#" {name}="{}""#, xml_escape(value));
        };
        if let Some(v) = &self.action {
            attr("action", v);
        }
        if self.answer_on_bridge {
            attr("answerOnBridge", "true");
        }
        if let Some(v) = &self.caller_id {
            attr("callerId", v);
        }
        if let Some(v) = self.record {
            attr("record", v.as_str());
        }
        if let Some(v) = &self.recording_status_callback {
            attr("recordingStatusCallback", v);
        }
        if let Some(v) = self.timeout {
            attr("timeout", &v.to_string());
        }
        out.push('>');
        for n in &self.numbers {
            out.push_str("<Number");
            if let Some((url, events)) = &n.status_callback {
                let _ = write!(
                    out,
                    r#" statusCallback="{}" statusCallbackEvent="{}""#,
                    xml_escape(url),
                    xml_escape(events)
                );
            }
            out.push('>');
            out.push_str(&xml_escape(&n.number));
            out.push_str("</Number>");
        }
        out.push_str("</Dial>");
    }
}

/// The `<Record>` verb: records the caller (a voicemail), optionally transcribed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    action: Option<String>,
    max_length: Option<u32>,
    recording_status_callback: Option<String>,
    transcribe_callback: Option<String>,
}

impl Record {
    /// A record with Twilio's defaults.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// `action`: where Twilio asks what to do once the recording ends. Without one Twilio asks
    /// the current document's URL again, which would record again.
    #[must_use]
    pub fn action(mut self, url: &str) -> Self {
        self.action = Some(url.to_owned());
        self
    }

    /// `maxLength`: the longest recording in seconds.
    #[must_use]
    pub fn max_length(mut self, seconds: u32) -> Self {
        self.max_length = Some(seconds);
        self
    }

    /// `recordingStatusCallback`: where Twilio reports the recording.
    #[must_use]
    pub fn recording_status_callback(mut self, url: &str) -> Self {
        self.recording_status_callback = Some(url.to_owned());
        self
    }

    /// `transcribe="true"` with `transcribeCallback`: where Twilio posts the transcription
    /// (Twilio transcribes recordings of up to two minutes).
    #[must_use]
    pub fn transcribe(mut self, callback: &str) -> Self {
        self.transcribe_callback = Some(callback.to_owned());
        self
    }

    fn write(&self, out: &mut String) {
        out.push_str("<Record");
        let mut attr = |name: &str, value: &str| {
            let _ = write!(out, r#" {name}="{}""#, xml_escape(value));
        };
        if let Some(v) = &self.action {
            attr("action", v);
        }
        if let Some(v) = self.max_length {
            attr("maxLength", &v.to_string());
        }
        if let Some(v) = &self.recording_status_callback {
            attr("recordingStatusCallback", v);
        }
        if let Some(v) = &self.transcribe_callback {
            attr("transcribe", "true");
            attr("transcribeCallback", v);
        }
        out.push_str("/>");
    }
}

impl Twiml {
    /// Appends a `<Dial>`.
    #[must_use]
    pub fn dial(mut self, dial: &Dial) -> Self {
        dial.write(&mut self.verbs);
        self
    }

    /// Appends a `<Record>` with its attributes.
    #[must_use]
    pub fn record_with(mut self, record: &Record) -> Self {
        record.write(&mut self.verbs);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_writes_voicemail_attributes() {
        let twiml = Twiml::new()
            .say("Leave a message")
            .record_with(
                &Record::new()
                    .action("https://x/hangup?org=1")
                    .max_length(120)
                    .recording_status_callback("https://x/rec?org=1&voicemail=1")
                    .transcribe("https://x/tr?org=1"),
            )
            .hangup()
            .build();
        assert_eq!(
            twiml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say>Leave a message</Say>\
             <Record action=\"https://x/hangup?org=1\" maxLength=\"120\" \
             recordingStatusCallback=\"https://x/rec?org=1&amp;voicemail=1\" transcribe=\"true\" \
             transcribeCallback=\"https://x/tr?org=1\"/><Hangup/></Response>"
        );
    }

    #[test]
    fn dial_writes_twilio_s_attributes_escaped() {
        let twiml = Twiml::new()
            .dial(
                &Dial::new()
                    .caller_id("+14155550100")
                    .timeout(2)
                    .record(DialRecord::FromAnswerDual, "https://x/rec?org=1&a=<b>")
                    .number(
                        DialNumber::new("+14155550111")
                            .status_callback("https://x/s?org=1", "answered completed"),
                    ),
            )
            .build();
        assert_eq!(
            twiml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Dial callerId=\"+14155550100\" \
             record=\"record-from-answer-dual\" recordingStatusCallback=\"https://x/rec?org=1&amp;a=&lt;b&gt;\" \
             timeout=\"5\"><Number statusCallback=\"https://x/s?org=1\" statusCallbackEvent=\"answered completed\">\
             +14155550111</Number></Dial></Response>"
        );
    }
}
