//! Opening the database: migrations applied at start-up (`WORKOS_MIGRATE=auto`) or checked to
//! have been (`off`), through the owner's URL when it differs from the server's, and the
//! `workos-server migrate` command. See `docs/deploy.md`.

use std::fmt::Write as _;

use anyhow::{Context as _, bail};
use workos_store::{Migration, MigrationStatus, SqlStore};

use crate::config::{DatabaseConfig, MigrateMode};

/// The command that applies migrations, as the messages name it.
pub const MIGRATE_COMMAND: &str = "workos-server migrate";

/// Applies the pending migrations through `WORKOS_MIGRATION_DATABASE_URL` (default
/// `DATABASE_URL`) and answers the ones it applied.
///
/// # Errors
/// When the database cannot be reached or a migration fails.
pub async fn migrate(db: &DatabaseConfig) -> anyhow::Result<Vec<Migration>> {
    let store = SqlStore::connect(&db.migration_url)
        .await
        .context(migration_url_name(db))?;
    let applied = apply(&store).await;
    store.close().await;
    applied
}

/// Applies the pending migrations through `store`, logging each.
async fn apply(store: &SqlStore) -> anyhow::Result<Vec<Migration>> {
    let applied = store
        .apply_migrations()
        .await
        .context("applying the migrations")?;
    for m in &applied {
        tracing::info!(version = m.version, description = %m.description, "migration applied");
    }
    Ok(applied)
}

/// What `workos-server migrate` prints: a line per migration it applied, or that there was
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

/// The store the server works on, through `DATABASE_URL`, with its schema migrated
/// (`WORKOS_MIGRATE=auto`) or checked to be current (`off`).
///
/// # Errors
/// When a database cannot be reached, a migration fails, the server's role cannot act as
/// `workos_app`, or (`off`) the schema is older than this build needs: the message names
/// `workos-server migrate`.
pub async fn open(db: &DatabaseConfig) -> anyhow::Result<SqlStore> {
    // Migrations run on a connection of their own, without the pool's timeouts (a long
    // migration is not a stuck request); an in-memory SQLite database is only reachable
    // through the server's own store.
    let separately = db.migration_url != db.url || !db.url.starts_with("sqlite:");
    if db.migrate == MigrateMode::Auto && separately {
        migrate(db).await?;
    }
    let store = SqlStore::connect_with(&db.url, &db.pool)
        .await
        .context("DATABASE_URL")?;
    if db.migrate == MigrateMode::Auto && !separately {
        apply(&store).await?;
    }
    // Every tenant transaction switches to workos_app: a role that may not fails here, once,
    // rather than on every request.
    store.ping().await.context(
        "DATABASE_URL: the server's role must be allowed to act as workos_app \
         (as the database owner: GRANT workos_app TO <the role in DATABASE_URL>)",
    )?;
    if db.migrate == MigrateMode::Off {
        let status = store
            .migration_status()
            .await
            .context("checking the database schema (WORKOS_MIGRATE=off)")?;
        check_current(&status)?;
    }
    Ok(store)
}

/// With `WORKOS_MIGRATE=off`: fails unless the schema is what this build needs.
fn check_current(status: &MigrationStatus) -> anyhow::Result<()> {
    if !status.unknown.is_empty() {
        tracing::warn!(
            versions = ?status.unknown,
            "the database has migrations this build does not know (a newer build applied them)"
        );
    }
    if !status.failed.is_empty() {
        bail!(
            "the database schema is not usable (WORKOS_MIGRATE=off): migration {:?} failed \
             part-way; repair it, then run `{MIGRATE_COMMAND}`",
            status.failed
        );
    }
    if !status.changed.is_empty() {
        bail!(
            "the database schema differs from this build's (WORKOS_MIGRATE=off): migration \
             {:?} was applied from different SQL than this build has",
            status.changed
        );
    }
    if let (Some(first), Some(last)) = (status.pending.first(), status.pending.last()) {
        bail!(
            "the database schema is older than this server needs (WORKOS_MIGRATE=off): {} \
             migration(s) pending, {} ({}) to {} ({}); run `{MIGRATE_COMMAND}` (it migrates \
             through WORKOS_MIGRATION_DATABASE_URL, else DATABASE_URL), then start the server \
             again",
            status.pending.len(),
            first.version,
            first.description,
            last.version,
            last.description
        );
    }
    Ok(())
}

fn migration_url_name(db: &DatabaseConfig) -> &'static str {
    if db.migration_url == db.url {
        "DATABASE_URL"
    } else {
        "WORKOS_MIGRATION_DATABASE_URL"
    }
}
