//! Telling every process's caches what a committed write made stale.
//!
//! Processes keep a few lookups in memory (API keys by prefix, orgs' Twilio accounts, numbers'
//! owners, webhook endpoints). A write that changes one of those records already appends its
//! domain event in its transaction; the commit turns the events of the [`CACHED_KINDS`] into
//! invalidations: on Postgres one `NOTIFY workos_cache` per record, sent in the transaction (so
//! delivered at commit, never for a rolled-back write) and heard by every process's listener,
//! this one's included; on SQLite (one process) an in-process broadcast after the commit.
//! These writes are rare administrative ones: the hot paths notify nothing new.
//!
//! A listener that lost its connection cannot know what it missed: it answers
//! [`Invalidation::Everything`] once it listens again.

use uuid::Uuid;
use workos_core::events::DomainEvent;
use workos_core::ids::{ApiKeyId, IntegrationId, OrgId, PhoneId, WebhookId};

/// The channel the invalidations are notified on (Postgres).
#[cfg(feature = "postgres")]
pub(crate) const CHANNEL: &str = "workos_cache";

/// The kinds of records processes cache: a committed event about one invalidates it.
pub const CACHED_KINDS: [&str; 4] = [
    ApiKeyId::KIND,
    PhoneId::KIND,
    IntegrationId::KIND,
    WebhookId::KIND,
];

/// What a cache of the engine's records must drop.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Invalidation {
    /// The record `id` of `kind` (one of [`CACHED_KINDS`]) in org `org_id` changed, was
    /// created or was deleted.
    Changed {
        /// The record's kind: `api_key`, `phone`, `integration` or `webhook`.
        kind: String,
        /// The org the record belongs to.
        org_id: OrgId,
        /// The record's id.
        id: Uuid,
    },
    /// Invalidations may have been missed (the listener reconnected, or fell behind): drop
    /// everything cached.
    Everything,
}

impl Invalidation {
    /// The invalidations of a transaction's events: one per changed record of a cached kind.
    pub(crate) fn of_events(events: &[DomainEvent]) -> Vec<Self> {
        let mut out: Vec<Self> = Vec::new();
        for e in events {
            if !CACHED_KINDS.contains(&e.subject.kind.as_str()) {
                continue;
            }
            let change = Self::Changed {
                kind: e.subject.kind.clone(),
                org_id: e.org_id,
                id: e.subject.id,
            };
            if !out.contains(&change) {
                out.push(change);
            }
        }
        out
    }

    /// The notification's payload: `kind org id`.
    #[cfg(feature = "postgres")]
    pub(crate) fn payload(&self) -> Option<String> {
        match self {
            Self::Changed { kind, org_id, id } => Some(format!("{kind} {org_id} {id}")),
            Self::Everything => None,
        }
    }

    /// Reads a notification's payload; anything unreadable stands for everything.
    #[cfg(feature = "postgres")]
    pub(crate) fn from_payload(payload: &str) -> Self {
        let mut parts = payload.split(' ');
        match (
            parts.next(),
            parts.next().map(str::parse::<OrgId>),
            parts.next().map(str::parse::<Uuid>),
        ) {
            (Some(kind), Some(Ok(org_id)), Some(Ok(id))) => Self::Changed {
                kind: kind.to_owned(),
                org_id,
                id,
            },
            _ => Self::Everything,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_cached_kinds_invalidate_once_per_record() {
        let org = OrgId::new();
        let key = Uuid::now_v7();
        let event = |kind: &str, id| {
            DomainEvent::new(org, "x.changed", kind, id, serde_json::json!({}), None)
        };
        let events = [
            event(ApiKeyId::KIND, key),
            event(ApiKeyId::KIND, key),
            event("person", Uuid::now_v7()),
        ];
        let found = Invalidation::of_events(&events);
        assert_eq!(
            found,
            vec![Invalidation::Changed {
                kind: "api_key".into(),
                org_id: org,
                id: key
            }]
        );
        #[cfg(feature = "postgres")]
        {
            let payload = found[0].payload().expect("a change");
            assert_eq!(Invalidation::from_payload(&payload), found[0]);
            assert_eq!(
                Invalidation::from_payload("garbage"),
                Invalidation::Everything
            );
        }
    }
}
