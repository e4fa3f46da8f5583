//! The mailbox as a test drives it: adding, deleting and relabelling messages (each a history
//! record), expiring the history, and what the mailbox holds and sent.

use super::*;

impl FakeGoogle {
    /// Appends a received message (label `INBOX`, received now) and returns its id.
    pub fn add_message(&self, raw: impl Into<Vec<u8>>) -> String {
        self.add_message_with(raw, &["INBOX"], Utc::now())
    }

    /// Appends [`sample_messages`] of this mailbox as Gmail holds them: the one the account
    /// sent ([`SENT_SAMPLE`]) labelled `SENT`, the others `INBOX`, received now; returns their
    /// ids.
    pub fn add_sample_messages(&self) -> Vec<String> {
        sample_messages(&self.account())
            .into_iter()
            .enumerate()
            .map(|(i, raw)| {
                let labels: &[&str] = if i == SENT_SAMPLE {
                    &["SENT"]
                } else {
                    &["INBOX"]
                };
                self.add_message_with(raw, labels, Utc::now())
            })
            .collect()
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
}

pub(super) fn insert_message(
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
