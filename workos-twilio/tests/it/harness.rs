//! The engine services on a real store: a migrated `SqlStore` on a scratch database, a fake
//! Twilio, and [`TwilioAccounts`] + [`InboundService`] wired to both, as an application wires
//! them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use workos_core::crypto::{Cipher, SecretKey};
use workos_core::domain::{CommsFilter, E164, NewOrg, NewPhone, PhoneCapabilities, Sms};
use workos_core::ids::{OrgId, UserId};
use workos_core::page::PageRequest;
use workos_core::repo::{CommsRepo, Directory, PhoneRepo};
use workos_core::tenant::{Role, TenantContext};
use workos_store::SqlStore;
use workos_tests::db::TestDatabase;
use workos_tests::fake_twilio::{FakeTwilio, RecordedRequest, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN};
use workos_twilio::engine::{Recipient, SendSms};
use workos_twilio::{InboundRequest, InboundService, TwilioAccounts, TwilioConfig};

/// The public URL the engine is reached at (what Twilio signs).
pub(crate) const PUBLIC_URL: &str = "https://crm.example.com";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// The services over a fresh database, and a fake Twilio they send through.
pub(crate) struct Harness {
    pub(crate) store: Arc<SqlStore>,
    pub(crate) twilio: FakeTwilio,
    pub(crate) accounts: Arc<TwilioAccounts<SqlStore>>,
    pub(crate) inbound: InboundService<SqlStore>,
    // Dropped after the store, so the pool goes first.
    _db: TestDatabase,
}

/// An org with an owner context and a number that can do everything.
pub(crate) struct Org {
    pub(crate) id: OrgId,
    pub(crate) owner: TenantContext,
    pub(crate) number: String,
}

impl Harness {
    /// The services with the platform account configured; `None` for Postgres without
    /// `DATABASE_URL` (the harness says so, or fails under `WORKOS_REQUIRE_POSTGRES=1`).
    pub(crate) async fn start(backend: Backend) -> Option<Self> {
        Self::with_platform(backend, true).await
    }

    /// As [`Harness::start`]; without the platform account when `platform` is false.
    pub(crate) async fn with_platform(backend: Backend, platform: bool) -> Option<Self> {
        let db = match backend {
            Backend::Sqlite => TestDatabase::sqlite("workos-twilio-it"),
            Backend::Postgres => TestDatabase::postgres("workos_twilio_it").await?,
        };
        let store = SqlStore::connect(db.url()).await.expect("connect");
        store.migrate().await.expect("migrate");
        let store = Arc::new(store);
        let twilio = FakeTwilio::start(TEST_AUTH_TOKEN, TEST_ACCOUNT_SID).await;
        let config = TwilioConfig {
            account_sid: platform.then(|| TEST_ACCOUNT_SID.to_owned()),
            auth_token: platform.then(|| TEST_AUTH_TOKEN.to_owned()),
            api_base_url: twilio.base_url().to_owned(),
            voice_greeting: "Hello & welcome".to_owned(),
            ..TwilioConfig::default()
        };
        let cipher = Arc::new(Cipher::new(1, SecretKey::generate()));
        let accounts = Arc::new(TwilioAccounts::new(
            store.clone(),
            cipher,
            &config,
            PUBLIC_URL,
        ));
        let inbound = InboundService::new(store.clone(), accounts.clone(), &config, PUBLIC_URL);
        Some(Self {
            store,
            twilio,
            accounts,
            inbound,
            _db: db,
        })
    }

    /// A new org owning a new number.
    pub(crate) async fn org(&self, name: &str) -> Org {
        let user = UserId::new();
        let org = self
            .store
            .create_org(NewOrg { name: name.into() }, Some(user))
            .await
            .expect("create org");
        let owner = TenantContext::user(org.id, user, Role::Owner);
        let number = new_number();
        self.take_number(&owner, &number).await;
        Org {
            id: org.id,
            owner,
            number,
        }
    }

    /// Maps `number` to the context's org.
    pub(crate) async fn take_number(&self, ctx: &TenantContext, number: &str) {
        let new = NewPhone {
            number: E164::parse(number).expect("a number"),
            provider: "twilio".into(),
            label: None,
            capabilities: PhoneCapabilities {
                sms: true,
                mms: true,
                voice: true,
            },
        };
        self.store
            .create_phone(ctx, new)
            .await
            .expect("create phone");
    }

    /// Sends an SMS for the org to a new number through its messenger (its own Twilio account,
    /// else the platform's), and returns the message and the request Twilio received.
    pub(crate) async fn send_sms(&self, org: &Org) -> (Sms, RecordedRequest) {
        let messenger = self
            .accounts
            .messenger(&org.owner)
            .await
            .expect("read the org's account")
            .expect("an account sends for the org");
        let request = SendSms {
            to: Recipient::Number(E164::parse(&new_number()).expect("a number")),
            from: None,
            body: "Hi".into(),
            media_urls: Vec::new(),
        };
        let sms = messenger.send_sms(&org.owner, request).await.expect("sent");
        let received = self
            .twilio
            .sent_messages()
            .pop()
            .expect("Twilio received it");
        (sms, received)
    }

    /// The org's messages.
    pub(crate) async fn sms(&self, org: &Org) -> Vec<Sms> {
        self.store
            .list_sms(
                &org.owner,
                CommsFilter::default(),
                PageRequest::first(200).unwrap(),
            )
            .await
            .expect("list SMS")
            .data
    }
}

/// The fields a validation error names; panics on any other outcome.
#[track_caller]
pub(crate) fn invalid_fields<T: std::fmt::Debug>(result: workos_core::Result<T>) -> Vec<String> {
    match result {
        Err(workos_core::Error::Validation(v)) => v.errors.into_iter().map(|e| e.field).collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

/// A fresh US number (unique within a test: each test has a database of its own).
pub(crate) fn new_number() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed) % 7000;
    format!("+1415555{:04}", 2000 + n)
}

/// A request for `route` (below the webhook path) signed with `token` over the public URL.
pub(crate) struct Signed {
    pub(crate) path: String,
    pub(crate) body: String,
    pub(crate) signature: String,
}

impl Signed {
    pub(crate) fn new(token: &str, route: &str, params: &[(String, String)]) -> Self {
        let path = format!("{}/{route}", workos_twilio::inbound::WEBHOOK_PATH);
        let signature = workos_twilio::RequestValidator::new(token)
            .signature(&format!("{PUBLIC_URL}{path}"), params);
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        Self {
            path,
            body,
            signature,
        }
    }

    pub(crate) fn request(&self) -> InboundRequest<'_> {
        InboundRequest {
            path_and_query: &self.path,
            signature: Some(&self.signature),
            body: self.body.as_bytes(),
            request_id: Some("req-1"),
        }
    }
}
