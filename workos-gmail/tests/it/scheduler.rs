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
