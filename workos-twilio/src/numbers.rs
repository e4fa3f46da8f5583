//! Which org owns a Twilio number, for the inbound SMS webhook: looked up once and kept for
//! [`CACHE_TTL`], so a message costs no lookup of its own.
//!
//! A cached owner is never trusted for a write: the write re-checks, in its own transaction,
//! that the number is still that org's (it fails with `NotFound` on `phone` otherwise), and a
//! failed request made with a cached owner is answered again with the owner read afresh (see
//! [`crate::inbound`]). So a number released or moved to another org never writes into (or is
//! checked against the Twilio account of) its old org. Only found owners are cached: a number
//! no org owns is read every time, so a newly added number works at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use workos_core::Result;
use workos_core::domain::{E164, Phone};
use workos_core::ids::PhoneId;
use workos_core::repo::Directory;

/// How long a found owner is used before it is read again.
pub(crate) const CACHE_TTL: Duration = Duration::from_secs(10);

/// Cached numbers beyond this clear the cache (it only saves lookups).
const CACHE_MAX: usize = 10_000;

/// An owner, and whether it came from the cache.
#[derive(Debug, Clone)]
pub(crate) struct Owner {
    /// The org's phone with that number.
    pub(crate) phone: Phone,
    /// Read from the cache (so possibly stale), not from the storage just now.
    pub(crate) cached: bool,
}

/// Number → owning phone, cached.
pub(crate) struct NumberOwners<S> {
    store: Arc<S>,
    cache: Mutex<HashMap<String, (Instant, Phone)>>,
}

impl<S: Directory> NumberOwners<S> {
    /// Owners read from `store`.
    pub(crate) fn new(store: Arc<S>) -> Self {
        Self {
            store,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The owner of `number` (as Twilio sent it), from the cache when fresh. `None` when it is
    /// not a phone number or no org owns it.
    pub(crate) async fn owner(&self, number: &str) -> Result<Option<Owner>> {
        let hit = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(number)
            .filter(|(loaded, _)| loaded.elapsed() < CACHE_TTL)
            .map(|(_, phone)| phone.clone());
        match hit {
            Some(phone) => Ok(Some(Owner {
                phone,
                cached: true,
            })),
            None => self.fresh(number).await,
        }
    }

    /// The owner of `number` read from the storage now (and cached if found).
    pub(crate) async fn fresh(&self, number: &str) -> Result<Option<Owner>> {
        let found = self.uncached(&[Some(number)]).await?;
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        match &found {
            Some(phone) => {
                if cache.len() >= CACHE_MAX {
                    cache.clear();
                }
                cache.insert(number.to_owned(), (Instant::now(), phone.clone()));
            }
            None => {
                cache.remove(number);
            }
        }
        Ok(found.map(|phone| Owner {
            phone,
            cached: false,
        }))
    }

    /// Drops the cached owner that is phone `id` (changed or deleted), or every owner.
    pub(crate) fn forget(&self, id: Option<PhoneId>) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        match id {
            Some(id) => cache.retain(|_, (_, phone)| phone.id != id),
            None => cache.clear(),
        }
    }

    /// The phone of the first of `numbers` an org owns, read from the storage (the cache is
    /// neither read nor filled).
    pub(crate) async fn uncached(&self, numbers: &[Option<&str>]) -> Result<Option<Phone>> {
        for number in numbers.iter().flatten() {
            if let Ok(number) = E164::parse(number)
                && let Some(phone) = self.store.phone_by_number(&number).await?
            {
                return Ok(Some(phone));
            }
        }
        Ok(None)
    }
}
