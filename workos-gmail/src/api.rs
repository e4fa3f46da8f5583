//! The Gmail REST API (v1) for one access token at a time: the calls the engine makes, with
//! Google's errors typed into [`workos_core::Error`], retries of idempotent reads, and a count
//! of calls and quota units.
//!
//! | call | quota units |
//! | --- | --- |
//! | `users.getProfile` | 1 |
//! | `users.messages.list` | 5 |
//! | `users.messages.get` | 5 |
//! | `users.history.list` | 2 |
//! | `users.messages.send` | 100 |
//! | `users.messages.attachments.get` | 5 |
//!
//! Messages over [`SIMPLE_SEND_MAX_BYTES`] are sent through Gmail's upload endpoint with the
//! resumable protocol (`/upload/gmail/v1/users/me/messages/send?uploadType=resumable`, see
//! [`resumable`]), up to Gmail's own limits; attachments are read as streams ([`stream`]).
//!
//! Errors: `401` is [`Error::Provider`] with status 401 (the caller refreshes the token and
//! retries once, see [`is_unauthorized`]); `429`, and `403` with reason `rateLimitExceeded` or
//! `userRateLimitExceeded`, are [`Error::RateLimited`] (`Retry-After` when given, else
//! [`DEFAULT_RETRY_AFTER`]); `404` of a message is [`Error::NotFound`]; `404` of the history is
//! [`HistoryOutcome::Expired`]; `400` "Invalid To header" (and its Cc/Bcc siblings, and
//! "Recipient address required") is [`Error::Validation`] on `to`; `5xx` and network failures
//! are [`Error::Unavailable`], retried for reads with exponential backoff ([`RetryPolicy`]),
//! never for a send.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use workos_core::{Error, Result};

use crate::oauth::PROVIDER;

pub mod media;
pub mod resumable;
pub mod stream;

pub use media::{FullMessage, MessagePart, MessagePartBody, PartHeader, SIMPLE_SEND_MAX_BYTES};
pub use resumable::{QUERY_RESERVE, RESUMABLE_CHUNK_BYTES, RESUMABLE_RETRIES};
pub use stream::{ATTACHMENT_TIMEOUT, DataDecoder};

/// The wait suggested when Google rate-limits without a `Retry-After`.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Base64url that accepts Google's padded or unpadded output.
const LENIENT_URL_SAFE: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes Gmail's base64url (padded or not).
///
/// # Errors
/// [`Error::Provider`] when `raw` is not base64url.
pub fn decode_base64url(raw: &str) -> Result<Vec<u8>> {
    LENIENT_URL_SAFE
        .decode(raw.trim())
        .map_err(|e| provider_error(None, Some("bad_raw"), format!("raw is not base64url: {e}")))
}

/// Encodes a message for `messages.send` (base64url without padding).
#[must_use]
pub fn encode_base64url(raw: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(raw)
}

/// How reads are retried after a `5xx` or a network failure. Sends are never retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (default 3).
    pub max_retries: u32,
    /// The first wait; each next one doubles (default 250 ms).
    pub base_delay: Duration,
    /// The longest wait (default 5 s).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    #[must_use]
    pub const fn none() -> Self {
        Self {
            max_retries: 0,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        }
    }

    fn delay(&self, retry: u32) -> Duration {
        self.base_delay
            .saturating_mul(1u32 << retry.min(16))
            .min(self.max_delay)
    }
}

/// The Gmail API methods the client calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Method {
    /// `users.getProfile`.
    Profile,
    /// `users.messages.list`.
    MessagesList,
    /// `users.messages.get`.
    MessagesGet,
    /// `users.history.list`.
    HistoryList,
    /// `users.messages.send` (either endpoint).
    MessagesSend,
    /// `users.messages.attachments.get`.
    AttachmentsGet,
}

impl Method {
    /// The quota units Google charges per call.
    #[must_use]
    pub const fn quota_units(self) -> u64 {
        match self {
            Self::Profile => 1,
            Self::MessagesList | Self::MessagesGet | Self::AttachmentsGet => 5,
            Self::HistoryList => 2,
            Self::MessagesSend => 100,
        }
    }

    const fn index(self) -> usize {
        match self {
            Self::Profile => 0,
            Self::MessagesList => 1,
            Self::MessagesGet => 2,
            Self::HistoryList => 3,
            Self::MessagesSend => 4,
            Self::AttachmentsGet => 5,
        }
    }
}

/// API calls made (every HTTP attempt, retries included) and the quota units they cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ApiUsage {
    /// All calls.
    pub calls: u64,
    /// All quota units.
    pub quota_units: u64,
    /// `users.getProfile` calls.
    pub profile: u64,
    /// `users.messages.list` calls.
    pub messages_list: u64,
    /// `users.messages.get` calls.
    pub messages_get: u64,
    /// `users.history.list` calls.
    pub history_list: u64,
    /// `users.messages.send` calls.
    pub messages_send: u64,
    /// `users.messages.attachments.get` calls.
    pub attachments_get: u64,
    /// Retried attempts (included in the counts above).
    pub retries: u64,
}

impl ApiUsage {
    /// The calls of `method`.
    #[must_use]
    pub const fn calls_of(&self, method: Method) -> u64 {
        match method {
            Method::Profile => self.profile,
            Method::MessagesList => self.messages_list,
            Method::MessagesGet => self.messages_get,
            Method::HistoryList => self.history_list,
            Method::MessagesSend => self.messages_send,
            Method::AttachmentsGet => self.attachments_get,
        }
    }

    /// What was used between `earlier` and `self`.
    #[must_use]
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            calls: self.calls.saturating_sub(earlier.calls),
            quota_units: self.quota_units.saturating_sub(earlier.quota_units),
            profile: self.profile.saturating_sub(earlier.profile),
            messages_list: self.messages_list.saturating_sub(earlier.messages_list),
            messages_get: self.messages_get.saturating_sub(earlier.messages_get),
            history_list: self.history_list.saturating_sub(earlier.history_list),
            messages_send: self.messages_send.saturating_sub(earlier.messages_send),
            attachments_get: self.attachments_get.saturating_sub(earlier.attachments_get),
            retries: self.retries.saturating_sub(earlier.retries),
        }
    }
}

#[derive(Default)]
struct Counters {
    per_method: [AtomicU64; 6],
    retries: AtomicU64,
}

// ---------------------------------------------------------------------------------------------
// Wire types

/// `users.getProfile`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Profile {
    /// The mailbox's address.
    pub email_address: String,
    /// Messages in the mailbox.
    #[serde(default)]
    pub messages_total: u64,
    /// Threads in the mailbox.
    #[serde(default)]
    pub threads_total: u64,
    /// The mailbox's current history id.
    pub history_id: String,
}

/// A message as lists name it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct MessageRef {
    /// The message id.
    pub id: String,
    /// Its thread.
    #[serde(default)]
    pub thread_id: Option<String>,
    /// Its labels, when the list gives them (history records do).
    #[serde(default)]
    pub label_ids: Vec<String>,
}

/// A page of `users.messages.list`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct MessageList {
    /// The messages, newest first (absent when none).
    #[serde(default)]
    pub messages: Vec<MessageRef>,
    /// The next page, when there is one.
    #[serde(default)]
    pub next_page_token: Option<String>,
    /// Google's estimate of the total.
    #[serde(default)]
    pub result_size_estimate: Option<u64>,
}

/// What to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// A Gmail search, e.g. `newer_than:30d`.
    pub q: Option<String>,
    /// The page to read.
    pub page_token: Option<String>,
    /// At most this many (Google: 1–500, default 100).
    pub max_results: Option<u32>,
}

/// A message in `format=raw`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RawMessage {
    /// The message id.
    pub id: String,
    /// Its thread.
    #[serde(default)]
    pub thread_id: Option<String>,
    /// Its labels (`INBOX`, `SENT`, `DRAFT`, …).
    #[serde(default)]
    pub label_ids: Vec<String>,
    /// Google's plain-text excerpt (HTML entities escaped).
    #[serde(default)]
    pub snippet: Option<String>,
    /// The last history record that changed it.
    #[serde(default)]
    pub history_id: Option<String>,
    /// When Gmail received it, in milliseconds since the epoch.
    #[serde(default)]
    pub internal_date: Option<String>,
    /// Its size in bytes.
    #[serde(default)]
    pub size_estimate: Option<u64>,
    /// The RFC 5322 message in base64url.
    pub raw: String,
}

impl fmt::Debug for RawMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawMessage")
            .field("id", &self.id)
            .field("thread_id", &self.thread_id)
            .field("label_ids", &self.label_ids)
            .field("internal_date", &self.internal_date)
            .field("raw_len", &self.raw.len())
            .finish_non_exhaustive()
    }
}

impl RawMessage {
    /// The RFC 5322 bytes.
    ///
    /// # Errors
    /// [`Error::Provider`] when `raw` is not base64url.
    pub fn decode(&self) -> Result<Vec<u8>> {
        decode_base64url(&self.raw)
    }

    /// `internal_date` as a time.
    #[must_use]
    pub fn internal_date(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let ms: i64 = self.internal_date.as_deref()?.parse().ok()?;
        chrono::DateTime::from_timestamp_millis(ms)
    }
}

/// The kinds of history records to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HistoryType {
    /// A message was added to the mailbox.
    MessageAdded,
    /// A message was deleted for good.
    MessageDeleted,
    /// A label was added to a message.
    LabelAdded,
    /// A label was removed from a message.
    LabelRemoved,
}

impl HistoryType {
    /// Google's name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::MessageAdded => "messageAdded",
            Self::MessageDeleted => "messageDeleted",
            Self::LabelAdded => "labelAdded",
            Self::LabelRemoved => "labelRemoved",
        }
    }
}

/// A message in a history record.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct HistoryMessage {
    /// The message.
    pub message: MessageRef,
}

/// A label change in a history record.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct HistoryLabelChange {
    /// The message.
    pub message: MessageRef,
    /// The labels added or removed.
    #[serde(default)]
    pub label_ids: Vec<String>,
}

/// One history record.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct HistoryRecord {
    /// Its history id.
    pub id: String,
    /// The messages it touched.
    #[serde(default)]
    pub messages: Vec<MessageRef>,
    /// Messages added.
    #[serde(default)]
    pub messages_added: Vec<HistoryMessage>,
    /// Messages deleted.
    #[serde(default)]
    pub messages_deleted: Vec<HistoryMessage>,
    /// Labels added.
    #[serde(default)]
    pub labels_added: Vec<HistoryLabelChange>,
    /// Labels removed.
    #[serde(default)]
    pub labels_removed: Vec<HistoryLabelChange>,
}

/// A page of `users.history.list`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct HistoryPage {
    /// The records, oldest first (absent when nothing changed).
    #[serde(default)]
    pub history: Vec<HistoryRecord>,
    /// The next page, when there is one.
    #[serde(default)]
    pub next_page_token: Option<String>,
    /// The mailbox's current history id.
    pub history_id: String,
}

/// What `users.history.list` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryOutcome {
    /// A page of changes.
    Page(HistoryPage),
    /// `404`: the start history id is too old (Google keeps about a week) or invalid; the
    /// caller must resynchronise in full.
    Expired,
}

/// What to read of the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryQuery {
    /// Changes after this history id.
    pub start_history_id: String,
    /// Only these kinds (all when empty).
    pub history_types: Vec<HistoryType>,
    /// The page to read.
    pub page_token: Option<String>,
    /// At most this many records (Google: up to 500, default 100).
    pub max_results: Option<u32>,
}

/// What `users.messages.send` answered.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SentMessage {
    /// The new message's id.
    pub id: String,
    /// Its thread.
    #[serde(default)]
    pub thread_id: Option<String>,
    /// Its labels (`SENT`).
    #[serde(default)]
    pub label_ids: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SendBody<'a> {
    raw: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    thread_id: Option<&'a str>,
}

#[derive(Deserialize, Default)]
struct GoogleErrorBody {
    #[serde(default)]
    error: GoogleError,
}

#[derive(Deserialize, Default)]
struct GoogleError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    errors: Vec<GoogleErrorItem>,
}

#[derive(Deserialize, Default)]
struct GoogleErrorItem {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Client

/// The Gmail API at a base URL. Cheap to clone; clones share the usage counters.
#[derive(Clone)]
pub struct GmailApi {
    pub(crate) http: reqwest::Client,
    base_url: String,
    retry: RetryPolicy,
    counters: std::sync::Arc<Counters>,
}

impl fmt::Debug for GmailApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GmailApi")
            .field("base_url", &self.base_url)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// What one attempt came to.
pub(crate) enum Attempt {
    Ok(reqwest::Response),
    Failed { error: Error, transient: bool },
}

impl GmailApi {
    /// A client of the API at `base_url` (e.g. `https://gmail.googleapis.com`).
    pub fn new(http: reqwest::Client, base_url: impl Into<String>, retry: RetryPolicy) -> Self {
        Self {
            http,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            retry,
            counters: std::sync::Arc::default(),
        }
    }

    /// The calls made so far by this client and its clones.
    #[must_use]
    pub fn usage(&self) -> ApiUsage {
        let c = &self.counters;
        let n = |m: Method| c.per_method[m.index()].load(Ordering::Relaxed);
        let methods = [
            Method::Profile,
            Method::MessagesList,
            Method::MessagesGet,
            Method::HistoryList,
            Method::MessagesSend,
            Method::AttachmentsGet,
        ];
        ApiUsage {
            calls: methods.iter().map(|m| n(*m)).sum(),
            quota_units: methods.iter().map(|m| n(*m) * m.quota_units()).sum(),
            profile: n(Method::Profile),
            messages_list: n(Method::MessagesList),
            messages_get: n(Method::MessagesGet),
            history_list: n(Method::HistoryList),
            messages_send: n(Method::MessagesSend),
            attachments_get: n(Method::AttachmentsGet),
            retries: c.retries.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}/gmail/v1/users/me/{path}", self.base_url)
    }

    /// `users.getProfile`.
    ///
    /// # Errors
    /// As the [module](self) says.
    pub async fn profile(&self, token: &str) -> Result<Profile> {
        let response = self
            .get(Method::Profile, token, &self.url("profile"), &[])
            .await?;
        json(response).await
    }

    /// `users.messages.list`.
    ///
    /// # Errors
    /// As the [module](self) says.
    pub async fn list_messages(&self, token: &str, query: &ListQuery) -> Result<MessageList> {
        let mut params = Vec::new();
        if let Some(q) = &query.q {
            params.push(("q", q.clone()));
        }
        if let Some(t) = &query.page_token {
            params.push(("pageToken", t.clone()));
        }
        if let Some(n) = query.max_results {
            params.push(("maxResults", n.to_string()));
        }
        let response = self
            .get(Method::MessagesList, token, &self.url("messages"), &params)
            .await?;
        json(response).await
    }

    /// `users.messages.get` with `format=raw`.
    ///
    /// # Errors
    /// [`Error::NotFound`] (kind `gmail_message`) when the message is gone; otherwise as the
    /// [module](self) says.
    pub async fn get_raw(&self, token: &str, id: &str) -> Result<RawMessage> {
        let url = self.url(&format!("messages/{}", path_segment(id)));
        let response = self
            .get(
                Method::MessagesGet,
                token,
                &url,
                &[("format", "raw".to_owned())],
            )
            .await
            .map_err(|e| match e {
                Error::Provider {
                    status: Some(404), ..
                } => Error::not_found("gmail_message"),
                e => e,
            })?;
        json(response).await
    }

    /// `users.history.list`.
    ///
    /// # Errors
    /// As the [module](self) says; a `404` is [`HistoryOutcome::Expired`], not an error.
    pub async fn list_history(&self, token: &str, query: &HistoryQuery) -> Result<HistoryOutcome> {
        let mut params = vec![("startHistoryId", query.start_history_id.clone())];
        for t in &query.history_types {
            params.push(("historyTypes", t.as_str().to_owned()));
        }
        if let Some(t) = &query.page_token {
            params.push(("pageToken", t.clone()));
        }
        if let Some(n) = query.max_results {
            params.push(("maxResults", n.to_string()));
        }
        match self
            .get(Method::HistoryList, token, &self.url("history"), &params)
            .await
        {
            Ok(response) => Ok(HistoryOutcome::Page(json(response).await?)),
            Err(Error::Provider {
                status: Some(404), ..
            }) => Ok(HistoryOutcome::Expired),
            Err(e) => Err(e),
        }
    }

    /// `users.messages.send` of an RFC 5322 message, in `thread_id` when given; a message
    /// over [`SIMPLE_SEND_MAX_BYTES`] goes through the resumable upload
    /// ([`GmailApi::send_resumable`]). Never retried: a failure after the request left may
    /// still have sent the message.
    ///
    /// # Errors
    /// As the [module](self) says.
    pub async fn send_raw(
        &self,
        token: &str,
        raw: &[u8],
        thread_id: Option<&str>,
    ) -> Result<SentMessage> {
        self.send_raw_until(token, raw, thread_id, None).await
    }

    /// [`GmailApi::send_raw`] that gives up at `deadline` (when given): no request outlives
    /// it, and a resumable upload not complete by then sends nothing (see
    /// [`resumable`]).
    ///
    /// # Errors
    /// As [`GmailApi::send_raw`] and [`GmailApi::send_resumable`].
    pub async fn send_raw_until(
        &self,
        token: &str,
        raw: &[u8],
        thread_id: Option<&str>,
        deadline: Option<std::time::Instant>,
    ) -> Result<SentMessage> {
        if raw.len() > SIMPLE_SEND_MAX_BYTES {
            return self.send_resumable(token, raw, thread_id, deadline).await;
        }
        let encoded = encode_base64url(raw);
        let body = SendBody {
            raw: &encoded,
            thread_id,
        };
        self.count(Method::MessagesSend);
        let mut request = self
            .http
            .post(self.url("messages/send"))
            .bearer_auth(token)
            .json(&body);
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(Error::Unavailable {
                    message: "no time was left to send the message; it was not sent".to_owned(),
                    source: None,
                });
            }
            request = request.timeout(left);
        }
        match attempt(request).await {
            Attempt::Ok(response) => json(response).await,
            Attempt::Failed { error, .. } => Err(error),
        }
    }

    fn count(&self, method: Method) {
        self.counters.per_method[method.index()].fetch_add(1, Ordering::Relaxed);
    }

    async fn get(
        &self,
        method: Method,
        token: &str,
        url: &str,
        params: &[(&str, String)],
    ) -> Result<reqwest::Response> {
        self.get_within(method, token, url, params, None).await
    }

    /// [`GmailApi::get`] with its own `timeout` (of the whole exchange, the answer's body
    /// included) instead of the client's.
    async fn get_within(
        &self,
        method: Method,
        token: &str,
        url: &str,
        params: &[(&str, String)],
        timeout: Option<Duration>,
    ) -> Result<reqwest::Response> {
        let mut retry = 0;
        loop {
            self.count(method);
            let mut request = self.http.get(url).bearer_auth(token).query(params);
            if let Some(timeout) = timeout {
                request = request.timeout(timeout);
            }
            match attempt(request).await {
                Attempt::Ok(response) => return Ok(response),
                Attempt::Failed { error, transient } => {
                    if !transient || retry >= self.retry.max_retries {
                        return Err(error);
                    }
                    tracing::debug!(?method, retry, error = %error, "retrying a Gmail read");
                    tokio::time::sleep(self.retry.delay(retry)).await;
                    retry += 1;
                    self.counters.retries.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Whether `err` is Gmail's `401`: the access token was refused.
#[must_use]
pub fn is_unauthorized(err: &Error) -> bool {
    matches!(
        err,
        Error::Provider {
            provider: PROVIDER,
            status: Some(401),
            ..
        }
    )
}

fn provider_error(status: Option<u16>, code: Option<&str>, message: String) -> Error {
    Error::Provider {
        provider: PROVIDER,
        status,
        code: code.map(str::to_owned),
        message,
    }
}

/// A message or thread id as one URL path segment.
fn path_segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

pub(crate) async fn json<T: DeserializeOwned>(response: reqwest::Response) -> Result<T> {
    let bytes = response
        .bytes()
        .await
        .map_err(|e| Error::unavailable("reading Gmail's answer", e))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        provider_error(
            None,
            Some("bad_response"),
            format!("unreadable Gmail answer: {e}"),
        )
    })
}

pub(crate) async fn attempt(request: reqwest::RequestBuilder) -> Attempt {
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => {
            return Attempt::Failed {
                error: Error::unavailable("Gmail API", e),
                transient: true,
            };
        }
    };
    if response.status().is_success() {
        return Attempt::Ok(response);
    }
    let (error, transient) = failure(response).await;
    Attempt::Failed { error, transient }
}

/// Google's error in a failed `response`, and whether it is worth retrying (a `5xx`).
pub(crate) async fn failure(response: reqwest::Response) -> (Error, bool) {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body: GoogleErrorBody = response
        .bytes()
        .await
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    (
        map_error(status, retry_after, &body.error),
        status.is_server_error(),
    )
}

fn map_error(status: StatusCode, retry_after: Option<Duration>, e: &GoogleError) -> Error {
    let reason = e.errors.iter().find_map(|i| i.reason.clone());
    let message = if e.message.is_empty() {
        e.errors
            .iter()
            .find_map(|i| i.message.clone())
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned())
    } else {
        e.message.clone()
    };
    let rate_limited = status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN
            && matches!(
                reason.as_deref(),
                Some("rateLimitExceeded" | "userRateLimitExceeded")
            ));
    if rate_limited {
        return Error::RateLimited {
            retry_after: retry_after.unwrap_or(DEFAULT_RETRY_AFTER),
        };
    }
    if status.is_server_error() {
        return Error::Unavailable {
            message: format!("Gmail API answered {}: {message}", status.as_u16()),
            source: None,
        };
    }
    if status == StatusCode::BAD_REQUEST {
        let lower = message.to_ascii_lowercase();
        if lower.contains("invalid to header")
            || lower.contains("invalid cc header")
            || lower.contains("invalid bcc header")
            || lower.contains("recipient address required")
        {
            return Error::invalid("to", message);
        }
    }
    provider_error(
        Some(status.as_u16()),
        reason.as_deref().or(e.status.as_deref()),
        message,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(message: &str, reason: Option<&str>) -> GoogleError {
        GoogleError {
            message: message.to_owned(),
            status: None,
            errors: vec![GoogleErrorItem {
                reason: reason.map(str::to_owned),
                message: None,
            }],
        }
    }

    #[test]
    fn errors_are_typed() {
        let e = map_error(
            StatusCode::UNAUTHORIZED,
            None,
            &err("Invalid Credentials", Some("authError")),
        );
        assert!(is_unauthorized(&e), "{e:?}");
        let e = map_error(
            StatusCode::FORBIDDEN,
            Some(Duration::from_secs(7)),
            &err("User-rate limit exceeded", Some("userRateLimitExceeded")),
        );
        assert!(
            matches!(e, Error::RateLimited { retry_after } if retry_after == Duration::from_secs(7))
        );
        let e = map_error(
            StatusCode::TOO_MANY_REQUESTS,
            None,
            &err("slow down", Some("rateLimitExceeded")),
        );
        assert!(
            matches!(e, Error::RateLimited { retry_after } if retry_after == DEFAULT_RETRY_AFTER)
        );
        let e = map_error(
            StatusCode::FORBIDDEN,
            None,
            &err("Insufficient Permission", Some("insufficientPermissions")),
        );
        assert!(
            matches!(e, Error::Provider { status: Some(403), code: Some(ref c), .. } if c == "insufficientPermissions")
        );
        let e = map_error(
            StatusCode::BAD_REQUEST,
            None,
            &err("Invalid To header", Some("invalidArgument")),
        );
        assert!(matches!(e, Error::Validation(ref v) if v.errors[0].field == "to"));
        let e = map_error(StatusCode::BAD_GATEWAY, None, &GoogleError::default());
        assert!(matches!(e, Error::Unavailable { .. }));
    }

    #[test]
    fn base64url_round_trips_padded_or_not() {
        let raw = b"Subject: hi\r\n\r\n\xff\xfe?>";
        let encoded = encode_base64url(raw);
        assert!(!encoded.contains('='));
        assert_eq!(decode_base64url(&encoded).unwrap(), raw);
        let padded = base64::engine::general_purpose::URL_SAFE.encode(raw);
        assert_eq!(decode_base64url(&padded).unwrap(), raw);
        assert!(decode_base64url("*not*").is_err());
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(0), Duration::from_millis(250));
        assert_eq!(p.delay(1), Duration::from_millis(500));
        assert_eq!(p.delay(10), Duration::from_secs(5));
    }

    #[test]
    fn ids_are_one_path_segment() {
        assert_eq!(path_segment("18c1f0e2a3b4c5d6"), "18c1f0e2a3b4c5d6");
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
    }
}
