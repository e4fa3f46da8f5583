//! Integrations (connected accounts) and emails: idempotent recording, person matching and
//! creation, timeline entries, events, lists, isolation, the integration lifecycle and roles.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone as _, Utc};
use tokio::sync::Barrier;
use workos_core::Error;
use workos_core::domain::{
    Direction, Email, EmailFilter, Integration, IntegrationStatus, InteractionFilter,
    InteractionKind, NewEmail, NewIntegration, NewPerson, PersonFilter, TimeRange,
};
use workos_core::events::types;
use workos_core::ids::{EmailId, IntegrationId, PersonId};
use workos_core::repo::{EmailRepo, IntegrationRepo, InteractionRepo, PersonRepo, SealedSecrets};
use workos_core::tenant::{Role, TenantContext};
use workos_store::SqlStore;

use crate::common::*;

/// Sealed credentials as the engine would store them: opaque bytes, not text.
fn sealed(tag: u8) -> SealedSecrets {
    SealedSecrets(vec![0, 0xff, tag, 0x80, b'\n', 0])
}

async fn connect(store: &SqlStore, ctx: &TenantContext, account: &str) -> Integration {
    store
        .create_integration(ctx, NewIntegration::gmail(account), sealed(1))
        .await
        .expect("connect an account")
}

/// A time with microseconds, as stored.
fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 4, hour, 5, 6).unwrap() + Duration::microseconds(123_456)
}

fn inbound(integration_id: IntegrationId, provider_id: &str, from: &str) -> NewEmail {
    NewEmail {
        integration_id,
        provider_id: provider_id.into(),
        thread_id: Some(format!("thread-{provider_id}")),
        message_id: Some(format!("<{provider_id}@mail.example.com>")),
        direction: Direction::Inbound,
        from: from.into(),
        to: vec!["me@acme.com".into()],
        cc: vec![],
        subject: Some(format!("Hello {provider_id}")),
        snippet: Some("Just checking in".into()),
        headers: serde_json::json!({ "List-Id": "news" }),
        labels: vec![],
        occurred_at: at(1),
        person_id: None,
        create_person: false,
    }
}

fn outbound(integration_id: IntegrationId, provider_id: &str, to: &str) -> NewEmail {
    NewEmail {
        direction: Direction::Outbound,
        from: "me@acme.com".into(),
        to: vec![to.into(), "other@elsewhere.com".into()],
        cc: vec!["cc@elsewhere.com".into()],
        ..inbound(integration_id, provider_id, "me@acme.com")
    }
}

async fn emails(store: &SqlStore, ctx: &TenantContext, filter: EmailFilter) -> Vec<Email> {
    store
        .list_emails(ctx, filter, page(200))
        .await
        .expect("list emails")
        .data
}

async fn people_with(store: &SqlStore, ctx: &TenantContext, address: &str) -> Vec<PersonId> {
    let filter = PersonFilter {
        email: Some(email(address)),
        ..PersonFilter::default()
    };
    store
        .list_people(ctx, filter, page(200))
        .await
        .expect("list people")
        .data
        .into_iter()
        .map(|p| p.id)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Recording

contract_test!(recording_is_idempotent_and_emits_once);
async fn recording_is_idempotent_and_emits_once(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let gmail = connect(store, &t.ctx, "me@acme.com").await;
    let job = t.system().with_request_id("sync-1");

    let first = store
        .record_email(&job, inbound(gmail.id, "m1", "Ann <ann@x.com>"))
        .await
        .unwrap();
    assert!(first.created);
    let e = first.record;
    assert_eq!((e.org_id, e.integration_id), (t.org.id, gmail.id));
    assert_eq!(e.provider_id, "m1");
    assert_eq!(e.thread_id.as_deref(), Some("thread-m1"));
    assert_eq!(e.message_id.as_deref(), Some("<m1@mail.example.com>"));
    assert_eq!(e.direction, Direction::Inbound);
    assert_eq!(e.from, "Ann <ann@x.com>");
    assert_eq!(e.to, vec!["me@acme.com".to_owned()]);
    assert!(e.cc.is_empty());
    assert_eq!(e.subject.as_deref(), Some("Hello m1"));
    assert_eq!(e.snippet.as_deref(), Some("Just checking in"));
    assert_eq!(e.headers, serde_json::json!({ "List-Id": "news" }));
    assert_eq!(e.occurred_at, at(1), "the time round-trips at microseconds");
    assert_eq!(e.person_id, None, "no person and create_person off");
    assert!(e.interaction_id.is_some());
    assert_eq!(store.get_email(&t.ctx, e.id).await.unwrap(), e);

    // A retry of the same provider id, even with different content, returns the stored email.
    let mut retry = inbound(gmail.id, "m1", "someone-else@x.com");
    retry.subject = Some("changed".into());
    retry.create_person = true;
    let second = store.record_email(&job, retry).await.unwrap();
    assert!(!second.created);
    assert_eq!(second.record, e);

    assert_eq!(
        emails(store, &t.ctx, EmailFilter::default()).await,
        vec![e.clone()]
    );
    let event = one_event(store, &t.ctx, types::EMAIL_RECEIVED, e.id).await;
    assert_eq!(event.subject.kind, EmailId::KIND);
    assert_eq!(
        event.data,
        serde_json::to_value(&e).unwrap(),
        "the snapshot is the email"
    );
    assert_eq!(event.request_id.as_deref(), Some("sync-1"));
    assert_eq!(
        count_events(store, &t.ctx, types::INTERACTION_CREATED).await,
        1
    );
    assert_eq!(count_events(store, &t.ctx, types::PERSON_CREATED).await, 0);
    assert!(
        people_with(store, &t.ctx, "someone-else@x.com")
            .await
            .is_empty()
    );

    // The same provider id through another integration is another email.
    let other = connect(store, &t.ctx, "sales@acme.com").await;
    let again = store
        .record_email(&job, inbound(other.id, "m1", "ann@x.com"))
        .await
        .unwrap();
    assert!(again.created);
    assert_ne!(again.record.id, e.id);

    // Outbound mail emits email.sent.
    let sent = store
        .record_email(&job, outbound(gmail.id, "m2", "bob@x.com"))
        .await
        .unwrap()
        .record;
    assert_eq!(sent.direction, Direction::Outbound);
    assert_eq!(sent.cc, vec!["cc@elsewhere.com".to_owned()]);
    let event = one_event(store, &t.ctx, types::EMAIL_SENT, sent.id).await;
    assert_eq!(event.data["provider_id"], "m2");
    assert_eq!(event.data["direction"], "outbound");
    assert_eq!(
        event.data["interaction_id"],
        json_id(sent.interaction_id.unwrap())
    );
    assert!(
        events_about(store, &t.ctx, types::EMAIL_RECEIVED, sent.id)
            .await
            .is_empty()
    );
}

contract_test!(concurrent_duplicates_store_one_email);
async fn concurrent_duplicates_store_one_email(store: &SqlStore) {
    const RACERS: usize = 8;
    let t = Tenant::new(store, "Acme").await;
    let gmail = connect(store, &t.ctx, "me@acme.com").await;
    let ctx = t.system();
    let barrier = Arc::new(Barrier::new(RACERS));
    let handles: Vec<_> = (0..RACERS)
        .map(|_| {
            let (store, ctx, barrier) = (store.clone(), ctx.clone(), barrier.clone());
            let mut new = inbound(gmail.id, "dup", "New.Person@x.com");
            new.create_person = true;
            tokio::spawn(async move {
                barrier.wait().await;
                store.record_email(&ctx, new).await
            })
        })
        .collect();
    let mut results = Vec::new();
    for h in handles {
        results.push(h.await.expect("no panic").expect("every racer succeeds"));
    }
    assert_eq!(
        results.iter().filter(|r| r.created).count(),
        1,
        "exactly one racer stores it"
    );
    let id = results[0].record.id;
    assert!(
        results
            .iter()
            .all(|r| r.record.id == id && r.record == results[0].record)
    );

    let stored = emails(store, &ctx, EmailFilter::default()).await;
    assert_eq!(stored.len(), 1);
    let person = stored[0].person_id.expect("a person was created");
    assert_eq!(
        people_with(store, &ctx, "new.person@x.com").await,
        vec![person]
    );
    assert_eq!(count_events(store, &ctx, types::EMAIL_RECEIVED).await, 1);
    assert_eq!(count_events(store, &ctx, types::PERSON_CREATED).await, 1);
    assert_eq!(
        count_events(store, &ctx, types::INTERACTION_CREATED).await,
        1
    );
    assert_eq!(store.email_counts(&ctx, gmail.id).await.unwrap(), (1, 0));
}

contract_test!(people_are_matched_or_created_by_address);
async fn people_are_matched_or_created_by_address(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let gmail = connect(store, &t.ctx, "Me@Acme.com").await;
    assert_eq!(gmail.account, "me@acme.com", "the account is normalised");
    let job = t.system();
    let ada = store
        .create_person(
            &t.ctx,
            NewPerson {
                first_name: Some("Ada".into()),
                email: Some(email("ada@x.com")),
                additional_emails: vec![email("ada.second@x.com")],
                ..NewPerson::default()
            },
        )
        .await
        .unwrap();

    // Inbound: matched by `from`, on a secondary address, case-insensitively, display name and
    // all; never a new person, even when creation is allowed.
    let mut new = inbound(gmail.id, "i1", "\"Lovelace, Ada\" <ADA.Second@X.com>");
    new.create_person = true;
    let e = store.record_email(&job, new).await.unwrap().record;
    assert_eq!(e.person_id, Some(ada.id));

    // Outbound: matched by the first `to` (not the others, not cc).
    let e = store
        .record_email(&job, outbound(gmail.id, "o1", "Ada@x.com"))
        .await
        .unwrap()
        .record;
    assert_eq!(e.person_id, Some(ada.id));
    let mut to_second = outbound(gmail.id, "o2", "stranger@x.com");
    to_second.to.push("ada@x.com".into());
    let e = store.record_email(&job, to_second).await.unwrap().record;
    assert_eq!(
        e.person_id, None,
        "only the first recipient is the counterpart"
    );
    assert_eq!(count_events(store, &t.ctx, types::PERSON_CREATED).await, 1);

    // Unknown sender, creation off: stored without a person.
    let e = store
        .record_email(&job, inbound(gmail.id, "i2", "unknown@y.com"))
        .await
        .unwrap()
        .record;
    assert_eq!(e.person_id, None);
    assert!(people_with(store, &t.ctx, "unknown@y.com").await.is_empty());

    // Unknown sender, creation on: a person with that address, reused by the next email.
    let mut new = inbound(gmail.id, "i3", "Bob <Bob@Y.com>");
    new.create_person = true;
    let e = store.record_email(&job, new).await.unwrap().record;
    let bob = e.person_id.expect("a person was created");
    let created = store.get_person(&t.ctx, bob).await.unwrap();
    assert_eq!(created.email, Some(email("bob@y.com")));
    let event = one_event(store, &t.ctx, types::PERSON_CREATED, bob).await;
    assert_eq!(event.data["email"], "bob@y.com");
    let mut next = inbound(gmail.id, "i4", "bob@y.com");
    next.create_person = true;
    let e = store.record_email(&job, next).await.unwrap().record;
    assert_eq!(e.person_id, Some(bob));
    assert_eq!(people_with(store, &t.ctx, "bob@y.com").await, vec![bob]);

    // Mail to oneself never makes the connected mailbox a contact.
    let mut to_self = outbound(gmail.id, "o3", "ME@acme.com");
    to_self.create_person = true;
    let e = store.record_email(&job, to_self).await.unwrap().record;
    assert_eq!(e.person_id, None);
    assert!(people_with(store, &t.ctx, "me@acme.com").await.is_empty());

    // An address that is not one (or no recipient at all) leaves the person unset.
    let mut garbled = inbound(gmail.id, "i5", "undisclosed-recipients:;");
    garbled.create_person = true;
    assert_eq!(
        store
            .record_email(&job, garbled)
            .await
            .unwrap()
            .record
            .person_id,
        None
    );
    let mut nobody = outbound(gmail.id, "o4", "x@y.com");
    nobody.to.clear();
    nobody.create_person = true;
    assert_eq!(
        store
            .record_email(&job, nobody)
            .await
            .unwrap()
            .record
            .person_id,
        None
    );

    // A known person wins over the address; it must be a live person of the org.
    let mut known = inbound(gmail.id, "i6", "bob@y.com");
    known.person_id = Some(ada.id);
    let e = store.record_email(&job, known).await.unwrap().record;
    assert_eq!(e.person_id, Some(ada.id));
    let mut missing = inbound(gmail.id, "i7", "bob@y.com");
    missing.person_id = Some(PersonId::new());
    expect_validation(store.record_email(&job, missing).await, "person_id");
    assert!(
        emails(store, &t.ctx, EmailFilter::default())
            .await
            .iter()
            .all(|e| e.provider_id != "i7"),
        "a failed record leaves nothing behind"
    );

    // A deleted person's addresses no longer match.
    store.delete_person(&t.ctx, ada.id).await.unwrap();
    let e = store
        .record_email(&job, inbound(gmail.id, "i8", "ada@x.com"))
        .await
        .unwrap()
        .record;
    assert_eq!(e.person_id, None);
}

contract_test!(emails_get_a_timeline_entry);
async fn emails_get_a_timeline_entry(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let gmail = connect(store, &t.ctx, "me@acme.com").await;
    let member = t.user(store, Role::Member).await;
    let mut new = inbound(gmail.id, "m1", "ann@x.com");
    new.create_person = true;
    new.occurred_at = at(7);
    let e = store.record_email(&member, new).await.unwrap().record;
    let interaction_id = e.interaction_id.expect("linked");
    let i = store.get_interaction(&t.ctx, interaction_id).await.unwrap();
    assert_eq!(i.kind, InteractionKind::Email);
    assert_eq!(i.summary, "Hello m1");
    assert_eq!(i.body.as_deref(), Some("Just checking in"));
    assert_eq!(i.person_id, e.person_id);
    assert_eq!(
        i.occurred_at,
        at(7),
        "the entry is placed when the email happened"
    );
    let event = one_event(store, &t.ctx, types::INTERACTION_CREATED, interaction_id).await;
    assert_eq!(event.data["kind"], "email");

    let timeline = store
        .list_interactions(
            &t.ctx,
            InteractionFilter {
                person_id: e.person_id,
                ..InteractionFilter::default()
            },
            page(50),
        )
        .await
        .unwrap()
        .data;
    assert_eq!(timeline, vec![i]);

    // No subject (or a blank one): a placeholder summary; a long one is cut to fit.
    for (provider_id, subject) in [("m2", None), ("m3", Some("   ".to_owned()))] {
        let mut new = inbound(gmail.id, provider_id, "ann@x.com");
        new.subject = subject;
        new.snippet = None;
        let e = store.record_email(&member, new).await.unwrap().record;
        let i = store
            .get_interaction(&t.ctx, e.interaction_id.unwrap())
            .await
            .unwrap();
        assert_eq!(i.summary, "(no subject)");
        assert_eq!(i.body, None);
    }
    let mut long = inbound(gmail.id, "m4", "ann@x.com");
    long.subject = Some("é".repeat(600));
    let e = store.record_email(&member, long).await.unwrap().record;
    assert_eq!(e.subject.as_deref().map(|s| s.chars().count()), Some(600));
    let i = store
        .get_interaction(&t.ctx, e.interaction_id.unwrap())
        .await
        .unwrap();
    assert_eq!(i.summary.chars().count(), 500);
}

contract_test!(email_validation);
async fn email_validation(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let gmail = connect(store, &t.ctx, "me@acme.com").await;
    let mut blank = inbound(gmail.id, " ", "ann@x.com");
    blank.from = String::new();
    blank.headers = serde_json::json!("not an object");
    let err = store.record_email(&t.ctx, blank).await.unwrap_err();
    let Error::Validation(v) = err else {
        panic!("expected a validation error, got {err:?}")
    };
    let fields: Vec<_> = v.errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["provider_id", "from", "headers"]);
    expect_not_found(
        store
            .record_email(&t.ctx, inbound(IntegrationId::new(), "m1", "ann@x.com"))
            .await,
    );
    assert!(
        emails(store, &t.ctx, EmailFilter::default())
            .await
            .is_empty()
    );
    assert_eq!(count_events(store, &t.ctx, types::EMAIL_RECEIVED).await, 0);
}

// ---------------------------------------------------------------------------------------------
// Lists

contract_test!(email_lists_filter_and_paginate);
async fn email_lists_filter_and_paginate(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let viewer = t.user(store, Role::Viewer).await;
    let gmail = connect(store, &t.ctx, "me@acme.com").await;
    let sales = connect(store, &t.ctx, "sales@acme.com").await;
    let job = t.system();
    let mut all = Vec::new();
    for (n, (integration, direction)) in [
        (gmail.id, Direction::Inbound),
        (gmail.id, Direction::Outbound),
        (gmail.id, Direction::Inbound),
        (sales.id, Direction::Inbound),
        (gmail.id, Direction::Outbound),
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("m{n}");
        let counterpart = if n % 2 == 0 { "ann@x.com" } else { "bob@x.com" };
        let mut new = match direction {
            Direction::Inbound => inbound(integration, &id, counterpart),
            Direction::Outbound => outbound(integration, &id, counterpart),
        };
        new.thread_id = Some(if n < 3 { "t-a" } else { "t-b" }.into());
        new.occurred_at = at(u32::try_from(n).unwrap() + 1);
        new.create_person = true;
        all.push(store.record_email(&job, new).await.unwrap().record);
    }
    let ann = all[0].person_id.unwrap();
    let ids = |es: &[Email]| es.iter().map(|e| e.id).collect::<Vec<_>>();
    let pick = |idx: &[usize]| idx.iter().map(|&i| all[i].id).collect::<Vec<_>>();

    let paged = all_pages(
        2,
        |pg| store.list_emails(&viewer, EmailFilter::default(), pg),
        |e: &Email| e.id.as_uuid(),
    )
    .await;
    assert_ids_in_order(
        paged.iter().map(|e| e.id.as_uuid()),
        all.iter().map(|e| e.id.as_uuid()),
    );
    assert_eq!(paged, all);

    let by = |filter: EmailFilter| emails(store, &viewer, filter);
    assert_eq!(
        ids(&by(EmailFilter {
            person_id: Some(ann),
            ..EmailFilter::default()
        })
        .await),
        pick(&[0, 2, 4])
    );
    assert_eq!(
        ids(&by(EmailFilter {
            direction: Some(Direction::Outbound),
            ..EmailFilter::default()
        })
        .await),
        pick(&[1, 4])
    );
    assert_eq!(
        ids(&by(EmailFilter {
            thread_id: Some("t-b".into()),
            ..EmailFilter::default()
        })
        .await),
        pick(&[3, 4])
    );
    assert_eq!(
        ids(&by(EmailFilter {
            integration_id: Some(sales.id),
            ..EmailFilter::default()
        })
        .await),
        pick(&[3])
    );
    assert_eq!(
        ids(&by(EmailFilter {
            occurred: TimeRange {
                after: Some(at(2)),
                before: Some(at(4)),
            },
            ..EmailFilter::default()
        })
        .await),
        pick(&[1, 2]),
        "the range includes its start and excludes its end"
    );
    assert_eq!(
        ids(&by(EmailFilter {
            occurred: later_than(at(4)),
            ..EmailFilter::default()
        })
        .await),
        pick(&[3, 4])
    );
    assert_eq!(
        ids(&by(EmailFilter {
            occurred: earlier_than(at(2)),
            ..EmailFilter::default()
        })
        .await),
        pick(&[0])
    );
    assert_eq!(
        ids(&by(EmailFilter {
            person_id: Some(ann),
            direction: Some(Direction::Inbound),
            thread_id: Some("t-a".into()),
            integration_id: Some(gmail.id),
            occurred: later_than(at(1)),
        })
        .await),
        pick(&[0, 2])
    );

    assert_eq!(store.email_counts(&viewer, gmail.id).await.unwrap(), (2, 2));
    assert_eq!(store.email_counts(&viewer, sales.id).await.unwrap(), (1, 0));
    let idle = connect(store, &t.ctx, "idle@acme.com").await;
    assert_eq!(store.email_counts(&viewer, idle.id).await.unwrap(), (0, 0));
    expect_not_found(store.email_counts(&viewer, IntegrationId::new()).await);
    expect_not_found(store.get_email(&viewer, EmailId::new()).await);

    let integrations = all_pages(
        2,
        |pg| store.list_integrations(&viewer, pg),
        |i: &Integration| i.id.as_uuid(),
    )
    .await;
    assert_eq!(integrations, vec![gmail, sales, idle]);
}

// ---------------------------------------------------------------------------------------------
// Isolation

contract_test!(emails_and_integrations_are_isolated);
async fn emails_and_integrations_are_isolated(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let b = Tenant::new(store, "B").await;
    let gmail = connect(store, &a.ctx, "me@acme.com").await;
    let e = store
        .record_email(&a.system(), inbound(gmail.id, "m1", "ann@x.com"))
        .await
        .unwrap()
        .record;

    for ctx in [b.ctx.clone(), b.system()] {
        expect_not_found(store.get_integration(&ctx, gmail.id).await);
        assert!(
            store
                .list_integrations(&ctx, page(50))
                .await
                .unwrap()
                .data
                .is_empty()
        );
        expect_not_found(store.integration_credentials(&ctx, gmail.id).await);
        expect_not_found(
            store
                .replace_integration_credentials(&ctx, gmail.id, sealed(9))
                .await,
        );
        expect_not_found(
            store
                .set_integration_status(&ctx, gmail.id, IntegrationStatus::Failing, None)
                .await,
        );
        expect_not_found(
            store
                .update_sync_state(&ctx, gmail.id, serde_json::json!({ "h": 1 }), None)
                .await,
        );
        expect_not_found(store.disconnect_integration(&ctx, gmail.id).await);
        // Recording against A's integration, even with A's provider id: not found, no row.
        expect_not_found(
            store
                .record_email(&ctx, inbound(gmail.id, "m1", "ann@x.com"))
                .await,
        );
        expect_not_found(
            store
                .record_email(&ctx, inbound(gmail.id, "m2", "ann@x.com"))
                .await,
        );
        expect_not_found(store.get_email(&ctx, e.id).await);
        expect_not_found(store.email_counts(&ctx, gmail.id).await);
        let filter = EmailFilter {
            integration_id: Some(gmail.id),
            ..EmailFilter::default()
        };
        assert!(emails(store, &ctx, filter).await.is_empty());
        assert!(emails(store, &ctx, EmailFilter::default()).await.is_empty());
        assert_eq!(count_events(store, &ctx, types::EMAIL_RECEIVED).await, 0);
    }

    // A's integration is untouched, and B can connect the same account for itself.
    let same = store.get_integration(&a.ctx, gmail.id).await.unwrap();
    assert_eq!(same, gmail);
    assert_eq!(
        store
            .integration_credentials(&a.ctx, gmail.id)
            .await
            .unwrap(),
        sealed(1)
    );
    assert_eq!(store.email_counts(&a.ctx, gmail.id).await.unwrap(), (1, 0));
    let theirs = connect(store, &b.ctx, "me@acme.com").await;
    assert_ne!(theirs.id, gmail.id);
    // B's own person with A's counterpart address gets B's email, not A's person.
    let mut new = inbound(theirs.id, "m1", "ann@x.com");
    new.create_person = true;
    let eb = store.record_email(&b.ctx, new).await.unwrap();
    assert!(eb.created, "provider ids are per integration, so per org");
    assert_eq!(eb.record.org_id, b.org.id);
    assert_eq!(emails(store, &a.ctx, EmailFilter::default()).await, vec![e]);
}

// ---------------------------------------------------------------------------------------------
// Integration lifecycle

contract_test!(integration_lifecycle);
async fn integration_lifecycle(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let admin = t.user(store, Role::Admin).await.with_request_id("req-1");
    let job = t.system();
    let mut new = NewIntegration::gmail("Me@Acme.com");
    new.settings = serde_json::json!({ "labels": ["INBOX"] });
    let gmail = store
        .create_integration(&admin, new, sealed(1))
        .await
        .unwrap();
    assert_eq!(gmail.org_id, t.org.id);
    assert_eq!(
        (gmail.provider.as_str(), gmail.account.as_str()),
        ("gmail", "me@acme.com")
    );
    assert_eq!(gmail.status, IntegrationStatus::Active);
    assert_eq!(gmail.settings, serde_json::json!({ "labels": ["INBOX"] }));
    assert_eq!(gmail.sync_state, serde_json::json!({}));
    assert_eq!(
        (gmail.last_synced_at, gmail.last_error.clone()),
        (None, None)
    );
    assert_eq!(
        store.get_integration(&t.ctx, gmail.id).await.unwrap(),
        gmail
    );
    let event = one_event(store, &t.ctx, types::INTEGRATION_CONNECTED, gmail.id).await;
    assert_eq!(event.subject.kind, IntegrationId::KIND);
    assert_eq!(event.data, serde_json::to_value(&gmail).unwrap());
    assert!(
        event.data.get("credentials").is_none(),
        "credentials never leave the store"
    );
    assert_eq!(event.request_id.as_deref(), Some("req-1"));

    // The same account again, in any spelling: a conflict. Another provider may share it.
    expect_conflict(
        store
            .create_integration(&admin, NewIntegration::gmail(" ME@acme.COM "), sealed(2))
            .await,
        "account",
    );
    let other = NewIntegration {
        provider: "imap".into(),
        ..NewIntegration::gmail("me@acme.com")
    };
    store
        .create_integration(&admin, other, sealed(3))
        .await
        .unwrap();
    let mut invalid = NewIntegration::gmail("not an address");
    invalid.settings = serde_json::json!(null);
    let err = store.create_integration(&admin, invalid, sealed(4)).await;
    expect_validation(err, "settings");
    expect_validation(
        store
            .create_integration(&admin, NewIntegration::gmail("nope"), sealed(4))
            .await,
        "account",
    );

    // Credentials are opaque bytes, replaced (refreshed) without an event.
    assert_eq!(
        store.integration_credentials(&job, gmail.id).await.unwrap(),
        sealed(1)
    );
    store
        .replace_integration_credentials(&job, gmail.id, sealed(7))
        .await
        .unwrap();
    assert_eq!(
        store.integration_credentials(&job, gmail.id).await.unwrap(),
        sealed(7)
    );
    assert_eq!(
        events_about(store, &t.ctx, types::INTEGRATION_CONNECTED, gmail.id)
            .await
            .len(),
        1
    );

    // Status changes; only moving to needs_reauth emits.
    let syncing = store
        .set_integration_status(&job, gmail.id, IntegrationStatus::Syncing, None)
        .await
        .unwrap();
    assert_eq!(syncing.status, IntegrationStatus::Syncing);
    assert!(syncing.updated_at >= gmail.updated_at);
    let failing = store
        .set_integration_status(
            &job,
            gmail.id,
            IntegrationStatus::Failing,
            Some("HTTP 503".into()),
        )
        .await
        .unwrap();
    assert_eq!(failing.last_error.as_deref(), Some("HTTP 503"));
    let same = store
        .set_integration_status(
            &job,
            gmail.id,
            IntegrationStatus::Failing,
            Some("HTTP 503".into()),
        )
        .await
        .unwrap();
    assert_eq!(same, failing, "setting the stored status writes nothing");
    let reauth = store
        .set_integration_status(
            &job,
            gmail.id,
            IntegrationStatus::NeedsReauth,
            Some("invalid_grant".into()),
        )
        .await
        .unwrap();
    assert_eq!(reauth.status, IntegrationStatus::NeedsReauth);
    assert_eq!(
        store.get_integration(&t.ctx, gmail.id).await.unwrap(),
        reauth
    );
    let event = one_event(store, &t.ctx, types::INTEGRATION_NEEDS_REAUTH, gmail.id).await;
    assert_eq!(event.data["status"], "needs_reauth");
    assert_eq!(event.data["last_error"], "invalid_grant");
    let reauth = store
        .set_integration_status(
            &job,
            gmail.id,
            IntegrationStatus::NeedsReauth,
            Some("still invalid_grant".into()),
        )
        .await
        .unwrap();
    assert_eq!(reauth.last_error.as_deref(), Some("still invalid_grant"));
    one_event(store, &t.ctx, types::INTEGRATION_NEEDS_REAUTH, gmail.id).await;
    let long = store
        .set_integration_status(
            &job,
            gmail.id,
            IntegrationStatus::Failing,
            Some("x".repeat(5000)),
        )
        .await
        .unwrap();
    assert_eq!(
        long.last_error.map(|e| e.len()),
        Some(2000),
        "long errors are cut"
    );
    let active = store
        .set_integration_status(&job, gmail.id, IntegrationStatus::Active, None)
        .await
        .unwrap();
    assert_eq!(
        (active.status, active.last_error),
        (IntegrationStatus::Active, None)
    );
    expect_validation(
        store
            .set_integration_status(&job, gmail.id, IntegrationStatus::Disconnected, None)
            .await,
        "status",
    );

    // Sync state: stored as given; the sync time kept when not given.
    let synced = store
        .update_sync_state(
            &job,
            gmail.id,
            serde_json::json!({ "history_id": "42" }),
            Some(at(9)),
        )
        .await
        .unwrap();
    assert_eq!(synced.sync_state, serde_json::json!({ "history_id": "42" }));
    assert_eq!(synced.last_synced_at, Some(at(9)));
    let checkpoint = store
        .update_sync_state(
            &job,
            gmail.id,
            serde_json::json!({ "history_id": "43" }),
            None,
        )
        .await
        .unwrap();
    assert_eq!(checkpoint.last_synced_at, Some(at(9)));
    assert_eq!(
        store.get_integration(&t.ctx, gmail.id).await.unwrap(),
        checkpoint
    );
    expect_validation(
        store
            .update_sync_state(&job, gmail.id, serde_json::json!([1]), None)
            .await,
        "sync_state",
    );

    // Disconnecting deletes the credentials and freezes the integration; emails stay.
    let kept = store
        .record_email(&job, inbound(gmail.id, "m1", "ann@x.com"))
        .await
        .unwrap()
        .record;
    let gone = store
        .disconnect_integration(&admin, gmail.id)
        .await
        .unwrap();
    assert_eq!(gone.status, IntegrationStatus::Disconnected);
    assert_eq!(gone.sync_state, checkpoint.sync_state);
    assert_eq!(store.get_integration(&t.ctx, gmail.id).await.unwrap(), gone);
    let event = one_event(store, &t.ctx, types::INTEGRATION_DISCONNECTED, gmail.id).await;
    assert_eq!(event.data["status"], "disconnected");
    assert_eq!(
        store
            .disconnect_integration(&admin, gmail.id)
            .await
            .unwrap(),
        gone
    );
    one_event(store, &t.ctx, types::INTEGRATION_DISCONNECTED, gmail.id).await;
    expect_conflict(
        store.integration_credentials(&job, gmail.id).await,
        "status",
    );
    expect_conflict(
        store
            .replace_integration_credentials(&job, gmail.id, sealed(8))
            .await,
        "status",
    );
    expect_conflict(
        store
            .set_integration_status(&job, gmail.id, IntegrationStatus::Active, None)
            .await,
        "status",
    );
    expect_conflict(
        store
            .update_sync_state(&job, gmail.id, serde_json::json!({}), None)
            .await,
        "status",
    );
    expect_conflict(
        store
            .record_email(&job, inbound(gmail.id, "m2", "ann@x.com"))
            .await,
        "status",
    );
    let retry = store
        .record_email(&job, inbound(gmail.id, "m1", "ann@x.com"))
        .await
        .unwrap();
    assert!(
        !retry.created,
        "a retry still answers with the stored email"
    );
    assert_eq!(store.get_email(&t.ctx, kept.id).await.unwrap(), kept);
    assert_eq!(store.email_counts(&t.ctx, gmail.id).await.unwrap(), (1, 0));

    // Connecting the account again revives the same integration with a fresh sync.
    let back = store
        .create_integration(&admin, NewIntegration::gmail("me@acme.com"), sealed(5))
        .await
        .unwrap();
    assert_eq!(back.id, gmail.id);
    assert_eq!(back.status, IntegrationStatus::Active);
    assert_eq!(back.settings, serde_json::json!({}));
    assert_eq!(back.sync_state, serde_json::json!({}));
    assert_eq!((back.last_synced_at, back.last_error.clone()), (None, None));
    assert_eq!(back.created_at, gmail.created_at);
    assert_eq!(store.get_integration(&t.ctx, gmail.id).await.unwrap(), back);
    assert_eq!(
        store.integration_credentials(&job, gmail.id).await.unwrap(),
        sealed(5)
    );
    assert_eq!(
        events_about(store, &t.ctx, types::INTEGRATION_CONNECTED, gmail.id)
            .await
            .len(),
        2
    );
    expect_not_found(store.get_integration(&t.ctx, IntegrationId::new()).await);
    expect_not_found(
        store
            .disconnect_integration(&admin, IntegrationId::new())
            .await,
    );
}

// ---------------------------------------------------------------------------------------------
// Roles

contract_test!(integration_and_email_roles);
async fn integration_and_email_roles(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let viewer = t.user(store, Role::Viewer).await;
    let member = t.user(store, Role::Member).await;
    let admin = t.user(store, Role::Admin).await;

    for ctx in [&viewer, &member] {
        expect_forbidden(
            store
                .create_integration(ctx, NewIntegration::gmail("me@acme.com"), sealed(1))
                .await,
        );
    }
    assert!(
        store
            .list_integrations(&t.ctx, page(50))
            .await
            .unwrap()
            .data
            .is_empty()
    );
    let gmail = connect(store, &admin, "me@acme.com").await;

    // Viewers read, nothing more.
    assert_eq!(
        store.get_integration(&viewer, gmail.id).await.unwrap(),
        gmail
    );
    assert_eq!(
        store
            .list_integrations(&viewer, page(50))
            .await
            .unwrap()
            .data,
        vec![gmail.clone()]
    );
    expect_forbidden(store.integration_credentials(&viewer, gmail.id).await);
    expect_forbidden(
        store
            .replace_integration_credentials(&viewer, gmail.id, sealed(2))
            .await,
    );
    expect_forbidden(
        store
            .set_integration_status(&viewer, gmail.id, IntegrationStatus::Failing, None)
            .await,
    );
    expect_forbidden(
        store
            .update_sync_state(&viewer, gmail.id, serde_json::json!({}), None)
            .await,
    );
    expect_forbidden(
        store
            .record_email(&viewer, inbound(gmail.id, "m1", "ann@x.com"))
            .await,
    );
    expect_forbidden(store.disconnect_integration(&viewer, gmail.id).await);

    // Members (as the sync and send paths act) record mail and keep the integration running,
    // but cannot disconnect it.
    let e = store
        .record_email(&member, inbound(gmail.id, "m1", "ann@x.com"))
        .await
        .unwrap()
        .record;
    assert_eq!(store.get_email(&viewer, e.id).await.unwrap(), e);
    assert_eq!(
        emails(store, &viewer, EmailFilter::default()).await,
        vec![e]
    );
    assert_eq!(store.email_counts(&viewer, gmail.id).await.unwrap(), (1, 0));
    assert_eq!(
        store
            .integration_credentials(&member, gmail.id)
            .await
            .unwrap(),
        sealed(1)
    );
    store
        .replace_integration_credentials(&member, gmail.id, sealed(2))
        .await
        .unwrap();
    store
        .set_integration_status(&member, gmail.id, IntegrationStatus::Syncing, None)
        .await
        .unwrap();
    store
        .update_sync_state(
            &member,
            gmail.id,
            serde_json::json!({ "h": "1" }),
            Some(at(1)),
        )
        .await
        .unwrap();
    expect_forbidden(store.disconnect_integration(&member, gmail.id).await);
    assert_eq!(
        store
            .get_integration(&t.ctx, gmail.id)
            .await
            .unwrap()
            .status,
        IntegrationStatus::Syncing
    );

    // Admins and system jobs may do everything.
    let job = t.system();
    assert_eq!(
        store.integration_credentials(&job, gmail.id).await.unwrap(),
        sealed(2)
    );
    store
        .disconnect_integration(&admin, gmail.id)
        .await
        .unwrap();
    store
        .create_integration(&job, NewIntegration::gmail("me@acme.com"), sealed(3))
        .await
        .unwrap();
}
