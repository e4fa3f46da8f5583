//! [`workos_gmail::SyncScheduler`]: due mailboxes of every org synced once per run, shared
//! between schedulers.

use std::sync::Arc;
use std::time::Duration;

use workos_core::repo::IntegrationScheduler;
use workos_gmail::{SchedulerConfig, SyncConfig, SyncScheduler};

use workos_tests::fake_google::simple_message;

use crate::common::{ACCOUNT, Harness};

fn scheduler(h: &Harness, interval: Duration) -> SyncScheduler {
    let claims: Arc<dyn IntegrationScheduler> = h.db.store.clone();
    SyncScheduler::new(
        h.gmail.sync_engine(SyncConfig::default()),
        claims,
        SchedulerConfig { interval },
    )
}

async fn due_mailboxes_sync_once_per_interval(h: Harness) {
    let integration = h.connect().await;
    h.google.add_message(simple_message(
        "ada@example.com",
        ACCOUNT,
        "Hello",
        "Hi there",
    ));
    let one = scheduler(&h, Duration::from_secs(3600));
    let two = scheduler(&h, Duration::from_secs(3600));
    assert_eq!(one.run_once().await, 1, "a new mailbox is due");
    assert!(h.integration(integration.id).await.last_synced_at.is_some());
    assert!(
        !h.emails(integration.id).await.is_empty(),
        "the mailbox was read"
    );
    // Synced within the interval: due for neither scheduler.
    assert_eq!(one.run_once().await, 0);
    assert_eq!(two.run_once().await, 0);
    // With no interval, it is due again at once, and its claim was released.
    assert_eq!(scheduler(&h, Duration::ZERO).run_once().await, 1);
}
gmail_test!(due_mailboxes_sync_once_per_interval);

/// Claims through the store, except that the first claim panics (an injected fault).
struct PanicsOnce {
    inner: Arc<dyn IntegrationScheduler>,
    panicked: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl IntegrationScheduler for PanicsOnce {
    async fn claim_due_integrations(
        &self,
        provider: &str,
        synced_before: chrono::DateTime<chrono::Utc>,
        lease: Duration,
        limit: u32,
    ) -> workos_core::Result<Vec<workos_core::repo::ClaimedIntegration>> {
        if !self
            .panicked
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            panic!("injected fault in the Gmail scheduler");
        }
        self.inner
            .claim_due_integrations(provider, synced_before, lease, limit)
            .await
    }

    async fn release_integration_claim(
        &self,
        org_id: workos_core::ids::OrgId,
        id: workos_core::ids::IntegrationId,
    ) -> workos_core::Result<()> {
        self.inner.release_integration_claim(org_id, id).await
    }

    async fn claim_integration(
        &self,
        org_id: workos_core::ids::OrgId,
        id: workos_core::ids::IntegrationId,
        lease: Duration,
    ) -> workos_core::Result<Option<workos_core::repo::ClaimedIntegration>> {
        self.inner.claim_integration(org_id, id, lease).await
    }

    async fn integrations_of_account(
        &self,
        provider: &str,
        account: &str,
    ) -> workos_core::Result<Vec<workos_core::repo::IntegrationRef>> {
        self.inner.integrations_of_account(provider, account).await
    }

    async fn integrations_to_watch(
        &self,
        provider: &str,
        expiring_before: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> workos_core::Result<Vec<workos_core::repo::IntegrationRef>> {
        self.inner
            .integrations_to_watch(provider, expiring_before, limit)
            .await
    }
}

async fn a_panicking_scheduler_is_restarted_and_counted(h: Harness) {
    let integration = h.connect().await;
    let restarts = || {
        workos_core::supervise::restarts()
            .into_iter()
            .find(|(task, _)| *task == "gmail-sync")
            .map_or(0, |(_, n)| n)
    };
    let before = restarts();
    let claims: Arc<dyn IntegrationScheduler> = Arc::new(PanicsOnce {
        inner: h.db.store.clone(),
        panicked: std::sync::atomic::AtomicBool::new(false),
    });
    let handle = SyncScheduler::new(
        h.gmail.sync_engine(SyncConfig::default()),
        claims,
        SchedulerConfig {
            interval: Duration::from_secs(3600),
        },
    )
    .spawn();
    // The first run panics; the restarted one syncs the mailbox (its first tick is at once).
    // The bound is only a hang guard.
    let mut waited = 0;
    while h.integration(integration.id).await.last_synced_at.is_none() {
        assert!(
            waited < 300,
            "the scheduler was not restarted after its panic"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    assert!(restarts() > before, "the restart is counted");
    handle.shutdown().await;
}
gmail_test!(a_panicking_scheduler_is_restarted_and_counted);

/// Shut down while a mailbox's sync hangs on a slow Gmail: the sync is cut short and the
/// claim released at once, so another process may claim the mailbox right away instead of
/// when the (hour-long) lease ends.
async fn shutdown_cuts_the_sync_short_and_releases_the_claim(h: Harness) {
    use workos_tests::fake_google::{Fault, Route};

    let integration = h.connect().await;
    h.google.add_message(simple_message(
        "ada@example.com",
        ACCOUNT,
        "Hello",
        "Hi there",
    ));
    // Every listing answers after an hour: the sync hangs in its first call.
    h.google.inject(
        Route::MessagesList,
        Fault::Delay(Duration::from_secs(3600)),
        100,
    );
    let handle = scheduler(&h, Duration::from_secs(3600)).spawn();
    // The bound is only a hang guard.
    let mut waited = 0;
    while h.google.calls(Route::MessagesList) == 0 {
        assert!(waited < 300, "the scheduler never reached Gmail");
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    let claims: Arc<dyn IntegrationScheduler> = h.db.store.clone();
    assert!(
        claims
            .claim_integration(h.ctx.org_id(), integration.id, Duration::from_secs(60))
            .await
            .expect("claim")
            .is_none(),
        "the running scheduler holds the claim"
    );
    handle.shutdown().await;
    let taken = claims
        .claim_integration(h.ctx.org_id(), integration.id, Duration::from_secs(60))
        .await
        .expect("claim");
    assert!(
        taken.is_some_and(|c| c.id == integration.id),
        "the claim was released at shutdown"
    );
    assert!(
        h.integration(integration.id).await.last_synced_at.is_none(),
        "the sync was cut short, not completed"
    );
}
gmail_test!(shutdown_cuts_the_sync_short_and_releases_the_claim);
