//! The event log: tenant-scoped listing, cross-tenant reading and claiming for consumers, and
//! the wake-up bus.

use async_trait::async_trait;
use sqlx::types::Json;
use tokio::sync::broadcast;
use uuid::Uuid;
use workos_core::domain::Timestamp;
use workos_core::events::{
    ClaimedEvents, DomainEvent, EventBus, EventCursor, EventFilter, EventLog, EventNotice,
    EventSubscription, LoggedEvent, Subject,
};
use workos_core::ids::{EventId, OrgId};
use workos_core::page::{Page, PageRequest};
use workos_core::repo::EventRepo;
use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};

use crate::db::{Sql, Tx, args, now};
use crate::repos::and_range;
use crate::{Backend, SqlStore};

#[derive(sqlx::FromRow)]
struct EventRow {
    seq: i64,
    tx: i64,
    id: Uuid,
    org_id: Uuid,
    #[sqlx(rename = "type")]
    event_type: String,
    occurred_at: Timestamp,
    subject_kind: String,
    subject_id: Uuid,
    data: Json<serde_json::Value>,
    request_id: Option<String>,
}

impl From<EventRow> for LoggedEvent {
    fn from(r: EventRow) -> Self {
        Self {
            cursor: EventCursor {
                tx: r.tx,
                seq: r.seq,
            },
            event: DomainEvent {
                id: EventId::from_uuid(r.id),
                org_id: OrgId::from_uuid(r.org_id),
                event_type: r.event_type,
                occurred_at: r.occurred_at,
                subject: Subject {
                    kind: r.subject_kind,
                    id: r.subject_id,
                },
                data: r.data.0,
                request_id: r.request_id,
            },
        }
    }
}

const EVENT_FIELDS: &str =
    "id, org_id, type, occurred_at, subject_kind, subject_id, data, request_id";

impl SqlStore {
    /// The log-order column expression: Postgres orders by writing transaction then sequence
    /// (see `read_events`); SQLite has one writer, so the sequence alone is commit order.
    const fn tx_column(&self) -> &'static str {
        match &self.backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => "tx::text::bigint",
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(_) => "seq",
        }
    }

    /// Events after `after` in log order, read inside `tx`.
    async fn events_after(
        &self,
        tx: &mut Tx,
        after: EventCursor,
        limit: u32,
    ) -> Result<Vec<LoggedEvent>> {
        let txc = self.tx_column();
        let visible = match &self.backend {
            // Sequence values are taken before commit, so a lower one can commit later. Only
            // events of transactions older than every transaction still running are read, so
            // nothing can ever appear behind a cursor already handed out.
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => "AND tx < pg_snapshot_xmin(pg_current_snapshot())",
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(_) => "",
        };
        let sql = format!(
            "SELECT seq, {txc} AS tx, {EVENT_FIELDS} FROM domain_events
             WHERE ({txc} > $1 OR ({txc} = $1 AND seq > $2)) {visible}
             ORDER BY {txc}, seq LIMIT $3"
        );
        let rows: Vec<EventRow> = tx
            .fetch_all(&sql, args![after.tx, after.seq, i64::from(limit)])
            .await?;
        Ok(rows.into_iter().map(LoggedEvent::from).collect())
    }
}

#[async_trait]
impl EventRepo for SqlStore {
    async fn list_events(
        &self,
        ctx: &TenantContext,
        filter: EventFilter,
        page: PageRequest,
    ) -> Result<Page<DomainEvent>> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        let mut sql = Sql::new(&format!(
            "SELECT seq, seq AS tx, {EVENT_FIELDS} FROM domain_events WHERE org_id = "
        ));
        sql.bind(ctx.org_id());
        if !filter.types.is_empty() {
            sql.push(" AND type IN (");
            for (i, t) in filter.types.into_iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.bind(t);
            }
            sql.push(")");
        }
        sql.and("subject_id", "=", filter.subject_id);
        and_range(&mut sql, "occurred_at", filter.occurred);
        sql.page("id", page);
        let rows: Vec<EventRow> = tx.fetch_sql(sql).await?;
        let events = rows
            .into_iter()
            .map(|r| LoggedEvent::from(r).event)
            .collect();
        Ok(Page::from_rows(events, page, |e| e.id.as_uuid()))
    }

    async fn get_event(&self, ctx: &TenantContext, id: EventId) -> Result<DomainEvent> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        let sql = format!(
            "SELECT seq, seq AS tx, {EVENT_FIELDS} FROM domain_events WHERE org_id = $1 AND id = $2"
        );
        let row: Option<EventRow> = tx.fetch_optional(&sql, args![ctx.org_id(), id]).await?;
        row.map(|r| LoggedEvent::from(r).event)
            .ok_or_else(|| Error::not_found(EventId::KIND))
    }
}

#[async_trait]
impl EventLog for SqlStore {
    async fn read_events(
        &self,
        after: Option<EventCursor>,
        limit: u32,
    ) -> Result<Vec<LoggedEvent>> {
        let mut tx = self.system_tx(false).await?;
        self.events_after(&mut tx, after.unwrap_or_default(), limit)
            .await
    }

    async fn claim_events(
        &self,
        consumer: &str,
        limit: u32,
    ) -> Result<Option<Box<dyn ClaimedEvents>>> {
        Ok(self
            .claim_in_tx(consumer, limit, false)
            .await?
            .map(|c| Box::new(c) as Box<dyn ClaimedEvents>))
    }

    async fn consumer_cursor(&self, consumer: &str) -> Result<Option<EventCursor>> {
        let mut tx = self.system_tx(false).await?;
        // A Postgres claim creates the row at (0, 0) before the consumer's first commit; that is
        // no stored cursor yet (a committed one names an event, and event sequences start at 1).
        let row: Option<(i64, i64)> = tx
            .fetch_optional(
                "SELECT tx, seq FROM event_consumers WHERE name = $1 AND seq > 0",
                args![consumer],
            )
            .await?;
        Ok(row.map(|(tx, seq)| EventCursor { tx, seq }))
    }
}

#[cfg(feature = "sqlite")]
fn poisoned() -> Error {
    Error::Internal {
        message: "claim registry lock poisoned".into(),
        source: None,
    }
}

impl SqlStore {
    /// Claims up to `limit` events after `consumer`'s cursor, or `None` when another claimer
    /// holds it. On Postgres the claim is a row lock (`FOR UPDATE SKIP LOCKED`) held by the
    /// claim's transaction; on SQLite, which one process owns, an in-process lock per consumer.
    /// `async_commit`: the claim's transaction commits without waiting for the WAL flush
    /// (Postgres), for consumers whose effects are the same when done again after a crash.
    #[cfg_attr(not(feature = "postgres"), expect(unused_variables))]
    pub(crate) async fn claim_in_tx(
        &self,
        consumer: &str,
        limit: u32,
        async_commit: bool,
    ) -> Result<Option<Claim>> {
        match &self.backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => {
                // The cursor row exists after the consumer's first claim: lock it straight away.
                // Only when it is missing is it created, in its own transaction, so that
                // claimers never wait on each other's inserts.
                for _ in 0..2 {
                    let mut tx = if async_commit {
                        self.system_async_commit_tx().await?
                    } else {
                        self.system_tx(true).await?
                    };
                    let cursor: Option<(i64, i64)> = tx
                        .fetch_optional(
                            "SELECT tx, seq FROM event_consumers WHERE name = $1 FOR UPDATE SKIP LOCKED",
                            args![consumer],
                        )
                        .await?;
                    let Some((at_tx, seq)) = cursor else {
                        let exists: Option<(i64,)> = tx
                            .fetch_optional(
                                "SELECT seq FROM event_consumers WHERE name = $1",
                                args![consumer],
                            )
                            .await?;
                        if exists.is_some() {
                            // Another claimer holds it.
                            return Ok(None);
                        }
                        drop(tx);
                        self.create_consumer(consumer).await?;
                        continue;
                    };
                    let events = self
                        .events_after(&mut tx, EventCursor { tx: at_tx, seq }, limit)
                        .await?;
                    return Ok(Some(Claim {
                        store: self.clone(),
                        tx: Some(tx),
                        events,
                        consumer: consumer.to_owned(),
                        _guard: None,
                    }));
                }
                // Created above yet not lockable: another claimer took it first.
                Ok(None)
            }
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(b) => {
                let lock = b
                    .claims
                    .lock()
                    .map_err(|_| poisoned())?
                    .entry(consumer.to_owned())
                    .or_default()
                    .clone();
                let Ok(guard) = lock.try_lock_owned() else {
                    return Ok(None);
                };
                let after = self.consumer_cursor(consumer).await?.unwrap_or_default();
                let mut tx = self.system_tx(false).await?;
                let events = self.events_after(&mut tx, after, limit).await?;
                drop(tx);
                Ok(Some(Claim {
                    store: self.clone(),
                    tx: None,
                    events,
                    consumer: consumer.to_owned(),
                    _guard: Some(guard),
                }))
            }
        }
    }
}

impl SqlStore {
    /// Creates `consumer`'s cursor row at (0, 0) unless it exists, in a transaction of its own.
    #[cfg(feature = "postgres")]
    async fn create_consumer(&self, consumer: &str) -> Result<()> {
        let mut tx = self.system_tx(true).await?;
        tx.execute(
            "INSERT INTO event_consumers (name, tx, seq, updated_at) VALUES ($1, 0, 0, $2) ON CONFLICT DO NOTHING",
            args![consumer, now()],
        )
        .await?;
        tx.commit().await
    }
}

/// A claimed batch of events. Writes made through [`Claim::tx`] commit together with the
/// cursor move, so a consumer's effects and its position never disagree.
pub(crate) struct Claim {
    store: SqlStore,
    /// Postgres: the transaction holding the cursor row lock. SQLite: opened on first write.
    tx: Option<Tx>,
    pub(crate) events: Vec<LoggedEvent>,
    consumer: String,
    #[cfg(feature = "sqlite")]
    _guard: Option<tokio::sync::OwnedMutexGuard<()>>,
    #[cfg(not(feature = "sqlite"))]
    _guard: Option<()>,
}

impl Claim {
    /// The write transaction the claim's effects go in.
    pub(crate) async fn tx(&mut self) -> Result<&mut Tx> {
        if self.tx.is_none() {
            self.tx = Some(self.store.system_tx(true).await?);
        }
        Ok(self.tx.as_mut().expect("just set"))
    }

    /// Moves the cursor past the claimed events and commits everything written in the claim.
    pub(crate) async fn commit_cursor(mut self) -> Result<()> {
        let Some(last) = self.events.last().map(|e| e.cursor) else {
            return Ok(());
        };
        let consumer = std::mem::take(&mut self.consumer);
        let tx = self.tx().await?;
        tx.execute(
            "INSERT INTO event_consumers (name, tx, seq, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO UPDATE SET tx = $2, seq = $3, updated_at = $4",
            args![consumer, last.tx, last.seq, now()],
        )
        .await?;
        self.tx.take().expect("opened above").commit().await
    }
}

#[async_trait]
impl ClaimedEvents for Claim {
    fn events(&self) -> &[LoggedEvent] {
        &self.events
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        (*self).commit_cursor().await
    }
}

#[async_trait]
impl EventBus for SqlStore {
    async fn subscribe(&self) -> Result<Box<dyn EventSubscription>> {
        let receiver = match &self.backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres(b) => Subscription::Notices(b.bus().await?.events.subscribe()),
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(b) => Subscription::Orgs(b.wake.subscribe()),
        };
        Ok(Box::new(receiver))
    }
}

pub(crate) enum Subscription {
    #[cfg(feature = "postgres")]
    Notices(broadcast::Receiver<EventNotice>),
    #[cfg(feature = "sqlite")]
    Orgs(broadcast::Receiver<OrgId>),
    #[cfg(feature = "sqlite")]
    Due(broadcast::Receiver<()>),
}

fn from_recv<T>(
    r: std::result::Result<T, broadcast::error::RecvError>,
    f: impl FnOnce(T) -> EventNotice,
) -> Result<EventNotice> {
    match r {
        Ok(v) => Ok(f(v)),
        // Fell behind: one notice stands for everything missed.
        Err(broadcast::error::RecvError::Lagged(_)) => Ok(EventNotice::default()),
        Err(broadcast::error::RecvError::Closed) => Err(Error::Unavailable {
            message: "event bus closed".into(),
            source: None,
        }),
    }
}

#[async_trait]
impl EventSubscription for Subscription {
    async fn next(&mut self) -> Result<EventNotice> {
        match self {
            #[cfg(feature = "postgres")]
            Self::Notices(r) => from_recv(r.recv().await, |n| n),
            #[cfg(feature = "sqlite")]
            Self::Orgs(r) => from_recv(r.recv().await, |org| EventNotice {
                org_id: Some(org),
                events: std::sync::Arc::default(),
            }),
            #[cfg(feature = "sqlite")]
            Self::Due(r) => from_recv(r.recv().await, |()| EventNotice::default()),
        }
    }
}
