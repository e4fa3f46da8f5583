//! What the fake keeps: the requests it received, the messages and calls it created, the
//! accounts it serves and their numbers, and Twilio's STOP filter.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};

use serde_json::Value;

use super::scripted::Injection;

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
    /// [`FakeTwilio::sent_messages`](super::FakeTwilio::sent_messages) /
    /// [`FakeTwilio::created_calls`](super::FakeTwilio::created_calls), `None` in
    /// [`FakeTwilio::requests`](super::FakeTwilio::requests)).
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

pub(super) struct Created {
    pub(super) request: RecordedRequest,
    pub(super) resource: Value,
}

#[derive(Default)]
pub(super) struct Recorded {
    pub(super) requests: Vec<RecordedRequest>,
    pub(super) messages: Vec<Created>,
    pub(super) calls: Vec<Created>,
    pub(super) injections: VecDeque<Injection>,
    pub(super) call_sequence: HashMap<String, u32>,
    /// The leg each call's `<Dial>` created (parent `CallSid` → child `CallSid`).
    pub(super) dialed_legs: HashMap<String, String>,
    /// Twilio's record of calls not created through the API (inbound calls, dialled legs), by
    /// `CallSid`: see [`FakeTwilio::end_call`](super::FakeTwilio::end_call).
    pub(super) call_records: HashMap<String, Value>,
}

pub(super) struct Shared {
    pub(super) account_sid: String,
    pub(super) auth_token: String,
    /// More accounts the fake serves (e.g. an org's own), SID → auth token.
    pub(super) accounts: Mutex<HashMap<String, String>>,
    /// The accounts' own numbers (IncomingPhoneNumber resources).
    pub(super) numbers: Mutex<Vec<Value>>,
    /// Twilio's STOP filter: (sender number, recipient) pairs it refuses with 21610.
    pub(super) stopped: Mutex<HashSet<(String, String)>>,
    pub(super) recorded: Mutex<Recorded>,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, Recorded> {
        // A panicking test thread must not hide the records from the others.
        self.recorded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Shared {
    /// Whether `user:pass` is one of the accounts the fake serves.
    pub(super) fn authenticates(&self, user: &str, pass: &str) -> bool {
        (user == self.account_sid && pass == self.auth_token)
            || self
                .accounts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(user)
                .is_some_and(|token| token == pass)
    }
}

pub(super) fn find<'a>(created: &'a [Created], sid: &str) -> Option<&'a Created> {
    created
        .iter()
        .find(|c| c.request.sid.as_deref() == Some(sid))
}
