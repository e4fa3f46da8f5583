//! Webhook payloads of messages: an incoming SMS or MMS and a message status callback.

use super::FakeTwilio;
use super::messages::segments;
use super::wire::{API_VERSION, Params, country, new_sid};

impl FakeTwilio {
    /// An incoming SMS (the messaging webhook): `MessageSid`/`SmsSid`/`SmsMessageSid`
    /// `SM…`, `AccountSid`, `From`, `To`, `Body`, `NumMedia` `0`, `NumSegments` `1`,
    /// `SmsStatus` `received`, `ApiVersion` `2010-04-01` and the (empty) geographic fields.
    #[must_use]
    pub fn inbound_sms_params(&self, from: &str, to: &str, body: &str) -> Vec<(String, String)> {
        self.inbound_mms_params(from, to, body, &[])
    }

    /// An incoming MMS: as [`inbound_sms_params`](Self::inbound_sms_params) with a `MM…`
    /// SID (when `media` is not empty), `NumMedia` and `MediaUrlN`/`MediaContentTypeN` for
    /// each `(url, content_type)` of `media`.
    #[must_use]
    pub fn inbound_mms_params(
        &self,
        from: &str,
        to: &str,
        body: &str,
        media: &[(&str, &str)],
    ) -> Vec<(String, String)> {
        let sid = new_sid(if media.is_empty() { "SM" } else { "MM" });
        let mut p = Params::default();
        p.add("ToCountry", country(to))
            .add("ToState", "")
            .add("SmsMessageSid", &sid)
            .add("NumMedia", &media.len().to_string())
            .add("ToCity", "")
            .add("FromZip", "")
            .add("SmsSid", &sid)
            .add("FromState", "")
            .add("SmsStatus", "received")
            .add("FromCity", "")
            .add("Body", body)
            .add("FromCountry", country(from))
            .add("To", to)
            .add("ToZip", "")
            .add("NumSegments", &segments(body).to_string())
            .add("MessageSid", &sid)
            .add("AccountSid", self.account_sid())
            .add("From", from)
            .add("ApiVersion", API_VERSION);
        for (i, (url, content_type)) in media.iter().enumerate() {
            p.add(&format!("MediaContentType{i}"), content_type)
                .add(&format!("MediaUrl{i}"), url);
        }
        p.0
    }

    /// A message status callback for message `message_sid` (sent `from` → `to`):
    /// `MessageStatus`/`SmsStatus` `status`, plus `ErrorCode` when given (e.g. `30003` for
    /// an `undelivered` message).
    #[must_use]
    pub fn message_status_params(
        &self,
        message_sid: &str,
        from: &str,
        to: &str,
        status: &str,
        error_code: Option<u32>,
    ) -> Vec<(String, String)> {
        let mut p = Params::default();
        if let Some(code) = error_code {
            p.add("ErrorCode", &code.to_string());
        }
        p.add("SmsSid", message_sid)
            .add("SmsStatus", status)
            .add("MessageStatus", status)
            .add("To", to)
            .add("MessageSid", message_sid)
            .add("AccountSid", self.account_sid())
            .add("From", from)
            .add("ApiVersion", API_VERSION);
        p.0
    }
}
