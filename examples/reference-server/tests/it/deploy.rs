//! Deploying as a platform team would (docs/deploy.md), with the real `workos-server` binary
//! over real HTTP: `workos-server migrate`, `WORKOS_MIGRATE=off`, and a server that logs in as
//! a role with only the app's privileges while migrations run as the owner
//! (`WORKOS_MIGRATION_DATABASE_URL`).

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::Executor as _;
use workos_core::crypto::SecretKey;
use workos_reference_server::config::{Config, DatabaseConfig, MigrateMode};
use workos_store::SqlStore;
use workos_tests::db::{TestDatabase, TestRole};

/// The environment of one deployment: its URLs and secrets, shared by every command run in it
/// (the API keys `admin create-org` prints are hashed with its pepper).
pub(crate) struct Deployment {
    env: Vec<(&'static str, String)>,
    dir: std::path::PathBuf,
}

impl Deployment {
    /// `DATABASE_URL` = `url`; migrations through `migration_url` when given.
    pub(crate) fn new(url: &str, migration_url: Option<&str>) -> Self {
        let mut env = vec![
            ("DATABASE_URL", url.to_owned()),
            ("WORKOS_ENCRYPTION_KEY", SecretKey::generate().to_base64()),
            ("WORKOS_API_KEY_PEPPER", SecretKey::generate().to_base64()),
            ("WORKOS_BIND", "127.0.0.1:0".to_owned()),
            ("WORKOS_LOG", "info".to_owned()),
        ];
        if let Some(m) = migration_url {
            env.push(("WORKOS_MIGRATION_DATABASE_URL", m.to_owned()));
        }
        let dir = std::env::temp_dir().join(format!("workos-deploy-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).expect("a working directory");
        Self { env, dir }
    }

    pub(crate) fn with(mut self, name: &'static str, value: &str) -> Self {
        self.env.push((name, value.to_owned()));
        self
    }

    fn command(&self, args: &[&str]) -> Command {
        // Nothing of the test process's configuration leaks in.
        let mut command = crate::helpers::workos_server_command();
        command
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .current_dir(&self.dir)
            .stdin(Stdio::null());
        command
    }

    /// Runs `workos-server <args>` to its end.
    pub(crate) async fn run(&self, args: &[&str]) -> Run {
        let mut command = self.command(args);
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .expect("the command's thread")
            .expect("run workos-server");
        Run(output)
    }

    /// `admin create-org`: the new org's owner API key.
    pub(crate) async fn create_org(&self, name: &str) -> String {
        let created = self
            .run(&["admin", "create-org", "--name", name])
            .await
            .success();
        let created: Value = serde_json::from_str(created.trim()).expect("one JSON object");
        created["api_key"].as_str().expect("api_key").to_owned()
    }

    /// Starts `workos-server serve` and waits until it listens.
    pub(crate) async fn serve(&self) -> Running {
        self.serve_with(&["serve"]).await
    }

    /// Starts `workos-server <args>` (a `serve`) and waits until it listens.
    pub(crate) async fn serve_with(&self, args: &[&str]) -> Running {
        let mut child = self
            .command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start workos-server serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let json: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                if json["fields"]["message"] == "listening" {
                    let _ = tx.send(json["fields"]["bind"].as_str().map(str::to_owned));
                }
                lines.lock().expect("log").push(line);
            }
        });
        // Ends when the server listens or exits (the reader then drops the sender); the
        // deadline only keeps a hung start from hanging the suite.
        let addr = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(120)))
            .await
            .expect("the waiting thread");
        let mut running = Running {
            child,
            log,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            http: reqwest::Client::new(),
        };
        let Ok(Some(addr)) = addr else {
            panic!("the server did not start listening:\n{}", running.log());
        };
        running.addr = addr.parse().expect("the address it listens on");
        running
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A finished command.
pub(crate) struct Run(Output);

impl Run {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    /// Asserts it succeeded; answers its stdout.
    #[track_caller]
    pub(crate) fn success(&self) -> String {
        assert!(
            self.0.status.success(),
            "the command failed ({}):\n{}",
            self.0.status,
            self.stderr()
        );
        self.stdout()
    }

    /// Asserts it failed; answers its stderr.
    #[track_caller]
    fn failure(&self) -> String {
        assert!(
            !self.0.status.success(),
            "the command should have failed; stdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
        self.stderr()
    }
}

/// A running `workos-server serve`, killed when dropped.
pub(crate) struct Running {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    pub(crate) addr: SocketAddr,
    http: reqwest::Client,
}

impl Running {
    pub(crate) fn log(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }

    /// `method path` with `key`: the status and the JSON body (or null).
    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("http://{}{path}", self.addr))
            .bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("an HTTP answer");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

impl Running {
    /// Sends SIGTERM and waits (up to two minutes, so a hung process cannot hang the suite)
    /// for the process to exit; answers how long it took and its exit status.
    async fn terminate(&mut self) -> (Duration, Option<std::process::ExitStatus>) {
        let started = std::time::Instant::now();
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "SIGTERM sent");
        while started.elapsed() < Duration::from_secs(120) {
            if let Some(status) = self.child.try_wait().expect("the server's status") {
                return (started.elapsed(), Some(status));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (started.elapsed(), None)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The database's migration status, read as the role `url` logs in as.
async fn status(url: &str) -> workos_store::MigrationStatus {
    let store = SqlStore::connect(url).await.expect("connect");
    let status = store.migration_status().await.expect("migration status");
    store.close().await;
    status
}

// ---------------------------------------------------------------------------------------------

/// `migrate` prints each migration it applied, then, run again, that there was nothing to do.
async fn migrate_prints_what_it_applied(db: &TestDatabase) {
    let deployment = Deployment::new(db.url(), None);
    let printed = deployment.run(&["migrate"]).await.success();
    let now = status(db.url()).await;
    assert!(now.is_current(), "migrated: {now:?}");
    for m in &now.applied {
        assert!(
            printed.contains(&format!("applied {} {}\n", m.version, m.description)),
            "prints {} {}:\n{printed}",
            m.version,
            m.description
        );
    }
    assert!(
        printed.ends_with(&format!("{} migration(s) applied\n", now.applied.len())),
        "{printed}"
    );
    let again = deployment.run(&["migrate"]).await.success();
    assert_eq!(again, "already up to date\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_command_sqlite() {
    migrate_prints_what_it_applied(&TestDatabase::sqlite("workos-deploy")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_command_postgres() {
    let Some(db) = TestDatabase::postgres("workos_deploy").await else {
        return;
    };
    migrate_prints_what_it_applied(&db).await;
}

/// `WORKOS_MIGRATE=off` refuses an unmigrated database, naming the command (and migrates
/// nothing); after `workos-server migrate` the same server starts and serves.
async fn migrate_off_needs_the_migrate_command(db: &TestDatabase) {
    let deployment = Deployment::new(db.url(), None).with("WORKOS_MIGRATE", "off");
    for args in [&["serve"][..], &["admin", "create-org", "--name", "Early"]] {
        let refused = deployment.run(args).await.failure();
        assert!(
            refused.contains("older than this server needs")
                && refused.contains("run `workos-server migrate`"),
            "{args:?} names the command to run:\n{refused}"
        );
    }
    let untouched = status(db.url()).await;
    assert!(
        untouched.applied.is_empty(),
        "nothing was migrated: {untouched:?}"
    );

    deployment.run(&["migrate"]).await.success();
    let key = deployment.create_org("Migrated").await;
    let server = deployment.serve().await;
    let (ready, _) = server.call(reqwest::Method::GET, "/readyz", "", None).await;
    assert_eq!(ready, 200, "{}", server.log());
    let (status, list) = server
        .call(reqwest::Method::GET, "/api/v1/people", &key, None)
        .await;
    assert_eq!(status, 200, "{list}\n{}", server.log());
    assert_eq!(list["data"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_off_sqlite() {
    migrate_off_needs_the_migrate_command(&TestDatabase::sqlite("workos-deploy")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_off_postgres() {
    let Some(db) = TestDatabase::postgres("workos_deploy").await else {
        return;
    };
    migrate_off_needs_the_migrate_command(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workos_migrate_takes_auto_or_off_only() {
    let (key, pepper) = (
        SecretKey::generate().to_base64(),
        SecretKey::generate().to_base64(),
    );
    let env = |value: &'static str| {
        let (key, pepper) = (key.clone(), pepper.clone());
        move |name: &str| match name {
            "WORKOS_MIGRATE" => Some(value.to_owned()),
            "DATABASE_URL" => Some("postgres://app:pw@db.example/app".to_owned()),
            "WORKOS_MIGRATION_DATABASE_URL" => {
                Some("postgres://owner:pw@db.example/app".to_owned())
            }
            // Given, so no development key file is written.
            "WORKOS_ENCRYPTION_KEY" => Some(key.clone()),
            "WORKOS_API_KEY_PEPPER" => Some(pepper.clone()),
            _ => None,
        }
    };
    let db = DatabaseConfig::from_lookup(env("off")).expect("off");
    assert_eq!(db.migrate, MigrateMode::Off);
    assert_eq!(db.migration_url, "postgres://owner:pw@db.example/app");
    assert!(!format!("{db:?}").contains("pw"), "no URL in Debug: {db:?}");
    let unset = DatabaseConfig::from_lookup(|name| {
        (name == "DATABASE_URL").then(|| "sqlite://x.db".to_owned())
    })
    .expect("defaults");
    assert_eq!(unset.migrate, MigrateMode::Auto, "auto by default");
    assert_eq!(
        unset.migration_url, "sqlite://x.db",
        "DATABASE_URL by default"
    );
    let e = DatabaseConfig::from_lookup(env("sometimes")).expect_err("not a mode");
    assert!(e.to_string().contains("WORKOS_MIGRATE"), "{e}");
    let e = Config::from_lookup(env("never")).expect_err("not a mode for the server either");
    assert!(e.to_string().contains("WORKOS_MIGRATE"), "{e}");

    // The binary says so before touching any database, for every command.
    let db = TestDatabase::sqlite("workos-deploy");
    let deployment = Deployment::new(db.url(), None).with("WORKOS_MIGRATE", "sometimes");
    for args in [&["migrate"][..], &["serve"]] {
        let refused = deployment.run(args).await.failure();
        assert!(refused.contains("WORKOS_MIGRATE"), "{args:?}: {refused}");
    }
    assert!(
        !db.sqlite_path().expect("a file").exists(),
        "no database was opened"
    );
}

/// The server logs in as a role that is neither the owner nor a superuser and has no
/// `BYPASSRLS`, while migrations run as the owner through `WORKOS_MIGRATION_DATABASE_URL`:
/// until the role may act as `workos_app` the server refuses to start, saying which grant is
/// missing; with it, it serves API-key requests (and keeps orgs apart).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_role_with_only_the_app_role_serves_api_keys() {
    let Some(db) = TestDatabase::postgres("workos_deploy").await else {
        return;
    };
    let login = TestRole::login("workos_srv_login", &[])
        .await
        .expect("a login role");
    let deployment = Deployment::new(&login.url(db.url()), Some(db.url()));

    let refused = deployment.run(&["serve"]).await.failure();
    assert!(
        refused.contains("GRANT workos_app TO"),
        "names the missing grant:\n{refused}"
    );
    // The migrations ran, as the owner.
    assert!(status(db.url()).await.is_current());
    let owner = SqlStore::connect(db.url())
        .await
        .expect("connect as the owner");
    let pool = owner.pg_pool().expect("Postgres");
    let (owner_name, table_owner): (String, String) = sqlx::query_as(
        "SELECT current_user::text, tableowner::text FROM pg_tables WHERE tablename = 'orgs'",
    )
    .fetch_one(pool)
    .await
    .expect("who owns the schema");
    assert_eq!(
        table_owner, owner_name,
        "the schema belongs to the migrating role"
    );
    assert_ne!(owner_name, login.name());
    let (superuser, bypassrls): (bool, bool) =
        sqlx::query_as("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1")
            .bind(login.name())
            .fetch_one(pool)
            .await
            .expect("the login role");
    assert!(!superuser && !bypassrls, "an ordinary role");

    pool.execute(sqlx::AssertSqlSafe(format!(
        "GRANT workos_app TO \"{}\"",
        login.name()
    )))
    .await
    .expect("grant workos_app to the login role");
    let key_a = deployment.create_org("Login A").await;
    let key_b = deployment.create_org("Login B").await;
    let server = deployment.serve().await;
    let (status, company) = server
        .call(
            reqwest::Method::POST,
            "/api/v1/companies",
            &key_a,
            Some(json!({ "name": "Acme" })),
        )
        .await;
    assert_eq!(status, 201, "{company}\n{}", server.log());
    let path = format!(
        "/api/v1/companies/{}",
        company["id"].as_str().expect("an id")
    );
    let (status, read) = server.call(reqwest::Method::GET, &path, &key_a, None).await;
    assert_eq!((status, read["name"].clone()), (200, json!("Acme")));
    let (status, _) = server.call(reqwest::Method::GET, &path, &key_b, None).await;
    assert_eq!(status, 404, "another org's company is not found");

    let (sessions,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND datname = current_database()",
    )
    .bind(login.name())
    .fetch_one(pool)
    .await
    .expect("sessions");
    assert!(sessions > 0, "the server works as the login role");
    drop(server);
    owner.close().await;
}

/// With `WORKOS_ADMIN_BIND`, `/metrics` is served on that listener only: the public port
/// answers 404 for it, and still serves the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_to_the_admin_listener() {
    let db = TestDatabase::sqlite("workos-deploy");
    let deployment = Deployment::new(db.url(), None).with("WORKOS_ADMIN_BIND", "127.0.0.1:0");
    let key = deployment.create_org("Admin port").await;
    let server = deployment.serve().await;
    let admin: SocketAddr = server
        .log()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|json| json["fields"]["message"] == "admin listening")
        .and_then(|json| json["fields"]["admin_bind"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("the admin listener is logged:\n{}", server.log()))
        .parse()
        .expect("the admin address");
    assert_ne!(admin, server.addr, "two listeners");

    let (status, _) = server
        .call(reqwest::Method::GET, "/api/v1/companies", &key, None)
        .await;
    assert_eq!(status, 200, "the API is on the public port");
    let public = server
        .http
        .get(format!("http://{}/metrics", server.addr))
        .send()
        .await
        .expect("an answer");
    assert_eq!(public.status(), 404, "no metrics on the public port");

    let metrics = server
        .http
        .get(format!("http://{admin}/metrics"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.expect("a body");
    assert!(
        text.contains(r#"route="/api/v1/companies""#),
        "the admin listener serves the public port's metrics: {text}"
    );
    let api = server
        .http
        .get(format!("http://{admin}/api/v1/companies"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("an answer");
    assert_eq!(api.status(), 404, "no API on the admin listener");
}

#[test]
fn workos_admin_bind_must_be_an_address() {
    let env = |value: &'static str| {
        let (key, pepper) = (
            SecretKey::generate().to_base64(),
            SecretKey::generate().to_base64(),
        );
        move |name: &str| match name {
            "WORKOS_ADMIN_BIND" => Some(value.to_owned()),
            "WORKOS_ENCRYPTION_KEY" => Some(key.clone()),
            "WORKOS_API_KEY_PEPPER" => Some(pepper.clone()),
            _ => None,
        }
    };
    let e = Config::from_lookup(env("localhost")).expect_err("not an address");
    assert!(e.to_string().contains("WORKOS_ADMIN_BIND"), "{e}");
    let ok = Config::from_lookup(env("127.0.0.1:9091")).expect("an address");
    assert_eq!(
        ok.admin_bind,
        Some(SocketAddr::from(([127, 0, 0, 1], 9091)))
    );
    assert_eq!(
        Config::from_lookup(env("")).expect("blank").admin_bind,
        None
    );
}

/// One access line per request at the default level: method, route template, status, latency,
/// org and request id; never the body, the query string or the API key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_writes_one_access_line() {
    let db = TestDatabase::sqlite("workos-deploy");
    let deployment = Deployment::new(db.url(), None);
    let key = deployment.create_org("Logged").await;
    let server = deployment.serve().await;
    let secret_body = "a-body-value-that-must-not-be-logged";
    let created = server
        .http
        .post(format!(
            "http://{}/api/v1/companies?q=query-secret",
            server.addr
        ))
        .bearer_auth(&key)
        .header("x-request-id", "access-log-test-1")
        .json(&json!({ "name": secret_body }))
        .send()
        .await
        .expect("an answer");
    assert_eq!(created.status().as_u16(), 201);
    let company: Value = created.json().await.expect("a company");
    let refused = server
        .http
        .get(format!("http://{}/api/v1/companies", server.addr))
        .header("x-request-id", "access-log-test-2")
        .send()
        .await
        .expect("an answer");
    assert_eq!(refused.status().as_u16(), 401);

    // The lines are written as the requests end; wait for both (bounded, never timed).
    let access = |request_id: &str| {
        server.log.lock().expect("log").iter().find_map(|line| {
            let line: Value = serde_json::from_str(line).ok()?;
            (line["target"] == "workos::access" && line["fields"]["request_id"] == request_id)
                .then_some(line)
        })
    };
    for _ in 0..600 {
        if access("access-log-test-2").is_some() && access("access-log-test-1").is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let line =
        access("access-log-test-1").unwrap_or_else(|| panic!("no access line:\n{}", server.log()));
    assert_eq!(line["level"], "INFO");
    let fields = &line["fields"];
    assert_eq!(fields["message"], "request");
    assert_eq!(fields["method"], "POST");
    assert_eq!(fields["route"], "/api/v1/companies");
    assert_eq!(fields["status"], 201);
    assert!(
        fields["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
        "{line}"
    );
    assert_eq!(fields["org_id"], company["org_id"]);
    let refused = access("access-log-test-2").expect("the refused request's line");
    assert_eq!(
        (&refused["fields"]["status"], &refused["fields"]["org_id"]),
        (&json!(401), &json!("-"))
    );

    let log = server.log();
    let lines = log
        .lines()
        .filter(|l| l.contains("access-log-test-1"))
        .count();
    assert_eq!(lines, 1, "one line for the request:\n{log}");
    for secret in [secret_body, "query-secret", key.as_str()] {
        assert!(!log.contains(secret), "{secret} is not logged:\n{log}");
    }
}

// ---------------------------------------------------------------------------------------------
// Shutdown

/// Accepts connections and never answers them: a partner that keeps every delivery waiting.
/// Answers its URL and how many connections it took.
async fn silent_receiver() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/leads", listener.local_addr().expect("address"));
    let taken = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = taken.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(socket);
        }
    });
    (url, taken)
}

/// Two counts read by one statement in the org's own transaction: the suites' role is
/// subject to RLS like any (CI connects as an ordinary role, and RLS is forced on the tables'
/// owner).
async fn org_counts(pool: &sqlx::PgPool, org: uuid::Uuid, sql: &str) -> (i64, i64) {
    let mut tx = pool
        .begin_with(sqlx::AssertSqlSafe(format!(
            "BEGIN; SET LOCAL ROLE workos_app; SET LOCAL workos.org_id = '{org}'"
        )))
        .await
        .expect("the org's transaction");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_one(&mut *tx)
        .await
        .expect("the counts")
}

/// The org of a record the API answered with.
fn org_of(record: &Value) -> uuid::Uuid {
    record["org_id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("the record's org")
}

/// Waits (up to a minute) until `who` has connected to the silent receiver.
async fn until_connected(taken: &std::sync::atomic::AtomicUsize, server: &Running, who: &str) {
    let reached = || taken.load(std::sync::atomic::Ordering::SeqCst) > 0;
    for _ in 0..600 {
        if reached() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reached(), "{who} reached the receiver:\n{}", server.log());
}

/// SIGTERMs a busy server: it must stop within the deadline and a margin for a loaded
/// machine. Answers how long it took and how it exited, for the messages that follow.
async fn terminate_in_time(
    server: &mut Running,
    deadline_secs: u64,
) -> (Duration, Option<std::process::ExitStatus>) {
    let (stopped_in, exit) = server.terminate().await;
    assert!(
        exit.is_some() && stopped_in < Duration::from_secs(deadline_secs + 20),
        "SIGTERM stops the server within the deadline and a margin ({stopped_in:?}, {exit:?}):\n{}",
        server.log()
    );
    (stopped_in, exit)
}

/// SIGTERM with thousands of lead deliveries pending to a partner that never answers: the
/// server stops within `WORKOS_SHUTDOWN_TIMEOUT_SECS` (plus a generous margin for a loaded
/// machine), and hands back every delivery it had claimed (no lease left), so another process
/// takes them at once instead of when the leases run out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_backlog_stops_in_time_and_hands_deliveries_back() {
    use workos_core::domain::NewLead;
    use workos_core::repo::RoutingRepo as _;
    use workos_core::tenant::TenantContext;

    const BACKLOG: usize = 3_000;
    const DEADLINE_SECS: u64 = 5;
    let Some(db) = TestDatabase::postgres("workos_deploy").await else {
        return;
    };
    let (url, taken) = silent_receiver().await;
    let deployment = Deployment::new(db.url(), None)
        .with("WORKOS_WEBHOOK_ALLOWED_SUBNETS", "127.0.0.0/8")
        .with("WORKOS_WEBHOOK_TIMEOUT_SECS", "30")
        .with("WORKOS_LEAD_ROUTING_INTERVAL_SECS", "0")
        .with("WORKOS_SHUTDOWN_TIMEOUT_SECS", &DEADLINE_SECS.to_string());
    let key = deployment.create_org("Backlog").await;

    // The partner (with its signing secret) through a server without delivery workers, then
    // the backlog straight through the store.
    let mut setup = deployment
        .serve_with(&["serve", "--no-webhook-workers"])
        .await;
    let (status, partner) = setup
        .call(
            reqwest::Method::POST,
            "/api/v1/partners",
            &key,
            Some(json!({ "name": "Slow", "delivery": { "kind": "webhook", "url": url } })),
        )
        .await;
    assert_eq!(status, 201, "{partner}\n{}", setup.log());
    let (stopped_in, exit) = setup.terminate().await;
    assert!(
        exit.is_some_and(|s| s.success()) && stopped_in < Duration::from_secs(DEADLINE_SECS + 20),
        "an idle server stops at once ({stopped_in:?}, {exit:?}):\n{}",
        setup.log()
    );
    let store = SqlStore::connect(db.url()).await.expect("connect");
    let pool = store.pg_pool().expect("Postgres").clone();
    let org = org_of(&partner);
    let ctx = TenantContext::system(workos_core::ids::OrgId::from_uuid(org), "backlog");
    for i in 0..BACKLOG {
        let new = NewLead {
            email: Some(
                workos_core::domain::EmailAddress::parse(&format!("lead{i}@example.com"))
                    .expect("email"),
            ),
            ..NewLead::default()
        };
        store
            .capture_and_route_lead(&ctx, new, chrono::Utc::now())
            .await
            .expect("capture and route");
    }
    let pending = || {
        org_counts(
            &pool,
            org,
            "SELECT count(*) FILTER (WHERE status = 'pending'),
                    count(*) FILTER (WHERE lease_until IS NOT NULL) FROM lead_deliveries",
        )
    };
    assert_eq!(pending().await, (BACKLOG as i64, 0), "the backlog");

    // The real server with its lead sender: it claims a batch and sends into the silence.
    let mut server = deployment.serve().await;
    until_connected(&taken, &server, "the lead sender").await;
    let (_, leased) = pending().await;
    assert!(leased > 0, "a batch is claimed");

    let (stopped_in, exit) = terminate_in_time(&mut server, DEADLINE_SECS).await;
    let (pending_after, leased_after) = pending().await;
    assert_eq!(
        leased_after,
        0,
        "every claimed delivery was handed back ({exit:?} after {stopped_in:?}):\n{}",
        server.log()
    );
    assert_eq!(
        pending_after, BACKLOG as i64,
        "none was recorded as attempted: the partner never answered"
    );
    store.close().await;
}

/// SIGTERM with thousands of webhook deliveries due to an endpoint that never answers: the
/// server stops within `WORKOS_SHUTDOWN_TIMEOUT_SECS` (plus a margin), and no delivery is
/// left under its lease: the ones claimed but not started are handed back at once, the ones
/// being sent after the worker's short grace. So another process sends them at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_webhook_backlog_hands_the_deliveries_back() {
    use workos_core::domain::NewPerson;
    use workos_core::repo::PersonRepo as _;
    use workos_core::tenant::TenantContext;

    const BACKLOG: usize = 2_000;
    const DEADLINE_SECS: u64 = 5;
    let Some(db) = TestDatabase::postgres("workos_deploy").await else {
        return;
    };
    let (url, taken) = silent_receiver().await;
    let deployment = Deployment::new(db.url(), None)
        .with("WORKOS_WEBHOOK_ALLOWED_SUBNETS", "127.0.0.0/8")
        .with("WORKOS_WEBHOOK_TIMEOUT_SECS", "30")
        .with("WORKOS_SHUTDOWN_TIMEOUT_SECS", &DEADLINE_SECS.to_string());
    let key = deployment.create_org("Backlog").await;

    // The endpoint through a server without delivery workers, then the events straight
    // through the store.
    let mut setup = deployment
        .serve_with(&["serve", "--no-webhook-workers"])
        .await;
    let (status, endpoint) = setup
        .call(
            reqwest::Method::POST,
            "/api/v1/webhooks",
            &key,
            Some(json!({ "url": url, "event_types": ["person.created"] })),
        )
        .await;
    assert_eq!(status, 201, "{endpoint}\n{}", setup.log());
    let (_, exit) = setup.terminate().await;
    assert!(exit.is_some_and(|s| s.success()), "{}", setup.log());
    let store = SqlStore::connect(db.url()).await.expect("connect");
    let pool = store.pg_pool().expect("Postgres").clone();
    let org = org_of(&endpoint);
    let ctx = TenantContext::system(workos_core::ids::OrgId::from_uuid(org), "backlog");
    for i in 0..BACKLOG {
        let new = NewPerson {
            first_name: Some(format!("Person {i}")),
            ..NewPerson::default()
        };
        store.create_person(&ctx, new).await.expect("create person");
    }
    // Deliveries under a lease (ending later than now) and not yet attempted, in the org's
    // own transaction (the suites' role is subject to RLS).
    let leased = || {
        org_counts(
            &pool,
            org,
            "SELECT count(*) FILTER (WHERE locked_until > now()),
                    count(*) FILTER (WHERE attempts = 0) FROM webhook_deliveries",
        )
    };

    // The real server with its pipeline: it fans the events out, claims and sends into the
    // silence.
    let mut server = deployment.serve().await;
    until_connected(&taken, &server, "the webhook worker").await;
    let (leased_before, _) = leased().await;
    assert!(leased_before > 0, "deliveries are claimed");

    let (stopped_in, exit) = terminate_in_time(&mut server, DEADLINE_SECS).await;
    let (leased_after, unattempted) = leased().await;
    assert_eq!(
        leased_after,
        0,
        "every claimed delivery was handed back ({exit:?} after {stopped_in:?}):\n{}",
        server.log()
    );
    let (fanned_out, _) = org_counts(
        &pool,
        org,
        "SELECT count(*), 0::bigint FROM webhook_deliveries",
    )
    .await;
    assert_eq!(
        unattempted, fanned_out,
        "none was recorded as attempted: the endpoint never answered"
    );
    store.close().await;
}
