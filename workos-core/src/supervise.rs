//! Supervised background tasks: a task that panics is logged, counted and started again after a
//! backoff, instead of dying silently and leaving its work undone until the process restarts.
//!
//! [`spawn_supervised`] runs a task made by a factory on the Tokio runtime; when a run panics
//! it makes a new one after 100 ms, doubling up to 30 s, back to 100 ms once a run has lasted a
//! minute. A run that returns ends the supervision (the task stopped as asked). Aborting the
//! returned handle aborts the current run too. [`spawn_supervised_until`] also takes the
//! task's shutdown signal, so a task waiting out its backoff stops at once on shutdown instead
//! of starting a run only to stop it. [`restarts`] answers how many times each task
//! was restarted, for metrics (the reference server serves it as
//! `workos_task_restarts_total{task}`).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let handle = workos_core::supervise::spawn_supervised("example", || async {
//!     // one run of the task's loop
//! });
//! handle.await.unwrap();
//! # }
//! ```

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::task::JoinHandle;

/// The first delay before a restart.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest delay before a restart.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A run that lasted this long was healthy: the next restart waits [`FIRST_BACKOFF`] again.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// Restarts per task name, since the process started.
static RESTARTS: Mutex<BTreeMap<&'static str, u64>> = Mutex::new(BTreeMap::new());

/// How many times each supervised task was restarted after a panic, by name.
#[must_use]
pub fn restarts() -> Vec<(&'static str, u64)> {
    RESTARTS
        .lock()
        .map(|r| r.iter().map(|(k, v)| (*k, *v)).collect())
        .unwrap_or_default()
}

fn count_restart(task: &'static str) {
    if let Ok(mut r) = RESTARTS.lock() {
        *r.entry(task).or_default() += 1;
    }
}

/// Aborts the current run when the supervisor itself is aborted or dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Spawns `make()` on the Tokio runtime and keeps it running: each time a run panics, logs it
/// (as an error, with the task's `name`), counts it in [`restarts`], waits the backoff and
/// spawns `make()` again. Ends when a run returns or is cancelled.
///
/// # Panics
/// Outside a Tokio runtime.
pub fn spawn_supervised<F, Fut>(name: &'static str, make: F) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    spawn_supervised_until(name, std::future::pending(), make)
}

/// A running periodic job ([`spawn_periodic`]); [`JobHandle::shutdown`] stops it. Dropping it
/// leaves the job running until the runtime stops.
#[derive(Debug)]
pub struct JobHandle {
    task: JoinHandle<()>,
}

impl JobHandle {
    /// Stops the job: cancels its task and waits until it has ended. The engine's jobs commit
    /// each unit of work on its own, so a run cut short loses nothing it finished.
    pub async fn shutdown(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// Runs `run()` every `interval`, the first at once (a late run delays the next tick rather
/// than bunching them), supervised as [`spawn_supervised`]: a run that panics is logged,
/// counted and the schedule started again.
///
/// # Panics
/// Outside a Tokio runtime.
pub fn spawn_periodic<F, Fut>(name: &'static str, interval: Duration, run: F) -> JobHandle
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let run = std::sync::Arc::new(run);
    let task = spawn_supervised(name, move || {
        let run = std::sync::Arc::clone(&run);
        async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                run().await;
            }
        }
    });
    JobHandle { task }
}

/// [`spawn_supervised`] for a task with a shutdown signal: once `stopped` completes, a
/// supervisor waiting out a restart backoff ends at once, without another run. (A run under way
/// hears the signal itself and returns, as it does unsupervised.)
///
/// # Panics
/// Outside a Tokio runtime.
pub fn spawn_supervised_until<F, Fut, S>(
    name: &'static str,
    stopped: S,
    mut make: F,
) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
    S: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let mut stopped = std::pin::pin!(stopped);
        let mut backoff = FIRST_BACKOFF;
        loop {
            let started = tokio::time::Instant::now();
            let mut run = AbortOnDrop(tokio::spawn(make()));
            match (&mut run.0).await {
                Err(e) if e.is_panic() => {
                    if started.elapsed() >= HEALTHY_RUN {
                        backoff = FIRST_BACKOFF;
                    }
                    count_restart(name);
                    tracing::error!(
                        task = name,
                        restart_in_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
                        "background task panicked; restarting it"
                    );
                    tokio::select! {
                        // A shutdown already signalled wins over an elapsed backoff.
                        biased;
                        () = &mut stopped => {
                            tracing::info!(task = name, "shutdown during the restart backoff");
                            return;
                        }
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                // Stopped as asked, or cancelled.
                _ => return,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_panicking_task_is_restarted_and_counted_until_it_returns() {
        let runs = Arc::new(AtomicU32::new(0));
        let handle = spawn_supervised("test-panics-twice", {
            let runs = Arc::clone(&runs);
            move || {
                let run = runs.fetch_add(1, Ordering::SeqCst);
                async move {
                    assert!(run >= 2, "injected panic in run {run}");
                }
            }
        });
        handle.await.expect("the supervisor itself never panics");
        assert_eq!(runs.load(Ordering::SeqCst), 3, "two restarts, then done");
        assert!(
            restarts().contains(&("test-panics-twice", 2)),
            "{:?}",
            restarts()
        );
    }

    /// A run that panics after shutdown was signalled leaves the supervisor in its backoff with
    /// the signal given: it ends there, without another run. (Without the signal it would
    /// restart the task, which panics again, for ever: the timeout is only a hang guard.)
    #[tokio::test]
    async fn shutdown_during_the_backoff_ends_the_supervisor_without_a_run() {
        let runs = Arc::new(AtomicU32::new(0));
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let stop = Arc::new(stop);
        let handle = spawn_supervised_until(
            "test-stopped-in-backoff",
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            },
            {
                let runs = Arc::clone(&runs);
                move || {
                    runs.fetch_add(1, Ordering::SeqCst);
                    let stop = Arc::clone(&stop);
                    async move {
                        let _ = stop.send(true);
                        panic!("injected panic after the shutdown signal");
                    }
                }
            },
        );
        tokio::time::timeout(Duration::from_secs(30), handle)
            .await
            .expect("the supervisor ends")
            .expect("the supervisor ends cleanly");
        assert_eq!(runs.load(Ordering::SeqCst), 1, "no run after the shutdown");
        assert!(restarts().contains(&("test-stopped-in-backoff", 1)));
    }

    #[tokio::test]
    async fn aborting_the_supervisor_stops_the_run() {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
        let handle = spawn_supervised("test-aborted", move || {
            let tx = tx.clone();
            async move {
                let _alive = tx;
                std::future::pending::<()>().await;
            }
        });
        handle.abort();
        let _ = handle.await;
        // The run's sender is dropped with the run: the channel closes.
        assert!(rx.recv().await.is_none());
        assert!(!restarts().iter().any(|(t, _)| *t == "test-aborted"));
    }
}
