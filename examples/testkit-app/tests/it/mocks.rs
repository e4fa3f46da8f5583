//! Step 1 of the guide: the service's own logic on `workos-core`'s mocks (feature `testing`).
//! No database, no network: every repository and channel call is scripted and checked, and a
//! call nobody expected fails the test.

use chrono::Utc;
use followup::{FollowUp, Outcome, follow_up_task};
use workos_core::channel::{MockSmsChannel, ProviderReceipt, SmsSender};
use workos_core::domain::{NewTask, Person, Task, TaskPriority, TaskStatus};
use workos_core::ids::{OrgId, TaskId};
use workos_core::page::Page;
use workos_core::repo::MockTaskRepo;
use workos_core::tenant::Actor;

use crate::{ada, ada_phone, our_number, secret};

/// What a store would answer for `new` in `org_id`.
fn stored(org_id: OrgId, new: NewTask) -> Task {
    Task {
        id: TaskId::new(),
        org_id,
        title: new.title,
        status: new.status,
        priority: new.priority,
        due_at: new.due_at,
        assignee_id: new.assignee_id,
        person_id: new.person_id,
        company_id: new.company_id,
        deal_id: new.deal_id,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

fn page(data: Vec<Task>) -> Page<Task> {
    Page {
        data,
        next_cursor: None,
    }
}

/// Tasks finds none of `person`'s tasks.
fn no_tasks_yet(tasks: &mut MockTaskRepo, person: &Person) {
    let person_id = person.id;
    tasks
        .expect_list_tasks()
        .withf(move |_, filter, _| filter.person_id == Some(person_id))
        .times(1)
        .returning(|_, _, _| Ok(page(Vec::new())));
}

#[tokio::test]
async fn a_new_person_gets_a_task_and_a_text_in_their_own_org() {
    let ada = ada(OrgId::new());
    let (org_id, person_id) = (ada.org_id, ada.id);
    let mut tasks = MockTaskRepo::new();
    no_tasks_yet(&mut tasks, &ada);
    tasks
        .expect_create_task()
        .withf(move |ctx, new| {
            ctx.org_id() == org_id
                && matches!(ctx.actor(), Actor::System { job } if job == "followup")
                && new.title == "Follow up with Ada Lovelace"
                && new.priority == TaskPriority::High
                && new.status == TaskStatus::Open
                && new.person_id == Some(person_id)
        })
        .times(1)
        .returning(|ctx, new| Ok(stored(ctx.org_id(), new)));
    let mut sms = MockSmsChannel::new();
    sms.expect_send_sms()
        .withf(move |ctx, sms| {
            ctx.org_id() == org_id
                && sms.to == ada_phone()
                && sms.from == SmsSender::Number(our_number())
                && sms.body.starts_with("Hi Ada,")
        })
        .times(1)
        .returning(|_, _| {
            Ok(ProviderReceipt {
                sid: "SM0123".into(),
                status: "queued".into(),
            })
        });
    let service = FollowUp::new(tasks, sms, secret(), our_number());

    let Outcome::FollowedUp { task, sms } = service.follow_up(&ada).await.unwrap() else {
        panic!("Ada is followed up");
    };
    assert_eq!(task.org_id, org_id);
    assert_eq!(task.person_id, Some(person_id));
    assert_eq!(
        task.due_at,
        Some(ada.created_at + chrono::Duration::days(1))
    );
    assert_eq!(sms.map(|r| r.sid).as_deref(), Some("SM0123"));
}

#[tokio::test]
async fn a_redelivery_finds_the_task_instead_of_making_another() {
    let ada = ada(OrgId::new());
    let earlier = stored(ada.org_id, follow_up_task(&ada));
    let found = earlier.clone();
    let mut tasks = MockTaskRepo::new();
    tasks
        .expect_list_tasks()
        .times(1)
        .returning(move |_, _, _| Ok(page(vec![found.clone()])));
    // No `expect_create_task`: creating a second task would fail the test.
    let mut sms = MockSmsChannel::new();
    sms.expect_send_sms().times(1).returning(|_, _| {
        Ok(ProviderReceipt {
            sid: "SM0124".into(),
            status: "queued".into(),
        })
    });
    let service = FollowUp::new(tasks, sms, secret(), our_number());

    let outcome = service.follow_up(&ada).await.unwrap();
    assert!(matches!(outcome, Outcome::FollowedUp { task, .. } if task == earlier));
}

#[tokio::test]
async fn a_person_without_a_phone_gets_a_task_and_no_text() {
    let mut ada = ada(OrgId::new());
    ada.phone = None;
    let mut tasks = MockTaskRepo::new();
    no_tasks_yet(&mut tasks, &ada);
    tasks
        .expect_create_task()
        .times(1)
        .returning(|ctx, new| Ok(stored(ctx.org_id(), new)));
    // No expectation: any SMS fails the test.
    let service = FollowUp::new(tasks, MockSmsChannel::new(), secret(), our_number());

    let outcome = service.follow_up(&ada).await.unwrap();
    assert!(matches!(outcome, Outcome::FollowedUp { sms: None, .. }));
}

#[tokio::test]
async fn a_store_failure_is_the_engines_error_and_nothing_is_sent() {
    let ada = ada(OrgId::new());
    let mut tasks = MockTaskRepo::new();
    no_tasks_yet(&mut tasks, &ada);
    tasks.expect_create_task().times(1).returning(|_, _| {
        Err(workos_core::Error::unavailable(
            "database down",
            "connection refused",
        ))
    });
    let service = FollowUp::new(tasks, MockSmsChannel::new(), secret(), our_number());

    let err = service.follow_up(&ada).await.unwrap_err();
    assert!(
        matches!(
            err,
            followup::FollowUpError::Engine(workos_core::Error::Unavailable { .. })
        ),
        "{err:?}"
    );
}
