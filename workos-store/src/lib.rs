//! # workos-store
//!
//! sqlx storage backends for the WorkOS CRM engine: Postgres with Row Level Security for
//! production, SQLite as the embedded default. Both implement every repository trait of
//! `workos-core` through one code path, so they cannot drift apart.
//!
//! What an embedder does first:
//!
//! 1. **Connect**: [`SqlStore::connect`] picks the backend from the URL's scheme
//!    (`postgres://…`, `sqlite://path`, `sqlite::memory:`).
//! 2. **Migrate, when you decide**: [`SqlStore::migrate`] applies the embedded migrations; it
//!    is idempotent and takes a lock. `connect` never migrates by itself.
//!    [`deploy`] does it as the reference server deploys: settings from `DATABASE_URL`,
//!    `WORKOS_MIGRATE` and `WORKOS_DB_*`, migrations at start-up or an old schema refused.
//! 3. **Create an org and act in it** through a
//!    [`TenantContext`] for that org.
//!
//! ```no_run
//! # async fn demo() -> workos_core::Result<()> {
//! use workos_core::domain::{NewOrg, NewPerson};
//! use workos_core::repo::{Directory, PersonRepo};
//! use workos_core::tenant::TenantContext;
//! use workos_store::SqlStore;
//!
//! let store = SqlStore::connect("sqlite://workos.db").await?; // 1. or postgres://…
//! store.migrate().await?;                                     // 2. explicit, never implicit
//! let org = store.create_org(NewOrg { name: "Acme".into() }, None).await?; // 3.
//! let ctx = TenantContext::system(org.id, "example");
//! let ada = store.create_person(&ctx, NewPerson { first_name: Some("Ada".into()), ..Default::default() }).await?;
//! # Ok(()) }
//! ```
//!
//! ## Feature flags
//!
//! - **`postgres`** (default): the Postgres backend, `SqlStore::from_pg_pool` and
//!   `SqlStore::pg_pool`.
//! - **`sqlite`** (default): the SQLite backend (SQLite compiled in).
//!
//! Either alone builds (`default-features = false`); at least one is required.
//!
//! ## Tenancy
//! Every repository call opens one transaction for the context's org. On Postgres that
//! transaction runs as the `workos_app` role (no superuser, no owner, no `BYPASSRLS`) with
//! `workos.org_id` (and `workos.user_id` for user actors) set, so the forced RLS policies hold
//! even when the pool connects as a superuser; the queries filter by `org_id` as well. On SQLite
//! the same queries do the filtering.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The README's examples run as doctests, so what the registry's docs show is compiled code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[cfg(not(any(feature = "postgres", feature = "sqlite")))]
compile_error!("enable at least one backend feature: `postgres` or `sqlite`");

mod db;
pub mod deploy;
mod events;
mod invalidation;
mod invalidation_listener;
mod migrations;
#[cfg(feature = "postgres")]
mod notifier;
mod outbox;
#[cfg(feature = "postgres")]
mod partitions;
#[cfg(feature = "postgres")]
mod pg_connect;
mod pool;
#[cfg(feature = "postgres")]
mod postgres;
mod reencrypt;
mod repos;
pub mod retention_job;
mod sealed;
#[cfg(feature = "sqlite")]
mod sqlite;

use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};

use crate::db::Tx;
pub use crate::invalidation::{CACHED_KINDS, Invalidation};
pub use crate::invalidation_listener::spawn_invalidation_listener;
pub use crate::migrations::{Migration, MigrationStatus, schema_fingerprint};
pub use crate::pool::PoolSettings;
pub use crate::reencrypt::{ColumnReport, ReencryptReport, SealedLabels};
pub use crate::repos::retention::{
    DEFAULT_ATTEMPTS_DAYS, DEFAULT_EVENTS_DAYS, PARTITION_LOCK_WAIT, PARTITION_WEEKS_AHEAD,
    RetentionPolicy, RetentionReport, days,
};
pub use crate::sealed::{SealedColumn, SealedValue};

/// A store on Postgres or SQLite, implementing every `workos-core` repository trait (and so
/// [`workos_core::repo::Store`]). Cheap to clone: clones share the connection pools.
#[derive(Clone)]
pub struct SqlStore {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    #[cfg(feature = "postgres")]
    Postgres(postgres::PgBackend),
    #[cfg(feature = "sqlite")]
    Sqlite(sqlite::SqliteBackend),
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("backend", &self.backend_name())
            .finish()
    }
}

impl SqlStore {
    /// Connects to the database named by `url`, choosing the backend from its scheme:
    /// `postgres://…`/`postgresql://…` or `sqlite://path` (created if missing, readable by its
    /// owner only on Unix; `sqlite::memory:`
    /// for a private in-memory database). Does not run migrations: call [`SqlStore::migrate`].
    ///
    /// A Postgres URL takes libpq's `sslmode` (`disable`, `allow`, `prefer` (the default),
    /// `require`, `verify-ca`, `verify-full`) and `sslrootcert`, else `PGSSLMODE` and
    /// `PGSSLROOTCERT`; TLS is rustls, trusting the public CAs and the root certificate given.
    /// `docs/deploy.md` says where this differs from libpq.
    ///
    /// # Errors
    /// [`Error::Validation`] on `database_url` for an unknown scheme, a malformed URL or a
    /// backend compiled out, and on `sslmode`, `sslrootcert`, `PGSSLMODE` or `PGSSLROOTCERT`
    /// for a value that cannot be used; [`Error::Unavailable`] when the database cannot be
    /// reached or refuses the connection, and when TLS fails (the message says why, e.g. the
    /// server's certificate has an unknown issuer or is for another host). No message contains
    /// the URL.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, &PoolSettings::default()).await
    }

    /// [`SqlStore::connect`] with the Postgres pool sized and its connections limited as
    /// `settings` says (SQLite ignores them).
    ///
    /// # Errors
    /// As [`SqlStore::connect`].
    #[cfg_attr(not(feature = "postgres"), expect(unused_variables))]
    pub async fn connect_with(url: &str, settings: &PoolSettings) -> Result<Self> {
        let scheme = url.split_once(':').map_or("", |(s, _)| s);
        let backend = match scheme {
            #[cfg(feature = "postgres")]
            "postgres" | "postgresql" => {
                Backend::Postgres(postgres::PgBackend::connect(url, settings).await?)
            }
            #[cfg(feature = "sqlite")]
            "sqlite" => Backend::Sqlite(sqlite::SqliteBackend::connect(url).await?),
            _ => {
                return Err(Error::invalid(
                    "database_url",
                    "must start with postgres:// or sqlite:// (and that backend must be compiled in)",
                ));
            }
        };
        Ok(Self { backend })
    }

    /// Wraps an existing Postgres pool (e.g. one the application already has).
    #[cfg(feature = "postgres")]
    #[must_use]
    pub fn from_pg_pool(pool: sqlx::PgPool) -> Self {
        Self {
            backend: Backend::Postgres(postgres::PgBackend::new(pool)),
        }
    }

    /// Applies the embedded migrations of this backend. Idempotent; safe to call from several
    /// processes at once (sqlx takes a migration lock).
    ///
    /// # Errors
    /// [`Error::Unavailable`] when the database cannot be reached, [`Error::Internal`] when a
    /// migration fails.
    pub async fn migrate(&self) -> Result<()> {
        match &self.backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres(b) => b.migrate().await,
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(b) => b.migrate().await,
        }
    }

    /// Applies the pending migrations, as [`SqlStore::migrate`], and answers the ones that were
    /// pending before and are applied now, in order (none when the schema was up to date).
    ///
    /// # Errors
    /// As [`SqlStore::migrate`] and [`SqlStore::migration_status`].
    pub async fn apply_migrations(&self) -> Result<Vec<Migration>> {
        let before = self.migration_status().await?;
        self.migrate().await?;
        let after = self.migration_status().await?;
        Ok(after
            .applied
            .into_iter()
            .filter(|m| before.pending.contains(m))
            .collect())
    }

    /// Which of this build's migrations the database has applied, and which it has not, read
    /// as the role this store logs in as (it changes nothing). A server that does not migrate
    /// at start-up checks [`MigrationStatus::is_current`] with it.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when the database cannot be reached or the migration history
    /// cannot be read: on Postgres the login role needs `SELECT` on `_sqlx_migrations`, which
    /// the owner has and other roles are granted (the message names the grant).
    pub async fn migration_status(&self) -> Result<MigrationStatus> {
        match &self.backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres(b) => migrations::postgres_status(&b.pool).await,
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(b) => migrations::sqlite_status(b.writer()).await,
        }
    }

    /// `postgres` or `sqlite`.
    #[must_use]
    pub const fn backend_name(&self) -> &'static str {
        match &self.backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => "postgres",
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(_) => "sqlite",
        }
    }

    /// Checks that the database answers (for readiness probes).
    ///
    /// # Errors
    /// [`Error::Unavailable`] when it does not.
    pub async fn ping(&self) -> Result<()> {
        let mut tx = self.system_tx(false).await?;
        let _: (i32,) = tx.fetch_one("SELECT 1", vec![]).await?;
        Ok(())
    }

    /// What committed writes made stale in caches of [`CACHED_KINDS`] records, from now on,
    /// whichever process wrote them (Postgres: `LISTEN workos_cache` on one connection per
    /// store, which reconnects by itself and then sends [`Invalidation::Everything`]; SQLite:
    /// this process's writes). A receiver that falls behind gets `Lagged`: treat it as
    /// everything.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when the listener cannot connect; try again later.
    pub async fn invalidations(&self) -> Result<tokio::sync::broadcast::Receiver<Invalidation>> {
        match &self.backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres(b) => Ok(b.bus().await?.caches.subscribe()),
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(b) => Ok(b.caches.subscribe()),
        }
    }

    /// Creates `new` as the first org, unless the database has an org already: answers the
    /// org created, or `None`. Processes starting together on one Postgres create one org
    /// between them (they take turns on an advisory lock); on SQLite, one process at a time.
    ///
    /// # Errors
    /// As [`workos_core::repo::Directory::create_org`].
    pub async fn create_first_org(
        &self,
        new: workos_core::domain::NewOrg,
    ) -> Result<Option<workos_core::domain::Org>> {
        use workos_core::repo::Directory as _;
        let lock = match &self.backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres(b) => Some(b.first_run_lock().await?),
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(_) => None,
        };
        let created = match self.has_orgs().await {
            Ok(true) => Ok(None),
            Ok(false) => self.create_org(new, None).await.map(Some),
            Err(e) => Err(e),
        };
        #[cfg(feature = "postgres")]
        if let Some(lock) = lock {
            lock.release().await;
        }
        #[cfg(not(feature = "postgres"))]
        let _: Option<()> = lock;
        created
    }

    /// Connections open and idle in the pools, for metrics.
    #[must_use]
    pub fn pool_stats(&self) -> (u32, usize) {
        match &self.backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres(b) => (b.pool.size(), b.pool.num_idle()),
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(b) => b.pool_stats(),
        }
    }

    /// Closes the pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        match &self.backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres(b) => b.pool.close().await,
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(b) => b.close().await,
        }
    }

    /// The Postgres pool, for embedders' own queries and for tests.
    #[cfg(feature = "postgres")]
    #[must_use]
    pub fn pg_pool(&self) -> Option<&sqlx::PgPool> {
        match &self.backend {
            Backend::Postgres(b) => Some(&b.pool),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// Opens a transaction for `ctx`'s org after checking that its actor has `access`.
    /// This is the tenant filter's single entry point: every repository method starts here.
    pub(crate) async fn tenant_tx(&self, ctx: &TenantContext, access: Access) -> Result<Tx> {
        ctx.authorize(access)?;
        self.begin_tenant(ctx, access != Access::Read).await
    }

    /// A write transaction for bookkeeping any member may cause (idempotency keys): it needs
    /// only read access to the org.
    pub(crate) async fn tenant_write_tx(&self, ctx: &TenantContext) -> Result<Tx> {
        ctx.authorize(Access::Read)?;
        self.begin_tenant(ctx, true).await
    }

    #[cfg_attr(
        not(all(feature = "postgres", feature = "sqlite")),
        expect(unused_variables)
    )]
    async fn begin_tenant(&self, ctx: &TenantContext, write: bool) -> Result<Tx> {
        match &self.backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres(b) => b.begin(postgres::Scope::Tenant(ctx)).await,
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(b) => b.begin(write).await,
        }
    }

    /// Opens a transaction in the system scope: cross-tenant *reads* of the lookup tables and
    /// the event log. Only the [`workos_core::repo::Directory`] and event-log code use it.
    #[cfg_attr(not(feature = "sqlite"), expect(unused_variables))]
    pub(crate) async fn system_tx(&self, write: bool) -> Result<Tx> {
        match &self.backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres(b) => b.begin(postgres::Scope::System).await,
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(b) => b.begin(write).await,
        }
    }

    /// A system-scope write transaction whose commit does not wait for the WAL flush on
    /// Postgres (`synchronous_commit = off`). Only for writes that are harmless to lose in a
    /// crash; see `claim_deliveries`.
    pub(crate) async fn system_async_commit_tx(&self) -> Result<Tx> {
        match &self.backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres(b) => b.begin(postgres::Scope::SystemAsyncCommit).await,
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(b) => b.begin(true).await,
        }
    }

    /// Opens a transaction that creates org `org_id`: tenant-scoped to an org that does not
    /// exist yet, acting as the system.
    pub(crate) async fn new_org_tx(&self, org_id: workos_core::ids::OrgId) -> Result<Tx> {
        let ctx = TenantContext::system(org_id, "create_org");
        self.tenant_tx(&ctx, Access::Own).await
    }
}
