//! Twilio webhook payloads, status values, REST error bodies and minimal TwiML.
//!
//! Twilio posts webhooks as `application/x-www-form-urlencoded` with PascalCase names. Each
//! payload type has a `from_params` constructor taking the decoded pairs (see
//! [`parse_form`](crate::signature::parse_form)); errors name the offending field. Optional
//! fields that are absent or empty become `None`. The serde derives use the same PascalCase
//! names, for storing or forwarding parsed payloads as JSON.
//!
//! Status values Twilio adds later never fail parsing: they land in an `Other` variant.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a webhook's form parameters could not be read into a payload type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// A required parameter is absent or empty.
    #[error("missing required Twilio parameter `{0}`")]
    Missing(String),
    /// A parameter is present but its value cannot be read.
    #[error("invalid Twilio parameter `{field}`: {reason}")]
    Invalid {
        /// The parameter's name, e.g. `NumMedia`.
        field: String,
        /// What was wrong with the value.
        reason: String,
    },
}

impl ParseError {
    /// The name of the parameter that was missing or invalid.
    #[must_use]
    pub fn field(&self) -> &str {
        match self {
            Self::Missing(field) | Self::Invalid { field, .. } => field,
        }
    }
}

/// Lookup over decoded form pairs; the first occurrence of a name wins.
struct Params<'a>(&'a [(String, String)]);

impl Params<'_> {
    fn optional(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    }

    fn required(&self, name: &str) -> Result<String, ParseError> {
        self.optional(name)
            .ok_or_else(|| ParseError::Missing(name.to_owned()))
    }

    fn optional_parsed<T>(&self, name: &str) -> Result<Option<T>, ParseError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.optional(name)
            .map(|raw| {
                raw.trim().parse().map_err(|e: T::Err| ParseError::Invalid {
                    field: name.to_owned(),
                    reason: format!("{e} (got {raw:?})"),
                })
            })
            .transpose()
    }

    fn required_parsed<T>(&self, name: &str) -> Result<T, ParseError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.optional_parsed(name)?
            .ok_or_else(|| ParseError::Missing(name.to_owned()))
    }
}

/// One media attachment of an inbound MMS / WhatsApp message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Media {
    /// `MediaUrlN`: where Twilio stores the attachment (fetching may need account auth).
    pub url: String,
    /// `MediaContentTypeN`, e.g. `image/jpeg`.
    pub content_type: String,
}

/// An incoming SMS/MMS/WhatsApp message (the messaging webhook).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
pub struct InboundMessage {
    /// `MessageSid` (`SM…`/`MM…`).
    pub message_sid: String,
    /// `AccountSid` (`AC…`).
    pub account_sid: String,
    /// `MessagingServiceSid` (`MG…`), when the number belongs to a Messaging Service.
    pub messaging_service_sid: Option<String>,
    /// `From`: the sender. Usually E.164, but may be a short code, an alphanumeric sender
    /// or a channel address such as `whatsapp:+14155550100`.
    pub from: String,
    /// `To`: the receiving Twilio address, in the same forms as `from`.
    pub to: String,
    /// `Body`: the text, possibly empty (e.g. a media-only MMS).
    pub body: String,
    /// The attachments, from `NumMedia`, `MediaUrl0..N` and `MediaContentType0..N`.
    pub media: Vec<Media>,
}

impl InboundMessage {
    /// Reads an inbound message webhook's decoded form parameters.
    ///
    /// # Errors
    /// [`ParseError::Missing`] when `MessageSid`, `AccountSid`, `From`, `To` or a
    /// `MediaUrlN` / `MediaContentTypeN` announced by `NumMedia` is absent;
    /// [`ParseError::Invalid`] when `NumMedia` is not a small non-negative integer.
    pub fn from_params(params: &[(String, String)]) -> Result<Self, ParseError> {
        /// Twilio caps inbound media at 10 per message; this bound only guards allocation.
        const MAX_MEDIA: usize = 100;
        let p = Params(params);
        let num_media: usize = p.optional_parsed("NumMedia")?.unwrap_or(0);
        if num_media > MAX_MEDIA {
            return Err(ParseError::Invalid {
                field: "NumMedia".to_owned(),
                reason: format!("{num_media} exceeds the limit of {MAX_MEDIA}"),
            });
        }
        let media = (0..num_media)
            .map(|i| {
                Ok(Media {
                    url: p.required(&format!("MediaUrl{i}"))?,
                    content_type: p.required(&format!("MediaContentType{i}"))?,
                })
            })
            .collect::<Result<_, ParseError>>()?;
        Ok(Self {
            message_sid: p.required("MessageSid")?,
            account_sid: p.required("AccountSid")?,
            messaging_service_sid: p.optional("MessagingServiceSid"),
            from: p.required("From")?,
            to: p.required("To")?,
            body: p.optional("Body").unwrap_or_default(),
            media,
        })
    }
}

/// An incoming voice call (the voice webhook).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
pub struct InboundCall {
    /// `CallSid` (`CA…`).
    pub call_sid: String,
    /// `AccountSid` (`AC…`).
    pub account_sid: String,
    /// `From`: the caller (E.164, `client:…`, `sip:…`, or `anonymous`-style values).
    pub from: String,
    /// `To`: the called Twilio address.
    pub to: String,
    /// `CallStatus`, normally `ringing` for a new inbound call.
    pub call_status: CallStatus,
    /// `Direction`: `inbound`, `outbound-api` or `outbound-dial`.
    pub direction: String,
}

impl InboundCall {
    /// Reads a voice webhook's decoded form parameters.
    ///
    /// # Errors
    /// [`ParseError::Missing`] naming the first absent one of `CallSid`, `AccountSid`,
    /// `From`, `To`, `CallStatus`, `Direction`.
    pub fn from_params(params: &[(String, String)]) -> Result<Self, ParseError> {
        let p = Params(params);
        Ok(Self {
            call_sid: p.required("CallSid")?,
            account_sid: p.required("AccountSid")?,
            from: p.required("From")?,
            to: p.required("To")?,
            call_status: p.required_parsed("CallStatus")?,
            direction: p.required("Direction")?,
        })
    }
}

/// A message status callback (`StatusCallback` of an outbound message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
pub struct MessageStatusCallback {
    /// `MessageSid`.
    pub message_sid: String,
    /// `MessageStatus` (falls back to the legacy `SmsStatus` when absent).
    pub message_status: MessageStatus,
    /// `AccountSid`, when sent.
    pub account_sid: Option<String>,
    /// `ErrorCode` for `failed`/`undelivered` messages, e.g. `30003`.
    pub error_code: Option<u32>,
    /// `ErrorMessage`, when Twilio includes one.
    pub error_message: Option<String>,
}

impl MessageStatusCallback {
    /// Reads a message status callback's decoded form parameters.
    ///
    /// # Errors
    /// [`ParseError::Missing`] when `MessageSid` or `MessageStatus` (and `SmsStatus`) is
    /// absent; [`ParseError::Invalid`] when `ErrorCode` is not an integer.
    pub fn from_params(params: &[(String, String)]) -> Result<Self, ParseError> {
        let p = Params(params);
        let message_sid = p.required("MessageSid")?;
        let message_status = match p
            .optional("MessageStatus")
            .or_else(|| p.optional("SmsStatus"))
        {
            Some(raw) => MessageStatus::from(raw.as_str()),
            None => return Err(ParseError::Missing("MessageStatus".to_owned())),
        };
        Ok(Self {
            message_sid,
            message_status,
            account_sid: p.optional("AccountSid"),
            error_code: p.optional_parsed("ErrorCode")?,
            error_message: p.optional("ErrorMessage"),
        })
    }
}

/// A call status callback (`StatusCallback` of a call).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
pub struct CallStatusCallback {
    /// `CallSid`.
    pub call_sid: String,
    /// `CallStatus`.
    pub call_status: CallStatus,
    /// `AccountSid`, when sent.
    pub account_sid: Option<String>,
    /// `From`, when sent.
    pub from: Option<String>,
    /// `To`, when sent.
    pub to: Option<String>,
    /// `Direction`, when sent.
    pub direction: Option<String>,
    /// `CallDuration`: seconds the call was connected (final callbacks only).
    pub call_duration: Option<u32>,
    /// `Duration`: billed minutes, rounded up (final callbacks only).
    pub duration: Option<u32>,
    /// `SipResponseCode`, when the call involved SIP.
    pub sip_response_code: Option<u16>,
    /// `Timestamp` (RFC 2822), as sent.
    pub timestamp: Option<String>,
    /// `SequenceNumber`: orders callbacks of one call.
    pub sequence_number: Option<u32>,
    /// `ParentCallSid`: set on a leg a `<Dial>` created (a child call), naming the call that
    /// dialled it.
    pub parent_call_sid: Option<String>,
}

impl CallStatusCallback {
    /// Reads a call status callback's decoded form parameters.
    ///
    /// # Errors
    /// [`ParseError::Missing`] when `CallSid` or `CallStatus` is absent;
    /// [`ParseError::Invalid`] when `CallDuration`, `Duration`, `SipResponseCode` or
    /// `SequenceNumber` is not a non-negative integer.
    pub fn from_params(params: &[(String, String)]) -> Result<Self, ParseError> {
        let p = Params(params);
        Ok(Self {
            call_sid: p.required("CallSid")?,
            call_status: p.required_parsed("CallStatus")?,
            account_sid: p.optional("AccountSid"),
            from: p.optional("From"),
            to: p.optional("To"),
            direction: p.optional("Direction"),
            call_duration: p.optional_parsed("CallDuration")?,
            duration: p.optional_parsed("Duration")?,
            sip_response_code: p.optional_parsed("SipResponseCode")?,
            timestamp: p.optional("Timestamp"),
            sequence_number: p.optional_parsed("SequenceNumber")?,
            parent_call_sid: p.optional("ParentCallSid"),
        })
    }
}

/// The request to a `<Dial>`'s `action` URL, made on the calling leg when the dial ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
pub struct DialActionCallback {
    /// `CallSid`: the calling leg.
    pub call_sid: String,
    /// `DialCallStatus`: `completed`, `answered`, `busy`, `no-answer`, `failed` or `canceled`.
    pub dial_call_status: String,
    /// `DialCallSid`: the dialled leg, when one was created.
    pub dial_call_sid: Option<String>,
    /// `DialCallDuration`: seconds the dialled leg was connected.
    pub dial_call_duration: Option<u32>,
}

impl DialActionCallback {
    /// Reads a `<Dial>` action request's decoded form parameters.
    ///
    /// # Errors
    /// [`ParseError::Missing`] when `CallSid` or `DialCallStatus` is absent;
    /// [`ParseError::Invalid`] when `DialCallDuration` is not a non-negative integer.
    pub fn from_params(params: &[(String, String)]) -> Result<Self, ParseError> {
        let p = Params(params);
        Ok(Self {
            call_sid: p.required("CallSid")?,
            dial_call_status: p.required("DialCallStatus")?,
            dial_call_sid: p.optional("DialCallSid"),
            dial_call_duration: p.optional_parsed("DialCallDuration")?,
        })
    }

    /// Whether the dialled party answered (`completed` or `answered`).
    #[must_use]
    pub fn answered(&self) -> bool {
        matches!(self.dial_call_status.as_str(), "completed" | "answered")
    }

    /// The dialled leg's final call status: `answered` (connected, the caller hung up) reads
    /// `completed`, as the leg's own status callback says.
    #[must_use]
    pub fn leg_status(&self) -> &str {
        if self.answered() {
            "completed"
        } else {
            &self.dial_call_status
        }
    }
}

/// A `<Record>`'s `transcribeCallback` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
pub struct TranscriptionCallback {
    /// `CallSid` of the recorded call.
    pub call_sid: String,
    /// `TranscriptionSid` (`TR…`).
    pub transcription_sid: String,
    /// `TranscriptionStatus`: `completed` or `failed`.
    pub transcription_status: String,
    /// `TranscriptionText`, when it completed.
    pub transcription_text: Option<String>,
    /// `RecordingSid` of the recording transcribed.
    pub recording_sid: Option<String>,
}

impl TranscriptionCallback {
    /// Reads a transcription callback's decoded form parameters.
    ///
    /// # Errors
    /// [`ParseError::Missing`] when `CallSid`, `TranscriptionSid` or `TranscriptionStatus` is
    /// absent.
    pub fn from_params(params: &[(String, String)]) -> Result<Self, ParseError> {
        let p = Params(params);
        Ok(Self {
            call_sid: p.required("CallSid")?,
            transcription_sid: p.required("TranscriptionSid")?,
            transcription_status: p.required("TranscriptionStatus")?,
            transcription_text: p.optional("TranscriptionText"),
            recording_sid: p.optional("RecordingSid"),
        })
    }
}

/// A recording status callback (`recordingStatusCallback` of `<Record>` or a call).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
pub struct RecordingCallback {
    /// `RecordingSid` (`RE…`).
    pub recording_sid: String,
    /// `RecordingUrl`: the recording resource (append `.mp3`/`.wav` for media).
    pub recording_url: String,
    /// `RecordingDuration` in seconds; `None` when absent or empty (e.g. `absent` or
    /// `failed` recordings).
    pub recording_duration: Option<u32>,
    /// `CallSid` of the recorded call.
    pub call_sid: String,
    /// `RecordingStatus`: `in-progress`, `completed`, `absent` or `failed`.
    pub recording_status: String,
}

impl RecordingCallback {
    /// Reads a recording status callback's decoded form parameters.
    ///
    /// # Errors
    /// [`ParseError::Missing`] when `RecordingSid`, `RecordingUrl`, `CallSid` or
    /// `RecordingStatus` is absent; [`ParseError::Invalid`] when `RecordingDuration` is not
    /// a non-negative integer.
    pub fn from_params(params: &[(String, String)]) -> Result<Self, ParseError> {
        let p = Params(params);
        Ok(Self {
            recording_sid: p.required("RecordingSid")?,
            recording_url: p.required("RecordingUrl")?,
            recording_duration: p.optional_parsed("RecordingDuration")?,
            call_sid: p.required("CallSid")?,
            recording_status: p.required("RecordingStatus")?,
        })
    }
}

/// Defines a wire-string status enum with an `Other` catch-all, `as_str`, `From<&str>`,
/// infallible `FromStr`, `Display` and string serde.
macro_rules! status_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal,)+ }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this crate does not know yet, kept verbatim.
            Other(String),
        }

        impl $name {
            /// Every known (non-`Other`) value.
            pub const KNOWN: &'static [Self] = &[$(Self::$variant,)+];

            /// The value exactly as Twilio sends it.
            #[must_use]
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)+
                    Self::Other(s) => s,
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $($wire => Self::$variant,)+
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok(Self::from(s))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Ok(Self::from(s.as_ref()))
            }
        }
    };
}

status_enum! {
    /// A message's `MessageStatus`.
    #[non_exhaustive]
    MessageStatus {
        /// `queued`
        Queued = "queued",
        /// `sending`
        Sending = "sending",
        /// `sent`: handed to the carrier.
        Sent = "sent",
        /// `delivered`: the carrier confirmed delivery.
        Delivered = "delivered",
        /// `undelivered`: the carrier could not deliver.
        Undelivered = "undelivered",
        /// `failed`: Twilio could not send.
        Failed = "failed",
        /// `receiving`: an inbound message is being received.
        Receiving = "receiving",
        /// `received`: an inbound message arrived.
        Received = "received",
        /// `accepted`: a Messaging Service accepted the request.
        Accepted = "accepted",
        /// `scheduled`: queued for later sending.
        Scheduled = "scheduled",
        /// `read`: the recipient opened it (WhatsApp, RCS, …).
        Read = "read",
        /// `partially_delivered`.
        PartiallyDelivered = "partially_delivered",
        /// `canceled`: a scheduled message was canceled.
        Canceled = "canceled",
    }
}

impl MessageStatus {
    /// Whether the message has reached an outcome: `delivered`, `undelivered`, `failed`,
    /// `received`, `read`, `partially_delivered` or `canceled`. (On channels with read
    /// receipts `read` can still follow `delivered`.) Unknown values are not final.
    #[must_use]
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Delivered
                | Self::Undelivered
                | Self::Failed
                | Self::Received
                | Self::Read
                | Self::PartiallyDelivered
                | Self::Canceled
        )
    }
}

status_enum! {
    /// A call's `CallStatus`.
    #[non_exhaustive]
    CallStatus {
        /// `queued`
        Queued = "queued",
        /// `ringing`
        Ringing = "ringing",
        /// `in-progress`: answered.
        InProgress = "in-progress",
        /// `completed`: answered and ended normally.
        Completed = "completed",
        /// `busy`
        Busy = "busy",
        /// `failed`
        Failed = "failed",
        /// `no-answer`
        NoAnswer = "no-answer",
        /// `canceled`: hung up while queued or ringing.
        Canceled = "canceled",
    }
}

impl CallStatus {
    /// Whether the call has ended: `completed`, `busy`, `failed`, `no-answer` or
    /// `canceled`. Unknown values are not final.
    #[must_use]
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Busy | Self::Failed | Self::NoAnswer | Self::Canceled
        )
    }
}

/// The JSON error body of Twilio's REST API, e.g.
/// `{"code": 20404, "message": "…", "more_info": "https://www.twilio.com/docs/errors/20404", "status": 404}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("Twilio error {}: {message}", code.map_or_else(|| "(no code)".to_owned(), |c| c.to_string()))]
#[non_exhaustive]
pub struct TwilioErrorBody {
    /// Twilio's error code (see `more_info`).
    #[serde(default)]
    pub code: Option<i64>,
    /// Human-readable description.
    pub message: String,
    /// Link to the error's documentation.
    #[serde(default)]
    pub more_info: Option<String>,
    /// The HTTP status code, repeated in the body.
    #[serde(default)]
    pub status: Option<u16>,
}

const XML_DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// The TwiML response that does nothing (acknowledges a webhook without replying).
#[must_use]
pub fn empty_twiml() -> &'static str {
    r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#
}

/// Escapes `&`, `<`, `>`, `"` and `'` for XML text and attribute values.
#[must_use]
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// A minimal TwiML `<Response>` builder supporting `<Say>` and `<Record>`; all text and
/// attribute values are XML-escaped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Twiml {
    pub(crate) verbs: String,
}

impl Twiml {
    /// An empty response.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `<Say>text</Say>`.
    #[must_use]
    pub fn say(mut self, text: &str) -> Self {
        self.verbs.push_str("<Say>");
        self.verbs.push_str(&xml_escape(text));
        self.verbs.push_str("</Say>");
        self
    }

    /// Appends `<Message>text</Message>` (a reply to an inbound message).
    #[must_use]
    pub fn message(mut self, text: &str) -> Self {
        self.verbs.push_str("<Message>");
        self.verbs.push_str(&xml_escape(text));
        self.verbs.push_str("</Message>");
        self
    }

    /// Appends `<Hangup/>`.
    #[must_use]
    pub fn hangup(mut self) -> Self {
        self.verbs.push_str("<Hangup/>");
        self
    }

    /// Appends `<Record recordingStatusCallback="url"/>` (see [`crate::twiml::Record`] for
    /// the other attributes).
    #[must_use]
    pub fn record(mut self, recording_status_callback: &str) -> Self {
        self.verbs.push_str(r#"<Record recordingStatusCallback=""#);
        self.verbs.push_str(&xml_escape(recording_status_callback));
        self.verbs.push_str(r#""/>"#);
        self
    }

    /// The complete document, with XML declaration; equals [`empty_twiml`] when no verb was
    /// added.
    #[must_use]
    pub fn build(&self) -> String {
        if self.verbs.is_empty() {
            return empty_twiml().to_owned();
        }
        format!("{XML_DECLARATION}<Response>{}</Response>", self.verbs)
    }
}

impl fmt::Display for Twiml {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.build())
    }
}
