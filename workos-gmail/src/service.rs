//! Gmail as a deployment runs it: the client (connects, sends), one sync engine shared by the
//! scheduler, the routes and push (so its quota budget and per-integration locks hold across
//! them), and push notifications when configured, all over one store, with OAuth states kept
//! in that store so Google's redirect may reach any process.

use std::sync::Arc;

use workos_core::Result;
use workos_core::crypto::Cipher;
use workos_core::repo::{IntegrationScheduler, OAuthStateRepo};

use crate::{
    Gmail, GmailConfig, GmailPush, GmailStore, PushConfig, SchedulerConfig, SharedStateStore,
    SyncConfig, SyncEngine, SyncScheduler,
};

/// What a store must offer for [`GmailService`]: Gmail's storage, OAuth states and the sync
/// claims (`workos_store::SqlStore` is one).
pub trait GmailServiceStore: GmailStore + OAuthStateRepo + IntegrationScheduler {}

impl<T: GmailStore + OAuthStateRepo + IntegrationScheduler + ?Sized> GmailServiceStore for T {}

/// The client, the shared sync engine and push, built once per process. Cheap to clone.
#[derive(Clone)]
pub struct GmailService {
    /// The client: connects, sends.
    pub client: Gmail,
    /// The sync engine (its quota budget and per-integration locks are shared by whoever
    /// syncs through this service).
    pub sync: SyncEngine,
    /// Push notifications, when configured.
    pub push: Option<GmailPush>,
    /// Where the scheduler claims integrations to sync.
    claims: Arc<dyn IntegrationScheduler>,
}

impl std::fmt::Debug for GmailService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GmailService")
            .field("client", &self.client)
            .field("sync", &self.sync)
            .field("push", &self.push)
            .finish_non_exhaustive()
    }
}

impl GmailService {
    /// Gmail for `config` over `store`, sealing tokens with `cipher`, with push when `push` is
    /// given (its topic is also the one mailboxes are watched on).
    ///
    /// # Errors
    /// As [`crate::GmailBuilder::build`] and [`GmailPush::new`]: a configuration that cannot
    /// be served, so Gmail (push included) is off rather than half on.
    pub fn new<S: GmailServiceStore + 'static>(
        config: GmailConfig,
        push: Option<&PushConfig>,
        store: Arc<S>,
        cipher: Arc<Cipher>,
    ) -> Result<Self> {
        let states = Arc::new(SharedStateStore::new(
            Arc::clone(&store) as Arc<dyn OAuthStateRepo>,
            Arc::clone(&cipher),
        ));
        let client = Gmail::builder(config, Arc::clone(&store) as Arc<dyn GmailStore>, cipher)
            .state_store(states)
            .watch_topic(push.map(|p| p.topic.clone()))
            .build()?;
        let sync = client.sync_engine(SyncConfig::default());
        let claims = store as Arc<dyn IntegrationScheduler>;
        let push = push
            .map(|p| GmailPush::new(p, sync.clone(), Arc::clone(&claims)))
            .transpose()?;
        Ok(Self {
            client,
            sync,
            push,
            claims,
        })
    }

    /// The sync scheduler over this service's engine and store (start it with
    /// [`SyncScheduler::spawn`]).
    #[must_use]
    pub fn scheduler(&self, config: SchedulerConfig) -> SyncScheduler {
        SyncScheduler::new(self.sync.clone(), Arc::clone(&self.claims), config)
    }
}
