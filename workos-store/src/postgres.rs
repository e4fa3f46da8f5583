//! The Postgres backend: transactions that drop to the `workos_app` role with the tenant set,
//! so Row Level Security applies; `LISTEN/NOTIFY` wake-ups.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::{Connection as _, PgPool};
use tokio::sync::{OnceCell, broadcast};
use workos_core::events::EventNotice;
use workos_core::ids::OrgId;
use workos_core::tenant::TenantContext;
use workos_core::{Error, Result};

use crate::db::{Conn, Tx, Wake, db_error};

/// Connections idle at least this long are pinged before they are used again.
const PING_IDLE_AFTER: Duration = Duration::from_secs(1);
/// The role every tenant transaction runs as (created by the migrations).
const APP_ROLE: &str = "workos_app";
/// The channel commits that wrote events notify on.
pub(crate) const CHANNEL: &str = "workos_events";
/// The channel commits that made webhook deliveries due notify on.
pub(crate) const DUE_CHANNEL: &str = "workos_deliveries";

/// The in-process fan-out of the two channels.
#[derive(Clone)]
pub(crate) struct Buses {
    pub(crate) events: broadcast::Sender<EventNotice>,
    pub(crate) due: broadcast::Sender<EventNotice>,
}

#[derive(Clone)]
pub(crate) struct PgBackend {
    pub(crate) pool: PgPool,
    bus: Arc<OnceCell<Buses>>,
    /// Names this store in its event notifications, so its own listener skips them (its
    /// subscribers were told in-process already).
    instance: Arc<str>,
}

pub(crate) enum Scope<'a> {
    Tenant(&'a TenantContext),
    System,
    /// The system scope, committing without waiting for the WAL flush
    /// (`synchronous_commit = off`): only for transactions whose loss in a crash is harmless.
    SystemAsyncCommit,
}

impl Buses {
    fn wake_all(&self) {
        let _ = self.events.send(EventNotice::default());
        let _ = self.due.send(EventNotice::default());
    }
}

impl PgBackend {
    /// Connects to `url`, with TLS as its `sslmode` says (see `pg_connect`).
    pub(crate) async fn connect(url: &str) -> Result<Self> {
        let pool = crate::pg_connect::connect(url, Self::pool_options).await?;
        Ok(Self::new(pool))
    }

    fn pool_options() -> PgPoolOptions {
        PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
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
        Self {
            pool,
            bus: Arc::new(OnceCell::new()),
            instance: uuid::Uuid::now_v7().simple().to_string().into(),
        }
    }

    pub(crate) async fn migrate(&self) -> Result<()> {
        crate::migrations::POSTGRES
            .run(&self.pool)
            .await
            .map_err(|e| Error::internal("postgres migration failed", e))
    }

    /// Begins a transaction as `workos_app` with the scope's settings, in one round trip.
    pub(crate) async fn begin(&self, scope: Scope<'_>) -> Result<Tx> {
        // The values are formatted from typed UUIDs (hex and dashes only), never from input
        // text, so inlining them is safe; it lets BEGIN and the settings share one round trip.
        let (org, user, system, sync) = match scope {
            Scope::Tenant(ctx) => (
                ctx.org_id().to_string(),
                ctx.user_id().map(|u| u.to_string()).unwrap_or_default(),
                "",
                "",
            ),
            Scope::System => (String::new(), String::new(), "system", ""),
            Scope::SystemAsyncCommit => (
                String::new(),
                String::new(),
                "system",
                ", set_config('synchronous_commit', 'off', true)",
            ),
        };
        let begin = format!(
            "BEGIN; SELECT set_config('role', '{APP_ROLE}', true), \
             set_config('workos.org_id', '{org}', true), \
             set_config('workos.user_id', '{user}', true), \
             set_config('workos.scope', '{system}', true){sync}"
        );
        let tx = self.pool.begin_with(begin).await.map_err(db_error)?;
        let wake = Wake::Notify {
            instance: self.instance.clone(),
            local: self.bus.clone(),
        };
        Ok(Tx::new(Conn::Pg(tx), wake))
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
                    .listen_all([CHANNEL, DUE_CHANNEL])
                    .await
                    .map_err(|e| Error::unavailable("cannot listen for events", e))?;
                let buses = Buses {
                    events: broadcast::channel(1024).0,
                    due: broadcast::channel(1024).0,
                };
                let senders = buses.clone();
                let pool = self.pool.clone();
                let instance = self.instance.clone();
                tokio::spawn(async move {
                    // Ends with the store: a closed pool means nobody will read notices again.
                    while !pool.is_closed() {
                        // `try_recv` yields `None` when the connection was lost (and is being
                        // re-established): notices may have been missed, so wake everyone.
                        // No subscriber right now is fine: the log is durable, notices only wake.
                        match listener.try_recv().await {
                            Ok(Some(n)) if n.channel() == DUE_CHANNEL => {
                                let _ = senders.due.send(EventNotice::default());
                            }
                            Ok(Some(n)) => {
                                // "<org> <instance>" (or the org alone).
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
