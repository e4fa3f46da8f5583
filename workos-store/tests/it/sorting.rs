//! `sort` on the CRM lists: every field each list accepts, in both directions, paged through
//! a few records at a time, equals the order computed in Rust from `Sortable` (so the SQL and
//! the core's definition agree on every backend); records inserted between pages are neither
//! skipped nor repeated; ties break by id; NULL due dates come last both ways; cursors of
//! another sort and fields a list lacks are refused.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::fmt::Debug;
use std::future::Future;

use chrono::{Duration, Utc};
use uuid::Uuid;
use workos_core::domain::{
    CompanyFilter, DealFilter, DedupePolicy, InteractionFilter, LeadFilter, NewCompany, NewDeal,
    NewInteraction, NewLead, NewPerson, NewTask, Patch, PersonFilter, TaskFilter, TaskPatch, now,
};
use workos_core::page::{Page, PageRequest, Sort, SortField, SortKey, Sortable};
use workos_core::repo::{CompanyRepo, DealRepo, InteractionRepo, LeadRepo, PersonRepo, TaskRepo};
use workos_store::SqlStore;

use crate::common::*;

/// `a` before `b` in `sort`: the key (NULLs last either way), then the id, in its direction.
fn order<T: Sortable>(sort: Sort, a: &T, b: &T) -> Ordering {
    let (ka, kb) = (a.sort_key(sort.field()), b.sort_key(sort.field()));
    let null = |k: &SortKey| matches!(k, SortKey::Time(None));
    null(&ka).cmp(&null(&kb)).then_with(|| {
        let o = ka.cmp(&kb).then(a.sort_id().cmp(&b.sort_id()));
        if sort.is_descending() { o.reverse() } else { o }
    })
}

/// Every page of `list` in `sort`, two records at a time, calling `between` after each page.
async fn pages<T, L, LF, B, BF>(sort: Sort, list: &L, between: &B) -> Vec<T>
where
    T: Sortable + Debug,
    L: Fn(PageRequest) -> LF,
    LF: Future<Output = workos_core::Result<Page<T>>>,
    B: Fn(usize) -> BF,
    BF: Future<Output = ()>,
{
    let first = page(2).sorted(sort);
    let mut request = first.clone();
    let mut out = Vec::new();
    for n in 0..200 {
        let Page { data, next_cursor } = list(request).await.expect("list a page");
        out.extend(data);
        match next_cursor {
            None => return out,
            Some(cursor) => {
                assert_eq!(cursor.sort(), sort, "the cursor carries its sort");
                assert_eq!(Some(cursor.last_id()), out.last().map(Sortable::sort_id));
                request = first.clone().after(Some(cursor));
            }
        }
        between(n).await;
    }
    panic!("paging in {sort} did not end");
}

/// Checks every sort of `T` against the Rust order: exactly it with no writes between pages,
/// and with `insert` between pages still in order, each record once, none of those present at
/// the start skipped.
async fn check_sorts<T, L, LF, I, IF>(list: L, insert: I)
where
    T: Sortable + Debug + Clone,
    L: Fn(PageRequest) -> LF,
    LF: Future<Output = workos_core::Result<Page<T>>>,
    I: Fn(usize) -> IF,
    IF: Future<Output = ()>,
{
    let idle = |_| async {};
    for &field in T::SORTS {
        for sort in [Sort::ascending(field), Sort::descending(field)] {
            let mut expected = list(page(200)).await.unwrap().data;
            expected.sort_by(|a, b| order(sort, a, b));
            let seen = pages(sort, &list, &idle).await;
            let ids = |v: &[T]| v.iter().map(Sortable::sort_id).collect::<Vec<Uuid>>();
            assert_eq!(ids(&seen), ids(&expected), "{sort}: {seen:#?}");

            let seen = pages(sort, &list, &insert).await;
            for pair in seen.windows(2) {
                assert_eq!(
                    order(sort, &pair[0], &pair[1]),
                    Ordering::Less,
                    "{sort}: out of order or repeated: {pair:#?}"
                );
            }
            let seen: HashSet<Uuid> = seen.iter().map(Sortable::sort_id).collect();
            for r in &expected {
                assert!(seen.contains(&r.sort_id()), "{sort}: skipped {r:?}");
            }
        }
    }
}

fn person(first: Option<&str>, last: Option<&str>) -> NewPerson {
    NewPerson {
        first_name: first.map(Into::into),
        last_name: last.map(Into::into),
        ..NewPerson::default()
    }
}

/// Names that differ only in case, in non-ASCII letters, in punctuation, and are equal (ties).
const NAMES: [&str; 8] = [
    "acme", "ACME", "Émile", "émile", "zed", "Zoe", "_under", "100%",
];

contract_test!(people_sort);
async fn people_sort(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let b = Tenant::new(store, "B").await;
    let ctx = &a.ctx;
    for (i, last) in NAMES.iter().enumerate() {
        let first = ["Bo", "al", "Al"][i % 3];
        store
            .create_person(ctx, person(Some(first), Some(last)))
            .await
            .unwrap();
    }
    for (first, last) in [(Some("Solo"), None), (None, Some("acme"))] {
        store.create_person(ctx, person(first, last)).await.unwrap();
    }
    let nameless = NewPerson {
        email: Some(email("nameless@example.com")),
        ..NewPerson::default()
    };
    store.create_person(ctx, nameless).await.unwrap();
    store
        .create_person(&b.ctx, person(Some("B"), Some("b")))
        .await
        .unwrap();
    check_sorts(
        |p| store.list_people(ctx, PersonFilter::default(), p),
        |n| async move {
            let last = NAMES[n % NAMES.len()];
            store
                .create_person(ctx, person(Some("new"), Some(last)))
                .await
                .unwrap();
        },
    )
    .await;
    let by_name = store
        .list_people(
            ctx,
            PersonFilter::default(),
            page(200).sorted(Sort::ascending(SortField::Name)),
        )
        .await
        .unwrap()
        .data;
    assert!(by_name.iter().all(|p| p.org_id == a.org.id), "one org only");
    // Last name first, ASCII case folded: "acme" and "ACME" tie (by id), before "zed".
    let lasts: Vec<_> = by_name.iter().map(|p| p.last_name.as_deref()).collect();
    assert_eq!(lasts[..2], [None, None], "no last name sorts first");
    let zed = lasts.iter().position(|l| *l == Some("zed")).unwrap();
    let acme = lasts.iter().position(|l| *l == Some("ACME")).unwrap();
    assert!(acme < zed);
}

contract_test!(companies_and_deals_sort);
async fn companies_and_deals_sort(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let ctx = &a.ctx;
    let company = |name: &str| NewCompany {
        name: name.into(),
        domain: None,
    };
    for name in NAMES {
        store.create_company(ctx, company(name)).await.unwrap();
        store.create_deal(ctx, NewDeal::named(name)).await.unwrap();
    }
    check_sorts(
        |p| store.list_companies(ctx, CompanyFilter::default(), p),
        |n| async move {
            store
                .create_company(ctx, company(NAMES[n % NAMES.len()]))
                .await
                .unwrap();
        },
    )
    .await;
    check_sorts(
        |p| store.list_deals(ctx, DealFilter::default(), p),
        |n| async move {
            store
                .create_deal(ctx, NewDeal::named(NAMES[(n + 3) % NAMES.len()]))
                .await
                .unwrap();
        },
    )
    .await;
}

contract_test!(tasks_sort_with_nulls_last);
async fn tasks_sort_with_nulls_last(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let ctx = &a.ctx;
    let when = now();
    let due = move |n: usize| match n % 4 {
        0 => None,
        1 => Some(when),
        k => Some(when + Duration::hours(k as i64 - 3)),
    };
    let task = move |n: usize| NewTask {
        due_at: due(n),
        ..NewTask::titled(format!("t{n}"))
    };
    let mut tasks = Vec::new();
    for n in 0..9 {
        tasks.push(store.create_task(ctx, task(n)).await.unwrap());
    }
    // An update moves a task in `updated_at` order.
    let patch = TaskPatch {
        due_at: Patch::Set(when + Duration::days(1)),
        ..TaskPatch::default()
    };
    store.update_task(ctx, tasks[0].id, patch).await.unwrap();
    check_sorts(
        |p| store.list_tasks(ctx, TaskFilter::default(), p),
        |n| async move {
            store.create_task(ctx, task(n + 1)).await.unwrap();
        },
    )
    .await;
    for sort in [
        Sort::ascending(SortField::DueAt),
        Sort::descending(SortField::DueAt),
    ] {
        let list = store
            .list_tasks(ctx, TaskFilter::default(), page(200).sorted(sort))
            .await
            .unwrap()
            .data;
        let first_null = list.iter().position(|t| t.due_at.is_none()).unwrap();
        assert!(
            list[first_null..].iter().all(|t| t.due_at.is_none()),
            "{sort}: NULLs last"
        );
    }
}

contract_test!(interactions_and_leads_sort);
async fn interactions_and_leads_sort(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let ctx = &a.ctx;
    let base = Utc::now();
    let note = move |n: usize| NewInteraction {
        occurred_at: base - Duration::minutes((n % 5) as i64),
        ..NewInteraction::note(format!("i{n}"))
    };
    let lead = |n: usize| NewLead {
        email: Some(email(&format!("lead{n}@example.com"))),
        ..NewLead::default()
    };
    for n in 0..7 {
        store.create_interaction(ctx, note(n)).await.unwrap();
        store
            .capture_lead(ctx, lead(n), &DedupePolicy::default(), now())
            .await
            .unwrap();
    }
    check_sorts(
        |p| store.list_interactions(ctx, InteractionFilter::default(), p),
        |n| async move {
            store.create_interaction(ctx, note(n + 2)).await.unwrap();
        },
    )
    .await;
    check_sorts(
        |p| store.list_leads(ctx, LeadFilter::default(), p),
        |n| async move {
            let new = lead(100 + n);
            store
                .capture_lead(ctx, new, &DedupePolicy::default(), now())
                .await
                .unwrap();
        },
    )
    .await;
}

contract_test!(sort_refusals);
async fn sort_refusals(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let ctx = &a.ctx;
    for n in 0..3 {
        store
            .create_task(ctx, NewTask::titled(format!("t{n}")))
            .await
            .unwrap();
    }
    let by_due = page(1).sorted(Sort::ascending(SortField::DueAt));
    let cursor = store
        .list_tasks(ctx, TaskFilter::default(), by_due)
        .await
        .unwrap()
        .next_cursor
        .unwrap();
    let other = page(1)
        .sorted(Sort::descending(SortField::DueAt))
        .after(Some(cursor.clone()));
    expect_validation(
        store.list_tasks(ctx, TaskFilter::default(), other).await,
        "cursor",
    );
    // A list without `sort` refuses a sorted cursor too.
    let plain = page(1).after(Some(cursor));
    expect_validation(
        store.list_tasks(ctx, TaskFilter::default(), plain).await,
        "cursor",
    );
    // Tasks have no name sort.
    let by_name = page(1).sorted(Sort::ascending(SortField::Name));
    expect_validation(
        store.list_tasks(ctx, TaskFilter::default(), by_name).await,
        "sort",
    );
}
