//! The load: company creates through the API, in a closed or an open loop, each noted in the
//! receiver's sink so that its delivery can be timed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use anyhow::{Result, ensure};
use hdrhistogram::Histogram;
use tokio::task::JoinSet;
use workos_tests::bench::{self, histogram};

use crate::receiver::Sink;
use crate::server::Server;

/// Creates companies named `wh <seq>`, noting each one's send time in the sink.
pub(crate) struct Api {
    pub(crate) client: reqwest::Client,
    pub(crate) base: String,
    pub(crate) auth: String,
    pub(crate) sink: Arc<Sink>,
    pub(crate) next: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) first_error: Mutex<Option<String>>,
    /// Create request latency (send → 201), µs.
    pub(crate) api_latency: Mutex<Histogram<u64>>,
}

impl Api {
    pub(crate) fn new(server: &Server, sink: Arc<Sink>) -> Result<Self> {
        let client = bench::http_client()?;
        Ok(Self {
            client,
            base: server.base.clone(),
            auth: server.auth.clone(),
            sink,
            next: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            first_error: Mutex::new(None),
            api_latency: Mutex::new(histogram()),
        })
    }

    pub(crate) async fn register(&self, url: &str) -> Result<()> {
        let response = self
            .client
            .post(format!("{}/api/v1/webhooks", self.base))
            .header(reqwest::header::AUTHORIZATION, &self.auth)
            .json(&serde_json::json!({ "url": url, "event_types": ["company.created"] }))
            .send()
            .await?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        ensure!(
            status == reqwest::StatusCode::CREATED,
            "registering {url}: {status} {body}"
        );
        Ok(())
    }

    /// One create; latency counts from `scheduled` (the send time when `None`).
    pub(crate) async fn create(&self, scheduled: Option<Instant>) -> bool {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        let sent = Instant::now();
        self.sink.mark_sent(seq, scheduled.unwrap_or(sent));
        let outcome = self
            .client
            .post(format!("{}/api/v1/companies", self.base))
            .header(reqwest::header::AUTHORIZATION, &self.auth)
            .json(&serde_json::json!({ "name": format!("wh {seq}") }))
            .send()
            .await;
        let error = match outcome {
            Ok(r) if r.status() == reqwest::StatusCode::CREATED => {
                let _ = r.bytes().await;
                let us = bench::micros(sent.elapsed());
                self.api_latency
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .saturating_record(us);
                return true;
            }
            Ok(r) => format!("HTTP {}", r.status()),
            Err(e) => e.to_string(),
        };
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.first_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(error);
        false
    }

    pub(crate) fn reset_latency(&self) {
        self.api_latency
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .reset();
    }
}

/// Closed loop: `concurrency` creates in flight until `n` were made or `until` passed. Returns
/// how many succeeded.
pub(crate) async fn closed_loop(
    api: &Arc<Api>,
    concurrency: usize,
    n: Option<u64>,
    until: Option<Instant>,
) -> u64 {
    let made = Arc::new(AtomicU64::new(0));
    let budget = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency {
        let (api, made, budget) = (api.clone(), made.clone(), budget.clone());
        tasks.spawn(async move {
            loop {
                if until.is_some_and(|t| Instant::now() >= t) {
                    return;
                }
                if let Some(n) = n
                    && budget.fetch_add(1, Ordering::Relaxed) >= n
                {
                    return;
                }
                if api.create(None).await {
                    made.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    made.load(Ordering::Relaxed)
}

/// Open loop: `rate` creates/s for `secs`, at most `max_in_flight` outstanding. Returns how many
/// succeeded.
pub(crate) async fn open_loop(
    api: &Arc<Api>,
    rate: f64,
    secs: f64,
    max_in_flight: usize,
) -> Result<u64> {
    let made = Arc::new(AtomicU64::new(0));
    bench::paced(rate, secs, max_in_flight, |scheduled| {
        let (api, made) = (api.clone(), made.clone());
        async move {
            if api.create(Some(scheduled)).await {
                made.fetch_add(1, Ordering::Relaxed);
            }
        }
    })
    .await?;
    Ok(made.load(Ordering::Relaxed))
}
