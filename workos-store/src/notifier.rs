//! Wake-ups for other processes, sent after the commit and coalesced (Postgres).
//!
//! A commit that wrote events, or made webhook deliveries due, must wake the consumers of the
//! other processes on the database: their dispatchers (`workos_events`, naming the org) and
//! their delivery workers (`workos_deliveries`). A `pg_notify` inside the writing transaction
//! would say so exactly at commit, but Postgres serialises every commit that has notified on
//! one database-wide lock, held through the commit's WAL flush: every tenant's writes would
//! take turns, each waiting for the previous one's flush.
//!
//! So the writing transaction notifies nothing. Once it has committed, it hands its org to its
//! process's [`Notifier`] ([`Notifier::post`]: no I/O, no waiting), whose task sends what has
//! accumulated in one short transaction of its own (`synchronous_commit = off`, one round
//! trip), while the next batch accumulates. Per process, at most one notifying commit is in
//! flight at a time and at most one starts every 10 ms ([`MIN_GAP`]), whatever the write
//! rate, and no request waits for it. This process's own
//! consumers are told in-process by the commit itself (see `db::Tx::commit`); the notices name
//! the process, and its listener skips them.
//!
//! A wake-up can be lost (the process dies between its commit and the notification, or the
//! notification fails): other processes' consumers then find the events at their next poll
//! (every second by default). The log is the durable record; notices only say "look now".

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use sqlx::PgPool;
use tokio::sync::mpsc;
use workos_core::ids::OrgId;

use crate::postgres::{CHANNEL, DUE_CHANNEL};

/// Notifications sent in one statement at most; a larger batch is split.
const MAX_PER_STATEMENT: usize = 500;

/// The least time between two notifying transactions of a process. A post that finds the last
/// one older is sent at once (no added latency when writes are sparse); under load, posts wait
/// at most this long and go together, so a process sends at most 100 a second whatever its
/// write rate (without the gap, the SMS bench's server sent one for every two messages).
const MIN_GAP: std::time::Duration = std::time::Duration::from_millis(10);

/// What one commit asks to be told: the org whose events it wrote, and whether it made
/// deliveries due.
#[derive(Debug, Clone, Copy)]
struct Post {
    org: Option<OrgId>,
    due: bool,
}

/// This process's sender of wake-ups to the other processes. See the [module docs](self).
pub(crate) struct Notifier {
    instance: Arc<str>,
    tx: mpsc::UnboundedSender<Post>,
    /// The receiving end until the task that sends starts (on the first post, which is always
    /// made on the runtime).
    start: Mutex<Option<(mpsc::UnboundedReceiver<Post>, PgPool)>>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// A notifier sending on `pool`, naming this process `instance`.
    pub(crate) fn new(pool: PgPool, instance: Arc<str>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            instance,
            tx,
            start: Mutex::new(Some((rx, pool))),
        }
    }

    /// The name this process's notices carry.
    pub(crate) fn instance(&self) -> &Arc<str> {
        &self.instance
    }

    /// Asks for the other processes to be told that `org`'s events committed and/or that
    /// deliveries are due. Returns at once; the task sends it with whatever else is pending.
    pub(crate) fn post(&self, org: Option<OrgId>, due: bool) {
        if org.is_none() && !due {
            return;
        }
        if let Some((rx, pool)) = self.start.lock().ok().and_then(|mut s| s.take()) {
            tokio::spawn(run(rx, pool, self.instance.clone()));
        }
        // The task ends only when every sender is gone: this cannot fail while `self` lives.
        let _ = self.tx.send(Post { org, due });
    }
}

/// Sends batches until the notifier is dropped (the store with it).
async fn run(mut rx: mpsc::UnboundedReceiver<Post>, pool: PgPool, instance: Arc<str>) {
    let mut posts = Vec::new();
    let mut last: Option<tokio::time::Instant> = None;
    while rx.recv_many(&mut posts, usize::MAX).await > 0 {
        if let Some(last) = last {
            tokio::time::sleep_until(last + MIN_GAP).await;
            while let Ok(post) = rx.try_recv() {
                posts.push(post);
            }
        }
        last = Some(tokio::time::Instant::now());
        let mut orgs = HashSet::new();
        let mut due = false;
        for post in posts.drain(..) {
            orgs.extend(post.org);
            due |= post.due;
        }
        let orgs: Vec<OrgId> = orgs.into_iter().collect();
        let mut chunks = orgs.chunks(MAX_PER_STATEMENT).peekable();
        if chunks.peek().is_none() {
            send(&pool, &statement(&[], due, &instance)).await;
        }
        while let Some(chunk) = chunks.next() {
            // The delivery workers' wake-up goes with the last chunk.
            let last = chunks.peek().is_none();
            send(&pool, &statement(chunk, due && last, &instance)).await;
        }
    }
}

/// One transaction that notifies for `orgs` (and the delivery workers if `due`), in one round
/// trip: the statements of one simple query run as one implicit transaction, so `SET LOCAL`
/// holds for it, and a failure leaves the connection idle rather than in an open transaction.
/// Its literals are org ids and the instance name (hex digits and dashes only), never text
/// from outside, so inlining them is safe.
fn statement(orgs: &[OrgId], due: bool, instance: &str) -> String {
    let mut notices: Vec<String> = orgs
        .iter()
        .map(|org| format!("pg_notify('{CHANNEL}', '{org} {instance}')"))
        .collect();
    if due {
        notices.push(format!("pg_notify('{DUE_CHANNEL}', '{instance}')"));
    }
    format!(
        "SET LOCAL synchronous_commit = off; SELECT {}",
        notices.join(", ")
    )
}

async fn send(pool: &PgPool, sql: &str) {
    // Built from ids only (see `statement`).
    if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(pool).await {
        // The consumers' poll picks the events up; a failing database says so elsewhere.
        tracing::debug!(error = %e, "could not wake other processes");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_transaction_names_each_org_and_the_instance() {
        let (a, b) = (OrgId::new(), OrgId::new());
        let sql = statement(&[a, b], true, "abc123");
        assert!(
            sql.starts_with("SET LOCAL synchronous_commit = off; SELECT "),
            "{sql}"
        );
        assert!(sql.contains(&format!("pg_notify('workos_events', '{a} abc123')")));
        assert!(sql.contains(&format!("pg_notify('workos_events', '{b} abc123')")));
        assert!(sql.contains("pg_notify('workos_deliveries', 'abc123')"));
        let quiet = statement(&[a], false, "abc123");
        assert!(!quiet.contains("workos_deliveries"), "{quiet}");
    }
}
