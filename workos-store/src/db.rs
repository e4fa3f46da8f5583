//! The one path every query takes: a transaction opened for a tenant (or for the system scope),
//! typed arguments, and error mapping. Repository code is written once against [`Tx`] and runs
//! on either backend; only opening a transaction and the event wake-ups differ.

use sqlx::AssertSqlSafe;
use sqlx::types::Json;
use uuid::Uuid;
use workos_core::domain::Timestamp;
use workos_core::events::DomainEvent;
use workos_core::ids::OrgId;
use workos_core::{Error, Result};

mod errors;
#[cfg(feature = "postgres")]
mod pg_args;
#[cfg(feature = "postgres")]
mod postgres;
mod sort;
mod sql;

pub(crate) use errors::db_error;
#[cfg(feature = "postgres")]
pub(crate) use pg_args::PgArgs;
pub(crate) use sort::SortExpr;
pub(crate) use sql::{Sql, contains_pattern};

#[cfg(feature = "postgres")]
use sqlx::Postgres;
#[cfg(feature = "sqlite")]
use sqlx::Sqlite;
#[cfg(feature = "postgres")]
use sqlx::postgres::PgRow;
#[cfg(feature = "sqlite")]
use sqlx::sqlite::SqliteRow;

/// A bound argument. Typed `Option`s keep NULLs typed for Postgres.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Uuid(Option<Uuid>),
    Text(Option<String>),
    Int(Option<i64>),
    Bool(bool),
    Time(Option<Timestamp>),
    Json(serde_json::Value),
    Bytes(Option<Vec<u8>>),
}

macro_rules! arg_from {
    ($($t:ty => |$v:ident| $e:expr;)+) => {$(
        impl From<$t> for Arg {
            fn from($v: $t) -> Self {
                $e
            }
        }
    )+};
}

arg_from! {
    Uuid => |v| Arg::Uuid(Some(v));
    Option<Uuid> => |v| Arg::Uuid(v);
    String => |v| Arg::Text(Some(v));
    &str => |v| Arg::Text(Some(v.to_owned()));
    Option<String> => |v| Arg::Text(v);
    Option<&str> => |v| Arg::Text(v.map(str::to_owned));
    i64 => |v| Arg::Int(Some(v));
    Option<i64> => |v| Arg::Int(v);
    bool => |v| Arg::Bool(v);
    Timestamp => |v| Arg::Time(Some(v));
    Option<Timestamp> => |v| Arg::Time(v);
    serde_json::Value => |v| Arg::Json(v);
    Vec<u8> => |v| Arg::Bytes(Some(v));
    Option<Vec<u8>> => |v| Arg::Bytes(v);
}

/// Lets typed ids be bound directly: `args![ctx.org_id(), id]`.
macro_rules! id_args {
    ($($id:ident),+) => {$(
        impl From<workos_core::ids::$id> for Arg {
            fn from(v: workos_core::ids::$id) -> Self {
                Arg::Uuid(Some(v.as_uuid()))
            }
        }
        impl From<Option<workos_core::ids::$id>> for Arg {
            fn from(v: Option<workos_core::ids::$id>) -> Self {
                Arg::Uuid(v.map(|v| v.as_uuid()))
            }
        }
    )+};
}

id_args!(
    OrgId,
    UserId,
    MemberId,
    CompanyId,
    PersonId,
    DealId,
    TaskId,
    InteractionId,
    PhoneId,
    ApiKeyId,
    EventId,
    WebhookId,
    WebhookDeliveryId,
    SmsId,
    CallId,
    LeadId,
    PartnerId,
    LeadDeliveryId,
    EmailId,
    IntegrationId
);

/// Builds an argument list: `args![a, b, c]`.
macro_rules! args {
    ($($a:expr),* $(,)?) => { vec![$($crate::db::Arg::from($a)),*] };
}
pub(crate) use args;

/// A row type both backends can decode.
#[cfg(all(feature = "postgres", feature = "sqlite"))]
pub(crate) trait Row:
    for<'r> sqlx::FromRow<'r, PgRow> + for<'r> sqlx::FromRow<'r, SqliteRow> + Send + Unpin
{
}
#[cfg(all(feature = "postgres", feature = "sqlite"))]
impl<T> Row for T where
    T: for<'r> sqlx::FromRow<'r, PgRow> + for<'r> sqlx::FromRow<'r, SqliteRow> + Send + Unpin
{
}
#[cfg(all(feature = "postgres", not(feature = "sqlite")))]
pub(crate) trait Row: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin {}
#[cfg(all(feature = "postgres", not(feature = "sqlite")))]
impl<T> Row for T where T: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin {}
#[cfg(all(feature = "sqlite", not(feature = "postgres")))]
pub(crate) trait Row: for<'r> sqlx::FromRow<'r, SqliteRow> + Send + Unpin {}
#[cfg(all(feature = "sqlite", not(feature = "postgres")))]
impl<T> Row for T where T: for<'r> sqlx::FromRow<'r, SqliteRow> + Send + Unpin {}

pub(crate) enum Conn {
    #[cfg(feature = "postgres")]
    Pg(sqlx::Transaction<'static, Postgres>),
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::Transaction<'static, Sqlite>),
}

/// How to wake consumers once a transaction that wrote events commits.
pub(crate) enum Wake {
    /// Postgres: after the commit, the in-process notice on `local` and a post to the
    /// process's [`Notifier`](crate::notifier::Notifier), which wakes the other processes
    /// (the transaction itself notifies nothing: see `crate::notifier`).
    #[cfg(feature = "postgres")]
    Notify {
        /// Wakes the other processes.
        notifier: std::sync::Arc<crate::notifier::Notifier>,
        /// This process's event bus (set once anything subscribed to it).
        local: std::sync::Arc<tokio::sync::OnceCell<crate::postgres::Buses>>,
    },
    /// SQLite: in-process broadcasts after the commit (events, due deliveries, then cache
    /// invalidations).
    #[cfg(feature = "sqlite")]
    Local(
        tokio::sync::broadcast::Sender<OrgId>,
        tokio::sync::broadcast::Sender<()>,
        tokio::sync::broadcast::Sender<crate::Invalidation>,
    ),
}

/// A transaction scoped to one tenant (or to the system scope). Dropping it rolls back.
pub(crate) struct Tx {
    conn: Conn,
    wake: Wake,
    /// Which statements beyond the portable ones this transaction may take.
    paths: Paths,
    /// The org whose events this transaction wrote, to wake consumers on commit.
    wrote_events: Option<OrgId>,
    /// Whether this transaction made deliveries due now, to wake delivery workers on commit.
    made_due: bool,
    /// The events recorded through [`Tx::record`], in order; those from `written` on are not
    /// written yet (they are appended in one statement at commit, or by
    /// [`Tx::write_events`]). On Postgres their ids name them in the in-process notice.
    events: Vec<DomainEvent>,
    /// How many of `events` are written.
    written: usize,
    /// Open savepoints, with what [`Tx::rollback_to_savepoint`] restores.
    savepoints: Vec<Savepoint>,
}

/// Which statements a transaction may take beyond the portable ones. Production picks it from
/// the backend; the parity tests run an operation twice on one Postgres database, with
/// [`Paths::OneNode`] and with [`Paths::Portable`], and compare what each stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Paths {
    /// The portable statements only (SQLite).
    Portable,
    /// Also single statements only Postgres runs (arrays, `LATERAL`), each routed to one shard
    /// on Citus; not the multi-statement fast paths, which Citus would plan across workers.
    #[cfg_attr(not(feature = "postgres"), expect(dead_code))]
    Postgres,
    /// Also the multi-statement fast paths (data-modifying `WITH`): one Postgres node.
    OneNode,
}

/// A savepoint, with the event bookkeeping as it was when it was taken.
struct Savepoint {
    name: &'static str,
    events: usize,
    written: usize,
    made_due: bool,
}

macro_rules! on_conn {
    ($self:ident, $c:ident => $body:expr) => {
        match &mut $self.conn {
            #[cfg(feature = "postgres")]
            Conn::Pg($c) => $body,
            #[cfg(feature = "sqlite")]
            Conn::Sqlite($c) => $body,
        }
    };
}

// sqlx 0.9 takes only `&'static str` or text asserted safe (`AssertSqlSafe`) as SQL. Every
// statement here is the store's own text, assembled at run time from fixed fragments per
// backend and table (identifiers from code, never a value: values are bound), so it is asserted
// here, on the one path all queries take.
macro_rules! bind_all {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                Arg::Uuid(v) => q.bind(v),
                Arg::Text(v) => q.bind(v),
                Arg::Int(v) => q.bind(v),
                Arg::Bool(v) => q.bind(v),
                Arg::Time(v) => q.bind(v),
                Arg::Json(v) => q.bind(Json(v)),
                Arg::Bytes(v) => q.bind(v),
            };
        }
        q
    }};
}

impl Tx {
    pub(crate) const fn new(conn: Conn, wake: Wake, paths: Paths) -> Self {
        Self {
            conn,
            wake,
            paths,
            wrote_events: None,
            made_due: false,
            events: Vec::new(),
            written: 0,
            savepoints: Vec::new(),
        }
    }

    /// Takes a savepoint `name`, to undo what follows with [`Tx::rollback_to_savepoint`].
    pub(crate) async fn savepoint(&mut self, name: &'static str) -> Result<()> {
        self.execute(&format!("SAVEPOINT {name}"), Vec::new())
            .await?;
        self.savepoints.push(Savepoint {
            name,
            events: self.events.len(),
            written: self.written,
            made_due: self.made_due,
        });
        Ok(())
    }

    /// Undoes everything since savepoint `name`: the events recorded since are dropped, those
    /// recorded before it but written after it are due to be written again, and deliveries
    /// made due since no longer wake the workers.
    pub(crate) async fn rollback_to_savepoint(&mut self, name: &'static str) -> Result<()> {
        self.execute(&format!("ROLLBACK TO SAVEPOINT {name}"), Vec::new())
            .await?;
        // The savepoint stays (as in SQL); later ones are gone.
        if let Some(i) = self.savepoints.iter().rposition(|sp| sp.name == name) {
            let sp = &self.savepoints[i];
            self.events.truncate(sp.events);
            self.written = sp.written;
            self.made_due = sp.made_due;
            self.savepoints.truncate(i + 1);
        }
        Ok(())
    }

    /// Wakes delivery workers (of every process) once this transaction commits: it made
    /// deliveries due now.
    pub(crate) fn wake_workers(&mut self) {
        self.made_due = true;
    }

    /// Whether multi-statement fast paths may run (one Postgres node): whether `Tx::fast_pg`
    /// answers a connection.
    pub(crate) fn fast_path(&self) -> bool {
        self.paths == Paths::OneNode
    }

    /// All rows of a query.
    pub(crate) async fn fetch_all<R: Row>(&mut self, sql: &str, args: Vec<Arg>) -> Result<Vec<R>> {
        on_conn!(self, c => bind_all!(sqlx::query_as::<_, R>(AssertSqlSafe(sql)), args).fetch_all(&mut **c).await)
            .map_err(db_error)
    }

    /// At most one row of a query.
    pub(crate) async fn fetch_optional<R: Row>(
        &mut self,
        sql: &str,
        args: Vec<Arg>,
    ) -> Result<Option<R>> {
        on_conn!(self, c => bind_all!(sqlx::query_as::<_, R>(AssertSqlSafe(sql)), args).fetch_optional(&mut **c).await)
            .map_err(db_error)
    }

    /// Exactly one row of a query.
    pub(crate) async fn fetch_one<R: Row>(&mut self, sql: &str, args: Vec<Arg>) -> Result<R> {
        on_conn!(self, c => bind_all!(sqlx::query_as::<_, R>(AssertSqlSafe(sql)), args).fetch_one(&mut **c).await)
            .map_err(db_error)
    }

    /// Runs a statement; returns the number of rows it affected.
    pub(crate) async fn execute(&mut self, sql: &str, args: Vec<Arg>) -> Result<u64> {
        on_conn!(self, c => bind_all!(sqlx::query(AssertSqlSafe(sql)), args).execute(&mut **c).await.map(|r| r.rows_affected()))
            .map_err(db_error)
    }

    /// Whether this is a Postgres transaction (for statements only Postgres can run, such as
    /// data-modifying CTEs, and for the dialect of folded sort keys).
    pub(crate) const fn is_postgres(&self) -> bool {
        match self.conn {
            #[cfg(feature = "postgres")]
            Conn::Pg(_) => true,
            #[cfg(feature = "sqlite")]
            Conn::Sqlite(_) => false,
        }
    }

    /// Runs a [`Sql`] statement; returns the number of rows it affected.
    pub(crate) async fn execute_sql(&mut self, sql: Sql) -> Result<u64> {
        self.execute(&sql.text, sql.args).await
    }

    /// Runs a [`Sql`] built from a filter.
    pub(crate) async fn fetch_sql<R: Row>(&mut self, sql: Sql) -> Result<Vec<R>> {
        self.fetch_all(&sql.text, sql.args).await
    }

    /// Appends a domain event to the log in this transaction. Events are written together
    /// when the transaction commits (on Postgres in one statement), so recording costs no
    /// round trip; nothing in a writing transaction reads the log back.
    pub(crate) async fn record(&mut self, event: &DomainEvent) -> Result<()> {
        self.wrote_events = Some(event.org_id);
        self.events.push(event.clone());
        Ok(())
    }

    /// Whether this transaction has appended events, and so holds its orgs' event stream
    /// heads until it ends.
    pub(crate) const fn holds_stream_heads(&self) -> bool {
        self.written > 0
    }

    /// Writes the events recorded so far now rather than at commit: for a transaction whose
    /// next statement takes away what the log's insert policy checks (a user leaving the org).
    /// Appending advances the orgs' streams, whose rows then stay locked until the transaction
    /// ends: nothing but the commit should follow it (see [`crate::outbox`]).
    pub(crate) async fn write_events(&mut self) -> Result<()> {
        if self.written == self.events.len() {
            return Ok(());
        }
        #[cfg(feature = "postgres")]
        if self.fast_path() && crate::outbox::postgres::single_org(&self.events[self.written..]) {
            return self.write_events_in_one().await;
        }
        let events = std::mem::take(&mut self.events);
        let appended = crate::outbox::append(self, &events[self.written..]).await;
        self.events = events;
        appended?;
        self.written = self.events.len();
        Ok(())
    }

    /// Commits. Then tells this process's consumers in-process, and posts to the
    /// [`Notifier`](crate::notifier::Notifier) for the other processes: the org whose events
    /// were written, and whether deliveries were made due.
    pub(crate) async fn commit(mut self) -> Result<()> {
        self.write_events().await?;
        // Records processes cache, changed here: every process drops them (see
        // `crate::invalidation`). Rare administrative writes: notified in the transaction, so
        // delivered exactly at commit.
        let stale = crate::Invalidation::of_events(&self.events);
        #[cfg(feature = "postgres")]
        self.notify_stale(&stale).await?;
        let (org, due) = (self.wrote_events, self.made_due);
        // COMMIT runs to its end even if this future is dropped (see `run_to_completion`), and
        // so does the post to the other processes once it succeeded.
        match self.conn {
            #[cfg(feature = "postgres")]
            Conn::Pg(c) => {
                let notifier = match &self.wake {
                    Wake::Notify { notifier, .. } => Some(notifier.clone()),
                    #[allow(unreachable_patterns)]
                    _ => None,
                };
                run_to_completion(async move {
                    c.commit().await?;
                    if let Some(notifier) = notifier {
                        notifier.post(org, due);
                    }
                    Ok::<_, sqlx::Error>(())
                })
                .await?
                .map_err(db_error)?;
            }
            #[cfg(feature = "sqlite")]
            Conn::Sqlite(c) => run_to_completion(c.commit()).await?.map_err(db_error)?,
        }
        // This process's subscribers: the events written through `record` by id (readable at
        // once), or the org alone for events a statement wrote itself.
        #[cfg(feature = "postgres")]
        self.wake.tell_this_process(&self.events, org, due);
        #[cfg(feature = "sqlite")]
        #[cfg_attr(not(feature = "postgres"), expect(irrefutable_let_patterns))]
        if let Wake::Local(events, due_bus, caches) = &self.wake {
            // No receivers is fine: nobody is waiting.
            if let Some(org) = org {
                let _ = events.send(org);
            }
            if due {
                let _ = due_bus.send(());
            }
            for change in stale {
                let _ = caches.send(change);
            }
        }
        Ok(())
    }
}

/// Runs `work` (opening or committing a transaction) on a task of its own, so that it runs to
/// its end even when the caller's future is dropped (a client gone, a worker stopped).
///
/// Dropped half-way, these are not cancel-safe in sqlx: a `BEGIN` sent but not yet answered
/// leaves the pooled connection inside a transaction sqlx does not know of (the next borrower's
/// statements run in it, under the last tenant's settings), and a `COMMIT` sent but not yet
/// answered is followed by a queued `ROLLBACK` outside any transaction ("there is no transaction
/// in progress"). On its own task the `BEGIN` completes and, if nobody takes the transaction,
/// is rolled back when it is dropped there; the `COMMIT` completes, and the caller, if still
/// there, learns how. Between the two, dropping a [`Tx`] rolls it back (sqlx queues the
/// `ROLLBACK`, which runs before the connection is lent again).
pub(crate) async fn run_to_completion<T: Send + 'static>(
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> Result<T> {
    tokio::spawn(work).await.map_err(|e| {
        if e.is_panic() {
            std::panic::resume_unwind(e.into_panic());
        }
        Error::internal("transaction task cancelled", e)
    })
}

/// Rows are stored with times at microsecond precision; this is the only clock the store reads.
pub(crate) fn now() -> Timestamp {
    workos_core::domain::now()
}
