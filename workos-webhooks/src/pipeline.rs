//! The delivery pipeline: a [`Dispatcher`] fans committed events out into deliveries, a
//! [`DeliveryWorker`] sends due deliveries and records what happened. [`Pipeline::spawn`] runs
//! both as tokio tasks until its [`PipelineHandle`] is shut down (or dropped).
//!
//! Both talk to storage only through the core traits ([`DeliveryQueue`], [`EventBus`]), so any
//! backend works, and several processes can run pipelines on one database: the store hands each
//! event batch to one dispatcher and each due delivery to one worker (a claim with a lease). See
//! [`crate::dispatcher`] and [`crate::worker`] for what each does.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use workos_core::Result;
use workos_core::crypto::Cipher;
use workos_core::events::{EventBus, EventLog};
use workos_core::repo::DeliveryQueue;

use crate::config::WebhookConfig;
use crate::dispatcher::Dispatcher;
use crate::worker::DeliveryWorker;

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
        S: DeliveryQueue + EventLog + EventBus + ?Sized + 'static,
    {
        let worker = DeliveryWorker::new(store.clone(), cipher, &config)?;
        let dispatcher = Dispatcher::new(store, &config)
            .notify(worker.waker())
            .hand_off(worker.handoff());
        let (shutdown, signal) = watch::channel(false);
        let tasks = vec![
            tokio::spawn(dispatcher.run(signal.clone())),
            tokio::spawn(worker.run(signal)),
        ];
        Ok(PipelineHandle { shutdown, tasks })
    }
}

/// Controls a spawned [`Pipeline`]. Dropping it signals shutdown without waiting.
#[derive(Debug)]
pub struct PipelineHandle {
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl PipelineHandle {
    /// Signals shutdown and waits until both tasks stopped (a worker first finishes and records
    /// the batch it is sending, so this takes at most about the lease).
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for task in std::mem::take(&mut self.tasks) {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "webhook pipeline task failed");
            }
        }
    }

    /// Whether both tasks are still running.
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
