//! Reading messages: `users.messages.list` and `users.messages.get` with `format=raw`.

use std::fmt;

use serde::Deserialize;
use workos_core::{Error, Result};

use super::GmailApi;
use super::encoding::{decode_base64url, path_segment};
use super::request::json;
use super::usage::Method;

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

impl GmailApi {
    /// `users.messages.list`.
    ///
    /// # Errors
    /// As the [module](super) says.
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
    /// [module](super) says.
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
}
