//! Timelines of people, companies and deals, and the record each interaction came from: what
//! belongs where, newest first by when it happened, stable cursors, tenancy.

use chrono::{DateTime, TimeZone as _, Utc};
use uuid::Uuid;
use workos_core::domain::{
    Direction, Interaction, InteractionKind, InteractionPatch, NewCompany, NewDeal, NewEmail,
    NewIntegration, NewInteraction, NewPerson, NewSms, NewTask, PersonPatch, Timeline,
    TimelineKind, TimelineRecord, TimelineRequest, TimelineSubject, UnknownSender,
};
use workos_core::events::types;
use workos_core::ids::{CompanyId, DealId, PersonId};
use workos_core::repo::{
    CommsRepo, CompanyRepo, DealRepo, EmailRepo, IntegrationRepo, InteractionRepo, PersonRepo,
    SealedSecrets, TaskRepo, TimelineRepo,
};
use workos_core::tenant::{Role, TenantContext};
use workos_store::SqlStore;

use crate::common::*;

fn day(d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, d, 12, 0, 0).unwrap()
}

async fn note(
    store: &SqlStore,
    ctx: &TenantContext,
    at: DateTime<Utc>,
    link: (Option<PersonId>, Option<CompanyId>, Option<DealId>),
) -> Interaction {
    let new = NewInteraction {
        kind: InteractionKind::Note,
        occurred_at: at,
        summary: format!("note at {at}"),
        body: None,
        person_id: link.0,
        company_id: link.1,
        deal_id: link.2,
    };
    store.create_interaction(ctx, new).await.expect("a note")
}

fn sms_to(person: PersonId, sid: &str) -> NewSms {
    NewSms {
        phone_id: None,
        message_sid: Some(sid.to_owned()),
        direction: Direction::Outbound,
        from: phone(1).as_ref().to_owned(),
        to: phone(2).as_ref().to_owned(),
        body: "See you".into(),
        media: Vec::new(),
        status: "queued".into(),
        person_id: Some(person),
        unknown_sender: UnknownSender::StoreUnmatched,
    }
}

/// Every item of a timeline, `limit` at a time, checking each cursor against its page.
async fn read_all(
    store: &SqlStore,
    ctx: &TenantContext,
    subject: TimelineSubject,
    limit: u32,
) -> Vec<(TimelineKind, Uuid, DateTime<Utc>)> {
    let first = TimelineRequest::first(limit).unwrap();
    let mut request = first;
    let mut out = Vec::new();
    for _ in 0..100 {
        let Timeline { data, next_cursor } = store.timeline(ctx, subject, request).await.unwrap();
        for item in &data {
            assert_eq!(item.kind, item.record.kind(), "type names the record");
        }
        out.extend(
            data.iter()
                .map(|i| (i.kind, record_id(&i.record), i.occurred_at)),
        );
        match next_cursor {
            None => return out,
            Some(c) => {
                assert_eq!(data.len(), limit as usize, "a page with a next one is full");
                let last = data.last().unwrap();
                assert_eq!(
                    (c.kind, c.id, c.occurred_at),
                    (last.kind, record_id(&last.record), last.occurred_at)
                );
                request = first.after(Some(c));
            }
        }
    }
    panic!("the timeline did not end");
}

fn record_id(r: &TimelineRecord) -> Uuid {
    match r {
        TimelineRecord::Interaction(i) => i.id.as_uuid(),
        TimelineRecord::Email(e) => e.id.as_uuid(),
        TimelineRecord::Sms(s) => s.id.as_uuid(),
        TimelineRecord::Call(c) => c.id.as_uuid(),
        TimelineRecord::Task(t) => t.id.as_uuid(),
    }
}

/// `items` sorted as a timeline must be: newest first, then type and id descending.
fn sorted(
    mut items: Vec<(TimelineKind, Uuid, DateTime<Utc>)>,
) -> Vec<(TimelineKind, Uuid, DateTime<Utc>)> {
    items.sort_by_key(|i| std::cmp::Reverse((i.2, i.0, i.1)));
    items
}

async fn interactions_name_the_record_they_came_from(store: &SqlStore) {
    let t = Tenant::new(store, "Links").await;
    let ctx = &t.ctx;
    let person = store
        .create_person(
            ctx,
            NewPerson {
                first_name: Some("Ann".into()),
                ..NewPerson::default()
            },
        )
        .await
        .unwrap();
    let manual = note(store, ctx, day(1), (Some(person.id), None, None)).await;
    assert_eq!(
        (manual.email_id, manual.sms_id, manual.call_id),
        (None, None, None)
    );

    let sms = store
        .record_sms(ctx, sms_to(person.id, "SM1"))
        .await
        .unwrap()
        .record;
    let entry = store
        .get_interaction(ctx, sms.interaction_id.unwrap())
        .await
        .unwrap();
    assert_eq!(
        (entry.email_id, entry.sms_id, entry.call_id),
        (None, Some(sms.id), None)
    );
    let created = one_event(store, ctx, types::INTERACTION_CREATED, entry.id).await;
    assert_eq!(
        created.data["sms_id"],
        json_id(sms.id),
        "the event snapshot names it too"
    );

    let call = store
        .record_call(
            ctx,
            workos_core::domain::NewCall {
                phone_id: None,
                call_sid: Some("CA1".into()),
                direction: Direction::Outbound,
                from: phone(1).as_ref().to_owned(),
                to: phone(2).as_ref().to_owned(),
                status: "queued".into(),
                person_id: Some(person.id),
                unknown_sender: UnknownSender::StoreUnmatched,
            },
        )
        .await
        .unwrap()
        .record;
    let entry = store
        .get_interaction(ctx, call.interaction_id.unwrap())
        .await
        .unwrap();
    assert_eq!(
        (entry.email_id, entry.sms_id, entry.call_id),
        (None, None, Some(call.id))
    );

    let gmail = store
        .create_integration(
            ctx,
            NewIntegration::gmail("me@acme.com"),
            SealedSecrets(vec![1]),
        )
        .await
        .unwrap();
    let email = store
        .record_email(
            &t.system(),
            new_email(gmail.id, "m1", day(2), Some(person.id)),
        )
        .await
        .unwrap()
        .record;
    let entry = store
        .get_interaction(ctx, email.interaction_id.unwrap())
        .await
        .unwrap();
    assert_eq!(
        (entry.email_id, entry.sms_id, entry.call_id),
        (Some(email.id), None, None)
    );
    let created = one_event(store, ctx, types::INTERACTION_CREATED, entry.id).await;
    assert_eq!(created.data["email_id"], json_id(email.id));

    // A patch never moves the link.
    let patched = store
        .update_interaction(
            ctx,
            entry.id,
            InteractionPatch {
                summary: Some("Re: hello".into()),
                ..InteractionPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(patched.email_id, Some(email.id));
    assert_eq!(store.get_interaction(ctx, entry.id).await.unwrap(), patched);
    let listed = store
        .list_interactions(
            ctx,
            workos_core::domain::InteractionFilter::default(),
            page(50),
        )
        .await
        .unwrap();
    assert!(
        listed.data.contains(&patched),
        "lists show the link as well"
    );
}
contract_test!(interactions_name_the_record_they_came_from);

fn new_email(
    integration_id: workos_core::ids::IntegrationId,
    provider_id: &str,
    at: DateTime<Utc>,
    person: Option<PersonId>,
) -> NewEmail {
    NewEmail {
        integration_id,
        provider_id: provider_id.into(),
        thread_id: None,
        message_id: None,
        direction: Direction::Inbound,
        from: "ann@example.com".into(),
        to: vec!["me@acme.com".into()],
        cc: vec![],
        subject: Some("Hello".into()),
        snippet: None,
        headers: serde_json::json!({}),
        labels: vec![],
        occurred_at: at,
        person_id: person,
        create_person: false,
    }
}

async fn timelines_hold_what_belongs_to_each_record(store: &SqlStore) {
    let t = Tenant::new(store, "Timelines").await;
    let ctx = &t.ctx;
    let company = store
        .create_company(
            ctx,
            NewCompany {
                name: "Initech".into(),
                domain: None,
            },
        )
        .await
        .unwrap();
    let ann = store
        .create_person(
            ctx,
            NewPerson {
                first_name: Some("Ann".into()),
                company_id: Some(company.id),
                ..NewPerson::default()
            },
        )
        .await
        .unwrap();
    let bob = store
        .create_person(
            ctx,
            NewPerson {
                first_name: Some("Bob".into()),
                ..NewPerson::default()
            },
        )
        .await
        .unwrap();
    let deal = store
        .create_deal(ctx, NewDeal::named("Deal"))
        .await
        .unwrap();

    // Ann's: notes (two at the same time, so type and id break the tie), a task due between
    // them, an email, an SMS (now).
    let n1 = note(store, ctx, day(1), (Some(ann.id), None, None)).await;
    let n3a = note(store, ctx, day(3), (Some(ann.id), None, Some(deal.id))).await;
    let n3b = note(store, ctx, day(3), (Some(ann.id), None, None)).await;
    let task = store
        .create_task(
            ctx,
            NewTask {
                due_at: Some(day(2)),
                person_id: Some(ann.id),
                ..NewTask::titled("Call Ann")
            },
        )
        .await
        .unwrap();
    let gmail = store
        .create_integration(
            ctx,
            NewIntegration::gmail("me@acme.com"),
            SealedSecrets(vec![1]),
        )
        .await
        .unwrap();
    let email = store
        .record_email(&t.system(), new_email(gmail.id, "m1", day(3), Some(ann.id)))
        .await
        .unwrap()
        .record;
    let sms = store
        .record_sms(ctx, sms_to(ann.id, "SM1"))
        .await
        .unwrap()
        .record;
    // The company's own note, the deal's task, and Bob's note (none of Ann's or the company's).
    let company_note = note(store, ctx, day(4), (None, Some(company.id), None)).await;
    let deal_task = store
        .create_task(
            ctx,
            NewTask {
                deal_id: Some(deal.id),
                ..NewTask::titled("Send contract")
            },
        )
        .await
        .unwrap();
    let bobs = note(store, ctx, day(5), (Some(bob.id), None, None)).await;

    let ann_expected = sorted(vec![
        (TimelineKind::Interaction, n1.id.as_uuid(), day(1)),
        (TimelineKind::Interaction, n3a.id.as_uuid(), day(3)),
        (TimelineKind::Interaction, n3b.id.as_uuid(), day(3)),
        (TimelineKind::Task, task.id.as_uuid(), day(2)),
        (TimelineKind::Email, email.id.as_uuid(), day(3)),
        (TimelineKind::Sms, sms.id.as_uuid(), sms.occurred_at),
    ]);
    for limit in [1, 2, 50] {
        let items = read_all(store, ctx, TimelineSubject::Person(ann.id), limit).await;
        assert_eq!(items, ann_expected, "Ann's timeline, {limit} a page");
    }
    // Newest first by when it happened, not by id: the email (made after the notes) sits with
    // the day-3 notes, the task due on day 2 between days 1 and 3.
    let kinds: Vec<TimelineKind> = ann_expected.iter().map(|i| i.0).collect();
    assert_eq!(
        kinds,
        [
            TimelineKind::Sms,
            TimelineKind::Interaction,
            TimelineKind::Interaction,
            TimelineKind::Email,
            TimelineKind::Task,
            TimelineKind::Interaction
        ]
    );

    let mut company_expected = ann_expected.clone();
    company_expected.push((TimelineKind::Interaction, company_note.id.as_uuid(), day(4)));
    let company_items = read_all(store, ctx, TimelineSubject::Company(company.id), 3).await;
    assert_eq!(
        company_items,
        sorted(company_expected),
        "the company's own and its people's"
    );
    assert!(!company_items.iter().any(|i| i.1 == bobs.id.as_uuid()));

    let deal_items = read_all(store, ctx, TimelineSubject::Deal(deal.id), 50).await;
    assert_eq!(
        deal_items,
        sorted(vec![
            (TimelineKind::Interaction, n3a.id.as_uuid(), day(3)),
            (
                TimelineKind::Task,
                deal_task.id.as_uuid(),
                deal_task.created_at
            ),
        ])
    );

    // Linking the SMS's entry to the deal puts the SMS on the deal's timeline, as an SMS.
    store
        .update_interaction(
            ctx,
            sms.interaction_id.unwrap(),
            InteractionPatch {
                deal_id: workos_core::domain::Patch::Set(deal.id),
                ..InteractionPatch::default()
            },
        )
        .await
        .unwrap();
    let deal_items = read_all(store, ctx, TimelineSubject::Deal(deal.id), 50).await;
    assert!(deal_items.contains(&(TimelineKind::Sms, sms.id.as_uuid(), sms.occurred_at)));
    assert_eq!(deal_items.len(), 3);

    // Bob moves to the company: his items roll up to it from then on.
    store
        .update_person(
            ctx,
            bob.id,
            PersonPatch {
                company_id: workos_core::domain::Patch::Set(company.id),
                ..PersonPatch::default()
            },
        )
        .await
        .unwrap();
    let company_items = read_all(store, ctx, TimelineSubject::Company(company.id), 50).await;
    assert_eq!(
        company_items[0],
        (TimelineKind::Sms, sms.id.as_uuid(), sms.occurred_at)
    );
    assert!(company_items.contains(&(TimelineKind::Interaction, bobs.id.as_uuid(), day(5))));

    // A deleted note leaves the timeline.
    store.delete_interaction(ctx, n1.id).await.unwrap();
    let items = read_all(store, ctx, TimelineSubject::Person(ann.id), 50).await;
    assert_eq!(items.len(), ann_expected.len() - 1);
    assert!(!items.iter().any(|i| i.1 == n1.id.as_uuid()));
}
contract_test!(timelines_hold_what_belongs_to_each_record);

async fn timeline_cursors_are_stable(store: &SqlStore) {
    let t = Tenant::new(store, "Cursors").await;
    let ctx = &t.ctx;
    let ann = store
        .create_person(
            ctx,
            NewPerson {
                first_name: Some("Ann".into()),
                ..NewPerson::default()
            },
        )
        .await
        .unwrap();
    let subject = TimelineSubject::Person(ann.id);
    for d in 1..=4 {
        note(store, ctx, day(d), (Some(ann.id), None, None)).await;
    }
    let first = store
        .timeline(ctx, subject, TimelineRequest::first(2).unwrap())
        .await
        .unwrap();
    assert_eq!(
        first.data.iter().map(|i| i.occurred_at).collect::<Vec<_>>(),
        [day(4), day(3)]
    );
    let cursor = first.next_cursor.expect("more to read");

    // Items added meanwhile, newer and older than the cursor, and at its very time.
    note(store, ctx, day(9), (Some(ann.id), None, None)).await;
    let tie = note(store, ctx, day(3), (Some(ann.id), None, None)).await;
    note(
        store,
        ctx,
        day(1) - chrono::Duration::days(1),
        (Some(ann.id), None, None),
    )
    .await;

    // The cursor survives its text form.
    let cursor = cursor.to_string().parse().unwrap();
    let rest = store
        .timeline(
            ctx,
            subject,
            TimelineRequest::first(50).unwrap().after(Some(cursor)),
        )
        .await
        .unwrap();
    let seen: Vec<DateTime<Utc>> = rest.data.iter().map(|i| i.occurred_at).collect();
    let last_of_first = first.data.last().unwrap();
    let tie_after = (TimelineKind::Interaction, tie.id.as_uuid())
        < (last_of_first.kind, record_id(&last_of_first.record));
    let mut expected = vec![day(2), day(1), day(1) - chrono::Duration::days(1)];
    if tie_after {
        expected.insert(0, day(3));
    }
    assert_eq!(
        seen, expected,
        "exactly what comes after the cursor, nothing twice"
    );
    assert!(rest.next_cursor.is_none());
    assert!(!rest.data.iter().any(|i| first.data.contains(i)));
}
contract_test!(timeline_cursors_are_stable);

async fn timelines_are_tenant_scoped(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let b = Tenant::new(store, "B").await;
    let ann = store
        .create_person(
            &a.ctx,
            NewPerson {
                first_name: Some("Ann".into()),
                ..NewPerson::default()
            },
        )
        .await
        .unwrap();
    note(store, &a.ctx, day(1), (Some(ann.id), None, None)).await;
    let subject = TimelineSubject::Person(ann.id);
    expect_not_found(
        store
            .timeline(&b.ctx, subject, TimelineRequest::default())
            .await,
    );
    expect_not_found(
        store
            .timeline(
                &b.ctx,
                TimelineSubject::Company(CompanyId::new()),
                TimelineRequest::default(),
            )
            .await,
    );
    let viewer = a.user(store, Role::Viewer).await;
    assert_eq!(
        store
            .timeline(&viewer, subject, TimelineRequest::default())
            .await
            .unwrap()
            .data
            .len(),
        1,
        "viewers read timelines"
    );
    store.delete_person(&a.ctx, ann.id).await.unwrap();
    expect_not_found(
        store
            .timeline(&a.ctx, subject, TimelineRequest::default())
            .await,
    );
}
contract_test!(timelines_are_tenant_scoped);
