//! One deployment, many processes (issue 15), with real `workos-server` processes on one
//! Postgres: limits shared through Redis, revocations heard by every process, the pool's
//! settings and timeouts, one first-run org, and a database that goes away and comes back
//! (through a TCP proxy the test cuts and restores; the shared cluster is never restarted).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::Connection as _;
use workos_core::repo::Directory as _;
use workos_reference_server::config::DatabaseConfig;
use workos_store::SqlStore;
use workos_tests::db::TestDatabase;

use crate::deploy::{Deployment, Running};

/// The Redis the shared limits use (`WORKOS_REDIS_URL`, default `redis://127.0.0.1:6379`),
/// when one answers. Without one the test says so and passes, unless `WORKOS_REQUIRE_REDIS=1`
/// (CI), which turns that into a failure.
async fn redis_url() -> Option<String> {
    let url = std::env::var("WORKOS_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let addr = url
        .trim_start_matches("redis://")
        .rsplit('@')
        .next()
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default()
        .to_owned();
    if tokio::net::TcpStream::connect(&addr).await.is_ok() {
        return Some(url);
    }
    assert!(
        std::env::var("WORKOS_REQUIRE_REDIS").as_deref() != Ok("1"),
        "WORKOS_REQUIRE_REDIS=1 but no Redis answers at {addr}"
    );
    eprintln!("no Redis at {addr}: the shared-limit test is skipped");
    None
}

/// Three `serve` processes of `deployment`, started together.
async fn three(deployment: &Deployment, args: &[&str]) -> [Running; 3] {
    let (a, b, c) = tokio::join!(
        deployment.serve_with(args),
        deployment.serve_with(args),
        deployment.serve_with(args)
    );
    [a, b, c]
}

/// Three server processes on one database and one Redis let one key through at its limit
/// once, not once per process (without Redis, each would let the whole limit through).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_share_one_limit_through_redis() {
    let Some(db) = TestDatabase::postgres("workos_scale").await else {
        return;
    };
    let Some(redis) = redis_url().await else {
        return;
    };
    const PER_MINUTE: u32 = 30;
    let deployment = Deployment::new(db.url(), None)
        .with("WORKOS_REDIS_URL", &redis)
        .with("WORKOS_RATE_LIMIT_PER_MINUTE", &PER_MINUTE.to_string());
    let key = deployment.create_org("Shared").await;
    let servers = three(&deployment, &["serve", "--no-webhook-workers"]).await;

    let started = Instant::now();
    let (mut accepted, mut refused) = (0_u32, 0_u32);
    // 150 requests, 10 at a time, spread evenly over the three processes.
    for batch in 0..15 {
        let calls = (0..10)
            .map(|i| servers[(batch * 10 + i) % 3].call(Method::GET, "/api/v1/people", &key, None));
        for (status, body) in futures_util::future::join_all(calls).await {
            match status {
                200 => accepted += 1,
                429 => refused += 1,
                other => panic!("{other}: {body}"),
            }
        }
    }
    let elapsed = started.elapsed();
    // The burst of 30, then one more every 2 s of the run.
    let budget = f64::from(PER_MINUTE) + (elapsed.as_secs_f64() / 2.0).ceil();
    eprintln!("accepted {accepted}, refused {refused}, in {elapsed:?} (budget {budget})");
    assert_eq!(accepted + refused, 150);
    assert!(
        accepted >= PER_MINUTE,
        "the whole burst is served: {accepted}"
    );
    assert!(
        f64::from(accepted) <= budget * 1.1,
        "the three processes together hold the key to its limit within 10 %: {accepted} \
         accepted, budget {budget}"
    );
}

/// A key revoked through one process stops working on the two others, although each had it
/// cached for five minutes: the revocation's notification reaches them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_stops_working_on_every_process() {
    let Some(db) = TestDatabase::postgres("workos_scale").await else {
        return;
    };
    let deployment = Deployment::new(db.url(), None).with("WORKOS_API_KEY_CACHE_SECS", "300");
    let owner = deployment.create_org("Revoke").await;
    let servers = three(&deployment, &["serve", "--no-webhook-workers"]).await;

    let (status, created) = servers[0]
        .call(
            Method::POST,
            "/api/v1/api-keys",
            &owner,
            Some(json!({ "name": "doomed", "role": "member" })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let doomed = created["api_key"].as_str().expect("the secret").to_owned();
    let id = created["id"].as_str().expect("the key's id").to_owned();
    // Every process reads it once, and keeps it.
    for server in &servers {
        let (status, body) = server
            .call(Method::GET, "/api/v1/people", &doomed, None)
            .await;
        assert_eq!(status, 200, "{body}");
    }

    let (status, body) = servers[0]
        .call(
            Method::DELETE,
            &format!("/api/v1/api-keys/{id}"),
            &owner,
            None,
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let revoked = Instant::now();
    for (n, server) in servers.iter().enumerate() {
        // A generous bound, far below the cache's 300 s: only the notification explains a
        // refusal within it.
        loop {
            let (status, _) = server
                .call(Method::GET, "/api/v1/people", &doomed, None)
                .await;
            if status == 401 {
                break;
            }
            assert_eq!(status, 200);
            assert!(
                revoked.elapsed() < Duration::from_secs(20),
                "process {n} still accepts the revoked key:\n{}",
                server.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        eprintln!(
            "process {n} refused the key {:?} after the revocation",
            revoked.elapsed()
        );
    }
    // The owner's key still works everywhere.
    for server in &servers {
        let (status, _) = server
            .call(Method::GET, "/api/v1/people", &owner, None)
            .await;
        assert_eq!(status, 200);
    }
}

/// `WORKOS_DB_*` reach every connection of the pool, with defaults when unset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_settings_reach_every_connection() {
    let Some(db) = TestDatabase::postgres("workos_scale").await else {
        return;
    };
    let url = db.url().to_owned();
    let show = |store: SqlStore| async move {
        let pool = store.pg_pool().expect("postgres").clone();
        let mut answers = Vec::new();
        for name in [
            "statement_timeout",
            "lock_timeout",
            "idle_in_transaction_session_timeout",
        ] {
            let (value,): (String,) = sqlx::query_as(sqlx::AssertSqlSafe(format!("SHOW {name}")))
                .fetch_one(&pool)
                .await
                .expect("show");
            answers.push(value);
        }
        let size = pool.options().get_max_connections();
        store.close().await;
        (answers, size)
    };

    let set = DatabaseConfig::from_lookup(|name| match name {
        "DATABASE_URL" => Some(url.clone()),
        "WORKOS_DB_POOL_SIZE" => Some("3".into()),
        "WORKOS_DB_STATEMENT_TIMEOUT_MS" => Some("1234".into()),
        "WORKOS_DB_LOCK_TIMEOUT_MS" => Some("250".into()),
        "WORKOS_DB_IDLE_IN_TX_TIMEOUT_MS" => Some("0".into()),
        _ => None,
    })
    .expect("valid settings");
    let store = SqlStore::connect_with(&url, &set.pool)
        .await
        .expect("connect");
    let (answers, size) = show(store).await;
    assert_eq!(answers, ["1234ms", "250ms", "0"], "0 is no timeout");
    assert_eq!(size, 3);

    let defaults =
        DatabaseConfig::from_lookup(|name| (name == "DATABASE_URL").then(|| url.clone()))
            .expect("defaults");
    let store = SqlStore::connect_with(&url, &defaults.pool)
        .await
        .expect("connect");
    let (answers, size) = show(store).await;
    assert_eq!(answers, ["30s", "10s", "1min"]);
    assert_eq!(size, 16);

    for (name, value) in [
        ("WORKOS_DB_POOL_SIZE", "0"),
        ("WORKOS_DB_STATEMENT_TIMEOUT_MS", "soon"),
    ] {
        let refused = DatabaseConfig::from_lookup(|n| (n == name).then(|| value.to_owned()))
            .expect_err("refused");
        assert!(refused.to_string().contains(name), "{refused}");
    }
}

/// A request whose statement waits for a lock longer than `WORKOS_DB_LOCK_TIMEOUT_MS` gets a
/// 503 problem (not a hang, not a 500), and the same request succeeds once the lock is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_past_its_timeout_is_a_503_problem() {
    let Some(db) = TestDatabase::postgres("workos_scale").await else {
        return;
    };
    let deployment = Deployment::new(db.url(), None).with("WORKOS_DB_LOCK_TIMEOUT_MS", "300");
    let key = deployment.create_org("Locked").await;
    let server = deployment
        .serve_with(&["serve", "--no-webhook-workers"])
        .await;

    // Another session (the tables' owner) holds the people table.
    let mut holder = sqlx::PgConnection::connect(db.url())
        .await
        .expect("connect");
    sqlx::query("BEGIN")
        .execute(&mut holder)
        .await
        .expect("begin");
    sqlx::query("LOCK TABLE people IN ACCESS EXCLUSIVE MODE")
        .execute(&mut holder)
        .await
        .expect("lock");
    let person = json!({ "first_name": "Ada" });
    let (status, problem) = server
        .call(Method::POST, "/api/v1/people", &key, Some(person.clone()))
        .await;
    if status != 503 {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(status, 503, "{problem}\n{}", server.log());
    assert_eq!(
        problem["type"], "urn:workos:problem:unavailable",
        "{problem}"
    );

    sqlx::query("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("rollback");
    let (status, created) = server
        .call(Method::POST, "/api/v1/people", &key, Some(person))
        .await;
    assert_eq!(status, 201, "{created}");
}

/// Processes starting together on an empty database create one first org between them; in
/// production none is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_first_run_org_however_many_processes_start() {
    let Some(db) = TestDatabase::postgres("workos_scale").await else {
        return;
    };
    let deployment = Deployment::new(db.url(), None);
    deployment.run(&["migrate"]).await.success();
    let servers = three(&deployment, &["serve", "--no-webhook-workers"]).await;
    let creators: Vec<&Running> = servers
        .iter()
        .filter(|s| s.log().contains("Created a first org"))
        .collect();
    assert_eq!(
        creators.len(),
        1,
        "one process creates the org:\n{}",
        servers
            .iter()
            .map(Running::log)
            .collect::<Vec<_>>()
            .join("\n---\n")
    );
    let store = SqlStore::connect(db.url()).await.expect("connect");
    assert!(store.has_orgs().await.expect("orgs"));
    store.close().await;
    drop(servers);

    let Some(production_db) = TestDatabase::postgres("workos_scale").await else {
        return;
    };
    let production = Deployment::new(production_db.url(), None).with("WORKOS_ENV", "production");
    let server = production
        .serve_with(&["serve", "--no-webhook-workers"])
        .await;
    assert!(
        !server.log().contains("Created a first org"),
        "{}",
        server.log()
    );
    let store = SqlStore::connect(production_db.url())
        .await
        .expect("connect");
    assert!(
        !store.has_orgs().await.expect("orgs"),
        "production creates no org"
    );
    store.close().await;
}

/// A TCP proxy in front of Postgres that the test can cut (every connection closed, new ones
/// closed on arrival, as by a restarting server) and restore.
struct Proxy {
    addr: SocketAddr,
    open: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let open = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (is_open, all) = (open.clone(), links.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !is_open.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let link = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                all.lock().expect("links").push(link);
            }
        });
        Self {
            addr,
            open,
            links,
            accept,
        }
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for link in self.links.lock().expect("links").drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// Calls `path` until it answers `want`, each answer within the client's timeout (a hang
/// fails); at most `tries` times, 250 ms apart.
async fn until_status(server: &Running, path: &str, key: &str, want: u16, tries: u32) -> Value {
    let mut last = (0, Value::Null);
    for _ in 0..tries {
        last = server.call(Method::GET, path, key, None).await;
        if last.0 == want {
            return last.1;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!(
        "{path} never answered {want} (last {} {}):\n{}",
        last.0,
        last.1,
        server.log()
    );
}

/// The database goes away under a running server and comes back: `/readyz` turns 503 and
/// then 200 by itself, requests meanwhile fail with a 503 problem (never hang), and afterwards
/// writes work, their events are in the log and the webhook workers deliver them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_going_away_and_back() {
    let Some(db) = TestDatabase::postgres("workos_scale").await else {
        return;
    };
    let mut direct = reqwest::Url::parse(db.url()).expect("the test database's URL");
    let upstream: SocketAddr = format!(
        "{}:{}",
        direct.host_str().expect("host"),
        direct.port().unwrap_or(5432)
    )
    .parse()
    .expect("Postgres on an address");
    let proxy = Proxy::start(upstream).await;
    direct.set_port(Some(proxy.addr.port())).expect("port");
    let proxied = direct
        .as_str()
        .replace(&upstream.ip().to_string(), "127.0.0.1");
    // Migrations go straight to the database; the server works through the proxy.
    let deployment = Deployment::new(&proxied, Some(db.url()));
    let key = deployment.create_org("Outage").await;
    let server = deployment.serve().await;
    until_status(&server, "/readyz", "", 200, 1).await;

    proxy.cut();
    until_status(&server, "/readyz", "", 503, 40).await;
    for (method, body) in [
        (Method::GET, None),
        (Method::POST, Some(json!({ "first_name": "Lost" }))),
    ] {
        let (status, problem) = server
            .call(method.clone(), "/api/v1/people", &key, body)
            .await;
        if status != 503 {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        assert_eq!(
            status,
            503,
            "{method} during the outage: {problem}\n{}",
            server.log()
        );
        assert_eq!(
            problem["type"], "urn:workos:problem:unavailable",
            "{problem}"
        );
    }

    proxy.restore();
    until_status(&server, "/readyz", "", 200, 80).await;
    let (status, person) = server
        .call(
            Method::POST,
            "/api/v1/people",
            &key,
            Some(json!({ "first_name": "Back" })),
        )
        .await;
    assert_eq!(status, 201, "{person}");
    let events = until_status(&server, "/api/v1/events?type=person.created", &key, 200, 20).await;
    let ids: Vec<&Value> = events["data"]
        .as_array()
        .expect("a page")
        .iter()
        .map(|e| &e["subject"]["id"])
        .collect();
    assert!(
        ids.contains(&&person["id"]),
        "the write's event is in the log: {events}"
    );
}

/// `WORKOS_REDIS_URL` and `WORKOS_ORG_RATE_LIMIT_PER_MINUTE` are checked when the configuration
/// is read, and a bad Redis URL is named without being repeated (it may hold a password).
#[test]
fn redis_and_org_limit_settings_are_checked() {
    use workos_core::crypto::SecretKey;
    use workos_reference_server::config::Config;
    let (key, pepper) = (
        SecretKey::generate().to_base64(),
        SecretKey::generate().to_base64(),
    );
    let read = |name: &'static str, value: &'static str| {
        Config::from_lookup(|n| match n {
            "WORKOS_ENCRYPTION_KEY" => Some(key.clone()),
            "WORKOS_API_KEY_PEPPER" => Some(pepper.clone()),
            n if n == name => Some(value.to_owned()),
            _ => None,
        })
    };
    let fine = read("WORKOS_REDIS_URL", "redis://:pw@10.0.0.7:6379/2").expect("a Redis URL");
    assert_eq!(
        fine.redis_url.as_deref(),
        Some("redis://:pw@10.0.0.7:6379/2")
    );
    assert_eq!(fine.org_rate_limit_per_minute, None);
    let refused = read("WORKOS_REDIS_URL", "http://user:s3cret@cache:6379")
        .expect_err("not a Redis URL")
        .to_string();
    assert!(refused.contains("WORKOS_REDIS_URL"), "{refused}");
    assert!(!refused.contains("s3cret"), "{refused}");
    let org = read("WORKOS_ORG_RATE_LIMIT_PER_MINUTE", "600").expect("a limit");
    assert_eq!(org.org_rate_limit_per_minute, Some(600));
    for bad in ["0", "lots"] {
        let refused = read("WORKOS_ORG_RATE_LIMIT_PER_MINUTE", bad)
            .expect_err("refused")
            .to_string();
        assert!(
            refused.contains("WORKOS_ORG_RATE_LIMIT_PER_MINUTE"),
            "{refused}"
        );
    }
}
