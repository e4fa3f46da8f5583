//! The SQLite backend (the embedded default): WAL mode, one writer connection so writes queue
//! in-process instead of failing with `SQLITE_BUSY`, a pool of readers, in-process wake-ups.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokio::sync::broadcast;
use workos_core::ids::OrgId;
use workos_core::{Error, Result};

use crate::db::{Conn, Paths, Tx, Wake, db_error};

#[derive(Clone)]
pub(crate) struct SqliteBackend {
    writer: SqlitePool,
    reader: SqlitePool,
    /// In-memory databases read and write through the one connection.
    shared: bool,
    pub(crate) wake: broadcast::Sender<OrgId>,
    /// Wakes delivery workers when deliveries become due.
    pub(crate) due: broadcast::Sender<()>,
    /// Cache invalidations of committed writes.
    pub(crate) caches: broadcast::Sender<crate::Invalidation>,
    /// Event-log claims held in this process, by consumer name.
    pub(crate) claims: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl SqliteBackend {
    pub(crate) async fn connect(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| Error::invalid("database_url", format!("not a SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let unavailable = |e| Error::unavailable("cannot open SQLite database", e);
        if !in_memory {
            create_private(options.get_filename())
                .map_err(|e| Error::unavailable("cannot create SQLite database file", e))?;
        }
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            // An in-memory database lives as long as its one connection.
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await
            .map_err(unavailable)?;
        let reader = if in_memory {
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(options.read_only(true))
                .await
                .map_err(unavailable)?
        };
        let (wake, _) = broadcast::channel(1024);
        let (due, _) = broadcast::channel(1024);
        Ok(Self {
            writer,
            reader,
            shared: in_memory,
            wake,
            due,
            caches: broadcast::channel(1024).0,
            claims: Arc::default(),
        })
    }

    pub(crate) async fn migrate(&self) -> Result<()> {
        crate::migrations::SQLITE
            .run(&self.writer)
            .await
            .map_err(|e| Error::internal("sqlite migration failed", e))
    }

    /// A write transaction takes the write lock up front (`BEGIN IMMEDIATE`), so it never has
    /// to upgrade a read lock and fail half-way; reads use the reader pool.
    pub(crate) async fn begin(&self, write: bool) -> Result<Tx> {
        let tx = if write {
            let pool = self.writer.clone();
            crate::db::run_to_completion(async move { pool.begin_with("BEGIN IMMEDIATE").await })
                .await?
        } else {
            let pool = self.reader.clone();
            crate::db::run_to_completion(async move { pool.begin().await }).await?
        }
        .map_err(db_error)?;
        Ok(Tx::new(
            Conn::Sqlite(tx),
            Wake::Local(self.wake.clone(), self.due.clone(), self.caches.clone()),
            Paths::Portable,
        ))
    }

    /// The writer pool (migrations run and are read there).
    pub(crate) fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    pub(crate) fn pool_stats(&self) -> (u32, usize) {
        if self.shared {
            return (self.writer.size(), self.writer.num_idle());
        }
        (
            self.writer.size() + self.reader.size(),
            self.writer.num_idle() + self.reader.num_idle(),
        )
    }

    pub(crate) async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

/// Creates the database file readable and writable by its owner only (0600), when it does not
/// exist yet: it holds API key hashes, sealed secrets and people's data, and SQLite would create
/// it 0644 (less the umask). SQLite gives its `-wal` and `-shm` files the database file's mode.
/// An existing file is left as it is.
#[cfg(unix)]
fn create_private(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(not(unix))]
fn create_private(_path: &std::path::Path) -> std::io::Result<()> {
    Ok(())
}
