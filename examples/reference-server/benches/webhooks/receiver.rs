//! The receiver in the bench process: an axum endpoint answering `204` to every delivery,
//! counting them and timing each from its create's send time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Result;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use hdrhistogram::Histogram;
use workos_tests::bench::histogram;

use crate::MAX_TRACKED;

/// What the receiver counts. Times are nanoseconds since `epoch`.
pub(crate) struct Sink {
    pub(crate) epoch: Instant,
    /// Per create (sequence number): when it was sent (or scheduled), + 1; 0 = unknown.
    pub(crate) sent: Vec<AtomicU64>,
    pub(crate) count: AtomicU64,
    pub(crate) first: AtomicU64,
    pub(crate) last: AtomicU64,
    /// Deliveries whose create is not known (should stay 0).
    pub(crate) unknown: AtomicU64,
    /// Create-to-delivery latency, µs.
    pub(crate) latency: Mutex<Histogram<u64>>,
}

impl Sink {
    pub(crate) fn new() -> Self {
        Self {
            epoch: Instant::now(),
            sent: (0..MAX_TRACKED).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            first: AtomicU64::new(u64::MAX),
            last: AtomicU64::new(0),
            unknown: AtomicU64::new(0),
            latency: Mutex::new(histogram()),
        }
    }

    pub(crate) fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    pub(crate) fn at(&self, nanos: u64) -> Instant {
        self.epoch + Duration::from_nanos(nanos)
    }

    pub(crate) fn mark_sent(&self, seq: u64, at: Instant) {
        if let Some(slot) = usize::try_from(seq).ok().and_then(|i| self.sent.get(i)) {
            slot.store(self.nanos(at) + 1, Ordering::Relaxed);
        }
    }

    pub(crate) fn arrived(&self, seq: Option<u64>) {
        let t = self.nanos(Instant::now());
        self.count.fetch_add(1, Ordering::Relaxed);
        self.first.fetch_min(t, Ordering::Relaxed);
        self.last.fetch_max(t, Ordering::Relaxed);
        let sent = seq
            .and_then(|s| usize::try_from(s).ok())
            .and_then(|i| self.sent.get(i))
            .map_or(0, |slot| slot.load(Ordering::Relaxed));
        if sent == 0 {
            self.unknown.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let us = (t.saturating_sub(sent - 1) / 1000).max(1);
        self.latency
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .saturating_record(us);
    }

    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Forgets the deliveries so far (the send times stay).
    pub(crate) fn reset(&self) {
        self.count.store(0, Ordering::Relaxed);
        self.first.store(u64::MAX, Ordering::Relaxed);
        self.last.store(0, Ordering::Relaxed);
        self.unknown.store(0, Ordering::Relaxed);
        self.latency
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .reset();
    }

    pub(crate) fn latency(&self) -> Histogram<u64> {
        self.latency
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until `expected` deliveries arrived, at most `limit`. Returns whether they did.
    pub(crate) async fn wait_for(&self, expected: u64, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut last_report = Instant::now();
        loop {
            let n = self.count();
            if n >= expected {
                return true;
            }
            if Instant::now() >= deadline {
                eprintln!("  gave up waiting: {n} of {expected} deliveries");
                return false;
            }
            if last_report.elapsed() > Duration::from_secs(10) {
                eprintln!("  {n} of {expected} deliveries");
                last_report = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

pub(crate) async fn receive(State(sink): State<Arc<Sink>>, body: Bytes) -> StatusCode {
    let seq = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            v["data"]["name"]
                .as_str()
                .and_then(|n| n.strip_prefix("wh "))
                .and_then(|n| n.parse().ok())
        });
    sink.arrived(seq);
    StatusCode::NO_CONTENT
}

/// Starts the receiver on the current runtime; returns its base URL.
pub(crate) async fn start_receiver(sink: Arc<Sink>) -> Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/r/{endpoint}", post(receive))
        .with_state(sink);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("receiver stopped: {e}");
        }
    });
    Ok(format!("http://{addr}"))
}
