//! The embedded migrations of each backend, and what a database has applied of them, so a
//! deployment can migrate as one role and run as another, and refuse to start on a schema older
//! than the code needs.

use sqlx::AssertSqlSafe;
use sqlx::migrate::Migrator;
use workos_core::{Error, Result};

/// The Postgres migrations, embedded at build time.
#[cfg(feature = "postgres")]
pub(crate) static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");
/// The SQLite migrations, embedded at build time.
#[cfg(feature = "sqlite")]
pub(crate) static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");

/// An identifier of the Postgres schema this build's migrations make: 16 hex digits folded
/// from every embedded migration's checksum, so it changes whenever any migration does (test
/// harnesses name template databases after it). A build without the `postgres` feature has no
/// Postgres schema: it answers the same for its SQLite migrations, so a harness compiled
/// against either build has a name to use.
#[must_use]
pub fn schema_fingerprint() -> String {
    #[cfg(feature = "postgres")]
    let migrations = &POSTGRES;
    #[cfg(not(feature = "postgres"))]
    let migrations = &SQLITE;
    // FNV-1a, 64 bits: stable across builds and platforms, which `std`'s hasher is not.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for m in migrations.iter() {
        for byte in m.version.to_le_bytes().iter().chain(m.checksum.iter()) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

/// The table sqlx records applied migrations in.
const TABLE: &str = "_sqlx_migrations";

/// One migration: its version (the number its file name starts with) and its description (the
/// rest of the name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// The version, e.g. `20261128000001`.
    pub version: i64,
    /// What it does, e.g. `init`.
    pub description: String,
}

/// What a database has applied, against the migrations this build embeds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MigrationStatus {
    /// Embedded migrations the database has applied, in order.
    pub applied: Vec<Migration>,
    /// Embedded migrations it has not applied yet, in order.
    pub pending: Vec<Migration>,
    /// Versions it has applied that this build does not embed: a newer build migrated it.
    pub unknown: Vec<i64>,
    /// Versions whose application failed part-way.
    pub failed: Vec<i64>,
    /// Versions applied from different SQL than this build embeds.
    pub changed: Vec<i64>,
}

impl MigrationStatus {
    /// Whether the schema is what this build needs: nothing pending, failed or changed.
    /// Migrations of a newer build ([`MigrationStatus::unknown`]) do not make it older.
    #[must_use]
    pub fn is_current(&self) -> bool {
        self.pending.is_empty() && self.failed.is_empty() && self.changed.is_empty()
    }
}

/// A row of the migrations table.
type AppliedRow = (i64, bool, Vec<u8>);

/// Compares the migrations table's rows with what `migrator` embeds.
fn compare(migrator: &Migrator, rows: &[AppliedRow]) -> MigrationStatus {
    let mut status = MigrationStatus::default();
    for m in migrator.iter() {
        if m.migration_type.is_down_migration() {
            continue;
        }
        let migration = Migration {
            version: m.version,
            description: m.description.to_string(),
        };
        match rows.iter().find(|(version, ..)| *version == m.version) {
            None => status.pending.push(migration),
            Some((_, success, checksum)) => {
                if !success {
                    status.failed.push(m.version);
                } else if **checksum != *m.checksum {
                    status.changed.push(m.version);
                }
                status.applied.push(migration);
            }
        }
    }
    status.unknown = rows
        .iter()
        .map(|(version, ..)| *version)
        .filter(|v| !migrator.version_exists(*v))
        .collect();
    status
}

fn unreadable(e: sqlx::Error) -> Error {
    if let sqlx::Error::Database(d) = &e
        && d.code().as_deref() == Some("42501")
    {
        return Error::unavailable(
            format!(
                "cannot read the migration history ({TABLE}): permission denied to the role \
                 this store logs in as; the database owner can grant it with \
                 GRANT SELECT ON {TABLE} TO workos_app (members of workos_app inherit it)"
            ),
            e,
        );
    }
    Error::unavailable(format!("cannot read the migration history ({TABLE})"), e)
}

/// The status of the Postgres database `pool` reaches, read as the role it logs in as.
#[cfg(feature = "postgres")]
pub(crate) async fn postgres_status(pool: &sqlx::PgPool) -> Result<MigrationStatus> {
    let exists = format!("SELECT to_regclass('{TABLE}') IS NOT NULL");
    read_status(pool, exists, &POSTGRES).await
}

/// The status of the SQLite database `pool` reaches.
#[cfg(feature = "sqlite")]
pub(crate) async fn sqlite_status(pool: &sqlx::SqlitePool) -> Result<MigrationStatus> {
    let exists =
        format!("SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = '{TABLE}'");
    read_status(pool, exists, &SQLITE).await
}

/// Reads the migrations table (when `exists_sql` finds it) and compares it with `migrator`.
async fn read_status<DB>(
    pool: &sqlx::Pool<DB>,
    exists_sql: String,
    migrator: &Migrator,
) -> Result<MigrationStatus>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    (bool,): for<'r> sqlx::FromRow<'r, DB::Row>,
    AppliedRow: for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let (exists,): (bool,) = sqlx::query_as(AssertSqlSafe(exists_sql))
        .fetch_one(pool)
        .await
        .map_err(unreadable)?;
    let rows: Vec<AppliedRow> = if exists {
        let sql = format!("SELECT version, success, checksum FROM {TABLE} ORDER BY version");
        sqlx::query_as(AssertSqlSafe(sql))
            .fetch_all(pool)
            .await
            .map_err(unreadable)?
    } else {
        Vec::new()
    };
    Ok(compare(migrator, &rows))
}

#[cfg(test)]
mod tests {
    /// sqlx 0.9 can record migrations in another table (`sqlx.toml`, a feature this crate
    /// leaves off); the status check reads [`super::TABLE`], so the migrators must write there.
    /// (`table_name` is sqlx's hidden field: a rename of it fails this test's build, loudly.)
    #[test]
    fn the_migrators_record_in_the_table_the_status_check_reads() {
        #[cfg(feature = "postgres")]
        assert_eq!(super::POSTGRES.table_name, super::TABLE);
        #[cfg(feature = "sqlite")]
        assert_eq!(super::SQLITE.table_name, super::TABLE);
    }
}
