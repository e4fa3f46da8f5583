//! Reliability of webhook delivery across processes, on Postgres: the real `workos-server`
//! binary as separate API and worker processes sharing one database, and an in-test receiver.
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!   cargo test -p workos-tests --test webhook_reliability
//! ```
//!
//! - `worker_killed_mid_run_loses_nothing`: 1,000 events; a worker is `kill -9`ed after ~250
//!   deliveries and another one started: every event arrives, duplicates keep their
//!   `webhook-id`.
//! - `two_workers_never_send_one_delivery_at_once`: two workers over 1,000 events, the receiver
//!   holding each request 20–50 ms: no `webhook-id` is ever in flight twice, every event arrives.
//! - `retries_follow_the_schedule`: a receiver failing 3 times then succeeding gets exactly 4
//!   attempts (`succeeded`); a receiver that is down gets the 5 attempts of the schedule
//!   (`failed`).
//!
//! Without `DATABASE_URL` the tests print "Postgres tests SKIPPED: DATABASE_URL is not set"
//! (`workos_tests::db`) and pass, unless `WORKOS_REQUIRE_POSTGRES=1`.
//!
//! **The binary.** An integration test of another package has no `CARGO_BIN_EXE_workos-server`
//! (and artifact dependencies are unstable), so the first test builds it once per run with
//! `$CARGO build -p workos-reference-server --bin workos-server --message-format=json-render-diagnostics`
//! from the workspace root (the environment, `CARGO_TARGET_DIR` included, is inherited, less the
//! `CARGO_PKG_*`/`CARGO_MANIFEST_*`/… variables cargo sets for tests: build scripts such as ring's
//! rerun when those change, which would rebuild much of the tree on every run; `--release` when
//! the test itself is built without debug assertions) and takes the path from the
//! `executable` field of the `compiler-artifact` message: no guessing of the target directory
//! or profile. `WORKOS_SERVER_BIN=/path/to/workos-server` skips the build.
//!
//! **Each test** creates a database `workos_rel_<uuid>` on `DATABASE_URL`'s server (dropped at the
//! end, `WITH (FORCE)`), generates an encryption key and an API key pepper shared by every
//! process, runs `workos-server admin create-org`, then `workos-server serve --no-webhook-workers`
//! on a free port, and registers an endpoint for `company.created` at an axum receiver on
//! `127.0.0.1:0` that checks every signature with `workos_webhooks::signing::verify`. Processes
//! get `WORKOS_WEBHOOK_RETRY_SCHEDULE=0,1,1,1,1`, `WORKOS_WEBHOOK_TIMEOUT_SECS=5` (so a claim's
//! lease is 35 s), `WORKOS_WEBHOOK_ALLOWED_SUBNETS=127.0.0.0/8` and `WORKOS_LOG=warn`; their
//! stderr goes to a file, printed when a test fails. A guard kills (SIGKILL) and reaps every child
//! process on the way out, failure included. The tests run one at a time (they time things).

use std::collections::{HashMap, HashSet};
use std::hash::{Hash as _, Hasher as _};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use uuid::Uuid;
use workos_core::crypto::SecretKey;
use workos_tests::db::TestDatabase;
use workos_webhooks::signing::{self, WebhookSecret};

/// Events created by the two large tests.
const EVENTS: usize = 1000;
/// Concurrent company creations.
const CREATE_CONCURRENCY: usize = 16;
/// The retry schedule of every process: 5 attempts, about 1 s apart.
const RETRY_SCHEDULE: &str = "0,1,1,1,1";

/// The tests time things and start several processes each: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_killed_mid_run_loses_nothing() {
    let _serial = SERIAL.lock().await;
    let Some(mut h) = Harness::start("kill9").await else {
        return;
    };
    let receiver = Receiver::start(Mode::Answer {
        hold_ms: 2..=2,
        fail_first: 0,
    })
    .await;
    let hook = h.register_webhook(&receiver.url()).await;
    receiver.set_secret(&hook.secret);
    let companies = h.create_companies(EVENTS).await;

    let first = h.spawn("worker-1", &["worker"], &[]);
    wait_until(&mut h, Duration::from_secs(60), "250 deliveries", |_| {
        receiver.arrivals() >= 250
    })
    .await;
    h.kill(first);
    let at_kill = receiver.snapshot();
    let distinct_at_kill = at_kill.by_event.len();
    assert!(
        distinct_at_kill < EVENTS,
        "every event was delivered before the worker was killed: nothing was interrupted"
    );

    let started = Instant::now();
    let _second = h.spawn("worker-2", &["worker"], &[]);
    wait_until(
        &mut h,
        Duration::from_secs(120),
        "every event delivered",
        |_| receiver.subjects_seen(&companies) == EVENTS,
    )
    .await;
    let recovered_in = started.elapsed();
    // Every delivery is recorded as succeeded, the ones the killed worker had sent included.
    let api = &h;
    wait_until_async(Duration::from_secs(30), "every delivery succeeded", || {
        api.all_deliveries_succeeded(&hook)
    })
    .await;

    let log = receiver.snapshot();
    log.assert_clean();
    let report = log.duplicates(&companies);
    let stderr = std::io::stderr();
    let _ = writeln!(
        stderr.lock(),
        "kill -9: worker 1 killed after {} arrivals ({distinct_at_kill} distinct events); \
         worker 2 completed in {:.1} s; {} arrivals for {EVENTS} events: {} duplicate \
         deliveries of {} events (all with their original webhook-id)",
        at_kill.arrivals,
        recovered_in.as_secs_f64(),
        log.arrivals,
        report.duplicates,
        report.events_duplicated,
    );
    assert_eq!(log.arrivals, EVENTS + report.duplicates);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_never_send_one_delivery_at_once() {
    let _serial = SERIAL.lock().await;
    let Some(mut h) = Harness::start("two_workers").await else {
        return;
    };
    let receiver = Receiver::start(Mode::Answer {
        hold_ms: 20..=50,
        fail_first: 0,
    })
    .await;
    let hook = h.register_webhook(&receiver.url()).await;
    receiver.set_secret(&hook.secret);
    let companies = h.create_companies(EVENTS).await;

    // Debug logs of the worker module only: each claimed batch is logged, so the test can tell
    // that both workers took part.
    let debug = [("WORKOS_LOG", "warn,workos_webhooks::worker=debug")];
    let a = h.spawn("worker-a", &["worker"], &debug);
    let b = h.spawn("worker-b", &["worker"], &debug);
    let started = Instant::now();
    wait_until(
        &mut h,
        Duration::from_secs(120),
        "every event delivered",
        |_| receiver.subjects_seen(&companies) == EVENTS,
    )
    .await;
    let elapsed = started.elapsed();
    let api = &h;
    wait_until_async(Duration::from_secs(30), "every delivery succeeded", || {
        api.all_deliveries_succeeded(&hook)
    })
    .await;
    assert!(h.running(a) && h.running(b), "a worker exited");

    let log = receiver.snapshot();
    log.assert_clean();
    assert!(
        log.overlaps.is_empty(),
        "{} webhook-ids were in flight twice at once, e.g. {:?}",
        log.overlaps.len(),
        log.overlaps.iter().take(5).collect::<Vec<_>>()
    );
    let report = log.duplicates(&companies);
    let (claimed_a, claimed_b) = (h.claimed(a), h.claimed(b));
    let stderr = std::io::stderr();
    let _ = writeln!(
        stderr.lock(),
        "two workers: {EVENTS} events delivered in {:.1} s; worker a claimed {claimed_a}, \
         worker b {claimed_b}; most requests in flight at once: {}; duplicates: {}",
        elapsed.as_secs_f64(),
        log.max_in_flight,
        report.duplicates,
    );
    // Nothing failed, so nothing is sent twice: a duplicate would be a claim given to both.
    assert_eq!(
        report.duplicates, 0,
        "deliveries were sent more than once without any failure"
    );
    assert_eq!(
        claimed_a + claimed_b,
        EVENTS,
        "the workers' claims add up to the deliveries"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_follow_the_schedule() {
    let _serial = SERIAL.lock().await;
    let Some(mut h) = Harness::start("retries").await else {
        return;
    };
    let flaky = Receiver::start(Mode::Answer {
        hold_ms: 0..=0,
        fail_first: 3,
    })
    .await;
    let flaky_hook = h.register_webhook(&flaky.url()).await;
    flaky.set_secret(&flaky_hook.secret);
    // Down for good: a port nothing listens on (connection refused).
    let dead_url = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("local addr").port();
        format!("http://127.0.0.1:{port}/webhooks")
    };
    let dead_hook = h.register_webhook(&dead_url).await;
    h.create_companies(1).await;
    let _worker = h.spawn("worker", &["worker"], &[]);

    let mut finished: HashMap<String, Value> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while finished.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the deliveries were not final after 60 s: {finished:?}"
        );
        if let Some(exited) = h.exited() {
            panic!("waiting for the retries: {exited}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        for id in [&flaky_hook.id, &dead_hook.id] {
            let page = h.get(&format!("/api/v1/webhooks/{id}/deliveries")).await;
            if let Some([delivery]) = page["data"].as_array().map(Vec::as_slice)
                && matches!(delivery["status"].as_str(), Some("succeeded" | "failed"))
            {
                finished.insert(id.clone(), delivery.clone());
            }
        }
    }

    // Failing three times, then succeeding: exactly four attempts.
    let delivery = &finished[&flaky_hook.id];
    assert_eq!(delivery["status"], "succeeded", "{delivery}");
    assert_eq!(delivery["attempts"], 4, "{delivery}");
    let attempts = h.attempts(delivery).await;
    let codes: Vec<Value> = attempts.iter().map(|a| a["status_code"].clone()).collect();
    assert_eq!(codes, [json!(500), json!(500), json!(500), json!(204)]);
    assert_spaced(&attempts);
    let log = flaky.snapshot();
    log.assert_clean();
    let msg_id = format!("msg_{}", id_of(delivery).simple());
    assert_eq!(
        log.by_msg,
        HashMap::from([(msg_id, 4)]),
        "the receiver saw four requests, all with the delivery's webhook-id"
    );

    // Down for good: the five attempts of the schedule, then `failed`.
    let delivery = &finished[&dead_hook.id];
    assert_eq!(delivery["status"], "failed", "{delivery}");
    assert_eq!(delivery["attempts"], 5, "{delivery}");
    let attempts = h.attempts(delivery).await;
    assert_eq!(attempts.len(), 5);
    for (i, a) in attempts.iter().enumerate() {
        assert_eq!(a["error_kind"], "connect", "attempt {i}: {a}");
        assert!(a["status_code"].is_null(), "attempt {i}: {a}");
        assert_eq!(a["next_attempt_at"].is_null(), i == 4, "attempt {i}: {a}");
    }
    assert_spaced(&attempts);
    let stderr = std::io::stderr();
    let _ = writeln!(
        stderr.lock(),
        "retries: flaky receiver succeeded on attempt 4; dead receiver failed after 5 attempts"
    );
}

/// Attempts after the first come about a second apart (the schedule's 1 s, ±10 % jitter).
fn assert_spaced(attempts: &[Value]) {
    let times: Vec<chrono::DateTime<chrono::Utc>> = attempts
        .iter()
        .map(|a| {
            a["attempted_at"]
                .as_str()
                .and_then(|t| t.parse().ok())
                .unwrap_or_else(|| panic!("attempted_at of {a}"))
        })
        .collect();
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= chrono::Duration::milliseconds(850),
            "attempts {} and {} are only {gap} apart",
            pair[0],
            pair[1]
        );
    }
}

fn id_of(delivery: &Value) -> Uuid {
    delivery["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("delivery id in {delivery}"))
}

// ---------------------------------------------------------------------------------------------
// Environment, binary and database
// ---------------------------------------------------------------------------------------------

/// The `workos-server` binary, built once per test run (see the module docs).
fn server_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("WORKOS_SERVER_BIN") {
            return PathBuf::from(bin);
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_owned());
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the workspace root");
        let mut command = Command::new(cargo);
        // Cargo sets these for the test process; build scripts (ring's) rerun when they change,
        // so passing them on would rebuild half the tree here and again in the next plain build.
        for (name, _) in std::env::vars_os() {
            let n = name.to_string_lossy();
            if ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_CFG_"]
                .iter()
                .any(|p| n.starts_with(p))
                || [
                    "CARGO_CRATE_NAME",
                    "CARGO_BIN_NAME",
                    "CARGO_PRIMARY_PACKAGE",
                    "CARGO_TARGET_TMPDIR",
                    "CARGO_RUSTC_CURRENT_DIR",
                    "OUT_DIR",
                ]
                .contains(&n.as_ref())
            {
                command.env_remove(&name);
            }
        }
        command.current_dir(workspace).args([
            "build",
            "-p",
            "workos-reference-server",
            "--bin",
            "workos-server",
            "--message-format=json-render-diagnostics",
        ]);
        if !cfg!(debug_assertions) {
            command.arg("--release");
        }
        let output = command
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .expect("run cargo build for workos-server");
        assert!(
            output.status.success(),
            "cargo build -p workos-reference-server --bin workos-server failed"
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|m| {
                m["reason"] == "compiler-artifact" && m["target"]["name"] == "workos-server"
            })
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .expect("cargo reported no workos-server executable")
    })
    .clone()
}

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

/// A child process and the file its stderr goes to.
struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
    /// Killed on purpose: its exit is no failure.
    killed: bool,
}

/// A registered endpoint.
struct Hook {
    id: String,
    secret: String,
}

/// The processes of one test over their database. Dropping it kills every process (SIGKILL),
/// prints their logs when the test failed, and drops the database.
struct Harness {
    bin: PathBuf,
    env: Vec<(String, String)>,
    dir: PathBuf,
    procs: Vec<Proc>,
    base: String,
    http: reqwest::Client,
    api_key: String,
    // Dropped after `Harness::drop` has killed the processes.
    _db: TestDatabase,
}

impl Harness {
    /// A database, an org and its API key, and the API process; `None` without `DATABASE_URL`.
    async fn start(test: &str) -> Option<Self> {
        let db = TestDatabase::postgres("workos_rel").await?;
        let bin = server_binary();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let env = [
            ("DATABASE_URL", db.url().to_owned()),
            ("WORKOS_ENCRYPTION_KEY", SecretKey::generate().to_base64()),
            ("WORKOS_API_KEY_PEPPER", SecretKey::generate().to_base64()),
            ("WORKOS_WEBHOOK_ALLOWED_SUBNETS", "127.0.0.0/8".into()),
            ("WORKOS_WEBHOOK_RETRY_SCHEDULE", RETRY_SCHEDULE.into()),
            ("WORKOS_WEBHOOK_TIMEOUT_SECS", "5".into()),
            ("WORKOS_RATE_LIMIT_PER_MINUTE", "1000000".into()),
            ("WORKOS_BIND", format!("127.0.0.1:{port}")),
            ("WORKOS_LOG", "warn".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let dir = std::env::temp_dir().join(format!("workos-rel-{test}-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("create the test directory");
        let mut h = Self {
            bin,
            env,
            dir,
            procs: Vec::new(),
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
            api_key: String::new(),
            _db: db,
        };

        // The org (this also migrates the database).
        let output = h
            .command(&["admin", "create-org", "--name", "reliability"], &[])
            .stdin(Stdio::null())
            .output()
            .expect("run workos-server admin create-org");
        assert!(
            output.status.success(),
            "admin create-org failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let created: Value = String::from_utf8_lossy(&output.stdout)
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str(l).ok())
            .expect("admin create-org prints JSON");
        h.api_key = created["api_key"]
            .as_str()
            .expect("api_key in the output of admin create-org")
            .to_owned();

        let api = h.spawn("api", &["serve", "--no-webhook-workers"], &[]);
        let health = format!("{}/healthz", h.base);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = h.http.get(&health).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(h.running(api), "the API process exited");
            assert!(Instant::now() < deadline, "the API did not come up in 60 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Some(h)
    }

    fn command(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Command {
        let mut command = Command::new(&self.bin);
        // Nothing of the caller's configuration leaks in.
        for (name, _) in std::env::vars_os() {
            let n = name.to_string_lossy();
            if n.starts_with("WORKOS_") || n.starts_with("TWILIO_") {
                command.env_remove(&name);
            }
        }
        command
            .args(args)
            .current_dir(&self.dir)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(extra_env.iter().copied());
        command
    }

    /// Starts `workos-server <args>`; returns its index for [`Harness::kill`].
    fn spawn(&mut self, name: &str, args: &[&str], extra_env: &[(&str, &str)]) -> usize {
        let log = self.dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("create a log file");
        let child = self
            .command(args, extra_env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        self.procs.push(Proc {
            name: name.to_owned(),
            child,
            log,
            killed: false,
        });
        self.procs.len() - 1
    }

    /// `kill -9` (`Child::kill` sends SIGKILL), then reaps the process.
    fn kill(&mut self, index: usize) {
        let p = &mut self.procs[index];
        p.child.kill().expect("kill");
        let _ = p.child.wait();
        p.killed = true;
    }

    fn running(&mut self, index: usize) -> bool {
        matches!(self.procs[index].child.try_wait(), Ok(None))
    }

    /// Any child process that exited on its own (none should).
    fn exited(&mut self) -> Option<String> {
        self.procs
            .iter_mut()
            .filter(|p| !p.killed)
            .find_map(|p| match p.child.try_wait() {
                Ok(Some(status)) => Some(format!("{} exited ({status})", p.name)),
                _ => None,
            })
    }

    /// Deliveries a worker claimed, from its debug log ("webhook deliveries claimed").
    fn claimed(&self, index: usize) -> usize {
        let text = std::fs::read_to_string(&self.procs[index].log).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["fields"]["message"] == "webhook deliveries claimed")
            .filter_map(|l| l["fields"]["claimed"].as_u64())
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
            .sum()
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Value {
        let response = request
            .bearer_auth(&self.api_key)
            .send()
            .await
            .expect("API request");
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "API answered {status}: {body}");
        serde_json::from_str(&body).unwrap_or(Value::Null)
    }

    /// Whether `hook` has deliveries and every one succeeded, asked through the API (as the
    /// org sees them: the database role of the test may be subject to Row Level Security).
    async fn all_deliveries_succeeded(&self, hook: &Hook) -> bool {
        let any = |status: &str| {
            let path = format!(
                "/api/v1/webhooks/{}/deliveries?status={status}&limit=1",
                hook.id
            );
            async move {
                let page = self.get(&path).await;
                page["data"].as_array().is_some_and(|d| !d.is_empty())
            }
        };
        if !any("succeeded").await {
            return false;
        }
        for status in ["pending", "retrying", "failed", "skipped"] {
            if any(status).await {
                return false;
            }
        }
        true
    }

    async fn get(&self, path: &str) -> Value {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    async fn post(&self, path: &str, body: &Value) -> Value {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    async fn register_webhook(&self, url: &str) -> Hook {
        let created = self
            .post(
                "/api/v1/webhooks",
                &json!({ "url": url, "event_types": ["company.created"] }),
            )
            .await;
        Hook {
            id: created["id"].as_str().expect("webhook id").to_owned(),
            secret: created["secret"]
                .as_str()
                .expect("webhook secret")
                .to_owned(),
        }
    }

    /// Creates `n` companies, [`CREATE_CONCURRENCY`] at a time; returns their ids.
    async fn create_companies(&self, n: usize) -> HashSet<Uuid> {
        let next = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..CREATE_CONCURRENCY.min(n) {
            let (next, http, base, key) = (
                next.clone(),
                self.http.clone(),
                self.base.clone(),
                self.api_key.clone(),
            );
            tasks.spawn(async move {
                let mut ids = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return ids;
                    }
                    let response = http
                        .post(format!("{base}/api/v1/companies"))
                        .bearer_auth(&key)
                        .json(&json!({ "name": format!("Company {i}") }))
                        .send()
                        .await
                        .expect("create a company");
                    let status = response.status();
                    let body: Value = response.json().await.unwrap_or(Value::Null);
                    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
                    ids.push(
                        body["id"]
                            .as_str()
                            .and_then(|s| s.parse::<Uuid>().ok())
                            .expect("company id"),
                    );
                }
            });
        }
        let mut ids = HashSet::new();
        while let Some(done) = tasks.join_next().await {
            ids.extend(done.expect("company creation task"));
        }
        assert_eq!(ids.len(), n);
        ids
    }

    async fn attempts(&self, delivery: &Value) -> Vec<Value> {
        let id = id_of(delivery);
        let attempts = self
            .get(&format!("/api/v1/webhook-deliveries/{id}/attempts"))
            .await;
        attempts["data"].as_array().cloned().unwrap_or_default()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
        if std::thread::panicking() {
            let mut stderr = std::io::stderr().lock();
            for p in &self.procs {
                let text = std::fs::read_to_string(&p.log).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = &lines[lines.len().saturating_sub(40)..];
                let _ = writeln!(stderr, "--- {} ({}) ---", p.name, p.log.display());
                for line in tail {
                    let _ = writeln!(stderr, "{line}");
                }
            }
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Polls `done` every 5 ms until it holds; fails after `limit`, or as soon as a child process
/// exits on its own.
async fn wait_until(
    h: &mut Harness,
    limit: Duration,
    what: &str,
    mut done: impl FnMut(&mut Harness) -> bool,
) {
    let deadline = Instant::now() + limit;
    while !done(h) {
        if let Some(exited) = h.exited() {
            panic!("waiting for {what}: {exited}");
        }
        assert!(
            Instant::now() < deadline,
            "waiting for {what}: not done after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Polls `done` every 100 ms until it holds; fails after `limit`.
async fn wait_until_async<F: Future<Output = bool>>(
    limit: Duration,
    what: &str,
    mut done: impl FnMut() -> F,
) {
    let deadline = Instant::now() + limit;
    while !done().await {
        assert!(
            Instant::now() < deadline,
            "waiting for {what}: not done after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The receiver
// ---------------------------------------------------------------------------------------------

/// How the receiver answers.
#[derive(Debug, Clone)]
enum Mode {
    /// Holds each request for a number of milliseconds in the range (spread by `webhook-id`),
    /// answers 500 to the first `fail_first` requests of each `webhook-id`, then 204.
    Answer {
        hold_ms: std::ops::RangeInclusive<u64>,
        fail_first: u32,
    },
}

/// What the receiver saw.
#[derive(Debug, Clone, Default)]
struct Log {
    /// Requests with a valid signature.
    arrivals: usize,
    /// Per event id: its subject (the company) and the `webhook-id` of every arrival.
    by_event: HashMap<Uuid, (Uuid, Vec<String>)>,
    /// Arrivals per `webhook-id`.
    by_msg: HashMap<String, u32>,
    /// Requests in flight per `webhook-id`.
    in_flight: HashMap<String, u32>,
    /// Every `webhook-id` that arrived while a request with it was in flight.
    overlaps: Vec<String>,
    /// The most requests in flight at once.
    max_in_flight: usize,
    /// Requests refused, and why.
    rejected: Vec<String>,
}

/// Duplicate deliveries.
struct Duplicates {
    /// Arrivals beyond the first, over all events.
    duplicates: usize,
    /// Events that arrived more than once.
    events_duplicated: usize,
}

impl Log {
    fn assert_clean(&self) {
        assert!(
            self.rejected.is_empty(),
            "the receiver refused {} requests, e.g. {:?}",
            self.rejected.len(),
            self.rejected.iter().take(5).collect::<Vec<_>>()
        );
    }

    /// Checks that every company's event arrived and that every arrival of an event carried the
    /// same `webhook-id`; counts the duplicates.
    fn duplicates(&self, companies: &HashSet<Uuid>) -> Duplicates {
        let subjects: HashSet<Uuid> = self.by_event.values().map(|(s, _)| *s).collect();
        let lost: Vec<&Uuid> = companies.difference(&subjects).collect();
        assert!(
            lost.is_empty(),
            "{} events were never delivered",
            lost.len()
        );
        assert_eq!(
            self.by_event.len(),
            companies.len(),
            "one event per company"
        );
        let mut report = Duplicates {
            duplicates: 0,
            events_duplicated: 0,
        };
        for (event, (_, msgs)) in &self.by_event {
            let ids: HashSet<&String> = msgs.iter().collect();
            assert_eq!(
                ids.len(),
                1,
                "event {event} arrived under several webhook-ids: {ids:?}"
            );
            if msgs.len() > 1 {
                report.duplicates += msgs.len() - 1;
                report.events_duplicated += 1;
            }
        }
        report
    }
}

struct Shared {
    mode: Mode,
    secret: OnceLock<WebhookSecret>,
    log: Mutex<Log>,
}

impl Shared {
    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An axum receiver on `127.0.0.1:0`, verifying every request's signature.
struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    async fn start(mode: Mode) -> Self {
        let shared = Arc::new(Shared {
            mode,
            secret: OnceLock::new(),
            log: Mutex::default(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the receiver");
        let addr = listener.local_addr().expect("receiver address");
        let app = Router::new()
            .route("/webhooks", post(receive))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, shared, task }
    }

    fn url(&self) -> String {
        format!("http://{}/webhooks", self.addr)
    }

    fn set_secret(&self, secret: &str) {
        let secret = WebhookSecret::parse(secret).expect("a whsec_ secret");
        assert!(self.shared.secret.set(secret).is_ok(), "secret set twice");
    }

    fn arrivals(&self) -> usize {
        self.shared.log().arrivals
    }

    /// How many of `companies` have had their event delivered.
    fn subjects_seen(&self, companies: &HashSet<Uuid>) -> usize {
        let log = self.shared.log();
        log.by_event
            .values()
            .filter(|(subject, _)| companies.contains(subject))
            .count()
    }

    fn snapshot(&self) -> Log {
        self.shared.log().clone()
    }
}

/// Decrements a `webhook-id`'s in-flight count when the request ends (answered or dropped).
struct InFlight {
    shared: Arc<Shared>,
    msg_id: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut log = self.shared.log();
        if let Some(n) = log.in_flight.get_mut(&self.msg_id) {
            *n -= 1;
            if *n == 0 {
                log.in_flight.remove(&self.msg_id);
            }
        }
    }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let msg_id = header(signing::HEADER_ID);
    let Some(secret) = shared.secret.get() else {
        shared
            .log()
            .rejected
            .push(format!("{msg_id}: no secret yet"));
        return StatusCode::SERVICE_UNAVAILABLE;
    };
    if let Err(e) = signing::verify(
        secret,
        &msg_id,
        &header(signing::HEADER_TIMESTAMP),
        &header(signing::HEADER_SIGNATURE),
        &body,
        signing::unix_now(),
    ) {
        shared.log().rejected.push(format!("{msg_id}: {e}"));
        return StatusCode::BAD_REQUEST;
    }
    let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let uuid_at = |v: &Value| v.as_str().and_then(|s| s.parse::<Uuid>().ok());
    let (Some(event_id), Some(subject)) = (uuid_at(&event["id"]), uuid_at(&event["subject"]["id"]))
    else {
        shared
            .log()
            .rejected
            .push(format!("{msg_id}: not an event: {event}"));
        return StatusCode::BAD_REQUEST;
    };

    let attempt = {
        let mut log = shared.log();
        let n = log.in_flight.entry(msg_id.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            log.overlaps.push(msg_id.clone());
        }
        let total: usize = log.in_flight.values().map(|n| *n as usize).sum();
        log.max_in_flight = log.max_in_flight.max(total);
        log.arrivals += 1;
        log.by_event
            .entry(event_id)
            .or_insert_with(|| (subject, Vec::new()))
            .1
            .push(msg_id.clone());
        let attempt = log.by_msg.entry(msg_id.clone()).or_insert(0);
        *attempt += 1;
        *attempt
    };
    let _in_flight = InFlight {
        shared: shared.clone(),
        msg_id: msg_id.clone(),
    };
    let Mode::Answer {
        hold_ms,
        fail_first,
    } = &shared.mode;
    let span = hold_ms.end().saturating_sub(*hold_ms.start());
    let hold = if span == 0 {
        *hold_ms.start()
    } else {
        let mut hasher = std::hash::DefaultHasher::new();
        msg_id.hash(&mut hasher);
        hold_ms.start() + hasher.finish() % (span + 1)
    };
    if hold > 0 {
        tokio::time::sleep(Duration::from_millis(hold)).await;
    }
    if attempt <= *fail_first {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    }
}
