//! The [`Pipeline`]: a dispatcher and a worker run as supervised tokio tasks, and the
//! [`PipelineHandle`] that shuts them down.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use workos_core::Result;
use workos_core::crypto::Cipher;
use workos_core::events::{EventBus, EventLog};
use workos_core::repo::{DeliveryQueue, SubnetAllowanceRepo};

use super::config::WebhookConfig;
use super::delivery_worker::DeliveryWorker;
use crate::dispatcher::Dispatcher;

/// Completes once `signal` turns `true` or its sender is dropped: a shutdown, for
/// [`workos_core::supervise::spawn_supervised_until`].
pub async fn stopped(mut signal: watch::Receiver<bool>) {
    let _ = signal.wait_for(|s| *s).await;
}

/// Runs a [`Dispatcher`] and a [`DeliveryWorker`] over one store.
#[derive(Debug)]
pub struct Pipeline;

impl Pipeline {
    /// Spawns a dispatcher and a worker over `store` on the current tokio runtime. They run
    /// until [`PipelineHandle::shutdown`] or until the handle is dropped.
    ///
    /// # Errors
    /// As [`DeliveryWorker::new`].
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn spawn<S>(
        store: Arc<S>,
        cipher: Arc<Cipher>,
        config: WebhookConfig,
    ) -> Result<PipelineHandle>
    where
        S: DeliveryQueue + SubnetAllowanceRepo + EventLog + EventBus + ?Sized + 'static,
    {
        // Checked once here; each run below builds the pair anew with the same settings.
        DeliveryWorker::new(store.clone(), cipher.clone(), &config)?;
        let (shutdown, signal) = watch::channel(false);
        // Supervised as one: when either task panics the other is stopped too and both start
        // again (deliveries claimed by the dead run come back when their lease ends). A shutdown
        // during the restart backoff ends it at once.
        let stopped = stopped(signal.clone());
        let task = workos_core::supervise::spawn_supervised_until(
            "webhook-pipeline",
            stopped,
            move || {
                let (store, cipher, config) = (store.clone(), cipher.clone(), config.clone());
                let signal = signal.clone();
                async move {
                    let worker = match DeliveryWorker::new(store.clone(), cipher, &config) {
                        Ok(worker) => worker,
                        Err(e) => {
                            tracing::error!(error = %e, "cannot restart the webhook pipeline");
                            return;
                        }
                    };
                    let dispatcher = Dispatcher::new(store, &config)
                        .notify(worker.waker())
                        .hand_off(worker.handoff());
                    run_both(
                        tokio::spawn(dispatcher.run(signal.clone())),
                        tokio::spawn(worker.run(signal)),
                    )
                    .await;
                }
            },
        );
        Ok(PipelineHandle {
            shutdown,
            tasks: vec![task],
        })
    }
}

/// Waits for both tasks; when one panics, aborts the other and panics with it (for the
/// supervisor to restart the pair).
async fn run_both(mut a: JoinHandle<()>, mut b: JoinHandle<()>) {
    let (first, other) = tokio::select! {
        r = &mut a => (r, b),
        r = &mut b => (r, a),
    };
    let second = match first {
        Err(e) if e.is_panic() => {
            other.abort();
            std::panic::resume_unwind(e.into_panic());
        }
        _ => other.await,
    };
    if let Err(e) = second
        && e.is_panic()
    {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Controls a spawned [`Pipeline`]. Dropping it signals shutdown without waiting.
#[derive(Debug)]
pub struct PipelineHandle {
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl PipelineHandle {
    /// Signals shutdown and waits until both tasks stopped: the worker hands back what it has
    /// not started, and what it is sending after [`SHUTDOWN_GRACE`](super::SHUTDOWN_GRACE) (so
    /// this takes about that long at most, plus the store's time to record).
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for task in std::mem::take(&mut self.tasks) {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "webhook pipeline task failed");
            }
        }
    }

    /// Whether the pipeline is still running.
    #[must_use]
    pub fn is_running(&self) -> bool {
        self.tasks.iter().all(|t| !t.is_finished())
    }
}

impl Drop for PipelineHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}
