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

mod builder;
mod errors;
mod requests;
mod resources;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Method;
use serde::de::DeserializeOwned;
use workos_core::Error;
use workos_core::channel::{CallChannel, OutboundCall, OutboundSms, ProviderReceipt, SmsChannel};
use workos_core::error::{Result, Validator};
use workos_core::tenant::TenantContext;

use builder::{Credentials, is_sid};
pub use builder::{Secret, TwilioClientBuilder};
use errors::{Op, error_from_response, unavailable};
pub use errors::{
    TransportError, TransportErrorKind, TwilioErrorKind, is_outcome_unknown, transport_error,
};
pub use requests::{CreateCall, MessageSender, SendMessage};
use resources::IncomingPhoneNumberPage;
pub use resources::{
    AccountResource, CallResource, IncomingPhoneNumberResource, MessageResource, NumberCapabilities,
};

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

    /// The account's own number `number` (E.164, e.g. `+14155550100`), or `None` when the
    /// account does not own it: `GET /2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json
    /// ?PhoneNumber=…`, retried like [`fetch_message`](Self::fetch_message). Twilio matches
    /// `PhoneNumber` as a pattern, so only an entry whose `phone_number` is exactly `number` counts.
    ///
    /// # Errors
    /// [`Error::Validation`] on `number` when it is not `+` and 1–15 digits; after the last
    /// attempt [`Error::Provider`] (401 for wrong credentials), [`Error::RateLimited`] or
    /// [`Error::Unavailable`].
    pub async fn find_incoming_phone_number(
        &self,
        number: &str,
    ) -> Result<Option<IncomingPhoneNumberResource>> {
        let digits = number.strip_prefix('+').unwrap_or_default();
        if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::invalid(
                "number",
                "must be an E.164 number: + and up to 15 digits",
            ));
        }
        // `+` must be sent as `%2B` in a query string; the rest is digits.
        let url = self.account_url(&format!(
            "IncomingPhoneNumbers.json?PhoneNumber=%2B{digits}"
        ));
        let page: IncomingPhoneNumberPage = self.get(&url, Op::Fetch("phone number")).await?;
        Ok(page
            .incoming_phone_numbers
            .into_iter()
            .find(|n| n.phone_number == number))
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
    use reqwest::StatusCode;
    use reqwest::header::{HeaderMap, RETRY_AFTER};

    use super::*;
    use crate::models::{CallStatus, MessageStatus};

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
