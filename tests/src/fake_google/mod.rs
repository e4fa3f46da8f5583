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
//!   message joins the mailbox as `SENT`). Every Gmail route wants a live bearer token
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
            }),
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
// Wire helpers

/// The unfolded values of header `name` (case-insensitive) in the header section of `raw`.
#[must_use]
pub fn header_values(raw: &[u8], name: &str) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(c) = current.as_mut() {
                c.push(' ');
                c.push_str(line.trim());
            }
            continue;
        }
        if let Some(done) = current.take() {
            out.push(done);
        }
        if let Some((n, v)) = line.split_once(':')
            && n.trim().eq_ignore_ascii_case(name)
        {
            current = Some(v.trim().to_owned());
        }
    }
    if let Some(done) = current {
        out.push(done);
    }
    out
}

/// The header section of `raw` without the header `name` (continuation lines included).
fn without_header(raw: &[u8], name: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw);
    let Some(split) = text
        .find("\r\n\r\n")
        .map(|i| i + 2)
        .or_else(|| text.find("\n\n").map(|i| i + 1))
    else {
        return raw.to_vec();
    };
    let (head, body) = text.split_at(split);
    let mut out = String::new();
    let mut skipping = false;
    for line in head.split_inclusive('\n') {
        if line.starts_with([' ', '\t']) {
            if !skipping {
                out.push_str(line);
            }
            continue;
        }
        skipping = line
            .split_once(':')
            .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name));
        if !skipping {
            out.push_str(line);
        }
    }
    out.push_str(body);
    out.into_bytes()
}

/// Addresses of an address-list header value (`a@b.c, "Ann, B" <ann@b.c>`).
fn addresses(value: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let (mut current, mut quoted, mut angle) = (String::new(), false, false);
    for c in value.chars() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts
        .into_iter()
        .map(|p| {
            let p = p.trim();
            match (p.rfind('<'), p.rfind('>')) {
                (Some(s), Some(e)) if s < e => p[s + 1..e].trim().to_owned(),
                _ => p.to_owned(),
            }
        })
        .filter(|a| !a.is_empty())
        .collect()
}

fn is_address(a: &str) -> bool {
    a.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !a.contains(char::is_whitespace)
    })
}

fn google_error(status: StatusCode, message: &str, reason: &str) -> Response {
    let status_name = match status.as_u16() {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        _ => "INTERNAL",
    };
    let body = json!({
        "error": {
            "code": status.as_u16(),
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
            "status": status_name,
        }
    });
    (status, axum::Json(body)).into_response()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

fn unauthorized() -> Response {
    let mut r = google_error(
        StatusCode::UNAUTHORIZED,
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        "authError",
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static(
            "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"",
        ),
    );
    r
}

fn not_found() -> Response {
    google_error(
        StatusCode::NOT_FOUND,
        "Requested entity was not found.",
        "notFound",
    )
}

fn fault_response(fault: &Fault) -> Option<Response> {
    match fault {
        Fault::Delay(_) | Fault::Pass => None,
        Fault::Error {
            status,
            message,
            reason,
        } => Some(google_error(
            StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST),
            message,
            reason,
        )),
        Fault::Unauthorized => Some(unauthorized()),
        Fault::RateLimited {
            status,
            retry_after,
        } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
            let (message, reason) = if status == StatusCode::FORBIDDEN {
                ("User-rate limit exceeded.", "userRateLimitExceeded")
            } else {
                (
                    "Too many concurrent requests for user.",
                    "rateLimitExceeded",
                )
            };
            let mut r = google_error(status, message, reason);
            if let Some(secs) = retry_after {
                r.headers_mut().insert(
                    header::RETRY_AFTER,
                    header::HeaderValue::from_str(&secs.to_string()).expect("digits"),
                );
            }
            Some(r)
        }
        Fault::Status(code) => {
            let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let (message, reason) = match status.as_u16() {
                500 => ("Internal error encountered.", "backendError"),
                503 => ("The service is currently unavailable.", "backendError"),
                400 => ("Invalid value", "invalidArgument"),
                _ => ("Error", "error"),
            };
            Some(google_error(status, message, reason))
        }
    }
}

fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn first<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn route_of(method: &Method, path: &str) -> Option<Route> {
    let gmail = path.strip_prefix("/gmail/v1/users/me/");
    match (method, path, gmail) {
        (&Method::GET, "/o/oauth2/v2/auth", _) => Some(Route::Authorize),
        (&Method::POST, "/token", _) => Some(Route::Token),
        (&Method::POST, "/revoke", _) => Some(Route::Revoke),
        (&Method::GET, _, Some("profile")) => Some(Route::Profile),
        (&Method::GET, _, Some("messages")) => Some(Route::MessagesList),
        (&Method::GET, _, Some("history")) => Some(Route::History),
        (&Method::POST, _, Some("messages/send")) => Some(Route::Send),
        (&Method::GET, _, Some(rest)) if rest.starts_with("messages/") => Some(Route::MessagesGet),
        _ => None,
    }
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
        Route::Token => token(&mut m, &headers, &body),
        Route::Revoke => revoke(&mut m, &body),
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

fn authorize(m: &mut Mailbox, query: &[(String, String)]) -> Response {
    m.authorize_requests.push(query.to_vec());
    let bad = |why: &str| {
        (
            StatusCode::BAD_REQUEST,
            format!("Error 400: invalid_request\n{why}"),
        )
            .into_response()
    };
    if first(query, "client_id") != Some(m.client_id.as_str()) {
        return (StatusCode::UNAUTHORIZED, "Error 401: invalid_client").into_response();
    }
    let Some(redirect_uri) = first(query, "redirect_uri") else {
        return bad("Missing required parameter: redirect_uri");
    };
    if redirect_uri != m.redirect_url {
        return bad("Error 400: redirect_uri_mismatch");
    }
    if first(query, "response_type") != Some("code") {
        return bad("Invalid response_type");
    }
    let Some(challenge) = first(query, "code_challenge") else {
        return bad("Missing required parameter: code_challenge");
    };
    if first(query, "code_challenge_method") != Some("S256") {
        return bad("Invalid code_challenge_method");
    }
    let scope = first(query, "scope").unwrap_or("").to_owned();
    let code = format!("4/0A{}", uuid::Uuid::new_v4().simple());
    m.codes.insert(
        code.clone(),
        CodeGrant {
            challenge: challenge.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            scope: scope.clone(),
        },
    );
    let mut location = format!("{redirect_uri}?");
    let mut ser = form_urlencoded::Serializer::new(String::new());
    if let Some(state) = first(query, "state") {
        ser.append_pair("state", state);
    }
    ser.append_pair("code", &code).append_pair("scope", &scope);
    location.push_str(&ser.finish());
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

fn issue(m: &mut Mailbox, refresh_token: Option<String>, with_refresh: bool, scope: &str) -> Value {
    let access = format!("ya29.fake-access-{}", uuid::Uuid::new_v4().simple());
    let lifetime = m.token_lifetime;
    m.access_tokens.insert(
        access.clone(),
        AccessToken {
            expires_at: Utc::now() + chrono::Duration::from_std(lifetime).unwrap_or_default(),
            refresh_token: refresh_token.clone(),
            revoked: false,
        },
    );
    m.issued.push((
        access.clone(),
        refresh_token.clone().filter(|_| with_refresh),
    ));
    let mut body = json!({
        "access_token": access,
        "expires_in": lifetime.as_secs(),
        "token_type": "Bearer",
    });
    if !scope.is_empty() {
        body["scope"] = json!(scope);
    }
    if with_refresh && let Some(r) = refresh_token {
        body["refresh_token"] = json!(r);
    }
    body
}

fn token(m: &mut Mailbox, headers: &HeaderMap, body: &[u8]) -> Response {
    let form: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let grant_type = first(&form, "grant_type").unwrap_or("").to_owned();
    *m.grants.entry(grant_type.clone()).or_default() += 1;
    // Client authentication: HTTP Basic or the body.
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            let (id, secret) = s.split_once(':')?;
            let decode = |x: &str| {
                form_urlencoded::parse(format!("x={x}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
            };
            Some((decode(id)?, decode(secret)?))
        });
    let (client_id, client_secret) = basic.unwrap_or_else(|| {
        (
            first(&form, "client_id").unwrap_or("").to_owned(),
            first(&form, "client_secret").unwrap_or("").to_owned(),
        )
    });
    if client_id != m.client_id || client_secret != m.client_secret {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Unauthorized");
    }
    match grant_type.as_str() {
        "authorization_code" => {
            let code = first(&form, "code").unwrap_or("");
            let Some(grant) = m.codes.remove(code) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Malformed auth code.",
                );
            };
            if first(&form, "redirect_uri") != Some(grant.redirect_uri.as_str()) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "redirect_uri_mismatch",
                    "Bad Request",
                );
            }
            let Some(verifier) = first(&form, "code_verifier") else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "code_verifier is missing.",
                );
            };
            let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if computed != grant.challenge {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Invalid code verifier.",
                );
            }
            let refresh = format!("1//fake-refresh-{}", uuid::Uuid::new_v4().simple());
            m.refresh_tokens.insert(refresh.clone(), true);
            let body = issue(m, Some(refresh), true, &grant.scope);
            axum::Json(body).into_response()
        }
        "refresh_token" => {
            let refresh = first(&form, "refresh_token").unwrap_or("").to_owned();
            let live = m.refresh_tokens.get(&refresh).copied().unwrap_or(false);
            if m.invalid_grant || !live {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Token has been expired or revoked.",
                );
            }
            let body = issue(m, Some(refresh), false, "");
            axum::Json(body).into_response()
        }
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Invalid grant_type.",
        ),
    }
}

fn revoke(m: &mut Mailbox, body: &[u8]) -> Response {
    let form: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let token = first(&form, "token").unwrap_or("").to_owned();
    if let Some(live) = m.refresh_tokens.get_mut(&token) {
        *live = false;
        for t in m.access_tokens.values_mut() {
            if t.refresh_token.as_deref() == Some(token.as_str()) {
                t.revoked = true;
            }
        }
    } else if let Some(t) = m.access_tokens.get_mut(&token) {
        t.revoked = true;
    } else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_token",
            "Token expired or revoked",
        );
    }
    axum::Json(json!({})).into_response()
}

fn visible(msg: &StoredMessage) -> bool {
    !msg.deleted && !msg.labels.iter().any(|l| l == "SPAM" || l == "TRASH")
}

fn profile(m: &Mailbox) -> Response {
    let live: Vec<&StoredMessage> = m.messages.iter().filter(|x| !x.deleted).collect();
    let mut threads: Vec<&str> = live.iter().map(|x| x.thread_id.as_str()).collect();
    threads.sort_unstable();
    threads.dedup();
    axum::Json(json!({
        "emailAddress": m.account,
        "messagesTotal": live.len(),
        "threadsTotal": threads.len(),
        "historyId": m.history_id.to_string(),
    }))
    .into_response()
}

fn page_size(query: &[(String, String)]) -> usize {
    first(query, "maxResults")
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(1, 500)
}

fn list_messages(m: &Mailbox, query: &[(String, String)]) -> Response {
    let max = page_size(query);
    let newer_than = first(query, "q").and_then(|q| {
        q.split_whitespace().find_map(|term| {
            let days = term.strip_prefix("newer_than:")?.strip_suffix('d')?;
            days.parse::<i64>().ok()
        })
    });
    let cutoff = newer_than.map(|d| Utc::now() - chrono::Duration::days(d));
    // Page tokens name the position (index in the mailbox) to continue below.
    let below = match first(query, "pageToken") {
        None => m.messages.len(),
        Some(t) => match t.strip_prefix("p").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) if n <= m.messages.len() => n,
            _ => {
                return google_error(
                    StatusCode::BAD_REQUEST,
                    "Invalid pageToken",
                    "invalidArgument",
                );
            }
        },
    };
    let matching: Vec<(usize, &StoredMessage)> = m.messages[..below]
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, x)| visible(x) && cutoff.is_none_or(|c| x.internal_date >= c))
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .take(max)
        .map(|(_, x)| json!({"id": x.id, "threadId": x.thread_id}))
        .collect();
    let mut body = json!({"resultSizeEstimate": matching.len()});
    if !page.is_empty() {
        body["messages"] = Value::Array(page);
    }
    if matching.len() > max {
        body["nextPageToken"] = json!(format!("p{}", matching[max - 1].0));
    }
    axum::Json(body).into_response()
}

fn get_message(m: &Mailbox, id: &str, query: &[(String, String)]) -> Response {
    let Some(msg) = m
        .messages
        .iter()
        .find(|x| x.id == id && !x.deleted && !x.unavailable)
    else {
        return not_found();
    };
    let text = String::from_utf8_lossy(&msg.raw);
    let body_start = text
        .find("\r\n\r\n")
        .map(|i| i + 4)
        .or_else(|| text.find("\n\n").map(|i| i + 2))
        .unwrap_or(text.len());
    let snippet: String = text[body_start..]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(100)
        .collect();
    let mut body = json!({
        "id": msg.id,
        "threadId": msg.thread_id,
        "labelIds": msg.labels,
        "snippet": snippet.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('\'', "&#39;"),
        "sizeEstimate": msg.raw.len(),
        "historyId": msg.history_id.to_string(),
        "internalDate": msg.internal_date.timestamp_millis().to_string(),
    });
    match first(query, "format").unwrap_or("full") {
        "raw" => body["raw"] = json!(URL_SAFE.encode(&msg.raw)),
        "minimal" => {}
        _ => body["payload"] = json!({"mimeType": "message/rfc822", "headers": []}),
    }
    axum::Json(body).into_response()
}

fn list_history(m: &Mailbox, query: &[(String, String)]) -> Response {
    let Some(start) = first(query, "startHistoryId").and_then(|s| s.parse::<u64>().ok()) else {
        return google_error(
            StatusCode::BAD_REQUEST,
            "Invalid startHistoryId",
            "invalidArgument",
        );
    };
    if start < m.min_history_id || start > m.history_id {
        return not_found();
    }
    let types: Vec<&str> = query
        .iter()
        .filter(|(k, _)| k == "historyTypes")
        .map(|(_, v)| v.as_str())
        .collect();
    let wanted = |c: &Change| {
        let name = match c {
            Change::Added => "messageAdded",
            Change::Deleted => "messageDeleted",
            Change::LabelsAdded(_) => "labelAdded",
            Change::LabelsRemoved(_) => "labelRemoved",
        };
        types.is_empty() || types.contains(&name)
    };
    let records: Vec<&HistoryEntry> = m
        .history
        .iter()
        .filter(|h| h.id > start && wanted(&h.change))
        .collect();
    let offset = match first(query, "pageToken") {
        None => 0,
        Some(t) => match t.strip_prefix("h").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) if n <= records.len() => n,
            _ => {
                return google_error(
                    StatusCode::BAD_REQUEST,
                    "Invalid pageToken",
                    "invalidArgument",
                );
            }
        },
    };
    let max = page_size(query);
    let page: Vec<Value> = records[offset..]
        .iter()
        .take(max)
        .map(|h| {
            let message =
                json!({"id": h.message_id, "threadId": h.thread_id, "labelIds": h.labels});
            let (key, change) = match &h.change {
                Change::Added => ("messagesAdded", json!({"message": message})),
                Change::Deleted => ("messagesDeleted", json!({"message": message})),
                Change::LabelsAdded(l) => {
                    ("labelsAdded", json!({"message": message, "labelIds": l}))
                }
                Change::LabelsRemoved(l) => {
                    ("labelsRemoved", json!({"message": message, "labelIds": l}))
                }
            };
            json!({
                "id": h.id.to_string(),
                "messages": [{"id": h.message_id, "threadId": h.thread_id}],
                key: [change],
            })
        })
        .collect();
    let mut body = json!({"historyId": m.history_id.to_string()});
    if !page.is_empty() {
        body["history"] = Value::Array(page);
    }
    if records.len() > offset + max {
        body["nextPageToken"] = json!(format!("h{}", offset + max));
    }
    axum::Json(body).into_response()
}

fn send(m: &mut Mailbox, body: &[u8]) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return google_error(
            StatusCode::BAD_REQUEST,
            "Invalid JSON payload received.",
            "parseError",
        );
    };
    let Some(encoded) = request.get("raw").and_then(Value::as_str) else {
        return google_error(
            StatusCode::BAD_REQUEST,
            "'raw' RFC822 payload message string or uploading message via /upload/* URL required",
            "invalidArgument",
        );
    };
    let trimmed = encoded.trim_end_matches('=');
    let Ok(raw) = URL_SAFE_NO_PAD.decode(trimmed) else {
        return google_error(
            StatusCode::BAD_REQUEST,
            "Invalid value for ByteString",
            "invalidArgument",
        );
    };
    let mut envelope = Vec::new();
    for (name, message) in [
        ("To", "Invalid To header"),
        ("Cc", "Invalid Cc header"),
        ("Bcc", "Invalid Bcc header"),
    ] {
        for value in header_values(&raw, name) {
            for a in addresses(&value) {
                if !is_address(&a) {
                    return google_error(StatusCode::BAD_REQUEST, message, "invalidArgument");
                }
                envelope.push(a.to_lowercase());
            }
        }
    }
    if envelope.is_empty() {
        return google_error(
            StatusCode::BAD_REQUEST,
            "Recipient address required",
            "invalidArgument",
        );
    }
    let requested_thread_id = request
        .get("threadId")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let id = insert_message(
        m,
        raw.clone(),
        vec!["SENT".to_owned()],
        Utc::now(),
        requested_thread_id.clone(),
    );
    let thread_id = m
        .messages
        .last()
        .map(|x| x.thread_id.clone())
        .unwrap_or_default();
    m.sent.push(SentMessage {
        id: id.clone(),
        thread_id: thread_id.clone(),
        requested_thread_id,
        delivered: without_header(&raw, "Bcc"),
        raw,
        envelope_to: envelope,
    });
    axum::Json(json!({"id": id, "threadId": thread_id, "labelIds": ["SENT"]})).into_response()
}

// ---------------------------------------------------------------------------------------------
// Sample mail

/// A plain `text/plain` UTF-8 message from `from` to `to`.
#[must_use]
pub fn simple_message(from: &str, to: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {}\r\nMessage-ID: <{}@mail.example.com>\r\n\
MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n",
        Utc::now().format("%a, %d %b %Y %H:%M:%S +0000"),
        uuid::Uuid::new_v4().simple(),
    )
    .into_bytes()
}

/// Realistic messages for the mailbox of `account`, in this order:
///
/// 0. `multipart/alternative` (text + HTML) from Ada Lovelace `<ada@analytical.example>`,
///    `Message-ID: <ada-1@analytical.example>`, with a UTF-8 `Q`-encoded subject
///    ("Réunion de lundi — ordre du jour");
/// 1. an ISO-8859-1 8-bit body with an ISO-8859-1 `Q`-encoded subject ("Café crème") from
///    René `<rene@cafe.example>`;
/// 2. `multipart/mixed` with a PDF attachment (`devis.pdf`) and a `B`-encoded UTF-8 subject
///    ("Devis n°42 ✓") from Grace Hopper `<grace@navy.example>`;
/// 3. a malformed message: a header line without a colon, no `From`, a multipart type whose
///    boundary never appears, and bytes that are not UTF-8;
/// 4. a newsletter from `news@deals.example` with `List-Unsubscribe`, `List-Id` and
///    `Precedence: bulk`;
/// 5. mail the account sent (`From: account`) to Charles Babbage
///    `<charles@engine.example>`;
/// 6. a reply from Ada (`In-Reply-To: <ada-1@analytical.example>`, same thread as 0).
#[must_use]
pub fn sample_messages(account: &str) -> Vec<Vec<u8>> {
    let date = Utc::now().format("%a, %d %b %Y %H:%M:%S +0000").to_string();
    let mut out = Vec::new();
    out.push(
        format!(
            "Return-Path: <ada@analytical.example>\r\n\
Received: from mail.analytical.example (mail.analytical.example [192.0.2.10])\r\n\
\tby mx.google.com with ESMTPS id x1\r\n\
From: Ada Lovelace <ada@analytical.example>\r\n\
To: {account}\r\n\
Subject: =?UTF-8?Q?R=C3=A9union_de_lundi_=E2=80=94_ordre_du_jour?=\r\n\
Date: {date}\r\n\
Message-ID: <ada-1@analytical.example>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/alternative; boundary=\"000000000000alt\"\r\n\
\r\n\
--000000000000alt\r\n\
Content-Type: text/plain; charset=\"UTF-8\"\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Bonjour,\r\n\
\r\n\
Voici l'ordre du jour de la r=C3=A9union de lundi.\r\n\
\r\n\
Ada\r\n\
--000000000000alt\r\n\
Content-Type: text/html; charset=\"UTF-8\"\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
<div dir=3D\"ltr\">Bonjour,<br><br>Voici l&#39;ordre du jour de la r=C3=A9union de lu=\r\n\
ndi.<br><br>Ada</div>\r\n\
--000000000000alt--\r\n"
        )
        .into_bytes(),
    );
    let mut latin1 = format!(
        "From: =?ISO-8859-1?Q?Ren=E9?= <rene@cafe.example>\r\n\
To: {account}\r\n\
Subject: =?ISO-8859-1?Q?Caf=E9_cr=E8me?=\r\n\
Date: {date}\r\n\
Message-ID: <rene-7@cafe.example>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=ISO-8859-1\r\n\
Content-Transfer-Encoding: 8bit\r\n\
\r\n"
    )
    .into_bytes();
    latin1.extend_from_slice(b"Un caf\xe9 cr\xe8me, s'il vous pla\xeet. \xc0 bient\xf4t !\r\n");
    out.push(latin1);
    out.push(
        format!(
            "From: Grace Hopper <grace@navy.example>\r\n\
To: {account}\r\n\
Cc: \"Team, Navy\" <team@navy.example>\r\n\
Subject: =?UTF-8?B?RGV2aXMgbsKwNDIg4pyT?=\r\n\
Date: {date}\r\n\
Message-ID: <grace-42@navy.example>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"mixed-b\"\r\n\
\r\n\
This is a multi-part message in MIME format.\r\n\
--mixed-b\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Please find the quote attached.\r\n\
--mixed-b\r\n\
Content-Type: application/pdf; name=\"devis.pdf\"\r\n\
Content-Disposition: attachment; filename=\"devis.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoKdHJhaWxlcgo8\r\n\
PC9Sb290IDEgMCBSPj4KJSVFT0YK\r\n\
--mixed-b--\r\n"
        )
        .into_bytes(),
    );
    let mut malformed = b"This line has no colon at all\r\n\
To: \r\n\
Subject: broken \xff\xfe message\r\n\
Content-Type: multipart/mixed; boundary=\"never-used\"\r\n\
\r\n\
body without any boundary \xc3\x28 and invalid UTF-8\r\n"
        .to_vec();
    malformed.extend_from_slice(b"\x00\x01\x02 trailing binary\r\n");
    out.push(malformed);
    out.push(
        format!(
            "From: Deals Weekly <news@deals.example>\r\n\
To: {account}\r\n\
Subject: This week's deals\r\n\
Date: {date}\r\n\
Message-ID: <news-2024-01@deals.example>\r\n\
List-Unsubscribe: <mailto:unsubscribe@deals.example?subject=unsubscribe>, <https://deals.example/u/123>\r\n\
List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\
List-Id: Deals Weekly <weekly.deals.example>\r\n\
Precedence: bulk\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/html; charset=utf-8\r\n\
\r\n\
<html><body><h1>Deals</h1><p>50% off everything.</p></body></html>\r\n"
        )
        .into_bytes(),
    );
    out.push(
        format!(
            "From: {account}\r\n\
To: Charles Babbage <charles@engine.example>\r\n\
Subject: Difference engine\r\n\
Date: {date}\r\n\
Message-ID: <me-1@{domain}>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Charles, how is the engine coming along?\r\n",
            domain = account.rsplit_once('@').map_or("example.com", |(_, d)| d)
        )
        .into_bytes(),
    );
    out.push(
        format!(
            "From: Ada Lovelace <ada@analytical.example>\r\n\
To: {account}\r\n\
Subject: Re: =?UTF-8?Q?R=C3=A9union_de_lundi?=\r\n\
Date: {date}\r\n\
Message-ID: <ada-2@analytical.example>\r\n\
In-Reply-To: <ada-1@analytical.example>\r\n\
References: <ada-1@analytical.example>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
One more point for Monday.\r\n"
        )
        .into_bytes(),
    );
    out
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
