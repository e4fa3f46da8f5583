//! A fake Google (OAuth 2.0 + the Gmail API v1) on `127.0.0.1`, with a scriptable mailbox.
//!
//! [`FakeGoogle`] speaks Google's wire formats for what a Gmail integration calls:
//!
//! - **OAuth** — `GET /o/oauth2/v2/auth` (the consent page: checks `client_id`,
//!   `redirect_uri`, `response_type=code` and a PKCE `S256` challenge, then answers `302` to
//!   the redirect URI with `code` and `state`, as if the user consented); `POST /token`
//!   (`authorization_code` with the PKCE verifier checked against the challenge, codes
//!   single-use; `refresh_token`; client credentials in the body or HTTP Basic; Google's
//!   `{"error": "invalid_grant", "error_description": …}` errors); `POST /revoke`
//!   (`token=…`; revoking a refresh token revokes its access tokens).
//! - **Gmail** — `GET /gmail/v1/users/me/profile`, `GET …/messages` (`q` with
//!   `newer_than:Nd`, `pageToken`, `maxResults`; newest first; spam and trash left out),
//!   `GET …/messages/{id}?format=raw` (base64url, padded as Google does), `GET …/history`
//!   (`startHistoryId`, repeated `historyTypes`, `pageToken`, `maxResults`), and
//!   `POST …/messages/send` (`{"raw", "threadId"}`; Google's `400 Invalid To header`; the
//!   message joins the mailbox as `SENT`); `format=full` (the MIME tree with `partId`s and
//!   attachment ids), `GET …/messages/{id}/attachments/{attachmentId}` (held part way with
//!   [`hold_next_attachment_body`](FakeGoogle::hold_next_attachment_body)) and the upload
//!   endpoint `POST /upload/gmail/v1/users/me/messages/send` (`uploadType=multipart` or `media`,
//!   or `resumable` with `PUT` chunks to the session URI and [`Fault::Interrupt`]), see
//!   [`SentMessage::attachments`] and [`SentMessage::uploaded`]. Every Gmail route wants a live bearer token
//!   (`401` with Google's error body otherwise); errors are Google's JSON
//!   (`{"error": {"code", "message", "errors": [{"reason", …}], "status"}}`).
//!
//! The mailbox: [`add_message`](FakeGoogle::add_message) appends an RFC 5322 message with the
//! next history id (a `messageAdded` record), [`delete_message`](FakeGoogle::delete_message)
//! removes one (a `messageDeleted` record), [`make_unavailable`](FakeGoogle::make_unavailable)
//! keeps one listed but answers `404` to its `get`, and
//! [`expire_history`](FakeGoogle::expire_history) makes older start ids answer `404` like a
//! history Google no longer keeps. [`sample_messages`] are realistic messages to fill it
//! (multipart/alternative, an ISO-8859-1 body, RFC 2047 subjects, an attachment, a malformed
//! message, a newsletter with `List-Unsubscribe`, mail sent by the account, a reply).
//!
//! - **Push** — `POST …/watch` (`{"topicName"}` → `{"historyId", "expiration"}`, seven days
//!   unless [`set_watch_lifetime`](FakeGoogle::set_watch_lifetime) says otherwise), `POST
//!   …/stop`, Google's JWKS at `GET /oauth2/v3/certs`, and a Pub/Sub push sender
//!   ([`deliver_push`](FakeGoogle::deliver_push), [`post_push`](FakeGoogle::post_push)) whose
//!   OIDC tokens are RS256-signed by the fake's own key ([`sign_oidc`](FakeGoogle::sign_oidc);
//!   [`sign_oidc_foreign`](FakeGoogle::sign_oidc_foreign) forges one).
//!
//! Switches: [`inject`](FakeGoogle::inject) scripts the next answers of one [`Route`]
//! ([`Fault::Unauthorized`], [`Fault::RateLimited`] with `Retry-After`, [`Fault::Status`] for
//! a `500` or any other error, [`Fault::Error`] for a given message such as
//! `Invalid To header`, [`Fault::Delay`] for a slow answer, [`Fault::Pass`] to let requests
//! through before a later fault), and
//! [`set_invalid_grant`](FakeGoogle::set_invalid_grant) makes every refresh fail with
//! `invalid_grant`. [`calls`](FakeGoogle::calls) counts requests per route and
//! [`token_grants`](FakeGoogle::token_grants) token requests per grant type.
//!
//! ```
//! use workos_tests::fake_google::{FakeGoogle, Route, Fault};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let google = FakeGoogle::start("me@example.com").await;
//! google.add_sample_messages(); // sample_messages("me@example.com"), as Gmail labels them
//! // Point the client at the fake, e.g. with `GmailConfig::from_lookup`:
//! let vars = google.env_vars();
//! assert!(vars.iter().any(|(k, _)| *k == "GMAIL_API_BASE_URL"));
//! // The next messages.list answers 500 twice.
//! google.inject(Route::MessagesList, Fault::Status(500), 2);
//! assert_eq!(google.calls(Route::MessagesList), 0);
//! # });
//! ```
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::task::JoinHandle;

mod attachments;
mod gmail_api;
mod mailbox;
mod oauth;
mod pubsub;
mod pubsub_keys;
mod resumable;
mod routes;
mod samples;
mod scripting;
mod state;
mod wire;

pub use attachments::{BodyGate, HELD_PREFIX_BYTES};
pub use gmail_api::SentMessage;
use gmail_api::*;
use mailbox::*;
use oauth::*;
pub use pubsub::{FakeWatch, PUSH_SERVICE_ACCOUNT, PUSH_TOPIC, SIGNING_KEY_ID};
pub use routes::Route;
use routes::*;
pub use samples::{SENT_SAMPLE, sample_messages, simple_message};
pub use scripting::Fault;
use state::*;
pub use wire::header_values;
use wire::*;

/// The OAuth client id the fake accepts by default.
pub const TEST_CLIENT_ID: &str = "1234567890-test.apps.googleusercontent.com";
/// The OAuth client secret the fake accepts by default.
pub const TEST_CLIENT_SECRET: &str = "GOCSPX-test-client-secret";
/// The redirect URI the fake accepts by default.
pub const TEST_REDIRECT_URL: &str = "https://app.test/oauth/google/callback";
/// A fake Google listening on `127.0.0.1` (see the [module docs](self)). The server stops
/// when the value is dropped.
pub struct FakeGoogle {
    base_url: String,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl fmt::Debug for FakeGoogle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeGoogle")
            .field("base_url", &self.base_url)
            .field("account", &self.shared.lock().account)
            .finish_non_exhaustive()
    }
}

impl Drop for FakeGoogle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeGoogle {
    /// Starts the fake for the mailbox `account` (empty), with [`TEST_CLIENT_ID`],
    /// [`TEST_CLIENT_SECRET`] and [`TEST_REDIRECT_URL`], on an ephemeral port of `127.0.0.1`.
    /// Must run inside a Tokio runtime.
    ///
    /// # Panics
    /// When no local port can be bound.
    pub async fn start(account: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake Google on 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            mailbox: Mutex::new(Mailbox {
                account: account.to_lowercase(),
                client_id: TEST_CLIENT_ID.to_owned(),
                client_secret: TEST_CLIENT_SECRET.to_owned(),
                redirect_url: TEST_REDIRECT_URL.to_owned(),
                messages: Vec::new(),
                history: Vec::new(),
                history_id: FIRST_HISTORY_ID,
                min_history_id: 0,
                codes: HashMap::new(),
                refresh_tokens: HashMap::new(),
                access_tokens: HashMap::new(),
                token_lifetime: Duration::from_secs(3599),
                invalid_grant: false,
                faults: HashMap::new(),
                calls: HashMap::new(),
                grants: HashMap::new(),
                authorize_requests: Vec::new(),
                sent: Vec::new(),
                issued: Vec::new(),
                push: pubsub::PushState::default(),
                uploads: HashMap::new(),
                attachment_gate: None,
            }),
        });
        // Gmail's upload endpoint takes messages of up to 35 MB.
        let app = Router::new()
            .fallback(handle)
            .layer(axum::extract::DefaultBodyLimit::max(36 << 20))
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base_url: format!("http://{addr}"),
            shared,
            task,
        }
    }

    /// The base URL, e.g. `http://127.0.0.1:41234` (no trailing `/`); it is also the Gmail
    /// API base URL.
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The consent page URL.
    #[must_use]
    pub fn auth_url(&self) -> String {
        format!("{}/o/oauth2/v2/auth", self.base_url)
    }

    /// The token endpoint URL.
    #[must_use]
    pub fn token_url(&self) -> String {
        format!("{}/token", self.base_url)
    }

    /// The revocation endpoint URL.
    #[must_use]
    pub fn revoke_url(&self) -> String {
        format!("{}/revoke", self.base_url)
    }

    /// The environment a Gmail client reads (`GOOGLE_CLIENT_ID`, `GOOGLE_CLIENT_SECRET`,
    /// `GOOGLE_REDIRECT_URL`, `GOOGLE_AUTH_URL`, `GOOGLE_TOKEN_URL`, `GOOGLE_REVOKE_URL`,
    /// `GMAIL_API_BASE_URL`) pointing at the fake.
    #[must_use]
    pub fn env_vars(&self) -> Vec<(&'static str, String)> {
        let m = self.shared.lock();
        vec![
            ("GOOGLE_CLIENT_ID", m.client_id.clone()),
            ("GOOGLE_CLIENT_SECRET", m.client_secret.clone()),
            ("GOOGLE_REDIRECT_URL", m.redirect_url.clone()),
            ("GOOGLE_AUTH_URL", self.auth_url()),
            ("GOOGLE_TOKEN_URL", self.token_url()),
            ("GOOGLE_REVOKE_URL", self.revoke_url()),
            ("GMAIL_API_BASE_URL", self.base_url.clone()),
        ]
    }

    /// The mailbox's address.
    #[must_use]
    pub fn account(&self) -> String {
        self.shared.lock().account.clone()
    }
}
