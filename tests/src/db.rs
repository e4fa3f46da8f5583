//! Scratch databases for tests: each test gets a database of its own, a fresh SQLite file in
//! the temp directory or a fresh Postgres database beside the one `DATABASE_URL` names, removed
//! (best effort) when the [`TestDatabase`] is dropped, also when the test panics.
//!
//! Postgres is optional on a laptop and required in CI: without `DATABASE_URL`,
//! [`TestDatabase::postgres`] answers `None` after printing once "Postgres tests SKIPPED:
//! DATABASE_URL is not set", unless `WORKOS_REQUIRE_POSTGRES=1`, where it panics, so a CI run
//! never passes by skipping them. The role in `DATABASE_URL` needs `CREATEDB`.
//!
//! ```no_run
//! # async fn example() {
//! use workos_tests::db::TestDatabase;
//!
//! let Some(db) = TestDatabase::postgres("myapp").await else {
//!     return; // skipped: no DATABASE_URL
//! };
//! let store = workos_store::SqlStore::connect(db.url()).await.unwrap();
//! store.migrate().await.unwrap();
//! // … the test; `db` drops the database when it goes out of scope (drop `store` first).
//! # }
//! ```

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Once;

use sqlx::{Connection as _, Executor as _, PgConnection};
use uuid::Uuid;

/// A database of one test's own, dropped with this value. Drop whatever holds connections to
/// it (a store, a server) first; Postgres sessions still open are ended (`WITH (FORCE)`).
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    place: Place,
}

#[derive(Debug)]
enum Place {
    Sqlite(PathBuf),
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    /// A fresh SQLite database: a file named `<prefix>-<uuid>.db` in the temp directory, not
    /// created yet (`SqlStore::connect` creates it).
    #[must_use]
    pub fn sqlite(prefix: &str) -> Self {
        let path = std::env::temp_dir().join(format!("{prefix}-{}.db", Uuid::now_v7().simple()));
        Self {
            url: format!("sqlite://{}", path.display()),
            place: Place::Sqlite(path),
        }
    }

    /// A fresh, empty Postgres database `<prefix>_<uuid>` on the server `DATABASE_URL` names,
    /// or `None` when it is not set (see the [module docs](self)).
    ///
    /// # Panics
    /// When the database cannot be created, and when `WORKOS_REQUIRE_POSTGRES=1` but
    /// `DATABASE_URL` is not set.
    pub async fn postgres(prefix: &str) -> Option<Self> {
        let (admin_url, name, mut admin) = admin_session(prefix).await?;
        admin
            .execute(format!("CREATE DATABASE \"{name}\"").as_str())
            .await
            .expect("create the test database");
        let _ = admin.close().await;
        Some(Self {
            url: with_database(&admin_url, &name),
            place: Place::Postgres { admin_url, name },
        })
    }

    /// The URL to connect to it with (`sqlite://…` or `postgres://…`).
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The file of a SQLite database.
    #[must_use]
    pub fn sqlite_path(&self) -> Option<&Path> {
        match &self.place {
            Place::Sqlite(path) => Some(path),
            Place::Postgres { .. } => None,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.place {
            Place::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Place::Postgres { admin_url, name } => {
                let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                if let Err(e) = execute_from_drop(admin_url, sql) {
                    let _ = writeln!(
                        std::io::stderr(),
                        "warning: could not drop test database {name}: {e}"
                    );
                }
            }
        }
    }
}

/// A login role of one test's own on the server `DATABASE_URL` names: not a superuser, no
/// `BYPASSRLS`, owning nothing, a member of the roles it was created with and nothing else, as
/// a platform team gives an application server. Dropped with this value (roles are
/// cluster-wide); end its sessions first. The role in `DATABASE_URL` needs `CREATEROLE`, and
/// the server must let the new role in without a password (it trusts loopback connections
/// here and in CI).
///
/// ```no_run
/// # async fn example() {
/// use workos_tests::db::{TestDatabase, TestRole};
///
/// let Some(db) = TestDatabase::postgres("myapp").await else { return };
/// // … migrate `db` as the owner (this creates the role `workos_app`) …
/// let Some(login) = TestRole::login("myapp_login", &["workos_app"]).await else { return };
/// let store = workos_store::SqlStore::connect(&login.url(db.url())).await.unwrap();
/// # }
/// ```
#[derive(Debug)]
pub struct TestRole {
    name: String,
    admin_url: String,
}

impl TestRole {
    /// Creates the login role `<prefix>_<uuid>`, granted membership of `member_of`; `None`
    /// when `DATABASE_URL` is not set (see the [module docs](self)).
    ///
    /// # Panics
    /// When the role cannot be created or granted, and when `WORKOS_REQUIRE_POSTGRES=1` but
    /// `DATABASE_URL` is not set.
    pub async fn login(prefix: &str, member_of: &[&str]) -> Option<Self> {
        let (admin_url, name, mut admin) = admin_session(prefix).await?;
        admin
            .execute(
                format!("CREATE ROLE \"{name}\" LOGIN NOSUPERUSER NOBYPASSRLS INHERIT").as_str(),
            )
            .await
            .expect("create the test role (the DATABASE_URL role needs CREATEROLE)");
        let role = Self { name, admin_url };
        for member_of in member_of {
            admin
                .execute(format!("GRANT \"{member_of}\" TO \"{}\"", role.name).as_str())
                .await
                .unwrap_or_else(|e| panic!("grant {member_of} to the test role: {e}"));
        }
        let _ = admin.close().await;
        Some(role)
    }

    /// The role's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `url` (a database's URL) with this role as its user, and no password.
    ///
    /// # Panics
    /// When `url` is not a URL.
    #[must_use]
    pub fn url(&self, url: &str) -> String {
        let mut url = url::Url::parse(url).expect("a database URL");
        url.set_username(&self.name).expect("a URL with a user");
        url.set_password(None).expect("a URL with a password");
        url.to_string()
    }
}

impl Drop for TestRole {
    fn drop(&mut self) {
        let sql = format!("DROP ROLE IF EXISTS \"{}\"", self.name);
        if let Err(e) = execute_from_drop(&self.admin_url, sql) {
            let _ = writeln!(
                std::io::stderr(),
                "warning: could not drop test role {}: {e}",
                self.name
            );
        }
    }
}

/// `DATABASE_URL`, a fresh name `<prefix>_<uuid>`, and a connection to make it with; `None`
/// as [`postgres_url`].
async fn admin_session(prefix: &str) -> Option<(String, String, PgConnection)> {
    let admin_url = postgres_url()?;
    let name = format!("{prefix}_{}", Uuid::now_v7().simple());
    let admin = PgConnection::connect(&admin_url)
        .await
        .expect("connect to DATABASE_URL");
    Some((admin_url, name, admin))
}

/// Runs `sql` on a connection to `url`. Drop may run inside the test's runtime, which cannot
/// block on a future: this runs from a thread with a runtime of its own.
fn execute_from_drop(url: &str, sql: String) -> Result<(), String> {
    let url = url.to_owned();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            let mut admin = PgConnection::connect(&url)
                .await
                .map_err(|e| e.to_string())?;
            admin
                .execute(sql.as_str())
                .await
                .map_err(|e| e.to_string())?;
            admin.close().await.map_err(|e| e.to_string())
        })
    })
    .join()
    .map_err(|_| "the thread panicked".to_owned())?
}

static SKIP_NOTICE: Once = Once::new();

/// `DATABASE_URL`, or `None` after saying plainly (once per process) that the Postgres tests
/// are skipped.
///
/// # Panics
/// When `WORKOS_REQUIRE_POSTGRES=1` and `DATABASE_URL` is not set: CI must not skip silently.
#[must_use]
pub fn postgres_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("WORKOS_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "WORKOS_REQUIRE_POSTGRES=1 but DATABASE_URL is not set: the Postgres tests must run"
            );
            // Straight to the process's stderr: the test harness captures `eprintln!`.
            SKIP_NOTICE.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "Postgres tests SKIPPED: DATABASE_URL is not set"
                );
            });
            None
        }
    }
}

/// `url` with its database name replaced by `database` (query parameters kept).
#[must_use]
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{database}", &base[..authority_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_rewriting() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgresql://u:p@h/test?sslmode=disable", "x"),
            "postgresql://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "x"),
            "postgres://h:5432/x"
        );
    }

    #[test]
    fn a_sqlite_database_is_a_fresh_file_removed_on_drop() {
        let db = TestDatabase::sqlite("workos-tests-db");
        let path = db.sqlite_path().expect("a file").to_owned();
        assert!(db.url().starts_with("sqlite://") && db.url().ends_with(".db"));
        assert!(!path.exists(), "not created before the store opens it");
        std::fs::write(&path, b"x").unwrap();
        drop(db);
        assert!(!path.exists(), "removed on drop");
        assert_ne!(
            TestDatabase::sqlite("p").url(),
            TestDatabase::sqlite("p").url()
        );
    }

    #[tokio::test]
    async fn a_postgres_database_exists_until_dropped() {
        let Some(db) = TestDatabase::postgres("workos_tests_db").await else {
            return;
        };
        let mut conn = PgConnection::connect(db.url()).await.expect("connect");
        let (name,): (String,) = sqlx::query_as("SELECT current_database()")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert!(name.starts_with("workos_tests_db_"));
        drop(conn);
        let admin_url = postgres_url().unwrap();
        drop(db);
        let mut admin = PgConnection::connect(&admin_url).await.unwrap();
        let (left,): (i64,) = sqlx::query_as("SELECT count(*) FROM pg_database WHERE datname = $1")
            .bind(&name)
            .fetch_one(&mut admin)
            .await
            .unwrap();
        assert_eq!(left, 0, "dropped");
    }
}
