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

use std::collections::HashMap;
use std::sync::Mutex;
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
