//! What the fake keeps: the mailbox (messages, history), OAuth codes and tokens, scripted
//! faults, counters, sent messages, push and upload state.

use super::*;

/// The first history id of a new mailbox.
pub(super) const FIRST_HISTORY_ID: u64 = 100_000;
/// Gmail ids are 16 hex digits.
pub(super) const ID_BASE: u64 = 0x18c0_0000_0000_0000;

#[derive(Debug, Clone)]
pub(super) struct StoredMessage {
    pub(super) id: String,
    pub(super) thread_id: String,
    pub(super) labels: Vec<String>,
    pub(super) raw: Vec<u8>,
    pub(super) internal_date: DateTime<Utc>,
    pub(super) history_id: u64,
    pub(super) message_id_header: Option<String>,
    pub(super) deleted: bool,
    pub(super) unavailable: bool,
}

#[derive(Debug, Clone)]
pub(super) enum Change {
    Added,
    Deleted,
    LabelsAdded(Vec<String>),
    LabelsRemoved(Vec<String>),
}

#[derive(Debug, Clone)]
pub(super) struct HistoryEntry {
    pub(super) id: u64,
    pub(super) change: Change,
    pub(super) message_id: String,
    pub(super) thread_id: String,
    pub(super) labels: Vec<String>,
}

#[derive(Debug, Clone)]
pub(super) struct CodeGrant {
    pub(super) challenge: String,
    pub(super) redirect_uri: String,
    pub(super) scope: String,
}

#[derive(Debug, Clone)]
pub(super) struct AccessToken {
    pub(super) expires_at: DateTime<Utc>,
    pub(super) refresh_token: Option<String>,
    pub(super) revoked: bool,
}

pub(super) struct Mailbox {
    pub(super) account: String,
    pub(super) client_id: String,
    pub(super) client_secret: String,
    pub(super) redirect_url: String,
    pub(super) messages: Vec<StoredMessage>,
    pub(super) history: Vec<HistoryEntry>,
    pub(super) history_id: u64,
    pub(super) min_history_id: u64,
    pub(super) codes: HashMap<String, CodeGrant>,
    pub(super) refresh_tokens: HashMap<String, bool>,
    pub(super) access_tokens: HashMap<String, AccessToken>,
    pub(super) token_lifetime: Duration,
    pub(super) invalid_grant: bool,
    pub(super) faults: HashMap<Route, VecDeque<Fault>>,
    pub(super) calls: HashMap<Route, usize>,
    pub(super) grants: HashMap<String, usize>,
    pub(super) authorize_requests: Vec<Vec<(String, String)>>,
    pub(super) sent: Vec<SentMessage>,
    pub(super) issued: Vec<(String, Option<String>)>,
    pub(super) push: pubsub::PushState,
    pub(super) uploads: HashMap<String, resumable::Upload>,
    pub(super) attachment_gate: Option<Arc<tokio::sync::Semaphore>>,
}

pub(super) struct Shared {
    pub(super) mailbox: Mutex<Mailbox>,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, Mailbox> {
        self.mailbox
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
