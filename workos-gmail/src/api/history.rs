//! `users.history.list`: what changed in the mailbox since a history id.

use serde::Deserialize;
use workos_core::{Error, Result};

use super::GmailApi;
use super::messages::MessageRef;
use super::request::json;
use super::usage::Method;

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

impl GmailApi {
    /// `users.history.list`.
    ///
    /// # Errors
    /// As the [module](super) says; a `404` is [`HistoryOutcome::Expired`], not an error.
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
}
