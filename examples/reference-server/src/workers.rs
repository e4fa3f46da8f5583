//! The background work of a server process, next to the API (`workos-server serve`) or alone
//! (`workos-server worker`): the webhook pipeline and the lead sender (`webhooks`, `leads`),
//! the Gmail sync scheduler (`gmail`) and the queued-lead job (`leads`), as built; and the
//! retention job and the call reconciliation job (`twilio`), wherever deliveries run.

use anyhow::Context as _;

use crate::state::AppState;

/// The running background tasks; [`Workers::shutdown`] stops them.
#[derive(Default)]
pub struct Workers {
    #[cfg(feature = "webhooks")]
    pipeline: Option<workos_webhooks::worker::PipelineHandle>,
    #[cfg(feature = "leads")]
    lead_sender: Option<workos_leads::LeadSenderHandle>,
    #[cfg(feature = "gmail")]
    gmail_sync: Option<workos_gmail::SchedulerHandle>,
    #[cfg(feature = "leads")]
    lead_routing: Option<workos_leads::routing_job::JobHandle>,
    retention: Option<workos_store::retention_job::JobHandle>,
    #[cfg(feature = "twilio")]
    call_reconcile: Option<workos_twilio::reconcile::JobHandle>,
}

impl Workers {
    /// Starts the background work over `state`: deliveries (the webhook pipeline and the lead
    /// sender) when `deliveries` is set, the Gmail scheduler when Gmail is configured
    /// (`WORKOS_GMAIL_SYNC_INTERVAL_SECS`), the queued-lead job unless
    /// `WORKOS_LEAD_ROUTING_INTERVAL_SECS` is 0, and the retention job with deliveries unless
    /// `WORKOS_RETENTION_INTERVAL_SECS` is 0 (`WORKOS_RETENTION_EVENTS_DAYS`,
    /// `WORKOS_RETENTION_ATTEMPTS_DAYS`: see [`workos_store::retention_job`]), and the call reconciliation
    /// job with deliveries unless `WORKOS_CALL_RECONCILE_INTERVAL_SECS` is 0
    /// (`WORKOS_CALL_RECONCILE_AFTER_SECS`: see [`workos_twilio::reconcile`]).
    ///
    /// # Errors
    /// When a worker cannot start, or its configuration is malformed.
    pub fn start(state: &AppState, deliveries: bool) -> anyhow::Result<Self> {
        let mut workers = Self::default();
        if deliveries {
            use workos_store::retention_job::{RetentionConfig, spawn};
            let retention = RetentionConfig::from_lookup(|name| std::env::var(name).ok())
                .context("the retention job")?;
            workers.retention = retention
                .interval
                .map(|every| spawn(state.store.clone(), retention.policy, every));
        }
        #[cfg(feature = "twilio")]
        if deliveries {
            let config = workos_twilio::reconcile::ReconcileConfig::from_lookup(|name| {
                std::env::var(name).ok()
            })
            .map_err(|e| anyhow::anyhow!("the call reconciliation job: {e}"))?;
            workers.call_reconcile = workos_twilio::reconcile::spawn(state.twilio.clone(), config);
        }
        #[cfg(feature = "webhooks")]
        if deliveries {
            // Endpoints written before custom headers were sealed at rest (migration 065):
            // sealed once, in the background; deliveries use the plaintext until then.
            let state = state.clone();
            tokio::spawn(async move {
                match state.webhooks.seal_plaintext_headers().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(endpoints = n, "sealed stored webhook headers"),
                    Err(e) => tracing::error!(error = %e, "cannot seal stored webhook headers"),
                }
            });
        }
        #[cfg(feature = "webhooks")]
        if deliveries {
            workers.pipeline = Some(
                workos_webhooks::worker::Pipeline::spawn(
                    std::sync::Arc::new(state.store.clone()),
                    state.cipher.clone(),
                    state.webhook_config.clone(),
                )
                .context("starting the webhook pipeline")?,
            );
        }
        #[cfg(feature = "leads")]
        if deliveries {
            let sender = state.lead_sender().context("starting the lead sender")?;
            workers.lead_sender = Some(sender.spawn());
        }
        #[cfg(feature = "gmail")]
        {
            let config =
                workos_gmail::SchedulerConfig::from_lookup(|name| std::env::var(name).ok())
                    .map_err(|e| anyhow::anyhow!("Gmail sync scheduler: {e}"))?;
            workers.gmail_sync = state.gmail.as_ref().map(|g| g.scheduler(config).spawn());
        }
        #[cfg(feature = "leads")]
        {
            use workos_leads::routing_job::{RoutingJobConfig, spawn};
            let routing = RoutingJobConfig::from_lookup(|name| std::env::var(name).ok())
                .context("the queued-lead job")?;
            workers.lead_routing = routing
                .interval
                .map(|every| spawn(std::sync::Arc::new(state.store.clone()), every));
        }
        Ok(workers)
    }

    /// Stops every task; work cut short resumes from what is stored.
    pub async fn shutdown(self) {
        // Every worker is told at once and they stop together: one slow to stop (a pipeline
        // finishing its in-flight batch) must not hold back another's hand-back past the
        // shutdown deadline.
        let mut stopping: Vec<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>> = Vec::new();
        if let Some(job) = self.retention {
            stopping.push(Box::pin(job.shutdown()));
        }
        #[cfg(feature = "twilio")]
        if let Some(job) = self.call_reconcile {
            stopping.push(Box::pin(job.shutdown()));
        }
        #[cfg(feature = "leads")]
        if let Some(job) = self.lead_routing {
            stopping.push(Box::pin(job.shutdown()));
        }
        #[cfg(feature = "webhooks")]
        if let Some(pipeline) = self.pipeline {
            stopping.push(Box::pin(pipeline.shutdown()));
        }
        #[cfg(feature = "leads")]
        if let Some(sender) = self.lead_sender {
            stopping.push(Box::pin(sender.shutdown()));
        }
        #[cfg(feature = "gmail")]
        if let Some(scheduler) = self.gmail_sync {
            stopping.push(Box::pin(scheduler.shutdown()));
        }
        futures_util::future::join_all(stopping).await;
    }
}
