//! Test databases (a fresh SQLite file, or a fresh Postgres database when `DATABASE_URL` is
//! set), a fake Google, and a [`Gmail`] wired to both.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;
use workos_core::channel::OutboundEmail;
use workos_core::crypto::{Cipher, SecretKey};
use workos_core::domain::{EmailAddress, EmailFilter, Integration, NewOrg, Person, PersonFilter};
use workos_core::events::{DomainEvent, EventFilter};
use workos_core::ids::{IntegrationId, UserId};
use workos_core::page::PageRequest;
use workos_core::repo::{Directory, EmailRepo, EventRepo, IntegrationRepo, PersonRepo};
use workos_core::tenant::{Role, TenantContext};
use workos_gmail::{Gmail, GmailConfig, GmailStore, RetryPolicy, SyncState};
use workos_store::SqlStore;
use workos_tests::fake_google::FakeGoogle;

/// The mailbox the fake serves.
pub(crate) const ACCOUNT: &str = "me@example.com";

/// A migrated store on a database of its own, from the testkit.
pub(crate) use workos_tests::store::TestStore as TestDb;

/// A store, a fake Google, a [`Gmail`] between them and an org whose owner acts.
pub(crate) struct Harness {
    pub(crate) db: TestDb,
    pub(crate) google: FakeGoogle,
    pub(crate) gmail: Gmail,
    /// The org owner, signed in.
    pub(crate) ctx: TenantContext,
    /// A trusted job of the org (sync workers).
    pub(crate) system: TenantContext,
}

/// Fast retries, for tests.
pub(crate) fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    }
}

impl Harness {
    pub(crate) async fn new(db: TestDb) -> Self {
        let google = FakeGoogle::start(ACCOUNT).await;
        let vars = google.env_vars();
        let config = GmailConfig::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        })
        .expect("valid configuration")
        .expect("configured");
        let store: Arc<dyn GmailStore> = db.store.clone();
        let gmail = Gmail::builder(
            config,
            store,
            Arc::new(Cipher::new(1, SecretKey::generate())),
        )
        .retry_policy(fast_retries())
        .build()
        .expect("build Gmail");
        let owner = UserId::new();
        let org = db
            .store
            .create_org(
                NewOrg {
                    name: "Gmail test org".into(),
                },
                Some(owner),
            )
            .await
            .expect("create org");
        Self {
            ctx: TenantContext::user(org.id, owner, Role::Owner),
            system: TenantContext::system(org.id, "gmail-test"),
            db,
            google,
            gmail,
        }
    }

    pub(crate) fn store(&self) -> &SqlStore {
        &self.db.store
    }

    /// The configuration pointing at the fake.
    pub(crate) fn config(&self) -> GmailConfig {
        let vars = self.google.env_vars();
        GmailConfig::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        })
        .expect("valid configuration")
        .expect("configured")
    }

    /// The bytes of the SQLite database files (`None` on Postgres).
    pub(crate) fn database_bytes(&self) -> Option<Vec<u8>> {
        let path = self.db.sqlite_path()?;
        let mut bytes = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.as_os_str().to_owned();
            file.push(suffix);
            if let Ok(b) = std::fs::read(file) {
                bytes.extend(b);
            }
        }
        Some(bytes)
    }

    /// Connects the fake's mailbox through the whole OAuth flow.
    pub(crate) async fn connect(&self) -> Integration {
        let start = self
            .gmail
            .start_connect(&self.ctx)
            .await
            .expect("start connect");
        let (code, state) = self.google.consent(start.authorization_url.as_str()).await;
        assert_eq!(state, start.pending.state);
        self.gmail
            .finish_connect(&self.ctx, &code, &state)
            .await
            .expect("finish connect")
    }

    /// Connects with an access token already inside the refresh margin (so the next use
    /// refreshes), then lets the fake issue long-lived tokens again.
    pub(crate) async fn connect_expiring(&self) -> Integration {
        self.google.set_token_lifetime(Duration::from_secs(10));
        let integration = self.connect().await;
        self.google.set_token_lifetime(Duration::from_secs(3599));
        integration
    }

    pub(crate) async fn integration(&self, id: IntegrationId) -> Integration {
        self.store()
            .get_integration(&self.ctx, id)
            .await
            .expect("get integration")
    }

    pub(crate) async fn sync_state(&self, id: IntegrationId) -> SyncState {
        SyncState::from_value(&self.integration(id).await.sync_state)
    }

    /// The org's events of type `ty` about `subject`.
    pub(crate) async fn events(&self, ty: &str, subject: Uuid) -> Vec<DomainEvent> {
        self.store()
            .list_events(
                &self.ctx,
                EventFilter {
                    types: vec![ty.to_owned()],
                    subject_id: Some(subject),
                    ..EventFilter::default()
                },
                PageRequest::first(200).unwrap(),
            )
            .await
            .expect("list events")
            .data
    }

    /// Every email of the integration.
    pub(crate) async fn emails(&self, id: IntegrationId) -> Vec<workos_core::domain::Email> {
        self.store()
            .list_emails(
                &self.ctx,
                EmailFilter {
                    integration_id: Some(id),
                    ..EmailFilter::default()
                },
                PageRequest::first(200).unwrap(),
            )
            .await
            .expect("list emails")
            .data
    }

    /// The person with this address, if any.
    pub(crate) async fn person(&self, address: &str) -> Option<Person> {
        self.store()
            .list_people(
                &self.ctx,
                PersonFilter {
                    email: Some(addr(address)),
                    ..PersonFilter::default()
                },
                PageRequest::first(10).unwrap(),
            )
            .await
            .expect("list people")
            .data
            .into_iter()
            .next()
    }

    /// Every person of the org.
    pub(crate) async fn people(&self) -> Vec<Person> {
        self.store()
            .list_people(
                &self.ctx,
                PersonFilter::default(),
                PageRequest::first(200).unwrap(),
            )
            .await
            .expect("list people")
            .data
    }
}

pub(crate) fn addr(s: &str) -> EmailAddress {
    EmailAddress::parse(s).expect("valid address")
}

/// A plain email to `to` through `integration`.
pub(crate) fn outbound(integration: IntegrationId, to: &str, subject: &str) -> OutboundEmail {
    OutboundEmail {
        integration_id: integration,
        to: vec![addr(to)],
        cc: vec![],
        bcc: vec![],
        subject: subject.into(),
        text: Some(format!("Body of {subject}")),
        html: None,
        attachments: vec![],
        in_reply_to: None,
        thread_id: None,
    }
}
