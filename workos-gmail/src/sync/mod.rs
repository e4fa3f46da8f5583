//! Mailbox sync by polling: [`SyncEngine::sync_once`] brings an integration's emails up to
//! date, resumably.
//!
//! # State
//!
//! The bookmark lives in [`Integration::sync_state`] as [`SyncState`]:
//!
//! ```json
//! { "phase": "full" | "incremental", "history_id": "…", "page_token": "…",
//!   "full_sync_window_days": 30, "consecutive_failures": 0, "full_sync_history_id": "…" }
//! ```
//!
//! # Full sync
//!
//! First the profile's `historyId` is noted (`full_sync_history_id`), *before* listing, so
//! mail arriving during the full sync is replayed by the history afterwards rather than lost.
//! Then `messages.list` pages (`q=newer_than:{N}d`, N = [`SyncConfig::window_days`]); each
//! page's messages are fetched (`format=raw`, [`SyncConfig::concurrency`] at a time), parsed
//! and recorded, and only then is the next page token stored: a crash or error mid-sync
//! resumes at the page it was on, with nothing lost and nothing duplicated (recording is
//! idempotent on the Gmail id). After the last page the phase becomes `incremental` from the
//! noted history id.
//!
//! # Incremental sync
//!
//! `history.list` from `history_id` (types `messageAdded`, `messageDeleted`, `labelAdded` and
//! `labelRemoved`), page by page; each page's added messages are fetched and recorded, then its
//! label changes applied to the stored emails (in history order; a message not stored, e.g. a
//! draft, is passed over), before its page token is stored, and
//! `history_id` advances to the answer's `historyId` only after the last page. A message gone
//! by the time it is fetched (`404`) is skipped. Deletions are ignored: the CRM keeps the
//! email and its interaction as a record of what happened. Drafts and spam are never
//! recorded. A `404` on the history (too old, Google keeps about a week) switches to a full
//! resync in the same run; that is not a failure.
//!
//! # Recording
//!
//! Direction is outbound when `From` is one of the account's own addresses (the account and
//! any `aliases` listed in the integration's settings), inbound otherwise. People are created
//! for unknown counterparts as [`PersonPolicy`] says, never for the account's own addresses
//! and never for bulk mail (`List-Unsubscribe`, `List-Id`, `Precedence: bulk|list|junk`,
//! `Auto-Submitted` other than `no`); existing people are always matched. The email's
//! `headers` hold `In-Reply-To`, `References`, the bulk-mail headers and `Reply-To` when
//! present, plus `attachments` (file name, type, size of each); Gmail's labels go to the
//! email's `labels`, which incremental syncs keep current (`labelsAdded`/`labelsRemoved`). A
//! message the store refuses as invalid is skipped and logged, never retried forever.
//!
//! # Status
//!
//! `syncing` while a run goes; `active` (no `last_error`, `last_synced_at` set) after a run
//! that succeeded; after a failed run, `last_error` is set and the status stays `syncing`
//! (retried) until [`SyncConfig::failure_threshold`] consecutive failures make it `failing`.
//! An integration is never `active` while its syncs fail. A permanent OAuth refusal makes it
//! `needs_reauth` (with `integration.needs_reauth`), and runs on it fail at once until the
//! account is connected again.
//!
//! One run per integration at a time in this process: a second concurrent `sync_once` of the
//! same integration fails with [`Error::Conflict`] on `sync`. Processes sharing a store must
//! schedule each integration on one worker at a time (e.g. a lease); two concurrent runs
//! stay correct (idempotent records) but waste quota.

use std::collections::HashSet;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt as _;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{InsufficientCapacity, NotUntil, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use workos_core::domain::{Direction, Integration, IntegrationStatus};
use workos_core::ids::IntegrationId;
use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};

mod record;

pub(crate) use record::{clean_labels, sanitize};
use record::{own_addresses, to_new_email};

use crate::api::{ApiUsage, HistoryOutcome, HistoryQuery, HistoryType, ListQuery, Method};
use crate::gmail::Gmail;
use crate::oauth::is_needs_reauth;
use crate::parse;

/// Labels whose messages are never recorded.
const SKIPPED_LABELS: [&str; 2] = ["DRAFT", "SPAM"];
/// The length of a snippet built from the body.
const SNIPPET_CHARS: usize = 200;

/// When the sync and the sender create a person for an unknown counterpart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PersonPolicy {
    /// Never: only existing people are matched.
    Off,
    /// For the recipients of mail the account sent (the people the user writes to).
    #[default]
    SentOnly,
    /// For senders of received mail too (bulk mail excepted).
    SentAndReceived,
}

impl PersonPolicy {
    /// Whether mail going `direction` may create a person.
    #[must_use]
    pub const fn creates_for(self, direction: Direction) -> bool {
        match self {
            Self::Off => false,
            Self::SentOnly => matches!(direction, Direction::Outbound),
            Self::SentAndReceived => true,
        }
    }
}

/// How the sync runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncConfig {
    /// How far back a full sync reads, in days (default 30; 0 reads the whole mailbox).
    pub window_days: u32,
    /// Messages or history records per page (default 100; Google allows up to 500).
    pub page_size: u32,
    /// Messages fetched at once (default 4).
    pub concurrency: usize,
    /// Consecutive failed runs after which the integration is `failing` (default 3).
    pub failure_threshold: u32,
    /// When people are created (default [`PersonPolicy::SentOnly`]).
    pub person_policy: PersonPolicy,
    /// Gmail quota units one mailbox's sync may spend per second (default
    /// [`DEFAULT_QUOTA_UNITS_PER_SECOND`], Google's per-user limit; 0: no limit). A second's
    /// worth may be spent at once. Per process: the scheduler's claims keep a mailbox on one
    /// process at a time.
    pub quota_units_per_second: u32,
}

/// Google's per-user Gmail quota: 15,000 units a minute, i.e. 250 a second.
pub const DEFAULT_QUOTA_UNITS_PER_SECOND: u32 = 250;

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            window_days: 30,
            page_size: 100,
            concurrency: 4,
            failure_threshold: 3,
            person_policy: PersonPolicy::default(),
            quota_units_per_second: DEFAULT_QUOTA_UNITS_PER_SECOND,
        }
    }
}

/// Paces the calls of each mailbox to its quota (GCRA per integration).
#[derive(Debug)]
struct QuotaBudget<C: Clock = DefaultClock> {
    #[allow(clippy::type_complexity)]
    limiter: Option<
        RateLimiter<
            IntegrationId,
            DefaultKeyedStateStore<IntegrationId>,
            C,
            NoOpMiddleware<C::Instant>,
        >,
    >,
}

impl<C: Clock> QuotaBudget<C> {
    fn new(units_per_second: u32, clock: C) -> Self {
        Self {
            limiter: NonZeroU32::new(units_per_second)
                .map(|n| RateLimiter::dashmap_with_clock(Quota::per_second(n), clock)),
        }
    }

    /// When `method` may be called for `id` (`None`: now), spending its units.
    fn reserve(&self, id: IntegrationId, method: Method) -> Option<Duration> {
        let limiter = self.limiter.as_ref()?;
        let units = NonZeroU32::new(u32::try_from(method.quota_units()).unwrap_or(u32::MAX))?;
        let wait =
            |not_until: NotUntil<C::Instant>| not_until.wait_time_from(limiter.clock().now());
        match limiter.check_key_n(&id, units) {
            Ok(Ok(())) => None,
            Ok(Err(not_until)) => Some(wait(not_until)),
            // More units than a second's worth (a send): spend what a second allows.
            Err(InsufficientCapacity(max)) => match limiter.check_key_n(&id, NonZeroU32::new(max)?)
            {
                Ok(Err(not_until)) => Some(wait(not_until)),
                Ok(Ok(())) | Err(_) => None,
            },
        }
    }
}

/// Which sync comes next.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SyncPhase {
    /// List the mailbox (within the window).
    #[default]
    Full,
    /// Follow the history.
    Incremental,
}

/// The sync's bookmark, stored in [`Integration::sync_state`] (see the [module](self)).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncState {
    /// Which sync comes next.
    #[serde(default)]
    pub phase: SyncPhase,
    /// Incremental: the history id to read changes after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_id: Option<String>,
    /// The page to resume at (of the list in a full sync, of the history otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
    /// The window of the current or last full sync.
    #[serde(default)]
    pub full_sync_window_days: u32,
    /// Failed runs since the last successful one.
    #[serde(default)]
    pub consecutive_failures: u32,
    /// Full sync: the history id noted when it started, where the incremental sync begins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_sync_history_id: Option<String>,
}

impl SyncState {
    /// The state stored in `value`; anything unreadable (or an incremental state without a
    /// history id) starts a full sync over.
    #[must_use]
    pub fn from_value(value: &Value) -> Self {
        let mut state: Self = serde_json::from_value(value.clone()).unwrap_or_default();
        if state.phase == SyncPhase::Incremental && state.history_id.is_none() {
            state.restart_full();
        }
        state
    }

    /// As JSON.
    #[must_use]
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("sync state serialises")
    }

    fn restart_full(&mut self) {
        self.phase = SyncPhase::Full;
        self.history_id = None;
        self.page_token = None;
        self.full_sync_history_id = None;
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SyncReport {
    /// The phase the integration is in after the run.
    pub phase: SyncPhase,
    /// Whether the history had expired and a full resync ran.
    pub full_resync: bool,
    /// Pages read (list or history).
    pub pages: u32,
    /// Messages fetched.
    pub fetched: u32,
    /// Emails newly recorded.
    pub recorded: u32,
    /// Messages recorded before (a resumed page, mail seen twice).
    pub already_stored: u32,
    /// Messages gone before they could be fetched.
    pub missing: u32,
    /// Messages not recorded: drafts, spam, undecodable or refused by the store.
    pub skipped: u32,
    /// Deletions seen in the history (ignored).
    pub deletions_seen: u32,
    /// Stored emails the history's label changes were applied to.
    pub labels_updated: u32,
    /// The history id the next incremental run starts from.
    pub history_id: Option<String>,
    /// API calls of this client during the run (approximate when runs overlap).
    pub usage: ApiUsage,
}

enum Outcome {
    Recorded,
    AlreadyStored,
    Missing,
    Skipped,
}

/// Synchronises Gmail mailboxes into the store (see the [module](self)).
#[derive(Debug, Clone)]
pub struct SyncEngine {
    gmail: Gmail,
    config: SyncConfig,
    quota: Arc<QuotaBudget>,
}

impl Gmail {
    /// A sync engine on this client.
    #[must_use]
    pub fn sync_engine(&self, config: SyncConfig) -> SyncEngine {
        SyncEngine::new(self.clone(), config)
    }
}

impl SyncEngine {
    /// A sync engine on `gmail`.
    #[must_use]
    pub fn new(gmail: Gmail, config: SyncConfig) -> Self {
        let quota = Arc::new(QuotaBudget::new(
            config.quota_units_per_second,
            DefaultClock::default(),
        ));
        Self {
            gmail,
            config,
            quota,
        }
    }

    /// The client it syncs with.
    pub(crate) fn gmail(&self) -> &Gmail {
        &self.gmail
    }

    /// Waits until the mailbox's quota allows a call of `method`.
    async fn pace(&self, id: IntegrationId, method: Method) {
        while let Some(wait) = self.quota.reserve(id, method) {
            tokio::time::sleep(wait).await;
        }
    }

    /// Runs one sync of the integration (member role; a system context in a worker): a full
    /// sync, or an incremental one, resumed where the last run stopped. See the
    /// [module](self) for states and statuses.
    ///
    /// # Errors
    /// [`Error::Conflict`] on `status` when disconnected, on `sync` when a run of it is going
    /// on in this process; a needs-reauth [`Error::Provider`] (see [`crate::is_needs_reauth`]);
    /// [`Error::RateLimited`], [`Error::Unavailable`], [`Error::Provider`] from Gmail (the
    /// run's progress is kept); [`Error::NotFound`]; [`Error::Forbidden`].
    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id(), integration_id = %id))]
    pub async fn sync_once(&self, ctx: &TenantContext, id: IntegrationId) -> Result<SyncReport> {
        ctx.authorize(Access::WriteCrm)?;
        let lock = self.gmail.sync_lock(id);
        let Ok(_guard) = lock.try_lock() else {
            return Err(Error::conflict(
                "sync",
                "a sync of this integration is running",
            ));
        };
        let integration = self.gmail.usable_integration(ctx, id).await?;
        let store = self.gmail.store();
        let mut state = SyncState::from_value(&integration.sync_state);
        store
            .set_integration_status(
                ctx,
                id,
                IntegrationStatus::Syncing,
                integration.last_error.clone(),
            )
            .await?;
        let before = self.gmail.usage();
        let mut report = SyncReport::default();
        let result = self.run(ctx, &integration, &mut state, &mut report).await;
        report.usage = self.gmail.usage().since(&before);
        match result {
            Ok(()) => {
                state.consecutive_failures = 0;
                report.phase = state.phase;
                report.history_id.clone_from(&state.history_id);
                store
                    .update_sync_state(ctx, id, state.to_value(), Some(Utc::now()))
                    .await?;
                store
                    .set_integration_status(ctx, id, IntegrationStatus::Active, None)
                    .await?;
                tracing::info!(
                    recorded = report.recorded,
                    pages = report.pages,
                    calls = report.usage.calls,
                    "Gmail sync done"
                );
                Ok(report)
            }
            Err(e) if is_needs_reauth(&e) => Err(e),
            Err(e) => {
                state.consecutive_failures = state.consecutive_failures.saturating_add(1);
                let status = if state.consecutive_failures >= self.config.failure_threshold {
                    IntegrationStatus::Failing
                } else {
                    IntegrationStatus::Syncing
                };
                tracing::warn!(error = %e, failures = state.consecutive_failures, %status, "Gmail sync failed");
                // Best effort: the run's error is what the caller needs.
                if let Err(e2) = store
                    .update_sync_state(ctx, id, state.to_value(), None)
                    .await
                {
                    tracing::warn!(error = %e2, "could not store the sync state");
                } else if let Err(e2) = store
                    .set_integration_status(ctx, id, status, Some(e.to_string()))
                    .await
                {
                    tracing::warn!(error = %e2, "could not store the sync status");
                }
                Err(e)
            }
        }
    }

    async fn run(
        &self,
        ctx: &TenantContext,
        integration: &Integration,
        state: &mut SyncState,
        report: &mut SyncReport,
    ) -> Result<()> {
        let own = own_addresses(integration);
        if state.phase == SyncPhase::Incremental {
            if !self
                .incremental(ctx, integration, &own, state, report)
                .await?
            {
                return Ok(());
            }
            tracing::info!("Gmail history expired; resynchronising in full");
            state.restart_full();
            report.full_resync = true;
            self.save(ctx, integration.id, state).await?;
        }
        self.full(ctx, integration, &own, state, report).await
    }

    async fn save(&self, ctx: &TenantContext, id: IntegrationId, state: &SyncState) -> Result<()> {
        self.gmail
            .store()
            .update_sync_state(ctx, id, state.to_value(), None)
            .await
            .map(|_| ())
    }

    async fn full(
        &self,
        ctx: &TenantContext,
        integration: &Integration,
        own: &HashSet<String>,
        state: &mut SyncState,
        report: &mut SyncReport,
    ) -> Result<()> {
        let id = integration.id;
        if state.full_sync_history_id.is_none() {
            self.pace(id, Method::Profile).await;
            let profile = self.gmail.profile(ctx, id).await?;
            state.full_sync_history_id = Some(profile.history_id);
            state.page_token = None;
            state.full_sync_window_days = self.config.window_days;
            self.save(ctx, id, state).await?;
        }
        let mut restarted = false;
        loop {
            let query = ListQuery {
                q: (state.full_sync_window_days > 0)
                    .then(|| format!("newer_than:{}d", state.full_sync_window_days)),
                page_token: state.page_token.clone(),
                max_results: Some(self.config.page_size),
            };
            self.pace(id, Method::MessagesList).await;
            let page = match self.gmail.list_messages(ctx, id, &query).await {
                Ok(page) => page,
                Err(Error::Provider {
                    status: Some(400), ..
                }) if state.page_token.is_some() && !restarted => {
                    // A page token Gmail no longer accepts: list again from the start
                    // (recording is idempotent).
                    tracing::warn!("Gmail refused the stored page token; listing from the start");
                    state.page_token = None;
                    restarted = true;
                    continue;
                }
                Err(e) => return Err(e),
            };
            report.pages += 1;
            let ids = page.messages.into_iter().map(|m| m.id).collect();
            self.record_all(ctx, integration, own, ids, report).await?;
            match page.next_page_token {
                Some(token) => {
                    state.page_token = Some(token);
                    self.save(ctx, id, state).await?;
                }
                None => {
                    state.phase = SyncPhase::Incremental;
                    state.history_id = state.full_sync_history_id.take();
                    state.page_token = None;
                    return Ok(());
                }
            }
        }
    }

    /// `Ok(true)` when the history expired.
    async fn incremental(
        &self,
        ctx: &TenantContext,
        integration: &Integration,
        own: &HashSet<String>,
        state: &mut SyncState,
        report: &mut SyncReport,
    ) -> Result<bool> {
        let id = integration.id;
        loop {
            let Some(start) = state.history_id.clone() else {
                return Ok(true);
            };
            let query = HistoryQuery {
                start_history_id: start,
                history_types: vec![
                    HistoryType::MessageAdded,
                    HistoryType::MessageDeleted,
                    HistoryType::LabelAdded,
                    HistoryType::LabelRemoved,
                ],
                page_token: state.page_token.clone(),
                max_results: Some(self.config.page_size),
            };
            self.pace(id, Method::HistoryList).await;
            let page = match self.gmail.list_history(ctx, id, &query).await {
                Ok(HistoryOutcome::Page(page)) => page,
                Ok(HistoryOutcome::Expired) => return Ok(true),
                // A page token or start id Gmail refuses: drop the token once, then resync
                // in full rather than fail on every run.
                Err(Error::Provider {
                    status: Some(400), ..
                }) => {
                    if state.page_token.take().is_some() {
                        tracing::warn!(
                            "Gmail refused the history page token; reading the history again"
                        );
                        continue;
                    }
                    tracing::warn!("Gmail refused the start history id; resynchronising in full");
                    return Ok(true);
                }
                Err(e) => return Err(e),
            };
            report.pages += 1;
            let mut seen = HashSet::new();
            let mut ids = Vec::new();
            for record in &page.history {
                report.deletions_seen +=
                    u32::try_from(record.messages_deleted.len()).unwrap_or(u32::MAX);
                for added in &record.messages_added {
                    let m = &added.message;
                    if m.label_ids
                        .iter()
                        .any(|l| SKIPPED_LABELS.contains(&l.as_str()))
                    {
                        report.skipped += 1;
                    } else if seen.insert(m.id.clone()) {
                        ids.push(m.id.clone());
                    }
                }
            }
            self.record_all(ctx, integration, own, ids, report).await?;
            self.apply_label_changes(ctx, id, &page.history, report)
                .await?;
            match page.next_page_token {
                Some(token) => {
                    state.page_token = Some(token);
                    self.save(ctx, id, state).await?;
                }
                None => {
                    state.history_id = Some(page.history_id);
                    state.page_token = None;
                    return Ok(false);
                }
            }
        }
    }

    /// Applies a history page's label changes to the stored emails: per message, the last
    /// change of each label wins (so replaying changes already reflected by a fetched message
    /// leaves it as Gmail has it now).
    async fn apply_label_changes(
        &self,
        ctx: &TenantContext,
        id: IntegrationId,
        history: &[crate::api::HistoryRecord],
        report: &mut SyncReport,
    ) -> Result<()> {
        // message id -> label -> present after the page; in first-seen order of messages.
        let mut changes: Vec<(String, std::collections::BTreeMap<String, bool>)> = Vec::new();
        for record in history {
            let ops = record
                .labels_added
                .iter()
                .map(|c| (c, true))
                .chain(record.labels_removed.iter().map(|c| (c, false)));
            for (change, present) in ops {
                let at = match changes.iter().position(|(m, _)| *m == change.message.id) {
                    Some(at) => at,
                    None => {
                        changes.push((change.message.id.clone(), Default::default()));
                        changes.len() - 1
                    }
                };
                for label in &change.label_ids {
                    changes[at].1.insert(label.clone(), present);
                }
            }
        }
        for (message_id, labels) in changes {
            let (added, removed): (Vec<_>, Vec<_>) = labels.into_iter().partition(|(_, p)| *p);
            let added: Vec<String> =
                clean_labels(&added.into_iter().map(|(l, _)| l).collect::<Vec<_>>());
            let removed: Vec<String> = removed.into_iter().map(|(l, _)| l).collect();
            match self
                .gmail
                .store()
                .update_email_labels(ctx, id, &message_id, &added, &removed)
                .await
            {
                Ok(Some(_)) => report.labels_updated += 1,
                Ok(None) => {}
                // Labels the store refuses (too many): keep syncing mail, say so.
                Err(Error::Validation(e)) => {
                    tracing::warn!(error = %e, "Gmail labels not stored");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Fetches and records `ids`, a few at a time; the first error (after the messages in
    /// flight finish) fails the page.
    async fn record_all(
        &self,
        ctx: &TenantContext,
        integration: &Integration,
        own: &HashSet<String>,
        ids: Vec<String>,
        report: &mut SyncReport,
    ) -> Result<()> {
        let outcomes: Vec<Result<Outcome>> =
            futures_util::stream::iter(ids)
                .map(|message_id| async move {
                    self.record_one(ctx, integration, own, &message_id).await
                })
                .buffer_unordered(self.config.concurrency.max(1))
                .collect()
                .await;
        let mut first_error = None;
        for outcome in outcomes {
            match outcome {
                Ok(Outcome::Recorded) => {
                    report.fetched += 1;
                    report.recorded += 1;
                }
                Ok(Outcome::AlreadyStored) => {
                    report.fetched += 1;
                    report.already_stored += 1;
                }
                Ok(Outcome::Missing) => report.missing += 1,
                Ok(Outcome::Skipped) => {
                    report.fetched += 1;
                    report.skipped += 1;
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn record_one(
        &self,
        ctx: &TenantContext,
        integration: &Integration,
        own: &HashSet<String>,
        message_id: &str,
    ) -> Result<Outcome> {
        self.pace(integration.id, Method::MessagesGet).await;
        let message = match self.gmail.get_raw(ctx, integration.id, message_id).await {
            Ok(m) => m,
            Err(Error::NotFound { .. }) => {
                tracing::debug!(message_id, "Gmail message gone before it was fetched");
                return Ok(Outcome::Missing);
            }
            Err(e) => return Err(e),
        };
        if message
            .label_ids
            .iter()
            .any(|l| SKIPPED_LABELS.contains(&l.as_str()))
        {
            return Ok(Outcome::Skipped);
        }
        let parsed = match message.decode() {
            Ok(raw) => parse::parse(&raw),
            Err(e) => {
                tracing::warn!(message_id, error = %e, "undecodable Gmail message; skipped");
                return Ok(Outcome::Skipped);
            }
        };
        let mut new = to_new_email(
            integration,
            own,
            &message,
            &parsed,
            self.config.person_policy,
        );
        sanitize(&mut new);
        match self.gmail.store().record_email(ctx, new).await {
            Ok(recorded) if recorded.created => Ok(Outcome::Recorded),
            Ok(_) => Ok(Outcome::AlreadyStored),
            Err(Error::Validation(v)) => {
                tracing::warn!(message_id, error = %v, "the store refused a Gmail message; skipped");
                Ok(Outcome::Skipped)
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::record::{clean, clean_json};
    use super::*;

    #[test]
    fn quota_paces_each_mailbox_to_its_units_per_second() {
        use governor::clock::FakeRelativeClock;
        let clock = FakeRelativeClock::default();
        let budget = QuotaBudget::new(250, clock.clone());
        let (a, b) = (IntegrationId::new(), IntegrationId::new());
        // A second's worth at once: 50 gets of 5 units.
        for _ in 0..50 {
            assert_eq!(budget.reserve(a, Method::MessagesGet), None);
        }
        // The 51st waits for 5 units to come back: 20 ms.
        assert_eq!(
            budget.reserve(a, Method::MessagesGet),
            Some(Duration::from_millis(20))
        );
        // Another mailbox has its own budget.
        assert_eq!(budget.reserve(b, Method::MessagesGet), None);
        clock.advance(Duration::from_millis(20));
        assert_eq!(budget.reserve(a, Method::MessagesGet), None);
        // A history page costs 2 units: 8 ms after the budget ran out.
        assert_eq!(
            budget.reserve(a, Method::HistoryList),
            Some(Duration::from_millis(8))
        );
        // 0 is no limit.
        let free = QuotaBudget::new(0, clock);
        for _ in 0..1_000 {
            assert_eq!(free.reserve(a, Method::MessagesGet), None);
        }
    }

    #[test]
    fn state_round_trips_and_defaults() {
        let fresh = SyncState::from_value(&json!({}));
        assert_eq!(fresh.phase, SyncPhase::Full);
        let broken = SyncState::from_value(&json!({"phase": "incremental"}));
        assert_eq!(broken.phase, SyncPhase::Full);
        let state = SyncState {
            phase: SyncPhase::Incremental,
            history_id: Some("1234".into()),
            page_token: Some("p2".into()),
            full_sync_window_days: 30,
            consecutive_failures: 2,
            full_sync_history_id: None,
        };
        let value = state.to_value();
        assert_eq!(value["phase"], "incremental");
        assert_eq!(value["history_id"], "1234");
        assert_eq!(SyncState::from_value(&value), state);
        assert_eq!(
            SyncState::from_value(&json!("garbage")),
            SyncState::default()
        );
    }

    #[test]
    fn sanitize_drops_nul_and_controls() {
        assert_eq!(clean("a\0b\x07c\n\td"), "abc\n\td");
        let mut v = json!({"k\0": ["x\0y", {"z": "\u{1b}w"}], "n": 1});
        clean_json(&mut v);
        assert_eq!(v, json!({"k": ["xy", {"z": "w"}], "n": 1}));
    }

    #[test]
    fn person_policy() {
        assert!(!PersonPolicy::Off.creates_for(Direction::Outbound));
        assert!(PersonPolicy::SentOnly.creates_for(Direction::Outbound));
        assert!(!PersonPolicy::SentOnly.creates_for(Direction::Inbound));
        assert!(PersonPolicy::SentAndReceived.creates_for(Direction::Inbound));
    }
}
