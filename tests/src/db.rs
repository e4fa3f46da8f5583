//! Scratch databases for tests: each test gets a database of its own, a fresh SQLite file in
//! the temp directory or a fresh Postgres database beside the one `DATABASE_URL` names, removed
//! (best effort) when the [`TestDatabase`] is dropped, also when the test panics.
//!
//! Postgres is optional on a laptop and required in CI: without `DATABASE_URL`,
//! [`TestDatabase::postgres`] answers `None` after printing once "Postgres tests SKIPPED:
//! DATABASE_URL is not set", unless `WORKOS_REQUIRE_POSTGRES=1`, where it panics, so a CI run
//! never passes by skipping them. The role in `DATABASE_URL` needs `CREATEDB`.
//!
//! Citus likewise: [`TestDatabase::citus`] makes a fresh database on every node of the cluster
//! whose coordinator `WORKOS_CITUS_URL` names (the workers are the ones that coordinator's
//! default database knows), with the extension created and the workers registered, as
//! `citus_add_node` does for a new database; `WORKOS_REQUIRE_CITUS=1` turns a skip into a
//! failure.
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

use sqlx::{AssertSqlSafe, Connection as _, Executor as _, PgConnection};
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
    /// A database `name` on each server `admin_urls` names (one, or a Citus cluster's nodes).
    Postgres {
        admin_urls: Vec<String>,
        name: String,
    },
}

/// Shards per distributed table in a Citus test database: fewer than Citus's default 32, so a
/// test database is migrated (and its tables distributed) in seconds. Every shard count
/// exercises the same routing.
const CITUS_TEST_SHARDS: u32 = 2;

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
            .execute(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .await
            .expect("create the test database");
        let _ = admin.close().await;
        Some(Self {
            url: with_database(&admin_url, &name),
            place: Place::Postgres {
                admin_urls: vec![admin_url],
                name,
            },
        })
    }

    /// A fresh, migrated Citus database `<prefix>_<uuid>` on the cluster whose coordinator
    /// `WORKOS_CITUS_URL` names, or `None` when it is not set (see the [module docs](self)).
    ///
    /// Setting up a Citus database (a database and the extension on every node, the workers
    /// registered) and migrating it (distributing every table) takes seconds, so it is done
    /// once per schema: `migrate` is called with the URL of a template database named after
    /// `schema` (an identifier of the migrations it applies, e.g.
    /// `workos_store::schema_fingerprint()`; lower-case letters, digits and `_`), and every
    /// test database is a copy of that template on each node (`CREATE DATABASE … TEMPLATE`),
    /// which takes a fraction of a second. Setups and copies take turns on a lock on the
    /// coordinator (they change cluster-wide catalogs), across test processes too.
    ///
    /// # Panics
    /// When the database cannot be made, when `schema` is not an identifier, and when
    /// `WORKOS_REQUIRE_CITUS=1` but `WORKOS_CITUS_URL` is not set.
    pub async fn citus<F, Fut>(prefix: &str, schema: &str, migrate: F) -> Option<Self>
    where
        F: FnOnce(String) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let coordinator = env_url(
            "WORKOS_CITUS_URL",
            "WORKOS_REQUIRE_CITUS",
            "Citus",
            &CITUS_SKIP,
        )?;
        assert!(
            schema
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "schema must be lower-case letters, digits and _: {schema:?}"
        );
        let _turn = ClusterLock::take(&coordinator).await;
        let cluster = Cluster::of(&coordinator).await;
        let template = format!("workos_tpl_{schema}");
        if !cluster.has_database(&template).await {
            cluster.create(&template, None).await;
            migrate(with_database(&coordinator, &template)).await;
            cluster.freeze(&template).await;
        }
        let name = format!("{prefix}_{}", Uuid::now_v7().simple());
        cluster.create(&name, Some(&template)).await;
        Some(Self {
            url: with_database(&coordinator, &name),
            place: Place::Postgres {
                admin_urls: cluster.admin_urls,
                name,
            },
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
            Place::Postgres { admin_urls, name } => {
                let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                let dropped = admin_urls
                    .iter()
                    .try_for_each(|url| execute_from_drop(url, sql.clone()));
                if let Err(e) = dropped {
                    let _ = writeln!(
                        std::io::stderr(),
                        "warning: could not drop test database {name}: {e}"
                    );
                }
            }
        }
    }
}

/// A session advisory lock on a Citus coordinator that the harness's setups and copies of
/// Citus test databases take turns on; released when dropped (the session ends).
struct ClusterLock {
    _session: PgConnection,
}

impl ClusterLock {
    /// The lock's key: any fixed number no other code uses.
    const KEY: i64 = 0x776f_726b_6f73_7431;

    async fn take(url: &str) -> Self {
        let mut session = PgConnection::connect(url)
            .await
            .expect("connect to the Citus coordinator");
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(Self::KEY)
            .execute(&mut session)
            .await
            .expect("take the cluster setup lock");
        Self { _session: session }
    }
}

/// A Citus cluster's nodes: the coordinator (first) and the workers its default database
/// knows, each as a URL to its default database.
struct Cluster {
    admin_urls: Vec<String>,
    workers: Vec<(String, i32)>,
}

impl Cluster {
    async fn of(coordinator: &str) -> Self {
        let mut admin = PgConnection::connect(coordinator)
            .await
            .expect("connect to WORKOS_CITUS_URL");
        let workers: Vec<(String, i32)> = sqlx::query_as(
            "SELECT nodename, nodeport FROM pg_dist_node
             WHERE groupid <> 0 AND noderole = 'primary' ORDER BY nodeport",
        )
        .fetch_all(&mut admin)
        .await
        .expect("list the cluster's workers");
        assert!(!workers.is_empty(), "the Citus coordinator has no workers");
        let _ = admin.close().await;
        let mut admin_urls = vec![coordinator.to_owned()];
        admin_urls.extend(
            workers
                .iter()
                .map(|(h, p)| with_host_port(coordinator, h, *p)),
        );
        Self {
            admin_urls,
            workers,
        }
    }

    async fn has_database(&self, name: &str) -> bool {
        let mut admin = PgConnection::connect(&self.admin_urls[0])
            .await
            .expect("connect to the coordinator");
        let found: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM pg_database WHERE datname = $1")
            .bind(name)
            .fetch_optional(&mut admin)
            .await
            .expect("look for a database");
        let _ = admin.close().await;
        found.is_some()
    }

    /// Makes database `name` on every node: a copy of `template` (a Citus database already), or
    /// a new Citus database with the extension and the workers registered.
    async fn create(&self, name: &str, template: Option<&str>) {
        let copy = template.map_or(String::new(), |t| format!(" TEMPLATE \"{t}\""));
        for url in &self.admin_urls {
            let mut node = PgConnection::connect(url).await.expect("connect to a node");
            node.execute(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"{copy}")))
                .await
                .expect("create the test database on a node");
            if template.is_none() {
                node.execute(AssertSqlSafe(format!(
                    "ALTER DATABASE \"{name}\" SET citus.shard_count = {CITUS_TEST_SHARDS}"
                )))
                .await
                .expect("set the shard count");
                let mut fresh = PgConnection::connect(&with_database(url, name))
                    .await
                    .expect("connect to the new database");
                fresh
                    .execute("SET client_min_messages = warning; CREATE EXTENSION citus")
                    .await
                    .expect("create the citus extension");
                let _ = fresh.close().await;
            }
            let _ = node.close().await;
        }
        if template.is_some() {
            return;
        }
        let coordinator = &self.admin_urls[0];
        let (host, port) = host_port(coordinator);
        let mut db = PgConnection::connect(&with_database(coordinator, name))
            .await
            .expect("connect to the new coordinator database");
        sqlx::query("SELECT citus_set_coordinator_host($1, $2)")
            .bind(&host)
            .bind(port)
            .execute(&mut db)
            .await
            .expect("register the coordinator");
        for (h, p) in &self.workers {
            sqlx::query("SELECT citus_add_node($1, $2)")
                .bind(h)
                .bind(p)
                .execute(&mut db)
                .await
                .expect("register a worker");
        }
        let _ = db.close().await;
    }

    /// Makes `name` copyable: no new connections (Citus's maintenance daemon keeps one to every
    /// Citus database), and the open ones ended.
    async fn freeze(&self, name: &str) {
        for url in &self.admin_urls {
            let mut node = PgConnection::connect(url).await.expect("connect to a node");
            node.execute(AssertSqlSafe(format!(
                "ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS false"
            )))
            .await
            .expect("close the template to connections");
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            )
            .bind(name)
            .execute(&mut node)
            .await
            .expect("end the template's sessions");
            let _ = node.close().await;
        }
    }
}

static POSTGRES_SKIP: Once = Once::new();
static CITUS_SKIP: Once = Once::new();

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
            .execute(AssertSqlSafe(format!(
                "CREATE ROLE \"{name}\" LOGIN NOSUPERUSER NOBYPASSRLS INHERIT"
            )))
            .await
            .expect("create the test role (the DATABASE_URL role needs CREATEROLE)");
        let role = Self { name, admin_url };
        for member_of in member_of {
            admin
                .execute(AssertSqlSafe(format!(
                    "GRANT \"{member_of}\" TO \"{}\"",
                    role.name
                )))
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
                .execute(AssertSqlSafe(sql))
                .await
                .map_err(|e| e.to_string())?;
            admin.close().await.map_err(|e| e.to_string())
        })
    })
    .join()
    .map_err(|_| "the thread panicked".to_owned())?
}

/// `DATABASE_URL`, or `None` after saying plainly (once per process) that the Postgres tests
/// are skipped.
///
/// # Panics
/// When `WORKOS_REQUIRE_POSTGRES=1` and `DATABASE_URL` is not set: CI must not skip silently.
#[must_use]
pub fn postgres_url() -> Option<String> {
    env_url(
        "DATABASE_URL",
        "WORKOS_REQUIRE_POSTGRES",
        "Postgres",
        &POSTGRES_SKIP,
    )
}

/// The URL in `var`, or `None` after saying (once per process) that the `what` tests are
/// skipped; panics instead when `require` is `1`.
fn env_url(var: &str, require: &str, what: &str, notice: &Once) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var(require).as_deref() != Ok("1"),
                "{require}=1 but {var} is not set: the {what} tests must run"
            );
            // Straight to the process's stderr: the test harness captures `eprintln!`.
            notice.call_once(|| {
                let _ = writeln!(std::io::stderr(), "{what} tests SKIPPED: {var} is not set");
            });
            None
        }
    }
}

/// `url` with its database name replaced by `database` (query parameters kept).
///
/// Hidden: a URL helper of the engine's own suites and benches, not part of the testkit's API.
#[doc(hidden)]
#[must_use]
pub fn with_database(url: &str, database: &str) -> String {
    let (prefix, authority, _, query) = url_parts(url);
    let mut out = format!("{prefix}{authority}/{database}");
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// `url` pointing at `host:port` instead (credentials, database and parameters kept).
fn with_host_port(url: &str, host: &str, port: i32) -> String {
    let (prefix, authority, path, query) = url_parts(url);
    let credentials = authority.rsplit_once('@').map(|(c, _)| c);
    let mut out = prefix.to_owned();
    if let Some(c) = credentials {
        out.push_str(c);
        out.push('@');
    }
    out.push_str(&format!("{host}:{port}{path}"));
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// The host and port of `url` (5432 when it names none).
fn host_port(url: &str) -> (String, i32) {
    let (_, authority, _, _) = url_parts(url);
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match hostport.rsplit_once(':') {
        Some((h, p)) => (h.to_owned(), p.parse().unwrap_or(5432)),
        None => (hostport.to_owned(), 5432),
    }
}

/// (`scheme://`, authority, `/path`, query) of a URL.
fn url_parts(url: &str) -> (&str, &str, &str, Option<&str>) {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    (
        &base[..authority_start],
        &base[authority_start..authority_end],
        &base[authority_end..],
        query,
    )
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
        assert_eq!(
            with_host_port(
                "postgres://u:p@127.0.0.1:5440/citus?sslmode=disable",
                "10.0.0.2",
                5441
            ),
            "postgres://u:p@10.0.0.2:5441/citus?sslmode=disable"
        );
        assert_eq!(
            with_host_port("postgres://h/db", "w", 1),
            "postgres://w:1/db"
        );
        assert_eq!(
            host_port("postgres://u@127.0.0.1:5440/citus"),
            ("127.0.0.1".to_owned(), 5440)
        );
        assert_eq!(host_port("postgres://h/db"), ("h".to_owned(), 5432));
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
