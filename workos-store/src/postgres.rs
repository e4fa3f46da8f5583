//! The Postgres backend: transactions that drop to the `workos_app` role with the tenant set,
//! so Row Level Security applies; `LISTEN/NOTIFY` wake-ups.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection as _, PgPool};
use tokio::sync::{OnceCell, broadcast};
use workos_core::events::EventNotice;
use workos_core::ids::OrgId;
use workos_core::tenant::TenantContext;
use workos_core::{Error, Result};

use crate::PoolSettings;
use crate::db::{Conn, Paths, Tx, Wake, args, db_error};

/// Connections idle at least this long are pinged before they are used again.
const PING_IDLE_AFTER: Duration = Duration::from_secs(1);
/// The role every tenant transaction runs as (created by the migrations).
pub(crate) const APP_ROLE: &str = "workos_app";
/// The SQLSTATE `workos_assert_member` raises (`insufficient_privilege`).
const NOT_A_MEMBER: &str = "42501";
/// The channel commits that wrote events notify on.
pub(crate) const CHANNEL: &str = "workos_events";
/// The channel commits that made webhook deliveries due notify on.
pub(crate) const DUE_CHANNEL: &str = "workos_deliveries";

/// The in-process fan-out of the two channels.
#[derive(Clone)]
pub(crate) struct Buses {
    pub(crate) events: broadcast::Sender<EventNotice>,
    pub(crate) due: broadcast::Sender<EventNotice>,
    /// Cache invalidations (`crate::invalidation`).
    pub(crate) caches: broadcast::Sender<crate::Invalidation>,
}

#[derive(Clone)]
pub(crate) struct PgBackend {
    pub(crate) pool: PgPool,
    /// Whether the database is a Citus cluster (its coordinator): tenant settings are then
    /// forwarded to the workers, and multi-statement fast paths give way to router statements.
    citus: Arc<OnceCell<bool>>,
    /// Whether transactions take the portable statements only, as on SQLite: false but for the
    /// parity tests' portable runs (`repos::parity::Twins`).
    pub(crate) portable: bool,
    bus: Arc<OnceCell<Buses>>,
    /// Wakes the other processes after commits; its instance name is in every notice it
    /// sends, so this store's own listener skips them (its subscribers are told in-process).
    notifier: Arc<crate::notifier::Notifier>,
    /// How far ahead the weekly partitions are known to exist (see `crate::partitions`).
    partitions: Arc<crate::partitions::PartitionKeeper>,
}

pub(crate) enum Scope<'a> {
    Tenant(&'a TenantContext),
    System,
    /// The system scope, committing without waiting for the WAL flush
    /// (`synchronous_commit = off`): only for transactions whose loss in a crash is harmless.
    SystemAsyncCommit,
}

impl Buses {
    /// After a lost connection: anything may have been missed.
    fn wake_all(&self) {
        let _ = self.events.send(EventNotice::default());
        let _ = self.due.send(EventNotice::default());
        let _ = self.caches.send(crate::Invalidation::Everything);
    }
}

impl PgBackend {
    /// Connects to `url`, with TLS as its `sslmode` says (see `pg_connect`).
    pub(crate) async fn connect(url: &str, settings: &PoolSettings) -> Result<Self> {
        let pool = crate::pg_connect::connect(url, || Self::pool_options(settings)).await?;
        Ok(Self::new(pool))
    }

    fn pool_options(settings: &PoolSettings) -> PgPoolOptions {
        let session: Option<Arc<str>> = settings.session_statement().map(Into::into);
        PgPoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .acquire_timeout(settings.acquire_timeout)
            // The timeouts hold for the connection's whole life (a role switch keeps them).
            .after_connect(move |conn, _| {
                let session = session.clone();
                Box::pin(async move {
                    if let Some(sql) = session {
                        // Numbers formatted into fixed `SET`s (`PoolSettings::session_statement`).
                        sqlx::Executor::execute(conn, AssertSqlSafe(sql)).await?;
                    }
                    Ok(())
                })
            })
            // Every release already pings (sqlx), so a connection back in the pool a moment
            // ago is known to be alive: only one idle for a while (server restart, network
            // timeouts) is pinged before use, which spares busy paths a round trip each.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IDLE_AFTER {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
    }

    pub(crate) fn new(pool: PgPool) -> Self {
        let instance: Arc<str> = uuid::Uuid::now_v7().simple().to_string().into();
        Self {
            notifier: Arc::new(crate::notifier::Notifier::new(pool.clone(), instance)),
            pool,
            citus: Arc::new(OnceCell::new()),
            portable: false,
            bus: Arc::new(OnceCell::new()),
            partitions: Arc::default(),
        }
    }

    /// Applies the migrations, then makes sure of the partitions ahead (the ones the schema
    /// made may be weeks old).
    pub(crate) async fn migrate(&self) -> Result<()> {
        crate::migrations::POSTGRES
            .run(&self.pool)
            .await
            .map_err(|e| Error::internal("postgres migration failed", e))?;
        self.partitions
            .ensure(&self.pool, crate::db::now())
            .await
            .map(drop)
    }

    /// Whether the database has the `citus` extension, asked once (the answer cannot change
    /// under a running engine: distributing tables is a migration).
    pub(crate) async fn is_citus(&self) -> Result<bool> {
        self.citus
            .get_or_try_init(|| async {
                sqlx::query_scalar::<_, bool>(
                    "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')",
                )
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)
            })
            .await
            .copied()
    }

    /// Begins a transaction as `workos_app` with the scope's settings, in one round trip.
    ///
    /// The settings are `SET LOCAL` statements: on Citus, with `citus.propagate_set_commands`
    /// set to `local`, they are forwarded to every worker the transaction reaches, where the
    /// shards' policies read them (`set_config()` is not forwarded). A user actor's membership
    /// is then checked, once, by `workos_assert_member`, which aborts the transaction of a user
    /// who is not a member of the org. (It is a statement of its own: a failure inside the
    /// opening round trip would leave the pooled connection in an aborted transaction.)
    ///
    /// First, if the weeks of partitions known to exist ahead run short, they are ensured
    /// (`crate::partitions`; nearly always an atomic load and nothing more).
    pub(crate) async fn begin(&self, scope: Scope<'_>) -> Result<Tx> {
        self.partitions.before_begin(&self.pool).await;
        let citus = self.is_citus().await?;
        // The scope's ids (UUIDs) formatted into fixed `SET`s: no text from input.
        let begin = AssertSqlSafe(begin_statement(&scope, citus));
        let pool = self.pool.clone();
        let mut tx = crate::db::run_to_completion(async move { pool.begin_with(begin).await })
            .await?
            .map_err(db_error)?;
        if citus {
            // Citus records a propagated SET by its query's whole text and replays it on every
            // worker the transaction reaches: the settings the shards' policies read come in a
            // query of their own, after the switch that turns propagation on.
            let settings = worker_settings(&scope);
            sqlx::Executor::execute(&mut *tx, AssertSqlSafe(settings))
                .await
                .map_err(db_error)?;
        }
        let wake = Wake::Notify {
            notifier: self.notifier.clone(),
            local: self.bus.clone(),
        };
        let paths = if self.portable {
            Paths::Portable
        } else if citus {
            Paths::Postgres
        } else {
            Paths::OneNode
        };
        let mut tx = Tx::new(Conn::Pg(tx), wake, paths);
        if let Scope::Tenant(ctx) = scope
            && let Some(user) = ctx.user_id()
        {
            let member = tx
                .execute(
                    "SELECT workos_assert_member($1, $2)",
                    args![ctx.org_id(), user],
                )
                .await;
            if let Err(e) = member {
                // The user's membership ended after the caller resolved it: the org is not
                // theirs to see. (`db_error` keeps other failures as they are.)
                return Err(match e {
                    Error::Internal {
                        source: Some(s), ..
                    } if s
                        .downcast_ref::<sqlx::Error>()
                        .and_then(|e| e.as_database_error())
                        .and_then(|d| d.code())
                        .as_deref()
                        == Some(NOT_A_MEMBER) =>
                    {
                        Error::not_found("org")
                    }
                    other => other,
                });
            }
        }
        Ok(tx)
    }

    /// The in-process fan-out of notifications, fed by one `LISTEN` connection (on both
    /// channels) started on first use.
    pub(crate) async fn bus(&self) -> Result<Buses> {
        self.bus
            .get_or_try_init(|| async {
                let mut listener = PgListener::connect_with(&self.pool)
                    .await
                    .map_err(|e| Error::unavailable("cannot listen for events", e))?;
                listener
                    .listen_all([CHANNEL, DUE_CHANNEL, crate::invalidation::CHANNEL])
                    .await
                    .map_err(|e| Error::unavailable("cannot listen for events", e))?;
                let buses = Buses {
                    events: broadcast::channel(1024).0,
                    due: broadcast::channel(1024).0,
                    caches: broadcast::channel(1024).0,
                };
                let senders = buses.clone();
                let pool = self.pool.clone();
                let instance = self.notifier.instance().clone();
                tokio::spawn(async move {
                    // Ends with the store: a closed pool means nobody will read notices again.
                    while !pool.is_closed() {
                        // `try_recv` yields `None` when the connection was lost (and is being
                        // re-established): notices may have been missed, so wake everyone.
                        // No subscriber right now is fine: the log is durable, notices only wake.
                        match listener.try_recv().await {
                            // Notices name the process that sent them ("<org> <instance>", or
                            // the instance alone for due deliveries); this process's own
                            // subscribers were told in-process at its commits.
                            Ok(Some(n)) if n.channel() == DUE_CHANNEL => {
                                if n.payload() != &*instance {
                                    let _ = senders.due.send(EventNotice::default());
                                }
                            }
                            Ok(Some(n)) if n.channel() == crate::invalidation::CHANNEL => {
                                let _ = senders
                                    .caches
                                    .send(crate::Invalidation::from_payload(n.payload()));
                            }
                            Ok(Some(n)) => {
                                let (org, from) =
                                    n.payload().split_once(' ').unwrap_or((n.payload(), ""));
                                if from != &*instance {
                                    let _ = senders.events.send(EventNotice {
                                        org_id: org.parse::<OrgId>().ok(),
                                        events: Arc::default(),
                                    });
                                }
                            }
                            Ok(None) => senders.wake_all(),
                            Err(e) => {
                                tracing::warn!(error = %e, "event listener failed; retrying");
                                tokio::time::sleep(Duration::from_secs(1)).await;
                                senders.wake_all();
                            }
                        }
                    }
                });
                Ok(buses)
            })
            .await
            .cloned()
    }
}

/// A session advisory lock held on a connection of its own (see [`PgBackend::first_run_lock`]).
pub(crate) struct SessionLock(Option<sqlx::pool::PoolConnection<sqlx::Postgres>>);

/// The advisory lock key of first-run org creation (`hashtext('workos.first_run')` would do as
/// well; a constant needs no query).
const FIRST_RUN_LOCK: i64 = 0x776f_726b_6f73_0001;

impl SessionLock {
    /// Unlocks and gives the connection back; a connection that cannot unlock is closed
    /// instead (ending its session ends the lock).
    pub(crate) async fn release(mut self) {
        if let Some(mut conn) = self.0.take() {
            let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(FIRST_RUN_LOCK)
                .execute(&mut *conn)
                .await;
            if unlocked.is_err() {
                drop(conn.detach());
            }
        }
    }
}

impl Drop for SessionLock {
    fn drop(&mut self) {
        // Never back into the pool still locked: closing the connection ends the lock.
        if let Some(conn) = self.0.take() {
            drop(conn.detach());
        }
    }
}

impl PgBackend {
    /// Waits for the first-run lock, on a connection held until the lock is released.
    pub(crate) async fn first_run_lock(&self) -> Result<SessionLock> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(FIRST_RUN_LOCK)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
        Ok(SessionLock(Some(conn)))
    }
}

/// The statement that opens a transaction for `scope`. The values are formatted from typed
/// UUIDs (hex and dashes only), never from input text, so inlining them is safe; it lets BEGIN
/// and the settings share one round trip. On Citus the settings the workers need come apart
/// ([`worker_settings`]).
fn begin_statement(scope: &Scope<'_>, citus: bool) -> String {
    use std::fmt::Write as _;
    let (org, user, system) = scope_values(scope);
    let mut sql = format!("BEGIN; SET LOCAL ROLE {APP_ROLE}; SET LOCAL workos.user_id = '{user}';");
    if !citus {
        let _ = write!(
            sql,
            " SET LOCAL workos.org_id = '{org}'; SET LOCAL workos.scope = '{system}';"
        );
    }
    if matches!(scope, Scope::SystemAsyncCommit) {
        sql.push_str(" SET LOCAL synchronous_commit = off;");
    }
    sql
}

/// On Citus, the settings the shards' policies read, forwarded to every worker the transaction
/// reaches (`citus.propagate_set_commands = 'local'`; `set_config()` is not forwarded).
fn worker_settings(scope: &Scope<'_>) -> String {
    let (org, _, system) = scope_values(scope);
    format!(
        "SET LOCAL citus.propagate_set_commands = 'local'; \
         SET LOCAL workos.org_id = '{org}'; SET LOCAL workos.scope = '{system}'"
    )
}

/// The org, user and scope settings of `scope` (empty when unset).
fn scope_values(scope: &Scope<'_>) -> (String, String, &'static str) {
    let (org, user, system) = match scope {
        Scope::Tenant(ctx) => (Some(ctx.org_id()), ctx.user_id(), ""),
        Scope::System | Scope::SystemAsyncCommit => (None, None, "system"),
    };
    (
        org.map(|o| o.to_string()).unwrap_or_default(),
        user.map(|u| u.to_string()).unwrap_or_default(),
        system,
    )
}

#[cfg(test)]
mod tests {
    use workos_core::ids::{OrgId, UserId};
    use workos_core::tenant::{Role, TenantContext};

    use super::{Scope, begin_statement, worker_settings};

    #[test]
    fn a_user_transaction_sets_the_tenant() {
        let org = OrgId::new();
        let user = UserId::new();
        let ctx = TenantContext::user(org, user, Role::Member);
        let sql = begin_statement(&Scope::Tenant(&ctx), false);
        assert!(
            sql.starts_with("BEGIN; SET LOCAL ROLE workos_app;"),
            "{sql}"
        );
        assert!(
            sql.contains(&format!("SET LOCAL workos.org_id = '{org}'")),
            "{sql}"
        );
        assert!(
            sql.contains(&format!("SET LOCAL workos.user_id = '{user}'")),
            "{sql}"
        );
        assert!(sql.ends_with("SET LOCAL workos.scope = '';"), "{sql}");
        assert!(!sql.contains("citus"), "{sql}");
    }

    #[test]
    fn citus_forwards_the_settings_and_system_scope_has_no_tenant() {
        let begin = begin_statement(&Scope::SystemAsyncCommit, true);
        assert!(!begin.contains("citus"), "{begin}");
        assert!(!begin.contains("workos.org_id"), "{begin}");
        assert!(
            begin.contains("SET LOCAL synchronous_commit = off;"),
            "{begin}"
        );
        let forwarded = worker_settings(&Scope::SystemAsyncCommit);
        assert!(
            forwarded.starts_with("SET LOCAL citus.propagate_set_commands = 'local';"),
            "{forwarded}"
        );
        assert!(
            forwarded.contains("SET LOCAL workos.org_id = '';"),
            "{forwarded}"
        );
        assert!(
            forwarded.ends_with("SET LOCAL workos.scope = 'system'"),
            "{forwarded}"
        );
        assert!(!forwarded.contains("BEGIN"), "{forwarded}");
    }
}
