//! The test harness: a real server on a random port over a fresh database, an HTTP client, and
//! the assertions the API tests share.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};
use uuid::Uuid;
use workos_core::crypto::SecretKey;
use workos_core::domain::{E164, NewPhone, PhoneCapabilities};
use workos_core::ids::OrgId;
use workos_core::tenant::{Role, TenantContext};
use workos_reference_server::config::Config;
use workos_reference_server::state::AppState;
use workos_reference_server::{app, bootstrap, serve};
use workos_store::SqlStore;
use workos_tests::db::TestDatabase;

/// The Python interpreter the tests run the official packages' scripts with: `WORKOS_PYTHON`,
/// default `python3`.
pub(crate) fn python() -> String {
    std::env::var("WORKOS_PYTHON")
        .ok()
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| "python3".to_owned())
}

/// Which database a test server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
    /// A Citus cluster (`WORKOS_CITUS_URL`), the tables distributed by org.
    Citus,
}

/// The webhook settings of every test server that delivers webhooks or leads, as they would be
/// set in the environment.
#[cfg(any(feature = "gmail", feature = "webhooks"))]
pub(crate) const WEBHOOK_ENV: [(&str, &str); 3] = [
    ("WORKOS_WEBHOOK_ALLOWED_SUBNETS", "127.0.0.0/8,::1/128"),
    ("WORKOS_WEBHOOK_RETRY_SCHEDULE", "0,0,0"),
    ("WORKOS_WEBHOOK_TIMEOUT_SECS", "5"),
];

/// What a test may change about the server's configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) rate_limit_per_minute: u32,
    /// `WORKOS_ORG_RATE_LIMIT_PER_MINUTE` (default unset: 0).
    pub(crate) org_rate_limit_per_minute: u32,
    /// `WORKOS_TRUSTED_PROXIES` (default none).
    pub(crate) trusted_proxies: &'static str,
    /// `WORKOS_JWT_AUDIENCE` (default unset).
    pub(crate) jwt_audience: &'static str,
    /// `WORKOS_JWT_ISSUER` (default unset).
    pub(crate) jwt_issuer: &'static str,
    /// `WORKOS_AUTH_FAILURES_PER_MINUTE` (default: too high to meet).
    pub(crate) auth_failures_per_minute: u32,
}

impl Default for Settings {
    fn default() -> Self {
        // High enough that no test but the rate-limit one ever meets it.
        Self {
            rate_limit_per_minute: 100_000,
            org_rate_limit_per_minute: 0,
            trusted_proxies: "",
            jwt_audience: "",
            jwt_issuer: "",
            auth_failures_per_minute: 100_000,
        }
    }
}

/// A running server on a database of its own.
pub(crate) struct TestApp {
    pub(crate) addr: SocketAddr,
    pub(crate) client: reqwest::Client,
    pub(crate) store: SqlStore,
    pub(crate) state: AppState,
    /// The HS256 secret user JWTs are signed with.
    pub(crate) jwt_secret: String,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    // Dropped last, after the server task is aborted.
    _db: TestDatabase,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A server with the default settings; `None` for Postgres when `DATABASE_URL` is not set.
pub(crate) async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, Settings::default()).await
}

/// A server on a fresh database of `backend`, configured through `Config::from_lookup`.
pub(crate) async fn spawn_app_with(backend: Backend, settings: Settings) -> Option<TestApp> {
    let db = match backend {
        Backend::Sqlite => TestDatabase::sqlite("workos-srv"),
        Backend::Postgres => TestDatabase::postgres("workos_srv").await?,
        Backend::Citus => {
            TestDatabase::citus(
                "workos_srv",
                &workos_store::schema_fingerprint(),
                |url| async move {
                    let store = SqlStore::connect(&url)
                        .await
                        .expect("connect to the template");
                    store.migrate().await.expect("migrate the template");
                    store.close().await;
                },
            )
            .await?
        }
    };
    let url = db.url().to_owned();
    let store = SqlStore::connect(&url)
        .await
        .expect("connect to the test database");
    store.migrate().await.expect("migrate the test database");

    let jwt_secret = format!("jwt-secret-{}", Uuid::now_v7().simple());
    // Base64 of 32 random bytes, like the encryption key.
    let pepper = SecretKey::generate().to_base64();
    let mut env: HashMap<&str, String> = HashMap::from([
        ("WORKOS_ENCRYPTION_KEY", SecretKey::generate().to_base64()),
        ("WORKOS_API_KEY_PEPPER", pepper),
        ("WORKOS_JWT_SECRET", jwt_secret.clone()),
        (
            "WORKOS_RATE_LIMIT_PER_MINUTE",
            settings.rate_limit_per_minute.to_string(),
        ),
        ("DATABASE_URL", url),
        (
            "WORKOS_TRUSTED_PROXIES",
            settings.trusted_proxies.to_owned(),
        ),
        ("WORKOS_JWT_AUDIENCE", settings.jwt_audience.to_owned()),
        ("WORKOS_JWT_ISSUER", settings.jwt_issuer.to_owned()),
        (
            "WORKOS_AUTH_FAILURES_PER_MINUTE",
            settings.auth_failures_per_minute.to_string(),
        ),
    ]);
    if settings.org_rate_limit_per_minute > 0 {
        env.insert(
            "WORKOS_ORG_RATE_LIMIT_PER_MINUTE",
            settings.org_rate_limit_per_minute.to_string(),
        );
    }
    let config = Config::from_lookup(|k| env.get(k).cloned()).expect("valid test configuration");
    let state = AppState::new(store.clone(), config);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a local port");
    let addr = listener.local_addr().expect("local address");
    let server = tokio::spawn(serve(listener, app(state.clone()), std::future::pending()));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client");
    Some(TestApp {
        addr,
        client,
        store,
        state,
        jwt_secret,
        server,
        _db: db,
    })
}

/// A response, read whole.
#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) text: String,
}

impl Resp {
    /// A header's value as text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON.
    #[track_caller]
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): status {}, body {:?}",
                self.status, self.text
            )
        })
    }

    /// Asserts the status and returns the JSON body (or `null` for an empty one).
    #[track_caller]
    pub(crate) fn expect(&self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        if self.text.is_empty() {
            Value::Null
        } else {
            self.json()
        }
    }

    /// Asserts that this is an `application/problem+json` document with `status`, and returns it.
    #[track_caller]
    pub(crate) fn problem(&self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        let content_type = self.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("application/problem+json"),
            "a {status} must be application/problem+json, got {content_type:?}; body: {}",
            self.text
        );
        let p = self.json();
        assert!(
            p["type"].as_str().is_some_and(|t| !t.is_empty()),
            "problem without a type: {p}"
        );
        assert!(
            p["title"].as_str().is_some_and(|t| !t.is_empty()),
            "problem without a title: {p}"
        );
        assert_eq!(p["status"], json!(status), "problem status field: {p}");
        assert!(p["detail"].is_string(), "problem without a detail: {p}");
        p
    }

    /// Asserts a 422 validation problem with an entry in `errors` for `field`.
    #[track_caller]
    pub(crate) fn invalid_field(&self, field: &str) -> Value {
        let p = self.problem(422);
        assert_field_error(&p, field);
        p
    }
}

/// The problem names `field` in its `errors`.
#[track_caller]
/// `workos-server` (this package's binary) with nothing of the test process's configuration:
/// every `WORKOS_`, provider, `PG` and `DATABASE_URL` variable removed, for the caller to set.
pub(crate) fn workos_server_command() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_workos-server"));
    for (name, _) in std::env::vars_os() {
        let n = name.to_string_lossy();
        if [
            "WORKOS_",
            "TWILIO_",
            "GOOGLE_",
            "GMAIL_",
            "PG",
            "DATABASE_URL",
        ]
        .iter()
        .any(|p| n.starts_with(p))
        {
            command.env_remove(&name);
        }
    }
    command
}

pub(crate) fn assert_field_error(problem: &Value, field: &str) {
    let errors = problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("problem without errors: {problem}"));
    assert!(
        errors
            .iter()
            .all(|e| e["field"].is_string() && e["message"].is_string()),
        "every error has a field and a message: {problem}"
    );
    assert!(
        errors.iter().any(|e| e["field"] == field),
        "expected an error on {field:?}: {problem}"
    );
}

/// Distinct valid phone numbers (US, +1 415 555 2xxx) for one process.
pub(crate) fn phone_number() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed) % 7000;
    format!("+1415555{:04}", 2000 + n)
}

/// A unique email address.
pub(crate) fn email() -> String {
    format!("p{}@example.com", Uuid::now_v7().simple())
}

/// An id, as the string in a JSON record.
#[track_caller]
pub(crate) fn id_of(record: &Value) -> String {
    record["id"]
        .as_str()
        .unwrap_or_else(|| panic!("record without an id: {record}"))
        .to_owned()
}

/// The ids of a list answer's `data`, in order.
#[track_caller]
pub(crate) fn ids_in(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list answer: {list}"))
        .iter()
        .map(id_of)
        .collect()
}

/// Claims of a user JWT.
#[derive(serde::Serialize)]
struct Claims {
    sub: String,
    exp: i64,
    iat: i64,
}

/// An HS256 JWT for `user` signed with `secret`, expiring `exp_in_secs` from now (negative:
/// already expired).
pub(crate) fn jwt_with(secret: &str, user: Uuid, exp_in_secs: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: user.to_string(),
        exp: now + exp_in_secs,
        iat: now,
    };
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()).expect("a non-empty HMAC key"),
    )
    .expect("sign a JWT")
}

impl TestApp {
    /// `http://127.0.0.1:port` + `path`.
    /// The database's URL when it is Postgres (or Citus), for checks on its sessions.
    pub(crate) fn postgres_url(&self) -> Option<&str> {
        let url = self._db.url();
        url.starts_with("postgres").then_some(url)
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A new org with an owner API key, made as `workos-server admin create-org` does.
    pub(crate) async fn create_org(&self, name: &str) -> (OrgId, String) {
        let (org, secret) = bootstrap::create_org_with_key(&self.store, &self.state.hasher, name)
            .await
            .expect("create an org");
        (org.id, secret.expose().to_owned())
    }

    /// A new API key of `org` with `role`.
    pub(crate) async fn api_key(&self, org: OrgId, role: Role) -> String {
        let ctx = TenantContext::system(org, "test");
        let (_, secret) = bootstrap::issue_api_key(
            &self.store,
            &self.state.hasher,
            &ctx,
            &format!("{role} key"),
            role,
        )
        .await
        .expect("issue an API key");
        secret.expose().to_owned()
    }

    /// Maps `number` to `org` (SMS, MMS and voice) straight through the store, as the operator's
    /// `admin assign-phone` does once Twilio has confirmed the number (this server has no Twilio
    /// to ask); returns the phone as the API shows it.
    pub(crate) async fn map_phone(&self, org: OrgId, number: &str, label: Option<&str>) -> Value {
        use workos_core::repo::PhoneRepo as _;
        let new = NewPhone {
            number: E164::parse(number).expect("a valid test number"),
            provider: "twilio".to_owned(),
            label: label.map(str::to_owned),
            capabilities: PhoneCapabilities {
                sms: true,
                mms: true,
                voice: true,
            },
        };
        let phone = self
            .store
            .create_phone(&TenantContext::system(org, "test"), new)
            .await
            .expect("map a phone");
        serde_json::to_value(phone).expect("phone as JSON")
    }

    /// The URL of the test database (for running the `workos-server` binary on it).
    pub(crate) fn database_url(&self) -> &str {
        self._db.url()
    }

    /// A valid JWT for `user`, signed with the server's secret.
    pub(crate) fn jwt(&self, user: Uuid) -> String {
        jwt_with(&self.jwt_secret, user, 3600)
    }

    /// A request to `path`, with `Authorization: Bearer key` unless `key` is empty.
    pub(crate) fn request(&self, method: Method, path: &str, key: &str) -> RequestBuilder {
        let rb = self.client.request(method, self.url(path));
        if key.is_empty() {
            rb
        } else {
            rb.bearer_auth(key)
        }
    }

    /// A request as the user of `jwt`, acting in `org` (`X-Org-Id`).
    pub(crate) fn user_request(
        &self,
        method: Method,
        path: &str,
        jwt: &str,
        org: OrgId,
    ) -> RequestBuilder {
        self.request(method, path, jwt)
            .header("x-org-id", org.to_string())
    }

    /// Sends a request and reads the whole response.
    /// Fails on any 5xx: no test here should ever meet one.
    pub(crate) async fn send(&self, rb: RequestBuilder) -> Resp {
        let resp = self.send_any(rb).await;
        assert!(
            resp.status < 500,
            "the server answered {}: {}",
            resp.status,
            resp.text
        );
        resp
    }

    /// Sends a request and reads the whole response, whatever its status.
    pub(crate) async fn send_any(&self, rb: RequestBuilder) -> Resp {
        let response = rb.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("read the body");
        Resp {
            status,
            headers,
            text,
        }
    }

    pub(crate) async fn get(&self, path: &str, key: &str) -> Resp {
        self.send(self.request(Method::GET, path, key)).await
    }

    pub(crate) async fn post(&self, path: &str, key: &str, body: &Value) -> Resp {
        self.send(self.request(Method::POST, path, key).json(body))
            .await
    }

    pub(crate) async fn patch(&self, path: &str, key: &str, body: &Value) -> Resp {
        self.send(self.request(Method::PATCH, path, key).json(body))
            .await
    }

    pub(crate) async fn delete(&self, path: &str, key: &str) -> Resp {
        self.send(self.request(Method::DELETE, path, key)).await
    }

    /// POSTs `body` to the collection `path`, asserts `201` with a `Location` naming the new
    /// record, and returns the record.
    #[track_caller]
    pub(crate) fn create<'a>(
        &'a self,
        path: &'a str,
        key: &'a str,
        body: Value,
    ) -> impl Future<Output = Value> + 'a {
        let caller = std::panic::Location::caller();
        async move {
            let resp = self.post(path, key, &body).await;
            assert_eq!(
                resp.status, 201,
                "POST {path} {body} (at {caller}): {}",
                resp.text
            );
            let record = resp.json();
            let id = id_of(&record);
            let location = resp
                .header("location")
                .unwrap_or_else(|| panic!("201 without Location (at {caller})"));
            assert!(
                location.ends_with(&format!("{path}/{id}")),
                "Location {location:?} must name the new record {path}/{id} (at {caller})"
            );
            record
        }
    }

    /// GETs `path` and returns the 200 body.
    #[track_caller]
    pub(crate) fn read<'a>(
        &'a self,
        path: &'a str,
        key: &'a str,
    ) -> impl Future<Output = Value> + 'a {
        let caller = std::panic::Location::caller();
        async move {
            let resp = self.get(path, key).await;
            assert_eq!(resp.status, 200, "GET {path} (at {caller}): {}", resp.text);
            resp.json()
        }
    }

    /// Adds a new user to the org as `role` (with the owner's key) and returns the user.
    pub(crate) async fn add_member(&self, owner_key: &str, role: &str) -> Uuid {
        let user = Uuid::now_v7();
        self.create(
            "/api/v1/members",
            owner_key,
            json!({ "user_id": user, "role": role }),
        )
        .await;
        user
    }
}

/// One record of every resource in an org, made through the API.
pub(crate) struct Fixtures {
    pub(crate) company: Value,
    pub(crate) person: Value,
    pub(crate) deal: Value,
    pub(crate) task: Value,
    pub(crate) interaction: Value,
    pub(crate) member: Value,
    pub(crate) api_key: Value,
    pub(crate) phone: Value,
    pub(crate) event: Value,
}

impl Fixtures {
    /// Creates one of each with the owner's key.
    pub(crate) async fn create(app: &TestApp, owner_key: &str) -> Self {
        let company = app
            .create(
                "/api/v1/companies",
                owner_key,
                json!({ "name": "Acme", "domain": "acme.example" }),
            )
            .await;
        let person = app
            .create(
                "/api/v1/people",
                owner_key,
                json!({ "first_name": "Ada", "last_name": "Lovelace", "email": email(), "company_id": company["id"] }),
            )
            .await;
        let deal = app
            .create(
                "/api/v1/deals",
                owner_key,
                json!({ "name": "Big deal", "amount_minor": 100_000, "currency": "USD", "stage": "qualified",
                        "company_id": company["id"], "person_id": person["id"] }),
            )
            .await;
        let task = app
            .create(
                "/api/v1/tasks",
                owner_key,
                json!({ "title": "Call Ada", "deal_id": deal["id"], "person_id": person["id"] }),
            )
            .await;
        let interaction = app
            .create(
                "/api/v1/interactions",
                owner_key,
                json!({ "kind": "note", "occurred_at": "2024-05-01T10:00:00Z", "summary": "Met Ada",
                        "person_id": person["id"] }),
            )
            .await;
        let member = app
            .create(
                "/api/v1/members",
                owner_key,
                json!({ "user_id": Uuid::now_v7(), "role": "member" }),
            )
            .await;
        let mut api_key = app
            .create(
                "/api/v1/api-keys",
                owner_key,
                json!({ "name": "fixture", "role": "viewer" }),
            )
            .await;
        // The stored key as GET shows it: the secret is shown only in the creation answer.
        let secret = api_key.as_object_mut().and_then(|k| k.remove("api_key"));
        assert!(
            secret.is_some_and(|s| s.is_string()),
            "the creation answer holds the secret"
        );
        let org: OrgId = company["org_id"]
            .as_str()
            .and_then(|o| o.parse().ok())
            .expect("the company names its org");
        // Tenants register only numbers of their own Twilio account (this server has none):
        // the operator maps this one.
        let phone = app.map_phone(org, &phone_number(), Some("main")).await;
        let events = app
            .read(
                &format!(
                    "/api/v1/events?type=company.created&subject_id={}",
                    id_of(&company)
                ),
                owner_key,
            )
            .await;
        let event = events["data"][0].clone();
        assert!(
            event.is_object(),
            "the company.created event is listed: {events}"
        );
        Self {
            company,
            person,
            deal,
            task,
            interaction,
            member,
            api_key,
            phone,
            event,
        }
    }

    /// `(item path, record, valid patch body when the resource can be patched)` for every
    /// resource, events included.
    pub(crate) fn items(&self) -> Vec<(String, &Value, Option<Value>)> {
        let item = |collection: &str, v: &Value| format!("/api/v1/{collection}/{}", id_of(v));
        vec![
            (
                item("companies", &self.company),
                &self.company,
                Some(json!({ "name": "Hijacked" })),
            ),
            (
                item("people", &self.person),
                &self.person,
                Some(json!({ "title": "Hijacked" })),
            ),
            (
                item("deals", &self.deal),
                &self.deal,
                Some(json!({ "stage": "lost" })),
            ),
            (
                item("tasks", &self.task),
                &self.task,
                Some(json!({ "status": "canceled" })),
            ),
            (
                item("interactions", &self.interaction),
                &self.interaction,
                Some(json!({ "summary": "Hijacked" })),
            ),
            (
                item("members", &self.member),
                &self.member,
                Some(json!({ "role": "owner" })),
            ),
            (
                item("api-keys", &self.api_key),
                &self.api_key,
                Some(json!({ "name": "Hijacked" })),
            ),
            (
                item("phones", &self.phone),
                &self.phone,
                Some(json!({ "label": "Hijacked" })),
            ),
            (item("events", &self.event), &self.event, None),
        ]
    }

    /// The id to use for a `{param}` that follows the collection segment `collection`.
    pub(crate) fn id_for(&self, collection: &str) -> Option<String> {
        let v = match collection {
            "companies" => &self.company,
            "people" => &self.person,
            "deals" => &self.deal,
            "tasks" => &self.task,
            "interactions" => &self.interaction,
            "members" => &self.member,
            "api-keys" => &self.api_key,
            "phones" => &self.phone,
            "events" => &self.event,
            _ => return None,
        };
        Some(id_of(v))
    }
}

/// The methods the OpenAPI document lists for `path` (lower case).
pub(crate) fn openapi_methods(doc: &Value, path: &str) -> Vec<String> {
    doc["paths"][path]
        .as_object()
        .map(|item| {
            item.keys()
                .filter(|k| {
                    [
                        "get", "post", "put", "patch", "delete", "head", "options", "trace",
                    ]
                    .contains(&k.as_str())
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}
