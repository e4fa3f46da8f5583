//! Opening the store as a deployment does: the database settings from the environment
//! ([`DatabaseConfig::from_lookup`]), migrations applied at start-up (`WORKOS_MIGRATE=auto`) or
//! checked to have been (`off`), through the owner's URL when it differs from the
//! application's ([`open`]), and a migration step of its own ([`migrate`], [`report`]).
//!
//! The reference server (`workos-server`) runs exactly this; an embedder gets the same policy
//! by calling it from its own `main`:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use workos_store::deploy::{self, DatabaseConfig};
//!
//! let db = DatabaseConfig::from_lookup(|name| std::env::var(name).ok())?;
//! // Refuses an old schema under WORKOS_MIGRATE=off, naming the command that migrates it.
//! let store = deploy::open(&db, "myapp migrate").await?;
//! # let _ = store; Ok(()) }
//! ```
//!
//! See `docs/deploy.md` for the roles and the migration job.

use std::fmt::Write as _;

use workos_core::{Error, Result};

use crate::{Migration, MigrationStatus, PoolSettings, SqlStore};

pub use crate::pool::{
    DEFAULT_IDLE_IN_TX_TIMEOUT_MS, DEFAULT_LOCK_TIMEOUT_MS, DEFAULT_STATEMENT_TIMEOUT_MS,
    ENV_IDLE_IN_TX_TIMEOUT_MS, ENV_LOCK_TIMEOUT_MS, ENV_POOL_SIZE, ENV_STATEMENT_TIMEOUT_MS,
};

/// `DATABASE_URL`: [`DatabaseConfig::url`] (default `sqlite://workos.db`).
pub const ENV_DATABASE_URL: &str = "DATABASE_URL";
/// `WORKOS_MIGRATION_DATABASE_URL`: [`DatabaseConfig::migration_url`] (default
/// [`ENV_DATABASE_URL`]'s).
pub const ENV_MIGRATION_DATABASE_URL: &str = "WORKOS_MIGRATION_DATABASE_URL";
/// `WORKOS_MIGRATE`: [`DatabaseConfig::migrate`], `auto` (the default) or `off`.
pub const ENV_MIGRATE: &str = "WORKOS_MIGRATE";

/// `WORKOS_MIGRATE`: what [`open`] does about the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrateMode {
    /// `auto` (the default): apply pending migrations, through
    /// `WORKOS_MIGRATION_DATABASE_URL`.
    Auto,
    /// `off`: apply nothing, and refuse to start on a schema older than this build needs
    /// (production: a migration job runs them, as a deployment step).
    Off,
}

/// Where the database is, and who migrates it. `Debug` never shows the URLs (they may hold
/// passwords).
#[derive(Clone)]
#[non_exhaustive]
pub struct DatabaseConfig {
    /// `DATABASE_URL`, default `sqlite://workos.db`: what the application works on, as a role
    /// that may have only the app's privileges.
    pub url: String,
    /// `WORKOS_MIGRATION_DATABASE_URL`, default `DATABASE_URL`: what migrations run as (the
    /// schema's owner), for [`migrate`] and `WORKOS_MIGRATE=auto`.
    pub migration_url: String,
    /// `WORKOS_MIGRATE`, default `auto`.
    pub migrate: MigrateMode,
    /// `WORKOS_DB_POOL_SIZE` (default 16), `WORKOS_DB_STATEMENT_TIMEOUT_MS` (default 30000),
    /// `WORKOS_DB_LOCK_TIMEOUT_MS` (default 10000), `WORKOS_DB_IDLE_IN_TX_TIMEOUT_MS` (default
    /// 60000); a timeout of 0 is none. Migrations run without the timeouts.
    pub pool: PoolSettings,
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("separate_migration_url", &(self.migration_url != self.url))
            .field("migrate", &self.migrate)
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

impl DatabaseConfig {
    /// Reads [`ENV_DATABASE_URL`], [`ENV_MIGRATION_DATABASE_URL`], [`ENV_MIGRATE`] and the
    /// pool's `WORKOS_DB_*` ([`PoolSettings::from_lookup`]) through `get`, e.g.
    /// `|name| std::env::var(name).ok()`.
    ///
    /// # Errors
    /// [`Error::Validation`] naming the variable that is malformed.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let url = get(ENV_DATABASE_URL).unwrap_or_else(|| "sqlite://workos.db".into());
        let migrate = match get(ENV_MIGRATE).as_deref().map(str::trim) {
            None | Some("auto") => MigrateMode::Auto,
            Some("off") => MigrateMode::Off,
            Some(other) => {
                return Err(Error::invalid(
                    ENV_MIGRATE,
                    format!("{other:?} is not auto or off"),
                ));
            }
        };
        Ok(Self {
            migration_url: get(ENV_MIGRATION_DATABASE_URL)
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| url.clone()),
            url,
            migrate,
            pool: PoolSettings::from_lookup(&get)?,
        })
    }

    /// The variable the migration URL came from, as messages name it.
    fn migration_url_name(&self) -> &'static str {
        if self.migration_url == self.url {
            ENV_DATABASE_URL
        } else {
            ENV_MIGRATION_DATABASE_URL
        }
    }
}

/// Why [`open`] or [`migrate`] failed. The messages name the variable or the command to run,
/// never a URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeployError {
    /// The database of `variable`'s URL cannot be opened.
    #[error("{variable}: the database cannot be opened")]
    Connect {
        /// `DATABASE_URL` or `WORKOS_MIGRATION_DATABASE_URL`.
        variable: &'static str,
        /// What the store said.
        #[source]
        source: Error,
    },
    /// A migration failed, or the migrations could not be read.
    #[error("applying the migrations")]
    Migrate(#[source] Error),
    /// The application's role cannot act as `workos_app`.
    #[error(
        "DATABASE_URL: the server's role must be allowed to act as workos_app \
         (as the database owner: GRANT workos_app TO <the role in DATABASE_URL>)"
    )]
    AppRole(#[source] Error),
    /// The schema could not be checked (`WORKOS_MIGRATE=off`).
    #[error("checking the database schema (WORKOS_MIGRATE=off)")]
    Status(#[source] Error),
    /// A migration failed part-way (`WORKOS_MIGRATE=off`).
    #[error(
        "the database schema is not usable (WORKOS_MIGRATE=off): migration {versions:?} failed \
         part-way; repair it, then run `{migrate_command}`"
    )]
    FailedMigration {
        /// The versions that failed.
        versions: Vec<i64>,
        /// The command that migrates, as the caller of [`open`] named it.
        migrate_command: String,
    },
    /// A migration was applied from other SQL than this build has (`WORKOS_MIGRATE=off`).
    #[error(
        "the database schema differs from this build's (WORKOS_MIGRATE=off): migration \
         {versions:?} was applied from different SQL than this build has"
    )]
    ChangedMigration {
        /// The versions that differ.
        versions: Vec<i64>,
    },
    /// The schema is older than this build needs (`WORKOS_MIGRATE=off`).
    #[error(
        "the database schema is older than this server needs (WORKOS_MIGRATE=off): {} \
         migration(s) pending, {} ({}) to {} ({}); run `{migrate_command}` (it migrates \
         through WORKOS_MIGRATION_DATABASE_URL, else DATABASE_URL), then start the server \
         again",
        count,
        first.version,
        first.description,
        last.version,
        last.description
    )]
    Pending {
        /// How many are pending.
        count: usize,
        /// The first pending migration.
        first: Migration,
        /// The last pending migration.
        last: Migration,
        /// The command that migrates, as the caller of [`open`] named it.
        migrate_command: String,
    },
}

/// Applies the pending migrations through [`DatabaseConfig::migration_url`] and answers the
/// ones it applied, logging each.
///
/// # Errors
/// [`DeployError::Connect`] when the database cannot be reached, [`DeployError::Migrate`]
/// when a migration fails.
pub async fn migrate(db: &DatabaseConfig) -> Result<Vec<Migration>, DeployError> {
    let store = SqlStore::connect(&db.migration_url)
        .await
        .map_err(|source| DeployError::Connect {
            variable: db.migration_url_name(),
            source,
        })?;
    let applied = apply(&store).await;
    store.close().await;
    applied
}

/// Applies the pending migrations through `store`, logging each.
async fn apply(store: &SqlStore) -> Result<Vec<Migration>, DeployError> {
    let applied = store
        .apply_migrations()
        .await
        .map_err(DeployError::Migrate)?;
    for m in &applied {
        tracing::info!(version = m.version, description = %m.description, "migration applied");
    }
    Ok(applied)
}

/// What a migration command prints: a line per migration it applied, or that there was
/// nothing to do.
#[must_use]
pub fn report(applied: &[Migration]) -> String {
    if applied.is_empty() {
        return "already up to date\n".to_owned();
    }
    let mut out = String::new();
    for m in applied {
        let _ = writeln!(out, "applied {} {}", m.version, m.description);
    }
    let _ = writeln!(out, "{} migration(s) applied", applied.len());
    out
}

/// The store the application works on, through [`DatabaseConfig::url`] with its pool
/// settings, its schema migrated (`WORKOS_MIGRATE=auto`) or checked to be current (`off`).
/// `migrate_command` is what the operator runs to migrate (e.g. `workos-server migrate`), as
/// the errors name it.
///
/// # Errors
/// [`DeployError::Connect`] when a database cannot be reached, [`DeployError::Migrate`] when
/// a migration fails, [`DeployError::AppRole`] when the role cannot act as `workos_app`, and
/// (`off`) [`DeployError::Status`] or [`check_current`]'s errors.
pub async fn open(db: &DatabaseConfig, migrate_command: &str) -> Result<SqlStore, DeployError> {
    // Migrations run on a connection of their own, without the pool's timeouts (a long
    // migration is not a stuck request); an in-memory SQLite database is only reachable
    // through the application's own store.
    let separately = db.migration_url != db.url || !db.url.starts_with("sqlite:");
    if db.migrate == MigrateMode::Auto && separately {
        migrate(db).await?;
    }
    let store = SqlStore::connect_with(&db.url, &db.pool)
        .await
        .map_err(|source| DeployError::Connect {
            variable: ENV_DATABASE_URL,
            source,
        })?;
    if db.migrate == MigrateMode::Auto && !separately {
        apply(&store).await?;
    }
    // Every tenant transaction switches to workos_app: a role that may not fails here, once,
    // rather than on every request.
    store.ping().await.map_err(DeployError::AppRole)?;
    if db.migrate == MigrateMode::Off {
        let status = store
            .migration_status()
            .await
            .map_err(DeployError::Status)?;
        check_current(&status, migrate_command)?;
    }
    Ok(store)
}

/// Fails unless the schema is what this build needs (migrations of a newer build are only
/// logged).
///
/// # Errors
/// [`DeployError::FailedMigration`], [`DeployError::ChangedMigration`] or
/// [`DeployError::Pending`], naming `migrate_command` where running it helps.
pub fn check_current(status: &MigrationStatus, migrate_command: &str) -> Result<(), DeployError> {
    if !status.unknown.is_empty() {
        tracing::warn!(
            versions = ?status.unknown,
            "the database has migrations this build does not know (a newer build applied them)"
        );
    }
    if !status.failed.is_empty() {
        return Err(DeployError::FailedMigration {
            versions: status.failed.clone(),
            migrate_command: migrate_command.to_owned(),
        });
    }
    if !status.changed.is_empty() {
        return Err(DeployError::ChangedMigration {
            versions: status.changed.clone(),
        });
    }
    if let (Some(first), Some(last)) = (status.pending.first(), status.pending.last()) {
        return Err(DeployError::Pending {
            count: status.pending.len(),
            first: first.clone(),
            last: last.clone(),
            migrate_command: migrate_command.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn migration(version: i64, description: &str) -> Migration {
        Migration {
            version,
            description: description.into(),
        }
    }

    #[test]
    fn the_settings_default_to_one_url_and_auto() {
        let db = DatabaseConfig::from_lookup(|_| None).unwrap();
        assert_eq!(db.url, "sqlite://workos.db");
        assert_eq!(db.migration_url, db.url);
        assert_eq!(db.migrate, MigrateMode::Auto);
        let off = DatabaseConfig::from_lookup(|name| match name {
            ENV_MIGRATE => Some(" off ".into()),
            ENV_MIGRATION_DATABASE_URL => Some("postgres://owner:pw@db/app".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(off.migrate, MigrateMode::Off);
        assert!(!format!("{off:?}").contains("pw"), "{off:?}");
        let err = DatabaseConfig::from_lookup(|n| (n == ENV_MIGRATE).then(|| "never".into()))
            .unwrap_err();
        assert!(err.to_string().contains(ENV_MIGRATE), "{err}");
    }

    #[test]
    fn an_old_schema_names_the_command_and_the_range() {
        let status = MigrationStatus {
            applied: vec![migration(1, "init")],
            pending: vec![migration(2, "people"), migration(3, "deals")],
            unknown: vec![],
            failed: vec![],
            changed: vec![],
        };
        let err = check_current(&status, "myapp migrate")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("older than this server needs")
                && err.contains("2 migration(s) pending, 2 (people) to 3 (deals)")
                && err.contains("run `myapp migrate`"),
            "{err}"
        );
        let failed = MigrationStatus {
            pending: vec![],
            failed: vec![2],
            ..status
        };
        let err = check_current(&failed, "myapp migrate")
            .unwrap_err()
            .to_string();
        assert!(err.contains("[2] failed part-way"), "{err}");
    }

    #[test]
    fn the_report_lists_what_was_applied() {
        assert_eq!(report(&[]), "already up to date\n");
        assert_eq!(
            report(&[migration(1, "init")]),
            "applied 1 init\n1 migration(s) applied\n"
        );
    }
}
