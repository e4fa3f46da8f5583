//! API keys found by prefix, kept for a few seconds so that a busy client's requests do not
//! each read its key from the database (a transaction of its own, before the request's work).
//!
//! Keys the database answered are kept, and so are prefixes it did not know (misses), so a
//! stream of well-formed but unknown keys does not cost a transaction each: a miss is kept for
//! the same time to live, at most [`MAX_MISSES`] of them, and every miss is dropped when any
//! API key changes (a creation included: its prefix may be one that missed), through this
//! process or, by the store's invalidation, another. The presented key is verified against the
//! kept hash on every request, and a key revoked through this process is dropped at once. A
//! key revoked through another process is dropped when the store's invalidation arrives (the
//! embedder hands it to [`Authenticator::forget_api_key`](super::Authenticator::forget_api_key);
//! within a second on Postgres), and within the time to live at the latest (default
//! [`DEFAULT_TTL`]; zero turns the cache off).
//!
//! Requests that find a prefix neither kept nor missed read it one at a time ([`ReadGates`]):
//! when a busy key's entry expires while requests queue, the first reads it and the others
//! take its answer, instead of each reading the key in a transaction of its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::domain::ApiKeyCredentials;
use crate::ids::ApiKeyId;

/// How long a key read from the database is used before it is read again.
pub const DEFAULT_TTL: Duration = Duration::from_secs(5);

/// Cached keys beyond this clear the cache (it only saves queries).
const MAX_ENTRIES: usize = 10_000;

/// Unknown prefixes beyond this clear the misses (they only save queries; the failed
/// authentication limit per client bounds what a flood costs).
pub const MAX_MISSES: usize = 10_000;

/// API keys by prefix, each with when it was read, and the prefixes the database did not know.
#[derive(Debug)]
pub struct ApiKeyCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, ApiKeyCredentials)>>,
    misses: Mutex<HashMap<String, Instant>>,
}

impl ApiKeyCache {
    /// A cache keeping keys for `ttl` (zero: keeps nothing).
    #[must_use]
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
            misses: Mutex::new(HashMap::new()),
        }
    }

    /// Whether it keeps anything (a time to live above zero).
    #[must_use]
    pub fn keeps(&self) -> bool {
        !self.ttl.is_zero()
    }

    fn misses(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.misses
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the database answered that no key has `prefix`, less than the time to live ago.
    #[must_use]
    pub fn is_miss(&self, prefix: &str) -> bool {
        let mut misses = self.misses();
        match misses.get(prefix) {
            Some(read) if read.elapsed() < self.ttl => true,
            Some(_) => {
                misses.remove(prefix);
                false
            }
            None => false,
        }
    }

    /// Keeps a prefix the database did not know.
    pub fn put_miss(&self, prefix: &str) {
        if self.ttl.is_zero() {
            return;
        }
        let mut misses = self.misses();
        if misses.len() >= MAX_MISSES {
            misses.clear();
        }
        misses.insert(prefix.to_owned(), Instant::now());
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, ApiKeyCredentials)>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The key with `prefix`, when it was read less than the time to live ago.
    #[must_use]
    pub fn get(&self, prefix: &str) -> Option<ApiKeyCredentials> {
        let mut entries = self.entries();
        match entries.get(prefix) {
            Some((read, found)) if read.elapsed() < self.ttl => Some(found.clone()),
            Some(_) => {
                entries.remove(prefix);
                None
            }
            None => None,
        }
    }

    /// Keeps a key the database just answered.
    pub fn put(&self, prefix: &str, found: &ApiKeyCredentials) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(prefix.to_owned(), (Instant::now(), found.clone()));
    }

    /// Drops the key `id` (revoked, changed or created), and every miss: a created key's
    /// prefix may be one that missed.
    pub fn forget(&self, id: ApiKeyId) {
        self.entries().retain(|_, (_, found)| found.key.id != id);
        self.misses().clear();
    }

    /// Drops every key and miss (changes may have been missed).
    pub fn clear(&self) {
        self.entries().clear();
        self.misses().clear();
    }
}

/// One gate per prefix being read, so that one request reads it while the others wait for
/// its answer. A gate lives while someone holds or waits for it.
#[derive(Debug, Default)]
pub(crate) struct ReadGates(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

/// A request's place at a prefix's gate: [`ReadTurn::wait`] for the turn; dropping it (also
/// when the request is cancelled while waiting) removes the gate once nobody else uses it.
pub(crate) struct ReadTurn<'a> {
    gates: &'a ReadGates,
    prefix: String,
    gate: Option<Arc<tokio::sync::Mutex<()>>>,
}

impl ReadGates {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<()>>>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A place at `prefix`'s gate (made if nobody is reading the prefix).
    pub(crate) fn join(&self, prefix: &str) -> ReadTurn<'_> {
        let gate = Arc::clone(self.map().entry(prefix.to_owned()).or_default());
        ReadTurn {
            gates: self,
            prefix: prefix.to_owned(),
            gate: Some(gate),
        }
    }

    /// How many prefixes have a gate.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map().len()
    }
}

impl ReadTurn<'_> {
    /// Waits until the requests ahead at this gate are done, and holds it until dropped.
    pub(crate) async fn wait(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.gate
            .as_ref()
            .expect("a turn holds its gate until dropped")
            .lock()
            .await
    }
}

impl Drop for ReadTurn<'_> {
    fn drop(&mut self) {
        let mut map = self.gates.map();
        drop(self.gate.take());
        // Only the map holds it now: nobody reads or waits.
        if map
            .get(&self.prefix)
            .is_some_and(|g| Arc::strong_count(g) == 1)
        {
            map.remove(&self.prefix);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ApiKey, now};
    use crate::ids::OrgId;
    use crate::tenant::Role;

    fn credentials() -> ApiKeyCredentials {
        ApiKeyCredentials {
            key: ApiKey {
                id: ApiKeyId::new(),
                org_id: OrgId::new(),
                name: "k".into(),
                prefix: "wos_abcdefabcdef".into(),
                role: Role::Member,
                created_at: now(),
                updated_at: now(),
                last_used_at: None,
                revoked_at: None,
            },
            hash: vec![1, 2, 3],
        }
    }

    #[test]
    fn keeps_keys_for_the_ttl_and_forgets_revoked_ones() {
        let cache = ApiKeyCache::new(Duration::from_secs(60));
        let found = credentials();
        assert!(cache.get("wos_abcdefabcdef").is_none());
        cache.put("wos_abcdefabcdef", &found);
        assert_eq!(cache.get("wos_abcdefabcdef"), Some(found.clone()));
        cache.forget(ApiKeyId::new());
        assert!(
            cache.get("wos_abcdefabcdef").is_some(),
            "another key's revocation"
        );
        cache.forget(found.key.id);
        assert!(cache.get("wos_abcdefabcdef").is_none());
    }

    #[test]
    fn misses_are_kept_bounded_and_dropped_by_any_key_change() {
        let cache = ApiKeyCache::new(Duration::from_secs(60));
        assert!(!cache.is_miss("wos_unknownunkn"));
        cache.put_miss("wos_unknownunkn");
        assert!(cache.is_miss("wos_unknownunkn"));
        cache.forget(ApiKeyId::new());
        assert!(!cache.is_miss("wos_unknownunkn"), "a key was created");
        for i in 0..=MAX_MISSES {
            cache.put_miss(&format!("wos_{i:012}"));
        }
        assert!(cache.misses().len() <= MAX_MISSES);
        cache.put_miss("wos_unknownunkn");
        cache.clear();
        assert!(!cache.is_miss("wos_unknownunkn"));
        let off = ApiKeyCache::new(Duration::ZERO);
        off.put_miss("wos_unknownunkn");
        assert!(!off.is_miss("wos_unknownunkn"));
    }

    #[tokio::test]
    async fn a_gate_lives_while_used_and_lets_one_through_at_a_time() {
        let gates = ReadGates::default();
        let first = gates.join("wos_abcdefabcdef");
        let second = gates.join("wos_abcdefabcdef");
        let held = first.wait().await;
        assert!(
            tokio::time::timeout(Duration::from_millis(20), second.wait())
                .await
                .is_err(),
            "the second waits for the first"
        );
        drop(held);
        drop(second.wait().await);
        drop(first);
        assert_eq!(gates.len(), 1, "still used by the second");
        drop(second);
        assert_eq!(gates.len(), 0, "nobody uses it");
        // A turn given up while waiting (a cancelled request) leaves nothing behind.
        let holder = gates.join("wos_abcdefabcdef");
        let held = holder.wait().await;
        let waiter = gates.join("wos_abcdefabcdef");
        let _ = tokio::time::timeout(Duration::from_millis(5), waiter.wait()).await;
        drop(waiter);
        drop(held);
        drop(holder);
        assert_eq!(gates.len(), 0);
    }

    #[test]
    fn expired_or_disabled_keeps_nothing() {
        let off = ApiKeyCache::new(Duration::ZERO);
        off.put("wos_abcdefabcdef", &credentials());
        assert!(off.get("wos_abcdefabcdef").is_none());

        let short = ApiKeyCache::new(Duration::from_millis(1));
        short.put("wos_abcdefabcdef", &credentials());
        std::thread::sleep(Duration::from_millis(5));
        assert!(short.get("wos_abcdefabcdef").is_none());
    }
}
