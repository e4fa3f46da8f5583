//! The queued-lead job: every interval, routes the leads that are waiting — `queued` ones
//! (every partner buying them was capped or closed) and `new` ones a crash left between
//! capture and routing — in every org that has some.
//!
//! Several processes may run it at once: each lead is picked with `FOR UPDATE SKIP LOCKED`
//! inside the transaction that routes it, so a lead is never routed twice.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use workos_core::domain::LeadStatus;
use workos_core::repo::RoutingRepo;
pub use workos_core::supervise::JobHandle;
use workos_core::supervise::spawn_periodic;
use workos_core::tenant::TenantContext;

/// The variable [`RoutingJobConfig::from_lookup`] reads: whole seconds between runs (0 turns
/// the job off).
pub const ENV_INTERVAL_SECS: &str = "WORKOS_LEAD_ROUTING_INTERVAL_SECS";
/// The default of [`RoutingJobConfig::interval`].
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// The job's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoutingJobConfig {
    /// How often the job runs; `None` turns it off (in this process).
    pub interval: Option<Duration>,
}

impl Default for RoutingJobConfig {
    fn default() -> Self {
        Self {
            interval: Some(DEFAULT_INTERVAL),
        }
    }
}

impl RoutingJobConfig {
    /// Reads [`ENV_INTERVAL_SECS`] (default [`DEFAULT_INTERVAL`], 0 turns the job off) through
    /// `get`.
    ///
    /// # Errors
    /// [`workos_core::Error::Validation`] naming the variable when it is not a whole number of
    /// seconds.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> workos_core::Result<Self> {
        let Some(value) = get(ENV_INTERVAL_SECS) else {
            return Ok(Self::default());
        };
        let secs: u64 = value.trim().parse().map_err(|_| {
            workos_core::Error::invalid(ENV_INTERVAL_SECS, "not a whole number of seconds")
        })?;
        Ok(Self {
            interval: Some(Duration::from_secs(secs)).filter(|d| !d.is_zero()),
        })
    }
}

/// How long a `new` lead is left to the request that captured it before the job routes it.
pub const NEW_LEAD_GRACE: Duration = Duration::from_secs(120);
/// The most orgs read per lookup.
const ORGS_PER_PAGE: u32 = 500;
/// The most leads routed per org per run (the rest wait for the next run).
const LEADS_PER_ORG: u32 = 1_000;

/// Starts the job over `store`: a run every `interval` (the first at once).
///
/// # Panics
/// Outside a tokio runtime.
pub fn spawn<S>(store: Arc<S>, interval: Duration) -> JobHandle
where
    S: RoutingRepo + ?Sized + 'static,
{
    // Supervised: a run that panics is logged, counted and started again.
    spawn_periodic("lead-routing", interval, move || {
        let store = Arc::clone(&store);
        async move {
            match run_once(&*store).await {
                Ok(0) => {}
                Ok(routed) => tracing::info!(routed, "queued-lead job run done"),
                Err(e) => tracing::warn!(error = %e, "queued-lead job run failed"),
            }
        }
    })
}

/// One run: for each org with waiting leads, routes them (oldest first) at the current time.
/// Returns how many leads left the queue (were routed, or given up on as `unrouted`). An org
/// whose routing fails is logged and skipped.
///
/// # Errors
/// When the orgs cannot be listed.
pub async fn run_once<S: RoutingRepo + ?Sized>(store: &S) -> workos_core::Result<usize> {
    let now = Utc::now();
    let grace = chrono::Duration::from_std(NEW_LEAD_GRACE).unwrap_or_default();
    let mut after = None;
    let mut moved = 0;
    loop {
        let orgs = store
            .orgs_with_pending_leads(now - grace, after, ORGS_PER_PAGE)
            .await?;
        for org in &orgs {
            let ctx = TenantContext::system(*org, "lead-routing");
            match store
                .route_pending_leads(&ctx, now, now - grace, LEADS_PER_ORG)
                .await
            {
                Ok(routed) => {
                    moved += routed
                        .iter()
                        .filter(|r| r.lead.status != LeadStatus::Queued)
                        .count();
                }
                Err(e) => tracing::warn!(org_id = %org, error = %e, "routing queued leads failed"),
            }
        }
        match orgs.last() {
            Some(last) if orgs.len() == ORGS_PER_PAGE as usize => after = Some(*last),
            _ => return Ok(moved),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_is_read_and_zero_turns_the_job_off() {
        let read = |v: Option<&str>| {
            RoutingJobConfig::from_lookup(|name| {
                assert_eq!(name, ENV_INTERVAL_SECS);
                v.map(str::to_owned)
            })
        };
        assert_eq!(read(None).unwrap().interval, Some(DEFAULT_INTERVAL));
        assert_eq!(
            read(Some(" 5 ")).unwrap().interval,
            Some(Duration::from_secs(5))
        );
        assert_eq!(read(Some("0")).unwrap().interval, None);
        let e = read(Some("soon")).unwrap_err();
        assert!(e.to_string().contains(ENV_INTERVAL_SECS), "{e}");
    }
}
