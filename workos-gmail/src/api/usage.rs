//! The methods the client calls, their quota units, and the count of calls made
//! ([`ApiUsage`]).

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use super::GmailApi;

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
pub(super) struct Counters {
    pub(super) per_method: [AtomicU64; 6],
    pub(super) retries: AtomicU64,
}

impl GmailApi {
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

    pub(super) fn count(&self, method: Method) {
        self.counters.per_method[method.index()].fetch_add(1, Ordering::Relaxed);
    }
}
