//! Test databases, a recording webhook receiver, and a tenant with a webhook service.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use workos_core::crypto::{Cipher, SecretKey};
use workos_core::domain::{
    Company, DeliveryAttempt, DeliveryFilter, HttpUrl, NewCompany, NewOrg, NewWebhook,
    WebhookDelivery,
};
use workos_core::events::{DomainEvent, EventFilter};
use workos_core::ids::{UserId, WebhookDeliveryId, WebhookId};
use workos_core::page::PageRequest;
use workos_core::repo::{CompanyRepo, Directory, EventRepo, WebhookRepo};
use workos_core::tenant::{Role, TenantContext};
use workos_store::SqlStore;
use workos_webhooks::schedule::RetrySchedule;
use workos_webhooks::service::WebhookService;
use workos_webhooks::signing::{self, WebhookSecret};
use workos_webhooks::ssrf::SsrfGuard;
use workos_webhooks::worker::{Pipeline, PipelineHandle, WebhookConfig};

/// The longest any wait in these tests may take: a hang guard, not a timing assertion.
pub(crate) const HANG_GUARD: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Receiver

/// How the receiver answers one request.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: String,
    pub(crate) delay: Duration,
}

impl Reply {
    pub(crate) fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: String::new(),
            delay: Duration::ZERO,
        }
    }

    pub(crate) fn ok() -> Self {
        Self::status(200)
    }

    pub(crate) fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    pub(crate) fn body(mut self, body: impl Into<String>) -> Self {
        self.body = body.into();
        self
    }

    pub(crate) fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) path: String,
    /// Lower-case names; repeated headers joined with `, `.
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) body: Vec<u8>,
}

impl Received {
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map_or("", String::as_str)
            .trim_start()
    }

    /// Verifies the Standard Webhooks signature with `secret`, as a receiver would.
    pub(crate) fn verify(&self, secret: &WebhookSecret) -> Result<(), signing::VerifyError> {
        signing::verify_now(
            secret,
            self.header(signing::HEADER_ID),
            self.header(signing::HEADER_TIMESTAMP),
            self.header(signing::HEADER_SIGNATURE),
            &self.body,
        )
    }

    pub(crate) fn event(&self) -> DomainEvent {
        serde_json::from_slice(&self.body).expect("the body is a domain event")
    }
}

struct ReceiverState {
    requests: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<Reply>>,
    otherwise: Reply,
}

/// A webhook receiver on 127.0.0.1 that records every request and answers each with the next
/// scripted reply, then `otherwise`.
pub(crate) struct Receiver {
    addr: SocketAddr,
    state: Arc<ReceiverState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut recorded = BTreeMap::<String, String>::new();
    for (name, value) in &headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        recorded
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    state.requests.lock().unwrap().push(Received {
        path: uri.path().to_owned(),
        headers: recorded,
        body: body.to_vec(),
    });
    let reply = state
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| state.otherwise.clone());
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut response = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    for (name, value) in reply.headers {
        response
            .headers_mut()
            .insert(name, value.parse().expect("header value"));
    }
    response
}

impl Receiver {
    pub(crate) async fn start(script: Vec<Reply>, otherwise: Reply) -> Self {
        let state = Arc::new(ReceiverState {
            requests: Mutex::default(),
            script: Mutex::new(script.into()),
            otherwise,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the receiver");
        let addr = listener.local_addr().unwrap();
        let app = Router::new().fallback(receive).with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, state, task }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn port(&self) -> u16 {
        self.addr.port()
    }

    pub(crate) fn requests(&self) -> Vec<Received> {
        self.state.requests.lock().unwrap().clone()
    }
}

/// A port on 127.0.0.1 with nothing listening.
pub(crate) async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

/// Polls `condition` until it holds; panics after [`HANG_GUARD`].
pub(crate) async fn wait_until<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let polled = tokio::time::timeout(HANG_GUARD, async {
        while !condition().await {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    })
    .await;
    assert!(polled.is_ok(), "timed out waiting for {what}");
}

// ---------------------------------------------------------------------------------------------
// Tenant and pipeline

/// The SSRF guard of the tests: loopback allowed.
pub(crate) fn loopback_guard() -> SsrfGuard {
    SsrfGuard::from_env_value("127.0.0.0/8").unwrap()
}

/// An org with its owner, a cipher, and a webhook service allowing loopback.
pub(crate) struct Harness {
    pub(crate) store: Arc<SqlStore>,
    pub(crate) cipher: Arc<Cipher>,
    pub(crate) ctx: TenantContext,
    pub(crate) service: WebhookService<SqlStore>,
}

impl Harness {
    pub(crate) async fn new(store: &SqlStore) -> Self {
        let store = Arc::new(store.clone());
        let owner = UserId::new();
        let org = store
            .create_org(
                NewOrg {
                    name: "Acme".into(),
                },
                Some(owner),
            )
            .await
            .expect("create org");
        let ctx = TenantContext::user(org.id, owner, Role::Owner);
        let cipher = Arc::new(Cipher::new(1, SecretKey::generate()));
        let service = WebhookService::new(store.clone(), cipher.clone(), loopback_guard());
        Self {
            store,
            cipher,
            ctx,
            service,
        }
    }

    /// A pipeline config with `schedule`, loopback allowed, and a short poll interval.
    pub(crate) fn config(schedule: &str) -> WebhookConfig {
        WebhookConfig {
            retry_schedule: RetrySchedule::parse(schedule).expect("valid schedule"),
            timeout: Duration::from_secs(5),
            allowed_subnets: loopback_guard(),
            poll_interval: Duration::from_millis(100),
            ..WebhookConfig::default()
        }
    }

    pub(crate) fn spawn(&self, config: WebhookConfig) -> PipelineHandle {
        Pipeline::spawn(self.store.clone(), self.cipher.clone(), config).expect("spawn pipeline")
    }

    /// Registers an endpoint at `url` receiving `event_types`.
    pub(crate) async fn endpoint(
        &self,
        url: &str,
        event_types: &[&str],
    ) -> (workos_core::domain::Webhook, WebhookSecret) {
        self.service
            .create(&self.ctx, new_webhook(url, event_types))
            .await
            .expect("create endpoint")
    }

    pub(crate) async fn company(&self, name: &str) -> Company {
        self.store
            .create_company(
                &self.ctx,
                NewCompany {
                    name: name.into(),
                    domain: None,
                },
            )
            .await
            .expect("create company")
    }

    pub(crate) async fn deliveries(&self, webhook_id: WebhookId) -> Vec<WebhookDelivery> {
        self.store
            .list_deliveries(
                &self.ctx,
                webhook_id,
                DeliveryFilter::default(),
                PageRequest::first(100).unwrap(),
            )
            .await
            .expect("list deliveries")
            .data
    }

    /// The endpoint's only delivery.
    pub(crate) async fn delivery(&self, webhook_id: WebhookId) -> WebhookDelivery {
        let mut all = self.deliveries(webhook_id).await;
        assert_eq!(all.len(), 1, "expected one delivery, got {all:#?}");
        all.remove(0)
    }

    pub(crate) async fn attempts(&self, id: WebhookDeliveryId) -> Vec<DeliveryAttempt> {
        self.store
            .list_attempts(&self.ctx, id)
            .await
            .expect("list attempts")
    }

    /// Waits until the endpoint has `n` deliveries and each satisfies `done`.
    pub(crate) async fn wait_deliveries(
        &self,
        webhook_id: WebhookId,
        n: usize,
        what: &str,
        done: impl Fn(&WebhookDelivery) -> bool,
    ) -> Vec<WebhookDelivery> {
        wait_until(what, || async {
            let all = self.deliveries(webhook_id).await;
            all.len() == n && all.iter().all(&done)
        })
        .await;
        self.deliveries(webhook_id).await
    }

    pub(crate) async fn events(&self, types: &[&str]) -> Vec<DomainEvent> {
        self.store
            .list_events(
                &self.ctx,
                EventFilter {
                    types: types.iter().map(|t| (*t).to_owned()).collect(),
                    ..EventFilter::default()
                },
                PageRequest::first(100).unwrap(),
            )
            .await
            .expect("list events")
            .data
    }
}

pub(crate) fn new_webhook(url: &str, event_types: &[&str]) -> NewWebhook {
    NewWebhook {
        url: HttpUrl::parse(url).expect("valid url"),
        description: None,
        event_types: event_types.iter().map(|t| (*t).to_owned()).collect(),
        enabled: true,
        headers: BTreeMap::from([("X-Tenant".to_owned(), "acme".to_owned())]),
        rate_limit_per_second: None,
    }
}
