//! A fake Twilio REST API on `127.0.0.1`, and a sender of signed Twilio webhooks.
//!
//! [`FakeTwilio`] speaks Twilio's wire format for the calls the engine makes:
//!
//! - `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` and `…/Calls.json` with form
//!   bodies, answered `201` with realistic JSON resources (`sid` `SM`/`MM`/`CA` + 32 hex,
//!   `status` `queued` — `accepted` for a Messaging Service —, `to`, `from`, `body`,
//!   `date_created`, `num_media`, `uri`, …);
//! - `GET …/Messages/{Sid}.json` and `…/Calls/{Sid}.json` for created resources, and
//!   `GET /2010-04-01/Accounts/{AccountSid}.json` for the account the credentials are for;
//! - `GET …/IncomingPhoneNumbers.json?PhoneNumber=…`: the account's own numbers
//!   ([`FakeTwilio::add_incoming_number`]) as Twilio lists them (`incoming_phone_numbers` with
//!   `sid` `PN…`, `phone_number`, `capabilities` `{voice, sms, mms, fax}`, … and the paging
//!   fields); like Twilio, `PhoneNumber` matches part of a number;
//! - HTTP Basic auth (account SID + auth token), answering `401` with Twilio's error body
//!   (`{"code":20003,"message":"Authenticate",…}`) otherwise; Twilio's `400` errors for a
//!   missing `To` (21604), sender (21603) or body (21602) and a too-long body (21617);
//!   `404` with code `20404` for anything else.
//!
//! Every request is recorded ([`FakeTwilio::requests`]); created resources are listed by
//! [`FakeTwilio::sent_messages`] and [`FakeTwilio::created_calls`] with their decoded form
//! parameters. The next responses can be scripted: [`FakeTwilio::fail_next`] answers with a
//! Twilio error body (e.g. `400` + `21211` invalid number, `400` + `21610` unsubscribed,
//! `500`), [`FakeTwilio::rate_limit_next`] with a `429` and `Retry-After`, and
//! [`FakeTwilio::hang_next`] processes the request normally (the message *is* created) but
//! delays the answer, to provoke client timeouts. Scripted answers queue up and apply to the
//! next requests in order, whatever their path. Twilio's STOP filter is kept too:
//! [`FakeTwilio::stop_filtered`] makes every later message from a number to a recipient fail
//! with `21610`, as after the recipient texted STOP to it.
//!
//! The other direction — Twilio calling *your* server — is [`FakeTwilio::send_webhook`]
//! (or a standalone [`WebhookSigner`]): it posts form parameters signed with
//! `X-Twilio-Signature` exactly as Twilio does, and helpers build realistic payloads:
//! [`inbound_sms_params`](FakeTwilio::inbound_sms_params),
//! [`inbound_mms_params`](FakeTwilio::inbound_mms_params),
//! [`message_status_params`](FakeTwilio::message_status_params),
//! [`inbound_call_params`](FakeTwilio::inbound_call_params),
//! [`call_status_params`](FakeTwilio::call_status_params),
//! [`recording_params`](FakeTwilio::recording_params), and for calls that `<Dial>`:
//! [`dialed_leg_status_params`](FakeTwilio::dialed_leg_status_params) (the child leg's own
//! status callbacks, with `ParentCallSid`), [`dial_action_params`](FakeTwilio::dial_action_params)
//! (the `<Dial>` action request) and
//! [`transcription_params`](FakeTwilio::transcription_params) (a `<Record>`'s
//! `transcribeCallback`).
//!
//! ```
//! use workos_tests::fake_twilio::{FakeTwilio, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN};
//! use workos_twilio::client::{MessageSender, SendMessage};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let twilio = FakeTwilio::start(TEST_AUTH_TOKEN, TEST_ACCOUNT_SID).await;
//! // Point the real client at the fake.
//! let client = twilio.client_builder().build().unwrap();
//! let sent = client
//!     .send_message(&SendMessage::new(
//!         "+14155550100",
//!         MessageSender::From("+14155550199".into()),
//!         "Hello",
//!     ))
//!     .await
//!     .unwrap();
//! assert!(sent.sid.starts_with("SM"));
//! let recorded = twilio.sent_messages();
//! assert_eq!(recorded[0].param("Body"), Some("Hello"));
//!
//! // Scripted failure: the next request gets Twilio's "invalid To" error.
//! twilio.fail_next(400, 21211, "The 'To' number +1555 is not a valid phone number.");
//!
//! // Drive a server under test the way Twilio does (signed form post):
//! let params = twilio.inbound_sms_params("+14155550100", "+14155550199", "STOP");
//! # let _ = params;
//! // let response = twilio.send_webhook("https://app.test/twilio/sms", &params).await;
//! # });
//! ```
//!
//! The URL given to [`send_webhook`](FakeTwilio::send_webhook) is signed byte for byte:
//! pass the URL exactly as the server under test reconstructs it (scheme, host, port,
//! path and query).

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use workos_twilio::client::TwilioClientBuilder;
use workos_twilio::{RequestValidator, SIGNATURE_HEADER, TwilioClient, parse_form};

mod dial;

/// A realistic-looking account SID for tests.
pub const TEST_ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
/// An auth token for tests.
pub const TEST_AUTH_TOKEN: &str = "0123456789abcdef0123456789abcdef";

const API_VERSION: &str = "2010-04-01";
/// The `Timestamp`/date format Twilio uses (RFC 2822).
const DATE_FORMAT: &str = "%a, %d %b %Y %H:%M:%S %z";

/// One request the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, e.g. `/2010-04-01/Accounts/AC…/Messages.json`.
    pub path: String,
    /// The decoded form body, in order, repeated names kept.
    pub params: Vec<(String, String)>,
    /// The decoded HTTP Basic credentials, when sent.
    pub basic_auth: Option<(String, String)>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The raw query string, when there is one.
    pub query: Option<String>,
    /// The SID of the message or call this request created (set in
    /// [`FakeTwilio::sent_messages`] / [`FakeTwilio::created_calls`], `None` in
    /// [`FakeTwilio::requests`]).
    pub sid: Option<String>,
}

impl RecordedRequest {
    /// The first value of form parameter `name`.
    #[must_use]
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of form parameter `name` (e.g. `MediaUrl`), in order.
    #[must_use]
    pub fn params_named(&self, name: &str) -> Vec<&str> {
        self.params
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A scripted answer.
#[derive(Debug, Clone)]
enum Injection {
    Fail {
        status: StatusCode,
        code: i64,
        message: String,
        retry_after: Option<u64>,
    },
    Hang(Duration),
}

struct Created {
    request: RecordedRequest,
    resource: Value,
}

#[derive(Default)]
struct Recorded {
    requests: Vec<RecordedRequest>,
    messages: Vec<Created>,
    calls: Vec<Created>,
    injections: VecDeque<Injection>,
    call_sequence: HashMap<String, u32>,
    /// The leg each call's `<Dial>` created (parent `CallSid` → child `CallSid`).
    dialed_legs: HashMap<String, String>,
    /// Twilio's record of calls not created through the API (inbound calls, dialled legs), by
    /// `CallSid`: see [`FakeTwilio::end_call`].
    call_records: HashMap<String, Value>,
}

struct Shared {
    account_sid: String,
    auth_token: String,
    /// More accounts the fake serves (e.g. an org's own), SID → auth token.
    accounts: Mutex<HashMap<String, String>>,
    /// The accounts' own numbers (IncomingPhoneNumber resources).
    numbers: Mutex<Vec<Value>>,
    /// Twilio's STOP filter: (sender number, recipient) pairs it refuses with 21610.
    stopped: Mutex<HashSet<(String, String)>>,
    recorded: Mutex<Recorded>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Recorded> {
        // A panicking test thread must not hide the records from the others.
        self.recorded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A fake Twilio REST API listening on `127.0.0.1` (see the [module docs](self)).
///
/// The server stops when the value is dropped.
pub struct FakeTwilio {
    base_url: String,
    shared: Arc<Shared>,
    signer: WebhookSigner,
    task: JoinHandle<()>,
}

impl fmt::Debug for FakeTwilio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeTwilio")
            .field("base_url", &self.base_url)
            .field("account_sid", &self.shared.account_sid)
            .finish_non_exhaustive()
    }
}

impl Drop for FakeTwilio {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeTwilio {
    /// Starts the fake for the account `account_sid` whose auth token is `auth_token`, on
    /// an ephemeral port of `127.0.0.1`. Must run inside a Tokio runtime.
    ///
    /// # Panics
    /// When no local port can be bound.
    pub async fn start(auth_token: &str, account_sid: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake Twilio API on 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            account_sid: account_sid.to_owned(),
            auth_token: auth_token.to_owned(),
            accounts: Mutex::new(HashMap::new()),
            numbers: Mutex::new(Vec::new()),
            stopped: Mutex::new(HashSet::new()),
            recorded: Mutex::new(Recorded::default()),
        });
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base_url: format!("http://{addr}"),
            shared,
            signer: WebhookSigner::new(auth_token),
            task,
        }
    }

    /// Serves one more account (e.g. an org's own Twilio account) at the same base URL:
    /// requests authenticated as `account_sid:auth_token` may use `/Accounts/{account_sid}/…`.
    /// Resources it creates carry that account's SID.
    pub fn add_account(&self, account_sid: &str, auth_token: &str) {
        self.shared
            .accounts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(account_sid.to_owned(), auth_token.to_owned());
    }

    /// Gives the account `account_sid` the number `number` (E.164) with `capabilities` (any
    /// of `voice`, `sms`, `mms`, `fax`), as bought or ported into it: listed by its
    /// IncomingPhoneNumbers resource from now on (replacing the account's earlier entry for it).
    /// Returns the number's `PN…` SID.
    pub fn add_incoming_number(
        &self,
        account_sid: &str,
        number: &str,
        capabilities: &[&str],
    ) -> String {
        let sid = new_sid("PN");
        let has = |c: &str| capabilities.contains(&c);
        let now = now();
        let resource = json!({
            "account_sid": account_sid,
            "address_requirements": "none",
            "address_sid": null,
            "api_version": API_VERSION,
            "beta": false,
            "bundle_sid": null,
            "capabilities": {
                "fax": has("fax"),
                "mms": has("mms"),
                "sms": has("sms"),
                "voice": has("voice"),
            },
            "date_created": now,
            "date_updated": now,
            "emergency_address_sid": null,
            "emergency_address_status": "unregistered",
            "emergency_status": "Active",
            "friendly_name": number,
            "identity_sid": null,
            "origin": "twilio",
            "phone_number": number,
            "sid": sid,
            "sms_application_sid": "",
            "sms_fallback_method": "POST",
            "sms_fallback_url": "",
            "sms_method": "POST",
            "sms_url": "",
            "status": "in-use",
            "status_callback": "",
            "status_callback_method": "POST",
            "subresource_uris": {
                "assigned_add_ons": format!("/{API_VERSION}/Accounts/{account_sid}/IncomingPhoneNumbers/{sid}/AssignedAddOns.json"),
            },
            "trunk_sid": null,
            "uri": format!("/{API_VERSION}/Accounts/{account_sid}/IncomingPhoneNumbers/{sid}.json"),
            "voice_application_sid": null,
            "voice_caller_id_lookup": false,
            "voice_fallback_method": "POST",
            "voice_fallback_url": null,
            "voice_method": "POST",
            "voice_receive_mode": "voice",
            "voice_url": null,
        });
        let mut numbers = self
            .shared
            .numbers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        numbers.retain(|n| !(n["account_sid"] == account_sid && n["phone_number"] == number));
        numbers.push(resource);
        sid
    }

    /// The API's base URL, e.g. `http://127.0.0.1:41234` (no trailing `/`); give it to
    /// [`TwilioClientBuilder::base_url`].
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The account SID the fake serves.
    #[must_use]
    pub fn account_sid(&self) -> &str {
        &self.shared.account_sid
    }

    /// The auth token the fake accepts (and signs webhooks with).
    #[must_use]
    pub fn auth_token(&self) -> &str {
        &self.shared.auth_token
    }

    /// A [`TwilioClient`] builder already pointed at the fake with the right credentials;
    /// adjust the timeout or retries before `build()`.
    #[must_use]
    pub fn client_builder(&self) -> TwilioClientBuilder {
        TwilioClient::builder()
            .account_sid(self.account_sid())
            .auth_token(self.auth_token())
            .base_url(self.base_url())
    }

    /// Every request received so far, in order (including rejected ones).
    #[must_use]
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// The message-creating requests that created a message, in order, with `sid` set.
    #[must_use]
    pub fn sent_messages(&self) -> Vec<RecordedRequest> {
        self.shared
            .lock()
            .messages
            .iter()
            .map(|c| c.request.clone())
            .collect()
    }

    /// The call-creating requests that created a call, in order, with `sid` set.
    #[must_use]
    pub fn created_calls(&self) -> Vec<RecordedRequest> {
        self.shared
            .lock()
            .calls
            .iter()
            .map(|c| c.request.clone())
            .collect()
    }

    /// The JSON resource of the message `sid`, as the fake would answer a GET.
    #[must_use]
    pub fn message(&self, sid: &str) -> Option<Value> {
        find(&self.shared.lock().messages, sid).map(|c| c.resource.clone())
    }

    /// The JSON resource of the call `sid`.
    #[must_use]
    pub fn call(&self, sid: &str) -> Option<Value> {
        find(&self.shared.lock().calls, sid).map(|c| c.resource.clone())
    }

    /// Sets the `status` of message `sid` (e.g. `delivered`, as a later GET would show);
    /// `false` when there is no such message.
    pub fn set_message_status(&self, sid: &str, status: &str) -> bool {
        let mut recorded = self.shared.lock();
        match recorded
            .messages
            .iter_mut()
            .find(|c| c.request.sid.as_deref() == Some(sid))
        {
            Some(created) => {
                created.resource["status"] = json!(status);
                created.resource["date_updated"] = json!(now());
                true
            }
            None => false,
        }
    }

    /// Answers the next request with HTTP `status` and Twilio's error body
    /// `{"code": code, "message": message, "more_info": …, "status": status}`, without
    /// processing it (nothing is created). A `429` scripted here carries no `Retry-After`
    /// header; see [`rate_limit_next`](Self::rate_limit_next).
    ///
    /// # Panics
    /// When `status` is not a valid HTTP status code.
    pub fn fail_next(&self, status: u16, code: i64, message: &str) {
        self.push(Injection::Fail {
            status: StatusCode::from_u16(status).expect("a valid HTTP status"),
            code,
            message: message.to_owned(),
            retry_after: None,
        });
    }

    /// Answers the next request with `429 Too Many Requests` (code `20429`) and
    /// `Retry-After: <retry_after in whole seconds, rounded up>`.
    pub fn rate_limit_next(&self, retry_after: Duration) {
        let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        self.push(Injection::Fail {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: 20429,
            message: "Too Many Requests".to_owned(),
            retry_after: Some(secs),
        });
    }

    /// Processes the next request normally — a message or call *is* created — but waits
    /// `delay` before answering, like a response lost to a slow network.
    pub fn hang_next(&self, delay: Duration) {
        self.push(Injection::Hang(delay));
    }

    /// Forgets recorded requests, created resources and scripted answers.
    pub fn reset(&self) {
        *self.shared.lock() = Recorded::default();
    }

    fn push(&self, injection: Injection) {
        self.shared.lock().injections.push_back(injection);
    }

    // ---------------------------------------------------------------------------------
    // Webhooks (Twilio → server under test)
    // ---------------------------------------------------------------------------------

    /// The webhook signer using this account's auth token.
    #[must_use]
    pub fn signer(&self) -> &WebhookSigner {
        &self.signer
    }

    /// The `X-Twilio-Signature` Twilio would send for a form post of `params` to `url`.
    #[must_use]
    pub fn webhook_signature<K: AsRef<str>, V: AsRef<str>>(
        &self,
        url: &str,
        params: &[(K, V)],
    ) -> String {
        self.signer.signature(url, params)
    }

    /// Posts `params` to `url` as Twilio does: `application/x-www-form-urlencoded`,
    /// signed with `X-Twilio-Signature` over exactly `url`. See [`WebhookSigner::send`].
    ///
    /// # Panics
    /// When the request cannot be sent at all (connection refused, timeout).
    pub async fn send_webhook<K: AsRef<str>, V: AsRef<str>>(
        &self,
        url: &str,
        params: &[(K, V)],
    ) -> reqwest::Response {
        self.signer.send(url, params).await
    }

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
}

/// Signs and posts webhooks the way Twilio does, without a running [`FakeTwilio`].
#[derive(Clone)]
pub struct WebhookSigner {
    validator: RequestValidator,
    http: reqwest::Client,
}

impl fmt::Debug for WebhookSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSigner").finish_non_exhaustive()
    }
}

impl WebhookSigner {
    /// A signer for the account whose auth token is `auth_token`.
    ///
    /// # Panics
    /// When the HTTP client cannot be built.
    #[must_use]
    pub fn new(auth_token: &str) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            // Twilio gives up on a webhook after 15 s.
            .timeout(Duration::from_secs(15))
            .build()
            .expect("build the webhook HTTP client");
        Self {
            validator: RequestValidator::new(auth_token),
            http,
        }
    }

    /// The `X-Twilio-Signature` for a form post of `params` to exactly `url`.
    #[must_use]
    pub fn signature<K: AsRef<str>, V: AsRef<str>>(&self, url: &str, params: &[(K, V)]) -> String {
        self.validator.signature(url, &owned(params))
    }

    /// Posts `params` (in order) to `url` with `Content-Type:
    /// application/x-www-form-urlencoded`, `X-Twilio-Signature` computed over exactly
    /// `url`, `I-Twilio-Idempotency-Token` and Twilio's `User-Agent`.
    ///
    /// # Errors
    /// When the request cannot be sent or no response arrives.
    pub async fn try_send<K: AsRef<str>, V: AsRef<str>>(
        &self,
        url: &str,
        params: &[(K, V)],
    ) -> reqwest::Result<reqwest::Response> {
        let params = owned(params);
        let signature = self.validator.signature(url, &params);
        self.http
            .post(url)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::USER_AGENT, "TwilioProxy/1.1")
            .header(header::ACCEPT, "*/*")
            .header(SIGNATURE_HEADER, signature)
            .header(
                "I-Twilio-Idempotency-Token",
                uuid::Uuid::new_v4().to_string(),
            )
            .body(encode_form(&params))
            .send()
            .await
    }

    /// As [`try_send`](Self::try_send).
    ///
    /// # Panics
    /// When the request cannot be sent or no response arrives.
    pub async fn send<K: AsRef<str>, V: AsRef<str>>(
        &self,
        url: &str,
        params: &[(K, V)],
    ) -> reqwest::Response {
        match self.try_send(url, params).await {
            Ok(response) => response,
            Err(e) => panic!("posting the Twilio webhook to {url} failed: {e}"),
        }
    }
}

fn owned<K: AsRef<str>, V: AsRef<str>>(params: &[(K, V)]) -> Vec<(String, String)> {
    params
        .iter()
        .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned()))
        .collect()
}

/// `application/x-www-form-urlencoded` as Twilio sends it (space as `+`).
fn encode_form(params: &[(String, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Ordered form parameters under construction.
#[derive(Default)]
struct Params(Vec<(String, String)>);

impl Params {
    fn add(&mut self, name: &str, value: &str) -> &mut Self {
        self.0.push((name.to_owned(), value.to_owned()));
        self
    }
}

fn new_sid(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

fn now() -> String {
    chrono::Utc::now().format(DATE_FORMAT).to_string()
}

/// The ISO country of a few common calling codes, empty otherwise (as Twilio sends for
/// unknown locations).
fn country(number: &str) -> &'static str {
    let n = number.strip_prefix("whatsapp:").unwrap_or(number);
    if n.starts_with("+1") {
        "US"
    } else if n.starts_with("+44") {
        "GB"
    } else if n.starts_with("+49") {
        "DE"
    } else if n.starts_with("+33") {
        "FR"
    } else {
        ""
    }
}

/// Twilio's segment count: 160/153 characters for GSM-7-ish text, 70/67 otherwise.
fn segments(body: &str) -> usize {
    let chars = body.chars().count();
    let (single, multi) = if body.is_ascii() {
        (160, 153)
    } else {
        (70, 67)
    };
    if chars <= single {
        1
    } else {
        chars.div_ceil(multi)
    }
}

fn find<'a>(created: &'a [Created], sid: &str) -> Option<&'a Created> {
    created
        .iter()
        .find(|c| c.request.sid.as_deref() == Some(sid))
}

// -------------------------------------------------------------------------------------------
// The server
// -------------------------------------------------------------------------------------------

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let is_form = content_type
        .as_deref()
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let request = RecordedRequest {
        method: method.as_str().to_owned(),
        path: uri.path().to_owned(),
        params: if is_form {
            parse_form(&body)
        } else {
            Vec::new()
        },
        basic_auth: basic_auth(&headers),
        content_type,
        query: uri.query().map(str::to_owned),
        sid: None,
    };
    let injection = {
        let mut recorded = shared.lock();
        recorded.requests.push(request.clone());
        recorded.injections.pop_front()
    };
    match injection {
        Some(Injection::Fail {
            status,
            code,
            message,
            retry_after,
        }) => {
            let mut response = twilio_error(status, code, &message);
            if let Some(secs) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            response
        }
        Some(Injection::Hang(delay)) => {
            let response = respond(&shared, request);
            tokio::time::sleep(delay).await;
            response
        }
        None => respond(&shared, request),
    }
}

impl Shared {
    /// Whether `user:pass` is one of the accounts the fake serves.
    fn authenticates(&self, user: &str, pass: &str) -> bool {
        (user == self.account_sid && pass == self.auth_token)
            || self
                .accounts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(user)
                .is_some_and(|token| token == pass)
    }
}

fn respond(shared: &Shared, request: RecordedRequest) -> Response {
    let Some((user, pass)) = request.basic_auth.clone() else {
        return unauthenticated();
    };
    if !shared.authenticates(&user, &pass) {
        return unauthenticated();
    }
    let path = request.path.clone();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let not_found = || {
        twilio_error(
            StatusCode::NOT_FOUND,
            20404,
            &format!("The requested resource {path} was not found"),
        )
    };
    if let [API_VERSION, "Accounts", file] = segments.as_slice() {
        // The account resource; its credentials reach only itself.
        return match (request.method.as_str(), file.strip_suffix(".json")) {
            ("GET", Some(sid)) if sid == user => {
                ok(StatusCode::OK, &account_resource(&user, &pass))
            }
            ("GET", _) => not_found(),
            _ => twilio_error(StatusCode::METHOD_NOT_ALLOWED, 20004, "Method not allowed"),
        };
    }
    let [API_VERSION, "Accounts", account, rest @ ..] = segments.as_slice() else {
        return not_found();
    };
    // An account's credentials reach only that account.
    if *account != user {
        return not_found();
    }
    let method = request.method.as_str();
    match (method, rest) {
        ("POST", ["Messages.json"]) => create_message(shared, &user, request),
        ("POST", ["Calls.json"]) => create_call(shared, &user, request),
        ("GET", ["IncomingPhoneNumbers.json"]) => list_numbers(shared, &user, &request),
        ("GET", ["Messages", file]) => match file.strip_suffix(".json") {
            Some(sid) => find(&shared.lock().messages, sid)
                .map_or_else(not_found, |c| ok(StatusCode::OK, &c.resource)),
            None => not_found(),
        },
        ("GET", ["Calls", file]) => match file.strip_suffix(".json") {
            Some(sid) => {
                let recorded = shared.lock();
                find(&recorded.calls, sid)
                    .map(|c| &c.resource)
                    .or_else(|| recorded.call_records.get(sid))
                    .map_or_else(not_found, |resource| ok(StatusCode::OK, resource))
            }
            None => not_found(),
        },
        (_, ["Messages.json" | "Calls.json"] | ["Messages" | "Calls", _]) => {
            twilio_error(StatusCode::METHOD_NOT_ALLOWED, 20004, "Method not allowed")
        }
        _ => not_found(),
    }
}

/// The account's IncomingPhoneNumbers, filtered by `PhoneNumber` the way Twilio does (a part
/// of the number matches), on one page.
fn list_numbers(shared: &Shared, account_sid: &str, request: &RecordedRequest) -> Response {
    let query = request.query.clone().unwrap_or_default();
    let filter = parse_form(query.as_bytes())
        .into_iter()
        .find(|(k, _)| k == "PhoneNumber")
        .map(|(_, v)| v);
    let numbers: Vec<Value> = shared
        .numbers
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .filter(|n| n["account_sid"] == account_sid)
        .filter(|n| {
            filter.as_deref().is_none_or(|f| {
                n["phone_number"]
                    .as_str()
                    .is_some_and(|number| number.contains(f))
            })
        })
        .cloned()
        .collect();
    let uri = format!("/{API_VERSION}/Accounts/{account_sid}/IncomingPhoneNumbers.json?{query}");
    let page = json!({
        "end": numbers.len().saturating_sub(1),
        "first_page_uri": format!("{uri}&PageSize=50&Page=0"),
        "incoming_phone_numbers": numbers,
        "next_page_uri": null,
        "page": 0,
        "page_size": 50,
        "previous_page_uri": null,
        "start": 0,
        "uri": uri,
    });
    ok(StatusCode::OK, &page)
}

/// An Account resource as Twilio answers it (Twilio includes the auth token).
fn account_resource(sid: &str, auth_token: &str) -> Value {
    let now = now();
    let uri = format!("/{API_VERSION}/Accounts/{sid}.json");
    json!({
        "auth_token": auth_token,
        "date_created": now,
        "date_updated": now,
        "friendly_name": format!("{sid} account"),
        "owner_account_sid": sid,
        "sid": sid,
        "status": "active",
        "subresource_uris": {
            "messages": format!("/{API_VERSION}/Accounts/{sid}/Messages.json"),
            "calls": format!("/{API_VERSION}/Accounts/{sid}/Calls.json"),
        },
        "type": "Full",
        "uri": uri,
    })
}

fn unauthenticated() -> Response {
    let mut response = twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"Twilio API\""),
    );
    response
}

fn create_message(shared: &Shared, account_sid: &str, mut request: RecordedRequest) -> Response {
    let to = request.param("To").unwrap_or_default().to_owned();
    let from = request
        .param("From")
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let service = request
        .param("MessagingServiceSid")
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let body = request.param("Body").unwrap_or_default().to_owned();
    let media = request.params_named("MediaUrl").len();
    if to.is_empty() {
        return bad_request(21604, "A 'To' phone number is required.");
    }
    if from.is_none() && service.is_none() {
        return bad_request(21603, "A 'From' phone number is required.");
    }
    if body.is_empty() && media == 0 {
        return bad_request(21602, "Message body is required.");
    }
    if body.chars().count() > 1600 {
        return bad_request(
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
        );
    }
    if let Some(refused) = stop_filter(shared, from.as_deref(), &to) {
        return refused;
    }
    let sid = new_sid(if media == 0 { "SM" } else { "MM" });
    let uri = format!(
        "/{API_VERSION}/Accounts/{}/Messages/{sid}.json",
        account_sid
    );
    let now = now();
    let resource = json!({
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "body": body,
        "date_created": now,
        "date_sent": null,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
        "from": from,
        "messaging_service_sid": service,
        "num_media": media.to_string(),
        "num_segments": segments(&body).to_string(),
        "price": null,
        "price_unit": "USD",
        "sid": sid,
        "status": if service.is_some() { "accepted" } else { "queued" },
        "subresource_uris": {
            "media": format!("/{API_VERSION}/Accounts/{}/Messages/{sid}/Media.json", account_sid),
        },
        "to": to,
        "uri": uri,
    });
    request.sid = Some(sid);
    let response = ok(StatusCode::CREATED, &resource);
    shared.lock().messages.push(Created { request, resource });
    response
}

// --- Twilio's STOP filter -------------------------------------------------------------------

impl FakeTwilio {
    /// Twilio's STOP filter, as after `recipient` texted STOP to the account's number `sender`
    /// (whether or not the webhook reached anyone): from now on a message from `sender` to
    /// `recipient` is refused with `400` + `21610`, as Twilio does, until
    /// [`stop_filter_lifted`](Self::stop_filter_lifted).
    pub fn stop_filtered(&self, sender: &str, recipient: &str) {
        self.shared
            .stopped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert((sender.to_owned(), recipient.to_owned()));
    }

    /// Lifts the STOP filter of `sender` → `recipient` (the recipient texted START).
    pub fn stop_filter_lifted(&self, sender: &str, recipient: &str) {
        self.shared
            .stopped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&(sender.to_owned(), recipient.to_owned()));
    }
}

// --- Calls placed with instructions (click-to-call) -------------------------------------------

impl FakeTwilio {
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

/// Twilio's answer to a message the STOP filter blocks (`400` + `21610`), if it blocks it.
fn stop_filter(shared: &Shared, from: Option<&str>, to: &str) -> Option<Response> {
    let from = from?;
    let stopped = shared
        .stopped
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .contains(&(from.to_owned(), to.to_owned()));
    stopped.then(|| bad_request(21610, "Attempt to send to unsubscribed recipient"))
}

fn create_call(shared: &Shared, account_sid: &str, mut request: RecordedRequest) -> Response {
    let to = request.param("To").unwrap_or_default().to_owned();
    let from = request.param("From").unwrap_or_default().to_owned();
    if to.is_empty() {
        return bad_request(21201, "No 'To' number is specified");
    }
    if from.is_empty() {
        return bad_request(21213, "No 'From' number is specified");
    }
    if request.param("Url").is_none_or(str::is_empty)
        && request.param("Twiml").is_none_or(str::is_empty)
    {
        return bad_request(21205, "Url parameter is required.");
    }
    let sid = new_sid("CA");
    let base = format!("/{API_VERSION}/Accounts/{}/Calls/{sid}", account_sid);
    let now = now();
    let resource = json!({
        "account_sid": account_sid,
        "annotation": null,
        "answered_by": null,
        "api_version": API_VERSION,
        "caller_name": null,
        "date_created": now,
        "date_updated": now,
        "direction": "outbound-api",
        "duration": null,
        "end_time": null,
        "forwarded_from": null,
        "from": from,
        "from_formatted": from,
        "group_sid": null,
        "parent_call_sid": null,
        "phone_number_sid": null,
        "price": null,
        "price_unit": "USD",
        "sid": sid,
        "start_time": null,
        "status": "queued",
        "subresource_uris": {
            "notifications": format!("{base}/Notifications.json"),
            "recordings": format!("{base}/Recordings.json"),
        },
        "to": to,
        "to_formatted": to,
        "trunk_sid": null,
        "uri": format!("{base}.json"),
        "queue_time": "0",
    });
    request.sid = Some(sid);
    let response = ok(StatusCode::CREATED, &resource);
    shared.lock().calls.push(Created { request, resource });
    response
}

fn ok(status: StatusCode, body: &Value) -> Response {
    (status, axum::Json(body.clone())).into_response()
}

fn bad_request(code: i64, message: &str) -> Response {
    twilio_error(StatusCode::BAD_REQUEST, code, message)
}

/// Twilio's REST error body.
fn twilio_error(status: StatusCode, code: i64, message: &str) -> Response {
    let body = json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status.as_u16(),
    });
    (status, axum::Json(body)).into_response()
}

fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, pass) = decoded.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use workos_twilio::{
        CallStatus, CallStatusCallback, InboundCall, InboundMessage, MessageStatus,
        MessageStatusCallback, RecordingCallback,
    };

    #[tokio::test]
    async fn helper_params_parse_with_the_models() {
        let twilio = FakeTwilio::start(TEST_AUTH_TOKEN, TEST_ACCOUNT_SID).await;
        let sms = InboundMessage::from_params(&twilio.inbound_sms_params(
            "+14155550100",
            "+14155550199",
            "Hello there",
        ))
        .unwrap();
        assert!(sms.message_sid.starts_with("SM") && sms.message_sid.len() == 34);
        assert_eq!(sms.account_sid, TEST_ACCOUNT_SID);
        assert_eq!(sms.body, "Hello there");
        assert!(sms.media.is_empty());

        let mms = InboundMessage::from_params(&twilio.inbound_mms_params(
            "+14155550100",
            "+14155550199",
            "",
            &[("https://example.com/a.jpg", "image/jpeg")],
        ))
        .unwrap();
        assert!(mms.message_sid.starts_with("MM"));
        assert_eq!(mms.media[0].content_type, "image/jpeg");

        let status = MessageStatusCallback::from_params(&twilio.message_status_params(
            "SM1",
            "+1",
            "+2",
            "undelivered",
            Some(30003),
        ))
        .unwrap();
        assert_eq!(status.message_status, MessageStatus::Undelivered);
        assert_eq!(status.error_code, Some(30003));

        let call = InboundCall::from_params(&twilio.inbound_call_params("+1", "+2")).unwrap();
        assert_eq!(call.call_status, CallStatus::Ringing);
        assert_eq!(call.direction, "inbound");

        let first = CallStatusCallback::from_params(
            &twilio.call_status_params("CA1", "+1", "+2", "ringing", None),
        )
        .unwrap();
        let last = CallStatusCallback::from_params(&twilio.call_status_params(
            "CA1",
            "+1",
            "+2",
            "completed",
            Some(61),
        ))
        .unwrap();
        assert_eq!(first.sequence_number, Some(0));
        assert_eq!(last.sequence_number, Some(1));
        assert_eq!((last.call_duration, last.duration), (Some(61), Some(2)));

        let rec = RecordingCallback::from_params(&twilio.recording_params("CA1", 12)).unwrap();
        assert!(rec.recording_sid.starts_with("RE"));
        assert_eq!(rec.recording_duration, Some(12));
        assert!(rec.recording_url.starts_with(twilio.base_url()));
    }

    #[tokio::test]
    async fn send_webhook_signs_exactly_what_it_posts() {
        type Seen = Arc<Mutex<Option<(String, String, Vec<(String, String)>)>>>;
        let seen: Seen = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/twilio/sms?tenant=a%20b",
            listener.local_addr().unwrap()
        );
        let app = Router::new()
            .fallback(
                |State(seen): State<Seen>, headers: HeaderMap, body: Bytes| async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    *seen.lock().unwrap() = Some((
                        header(SIGNATURE_HEADER),
                        header("content-type"),
                        parse_form(&body),
                    ));
                    StatusCode::NO_CONTENT
                },
            )
            .with_state(Arc::clone(&seen));
        let server = tokio::spawn(async move { axum::serve(listener, app).await });

        let twilio = FakeTwilio::start(TEST_AUTH_TOKEN, TEST_ACCOUNT_SID).await;
        let params = twilio.inbound_sms_params("+14155550100", "+14155550199", "Ça va? 1+1=2 & ok");
        let response = twilio.send_webhook(&url, &params).await;
        assert_eq!(response.status(), 204);
        let (signature, content_type, received) = seen.lock().unwrap().take().unwrap();
        assert_eq!(content_type, "application/x-www-form-urlencoded");
        assert_eq!(received, params, "the form round-trips exactly");
        let validator = RequestValidator::new(TEST_AUTH_TOKEN);
        assert!(validator.validate(&url, &received, &signature));
        assert!(!RequestValidator::new("other").validate(&url, &received, &signature));
        assert_eq!(signature, twilio.webhook_signature(&url, &params));
        server.abort();
    }

    #[tokio::test]
    async fn incoming_numbers_are_the_account_s_own_and_matched_exactly() {
        let twilio = FakeTwilio::start(TEST_AUTH_TOKEN, TEST_ACCOUNT_SID).await;
        let other = "ACfedcba9876543210fedcba9876543210";
        twilio.add_account(other, "fedcba9876543210fedcba9876543210");
        twilio.add_incoming_number(TEST_ACCOUNT_SID, "+14155550123", &["sms", "voice"]);
        twilio.add_incoming_number(other, "+14155550199", &["mms"]);
        let client = twilio.client_builder().build().unwrap();
        let found = client
            .find_incoming_phone_number("+14155550123")
            .await
            .unwrap()
            .expect("the account's number");
        assert!(found.sid.starts_with("PN") && found.sid.len() == 34);
        assert_eq!(found.account_sid, TEST_ACCOUNT_SID);
        assert!(found.capabilities.sms && found.capabilities.voice);
        assert!(!found.capabilities.mms && !found.capabilities.fax);
        // Twilio matches `PhoneNumber` as a pattern: a prefix is not the number.
        assert_eq!(
            client
                .find_incoming_phone_number("+1415555012")
                .await
                .unwrap(),
            None
        );
        // Another account's number is not this account's.
        assert_eq!(
            client
                .find_incoming_phone_number("+14155550199")
                .await
                .unwrap(),
            None
        );
        assert!(
            client
                .find_incoming_phone_number("4155550123")
                .await
                .is_err()
        );
        let asked = twilio.requests();
        assert_eq!(asked.len(), 3, "the malformed number was not sent");
        assert_eq!(
            asked[0].query.as_deref(),
            Some("PhoneNumber=%2B14155550123")
        );
    }

    #[test]
    fn encodes_forms_like_twilio() {
        let form = encode_form(&owned(&[("Body", "a b+c&d=é"), ("To", "+1")]));
        assert_eq!(form, "Body=a+b%2Bc%26d%3D%C3%A9&To=%2B1");
        assert_eq!(segments(&"x".repeat(160)), 1);
        assert_eq!(segments(&"x".repeat(161)), 2);
        assert_eq!(segments(&"é".repeat(71)), 2);
    }
}
