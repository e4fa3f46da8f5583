//! The parameters of what the client creates: [`SendMessage`] and [`CreateCall`].

use workos_core::Error;
use workos_core::channel::{OutboundCall, OutboundSms, SmsSender};
use workos_core::error::{Result, Validator};

use super::{CALL_STATUS_EVENTS, MAX_BODY_CHARS, MAX_MEDIA_URLS};

/// Who a message is sent from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageSender {
    /// `From`: a Twilio number (E.164), short code, alphanumeric sender id or channel address
    /// such as `whatsapp:+14155550100`.
    From(String),
    /// `MessagingServiceSid` (`MG…`): Twilio picks the sender from the service's pool.
    MessagingService(String),
}

/// Parameters of `POST /Accounts/{AccountSid}/Messages.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendMessage {
    /// `To`: the recipient.
    pub to: String,
    /// `From` or `MessagingServiceSid`.
    pub from: MessageSender,
    /// `Body`: up to [`MAX_BODY_CHARS`] characters; may be empty when media is attached.
    pub body: String,
    /// `MediaUrl`, repeated: up to [`MAX_MEDIA_URLS`] public URLs (MMS).
    pub media_urls: Vec<String>,
    /// `StatusCallback`: where Twilio posts status changes.
    pub status_callback: Option<String>,
}

impl SendMessage {
    /// A text message without media or status callback.
    pub fn new(to: impl Into<String>, from: MessageSender, body: impl Into<String>) -> Self {
        Self {
            to: to.into(),
            from,
            body: body.into(),
            media_urls: Vec::new(),
            status_callback: None,
        }
    }

    /// Adds a `MediaUrl`.
    #[must_use]
    pub fn media_url(mut self, url: impl Into<String>) -> Self {
        self.media_urls.push(url.into());
        self
    }

    /// Sets the `StatusCallback`.
    #[must_use]
    pub fn status_callback(mut self, url: impl Into<String>) -> Self {
        self.status_callback = Some(url.into());
        self
    }

    /// Checks what Twilio would reject without a round trip.
    ///
    /// # Errors
    /// [`Error::Validation`] naming each invalid field: empty `to` or sender, neither body
    /// nor media, a body over [`MAX_BODY_CHARS`] characters, more than [`MAX_MEDIA_URLS`]
    /// media URLs or an empty one.
    pub fn validate(&self) -> Result<()> {
        let mut v = Validator::new();
        v.require(
            !self.to.trim().is_empty(),
            "to",
            "the recipient is required",
        );
        let (field, sender) = match &self.from {
            MessageSender::From(s) => ("from", s),
            MessageSender::MessagingService(s) => ("messaging_service_sid", s),
        };
        v.require(!sender.trim().is_empty(), field, "the sender is required");
        v.require(
            !self.body.is_empty() || !self.media_urls.is_empty(),
            "body",
            "a body or at least one media URL is required",
        );
        v.require(
            self.body.chars().count() <= MAX_BODY_CHARS,
            "body",
            "must be at most 1600 characters",
        );
        v.require(
            self.media_urls.len() <= MAX_MEDIA_URLS,
            "media_urls",
            "at most 10 media URLs",
        );
        v.require(
            self.media_urls.iter().all(|u| !u.trim().is_empty()),
            "media_urls",
            "media URLs must not be empty",
        );
        v.finish().map_err(Error::from)
    }

    /// The form fields as posted, in order: `To`, `From`/`MessagingServiceSid`, `Body`
    /// (omitted when empty), one `MediaUrl` per URL, `StatusCallback`.
    #[must_use]
    pub fn form_params(&self) -> Vec<(&'static str, String)> {
        let mut form = vec![("To", self.to.clone())];
        form.push(match &self.from {
            MessageSender::From(from) => ("From", from.clone()),
            MessageSender::MessagingService(sid) => ("MessagingServiceSid", sid.clone()),
        });
        if !self.body.is_empty() {
            form.push(("Body", self.body.clone()));
        }
        form.extend(self.media_urls.iter().map(|u| ("MediaUrl", u.clone())));
        if let Some(cb) = &self.status_callback {
            form.push(("StatusCallback", cb.clone()));
        }
        form
    }
}

impl From<&OutboundSms> for SendMessage {
    fn from(sms: &OutboundSms) -> Self {
        Self {
            to: sms.to.as_ref().to_owned(),
            from: match &sms.from {
                SmsSender::Number(n) => MessageSender::From(n.as_ref().to_owned()),
                SmsSender::MessagingService(sid) => MessageSender::MessagingService(sid.clone()),
            },
            body: sms.body.clone(),
            media_urls: sms
                .media_urls
                .iter()
                .map(|u| u.as_ref().to_owned())
                .collect(),
            status_callback: sms.status_callback.as_ref().map(|u| u.as_ref().to_owned()),
        }
    }
}

/// Parameters of `POST /Accounts/{AccountSid}/Calls.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateCall {
    /// `To`: the callee.
    pub to: String,
    /// `From`: caller id, one of the account's numbers.
    pub from: String,
    /// `Url`: where Twilio fetches the call's TwiML.
    pub url: String,
    /// `StatusCallback`: where Twilio posts call progress.
    pub status_callback: Option<String>,
    /// `StatusCallbackEvent`, repeated; sent only with a `status_callback`. Defaults to
    /// [`CALL_STATUS_EVENTS`].
    pub status_callback_events: Vec<String>,
}

impl CreateCall {
    /// A call to `to` from `from` running the TwiML at `url`, without status callback.
    pub fn new(to: impl Into<String>, from: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            to: to.into(),
            from: from.into(),
            url: url.into(),
            status_callback: None,
            status_callback_events: CALL_STATUS_EVENTS.iter().map(|&e| e.to_owned()).collect(),
        }
    }

    /// Sets the `StatusCallback`.
    #[must_use]
    pub fn status_callback(mut self, url: impl Into<String>) -> Self {
        self.status_callback = Some(url.into());
        self
    }

    /// Checks what Twilio would reject without a round trip.
    ///
    /// # Errors
    /// [`Error::Validation`] naming each empty field among `to`, `from`, `url`.
    pub fn validate(&self) -> Result<()> {
        let mut v = Validator::new();
        v.require(!self.to.trim().is_empty(), "to", "the callee is required");
        v.require(
            !self.from.trim().is_empty(),
            "from",
            "the caller id is required",
        );
        v.require(
            !self.url.trim().is_empty(),
            "url",
            "the TwiML URL is required",
        );
        v.finish().map_err(Error::from)
    }

    /// The form fields as posted, in order: `To`, `From`, `Url`, then `StatusCallback` and
    /// one `StatusCallbackEvent` per event when a status callback is set.
    #[must_use]
    pub fn form_params(&self) -> Vec<(&'static str, String)> {
        let mut form = vec![
            ("To", self.to.clone()),
            ("From", self.from.clone()),
            ("Url", self.url.clone()),
        ];
        if let Some(cb) = &self.status_callback {
            form.push(("StatusCallback", cb.clone()));
            form.extend(
                self.status_callback_events
                    .iter()
                    .map(|e| ("StatusCallbackEvent", e.clone())),
            );
        }
        form
    }
}

impl From<&OutboundCall> for CreateCall {
    fn from(call: &OutboundCall) -> Self {
        let mut params = Self::new(
            call.to.as_ref(),
            call.from.as_ref(),
            call.instructions_url.as_ref(),
        );
        params.status_callback = call.status_callback.as_ref().map(|u| u.as_ref().to_owned());
        params
    }
}
