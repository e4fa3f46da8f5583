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
//! use workos_tests::fake_google::{FakeGoogle, Route, Fault, sample_messages};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let google = FakeGoogle::start("me@example.com").await;
//! for raw in sample_messages("me@example.com") {
//!     google.add_message(raw);
//! }
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
mod oauth;
mod pubsub;
mod pubsub_keys;
mod resumable;
mod samples;
mod wire;

use gmail_api::*;
use oauth::*;
pub use pubsub::{FakeWatch, PUSH_SERVICE_ACCOUNT, PUSH_TOPIC, SIGNING_KEY_ID};
pub use samples::{sample_messages, simple_message};
pub use wire::header_values;
use wire::*;

/// The OAuth client id the fake accepts by default.
pub const TEST_CLIENT_ID: &str = "1234567890-test.apps.googleusercontent.com";
/// The OAuth client secret the fake accepts by default.
pub const TEST_CLIENT_SECRET: &str = "GOCSPX-test-client-secret";
/// The redirect URI the fake accepts by default.
pub const TEST_REDIRECT_URL: &str = "https://app.test/oauth/google/callback";

/// The first history id of a new mailbox.
const FIRST_HISTORY_ID: u64 = 100_000;
/// Gmail ids are 16 hex digits.
const ID_BASE: u64 = 0x18c0_0000_0000_0000;

/// The fake's routes, for scripting and counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Route {
    /// `GET /o/oauth2/v2/auth`.
    Authorize,
    /// `POST /token`.
    Token,
    /// `POST /revoke`.
    Revoke,
    /// `GET /gmail/v1/users/me/profile`.
    Profile,
    /// `GET /gmail/v1/users/me/messages`.
    MessagesList,
    /// `GET /gmail/v1/users/me/messages/{id}`.
    MessagesGet,
    /// `GET /gmail/v1/users/me/history`.
    History,
    /// `POST /gmail/v1/users/me/messages/send`.
    Send,
    /// `POST /gmail/v1/users/me/watch`.
    Watch,
    /// `POST /gmail/v1/users/me/stop`.
    Stop,
    /// `GET /oauth2/v3/certs` (Google's OIDC signing keys).
    Jwks,
    /// `GET /gmail/v1/users/me/messages/{id}/attachments/{attachmentId}`.
    AttachmentsGet,
    /// `POST /upload/gmail/v1/users/me/messages/send` (`uploadType=multipart`, `media`, or
    /// `resumable`: opening a session).
    UploadSend,
    /// `PUT` to a resumable upload's session URI (a chunk or a status query).
    UploadChunk,
}

/// A scripted answer (see [`FakeGoogle::inject`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// `401` with Google's "Invalid Credentials" body.
    Unauthorized,
    /// `status` (429, or 403 with reason `userRateLimitExceeded`) with a `Retry-After` of
    /// that many seconds, when given.
    RateLimited {
        /// `429` or `403`.
        status: u16,
        /// The `Retry-After` header.
        retry_after: Option<u64>,
    },
    /// Google's error body with this HTTP status (e.g. `500`, `503`, `400`).
    Status(u16),
    /// Google's error body with this status, message and reason, e.g. `400`,
    /// `Invalid To header`, `invalidArgument`.
    Error {
        /// The HTTP status.
        status: u16,
        /// `error.message`.
        message: String,
        /// `error.errors[0].reason`.
        reason: String,
    },
    /// Processes the request normally but answers after this delay.
    Delay(Duration),
    /// Processes the request normally (to let requests through before later faults).
    Pass,
    /// For [`Route::UploadChunk`]: keeps the first half of the chunk and answers `503`, like a
    /// connection that broke mid-chunk (elsewhere: as [`Fault::Pass`]).
    Interrupt,
}

/// A message the fake sent (see [`FakeGoogle::sent`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SentMessage {
    /// The new message's id.
    pub id: String,
    /// Its thread.
    pub thread_id: String,
    /// The `threadId` the request asked for.
    pub requested_thread_id: Option<String>,
    /// The RFC 5322 bytes as received (base64url-decoded).
    pub raw: Vec<u8>,
    /// What the recipients get: the message without its `Bcc` header, as Gmail delivers it.
    pub delivered: Vec<u8>,
    /// Every address it went to (`To`, `Cc` and `Bcc`).
    pub envelope_to: Vec<String>,
    /// Whether it came through the upload endpoint (`/upload/…/messages/send`) rather than
    /// as `raw` in JSON.
    pub uploaded: bool,
    /// Whether it came through a resumable upload session (`uploadType=resumable`).
    pub resumable: bool,
}

impl SentMessage {
    /// The unfolded values of header `name` in the message as received.
    #[must_use]
    pub fn header(&self, name: &str) -> Vec<String> {
        header_values(&self.raw, name)
    }
}

#[derive(Debug, Clone)]
struct StoredMessage {
    id: String,
    thread_id: String,
    labels: Vec<String>,
    raw: Vec<u8>,
    internal_date: DateTime<Utc>,
    history_id: u64,
    message_id_header: Option<String>,
    deleted: bool,
    unavailable: bool,
}

#[derive(Debug, Clone)]
enum Change {
    Added,
    Deleted,
    LabelsAdded(Vec<String>),
    LabelsRemoved(Vec<String>),
}

#[derive(Debug, Clone)]
struct HistoryEntry {
    id: u64,
    change: Change,
    message_id: String,
    thread_id: String,
    labels: Vec<String>,
}

#[derive(Debug, Clone)]
struct CodeGrant {
    challenge: String,
    redirect_uri: String,
    scope: String,
}

#[derive(Debug, Clone)]
struct AccessToken {
    expires_at: DateTime<Utc>,
    refresh_token: Option<String>,
    revoked: bool,
}

struct Mailbox {
    account: String,
    client_id: String,
    client_secret: String,
    redirect_url: String,
    messages: Vec<StoredMessage>,
    history: Vec<HistoryEntry>,
    history_id: u64,
    min_history_id: u64,
    codes: HashMap<String, CodeGrant>,
    refresh_tokens: HashMap<String, bool>,
    access_tokens: HashMap<String, AccessToken>,
    token_lifetime: Duration,
    invalid_grant: bool,
    faults: HashMap<Route, VecDeque<Fault>>,
    calls: HashMap<Route, usize>,
    grants: HashMap<String, usize>,
    authorize_requests: Vec<Vec<(String, String)>>,
    sent: Vec<SentMessage>,
    issued: Vec<(String, Option<String>)>,
    push: pubsub::PushState,
    uploads: HashMap<String, resumable::Upload>,
    attachment_gate: Option<Arc<tokio::sync::Semaphore>>,
}

struct Shared {
    mailbox: Mutex<Mailbox>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Mailbox> {
        self.mailbox
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

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

    // -----------------------------------------------------------------------------------------
    // Mailbox

    /// Appends a received message (label `INBOX`, received now) and returns its id.
    pub fn add_message(&self, raw: impl Into<Vec<u8>>) -> String {
        self.add_message_with(raw, &["INBOX"], Utc::now())
    }

    /// Appends a message with `labels` (e.g. `SENT`, `DRAFT`, `SPAM`), received at
    /// `internal_date`, and returns its id. It joins the thread of the message its
    /// `In-Reply-To` names, when the mailbox has it.
    pub fn add_message_with(
        &self,
        raw: impl Into<Vec<u8>>,
        labels: &[&str],
        internal_date: DateTime<Utc>,
    ) -> String {
        let labels: Vec<String> = labels.iter().map(|l| (*l).to_owned()).collect();
        insert_message(
            &mut self.shared.lock(),
            raw.into(),
            labels,
            internal_date,
            None,
        )
    }

    /// Deletes message `id` for good (a `messageDeleted` history record); `false` when the
    /// mailbox has no such message.
    pub fn delete_message(&self, id: &str) -> bool {
        let mut m = self.shared.lock();
        m.history_id += 1;
        let history_id = m.history_id;
        let Some(msg) = m.messages.iter_mut().find(|x| x.id == id && !x.deleted) else {
            m.history_id -= 1;
            return false;
        };
        msg.deleted = true;
        let entry = HistoryEntry {
            id: history_id,
            change: Change::Deleted,
            message_id: msg.id.clone(),
            thread_id: msg.thread_id.clone(),
            labels: msg.labels.clone(),
        };
        m.history.push(entry);
        true
    }

    /// Changes the labels of message `id` as `users.messages.modify` does: adds `add` (those it
    /// lacks), then removes `remove` (those it has), each change a history record
    /// (`labelAdded`, `labelRemoved`) when it changes something. `false` when the mailbox has
    /// no such message.
    pub fn modify_labels(&self, id: &str, add: &[&str], remove: &[&str]) -> bool {
        let mut guard = self.shared.lock();
        let m = &mut *guard;
        let Some(msg) = m.messages.iter_mut().find(|x| x.id == id && !x.deleted) else {
            return false;
        };
        let added: Vec<String> = add
            .iter()
            .filter(|l| !msg.labels.iter().any(|x| x == *l))
            .map(|l| (*l).to_owned())
            .collect();
        msg.labels.extend(added.iter().cloned());
        let removed: Vec<String> = remove
            .iter()
            .filter(|l| msg.labels.iter().any(|x| x == *l))
            .map(|l| (*l).to_owned())
            .collect();
        msg.labels.retain(|l| !removed.contains(l));
        for (change, labels) in [
            (Change::LabelsAdded(added.clone()), &added),
            (Change::LabelsRemoved(removed.clone()), &removed),
        ] {
            if labels.is_empty() {
                continue;
            }
            m.history_id += 1;
            msg.history_id = m.history_id;
            m.history.push(HistoryEntry {
                id: m.history_id,
                change,
                message_id: msg.id.clone(),
                thread_id: msg.thread_id.clone(),
                labels: msg.labels.clone(),
            });
        }
        true
    }

    /// The labels of message `id`, if the mailbox has it.
    #[must_use]
    pub fn labels(&self, id: &str) -> Option<Vec<String>> {
        self.shared
            .lock()
            .messages
            .iter()
            .find(|x| x.id == id && !x.deleted)
            .map(|x| x.labels.clone())
    }

    /// Keeps message `id` listed (and in the history) but answers `404` to its `get`, like a
    /// message deleted between a list and a get.
    pub fn make_unavailable(&self, id: &str) {
        if let Some(msg) = self.shared.lock().messages.iter_mut().find(|x| x.id == id) {
            msg.unavailable = true;
        }
    }

    /// Makes `history.list` answer `404` for every start id older than the current history
    /// id, as Google does once it no longer keeps the records.
    pub fn expire_history(&self) {
        let mut m = self.shared.lock();
        m.min_history_id = m.history_id;
    }

    /// The mailbox's current history id.
    #[must_use]
    pub fn history_id(&self) -> u64 {
        self.shared.lock().history_id
    }

    /// The ids of the messages in the mailbox (deleted ones left out), oldest first.
    #[must_use]
    pub fn message_ids(&self) -> Vec<String> {
        self.shared
            .lock()
            .messages
            .iter()
            .filter(|m| !m.deleted)
            .map(|m| m.id.clone())
            .collect()
    }

    /// Messages the fake sent, in order.
    #[must_use]
    pub fn sent(&self) -> Vec<SentMessage> {
        self.shared.lock().sent.clone()
    }

    // -----------------------------------------------------------------------------------------
    // OAuth

    /// Sets how long issued access tokens live (default 3599 s, as Google's). A token issued
    /// with a lifetime under a minute makes a client with a refresh margin refresh at once.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.shared.lock().token_lifetime = lifetime;
    }

    /// While `on`, every `refresh_token` grant fails with `400 invalid_grant` ("Token has
    /// been expired or revoked."), as after the user revoked access.
    pub fn set_invalid_grant(&self, on: bool) {
        self.shared.lock().invalid_grant = on;
    }

    /// Makes every access token issued so far expired: the next Gmail call with one gets
    /// `401`.
    pub fn expire_access_tokens(&self) {
        let past = Utc::now() - chrono::Duration::seconds(1);
        for t in self.shared.lock().access_tokens.values_mut() {
            t.expires_at = past;
        }
    }

    /// Every token issued, in order: `(access_token, refresh_token)` (the refresh token only
    /// when that response carried one).
    #[must_use]
    pub fn issued_tokens(&self) -> Vec<(String, Option<String>)> {
        self.shared.lock().issued.clone()
    }

    /// Whether `token` (access or refresh) was revoked.
    #[must_use]
    pub fn is_revoked(&self, token: &str) -> bool {
        let m = self.shared.lock();
        m.refresh_tokens.get(token).is_some_and(|live| !live)
            || m.access_tokens.get(token).is_some_and(|t| t.revoked)
    }

    /// The query parameters of every consent-page request, in order.
    #[must_use]
    pub fn authorize_requests(&self) -> Vec<HashMap<String, String>> {
        self.shared
            .lock()
            .authorize_requests
            .iter()
            .map(|p| p.iter().cloned().collect())
            .collect()
    }

    /// Plays the user consenting: requests `authorization_url` (the fake's consent page)
    /// without following the redirect and returns the redirect's `(code, state)`.
    ///
    /// # Panics
    /// When the fake does not answer with a redirect carrying a code (its body says why).
    pub async fn consent(&self, authorization_url: &str) -> (String, String) {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("HTTP client");
        let response = client
            .get(authorization_url)
            .send()
            .await
            .expect("request the consent page");
        let status = response.status();
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let Some(location) = location else {
            panic!(
                "the consent page answered {status}: {}",
                response.text().await.unwrap_or_default()
            );
        };
        let query = location.split_once('?').map_or("", |(_, q)| q);
        let params: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        (
            params.get("code").cloned().expect("a code in the redirect"),
            params.get("state").cloned().unwrap_or_default(),
        )
    }

    /// Issues an authorization code for a PKCE S256 `challenge` and `redirect_uri`, as the
    /// consent page would.
    pub fn issue_code(&self, challenge: &str, redirect_uri: &str) -> String {
        let code = format!("4/0A{}", uuid::Uuid::new_v4().simple());
        self.shared.lock().codes.insert(
            code.clone(),
            CodeGrant {
                challenge: challenge.to_owned(),
                redirect_uri: redirect_uri.to_owned(),
                scope: String::new(),
            },
        );
        code
    }

    // -----------------------------------------------------------------------------------------
    // Scripting and counting

    /// The next `times` requests of `route` get `fault` (after any already scripted).
    pub fn inject(&self, route: Route, fault: Fault, times: usize) {
        let mut m = self.shared.lock();
        let queue = m.faults.entry(route).or_default();
        for _ in 0..times {
            queue.push_back(fault.clone());
        }
    }

    /// Holds back the next `messages.attachments.get` answer: its first
    /// [`HELD_PREFIX_BYTES`] go out at once, the rest only after [`BodyGate::open`]. A client
    /// that reads the first bytes of the attachment before opening the gate proves it streams.
    #[must_use]
    pub fn hold_next_attachment_body(&self) -> BodyGate {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        self.shared.lock().attachment_gate = Some(Arc::clone(&gate));
        BodyGate(gate)
    }

    /// Drops every scripted fault.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Requests of `route` so far (scripted failures included).
    #[must_use]
    pub fn calls(&self, route: Route) -> usize {
        self.shared.lock().calls.get(&route).copied().unwrap_or(0)
    }

    /// Token requests of `grant_type` (`authorization_code`, `refresh_token`) so far, failed
    /// ones included.
    #[must_use]
    pub fn token_grants(&self, grant_type: &str) -> usize {
        self.shared
            .lock()
            .grants
            .get(grant_type)
            .copied()
            .unwrap_or(0)
    }

    /// Sets every counter back to zero.
    pub fn reset_counters(&self) {
        let mut m = self.shared.lock();
        m.calls.clear();
        m.grants.clear();
    }
}

/// How much of a held attachment answer goes out before its gate opens (see
/// [`FakeGoogle::hold_next_attachment_body`]).
pub const HELD_PREFIX_BYTES: usize = 64 * 1024;

/// Releases a held answer (see [`FakeGoogle::hold_next_attachment_body`]).
#[derive(Debug, Clone)]
pub struct BodyGate(Arc<tokio::sync::Semaphore>);

impl BodyGate {
    /// Lets the rest of the answer go.
    pub fn open(&self) {
        self.0.add_permits(1);
    }

    /// Breaks the answer off instead: the connection closes before the rest.
    pub fn break_off(&self) {
        self.0.close();
    }
}

fn insert_message(
    m: &mut Mailbox,
    raw: Vec<u8>,
    labels: Vec<String>,
    internal_date: DateTime<Utc>,
    thread_id: Option<String>,
) -> String {
    m.history_id += 1;
    let seq = m.messages.len() as u64;
    let id = format!(
        "{:016x}",
        ID_BASE + seq * 0x1_0000 + (m.history_id & 0xffff)
    );
    let message_id_header = header_values(&raw, "Message-ID").into_iter().next();
    let thread_id = thread_id
        .filter(|t| m.messages.iter().any(|x| &x.thread_id == t))
        .or_else(|| {
            let parent = header_values(&raw, "In-Reply-To").into_iter().next()?;
            m.messages
                .iter()
                .find(|x| x.message_id_header.as_deref() == Some(parent.trim()))
                .map(|x| x.thread_id.clone())
        })
        .unwrap_or_else(|| id.clone());
    let history_id = m.history_id;
    m.history.push(HistoryEntry {
        id: history_id,
        change: Change::Added,
        message_id: id.clone(),
        thread_id: thread_id.clone(),
        labels: labels.clone(),
    });
    m.messages.push(StoredMessage {
        id: id.clone(),
        thread_id,
        labels,
        raw,
        internal_date,
        history_id,
        message_id_header: message_id_header.map(|h| h.trim().to_owned()),
        deleted: false,
        unavailable: false,
    });
    id
}

// ---------------------------------------------------------------------------------------------
// Handlers

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(route) = route_of(&method, uri.path()) else {
        return not_found();
    };
    let fault = {
        let mut m = shared.lock();
        *m.calls.entry(route).or_default() += 1;
        m.faults.get_mut(&route).and_then(VecDeque::pop_front)
    };
    if let Some(fault) = &fault {
        if let Some(response) = fault_response(fault) {
            return response;
        }
        if let Fault::Delay(d) = fault {
            tokio::time::sleep(*d).await;
        }
    }
    let query = query_pairs(&uri);
    let mut m = shared.lock();
    match route {
        Route::Authorize => authorize(&mut m, &query),
        // The session URI is the credential, as at Google.
        Route::UploadChunk => resumable::put(
            &mut m,
            &headers,
            &query,
            &body,
            fault == Some(Fault::Interrupt),
        ),
        Route::Token => token(&mut m, &headers, &body),
        Route::Revoke => revoke(&mut m, &body),
        Route::Jwks => pubsub::jwks(),
        _ => {
            if !authorized(&m, &headers) {
                return unauthorized();
            }
            match route {
                Route::Profile => profile(&m),
                Route::MessagesList => list_messages(&m, &query),
                Route::MessagesGet => {
                    let id = uri.path().rsplit('/').next().unwrap_or("");
                    get_message(&m, id, &query)
                }
                Route::History => list_history(&m, &query),
                Route::Watch => pubsub::watch(&mut m, &body),
                Route::Stop => pubsub::stop(&mut m),
                Route::AttachmentsGet => attachments::get_attachment(&mut m, uri.path()),
                Route::UploadSend if first(&query, "uploadType") == Some("resumable") => {
                    resumable::start(&mut m, &headers, &body)
                }
                Route::UploadSend => attachments::upload_send(&mut m, &headers, &query, &body),
                _ => send(&mut m, &body),
            }
        }
    }
}

fn authorized(m: &Mailbox, headers: &HeaderMap) -> bool {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    m.access_tokens
        .get(token.trim())
        .is_some_and(|t| !t.revoked && t.expires_at > Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_unfold_and_strip() {
        let raw = b"To: a@b.example,\r\n c@d.example\r\nBcc: secret@x.example,\r\n\tother@x.example\r\nSubject: hi\r\n\r\nBcc: in body\r\n";
        assert_eq!(header_values(raw, "to"), ["a@b.example, c@d.example"]);
        let stripped = without_header(raw, "Bcc");
        let text = String::from_utf8(stripped).unwrap();
        assert!(!text.contains("secret@") && !text.contains("other@"));
        assert!(text.contains("Subject: hi") && text.ends_with("Bcc: in body\r\n"));
    }

    #[test]
    fn address_lists() {
        assert_eq!(
            addresses("\"Team, Navy\" <team@navy.example>, a@b.example"),
            ["team@navy.example", "a@b.example"]
        );
        assert!(!is_address("nope"));
        assert!(is_address("a@b.example"));
    }
}
