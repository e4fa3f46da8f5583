//! A small client for Twilio's REST API (`2010-04-01`): send messages, place calls, fetch
//! them back.
//!
//! ```no_run
//! use std::time::Duration;
//! use workos_twilio::client::{SendMessage, MessageSender, TwilioClient, TwilioErrorKind};
//!
//! # async fn run() -> Result<(), workos_core::Error> {
//! let client = TwilioClient::builder()
//!     .account_sid("AC00000000000000000000000000000000")
//!     .auth_token("your-auth-token")
//!     .timeout(Duration::from_secs(10))
//!     .build()?;
//! let params = SendMessage::new(
//!     "+14155550100",
//!     MessageSender::From("+14155550199".into()),
//!     "Your order has shipped",
//! )
//! .status_callback("https://example.com/twilio/status");
//! match client.send_message(&params).await {
//!     Ok(message) => println!("queued as {} ({})", message.sid, message.status),
//!     Err(e) if TwilioErrorKind::of(&e) == Some(TwilioErrorKind::Unsubscribed) => {
//!         // The recipient replied STOP: do not try again.
//!     }
//!     Err(e) => return Err(e),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Errors and retries
//!
//! Every method returns [`workos_core::Error`]:
//!
//! | Twilio answered / what happened        | Error                                                          |
//! |----------------------------------------|----------------------------------------------------------------|
//! | 4xx/5xx with Twilio's JSON error body  | [`Error::Provider`] `{ provider: "twilio", status, code: Some("21211"), message }` with Twilio's `message` untouched |
//! | 401 (wrong SID or token)               | [`Error::Provider`] with status 401, code `20003` and Twilio's message |
//! | 429                                    | [`Error::RateLimited`] with the `Retry-After` header's delay (1 s when absent) |
//! | 4xx/5xx without a readable body        | [`Error::Provider`] with the status, no code, and the reason phrase |
//! | timeout, connection reset, …           | [`Error::Unavailable`] whose source is a [`TransportError`]   |
//! | invalid parameters (checked before sending) | [`Error::Validation`]                                     |
//!
//! **Creating requests (`send_message`, `create_call`) are never retried.** A timeout or a
//! dropped connection after the request went out leaves the outcome unknown: Twilio may
//! have created the message or call. The error then says "outcome unknown" and
//! [`is_outcome_unknown`] returns `true`; the caller must not resend blindly (reconcile via
//! the status callback or by listing messages instead). A connection that could not be
//! established at all is reported as `Unavailable` too, but with
//! [`is_outcome_unknown`] `false`: nothing was sent.
//!
//! Idempotent reads (`fetch_message`, `fetch_call`) are retried on transport errors, 5xx and
//! 429: up to [`TwilioClientBuilder::get_retries`] times (default 3) with exponential backoff
//! from [`TwilioClientBuilder::retry_backoff`] (default 250 ms), waiting `Retry-After` on 429
//! unless it exceeds [`TwilioClientBuilder::max_retry_wait`] (default 30 s), in which case
//! the `RateLimited` error is returned at once.
//!
//! Well-known error codes can be recognised with [`TwilioErrorKind::of`] (or
//! [`TwilioClient::error_kind`]); the error itself always carries Twilio's code and message
//! unchanged.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use workos_core::Error;
use workos_core::channel::{
    CallChannel, OutboundCall, OutboundSms, ProviderReceipt, SmsChannel, SmsSender,
};
use workos_core::error::{Result, Validator};
use workos_core::tenant::TenantContext;

use crate::models::{CallStatus, MessageStatus, TwilioErrorBody};

/// The provider name carried in [`Error::Provider`].
pub const PROVIDER: &str = "twilio";
/// Twilio's REST API host.
pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";
/// The REST API version in every path.
pub const API_VERSION: &str = "2010-04-01";
/// The default whole-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// The `StatusCallbackEvent`s requested for calls by default: every progress event.
pub const CALL_STATUS_EVENTS: [&str; 4] = ["initiated", "ringing", "answered", "completed"];
/// The longest message body Twilio accepts, in characters.
pub const MAX_BODY_CHARS: usize = 1600;
/// The most `MediaUrl`s Twilio accepts on one message.
pub const MAX_MEDIA_URLS: usize = 10;

/// The delay reported for a 429 without a usable `Retry-After` header.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// `Retry-After` values are capped at this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Longest backoff between two GET attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// Largest success body read (Twilio resources are a few KiB).
const MAX_SUCCESS_BODY: usize = 1024 * 1024;
/// Largest error body read.
const MAX_ERROR_BODY: usize = 64 * 1024;
const USER_AGENT: &str = concat!("workos-twilio/", env!("CARGO_PKG_VERSION"));

// -------------------------------------------------------------------------------------------
// Secrets and builder
// -------------------------------------------------------------------------------------------

/// A credential (auth token or API key secret). `Debug` prints `Secret(..)`; there is no
/// `Display` or `Serialize`, so it is read only through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The credential itself.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

/// Builds a [`TwilioClient`]; see [`TwilioClient::builder`].
///
/// Required: [`account_sid`](Self::account_sid) and either
/// [`auth_token`](Self::auth_token) or [`api_key`](Self::api_key).
#[derive(Debug, Clone)]
pub struct TwilioClientBuilder {
    account_sid: Option<String>,
    auth_token: Option<Secret>,
    api_key: Option<(String, Secret)>,
    base_url: String,
    timeout: Duration,
    get_retries: u32,
    retry_backoff: Duration,
    max_retry_wait: Duration,
}

impl Default for TwilioClientBuilder {
    fn default() -> Self {
        Self {
            account_sid: None,
            auth_token: None,
            api_key: None,
            base_url: DEFAULT_BASE_URL.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            get_retries: 3,
            retry_backoff: Duration::from_millis(250),
            max_retry_wait: Duration::from_secs(30),
        }
    }
}

impl TwilioClientBuilder {
    /// The account (or subaccount) SID, `AC…`; it names the account in every request path.
    #[must_use]
    pub fn account_sid(mut self, account_sid: impl Into<String>) -> Self {
        self.account_sid = Some(account_sid.into());
        self
    }

    /// Authenticate with the account's auth token (HTTP Basic `account_sid:auth_token`).
    #[must_use]
    pub fn auth_token(mut self, auth_token: impl Into<Secret>) -> Self {
        self.auth_token = Some(auth_token.into());
        self
    }

    /// Authenticate with an API key (`SK…`) and its secret instead of the auth token (HTTP
    /// Basic `key_sid:secret`); the account SID still names the account in the paths.
    #[must_use]
    pub fn api_key(mut self, key_sid: impl Into<String>, secret: impl Into<Secret>) -> Self {
        self.api_key = Some((key_sid.into(), secret.into()));
        self
    }

    /// The API's base URL (default [`DEFAULT_BASE_URL`]); point it at a fake in tests.
    /// A trailing `/` is ignored; a path prefix is kept.
    #[must_use]
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// The whole-request timeout (default 15 s); connecting is limited to the smaller of
    /// this and 10 s.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many times an idempotent GET is retried after a transport error, a 5xx or a 429
    /// (default 3, so at most 4 attempts). Creating requests are never retried.
    #[must_use]
    pub fn get_retries(mut self, retries: u32) -> Self {
        self.get_retries = retries;
        self
    }

    /// The first backoff between GET attempts (default 250 ms), doubled after each attempt
    /// and capped at 8 s.
    #[must_use]
    pub fn retry_backoff(mut self, backoff: Duration) -> Self {
        self.retry_backoff = backoff;
        self
    }

    /// The longest `Retry-After` a GET waits out before retrying (default 30 s); a longer
    /// one is returned to the caller as [`Error::RateLimited`].
    #[must_use]
    pub fn max_retry_wait(mut self, max: Duration) -> Self {
        self.max_retry_wait = max;
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// [`Error::Validation`] naming every problem: a missing or non-alphanumeric account
    /// SID, no credential (or both an auth token and an API key), an empty credential, a
    /// base URL that is not an absolute `http(s)` URL without query, or a zero timeout.
    /// [`Error::Internal`] when the HTTP client cannot be built (TLS backend failure).
    pub fn build(self) -> Result<TwilioClient> {
        let mut v = Validator::new();
        let account_sid = self.account_sid.unwrap_or_default();
        v.require(
            is_sid(&account_sid),
            "account_sid",
            "the account SID is required and must be alphanumeric (AC…)",
        );
        let credentials = match (self.auth_token, self.api_key) {
            (Some(token), None) => {
                v.require(
                    !token.expose().is_empty(),
                    "auth_token",
                    "must not be empty",
                );
                Some(Credentials {
                    username: account_sid.clone(),
                    password: token,
                })
            }
            (None, Some((key_sid, secret))) => {
                v.require(
                    is_sid(&key_sid) && !secret.expose().is_empty(),
                    "api_key",
                    "the API key SID must be alphanumeric (SK…) and its secret not empty",
                );
                Some(Credentials {
                    username: key_sid,
                    password: secret,
                })
            }
            (None, None) => {
                v.require(
                    false,
                    "auth_token",
                    "an auth token or an API key is required",
                );
                None
            }
            (Some(_), Some(_)) => {
                v.require(
                    false,
                    "api_key",
                    "set either an auth token or an API key, not both",
                );
                None
            }
        };
        let base_url = self.base_url.trim().trim_end_matches('/').to_owned();
        let base_ok = reqwest::Url::parse(&base_url).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https")
                && u.host().is_some()
                && u.query().is_none()
                && u.fragment().is_none()
        });
        v.require(
            base_ok,
            "base_url",
            "must be an absolute http(s) URL without query or fragment",
        );
        v.require(!self.timeout.is_zero(), "timeout", "must not be zero");
        v.finish()?;
        let credentials = credentials.expect("validated above");

        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| Error::internal("cannot build the Twilio HTTP client", e))?;
        Ok(TwilioClient {
            inner: Arc::new(Inner {
                http,
                account_sid,
                credentials,
                base_url,
                timeout: self.timeout,
                get_retries: self.get_retries,
                retry_backoff: self.retry_backoff,
                max_retry_wait: self.max_retry_wait,
            }),
        })
    }
}

/// Whether `s` is usable as a SID in a URL path: non-empty ASCII alphanumerics.
fn is_sid(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[derive(Clone)]
struct Credentials {
    username: String,
    password: Secret,
}

// -------------------------------------------------------------------------------------------
// Request parameters
// -------------------------------------------------------------------------------------------

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

// -------------------------------------------------------------------------------------------
// Resources
// -------------------------------------------------------------------------------------------

/// An Account resource as Twilio returns it (the fields this crate reads). Twilio's answer
/// also carries the account's `auth_token`: it is never read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccountResource {
    /// `AC…`.
    pub sid: String,
    /// The account's name.
    #[serde(default)]
    pub friendly_name: String,
    /// `active`, `suspended` or `closed`.
    #[serde(default)]
    pub status: String,
    /// `Trial` or `Full`.
    #[serde(default, rename = "type")]
    pub account_type: Option<String>,
}

/// A Message resource as Twilio returns it (the fields this crate reads; others are
/// ignored). Dates are kept as sent (RFC 2822, e.g. `Thu, 24 Aug 2023 05:01:45 +0000`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MessageResource {
    /// `SM…` (or `MM…` for MMS).
    pub sid: String,
    /// `AC…`.
    #[serde(default)]
    pub account_sid: String,
    /// `MG…` when sent through a Messaging Service.
    #[serde(default)]
    pub messaging_service_sid: Option<String>,
    /// The recipient.
    #[serde(default)]
    pub to: String,
    /// The sender; `null` until a Messaging Service picked one.
    #[serde(default)]
    pub from: Option<String>,
    /// The text.
    #[serde(default)]
    pub body: String,
    /// E.g. `queued`, or `accepted` for a Messaging Service.
    pub status: MessageStatus,
    /// `outbound-api`, `inbound`, …
    #[serde(default)]
    pub direction: Option<String>,
    /// Attachment count (Twilio sends it as a string).
    #[serde(default, deserialize_with = "lenient_u32")]
    pub num_media: Option<u32>,
    /// Segment count (Twilio sends it as a string).
    #[serde(default, deserialize_with = "lenient_u32")]
    pub num_segments: Option<u32>,
    /// Delivery error code of a `failed`/`undelivered` message.
    #[serde(default)]
    pub error_code: Option<i64>,
    /// Delivery error message.
    #[serde(default)]
    pub error_message: Option<String>,
    /// Price as a decimal string, e.g. `-0.00750`.
    #[serde(default)]
    pub price: Option<String>,
    /// Price currency, e.g. `USD`.
    #[serde(default)]
    pub price_unit: Option<String>,
    /// `date_created`.
    #[serde(default)]
    pub date_created: Option<String>,
    /// `date_updated`.
    #[serde(default)]
    pub date_updated: Option<String>,
    /// `date_sent`.
    #[serde(default)]
    pub date_sent: Option<String>,
    /// The resource's path, relative to the API host.
    #[serde(default)]
    pub uri: Option<String>,
}

/// A Call resource as Twilio returns it (the fields this crate reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CallResource {
    /// `CA…`.
    pub sid: String,
    /// `AC…`.
    #[serde(default)]
    pub account_sid: String,
    /// The callee.
    #[serde(default)]
    pub to: String,
    /// The caller id.
    #[serde(default)]
    pub from: String,
    /// E.g. `queued`.
    pub status: CallStatus,
    /// `outbound-api`, `inbound`, `outbound-dial`.
    #[serde(default)]
    pub direction: Option<String>,
    /// The parent call of a `<Dial>`ed leg.
    #[serde(default)]
    pub parent_call_sid: Option<String>,
    /// Connected seconds, once ended (Twilio sends it as a string).
    #[serde(default, deserialize_with = "lenient_u32")]
    pub duration: Option<u32>,
    /// `answered_by` when machine detection ran.
    #[serde(default)]
    pub answered_by: Option<String>,
    /// Price as a decimal string.
    #[serde(default)]
    pub price: Option<String>,
    /// Price currency.
    #[serde(default)]
    pub price_unit: Option<String>,
    /// `date_created`.
    #[serde(default)]
    pub date_created: Option<String>,
    /// `date_updated`.
    #[serde(default)]
    pub date_updated: Option<String>,
    /// `start_time`.
    #[serde(default)]
    pub start_time: Option<String>,
    /// `end_time`.
    #[serde(default)]
    pub end_time: Option<String>,
    /// The resource's path, relative to the API host.
    #[serde(default)]
    pub uri: Option<String>,
}

/// A non-negative integer sent as a number, a numeric string or `null`.
fn lenient_u32<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<u32>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(u32),
        Text(String),
    }
    Ok(match Option::<Raw>::deserialize(d)? {
        Some(Raw::Number(n)) => Some(n),
        Some(Raw::Text(s)) => s.trim().parse().ok(),
        None => None,
    })
}

// -------------------------------------------------------------------------------------------
// Error classification
// -------------------------------------------------------------------------------------------

/// Twilio error codes a caller commonly acts on. Twilio's code and message stay in the
/// [`Error::Provider`]; this only names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TwilioErrorKind {
    /// 20003: authentication failed (wrong account SID, token or API key).
    AuthenticationFailed,
    /// 20404: the resource does not exist.
    NotFound,
    /// 20429: too many requests.
    TooManyRequests,
    /// 21211: the `To` number is invalid.
    InvalidToNumber,
    /// 21610: the recipient replied STOP and is unsubscribed from this sender; do not
    /// retry until they opt in again (START).
    Unsubscribed,
    /// 21614: the `To` number is not a mobile number.
    NotMobileNumber,
}

impl TwilioErrorKind {
    /// The kind of Twilio error code `code` (as carried in [`Error::Provider::code`]).
    #[must_use]
    pub fn from_code(code: &str) -> Option<Self> {
        Some(match code.trim() {
            "20003" => Self::AuthenticationFailed,
            "20404" => Self::NotFound,
            "20429" => Self::TooManyRequests,
            "21211" => Self::InvalidToNumber,
            "21610" => Self::Unsubscribed,
            "21614" => Self::NotMobileNumber,
            _ => return None,
        })
    }

    /// The kind of a Twilio [`Error::Provider`]; `None` for other errors and other codes.
    #[must_use]
    pub fn of(error: &Error) -> Option<Self> {
        match error {
            Error::Provider {
                provider,
                code: Some(code),
                ..
            } if *provider == PROVIDER => Self::from_code(code),
            _ => None,
        }
    }

    /// The Twilio error code.
    #[must_use]
    pub const fn code(self) -> u32 {
        match self {
            Self::AuthenticationFailed => 20003,
            Self::NotFound => 20404,
            Self::TooManyRequests => 20429,
            Self::InvalidToNumber => 21211,
            Self::Unsubscribed => 21610,
            Self::NotMobileNumber => 21614,
        }
    }

    /// Whether sending the same message to the same recipient can never succeed as is
    /// (invalid, non-mobile or unsubscribed recipient).
    #[must_use]
    pub const fn is_recipient_permanent(self) -> bool {
        matches!(
            self,
            Self::InvalidToNumber | Self::Unsubscribed | Self::NotMobileNumber
        )
    }
}

/// What kind of transport failure a [`TransportError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// No connection could be established (DNS, refused, TLS handshake, connect timeout):
    /// the request was not sent.
    Connect,
    /// The request timed out after it may have been sent.
    Timeout,
    /// The connection failed mid-request or mid-response (reset, closed, unreadable body).
    Io,
}

/// The source of an [`Error::Unavailable`] returned by [`TwilioClient`]: no (complete)
/// response was received.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct TransportError {
    kind: TransportErrorKind,
    outcome_unknown: bool,
    detail: String,
}

impl TransportError {
    /// What failed.
    #[must_use]
    pub const fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    /// Whether a creating request (message, call) may have taken effect at Twilio although
    /// no answer was received. Always `false` for reads and for [`TransportErrorKind::Connect`].
    #[must_use]
    pub const fn outcome_unknown(&self) -> bool {
        self.outcome_unknown
    }
}

/// Whether `error` says a message or call may have been created although the request
/// failed (timeout or dropped connection after sending): such a send must not be repeated
/// blindly.
#[must_use]
pub fn is_outcome_unknown(error: &Error) -> bool {
    transport_error(error).is_some_and(TransportError::outcome_unknown)
}

/// The [`TransportError`] behind an [`Error::Unavailable`] from this client, if any.
#[must_use]
pub fn transport_error(error: &Error) -> Option<&TransportError> {
    match error {
        Error::Unavailable {
            source: Some(source),
            ..
        } => source.downcast_ref::<TransportError>(),
        _ => None,
    }
}

/// What a request does, for error messages and retry policy.
#[derive(Debug, Clone, Copy)]
enum Op {
    /// Creates a resource; never retried.
    Create(&'static str),
    /// Reads a resource; idempotent.
    Fetch(&'static str),
}

impl Op {
    const fn noun(self) -> &'static str {
        match self {
            Self::Create(noun) | Self::Fetch(noun) => noun,
        }
    }
}

/// Maps a request that got no (complete) response to `Error::Unavailable`.
fn unavailable(e: &reqwest::Error, op: Op, response_status: Option<StatusCode>) -> Error {
    let kind = if e.is_connect() && response_status.is_none() {
        TransportErrorKind::Connect
    } else if e.is_timeout() {
        TransportErrorKind::Timeout
    } else {
        TransportErrorKind::Io
    };
    let what = match kind {
        TransportErrorKind::Connect => "could not connect to Twilio",
        TransportErrorKind::Timeout => "Twilio did not answer in time",
        TransportErrorKind::Io => "the connection to Twilio failed",
    };
    let (outcome_unknown, message) = match (op, kind) {
        (Op::Create(noun), TransportErrorKind::Connect) => {
            (false, format!("{what}: the {noun} was not sent"))
        }
        (Op::Create(noun), _) => match response_status {
            Some(status) if status.is_success() => (
                true,
                format!(
                    "{what} while reading its answer (HTTP {}): outcome unknown, the {noun} \
                     was probably created; not retried",
                    status.as_u16()
                ),
            ),
            _ => (
                true,
                format!(
                    "{what}: outcome unknown, the {noun} MAY have been sent; not retried \
                     (check its status before sending again)"
                ),
            ),
        },
        (Op::Fetch(noun), _) => (false, format!("{what} while fetching the {noun}")),
    };
    Error::Unavailable {
        message,
        source: Some(Box::new(TransportError {
            kind,
            outcome_unknown,
            detail: describe(e),
        })),
    }
}

/// An error with its chain of causes, without the URL.
fn describe(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    if let Some(url) = e.url() {
        out = out.replace(url.as_str(), "<url>");
    }
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Maps an error status and body to `Error::RateLimited` (429) or `Error::Provider`.
fn error_from_response(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error {
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Error::RateLimited {
            retry_after: retry_after(headers).unwrap_or(DEFAULT_RETRY_AFTER),
        };
    }
    match serde_json::from_slice::<TwilioErrorBody>(body) {
        Ok(parsed) => Error::Provider {
            provider: PROVIDER,
            status: Some(status.as_u16()),
            code: parsed.code.map(|c| c.to_string()),
            message: parsed.message,
        },
        Err(_) => {
            let reason = status.canonical_reason().unwrap_or("error");
            let message = if status == StatusCode::UNAUTHORIZED {
                "authentication failed: check the account SID and auth token".to_owned()
            } else {
                let text = String::from_utf8_lossy(body);
                let snippet: String = text.trim().chars().take(200).collect();
                if snippet.is_empty() {
                    reason.to_owned()
                } else {
                    format!("{reason}: {snippet}")
                }
            };
            Error::Provider {
                provider: PROVIDER,
                status: Some(status.as_u16()),
                code: None,
                message,
            }
        }
    }
}

/// A `Retry-After` header in delay-seconds, capped at an hour.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let secs: u64 = value.parse().ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

// -------------------------------------------------------------------------------------------
// The client
// -------------------------------------------------------------------------------------------

/// A Twilio REST client for one account. Cheap to clone (shared connection pool).
///
/// `Debug` hides the credential. See the [module docs](self) for the error mapping and the
/// retry policy (creating requests are never retried).
#[derive(Clone)]
pub struct TwilioClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    account_sid: String,
    credentials: Credentials,
    base_url: String,
    timeout: Duration,
    get_retries: u32,
    retry_backoff: Duration,
    max_retry_wait: Duration,
}

impl fmt::Debug for TwilioClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("TwilioClient")
            .field("account_sid", &i.account_sid)
            .field("auth_user", &i.credentials.username)
            .field("auth_secret", &i.credentials.password)
            .field("base_url", &i.base_url)
            .field("timeout", &i.timeout)
            .field("get_retries", &i.get_retries)
            .finish_non_exhaustive()
    }
}

impl TwilioClient {
    /// A builder with the defaults: [`DEFAULT_BASE_URL`], [`DEFAULT_TIMEOUT`], 3 GET retries.
    #[must_use]
    pub fn builder() -> TwilioClientBuilder {
        TwilioClientBuilder::default()
    }

    /// A client for another account (e.g. an org's own Twilio account) authenticated with that
    /// account's auth token, sharing this client's connection pool, base URL, timeout and
    /// retry settings.
    ///
    /// # Errors
    /// [`Error::Validation`] on `account_sid` (missing or not alphanumeric) or `auth_token`
    /// (empty).
    pub fn for_account(
        &self,
        account_sid: impl Into<String>,
        auth_token: impl Into<Secret>,
    ) -> Result<Self> {
        let account_sid = account_sid.into();
        let auth_token = auth_token.into();
        let mut v = Validator::new();
        v.require(
            is_sid(&account_sid),
            "account_sid",
            "the account SID is required and must be alphanumeric (AC…)",
        );
        v.require(
            !auth_token.expose().is_empty(),
            "auth_token",
            "must not be empty",
        );
        v.finish()?;
        let i = &self.inner;
        Ok(Self {
            inner: Arc::new(Inner {
                http: i.http.clone(),
                credentials: Credentials {
                    username: account_sid.clone(),
                    password: auth_token,
                },
                account_sid,
                base_url: i.base_url.clone(),
                timeout: i.timeout,
                get_retries: i.get_retries,
                retry_backoff: i.retry_backoff,
                max_retry_wait: i.max_retry_wait,
            }),
        })
    }

    /// The account SID in the request paths.
    #[must_use]
    pub fn account_sid(&self) -> &str {
        &self.inner.account_sid
    }

    /// The base URL, without trailing `/`.
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The kind of a Twilio error returned by this client; same as [`TwilioErrorKind::of`].
    #[must_use]
    pub fn error_kind(error: &Error) -> Option<TwilioErrorKind> {
        TwilioErrorKind::of(error)
    }

    /// Sends a message: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`.
    ///
    /// Sent once; never retried (see the [module docs](self)).
    ///
    /// # Errors
    /// [`Error::Validation`] before sending; [`Error::Provider`] (e.g. code `21211`,
    /// `21610`, `20003`), [`Error::RateLimited`], or [`Error::Unavailable`] — check
    /// [`is_outcome_unknown`] before sending again.
    pub async fn send_message(&self, params: &SendMessage) -> Result<MessageResource> {
        params.validate()?;
        let message: MessageResource = self
            .create(
                "Messages.json",
                &params.form_params(),
                Op::Create("message"),
            )
            .await?;
        tracing::debug!(sid = %message.sid, status = %message.status, "twilio message created");
        Ok(message)
    }

    /// Places a call: `POST /2010-04-01/Accounts/{AccountSid}/Calls.json`.
    ///
    /// Sent once; never retried (see the [module docs](self)).
    ///
    /// # Errors
    /// As [`send_message`](Self::send_message).
    pub async fn create_call(&self, params: &CreateCall) -> Result<CallResource> {
        params.validate()?;
        let call: CallResource = self
            .create("Calls.json", &params.form_params(), Op::Create("call"))
            .await?;
        tracing::debug!(sid = %call.sid, status = %call.status, "twilio call created");
        Ok(call)
    }

    /// Fetches a message: `GET /2010-04-01/Accounts/{AccountSid}/Messages/{sid}.json`,
    /// retried on transport errors, 5xx and 429.
    ///
    /// # Errors
    /// [`Error::Validation`] when `sid` is not alphanumeric; after the last attempt
    /// [`Error::Provider`] (`20404` for an unknown SID), [`Error::RateLimited`] or
    /// [`Error::Unavailable`].
    pub async fn fetch_message(&self, sid: &str) -> Result<MessageResource> {
        self.fetch("Messages", sid, Op::Fetch("message")).await
    }

    /// Fetches a call: `GET /2010-04-01/Accounts/{AccountSid}/Calls/{sid}.json`, retried
    /// like [`fetch_message`](Self::fetch_message).
    ///
    /// # Errors
    /// As [`fetch_message`](Self::fetch_message).
    pub async fn fetch_call(&self, sid: &str) -> Result<CallResource> {
        self.fetch("Calls", sid, Op::Fetch("call")).await
    }

    /// Fetches the account the client is for: `GET /2010-04-01/Accounts/{AccountSid}.json`,
    /// retried like [`fetch_message`](Self::fetch_message). A cheap check that the account SID
    /// and the credentials work.
    ///
    /// # Errors
    /// [`Error::Provider`] with status 401 and code `20003` for a wrong SID or token (see
    /// [`TwilioErrorKind::AuthenticationFailed`]); after the last attempt
    /// [`Error::RateLimited`] or [`Error::Unavailable`].
    pub async fn fetch_account(&self) -> Result<AccountResource> {
        let url = format!(
            "{}/{API_VERSION}/Accounts/{}.json",
            self.inner.base_url, self.inner.account_sid
        );
        self.get(&url, Op::Fetch("account")).await
    }

    fn account_url(&self, rest: &str) -> String {
        format!(
            "{}/{API_VERSION}/Accounts/{}/{rest}",
            self.inner.base_url, self.inner.account_sid
        )
    }

    fn request(&self, method: Method, url: &str) -> reqwest::RequestBuilder {
        let c = &self.inner.credentials;
        self.inner
            .http
            .request(method, url)
            .basic_auth(&c.username, Some(c.password.expose()))
            .header(reqwest::header::ACCEPT, "application/json")
    }

    async fn create<T: DeserializeOwned>(
        &self,
        resource: &str,
        form: &[(&'static str, String)],
        op: Op,
    ) -> Result<T> {
        let url = self.account_url(resource);
        let response = self
            .request(Method::POST, &url)
            .form(form)
            .send()
            .await
            .map_err(|e| {
                let err = unavailable(&e, op, None);
                tracing::warn!(error = %err, "twilio create request failed");
                err
            })?;
        self.read(response, op).await
    }

    async fn fetch<T: DeserializeOwned>(&self, collection: &str, sid: &str, op: Op) -> Result<T> {
        if !is_sid(sid) {
            return Err(Error::invalid("sid", "must be a Twilio SID (alphanumeric)"));
        }
        let url = self.account_url(&format!("{collection}/{sid}.json"));
        self.get(&url, op).await
    }

    /// `GET url`, retried on transport errors, 5xx and 429.
    async fn get<T: DeserializeOwned>(&self, url: &str, op: Op) -> Result<T> {
        let mut attempt: u32 = 0;
        loop {
            let result = match self.request(Method::GET, url).send().await {
                Ok(response) => self.read(response, op).await,
                Err(e) => Err(unavailable(&e, op, None)),
            };
            let err = match result {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            let Some(delay) = self.retry_delay(&err, attempt) else {
                return Err(err);
            };
            tracing::debug!(
                attempt = attempt + 1,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                error = %err,
                "retrying twilio {}", op.noun()
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// How long to wait before retrying a GET that failed with `err` on attempt `attempt`
    /// (0-based), or `None` to give up.
    fn retry_delay(&self, err: &Error, attempt: u32) -> Option<Duration> {
        let i = &self.inner;
        if attempt >= i.get_retries {
            return None;
        }
        let backoff = i
            .retry_backoff
            .saturating_mul(2u32.saturating_pow(attempt))
            .min(MAX_BACKOFF);
        match err {
            Error::RateLimited { retry_after } => {
                (*retry_after <= i.max_retry_wait).then_some(*retry_after)
            }
            Error::Provider {
                status: Some(status),
                ..
            } if *status >= 500 => Some(backoff),
            Error::Unavailable { .. } => Some(backoff),
            _ => None,
        }
    }

    /// Reads a response: the parsed resource on 2xx, the mapped error otherwise.
    async fn read<T: DeserializeOwned>(
        &self,
        mut response: reqwest::Response,
        op: Op,
    ) -> Result<T> {
        let status = response.status();
        let headers = response.headers().clone();
        let limit = if status.is_success() {
            MAX_SUCCESS_BODY
        } else {
            MAX_ERROR_BODY
        };
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = limit.saturating_sub(body.len());
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    if body.len() >= limit {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    // A truncated error body is still an error answer; a truncated success
                    // body leaves the created resource unknown.
                    if status.is_success() {
                        return Err(unavailable(&e, op, Some(status)));
                    }
                    break;
                }
            }
        }
        if !status.is_success() {
            let err = error_from_response(status, &headers, &body);
            tracing::debug!(status = status.as_u16(), error = %err, "twilio answered with an error");
            return Err(err);
        }
        serde_json::from_slice(&body).map_err(|e| {
            let consequence = match op {
                Op::Create(noun) => format!(" (the {noun} was probably created)"),
                Op::Fetch(_) => String::new(),
            };
            Error::Provider {
                provider: PROVIDER,
                status: Some(status.as_u16()),
                code: None,
                message: format!(
                    "unexpected {} body from Twilio{consequence}: {e}",
                    op.noun()
                ),
            }
        })
    }
}

#[async_trait]
impl SmsChannel for TwilioClient {
    #[tracing::instrument(
        name = "twilio.send_sms",
        skip_all,
        fields(org_id = %ctx.org_id(), request_id = ctx.request_id(), sid = tracing::field::Empty)
    )]
    async fn send_sms(&self, ctx: &TenantContext, sms: OutboundSms) -> Result<ProviderReceipt> {
        let message = self.send_message(&SendMessage::from(&sms)).await?;
        tracing::Span::current().record("sid", message.sid.as_str());
        Ok(ProviderReceipt {
            status: message.status.as_str().to_owned(),
            sid: message.sid,
        })
    }
}

#[async_trait]
impl CallChannel for TwilioClient {
    #[tracing::instrument(
        name = "twilio.start_call",
        skip_all,
        fields(org_id = %ctx.org_id(), request_id = ctx.request_id(), sid = tracing::field::Empty)
    )]
    async fn start_call(&self, ctx: &TenantContext, call: OutboundCall) -> Result<ProviderReceipt> {
        let created = self.create_call(&CreateCall::from(&call)).await?;
        tracing::Span::current().record("sid", created.sid.as_str());
        Ok(ProviderReceipt {
            status: created.status.as_str().to_owned(),
            sid: created.sid,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_credentials() {
        let client = TwilioClient::builder()
            .account_sid("AC123")
            .auth_token("super-secret-token")
            .build()
            .unwrap();
        let dbg = format!("{client:?}");
        assert!(!dbg.contains("super-secret-token"), "{dbg}");
        assert!(dbg.contains("AC123"));
        let builder = TwilioClient::builder().auth_token("super-secret-token");
        assert!(!format!("{builder:?}").contains("super-secret-token"));
    }

    #[test]
    fn builder_validates_everything() {
        let Err(Error::Validation(v)) = TwilioClient::builder()
            .account_sid("AC/../x")
            .base_url("ftp://example.com")
            .timeout(Duration::ZERO)
            .build()
        else {
            panic!("expected a validation error");
        };
        let fields: Vec<_> = v.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["account_sid", "auth_token", "base_url", "timeout"]);
        let client = TwilioClient::builder()
            .account_sid("AC1")
            .api_key("SK1", "s")
            .base_url("http://127.0.0.1:9/prefix/")
            .build()
            .unwrap();
        assert_eq!(client.base_url(), "http://127.0.0.1:9/prefix");
        assert_eq!(
            client.account_url("Messages.json"),
            "http://127.0.0.1:9/prefix/2010-04-01/Accounts/AC1/Messages.json"
        );
    }

    #[test]
    fn form_params_in_wire_order() {
        let params = SendMessage::new("+1", MessageSender::From("+2".into()), "hi")
            .media_url("https://a/1.jpg")
            .media_url("https://a/2.jpg")
            .status_callback("https://cb");
        assert_eq!(
            params.form_params(),
            [
                ("To", "+1".to_owned()),
                ("From", "+2".to_owned()),
                ("Body", "hi".to_owned()),
                ("MediaUrl", "https://a/1.jpg".to_owned()),
                ("MediaUrl", "https://a/2.jpg".to_owned()),
                ("StatusCallback", "https://cb".to_owned()),
            ]
        );
        let call = CreateCall::new("+1", "+2", "https://twiml");
        assert_eq!(call.form_params().len(), 3, "no events without a callback");
        let call = call.status_callback("https://cb");
        let events: Vec<_> = call
            .form_params()
            .into_iter()
            .filter(|(k, _)| *k == "StatusCallbackEvent")
            .map(|(_, v)| v)
            .collect();
        assert_eq!(events, CALL_STATUS_EVENTS);
    }

    #[test]
    fn send_message_validation() {
        let empty = SendMessage::new("", MessageSender::MessagingService(String::new()), "");
        let Err(Error::Validation(v)) = empty.validate() else {
            panic!("expected a validation error");
        };
        let fields: Vec<_> = v.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["to", "messaging_service_sid", "body"]);
        let long = SendMessage::new("+1", MessageSender::From("+2".into()), "x".repeat(1601));
        assert!(long.validate().is_err());
        let media_only =
            SendMessage::new("+1", MessageSender::From("+2".into()), "").media_url("https://m");
        assert!(media_only.validate().is_ok());
        assert!(!media_only.form_params().iter().any(|(k, _)| *k == "Body"));
    }

    #[test]
    fn maps_error_bodies() {
        let body = br#"{"code":21211,"message":"The 'To' number +1 is not a valid phone number.","more_info":"https://www.twilio.com/docs/errors/21211","status":400}"#;
        let err = error_from_response(StatusCode::BAD_REQUEST, &HeaderMap::new(), body);
        let Error::Provider {
            provider,
            status,
            code,
            message,
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(
            (*provider, *status, code.as_deref()),
            ("twilio", Some(400), Some("21211"))
        );
        assert_eq!(message, "The 'To' number +1 is not a valid phone number.");
        assert_eq!(
            TwilioErrorKind::of(&err),
            Some(TwilioErrorKind::InvalidToNumber)
        );

        let err = error_from_response(StatusCode::BAD_GATEWAY, &HeaderMap::new(), b"<html>");
        assert!(matches!(
            err,
            Error::Provider { status: Some(502), code: None, ref message, .. } if message == "Bad Gateway: <html>"
        ));

        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "7".parse().unwrap());
        let err = error_from_response(StatusCode::TOO_MANY_REQUESTS, &headers, b"{}");
        assert!(
            matches!(err, Error::RateLimited { retry_after } if retry_after == Duration::from_secs(7))
        );
        headers.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        let err = error_from_response(StatusCode::TOO_MANY_REQUESTS, &headers, b"{}");
        assert!(
            matches!(err, Error::RateLimited { retry_after } if retry_after == DEFAULT_RETRY_AFTER)
        );
    }

    #[test]
    fn error_kinds_round_trip() {
        for kind in [
            TwilioErrorKind::AuthenticationFailed,
            TwilioErrorKind::NotFound,
            TwilioErrorKind::TooManyRequests,
            TwilioErrorKind::InvalidToNumber,
            TwilioErrorKind::Unsubscribed,
            TwilioErrorKind::NotMobileNumber,
        ] {
            assert_eq!(
                TwilioErrorKind::from_code(&kind.code().to_string()),
                Some(kind)
            );
        }
        assert_eq!(TwilioErrorKind::from_code("30003"), None);
        let other = Error::Provider {
            provider: "gmail",
            status: Some(400),
            code: Some("21610".into()),
            message: String::new(),
        };
        assert_eq!(TwilioErrorKind::of(&other), None);
    }

    #[test]
    fn resources_parse_twilio_json() {
        let json = r#"{"account_sid":"AC1","api_version":"2010-04-01","body":"hi","date_created":"Thu, 24 Aug 2023 05:01:45 +0000","date_sent":null,"date_updated":"Thu, 24 Aug 2023 05:01:45 +0000","direction":"outbound-api","error_code":null,"error_message":null,"from":null,"messaging_service_sid":"MG1","num_media":"2","num_segments":"1","price":null,"price_unit":"USD","sid":"SM1","status":"accepted","subresource_uris":{"media":"/x"},"to":"+14155550100","uri":"/2010-04-01/Accounts/AC1/Messages/SM1.json","tags":{"a":1}}"#;
        let m: MessageResource = serde_json::from_str(json).unwrap();
        assert_eq!(m.status, MessageStatus::Accepted);
        assert_eq!(m.num_media, Some(2));
        assert_eq!(m.from, None);
        let json = r#"{"sid":"CA1","status":"queued","to":"+1","from":"+2","duration":null,"start_time":null}"#;
        let c: CallResource = serde_json::from_str(json).unwrap();
        assert_eq!(c.status, CallStatus::Queued);
        assert_eq!(c.duration, None);
    }
}
