//! The engine's outbound webhooks in tests: a receiver that verifies
//! [Standard Webhooks](https://www.standardwebhooks.com) signatures, and signed deliveries to
//! drive your own endpoint with.
//!
//! Both use the engine's own signing code (`workos_webhooks::signing`), the code that signs
//! every delivery the engine sends, so what passes here passes against the engine.
//!
//! - [`WebhookReceiver`] listens on `127.0.0.1`, checks every request's `webhook-id`,
//!   `webhook-timestamp` and `webhook-signature` against the endpoint's secret
//!   ([`start_with`](WebhookReceiver::start_with), or [`start`](WebhookReceiver::start) then
//!   [`add_secret`](WebhookReceiver::add_secret) once the engine made it) and records it
//!   with the verdict ([`ReceivedWebhook::verified`]). It answers `401` to a request that fails
//!   verification, and `204` to one that passes, unless answers are scripted
//!   ([`respond_next`](WebhookReceiver::respond_next), e.g. `500` twice to see the engine
//!   retry). Register its [`url`](WebhookReceiver::url) as the engine's webhook endpoint and
//!   assert what arrived: [`events`](WebhookReceiver::events),
//!   [`wait_for`](WebhookReceiver::wait_for).
//! - [`SignedWebhook`] is one delivery signed as the engine signs it: hand its
//!   [`headers`](SignedWebhook::headers) and [`body`](SignedWebhook::body) to your handler, or
//!   [`post`](SignedWebhook::post) it to your server. Change the body afterwards and the
//!   signature no longer matches, which is the other half of testing a receiver.
//!
//! ```
//! use workos_core::events::DomainEvent;
//! use workos_core::ids::OrgId;
//! use workos_tests::webhooks::{SignedWebhook, WebhookReceiver, WebhookSecret};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let secret = WebhookSecret::generate(); // what the engine gave you for the endpoint
//! let receiver = WebhookReceiver::start_with(&secret).await;
//!
//! let event = DomainEvent::new(OrgId::new(), "person.created", "person", uuid::Uuid::now_v7(), serde_json::json!({}), None);
//! let delivery = SignedWebhook::event(&secret, &event);
//! assert_eq!(delivery.post(&receiver.url()).await.status(), 204);
//!
//! // Signed with another secret: recorded, refused.
//! let forged = SignedWebhook::event(&WebhookSecret::generate(), &event);
//! assert_eq!(forged.post(&receiver.url()).await.status(), 401);
//!
//! assert_eq!(receiver.events(), vec![event]);
//! assert_eq!(receiver.received().len(), 2);
//! # });
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use uuid::Uuid;
use workos_core::events::DomainEvent;
use workos_webhooks::signing::{self, HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};

pub use workos_webhooks::signing::{VerifyError, WebhookSecret};

/// How long [`WebhookReceiver::wait_for`] waits before it fails the test: a guard against a
/// hanging test, not a timing assertion.
pub const WAIT_LIMIT: Duration = Duration::from_secs(60);

/// One delivery, signed as the engine signs it (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignedWebhook {
    /// The `webhook-id` header: the message id.
    pub id: String,
    /// The `webhook-timestamp` header: Unix seconds.
    pub timestamp: String,
    /// The `webhook-signature` header: `v1,<base64>` per secret, space-separated.
    pub signature: String,
    /// The body, byte for byte as signed.
    pub body: Vec<u8>,
}

impl SignedWebhook {
    /// `body` signed with `secret` now, under a fresh message id `msg_<uuid>`.
    #[must_use]
    pub fn new(secret: &WebhookSecret, body: impl Into<Vec<u8>>) -> Self {
        let id = format!("msg_{}", Uuid::now_v7().simple());
        Self::at(&[secret], &id, signing::unix_now(), body)
    }

    /// `event` as the engine delivers it: its JSON as the body, signed with `secret` now.
    ///
    /// # Panics
    /// Never in practice: a [`DomainEvent`] always serializes.
    #[must_use]
    pub fn event(secret: &WebhookSecret, event: &DomainEvent) -> Self {
        Self::new(
            secret,
            serde_json::to_vec(event).expect("a domain event serializes"),
        )
    }

    /// `body` signed with every secret of `secrets` (as during a rotation) under message id
    /// `id` at Unix time `timestamp`: a stale or future timestamp, a fixed id for
    /// deduplication tests.
    #[must_use]
    pub fn at(
        secrets: &[&WebhookSecret],
        id: &str,
        timestamp: i64,
        body: impl Into<Vec<u8>>,
    ) -> Self {
        let body = body.into();
        let headers = signing::WebhookHeaders::new(secrets, id, timestamp, &body);
        Self {
            id: headers.id,
            timestamp: headers.timestamp.to_string(),
            signature: headers.signature,
            body,
        }
    }

    /// The three headers as `(name, value)`: `webhook-id`, `webhook-timestamp`,
    /// `webhook-signature`.
    #[must_use]
    pub fn headers(&self) -> [(&'static str, String); 3] {
        [
            (HEADER_ID, self.id.clone()),
            (HEADER_TIMESTAMP, self.timestamp.clone()),
            (HEADER_SIGNATURE, self.signature.clone()),
        ]
    }

    /// Whether it verifies against `secret` now, as a receiver checks it.
    ///
    /// # Errors
    /// Why it does not: the [`VerifyError`] a receiver would see.
    pub fn verify(&self, secret: &WebhookSecret) -> Result<(), VerifyError> {
        signing::verify_now(
            secret,
            &self.id,
            &self.timestamp,
            &self.signature,
            &self.body,
        )
    }

    /// POSTs it to `url` with its headers and `Content-Type: application/json`, as the engine
    /// does, and answers the response.
    ///
    /// # Panics
    /// When the request cannot be sent (nothing listens at `url`).
    pub async fn post(&self, url: &str) -> reqwest::Response {
        let mut request = reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .body(self.body.clone());
        for (name, value) in self.headers() {
            request = request.header(name, value);
        }
        request
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST the webhook to {url}: {e}"))
    }
}

/// One request a [`WebhookReceiver`] got, with its verdict.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReceivedWebhook {
    /// The request path (query string excluded).
    pub path: String,
    /// Every header, names lower-case, repeated ones joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// The body, byte for byte.
    pub body: Vec<u8>,
    /// Whether the Standard Webhooks signature verified against the receiver's secret, and
    /// why not.
    pub verified: Result<(), VerifyError>,
    /// The status the receiver answered.
    pub status: u16,
}

impl ReceivedWebhook {
    /// A header's value (`""` when absent); `name` lower-case.
    #[must_use]
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }

    /// The `webhook-id` header: stable across the engine's retries of one delivery.
    #[must_use]
    pub fn id(&self) -> &str {
        self.header(HEADER_ID)
    }

    /// The body as the engine's event envelope.
    ///
    /// # Errors
    /// When the body is not a [`DomainEvent`].
    pub fn event(&self) -> Result<DomainEvent, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// The request as a [`SignedWebhook`] (its headers and body), to hand on to your own
    /// handler.
    #[must_use]
    pub fn to_signed(&self) -> SignedWebhook {
        SignedWebhook {
            id: self.header(HEADER_ID).to_owned(),
            timestamp: self.header(HEADER_TIMESTAMP).to_owned(),
            signature: self.header(HEADER_SIGNATURE).to_owned(),
            body: self.body.clone(),
        }
    }
}

struct Shared {
    secrets: Mutex<Vec<WebhookSecret>>,
    received: Mutex<Vec<ReceivedWebhook>>,
    script: Mutex<VecDeque<u16>>,
    arrived: Notify,
}

impl Shared {
    fn received(&self) -> MutexGuard<'_, Vec<ReceivedWebhook>> {
        self.received.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A webhook endpoint on `127.0.0.1` that verifies and records what it is sent (see the
/// [module docs](self)). The server stops when the value is dropped.
pub struct WebhookReceiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl fmt::Debug for WebhookReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookReceiver")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WebhookReceiver {
    /// Starts a receiver verifying against `secret`, on an ephemeral port of `127.0.0.1`.
    /// Every path is accepted. Must run inside a Tokio runtime.
    ///
    /// # Panics
    /// When no local port can be bound.
    pub async fn start_with(secret: &WebhookSecret) -> Self {
        let receiver = Self::start().await;
        receiver.add_secret(secret);
        receiver
    }

    /// Starts a receiver that knows no secret yet: the engine makes an endpoint's secret when
    /// the endpoint is registered, which needs the receiver's [`url`](Self::url) first. Give
    /// it the secret with [`add_secret`](Self::add_secret); until then every request fails
    /// verification ([`VerifyError::NoMatchingSignature`]).
    ///
    /// # Panics
    /// When no local port can be bound.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the webhook receiver on 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            secrets: Mutex::default(),
            received: Mutex::default(),
            script: Mutex::default(),
            arrived: Notify::new(),
        });
        let app = Router::new()
            .fallback(receive)
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, shared, task }
    }

    /// Accepts signatures made with `secret` too (the endpoint's secret, or the new one of a
    /// rotation: a request verifies when it verifies against any of them).
    pub fn add_secret(&self, secret: &WebhookSecret) {
        self.shared
            .secrets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(secret.clone());
    }

    /// `http://127.0.0.1:<port>/webhooks`: the URL to register with the engine. The engine
    /// refuses private addresses unless its SSRF guard allows them (in tests:
    /// `WORKOS_WEBHOOK_ALLOWED_SUBNETS=127.0.0.0/8`, or `SsrfGuard::from_env_value`).
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}/webhooks", self.addr)
    }

    /// Scripts the answers to the next verified requests, in order (e.g. `[500, 500]`: the
    /// engine's next two attempts fail, the third gets `204`). Requests that fail
    /// verification get `401` and do not use up the script.
    ///
    /// # Panics
    /// When a status is not in `100..=999`.
    pub fn respond_next(&self, statuses: &[u16]) {
        for status in statuses {
            assert!(
                StatusCode::from_u16(*status).is_ok(),
                "not an HTTP status: {status}"
            );
        }
        self.shared
            .script
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(statuses);
    }

    /// Every request so far, in arrival order, verified or not.
    #[must_use]
    pub fn received(&self) -> Vec<ReceivedWebhook> {
        self.shared.received().clone()
    }

    /// The requests whose signature verified, in arrival order.
    #[must_use]
    pub fn verified(&self) -> Vec<ReceivedWebhook> {
        self.shared
            .received()
            .iter()
            .filter(|r| r.verified.is_ok())
            .cloned()
            .collect()
    }

    /// The events of the verified requests that were answered `2xx`, in arrival order:
    /// what a receiver accepted.
    ///
    /// # Panics
    /// When an accepted body is not a [`DomainEvent`].
    #[must_use]
    pub fn events(&self) -> Vec<DomainEvent> {
        self.verified()
            .iter()
            .filter(|r| (200..300).contains(&r.status))
            .map(|r| r.event().expect("the body is a domain event"))
            .collect()
    }

    /// Waits until `n` requests have arrived (verified or not) and answers them; fails the
    /// test after [`WAIT_LIMIT`].
    ///
    /// # Panics
    /// When fewer than `n` arrive within [`WAIT_LIMIT`].
    pub async fn wait_for(&self, n: usize) -> Vec<ReceivedWebhook> {
        let waited = tokio::time::timeout(WAIT_LIMIT, async {
            loop {
                let arrived = self.shared.arrived.notified();
                if self.shared.received().len() >= n {
                    return;
                }
                arrived.await;
            }
        })
        .await;
        let received = self.received();
        assert!(
            waited.is_ok(),
            "the webhook receiver got {} of {n} requests within {WAIT_LIMIT:?}",
            received.len()
        );
        received
    }
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
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
    let get = |name: &str| recorded.get(name).map_or("", String::as_str);
    let secrets = shared
        .secrets
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    // Accepted when any secret verifies it; otherwise the first secret's verdict (a bad
    // header or timestamp reads the same under every secret).
    let mut verified = Err(VerifyError::NoMatchingSignature);
    for (i, secret) in secrets.iter().enumerate() {
        let verdict = signing::verify_now(
            secret,
            get(HEADER_ID),
            get(HEADER_TIMESTAMP),
            get(HEADER_SIGNATURE),
            &body,
        );
        if verdict.is_ok() || i == 0 {
            verified = verdict;
        }
        if verified.is_ok() {
            break;
        }
    }
    let status = if verified.is_ok() {
        shared
            .script
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
            .unwrap_or(204)
    } else {
        401
    };
    shared.received().push(ReceivedWebhook {
        path: uri.path().to_owned(),
        headers: recorded,
        body: body.to_vec(),
        verified,
        status,
    });
    shared.arrived.notify_waiters();
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> WebhookSecret {
        WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap()
    }

    #[test]
    fn a_signed_webhook_verifies_until_it_is_changed() {
        let mut signed = SignedWebhook::new(&secret(), b"{\"a\":1}".to_vec());
        assert!(signed.id.starts_with("msg_"));
        assert_eq!(signed.verify(&secret()), Ok(()));
        assert_eq!(
            signed.verify(&WebhookSecret::generate()),
            Err(VerifyError::NoMatchingSignature)
        );
        signed.body = b"{\"a\":2}".to_vec();
        assert_eq!(
            signed.verify(&secret()),
            Err(VerifyError::NoMatchingSignature)
        );
        let stale = SignedWebhook::at(&[&secret()], "msg_1", signing::unix_now() - 3600, "{}");
        assert_eq!(stale.verify(&secret()), Err(VerifyError::TimestampTooOld));
        let names: Vec<&str> = stale.headers().iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            ["webhook-id", "webhook-timestamp", "webhook-signature"]
        );
    }

    #[tokio::test]
    async fn the_receiver_verifies_records_and_answers_as_scripted() {
        let receiver = WebhookReceiver::start_with(&secret()).await;
        receiver.respond_next(&[500]);
        let good = SignedWebhook::new(&secret(), "{}");
        assert_eq!(good.post(&receiver.url()).await.status(), 500);
        assert_eq!(good.post(&receiver.url()).await.status(), 204);
        let forged = SignedWebhook::new(&WebhookSecret::generate(), "{}");
        assert_eq!(forged.post(&receiver.url()).await.status(), 401);
        let unsigned = reqwest::Client::new()
            .post(receiver.url())
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(unsigned.status(), 401);

        let all = receiver.wait_for(4).await;
        let verdicts: Vec<_> = all.iter().map(|r| (r.status, r.verified.clone())).collect();
        assert_eq!(
            verdicts,
            [
                (500, Ok(())),
                (204, Ok(())),
                (401, Err(VerifyError::NoMatchingSignature)),
                (401, Err(VerifyError::MissingHeader { name: HEADER_ID })),
            ]
        );
        assert_eq!(all[0].path, "/webhooks");
        assert_eq!(all[0].id(), good.id);
        assert_eq!(all[0].to_signed(), good);
        assert_eq!(receiver.verified().len(), 2);
    }

    #[tokio::test]
    async fn a_receiver_without_a_secret_refuses_until_it_is_given_one() {
        let receiver = WebhookReceiver::start().await;
        let signed = SignedWebhook::new(&secret(), "{}");
        assert_eq!(signed.post(&receiver.url()).await.status(), 401);
        receiver.add_secret(&WebhookSecret::generate());
        receiver.add_secret(&secret());
        assert_eq!(signed.post(&receiver.url()).await.status(), 204);
        let verdicts: Vec<_> = receiver
            .received()
            .into_iter()
            .map(|r| r.verified)
            .collect();
        assert_eq!(verdicts, [Err(VerifyError::NoMatchingSignature), Ok(())]);
        assert_eq!(receiver.verified().len(), 1);
    }
}
