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

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};

use axum::Router;
use tokio::task::JoinHandle;
use workos_twilio::TwilioClient;
use workos_twilio::client::TwilioClientBuilder;

mod accounts;
mod call_webhooks;
mod calls;
mod dial;
mod message_webhooks;
mod messages;
mod scripted;
mod server;
mod signer;
mod state;
mod wire;

use server::handle;
pub use signer::WebhookSigner;
pub use state::RecordedRequest;
use state::{Recorded, Shared};

/// A realistic-looking account SID for tests.
pub const TEST_ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
/// An auth token for tests.
pub const TEST_AUTH_TOKEN: &str = "0123456789abcdef0123456789abcdef";

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
}
