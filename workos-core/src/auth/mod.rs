//! Authentication: which org and actor a credential proves, decided in one place so that every
//! HTTP layer (the reference server's, or an embedder's own) answers the same.
//!
//! An [`Authenticator`] verifies API keys (found by their prefix, the presented key checked
//! against the stored keyed hash, kept a few seconds in an [`ApiKeyCache`]) and turns a
//! verified user into a [`TenantContext`] with their role in the org now. Verifying a user's
//! token (a JWT, a session) stays with the HTTP layer; what it proves is a [`UserId`], which
//! [`Authenticator::member`] checks against the org's members.
//!
//! ```
//! # async fn demo(directory: std::sync::Arc<dyn workos_core::repo::Directory>) -> workos_core::Result<()> {
//! use std::time::Duration;
//! use workos_core::auth::Authenticator;
//! use workos_core::crypto::ApiKeyHasher;
//! use workos_core::tenant::TenantContext;
//!
//! let auth = Authenticator::new(directory, ApiKeyHasher::new(b"pepper"), Duration::from_secs(5));
//! match auth.api_key("wos_abcdefabcdef_secret").await? {
//!     Some(key) => { let _ctx = TenantContext::api_key(key.org_id, key.id, key.role); }
//!     None => { /* 401 */ }
//! }
//! # Ok(()) }
//! ```

mod api_key_cache;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use api_key_cache::{ApiKeyCache, DEFAULT_TTL, MAX_MISSES};

use crate::Result;
use crate::crypto::{ApiKeyHasher, ApiKeySecret, parse_prefix};
use crate::domain::{ApiKey, ApiKeyCredentials, NewApiKey};
use crate::ids::{ApiKeyId, OrgId, UserId};
use crate::repo::{ApiKeyRepo, Directory};
use crate::tenant::{Role, TenantContext};

/// A key's use is recorded at most this often per process.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// Mints a key with `hasher`, stores its prefix and keyed hash in the context's org through
/// `repo`, and returns the secret (to show once: only its hash is kept). A process that caches
/// keys calls [`Authenticator::forget_api_key`] with the new key's id (its prefix may be one
/// that missed).
///
/// # Errors
/// As [`ApiKeyRepo::create_api_key`].
pub async fn issue_api_key<R: ApiKeyRepo + ?Sized>(
    repo: &R,
    hasher: &ApiKeyHasher,
    ctx: &TenantContext,
    name: &str,
    role: Role,
) -> Result<(ApiKey, ApiKeySecret)> {
    let generated = hasher.generate();
    let new = NewApiKey {
        name: name.to_owned(),
        role,
        prefix: generated.prefix,
        hash: generated.hash,
    };
    let key = repo.create_api_key(ctx, new).await?;
    Ok((key, generated.secret))
}

/// Verifies credentials against a [`Directory`]. Share one per process (behind an `Arc`): its
/// cache and its record of key uses are what save the database work.
pub struct Authenticator {
    directory: Arc<dyn Directory>,
    hasher: ApiKeyHasher,
    api_keys: ApiKeyCache,
    /// One reader per prefix not kept.
    reading: api_key_cache::ReadGates,
    /// When this process last recorded each API key's use.
    touched: Mutex<HashMap<ApiKeyId, Instant>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("hasher", &self.hasher)
            .field("api_keys", &self.api_keys)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// An authenticator over `directory`, verifying keys with `hasher` (the pepper the keys
    /// were issued with) and keeping keys it read for `cache_ttl` (zero: reads every time).
    #[must_use]
    pub fn new(directory: Arc<dyn Directory>, hasher: ApiKeyHasher, cache_ttl: Duration) -> Self {
        Self {
            directory,
            hasher,
            api_keys: ApiKeyCache::new(cache_ttl),
            reading: api_key_cache::ReadGates::default(),
            touched: Mutex::new(HashMap::new()),
        }
    }

    /// The key `token` proves, or `None` when it is malformed, unknown, revoked or does not
    /// match the stored hash (one answer for all, so a caller learns nothing from it). A key's
    /// use is recorded in the background, at most once a minute per process.
    ///
    /// # Errors
    /// When the directory fails.
    pub async fn api_key(&self, token: &str) -> Result<Option<ApiKey>> {
        let Some(prefix) = parse_prefix(token) else {
            return Ok(None);
        };
        let found = match self.api_keys.get(prefix) {
            Some(found) => found,
            // Unknown a moment ago: no transaction to learn it again.
            None if self.api_keys.is_miss(prefix) => return Ok(None),
            None => match self.read_key(prefix).await? {
                Some(found) => found,
                None => return Ok(None),
            },
        };
        if !self.hasher.verify(token, &found.hash) {
            return Ok(None);
        }
        let key = found.key;
        if self.should_touch(key.id) {
            let directory = Arc::clone(&self.directory);
            let (org_id, id) = (key.org_id, key.id);
            tokio::spawn(async move {
                if let Err(e) = directory.touch_api_key(org_id, id).await {
                    tracing::warn!(error = %e, "could not record API key use");
                }
            });
        }
        Ok(Some(key))
    }

    /// Reads the key with `prefix` from the directory and keeps the answer, one request at a
    /// time per prefix: a request that waited takes the answer the one ahead of it kept. With
    /// the cache off every request reads, side by side (there is no answer to wait for).
    async fn read_key(&self, prefix: &str) -> Result<Option<ApiKeyCredentials>> {
        if !self.api_keys.keeps() {
            return self.directory.api_key_by_prefix(prefix).await;
        }
        let turn = self.reading.join(prefix);
        let _reading = turn.wait().await;
        if let Some(found) = self.api_keys.get(prefix) {
            return Ok(Some(found));
        }
        if self.api_keys.is_miss(prefix) {
            return Ok(None);
        }
        let found = self.directory.api_key_by_prefix(prefix).await?;
        match &found {
            Some(found) => self.api_keys.put(prefix, found),
            None => self.api_keys.put_miss(prefix),
        }
        Ok(found)
    }

    /// The context of `user_id` acting in `org_id` with their role there now, or `None` when
    /// they are not a member (the same answer whether or not the org exists).
    ///
    /// # Errors
    /// When the directory fails.
    pub async fn member(&self, org_id: OrgId, user_id: UserId) -> Result<Option<TenantContext>> {
        Ok(self
            .directory
            .membership(org_id, user_id)
            .await?
            .map(|member| TenantContext::user(org_id, user_id, member.role)))
    }

    /// Drops the key `id` from the cache (revoked, changed or created: call it after any
    /// change to a key, and for the store's invalidations of other processes' changes).
    pub fn forget_api_key(&self, id: ApiKeyId) {
        self.api_keys.forget(id);
    }

    /// Drops every cached key (changes may have been missed).
    pub fn forget_all(&self) {
        self.api_keys.clear();
    }

    /// Whether this process should record a use of `key` now (at most once a minute).
    fn should_touch(&self, key: ApiKeyId) -> bool {
        let now = Instant::now();
        let mut touched = self
            .touched
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match touched.get(&key) {
            Some(last) if now.duration_since(*last) < TOUCH_EVERY => false,
            _ => {
                touched.insert(key, now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::domain::{ApiKeyCredentials, E164, Member, NewOrg, Org, Phone, now};

    /// One stored key; counts the lookups by prefix, each of which takes a while (as a
    /// transaction does), so that requests arriving together overlap.
    struct OneKey {
        found: ApiKeyCredentials,
        lookups: AtomicUsize,
        /// Lookups under way, and the most there were at once.
        reading: AtomicUsize,
        most_at_once: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl Directory for OneKey {
        async fn create_org(&self, _: NewOrg, _: Option<UserId>) -> Result<Org> {
            Err(crate::Error::Forbidden("not in this test".into()))
        }
        async fn api_key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKeyCredentials>> {
            self.lookups.fetch_add(1, Ordering::SeqCst);
            let now = self.reading.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_at_once.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(10)).await;
            self.reading.fetch_sub(1, Ordering::SeqCst);
            Ok((prefix == self.found.key.prefix).then(|| self.found.clone()))
        }
        async fn touch_api_key(&self, _: OrgId, _: ApiKeyId) -> Result<()> {
            Ok(())
        }
        async fn membership(&self, _: OrgId, _: UserId) -> Result<Option<Member>> {
            Ok(None)
        }
        async fn has_orgs(&self) -> Result<bool> {
            Ok(true)
        }
        async fn phone_by_number(&self, _: &E164) -> Result<Option<Phone>> {
            Ok(None)
        }
    }

    fn setup() -> (Arc<OneKey>, Authenticator, String) {
        let hasher = ApiKeyHasher::new(b"pepper");
        let generated = hasher.generate();
        let directory = Arc::new(OneKey {
            found: ApiKeyCredentials {
                key: ApiKey {
                    id: ApiKeyId::new(),
                    org_id: OrgId::new(),
                    name: "k".into(),
                    prefix: generated.prefix.clone(),
                    role: Role::Member,
                    created_at: now(),
                    updated_at: now(),
                    last_used_at: None,
                    revoked_at: None,
                },
                hash: generated.hash,
            },
            lookups: AtomicUsize::new(0),
            reading: AtomicUsize::new(0),
            most_at_once: AtomicUsize::new(0),
        });
        let auth = Authenticator::new(
            Arc::clone(&directory) as Arc<dyn Directory>,
            hasher,
            Duration::from_secs(60),
        );
        (directory, auth, generated.secret.expose().to_owned())
    }

    #[tokio::test]
    async fn verifies_keys_once_read_and_forgets_them_when_told() {
        let (directory, auth, secret) = setup();
        let key = auth
            .api_key(&secret)
            .await
            .unwrap()
            .expect("the stored key");
        assert_eq!(key.id, directory.found.key.id);
        assert!(auth.api_key(&secret).await.unwrap().is_some());
        assert_eq!(directory.lookups.load(Ordering::SeqCst), 1, "read once");

        let forged = format!("{}_{}", directory.found.key.prefix, "A".repeat(43));
        assert!(auth.api_key(&forged).await.unwrap().is_none(), "the hash");
        assert!(auth.api_key("not a key").await.unwrap().is_none());

        auth.forget_api_key(key.id);
        assert!(auth.api_key(&secret).await.unwrap().is_some());
        assert_eq!(directory.lookups.load(Ordering::SeqCst), 2, "read again");
    }

    #[tokio::test]
    async fn unknown_prefixes_are_read_once_until_a_key_changes() {
        let (directory, auth, _) = setup();
        let unknown = format!("wos_unknownunkno_{}", "A".repeat(43));
        assert!(auth.api_key(&unknown).await.unwrap().is_none());
        assert!(auth.api_key(&unknown).await.unwrap().is_none());
        assert_eq!(directory.lookups.load(Ordering::SeqCst), 1);
        auth.forget_all();
        assert!(auth.api_key(&unknown).await.unwrap().is_none());
        assert_eq!(directory.lookups.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn requests_that_find_a_key_unread_read_it_once() {
        let (directory, auth, secret) = setup();
        let auth = Arc::new(auth);
        let requests = (0..32).map(|_| {
            let (auth, secret) = (Arc::clone(&auth), secret.clone());
            tokio::spawn(async move { auth.api_key(&secret).await })
        });
        for request in requests.collect::<Vec<_>>() {
            assert!(request.await.unwrap().unwrap().is_some());
        }
        assert_eq!(directory.lookups.load(Ordering::SeqCst), 1, "one reader");
        assert_eq!(directory.most_at_once.load(Ordering::SeqCst), 1);
        assert_eq!(auth.reading.len(), 0, "no gate left behind");

        let unknown = format!("wos_unknownunkno_{}", "A".repeat(43));
        let requests = (0..32).map(|_| {
            let (auth, unknown) = (Arc::clone(&auth), unknown.clone());
            tokio::spawn(async move { auth.api_key(&unknown).await })
        });
        for request in requests.collect::<Vec<_>>() {
            assert!(request.await.unwrap().unwrap().is_none());
        }
        assert_eq!(
            directory.lookups.load(Ordering::SeqCst),
            2,
            "one reader of the miss"
        );
    }

    #[tokio::test]
    async fn with_the_cache_off_requests_read_side_by_side() {
        let (directory, _, secret) = setup();
        let auth = Arc::new(Authenticator::new(
            Arc::clone(&directory) as Arc<dyn Directory>,
            ApiKeyHasher::new(b"pepper"),
            Duration::ZERO,
        ));
        let requests: Vec<_> = (0..8)
            .map(|_| {
                let (auth, secret) = (Arc::clone(&auth), secret.clone());
                tokio::spawn(async move { auth.api_key(&secret).await })
            })
            .collect();
        for request in requests {
            assert!(request.await.unwrap().unwrap().is_some());
        }
        assert_eq!(directory.lookups.load(Ordering::SeqCst), 8, "each reads");
        assert_eq!(
            directory.most_at_once.load(Ordering::SeqCst),
            8,
            "none waits"
        );
    }

    #[test]
    fn a_key_use_is_recorded_at_most_once_a_minute() {
        let (_, auth, _) = setup();
        let (one, two) = (ApiKeyId::new(), ApiKeyId::new());
        assert!(auth.should_touch(one));
        assert!(!auth.should_touch(one), "again within the minute");
        assert!(auth.should_touch(two), "another key");
    }
}
