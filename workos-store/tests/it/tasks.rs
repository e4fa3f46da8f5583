//! Tasks: CRUD, events, filters, pagination, validation, patches.

use chrono::{Duration, Utc};
use workos_core::domain::{
    NewCompany, NewDeal, NewPerson, NewTask, Patch, Task, TaskFilter, TaskPatch, TaskPriority,
    TaskStatus, to_storage_precision,
};
use workos_core::events::types;
use workos_core::ids::{CompanyId, DealId, PersonId, UserId};
use workos_core::repo::{CompanyRepo, DealRepo, PersonRepo, TaskRepo};
use workos_core::tenant::{Role, TenantContext};
use workos_store::SqlStore;

use crate::common::*;

/// A company, a person and a deal of the context's org.
async fn subjects(store: &SqlStore, ctx: &TenantContext) -> (PersonId, CompanyId, DealId) {
    let c = store
        .create_company(
            ctx,
            NewCompany {
                name: "Initech".into(),
                domain: None,
            },
        )
        .await
        .unwrap()
        .id;
    let p = store
        .create_person(
            ctx,
            NewPerson {
                first_name: Some("Ann".into()),
                ..NewPerson::default()
            },
        )
        .await
        .unwrap()
        .id;
    let d = store
        .create_deal(ctx, NewDeal::named("Deal"))
        .await
        .unwrap()
        .id;
    (p, c, d)
}

contract_test!(task_crud_and_events);
async fn task_crud_and_events(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let ctx = t.user(store, Role::Member).await.with_request_id("req-1");
    let (p, c, d) = subjects(store, &ctx).await;
    let due = Utc::now() + Duration::days(2);

    let new = NewTask {
        priority: TaskPriority::High,
        due_at: Some(due),
        assignee_id: Some(t.owner),
        person_id: Some(p),
        company_id: Some(c),
        deal_id: Some(d),
        ..NewTask::titled(" Call Ann ")
    };
    let task = store.create_task(&ctx, new).await.unwrap();
    assert_eq!(task.title, "Call Ann");
    assert_eq!(task.status, TaskStatus::Open);
    assert_eq!(task.priority, TaskPriority::High);
    assert_eq!(
        task.due_at,
        Some(to_storage_precision(due)),
        "stored at microseconds"
    );
    assert_eq!(
        (task.person_id, task.company_id, task.deal_id),
        (Some(p), Some(c), Some(d))
    );
    assert_eq!(task.org_id, t.org.id);
    assert_eq!(store.get_task(&ctx, task.id).await.unwrap(), task);
    let event = one_event(store, &ctx, types::TASK_CREATED, task.id).await;
    assert_eq!(event.subject.kind, "task");
    assert_eq!(event.data["title"], "Call Ann");
    assert_eq!(event.data["priority"], "high");
    assert_eq!(event.data["deal_id"], json_id(d));
    assert_eq!(event.request_id.as_deref(), Some("req-1"));

    let done = TaskPatch {
        status: Some(TaskStatus::Done),
        title: Some("Called Ann".into()),
        ..TaskPatch::default()
    };
    let updated = store.update_task(&ctx, task.id, done).await.unwrap();
    assert_eq!(updated.status, TaskStatus::Done);
    assert_eq!(updated.title, "Called Ann");
    assert_eq!(updated.due_at, task.due_at);
    assert_eq!(store.get_task(&ctx, task.id).await.unwrap(), updated);
    let event = one_event(store, &ctx, types::TASK_UPDATED, task.id).await;
    assert_eq!(event.data["status"], "done");

    store.delete_task(&ctx, task.id).await.unwrap();
    expect_not_found(store.get_task(&ctx, task.id).await);
    expect_not_found(store.update_task(&ctx, task.id, TaskPatch::default()).await);
    expect_not_found(store.delete_task(&ctx, task.id).await);
    let listed = store
        .list_tasks(&ctx, TaskFilter::default(), page(50))
        .await
        .unwrap();
    assert!(listed.data.is_empty(), "a deleted task is not listed");
    let event = one_event(store, &ctx, types::TASK_DELETED, task.id).await;
    assert_eq!(event.data["title"], "Called Ann");
}

contract_test!(task_patch_clear_and_noop);
async fn task_patch_clear_and_noop(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let ctx = &t.ctx;
    let (p, c, d) = subjects(store, ctx).await;
    let task = store
        .create_task(
            ctx,
            NewTask {
                due_at: Some(Utc::now()),
                assignee_id: Some(t.owner),
                person_id: Some(p),
                company_id: Some(c),
                deal_id: Some(d),
                ..NewTask::titled("Task")
            },
        )
        .await
        .unwrap();

    assert_eq!(
        store
            .update_task(ctx, task.id, TaskPatch::default())
            .await
            .unwrap(),
        task
    );
    let same_values = TaskPatch {
        title: Some("Task".into()),
        status: Some(TaskStatus::Open),
        due_at: Patch::Set(task.due_at.unwrap()),
        deal_id: Patch::Set(d),
        ..TaskPatch::default()
    };
    assert_eq!(
        store.update_task(ctx, task.id, same_values).await.unwrap(),
        task
    );
    assert!(
        events_about(store, ctx, types::TASK_UPDATED, task.id)
            .await
            .is_empty(),
        "a no-op patch writes no event"
    );

    let clear = TaskPatch {
        due_at: Patch::Clear,
        assignee_id: Patch::Clear,
        person_id: Patch::Clear,
        company_id: Patch::Clear,
        deal_id: Patch::Clear,
        ..TaskPatch::default()
    };
    let cleared = store.update_task(ctx, task.id, clear).await.unwrap();
    assert_eq!(cleared.due_at, None);
    assert_eq!(cleared.assignee_id, None);
    assert_eq!(
        (cleared.person_id, cleared.company_id, cleared.deal_id),
        (None, None, None)
    );
    assert_eq!(store.get_task(ctx, task.id).await.unwrap(), cleared);
    let event = one_event(store, ctx, types::TASK_UPDATED, task.id).await;
    for field in [
        "due_at",
        "assignee_id",
        "person_id",
        "company_id",
        "deal_id",
    ] {
        assert!(
            event.data[field].is_null(),
            "{field} is cleared in {event:?}"
        );
    }
}

contract_test!(task_validation);
async fn task_validation(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let b = Tenant::new(store, "B").await;
    let ctx = &a.ctx;
    expect_validation(store.create_task(ctx, NewTask::titled("  ")).await, "title");
    expect_validation(
        store
            .create_task(ctx, NewTask::titled("t".repeat(301)))
            .await,
        "title",
    );
    let (their_p, their_c, their_d) = subjects(store, &b.ctx).await;
    let refs = [
        (
            "person_id",
            NewTask {
                person_id: Some(their_p),
                ..NewTask::titled("Task")
            },
        ),
        (
            "company_id",
            NewTask {
                company_id: Some(their_c),
                ..NewTask::titled("Task")
            },
        ),
        (
            "deal_id",
            NewTask {
                deal_id: Some(their_d),
                ..NewTask::titled("Task")
            },
        ),
        (
            "deal_id",
            NewTask {
                deal_id: Some(DealId::new()),
                ..NewTask::titled("Task")
            },
        ),
    ];
    for (field, new) in refs {
        expect_validation(store.create_task(ctx, new).await, field);
    }
    let listed = store
        .list_tasks(ctx, TaskFilter::default(), page(50))
        .await
        .unwrap();
    assert!(listed.data.is_empty(), "nothing invalid was stored");

    let task = store
        .create_task(ctx, NewTask::titled("Task"))
        .await
        .unwrap();
    let blank = TaskPatch {
        title: Some(String::new()),
        ..TaskPatch::default()
    };
    expect_validation(store.update_task(ctx, task.id, blank).await, "title");
    let theirs = TaskPatch {
        deal_id: Patch::Set(their_d),
        ..TaskPatch::default()
    };
    expect_validation(store.update_task(ctx, task.id, theirs).await, "deal_id");
    assert_eq!(
        store.get_task(ctx, task.id).await.unwrap(),
        task,
        "unchanged"
    );
    assert!(
        events_about(store, ctx, types::TASK_UPDATED, task.id)
            .await
            .is_empty()
    );
}

contract_test!(task_list_filter_paginate);
async fn task_list_filter_paginate(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let b = Tenant::new(store, "B").await;
    let ctx = &a.ctx;
    let (p, c, d) = subjects(store, ctx).await;
    let assignee = UserId::new();
    let now = Utc::now();
    let specs = [
        NewTask {
            due_at: Some(now - Duration::days(1)),
            assignee_id: Some(assignee),
            person_id: Some(p),
            ..NewTask::titled("t0")
        },
        NewTask {
            status: TaskStatus::Done,
            due_at: Some(now + Duration::days(1)),
            company_id: Some(c),
            ..NewTask::titled("t1")
        },
        NewTask {
            assignee_id: Some(assignee),
            deal_id: Some(d),
            company_id: Some(c),
            ..NewTask::titled("t2")
        },
        NewTask {
            status: TaskStatus::Done,
            due_at: Some(now - Duration::hours(1)),
            ..NewTask::titled("t3")
        },
        NewTask::titled("t4"),
    ];
    let mut tasks = Vec::new();
    for spec in specs {
        tasks.push(store.create_task(ctx, spec).await.unwrap());
    }
    store
        .create_task(&b.ctx, NewTask::titled("theirs"))
        .await
        .unwrap();

    let list = |filter: TaskFilter| {
        all_pages(
            2,
            move |pg| store.list_tasks(ctx, filter.clone(), pg),
            |t: &Task| t.id.as_uuid(),
        )
    };
    let ids = |idx: &[usize]| {
        idx.iter()
            .map(|&i| tasks[i].id.as_uuid())
            .collect::<Vec<_>>()
    };
    let seen = |found: &[Task]| found.iter().map(|t| t.id.as_uuid()).collect::<Vec<_>>();

    let all = list(TaskFilter::default()).await;
    assert_ids_in_order(seen(&all), ids(&[0, 1, 2, 3, 4]));
    assert_eq!(all[0], tasks[0]);
    let cases = [
        (
            TaskFilter {
                status: Some(TaskStatus::Done),
                ..TaskFilter::default()
            },
            vec![1, 3],
        ),
        (
            TaskFilter {
                assignee_id: Some(assignee),
                ..TaskFilter::default()
            },
            vec![0, 2],
        ),
        (
            TaskFilter {
                due_before: Some(now),
                ..TaskFilter::default()
            },
            vec![0, 3],
        ),
        (
            TaskFilter {
                person_id: Some(p),
                ..TaskFilter::default()
            },
            vec![0],
        ),
        (
            TaskFilter {
                company_id: Some(c),
                ..TaskFilter::default()
            },
            vec![1, 2],
        ),
        (
            TaskFilter {
                deal_id: Some(d),
                assignee_id: Some(assignee),
                ..TaskFilter::default()
            },
            vec![2],
        ),
    ];
    for (filter, expected) in cases {
        let found = list(filter.clone()).await;
        assert_ids_in_order(seen(&found), ids(&expected));
    }
}

contract_test!(task_keeps_deleted_references);
/// A task about records that were deleted can still be edited without touching them.
async fn task_keeps_deleted_references(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let ctx = &t.ctx;
    let (p, c, d) = subjects(store, ctx).await;
    let new = NewTask {
        person_id: Some(p),
        company_id: Some(c),
        deal_id: Some(d),
        ..NewTask::titled("Task")
    };
    let task = store.create_task(ctx, new).await.unwrap();
    store.delete_deal(ctx, d).await.unwrap();
    store.delete_person(ctx, p).await.unwrap();
    store.delete_company(ctx, c).await.unwrap();
    let done = TaskPatch {
        status: Some(TaskStatus::Done),
        ..TaskPatch::default()
    };
    let updated = store.update_task(ctx, task.id, done).await.unwrap();
    assert_eq!(updated.status, TaskStatus::Done);
    assert_eq!(
        (updated.person_id, updated.company_id, updated.deal_id),
        (Some(p), Some(c), Some(d))
    );
}
