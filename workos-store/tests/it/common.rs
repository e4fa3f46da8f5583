//! Test databases, tenants, and the assertions every contract test shares.

use std::collections::HashSet;
use std::fmt::Debug;
use std::future::Future;

use uuid::Uuid;
use workos_core::Error;
use workos_core::domain::{Currency, E164, EmailAddress, Money, NewMember, NewOrg, Org, Timestamp};
use workos_core::events::{DomainEvent, EventFilter};
use workos_core::ids::UserId;
use workos_core::page::{Page, PageRequest};
use workos_core::repo::{Directory, EventRepo, MemberRepo};
use workos_core::tenant::{Role, TenantContext};
use workos_store::SqlStore;

// ---------------------------------------------------------------------------------------------
// Databases

/// A migrated store on a database of its own, from the testkit.
pub(crate) use workos_tests::store::TestStore as TestDb;

// ---------------------------------------------------------------------------------------------
// Tenants

/// An org with its owner, and contexts acting in it.
pub(crate) struct Tenant {
    pub(crate) org: Org,
    pub(crate) owner: UserId,
    /// The owner, as a signed-in user.
    pub(crate) ctx: TenantContext,
}

impl Tenant {
    /// Creates an org named `name` whose first member (owner) is a new user.
    pub(crate) async fn new(store: &SqlStore, name: &str) -> Self {
        let owner = UserId::new();
        let org = store
            .create_org(NewOrg { name: name.into() }, Some(owner))
            .await
            .expect("create org");
        let ctx = TenantContext::user(org.id, owner, Role::Owner);
        Self { org, owner, ctx }
    }

    /// A new user with `role` in the org (a real membership, as the Postgres policies check),
    /// as a context.
    pub(crate) async fn user(&self, store: &SqlStore, role: Role) -> TenantContext {
        let user_id = UserId::new();
        store
            .create_member(&self.ctx, NewMember { user_id, role })
            .await
            .expect("create member");
        TenantContext::user(self.org.id, user_id, role)
    }

    /// A trusted job acting in the org.
    pub(crate) fn system(&self) -> TenantContext {
        TenantContext::system(self.org.id, "contract-test")
    }
}

// ---------------------------------------------------------------------------------------------
// Values

pub(crate) fn email(s: &str) -> EmailAddress {
    EmailAddress::parse(s).expect("valid email")
}

/// A valid US number, distinct for each `n` below 1000.
pub(crate) fn phone(n: u32) -> E164 {
    E164::parse(&format!("+1415555{:04}", 2000 + n)).expect("valid phone")
}

pub(crate) fn money(amount_minor: i64, currency: &str) -> Money {
    Money {
        amount_minor,
        currency: Currency::parse(currency).expect("valid currency"),
    }
}

pub(crate) fn page(limit: u32) -> PageRequest {
    PageRequest::first(limit).expect("valid page size")
}

/// A unique API key prefix.
pub(crate) fn key_prefix() -> String {
    format!("wos_{}", &Uuid::now_v7().simple().to_string()[20..])
}

/// A JSON string holding `id`, as event snapshots carry ids.
pub(crate) fn json_id(id: impl Into<Uuid>) -> serde_json::Value {
    serde_json::Value::String(id.into().to_string())
}

pub(crate) fn later_than(t: Timestamp) -> workos_core::domain::TimeRange {
    workos_core::domain::TimeRange {
        after: Some(t),
        before: None,
    }
}

pub(crate) fn earlier_than(t: Timestamp) -> workos_core::domain::TimeRange {
    workos_core::domain::TimeRange {
        after: None,
        before: Some(t),
    }
}

// ---------------------------------------------------------------------------------------------
// Assertions

#[track_caller]
pub(crate) fn expect_validation<T: Debug>(r: workos_core::Result<T>, field: &str) {
    match r {
        Err(Error::Validation(v)) => assert!(
            v.errors.iter().any(|e| e.field == field),
            "expected a validation error on {field:?}, got {v:?}"
        ),
        other => panic!("expected a validation error on {field:?}, got {other:?}"),
    }
}

#[track_caller]
pub(crate) fn expect_conflict<T: Debug>(r: workos_core::Result<T>, field: &str) {
    match r {
        Err(Error::Conflict { field: f, .. }) if f == field => {}
        other => panic!("expected a conflict on {field:?}, got {other:?}"),
    }
}

#[track_caller]
pub(crate) fn expect_not_found<T: Debug>(r: workos_core::Result<T>) {
    match r {
        Err(Error::NotFound { .. }) => {}
        other => panic!("expected not found, got {other:?}"),
    }
}

#[track_caller]
pub(crate) fn expect_forbidden<T: Debug>(r: workos_core::Result<T>) {
    match r {
        Err(Error::Forbidden(_)) => {}
        other => panic!("expected forbidden, got {other:?}"),
    }
}

/// Reads every page of a list, `limit` records at a time, following `next_cursor` until it is
/// `None`. Checks that every page but the last is full and that each cursor names the last
/// record of its page. Returns the records in the order read.
pub(crate) async fn all_pages<T, Fut>(
    limit: u32,
    mut fetch: impl FnMut(PageRequest) -> Fut,
    id: impl Fn(&T) -> Uuid,
) -> Vec<T>
where
    Fut: Future<Output = workos_core::Result<Page<T>>>,
{
    let first = page(limit);
    let mut request = first.clone();
    let mut out = Vec::new();
    for _ in 0..1_000 {
        let Page { data, next_cursor } = fetch(request).await.expect("list a page");
        assert!(
            data.len() <= limit as usize,
            "a page holds at most its limit"
        );
        match next_cursor {
            None => {
                assert!(
                    !data.is_empty() || out.is_empty(),
                    "the last page must not be empty when earlier pages were not"
                );
                out.extend(data);
                return out;
            }
            Some(cursor) => {
                assert_eq!(data.len(), limit as usize, "a page with a next one is full");
                assert_eq!(
                    Some(cursor.last_id()),
                    data.last().map(&id),
                    "the cursor continues after the page's last record"
                );
                out.extend(data);
                request = first.clone().after(Some(cursor));
            }
        }
    }
    panic!("pagination did not end after 1000 pages");
}

/// `seen` holds each expected id exactly once, in id order.
#[track_caller]
pub(crate) fn assert_ids_in_order(
    seen: impl IntoIterator<Item = Uuid>,
    expected: impl IntoIterator<Item = Uuid>,
) {
    let seen: Vec<Uuid> = seen.into_iter().collect();
    let mut expected: Vec<Uuid> = expected.into_iter().collect();
    expected.sort();
    let distinct: HashSet<&Uuid> = seen.iter().collect();
    assert_eq!(
        distinct.len(),
        seen.len(),
        "an id was listed twice: {seen:?}"
    );
    assert_eq!(
        seen, expected,
        "listed ids (left) vs expected ids in id order (right)"
    );
}

/// The org's events of type `ty` about `subject`, oldest first.
pub(crate) async fn events_about(
    store: &SqlStore,
    ctx: &TenantContext,
    ty: &str,
    subject: impl Into<Uuid>,
) -> Vec<DomainEvent> {
    let filter = EventFilter {
        types: vec![ty.to_owned()],
        subject_id: Some(subject.into()),
        ..EventFilter::default()
    };
    store
        .list_events(ctx, filter, page(200))
        .await
        .expect("list events")
        .data
}

/// How many events of type `ty` the org of `ctx` has (up to 200).
pub(crate) async fn count_events(store: &SqlStore, ctx: &TenantContext, ty: &str) -> usize {
    let filter = EventFilter {
        types: vec![ty.to_owned()],
        ..EventFilter::default()
    };
    store
        .list_events(ctx, filter, page(200))
        .await
        .expect("list events")
        .data
        .len()
}

/// The one event of type `ty` about `subject`; fails when there is none or more than one.
pub(crate) async fn one_event(
    store: &SqlStore,
    ctx: &TenantContext,
    ty: &str,
    subject: impl Into<Uuid>,
) -> DomainEvent {
    let subject = subject.into();
    let mut events = events_about(store, ctx, ty, subject).await;
    assert_eq!(
        events.len(),
        1,
        "expected exactly one {ty} event about {subject}, got {events:#?}"
    );
    let event = events.remove(0);
    assert_eq!(event.event_type, ty);
    assert_eq!(event.org_id, ctx.org_id(), "the event belongs to the org");
    assert_eq!(event.subject.id, subject);
    event
}
