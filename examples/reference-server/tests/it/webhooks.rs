//! Outbound webhooks end to end: endpoints managed through `/api/v1/webhooks`, the delivery
//! pipeline running next to the server, and receivers that check every delivery the way a
//! subscriber would (Standard Webhooks signatures).
//!
//! Every test runs a server configured as a local deployment would be:
//! `WORKOS_WEBHOOK_ALLOWED_SUBNETS=127.0.0.0/8,::1/128` (receivers listen on loopback),
//! `WORKOS_WEBHOOK_RETRY_SCHEDULE=0,0,0` (three attempts, no waiting) and
//! `WORKOS_WEBHOOK_TIMEOUT_SECS=5`, plus the pipeline `workos-server serve` starts
//! (`Pipeline::spawn` over the server's store, cipher and webhook config).
//!
//! The official-verifier test runs `tests/it/python/standardwebhooks_receiver.py` (the
//! `standardwebhooks` package's `Webhook.verify`) with the interpreter named by `WORKOS_PYTHON`
//! (default `python3`). When the package cannot be imported it prints
//! "standardwebhooks Python package missing: SKIPPED" and passes, unless
//! `WORKOS_REQUIRE_PYTHON_VERIFIERS=1`.
//!
//! Waits poll the receiver or the deliveries list until a condition holds; the 30 s bound is
//! only a hang guard.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::SocketAddr;
use std::ops::Deref;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use uuid::Uuid;
use workos_core::crypto::SecretKey;
use workos_core::tenant::Role;
use workos_reference_server::config::Config;
use workos_reference_server::serve;
use workos_reference_server::state::AppState;
use workos_webhooks::signing::{self, VerifyError, WebhookSecret};
use workos_webhooks::worker::{Pipeline, PipelineHandle};

use crate::helpers::{
    Backend, Resp, TestApp, WEBHOOK_ENV, email, id_of, ids_in, python, spawn_app,
};

/// The hang guard of every wait.
const WAIT: Duration = Duration::from_secs(30);

// -------------------------------------------------------------------------------------------
// The server with its delivery pipeline

/// A server with the webhook settings above and a running delivery pipeline, over the
/// database of a harness [`TestApp`] (whose `addr` and `state` point at this server).
pub(crate) struct HookApp {
    app: TestApp,
    /// The configuration the server was built from (its keys, for more servers on the same
    /// database that accept the same API keys).
    env: HashMap<&'static str, String>,
    server: JoinHandle<std::io::Result<()>>,
    /// Kept for the test's duration: dropping it stops the pipeline.
    pipeline: Option<PipelineHandle>,
}

impl Deref for HookApp {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.app
    }
}

impl Drop for HookApp {
    fn drop(&mut self) {
        // Before the harness app (and with it the database) goes.
        drop(self.pipeline.take());
        self.server.abort();
    }
}

/// A webhook-enabled server and its pipeline on a fresh database of `backend`; `None` for
/// Postgres without `DATABASE_URL` (the harness says so).
pub(crate) async fn spawn(backend: Backend) -> Option<HookApp> {
    spawn_with(backend, true).await
}

/// As [`spawn`], without the deployment-wide allow-list: loopback receivers are reachable only
/// to orgs the operator allowed them (`workos-server admin allow-subnets`).
pub(crate) async fn spawn_strict(backend: Backend) -> Option<HookApp> {
    spawn_with(backend, false).await
}

async fn spawn_with(backend: Backend, allow_loopback: bool) -> Option<HookApp> {
    let mut app = spawn_app(backend).await?;
    let mut env: HashMap<&'static str, String> = HashMap::from([
        ("WORKOS_ENCRYPTION_KEY", SecretKey::generate().to_base64()),
        ("WORKOS_API_KEY_PEPPER", SecretKey::generate().to_base64()),
        ("WORKOS_JWT_SECRET", app.jwt_secret.clone()),
        ("WORKOS_RATE_LIMIT_PER_MINUTE", "100000".to_owned()),
    ]);
    env.extend(WEBHOOK_ENV.map(|(k, v)| (k, v.to_owned())));
    if !allow_loopback {
        env.remove("WORKOS_WEBHOOK_ALLOWED_SUBNETS");
    }
    let (addr, state, server) = start_server(&app, &env).await;
    let config = &state.webhook_config;
    assert_eq!(config.retry_schedule.to_string(), "0,0,0");
    assert_eq!(config.timeout, Duration::from_secs(5));
    assert_eq!(
        config.allowed_subnets.allowed().len(),
        if allow_loopback { 2 } else { 0 }
    );
    // As `workos-server serve` does (main.rs, `spawn_pipeline`).
    let pipeline = Pipeline::spawn(
        Arc::new(state.store.clone()),
        state.cipher.clone(),
        state.webhook_config.clone(),
    )
    .expect("start the webhook pipeline");
    app.addr = addr;
    app.state = state;
    Some(HookApp {
        app,
        env,
        server,
        pipeline: Some(pipeline),
    })
}

/// Serves a new server configured by `env` over `app`'s database.
async fn start_server(
    app: &TestApp,
    env: &HashMap<&'static str, String>,
) -> (SocketAddr, AppState, JoinHandle<std::io::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a local port");
    let addr = listener.local_addr().expect("local address");
    let config = Config::from_lookup(|k| env.get(k).cloned()).expect("valid test configuration");
    let state = AppState::new(app.store.clone(), config);
    let server = tokio::spawn(serve(
        listener,
        workos_reference_server::app(state.clone()),
        std::future::pending(),
    ));
    (addr, state, server)
}

/// `server_test!` over [`spawn`]: `name::sqlite` and `name::postgres`.
macro_rules! webhook_test {
    ($name:ident) => {
        server_test!(@tests $name, |backend| $crate::webhooks::spawn(backend));
    };
}
pub(crate) use webhook_test;

/// `server_test!` over [`spawn_strict`].
macro_rules! webhook_strict_test {
    ($name:ident) => {
        server_test!(@tests $name, |backend| $crate::webhooks::spawn_strict(backend));
    };
}
pub(crate) use webhook_strict_test;

impl HookApp {
    /// Registers an endpoint: asserts 201 and a `whsec_` secret, and returns the endpoint as
    /// GET shows it and the secret.
    pub(crate) async fn endpoint(&self, key: &str, body: Value) -> (Value, String) {
        let mut record = self.create("/api/v1/webhooks", key, body).await;
        let secret = record
            .as_object_mut()
            .and_then(|r| r.remove("secret"))
            .and_then(|s| s.as_str().map(str::to_owned))
            .unwrap_or_else(|| panic!("the creation answer holds the secret: {record}"));
        assert!(secret.starts_with("whsec_"), "a whsec_ secret: {secret}");
        WebhookSecret::parse(&secret).expect("the secret is a valid Standard Webhooks secret");
        (record, secret)
    }

    /// Every delivery of endpoint `hook` (oldest first), with extra query parameters `query`
    /// (`&`-joined, may be empty).
    pub(crate) async fn deliveries(&self, hook: &str, key: &str, query: &str) -> Vec<Value> {
        let path = format!("/api/v1/webhooks/{hook}/deliveries?limit=200&{query}");
        let page = self.read(&path, key).await;
        assert!(page["next_cursor"].is_null(), "one page holds them: {page}");
        page["data"]
            .as_array()
            .unwrap_or_else(|| panic!("GET {path}: not a list: {page}"))
            .clone()
    }

    /// The attempts of delivery `delivery`, oldest first.
    pub(crate) async fn attempts(&self, delivery: &str, key: &str) -> Vec<Value> {
        let path = format!("/api/v1/webhook-deliveries/{delivery}/attempts");
        let body = self.read(&path, key).await;
        body["data"]
            .as_array()
            .unwrap_or_else(|| panic!("GET {path}: no data: {body}"))
            .clone()
    }

    /// Waits until the delivery of event `event` to endpoint `hook` has status `status`, and
    /// returns it. Fails at once when it settles in another final status.
    pub(crate) async fn delivery_settled(
        &self,
        hook: &str,
        key: &str,
        event: &str,
        status: &str,
    ) -> Value {
        eventually(
            &format!("the delivery of event {event} to be {status}"),
            async || {
                let all = self.deliveries(hook, key, "").await;
                let Some(d) = all.iter().find(|d| d["event_id"] == event) else {
                    return Err(format!("no delivery yet; deliveries: {all:?}"));
                };
                let now = d["status"].as_str().unwrap_or_default();
                if now == status {
                    return Ok(d.clone());
                }
                assert!(
                    !["succeeded", "failed", "skipped"].contains(&now) || status == "pending",
                    "the delivery settled as {now}, not {status}: {d}; attempts: {:?}",
                    self.attempts(&id_of(d), key).await
                );
                Err(format!("delivery: {d}"))
            },
        )
        .await
    }

    /// The id of the only event of type `ty` about `subject`.
    pub(crate) async fn event_id(&self, key: &str, ty: &str, subject: &str) -> String {
        let page = self
            .read(
                &format!("/api/v1/events?type={ty}&subject_id={subject}"),
                key,
            )
            .await;
        let ids = ids_in(&page);
        assert_eq!(ids.len(), 1, "one {ty} event about {subject}: {page}");
        ids[0].clone()
    }

    /// Creates a company named `name` and returns its id and its `company.created` event id.
    pub(crate) async fn company(&self, key: &str, name: &str) -> (String, String) {
        let company = self
            .create("/api/v1/companies", key, json!({ "name": name }))
            .await;
        let id = id_of(&company);
        let event = self.event_id(key, "company.created", &id).await;
        (id, event)
    }
}

/// Polls `probe` until it answers `Ok`, for at most [`WAIT`]; `Err` describes what it saw.
pub(crate) async fn eventually<T>(
    what: &str,
    mut probe: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        match probe().await {
            Ok(v) => return v,
            Err(seen) => assert!(
                Instant::now() < deadline,
                "timed out after {WAIT:?} waiting for {what}; last seen: {seen}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `webhook-id` of delivery `id`: `msg_` and its UUID as 32 hex digits.
fn msg_id(delivery_id: &str) -> String {
    let uuid = Uuid::parse_str(delivery_id).expect("a delivery id is a UUID");
    format!("msg_{}", uuid.simple())
}

// -------------------------------------------------------------------------------------------
// A receiver in Rust

/// One request a [`Sink`] received.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) id: String,
    timestamp: String,
    pub(crate) signature: String,
    pub(crate) content_type: String,
    pub(crate) body: Vec<u8>,
    /// Every header of the request.
    pub(crate) headers: HeaderMap,
    answered: u16,
}

impl Received {
    /// The body as JSON.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a delivery body is JSON")
    }

    /// Standard Webhooks verification of this request under `secret`, now.
    pub(crate) fn verify(&self, secret: &str) -> Result<(), VerifyError> {
        let secret = WebhookSecret::parse(secret).expect("a valid secret");
        signing::verify(
            &secret,
            &self.id,
            &self.timestamp,
            &self.signature,
            &self.body,
            signing::unix_now(),
        )
    }

    /// The `v1` entries of the signature header.
    pub(crate) fn v1_signatures(&self) -> usize {
        self.signature
            .split_ascii_whitespace()
            .filter(|e| e.starts_with("v1,"))
            .count()
    }
}

#[derive(Default)]
struct SinkState {
    received: Mutex<Vec<Received>>,
    /// The status answered.
    status: AtomicU16,
    /// How many of the next requests are answered 500 first.
    fail_next: AtomicU32,
}

/// A webhook receiver on loopback that records every request and answers a set status.
pub(crate) struct Sink {
    state: Arc<SinkState>,
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn sink_handler(
    State(state): State<Arc<SinkState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let failing = state
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let status = if failing {
        500
    } else {
        state.status.load(Ordering::SeqCst)
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let received = Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        content_type: header("content-type"),
        body: body.to_vec(),
        headers: headers.clone(),
        answered: status,
    };
    state
        .received
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(received);
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl Sink {
    /// A receiver answering `status` to every request.
    pub(crate) async fn start(status: u16) -> Self {
        let state = Arc::new(SinkState::default());
        state.status.store(status, Ordering::SeqCst);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the receiver");
        let addr = listener.local_addr().expect("receiver address");
        let router = axum::Router::new()
            .fallback(sink_handler)
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { state, addr, task }
    }

    /// The URL to register.
    pub(crate) fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Answers `status` from now on.
    pub(crate) fn answer(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }

    /// Answers 500 to the next `n` requests, then the set status again.
    pub(crate) fn fail_next(&self, n: u32) {
        self.state.fail_next.store(n, Ordering::SeqCst);
    }

    /// Everything received so far.
    pub(crate) fn received(&self) -> Vec<Received> {
        self.state
            .received
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The requests carrying `webhook-id: msg_id`.
    fn with_id(&self, msg_id: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.id == msg_id)
            .collect()
    }
}

// -------------------------------------------------------------------------------------------
// The official verifier: the `standardwebhooks` Python package

static PYTHON_SKIP: Once = Once::new();

fn receiver_script() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/python/standardwebhooks_receiver.py")
}

/// The Python receiver; killed when dropped (a failing test included).
pub(crate) struct PyReceiver {
    child: Child,
    pub(crate) port: u16,
    stderr: Arc<Mutex<String>>,
}

impl Drop for PyReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl PyReceiver {
    /// Starts the receiver verifying with `secret`: `Err(why)` when the interpreter or the
    /// `standardwebhooks` package is missing (the script exits 3).
    pub(crate) async fn start(secret: &str) -> Result<Self, String> {
        let mut child = Command::new(python())
            .arg(receiver_script())
            .arg(secret)
            .arg("0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", python()))?;
        // Drained all along, so a chatty child never blocks on a full pipe.
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let stdout = child.stdout.take().expect("stdout");
        let mut receiver = Self {
            child,
            port: 0,
            stderr,
        };
        let first_line = tokio::time::timeout(
            WAIT,
            tokio::task::spawn_blocking(move || {
                let mut line = String::new();
                BufReader::new(stdout).read_line(&mut line).map(|_| line)
            }),
        )
        .await
        .expect("the Python receiver starts within the wait")
        .expect("the reading task")
        .expect("read the Python receiver's output");
        if let Some(port) = first_line.trim().strip_prefix("PORT ") {
            receiver.port = port.parse().expect("a port number");
            return Ok(receiver);
        }
        // It exited before listening.
        let status = receiver.child.wait().expect("wait for python");
        // Let the drain thread take the last of stderr.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let why = receiver.stderr();
        match status.code() {
            Some(3) => Err(why),
            _ => panic!("standardwebhooks_receiver.py failed ({status}): {why}"),
        }
    }

    pub(crate) fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// `GET /stats`.
    pub(crate) async fn stats(&self, client: &reqwest::Client) -> Value {
        let url = format!("http://127.0.0.1:{}/stats", self.port);
        let response = client.get(&url).send().await.unwrap_or_else(|e| {
            panic!(
                "the Python receiver answers /stats ({e}); its stderr: {}",
                self.stderr()
            )
        });
        assert_eq!(response.status().as_u16(), 200, "GET /stats");
        response.json().await.expect("stats are JSON")
    }
}

/// Says plainly that the official-verifier test is skipped.
///
/// # Panics
/// When `WORKOS_REQUIRE_PYTHON_VERIFIERS=1`.
pub(crate) fn python_verifier_missing(why: &str) {
    assert!(
        std::env::var("WORKOS_REQUIRE_PYTHON_VERIFIERS").as_deref() != Ok("1"),
        "WORKOS_REQUIRE_PYTHON_VERIFIERS=1 but the official verifier cannot run ({why}); \
         install it with `pip install standardwebhooks` and set WORKOS_PYTHON"
    );
    PYTHON_SKIP.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "standardwebhooks Python package missing: SKIPPED ({})",
            why.trim()
        );
    });
}

/// The strings of a JSON array.
fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap_or_default().to_owned())
        .collect()
}

// -------------------------------------------------------------------------------------------
// 1. The official verifier accepts every delivery

async fn official_python_verifier_accepts_every_delivery(app: &HookApp) {
    let (org, _) = app.create_org("Hooks").await;
    let admin = app.api_key(org, Role::Admin).await;
    // Registered switched off until the receiver, which needs the secret, listens.
    let (hook, secret) = app
        .endpoint(
            &admin,
            json!({ "url": "http://127.0.0.1:1/not-yet", "enabled": false, "description": "python" }),
        )
        .await;
    let hook_id = id_of(&hook);
    let python = match PyReceiver::start(&secret).await {
        Ok(p) => p,
        Err(why) => return python_verifier_missing(&why),
    };
    let url = format!("http://127.0.0.1:{}/webhooks", python.port);
    let enabled = app
        .patch(
            &format!("/api/v1/webhooks/{hook_id}"),
            &admin,
            &json!({ "url": url, "enabled": true }),
        )
        .await
        .expect(200);
    assert_eq!(enabled["url"], json!(url));
    assert_eq!(enabled["enabled"], json!(true));

    // CRM writes through the API.
    let company = app
        .create(
            "/api/v1/companies",
            &admin,
            json!({ "name": "Acme", "domain": "acme.example" }),
        )
        .await;
    let person = app
        .create(
            "/api/v1/people",
            &admin,
            json!({ "first_name": "Ada", "last_name": "Lovelace", "email": email(), "company_id": company["id"] }),
        )
        .await;
    let company_path = format!("/api/v1/companies/{}", id_of(&company));
    app.patch(&company_path, &admin, &json!({ "name": "Acme Ltd" }))
        .await
        .expect(200);
    let person_path = format!("/api/v1/people/{}", id_of(&person));
    let deleted = app.delete(&person_path, &admin).await;
    assert_eq!(deleted.status, 204, "delete the person: {}", deleted.text);
    let mut crm_events = HashSet::new();
    for (ty, subject) in [
        ("company.created", &company),
        ("person.created", &person),
        ("company.updated", &company),
        ("person.deleted", &person),
    ] {
        crm_events.insert(app.event_id(&admin, ty, &id_of(subject)).await);
    }

    // Every CRM event delivered, and nothing left in flight.
    let deliveries = eventually("every CRM event delivered", async || {
        let all = app.deliveries(&hook_id, &admin, "").await;
        let delivered: HashSet<String> = all
            .iter()
            .map(|d| d["event_id"].as_str().unwrap_or_default().to_owned())
            .collect();
        let settled = all.iter().all(|d| {
            ["succeeded", "failed", "skipped"].contains(&d["status"].as_str().unwrap_or_default())
        });
        if crm_events.is_subset(&delivered) && settled {
            Ok(all)
        } else {
            Err(format!("{all:?}"))
        }
    })
    .await;
    for d in &deliveries {
        assert_eq!(
            d["status"],
            "succeeded",
            "the Python receiver answers 204 only to verified deliveries: {d}; attempts {:?}; \
             receiver stderr: {}",
            app.attempts(&id_of(d), &admin).await,
            python.stderr()
        );
        assert_eq!(d["attempts"], 1, "verified at the first attempt: {d}");
        assert_eq!(d["last_status_code"], 204, "{d}");
    }

    let stats = python.stats(&app.client).await;
    assert_eq!(
        stats["failed"], 0,
        "the official verifier failed some: {stats}"
    );
    let mut verified = strings(&stats["verified_ids"]);
    verified.sort();
    let mut expected: Vec<String> = deliveries.iter().map(|d| msg_id(&id_of(d))).collect();
    expected.sort();
    assert_eq!(
        verified, expected,
        "the official verifier verified exactly every delivery, once: {stats}"
    );
    let verified_events: HashSet<String> = strings(&stats["event_ids"]).into_iter().collect();
    let delivered_events: HashSet<String> = deliveries
        .iter()
        .map(|d| d["event_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        verified_events, delivered_events,
        "the verified bodies are the events"
    );
    assert!(crm_events.is_subset(&verified_events), "{stats}");
}
webhook_test!(official_python_verifier_accepts_every_delivery);

// -------------------------------------------------------------------------------------------
// 2. Verified in Rust; a forced retry keeps the webhook-id

async fn retried_delivery_keeps_its_message_id(app: &HookApp) {
    let (org, _) = app.create_org("Hooks").await;
    let admin = app.api_key(org, Role::Admin).await;
    let sink = Sink::start(204).await;
    sink.fail_next(1);
    let (hook, secret) = app
        .endpoint(
            &admin,
            json!({ "url": sink.url(), "event_types": ["company.created"] }),
        )
        .await;
    let hook_id = id_of(&hook);
    let (_, event_id) = app.company(&admin, "Acme").await;

    let delivery = app
        .delivery_settled(&hook_id, &admin, &event_id, "succeeded")
        .await;
    let delivery_id = id_of(&delivery);
    assert_eq!(delivery["webhook_id"], json!(hook_id));
    assert_eq!(delivery["event_type"], "company.created");
    assert_eq!(delivery["attempts"], 2, "{delivery}");
    assert_eq!(delivery["last_status_code"], 204, "{delivery}");
    assert!(delivery["next_attempt_at"].is_null(), "{delivery}");

    let attempts = app.attempts(&delivery_id, &admin).await;
    assert_eq!(
        attempts.len(),
        2,
        "one failed attempt, one retry: {attempts:?}"
    );
    assert_eq!(attempts[0]["delivery_id"], json!(delivery_id));
    assert_eq!(attempts[0]["status_code"], 500, "{attempts:?}");
    assert!(
        attempts[0]["next_attempt_at"].is_string(),
        "a retry was scheduled: {attempts:?}"
    );
    assert_eq!(attempts[1]["status_code"], 204, "{attempts:?}");
    assert!(attempts[1]["error_kind"].is_null(), "{attempts:?}");
    assert!(attempts[1]["next_attempt_at"].is_null(), "{attempts:?}");

    let expected_id = msg_id(&delivery_id);
    let received = sink.received();
    assert_eq!(received.len(), 2, "two requests: {received:?}");
    assert_eq!(
        received.iter().map(|r| r.answered).collect::<Vec<_>>(),
        [500, 204]
    );
    let event = app
        .read(&format!("/api/v1/events/{event_id}"), &admin)
        .await;
    for r in &received {
        assert_eq!(
            r.id, expected_id,
            "webhook-id is msg_<delivery id>, stable across retries"
        );
        assert!(r.content_type.starts_with("application/json"), "{r:?}");
        assert_eq!(
            r.verify(&secret),
            Ok(()),
            "verifies with the endpoint's secret: {r:?}"
        );
        assert_eq!(r.v1_signatures(), 1, "{r:?}");
        assert_eq!(r.json(), event, "the body is the event as the API shows it");
        assert_eq!(r.json()["type"], "company.created");
        // The checks can fail: another secret, or one changed byte, does not verify.
        let other = WebhookSecret::generate();
        assert_eq!(
            r.verify(other.expose()),
            Err(VerifyError::NoMatchingSignature)
        );
        let mut tampered = r.clone();
        tampered.body[0] = b' ';
        assert_eq!(
            tampered.verify(&secret),
            Err(VerifyError::NoMatchingSignature)
        );
    }
}
webhook_test!(retried_delivery_keeps_its_message_id);

// -------------------------------------------------------------------------------------------
// 3. Rotation: both secrets verify during the grace period

async fn rotated_secret_signs_with_old_and_new(app: &HookApp) {
    let (org, _) = app.create_org("Hooks").await;
    let admin = app.api_key(org, Role::Admin).await;
    let sink = Sink::start(204).await;
    let (hook, old) = app
        .endpoint(
            &admin,
            json!({ "url": sink.url(), "event_types": ["company.*"] }),
        )
        .await;
    let hook_id = id_of(&hook);

    let (_, before_event) = app.company(&admin, "Before").await;
    let before = app
        .delivery_settled(&hook_id, &admin, &before_event, "succeeded")
        .await;
    let before = sink.with_id(&msg_id(&id_of(&before)));
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(
        before[0].v1_signatures(),
        1,
        "one secret, one signature: {before:?}"
    );
    assert_eq!(before[0].verify(&old), Ok(()));

    let rotated = app
        .post(
            &format!("/api/v1/webhooks/{hook_id}/rotate-secret"),
            &admin,
            &json!({}),
        )
        .await
        .expect(200);
    let new = rotated["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("the rotation answers the new secret: {rotated}"))
        .to_owned();
    assert!(new.starts_with("whsec_"), "{new}");
    assert_ne!(new, old, "a new secret");
    WebhookSecret::parse(&new).expect("a valid secret");
    // The pre-rotation delivery was signed with the old secret only.
    assert_eq!(
        before[0].verify(&new),
        Err(VerifyError::NoMatchingSignature)
    );

    let (_, after_event) = app.company(&admin, "After").await;
    let after = app
        .delivery_settled(&hook_id, &admin, &after_event, "succeeded")
        .await;
    assert_eq!(after["attempts"], 1, "{after}");
    let after = sink.with_id(&msg_id(&id_of(&after)));
    assert_eq!(after.len(), 1, "{after:?}");
    let r = &after[0];
    assert_eq!(r.v1_signatures(), 2, "signed with both secrets: {r:?}");
    assert_eq!(r.verify(&old), Ok(()), "the old secret still verifies");
    assert_eq!(r.verify(&new), Ok(()), "the new secret verifies");
    assert_eq!(
        r.verify(WebhookSecret::generate().expose()),
        Err(VerifyError::NoMatchingSignature),
        "an unrelated secret does not"
    );

    // A second rotation keeps every secret of the grace period.
    let newer = app
        .post(
            &format!("/api/v1/webhooks/{hook_id}/rotate-secret"),
            &admin,
            &json!({}),
        )
        .await
        .expect(200)["secret"]
        .as_str()
        .expect("the newer secret")
        .to_owned();
    let (_, last_event) = app.company(&admin, "Last").await;
    let last = app
        .delivery_settled(&hook_id, &admin, &last_event, "succeeded")
        .await;
    let last = sink.with_id(&msg_id(&id_of(&last)));
    assert_eq!(last.len(), 1, "{last:?}");
    assert_eq!(last[0].v1_signatures(), 3, "{last:?}");
    for secret in [&old, &new, &newer] {
        assert_eq!(last[0].verify(secret), Ok(()));
    }
}
webhook_test!(rotated_secret_signs_with_old_and_new);

// -------------------------------------------------------------------------------------------
// 4. Event-type filters

async fn event_type_filter_limits_deliveries(app: &HookApp) {
    let (org, _) = app.create_org("Hooks").await;
    let admin = app.api_key(org, Role::Admin).await;
    let companies_sink = Sink::start(204).await;
    let people_sink = Sink::start(204).await;
    let (companies, _) = app
        .endpoint(
            &admin,
            json!({ "url": companies_sink.url(), "event_types": ["company.*"] }),
        )
        .await;
    assert_eq!(companies["event_types"], json!(["company.*"]));
    let companies = id_of(&companies);
    // The person events exist and are dispatched: another endpoint receives them.
    let (people, _) = app
        .endpoint(
            &admin,
            json!({ "url": people_sink.url(), "event_types": ["person.*"] }),
        )
        .await;
    let people = id_of(&people);

    let person = app
        .create(
            "/api/v1/people",
            &admin,
            json!({ "first_name": "Ada", "email": email() }),
        )
        .await;
    let person_id = id_of(&person);
    let (company_id, company_created) = app.company(&admin, "Acme").await;
    app.patch(
        &format!("/api/v1/people/{person_id}"),
        &admin,
        &json!({ "title": "Countess" }),
    )
    .await
    .expect(200);
    // Written last: once it is delivered, every earlier event has been dispatched.
    app.patch(
        &format!("/api/v1/companies/{company_id}"),
        &admin,
        &json!({ "name": "Acme Ltd" }),
    )
    .await
    .expect(200);
    let company_updated = app.event_id(&admin, "company.updated", &company_id).await;
    let person_updated = app.event_id(&admin, "person.updated", &person_id).await;
    app.delivery_settled(&companies, &admin, &company_updated, "succeeded")
        .await;
    app.delivery_settled(&people, &admin, &person_updated, "succeeded")
        .await;

    let delivered = app.deliveries(&companies, &admin, "").await;
    let mut types: Vec<&str> = delivered
        .iter()
        .map(|d| d["event_type"].as_str().unwrap_or_default())
        .collect();
    types.sort_unstable();
    assert_eq!(
        types,
        ["company.created", "company.updated"],
        "company.* receives company events only: {delivered:?}"
    );
    let bodies: Vec<String> = companies_sink
        .received()
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        bodies.iter().all(|t| t.starts_with("company.")) && bodies.len() == 2,
        "no person event reached the company.* receiver: {bodies:?}"
    );
    let mut people_types: Vec<String> = app
        .deliveries(&people, &admin, "")
        .await
        .iter()
        .map(|d| d["event_type"].as_str().unwrap_or_default().to_owned())
        .collect();
    people_types.sort_unstable();
    assert_eq!(people_types, ["person.created", "person.updated"]);

    // The deliveries list filters and pages.
    let only = app
        .deliveries(&companies, &admin, "event_type=company.created")
        .await;
    assert_eq!(only.len(), 1, "{only:?}");
    assert_eq!(only[0]["event_id"], json!(company_created));
    assert!(
        app.deliveries(&companies, &admin, "event_type=person.created")
            .await
            .is_empty()
    );
    assert_eq!(
        app.deliveries(&companies, &admin, "status=succeeded")
            .await
            .len(),
        2
    );
    assert!(
        app.deliveries(&companies, &admin, "status=failed")
            .await
            .is_empty()
    );
    let future = (Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let past = (Utc::now() - chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(
        app.deliveries(&companies, &admin, &format!("created_after={future}"))
            .await
            .is_empty()
    );
    assert_eq!(
        app.deliveries(
            &companies,
            &admin,
            &format!("created_after={past}&created_before={future}")
        )
        .await
        .len(),
        2
    );
    assert!(
        app.deliveries(&companies, &admin, &format!("created_before={past}"))
            .await
            .is_empty()
    );
    let first = app
        .read(
            &format!("/api/v1/webhooks/{companies}/deliveries?limit=1"),
            &admin,
        )
        .await;
    assert_eq!(ids_in(&first).len(), 1, "{first}");
    let cursor = first["next_cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("a next page: {first}"));
    let second = app
        .read(
            &format!("/api/v1/webhooks/{companies}/deliveries?limit=1&cursor={cursor}"),
            &admin,
        )
        .await;
    assert_eq!(ids_in(&second).len(), 1, "{second}");
    assert_ne!(ids_in(&first), ids_in(&second));
    assert!(second["next_cursor"].is_null(), "{second}");
    app.get(
        &format!("/api/v1/webhooks/{companies}/deliveries?status=lost"),
        &admin,
    )
    .await
    .problem(422);
}
webhook_test!(event_type_filter_limits_deliveries);

// -------------------------------------------------------------------------------------------
// 5. Dead letters, replay and recovery

async fn dead_letters_replay_and_recover(app: &HookApp) {
    let (org, _) = app.create_org("Hooks").await;
    let admin = app.api_key(org, Role::Admin).await;
    let sink = Sink::start(500).await;
    let (hook, secret) = app
        .endpoint(
            &admin,
            json!({ "url": sink.url(), "event_types": ["company.*"] }),
        )
        .await;
    let hook_id = id_of(&hook);
    let recover = format!("/api/v1/webhooks/{hook_id}/recover");
    let t0 = Utc::now() - chrono::Duration::seconds(1);

    // A, then (after a mark) B and C: each dead-lettered after the schedule's three attempts.
    let (_, event_a) = app.company(&admin, "A").await;
    let a = app
        .delivery_settled(&hook_id, &admin, &event_a, "failed")
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mark = Utc::now();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (_, event_b) = app.company(&admin, "B").await;
    let (_, event_c) = app.company(&admin, "C").await;
    let b = app
        .delivery_settled(&hook_id, &admin, &event_b, "failed")
        .await;
    let c = app
        .delivery_settled(&hook_id, &admin, &event_c, "failed")
        .await;
    for d in [&a, &b, &c] {
        assert_eq!(d["attempts"], 3, "0,0,0 is three attempts: {d}");
        assert_eq!(d["last_status_code"], 500, "{d}");
        assert!(
            d["next_attempt_at"].is_null(),
            "nothing more scheduled: {d}"
        );
        let attempts = app.attempts(&id_of(d), &admin).await;
        assert_eq!(attempts.len(), 3, "{attempts:?}");
        assert!(
            attempts.iter().all(|a| a["status_code"] == 500),
            "{attempts:?}"
        );
        let sent = sink.with_id(&msg_id(&id_of(d)));
        assert_eq!(sent.len(), 3, "three requests, one webhook-id: {sent:?}");
        assert!(sent.iter().all(|r| r.verify(&secret).is_ok()));
    }
    assert_eq!(
        app.deliveries(&hook_id, &admin, "status=failed")
            .await
            .len(),
        3
    );
    let failing = app
        .read(&format!("/api/v1/webhooks/{hook_id}"), &admin)
        .await;
    assert!(failing["failing_since"].is_string(), "{failing}");
    assert_eq!(failing["enabled"], true, "{failing}");

    // Nothing failed since a future time.
    let future = Utc::now() + chrono::Duration::days(1);
    let none = app
        .post(&recover, &admin, &json!({ "since": future }))
        .await
        .expect(202);
    assert_eq!(none["recovered"], 0, "{none}");

    // The receiver is fixed; C is replayed.
    sink.answer(204);
    let c_id = id_of(&c);
    let replayed = app
        .post(
            &format!("/api/v1/webhook-deliveries/{c_id}/replay"),
            &admin,
            &json!({}),
        )
        .await
        .expect(202);
    assert_eq!(replayed["id"], json!(c_id));
    assert_eq!(replayed["status"], "pending", "{replayed}");
    let c = app
        .delivery_settled(&hook_id, &admin, &event_c, "succeeded")
        .await;
    assert_eq!(c["attempts"], 4, "{c}");
    let c_attempts = app.attempts(&c_id, &admin).await;
    assert_eq!(c_attempts.len(), 4, "{c_attempts:?}");
    assert_eq!(c_attempts[3]["status_code"], 204, "{c_attempts:?}");
    let c_sent = sink.with_id(&msg_id(&c_id));
    assert_eq!(c_sent.len(), 4, "{c_sent:?}");
    assert_eq!(c_sent[3].answered, 204);
    assert_eq!(c_sent[3].verify(&secret), Ok(()));

    // Recovery since the mark: B only (A is older, C is delivered).
    let recovered = app
        .post(&recover, &admin, &json!({ "since": mark }))
        .await
        .expect(202);
    assert_eq!(recovered["recovered"], 1, "B only: {recovered}");
    let b = app
        .delivery_settled(&hook_id, &admin, &event_b, "succeeded")
        .await;
    assert_eq!(b["attempts"], 4, "{b}");
    let still = app.deliveries(&hook_id, &admin, "status=failed").await;
    assert_eq!(
        still.iter().map(id_of).collect::<Vec<_>>(),
        [id_of(&a)],
        "A stays dead-lettered"
    );

    // Recovery since before A.
    let recovered = app
        .post(&recover, &admin, &json!({ "since": t0 }))
        .await
        .expect(202);
    assert_eq!(recovered["recovered"], 1, "A: {recovered}");
    let a = app
        .delivery_settled(&hook_id, &admin, &event_a, "succeeded")
        .await;
    assert_eq!(a["attempts"], 4, "{a}");
    let again = app
        .post(&recover, &admin, &json!({ "since": t0 }))
        .await
        .expect(202);
    assert_eq!(again["recovered"], 0, "nothing failed any more: {again}");
    assert!(
        app.deliveries(&hook_id, &admin, "status=failed")
            .await
            .is_empty()
    );
    let healthy = app
        .read(&format!("/api/v1/webhooks/{hook_id}"), &admin)
        .await;
    assert!(
        healthy["failing_since"].is_null(),
        "a success clears it: {healthy}"
    );
}
webhook_test!(dead_letters_replay_and_recover);

// -------------------------------------------------------------------------------------------
// 6. The SSRF guard at registration

async fn loopback_urls_need_the_allow_list(app: &HookApp) {
    let (org, _) = app.create_org("Hooks").await;
    let admin = app.api_key(org, Role::Admin).await;
    // A second server on the same database and keys, without the allow-list.
    let mut strict_env = app.env.clone();
    strict_env.remove("WORKOS_WEBHOOK_ALLOWED_SUBNETS");
    let (strict_addr, strict_state, strict_server) = start_server(app, &strict_env).await;
    assert!(
        strict_state
            .webhook_config
            .allowed_subnets
            .allowed()
            .is_empty()
    );
    let strict = |method: Method, path: &str| {
        app.client
            .request(method, format!("http://{strict_addr}{path}"))
            .bearer_auth(&admin)
    };

    for url in [
        "http://127.0.0.1:1/x",
        "http://[::1]:1/x",
        "http://localhost:1/x",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/x",
    ] {
        let resp = app
            .send(strict(Method::POST, "/api/v1/webhooks").json(&json!({ "url": url })))
            .await;
        let p = resp.invalid_field("url");
        let message = p["errors"]
            .as_array()
            .and_then(|e| e.iter().find(|e| e["field"] == "url"))
            .and_then(|e| e["message"].as_str())
            .unwrap_or_default();
        assert!(!message.is_empty(), "the refusal says why: {p}");
        for address in ["127.0.0.1", "::1", "169.254", "10.0.0.1"] {
            assert!(
                !message.contains(address),
                "the refusal names no address: {message}"
            );
        }
    }
    let strict_list = app
        .send(strict(Method::GET, "/api/v1/webhooks"))
        .await
        .expect(200);
    assert!(
        ids_in(&strict_list).is_empty(),
        "nothing registered: {strict_list}"
    );

    // With the allow-list, loopback is accepted; other private ranges still are not.
    let (hook, _) = app
        .endpoint(&admin, json!({ "url": "http://127.0.0.1:1/x" }))
        .await;
    assert_eq!(hook["url"], "http://127.0.0.1:1/x");
    app.post(
        "/api/v1/webhooks",
        &admin,
        &json!({ "url": "http://169.254.169.254/latest/meta-data" }),
    )
    .await
    .invalid_field("url");
    app.post(
        "/api/v1/webhooks",
        &admin,
        &json!({ "url": "http://10.0.0.1/x" }),
    )
    .await
    .invalid_field("url");

    // Moving an endpoint to loopback is refused without the allow-list too.
    let path = format!("/api/v1/webhooks/{}", id_of(&hook));
    app.send(strict(Method::PATCH, &path).json(&json!({ "url": "http://127.0.0.2:1/y" })))
        .await
        .invalid_field("url");
    let unchanged = app.read(&path, &admin).await;
    assert_eq!(unchanged["url"], "http://127.0.0.1:1/x");
    strict_server.abort();
}
webhook_test!(loopback_urls_need_the_allow_list);

// -------------------------------------------------------------------------------------------
// 7. Roles and tenancy

async fn roles_and_tenancy(app: &HookApp) {
    let (org_a, _) = app.create_org("Org A").await;
    let (org_b, _) = app.create_org("Org B").await;
    let admin_a = app.api_key(org_a, Role::Admin).await;
    let member_a = app.api_key(org_a, Role::Member).await;
    let viewer_a = app.api_key(org_a, Role::Viewer).await;
    let admin_b = app.api_key(org_b, Role::Admin).await;

    let sink = Sink::start(204).await;
    let (hook, _) = app
        .endpoint(
            &admin_a,
            json!({ "url": sink.url(), "event_types": ["company.created"], "description": "A's" }),
        )
        .await;
    let hook_id = id_of(&hook);
    let (_, event) = app.company(&admin_a, "Acme").await;
    let delivery = app
        .delivery_settled(&hook_id, &admin_a, &event, "succeeded")
        .await;
    let delivery_id = id_of(&delivery);
    let item = format!("/api/v1/webhooks/{hook_id}");
    let before = app.read(&item, &admin_a).await;

    let writes: Vec<(Method, String, Value)> = vec![
        (
            Method::POST,
            "/api/v1/webhooks".to_owned(),
            json!({ "url": sink.url() }),
        ),
        (
            Method::PATCH,
            item.clone(),
            json!({ "description": "hijacked" }),
        ),
        (Method::DELETE, item.clone(), Value::Null),
        (Method::POST, format!("{item}/rotate-secret"), json!({})),
        (
            Method::POST,
            format!("{item}/recover"),
            json!({ "since": "2020-01-01T00:00:00Z" }),
        ),
        (
            Method::POST,
            format!("/api/v1/webhook-deliveries/{delivery_id}/replay"),
            json!({}),
        ),
    ];
    let send = |key: &str, method: &Method, path: &str, body: &Value| {
        let rb = app.request(method.clone(), path, key);
        if body.is_null() { rb } else { rb.json(body) }
    };

    // Member and viewer: reads yes, writes no.
    for key in [&member_a, &viewer_a] {
        for (method, path, body) in &writes {
            app.send(send(key, method, path, body)).await.problem(403);
        }
        assert_eq!(
            ids_in(&app.read("/api/v1/webhooks", key).await),
            [hook_id.as_str()]
        );
        app.read(&item, key).await;
        assert_eq!(app.deliveries(&hook_id, key, "").await.len(), 1);
        assert_eq!(app.attempts(&delivery_id, key).await.len(), 1);
    }
    assert_eq!(
        app.read(&item, &admin_a).await,
        before,
        "refused writes change nothing"
    );
    assert_eq!(
        ids_in(&app.read("/api/v1/webhooks", &admin_a).await),
        [hook_id.as_str()],
        "nothing was created"
    );

    // Org B: A's endpoint, deliveries and attempts do not exist.
    let (hook_b, _) = app
        .endpoint(
            &admin_b,
            json!({ "url": sink.url(), "event_types": ["deal.*"] }),
        )
        .await;
    assert_eq!(
        ids_in(&app.read("/api/v1/webhooks", &admin_b).await),
        [id_of(&hook_b)],
        "B lists only its own"
    );
    let reads = [
        item.clone(),
        format!("{item}/deliveries"),
        format!("/api/v1/webhook-deliveries/{delivery_id}/attempts"),
    ];
    for path in &reads {
        app.get(path, &admin_b).await.problem(404);
    }
    for (method, path, body) in writes.iter().skip(1) {
        app.send(send(&admin_b, method, path, body))
            .await
            .problem(404);
    }
    assert_eq!(app.read(&item, &admin_a).await, before, "B changed nothing");
    assert_eq!(app.deliveries(&hook_id, &admin_a, "").await.len(), 1);
    assert_eq!(app.attempts(&delivery_id, &admin_a).await.len(), 1);

    // The admin of A may do all of it.
    app.patch(&item, &admin_a, &json!({ "description": "renamed" }))
        .await
        .expect(200);
    let deleted = app.delete(&item, &admin_a).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    app.get(&item, &admin_a).await.problem(404);
    app.get(
        &format!("/api/v1/webhook-deliveries/{delivery_id}/attempts"),
        &admin_a,
    )
    .await
    .problem(404);
}
webhook_test!(roles_and_tenancy);

// -------------------------------------------------------------------------------------------
// 8. The secret is shown once

async fn secret_is_shown_once(app: &HookApp) {
    let (org, _) = app.create_org("Hooks").await;
    let admin = app.api_key(org, Role::Admin).await;
    let body = json!({ "url": "http://127.0.0.1:1/x", "enabled": false });
    let post = || {
        app.request(Method::POST, "/api/v1/webhooks", &admin)
            .header("idempotency-key", "create-hook-1")
            .json(&body)
    };
    let first = app.send(post()).await;
    let created = first.expect(201);
    let secret = created["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("the first answer holds the secret: {created}"))
        .to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let hook_id = id_of(&created);
    let location = first.header("location").expect("a Location").to_owned();

    let replay = app.send(post()).await;
    let replayed = replay.expect(201);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.header("location"), Some(location.as_str()));
    assert_eq!(replayed["id"], json!(hook_id), "the same endpoint");
    assert!(
        replayed.get("secret").is_none() && !replay.text.contains(&secret),
        "a replay never shows the secret: {replayed}"
    );

    let rotated = app
        .post(
            &format!("/api/v1/webhooks/{hook_id}/rotate-secret"),
            &admin,
            &json!({}),
        )
        .await
        .expect(200);
    let new = rotated["secret"]
        .as_str()
        .expect("the new secret")
        .to_owned();

    let key_material = |s: &str| s.trim_start_matches("whsec_").to_owned();
    let answers: Vec<Resp> = vec![
        app.get("/api/v1/webhooks", &admin).await,
        app.get(&format!("/api/v1/webhooks/{hook_id}"), &admin)
            .await,
        app.patch(
            &format!("/api/v1/webhooks/{hook_id}"),
            &admin,
            &json!({ "description": "patched" }),
        )
        .await,
        app.get("/api/v1/events?limit=200", &admin).await,
    ];
    for resp in &answers {
        assert_eq!(resp.status, 200, "{}", resp.text);
        for s in [&secret, &new] {
            assert!(
                !resp.text.contains(&key_material(s)),
                "a secret leaked: {}",
                resp.text
            );
        }
    }
    let list = answers[0].json();
    assert_eq!(
        ids_in(&list),
        [hook_id.as_str()],
        "one endpoint despite the replay"
    );
    assert!(list["data"][0].get("secret").is_none());
    assert!(answers[1].json().get("secret").is_none());
    let events = answers[3].json();
    assert!(
        events["data"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["type"] == "webhook_endpoint.created")),
        "the endpoint's events are there (and hold no secret): {events}"
    );
}
webhook_test!(secret_is_shown_once);
