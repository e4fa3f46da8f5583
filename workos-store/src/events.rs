//! The event log: tenant-scoped listing, cross-tenant reading and claiming for consumers, and
//! the wake-up bus.

use async_trait::async_trait;
use sqlx::types::Json;
use tokio::sync::broadcast;
use uuid::Uuid;
use workos_core::domain::Timestamp;
use workos_core::events::{
    ClaimedEvents, DomainEvent, EventActor, EventBus, EventFilter, EventLog, EventNotice,
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
    pos: i64,
    id: Uuid,
    org_id: Uuid,
    #[sqlx(rename = "type")]
    event_type: String,
    occurred_at: Timestamp,
    subject_kind: String,
    subject_id: Uuid,
    data: Json<serde_json::Value>,
    request_id: Option<String>,
    actor_kind: Option<String>,
    actor_id: Option<String>,
}

/// The actor stored with an event, or `None` for events recorded before the audit trail (or a
/// kind this version does not know).
pub(crate) fn stored_actor(kind: Option<String>, id: Option<String>) -> Option<EventActor> {
    Some(EventActor {
        kind: kind?.parse().ok()?,
        id: id?,
    })
}

/// Event types only admins (and owners) see: API keys are managed by admins, and their events
/// tell who holds which key.
const ADMIN_ONLY_TYPES: &str = "api_key.%";

impl From<EventRow> for LoggedEvent {
    fn from(r: EventRow) -> Self {
        Self {
            position: u64::try_from(r.pos).unwrap_or_default(),
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
                actor: stored_actor(r.actor_kind, r.actor_id),
            },
        }
    }
}

const EVENT_FIELDS: &str = "pos, id, org_id, type, occurred_at, subject_kind, subject_id, data, request_id, actor_kind, actor_id";

/// A position as stored (positions fit `bigint` by construction).
fn stored(pos: u64) -> i64 {
    i64::try_from(pos).unwrap_or(i64::MAX)
}

/// Events of `org` after position `after`, in stream order, read inside `tx`. Positions become
/// readable in order (see [`crate::outbox`]), so this never misses one that commits later.
async fn events_after(tx: &mut Tx, org: OrgId, after: i64, limit: u32) -> Result<Vec<LoggedEvent>> {
    let sql = format!(
        "SELECT {EVENT_FIELDS} FROM domain_events WHERE org_id = $1 AND pos > $2 ORDER BY pos LIMIT $3"
    );
    let rows: Vec<EventRow> = tx
        .fetch_all(&sql, args![org, after, i64::from(limit)])
        .await?;
    Ok(rows.into_iter().map(LoggedEvent::from).collect())
}

/// Whether `ctx` may see [`ADMIN_ONLY_TYPES`]; for others those events read as absent.
fn sees_admin_events(ctx: &TenantContext) -> bool {
    ctx.authorize(Access::Manage).is_ok()
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
            "SELECT {EVENT_FIELDS} FROM domain_events WHERE org_id = "
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
        if let Some(actor) = filter.actor {
            sql.and("actor_kind", "=", Some(actor.kind.as_str()));
            sql.and("actor_id", "=", Some(actor.id));
        }
        if !sees_admin_events(ctx) {
            sql.push(" AND type NOT LIKE ").bind(ADMIN_ONLY_TYPES);
        }
        and_range(&mut sql, "occurred_at", filter.occurred);
        sql.page("id", &page)?;
        let rows: Vec<EventRow> = tx.fetch_sql(sql).await?;
        let events = rows
            .into_iter()
            .map(|r| LoggedEvent::from(r).event)
            .collect();
        Ok(Page::from_rows(events, &page, |e| e.id.as_uuid()))
    }

    async fn get_event(&self, ctx: &TenantContext, id: EventId) -> Result<DomainEvent> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        let hidden = if sees_admin_events(ctx) {
            ""
        } else {
            " AND type NOT LIKE $3"
        };
        let sql = format!(
            "SELECT {EVENT_FIELDS} FROM domain_events WHERE org_id = $1 AND id = $2{hidden}"
        );
        let mut values = args![ctx.org_id(), id];
        if !hidden.is_empty() {
            values.extend(args![ADMIN_ONLY_TYPES]);
        }
        let row: Option<EventRow> = tx.fetch_optional(&sql, values).await?;
        row.map(|r| LoggedEvent::from(r).event)
            .ok_or_else(|| Error::not_found(EventId::KIND))
    }
}

#[async_trait]
impl EventLog for SqlStore {
    async fn read_events(&self, org: OrgId, after: u64, limit: u32) -> Result<Vec<LoggedEvent>> {
        let mut tx = self.system_tx(false).await?;
        events_after(&mut tx, org, stored(after), limit).await
    }

    async fn pending_orgs(&self, consumer: &str, limit: u32) -> Result<Vec<OrgId>> {
        let mut tx = self.system_tx(false).await?;
        // On Citus the two tables are co-located: each shard answers for its own orgs.
        let rows: Vec<(Uuid,)> = tx
            .fetch_all(
                "SELECT s.org_id FROM event_streams s
                 LEFT JOIN event_cursors c ON c.org_id = s.org_id AND c.consumer = $1
                 WHERE s.head > COALESCE(c.pos, 0) LIMIT $2",
                args![consumer, i64::from(limit)],
            )
            .await?;
        Ok(rows.into_iter().map(|(o,)| OrgId::from_uuid(o)).collect())
    }

    async fn claim_events(
        &self,
        consumer: &str,
        org: OrgId,
        limit: u32,
    ) -> Result<Option<Box<dyn ClaimedEvents>>> {
        Ok(self
            .claim_in_tx(consumer, org, limit, false)
            .await?
            .map(|c| Box::new(c) as Box<dyn ClaimedEvents>))
    }

    async fn consumer_cursor(&self, consumer: &str, org: OrgId) -> Result<u64> {
        let mut tx = self.system_tx(false).await?;
        let row: Option<(i64,)> = tx
            .fetch_optional(
                "SELECT pos FROM event_cursors WHERE org_id = $1 AND consumer = $2",
                args![org, consumer],
            )
            .await?;
        Ok(row.map_or(0, |(p,)| u64::try_from(p).unwrap_or_default()))
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
    /// Claims up to `limit` of `org`'s events after `consumer`'s cursor for it, or `None` when
    /// another claimer holds it. On Postgres the claim is a lock on the cursor row
    /// (`FOR UPDATE SKIP LOCKED`, on Citus routed to the org's shard) held by the claim's
    /// transaction; on SQLite, which one process owns, an in-process lock per consumer and org.
    /// `async_commit`: the claim's transaction commits without waiting for the WAL flush
    /// (Postgres), for consumers whose effects are the same when done again after a crash.
    #[cfg_attr(not(feature = "postgres"), expect(unused_variables))]
    pub(crate) async fn claim_in_tx(
        &self,
        consumer: &str,
        org: OrgId,
        limit: u32,
        async_commit: bool,
    ) -> Result<Option<Claim>> {
        match &self.backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => {
                // The cursor row exists after the consumer's first claim of the org: lock it
                // straight away. Only when it is missing is it created, in its own transaction,
                // so that claimers never wait on each other's inserts.
                for _ in 0..2 {
                    let mut tx = if async_commit {
                        self.system_async_commit_tx().await?
                    } else {
                        self.system_tx(true).await?
                    };
                    let cursor: Option<(i64,)> = tx
                        .fetch_optional(
                            "SELECT pos FROM event_cursors WHERE org_id = $1 AND consumer = $2 FOR UPDATE SKIP LOCKED",
                            args![org, consumer],
                        )
                        .await?;
                    let Some((at,)) = cursor else {
                        let exists: Option<(i64,)> = tx
                            .fetch_optional(
                                "SELECT pos FROM event_cursors WHERE org_id = $1 AND consumer = $2",
                                args![org, consumer],
                            )
                            .await?;
                        if exists.is_some() {
                            // Another claimer holds it.
                            return Ok(None);
                        }
                        drop(tx);
                        self.create_cursor(consumer, org).await?;
                        continue;
                    };
                    let events = events_after(&mut tx, org, at, limit).await?;
                    return Ok(Some(Claim {
                        store: self.clone(),
                        tx: Some(tx),
                        org,
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
                    .entry(format!("{consumer}/{org}"))
                    .or_default()
                    .clone();
                let Ok(guard) = lock.try_lock_owned() else {
                    return Ok(None);
                };
                let after = stored(self.consumer_cursor(consumer, org).await?);
                let mut tx = self.system_tx(false).await?;
                let events = events_after(&mut tx, org, after, limit).await?;
                drop(tx);
                Ok(Some(Claim {
                    store: self.clone(),
                    tx: None,
                    org,
                    events,
                    consumer: consumer.to_owned(),
                    _guard: Some(guard),
                }))
            }
        }
    }

    /// Creates `consumer`'s cursor for `org` at 0 unless it exists, in a transaction of its own.
    #[cfg(feature = "postgres")]
    async fn create_cursor(&self, consumer: &str, org: OrgId) -> Result<()> {
        let mut tx = self.system_tx(true).await?;
        tx.execute(
            "INSERT INTO event_cursors (org_id, consumer, pos, updated_at) VALUES ($1, $2, 0, $3)
             ON CONFLICT DO NOTHING",
            args![org, consumer, now()],
        )
        .await?;
        tx.commit().await
    }
}

/// A claimed batch of one org's events. Writes made through [`Claim::tx`] commit together with
/// the cursor move, so a consumer's effects and its position never disagree.
pub(crate) struct Claim {
    store: SqlStore,
    /// Postgres: the transaction holding the cursor row lock. SQLite: opened on first write.
    tx: Option<Tx>,
    org: OrgId,
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
        let Some(last) = self.events.last().map(|e| e.position) else {
            // Nothing to move: end the transaction now (which releases the cursor's lock)
            // rather than leave the rollback to the connection's next use.
            return match self.tx.take() {
                Some(tx) => tx.commit().await,
                None => Ok(()),
            };
        };
        let (org, consumer) = (self.org, std::mem::take(&mut self.consumer));
        let tx = self.tx().await?;
        tx.execute(
            "INSERT INTO event_cursors (org_id, consumer, pos, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (org_id, consumer) DO UPDATE SET pos = excluded.pos, updated_at = excluded.updated_at",
            args![org, consumer, stored(last), now()],
        )
        .await?;
        self.tx.take().expect("opened above").commit().await
    }
}

#[async_trait]
impl ClaimedEvents for Claim {
    fn org_id(&self) -> OrgId {
        self.org
    }

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
