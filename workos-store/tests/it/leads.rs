//! Lead generation: capture (validation, dedupe windows and scopes, person linking, first-touch
//! attribution), partners (CRUD, validation, events), deliveries (statuses, events, cap usage),
//! cross-tenant isolation and roles.

use chrono::Duration;
use serde_json::json;
use workos_core::Error;
use workos_core::domain::{
    Attribution, Consent, Currency, DedupeField, DedupePolicy, DedupeScope, HttpUrl, Lead,
    LeadDelivery, LeadDeliveryFilter, LeadDeliveryStatus as DS, LeadFilter, LeadStatus, NewLead,
    NewPartner, NewPerson, Partner, PartnerDelivery, PartnerFilter, PartnerPatch, Patch,
    PersonFilter, ReturnReason, Timestamp, now,
};
use workos_core::events::types;
use workos_core::ids::{LeadDeliveryId, LeadId, PartnerId};
use workos_core::repo::{CapturedLead, LeadDeliveryRepo, LeadRepo, PartnerRepo, PersonRepo};
use workos_core::tenant::{Role, TenantContext};
use workos_store::SqlStore;

use crate::common::*;

fn lead(address: &str) -> NewLead {
    NewLead {
        first_name: Some("Ann".into()),
        last_name: Some("Lee".into()),
        email: Some(email(address)),
        vertical: Some("solar".into()),
        ..NewLead::default()
    }
}

fn in_vertical(new: NewLead, vertical: &str) -> NewLead {
    NewLead {
        vertical: Some(vertical.into()),
        ..new
    }
}

fn webhook(url: &str) -> PartnerDelivery {
    PartnerDelivery::Webhook {
        url: HttpUrl::parse(url).expect("valid url"),
    }
}

fn partner(name: &str) -> NewPartner {
    NewPartner {
        verticals: vec!["solar".into()],
        regions: vec!["CA".into(), "941".into()],
        priority: 10,
        weight: 3,
        price_minor: 2500,
        currency: Currency::parse("EUR").unwrap(),
        daily_cap: Some(5),
        monthly_cap: Some(100),
        timezone: "America/Los_Angeles".into(),
        ..NewPartner::new(name, webhook("https://buyer.example.com/leads"))
    }
}

async fn capture_at(
    store: &SqlStore,
    ctx: &TenantContext,
    new: NewLead,
    policy: &DedupePolicy,
    at: Timestamp,
) -> CapturedLead {
    store
        .capture_lead(ctx, new, policy, at)
        .await
        .expect("capture lead")
}

async fn capture(store: &SqlStore, ctx: &TenantContext, new: NewLead) -> Lead {
    capture_at(store, ctx, new, &DedupePolicy::default(), now())
        .await
        .lead
}

async fn all_leads(store: &SqlStore, ctx: &TenantContext, filter: LeadFilter) -> Vec<LeadId> {
    store
        .list_leads(ctx, filter, page(200))
        .await
        .unwrap()
        .data
        .into_iter()
        .map(|l| l.id)
        .collect()
}

async fn count_people(store: &SqlStore, ctx: &TenantContext) -> usize {
    store
        .list_people(ctx, PersonFilter::default(), page(200))
        .await
        .unwrap()
        .data
        .len()
}

// ---------------------------------------------------------------------------------------------
// Capture

contract_test!(capture_stores_links_and_emits);
async fn capture_stores_links_and_emits(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let member = t
        .user(store, Role::Member)
        .await
        .with_request_id("req-lead");
    let viewer = t.user(store, Role::Viewer).await;
    let given_at = now();

    let new = NewLead {
        first_name: Some(" Ann ".into()),
        phone: Some(phone(1)),
        postal_code: Some("94107".into()),
        region: Some("ca".into()),
        country: Some("us".into()),
        vertical: Some(" Solar ".into()),
        answers: json!({"roof_age": 12, "owner": true}),
        consent: Some(Consent {
            text: "I agree to be contacted.".into(),
            given_at,
            ip: Some("203.0.113.9".parse().unwrap()),
        }),
        utm_source: Some("google".into()),
        landing_page: Some("https://acme.example/solar".into()),
        ..lead("Ann@Example.com")
    };
    let captured = capture_at(store, &member, new, &DedupePolicy::default(), now()).await;
    assert!(captured.person_created && !captured.is_duplicate());
    let l = captured.lead;
    assert_eq!(l.org_id, t.org.id);
    assert_eq!(l.status, LeadStatus::New);
    assert_eq!(l.duplicate_of, None);
    assert_eq!(l.first_name.as_deref(), Some("Ann"));
    assert_eq!(l.email, Some(email("ann@example.com")));
    assert_eq!(
        (
            l.postal_code.as_deref(),
            l.region.as_deref(),
            l.country.as_deref(),
            l.vertical.as_deref()
        ),
        (Some("94107"), Some("CA"), Some("US"), Some("solar"))
    );
    assert_eq!(l.answers, json!({"roof_age": 12, "owner": true}));
    assert_eq!(l.consent.as_ref().unwrap().given_at, given_at);
    assert_eq!(store.get_lead(&viewer, l.id).await.unwrap(), l);

    // The person was created from the lead's contact details.
    let person = store
        .get_person(&viewer, l.person_id.expect("linked"))
        .await
        .unwrap();
    assert_eq!(person.email, Some(email("ann@example.com")));
    assert_eq!(person.phone, Some(phone(1)));
    assert_eq!(person.first_name.as_deref(), Some("Ann"));
    one_event(store, &member, types::PERSON_CREATED, person.id).await;

    let event = one_event(store, &member, types::LEAD_CREATED, l.id).await;
    assert_eq!(event.subject.kind, "lead");
    assert_eq!(event.request_id.as_deref(), Some("req-lead"));
    assert_eq!(event.data["status"], "new");
    assert_eq!(event.data["email"], "ann@example.com");
    assert_eq!(event.data["person_id"], json_id(person.id));
    assert_eq!(event.data["consent"]["ip"], "203.0.113.9");
    assert_eq!(event.data["first_touch"]["utm_source"], "google");

    // The API field names, exactly.
    let body = serde_json::to_value(&l).unwrap();
    for field in [
        "first_name",
        "last_name",
        "email",
        "phone",
        "postal_code",
        "region",
        "country",
        "vertical",
        "answers",
        "consent",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_term",
        "utm_content",
        "gclid",
        "fbclid",
        "landing_page",
        "referrer",
        "first_touch",
        "status",
        "duplicate_of",
    ] {
        assert!(body.get(field).is_some(), "lead JSON lacks {field}");
    }

    expect_not_found(store.get_lead(&viewer, LeadId::new()).await);
}

contract_test!(capture_links_existing_people_by_email_then_phone);
async fn capture_links_existing_people_by_email_then_phone(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let ctx = &t.ctx;
    let by_email = store
        .create_person(
            ctx,
            NewPerson {
                email: Some(email("ann@example.com")),
                ..NewPerson::default()
            },
        )
        .await
        .unwrap();
    let by_phone = store
        .create_person(
            ctx,
            NewPerson {
                phone: Some(phone(7)),
                additional_phones: vec![phone(8)],
                ..NewPerson::default()
            },
        )
        .await
        .unwrap();
    let off = DedupePolicy::off();

    // By email.
    let c = capture_at(store, ctx, lead("ANN@example.com"), &off, now()).await;
    assert!(!c.person_created);
    assert_eq!(c.lead.person_id, Some(by_email.id));
    // By phone (an additional one), with an email nobody has: the person is not changed.
    let new = NewLead {
        phone: Some(phone(8)),
        ..lead("new@example.com")
    };
    let c = capture_at(store, ctx, new, &off, now()).await;
    assert!(!c.person_created);
    assert_eq!(c.lead.person_id, Some(by_phone.id));
    assert_eq!(
        store.get_person(ctx, by_phone.id).await.unwrap(),
        by_phone,
        "linking does not change the person"
    );
    // Email wins over phone when they belong to different people.
    let new = NewLead {
        phone: Some(phone(7)),
        ..lead("ann@example.com")
    };
    let c = capture_at(store, ctx, new, &off, now()).await;
    assert_eq!(c.lead.person_id, Some(by_email.id));
    // Phone only, unknown: a person is created.
    let new = NewLead {
        email: None,
        phone: Some(phone(9)),
        ..lead("unused@example.com")
    };
    let c = capture_at(store, ctx, new, &off, now()).await;
    assert!(c.person_created);
    let created = store
        .get_person(ctx, c.lead.person_id.unwrap())
        .await
        .unwrap();
    assert_eq!((created.email, created.phone), (None, Some(phone(9))));
    assert_eq!(count_people(store, ctx).await, 3);
}

contract_test!(capture_validation_names_fields);
async fn capture_validation_names_fields(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let ctx = &t.ctx;
    let policy = DedupePolicy::default();
    let at = now();
    let r = |new: NewLead| store.capture_lead(ctx, new, &policy, at);

    let no_contact = NewLead {
        email: None,
        phone: None,
        ..lead("x@example.com")
    };
    expect_validation(r(no_contact).await, "email");
    for (field, new) in [
        (
            "first_name",
            NewLead {
                first_name: Some("a".repeat(101)),
                ..lead("a@example.com")
            },
        ),
        (
            "country",
            NewLead {
                country: Some("USA".into()),
                ..lead("a@example.com")
            },
        ),
        (
            "postal_code",
            NewLead {
                postal_code: Some("94107;DROP".into()),
                ..lead("a@example.com")
            },
        ),
        (
            "answers",
            NewLead {
                answers: json!(["not", "an", "object"]),
                ..lead("a@example.com")
            },
        ),
        (
            "answers",
            NewLead {
                answers: json!({"essay": "x".repeat(33 * 1024)}),
                ..lead("a@example.com")
            },
        ),
        (
            "utm_campaign",
            NewLead {
                utm_campaign: Some("c".repeat(501)),
                ..lead("a@example.com")
            },
        ),
        (
            "landing_page",
            NewLead {
                landing_page: Some("p".repeat(2049)),
                ..lead("a@example.com")
            },
        ),
        (
            "consent.text",
            NewLead {
                consent: Some(Consent {
                    text: "  ".into(),
                    given_at: at,
                    ip: None,
                }),
                ..lead("a@example.com")
            },
        ),
    ] {
        expect_validation(r(new).await, field);
    }
    // Every bad field is named at once.
    let many = NewLead {
        email: None,
        country: Some("1".into()),
        ..NewLead::default()
    };
    match r(many).await {
        Err(Error::Validation(v)) => {
            let fields: Vec<_> = v.errors.iter().map(|e| e.field.as_str()).collect();
            assert!(fields.contains(&"email") && fields.contains(&"country"));
        }
        other => panic!("expected validation, got {other:?}"),
    }
    let wide = DedupePolicy {
        window_days: 5000,
        ..DedupePolicy::default()
    };
    expect_validation(
        store
            .capture_lead(ctx, lead("a@example.com"), &wide, at)
            .await,
        "window_days",
    );
    // Nothing was stored.
    assert!(
        all_leads(store, ctx, LeadFilter::default())
            .await
            .is_empty()
    );
    assert_eq!(count_people(store, ctx).await, 0);
}

contract_test!(dedupe_window_and_scope);
async fn dedupe_window_and_scope(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let ctx = &t.ctx;
    let t0 = now();
    let day = Duration::days(1);
    let default = DedupePolicy::default();
    let all = DedupePolicy {
        scope: DedupeScope::All,
        ..DedupePolicy::default()
    };

    let a = capture_at(store, ctx, lead("x@example.com"), &default, t0).await;
    assert_eq!(a.lead.status, LeadStatus::New);
    let people = count_people(store, ctx).await;

    // Same email, same vertical, within the window: a duplicate of A, with A's person.
    let b = capture_at(store, ctx, lead("X@Example.com"), &default, t0 + day).await;
    assert!(b.is_duplicate() && !b.person_created);
    assert_eq!(b.lead.status, LeadStatus::Duplicate);
    assert_eq!(b.lead.duplicate_of, Some(a.lead.id));
    assert_eq!(b.lead.person_id, a.lead.person_id);
    assert_eq!(count_people(store, ctx).await, people, "no person change");
    let event = one_event(store, ctx, types::LEAD_CREATED, b.lead.id).await;
    assert_eq!(event.data["status"], "duplicate");
    assert_eq!(event.data["duplicate_of"], json_id(a.lead.id));

    // Another vertical: new under same_vertical …
    let c = capture_at(
        store,
        ctx,
        in_vertical(lead("x@example.com"), "roofing"),
        &default,
        t0 + day * 2,
    )
    .await;
    assert_eq!(c.lead.status, LeadStatus::New);
    // … but a duplicate under `all`, of the most recent non-duplicate lead (C, not A or B).
    let d = capture_at(
        store,
        ctx,
        in_vertical(lead("x@example.com"), "insurance"),
        &all,
        t0 + day * 3,
    )
    .await;
    assert_eq!(d.lead.duplicate_of, Some(c.lead.id));

    // 31 days after A (only a duplicate, B, is more recent in solar): new again.
    let e = capture_at(store, ctx, lead("x@example.com"), &default, t0 + day * 31).await;
    assert_eq!(e.lead.status, LeadStatus::New);
    assert_eq!(e.lead.duplicate_of, None);
    assert_eq!(e.lead.person_id, a.lead.person_id, "same person, new lead");
    // Exactly at the window's edge (30 days) an earlier lead no longer counts.
    let f = capture_at(
        store,
        ctx,
        in_vertical(lead("x@example.com"), "roofing"),
        &default,
        t0 + day * 32,
    )
    .await;
    assert_eq!(f.lead.status, LeadStatus::New, "C was 30 days earlier");

    // Phone matches too, whatever the email.
    let p1 = NewLead {
        email: None,
        phone: Some(phone(1)),
        ..lead("unused@example.com")
    };
    let p1 = capture_at(store, ctx, p1, &default, t0).await;
    let p2 = NewLead {
        phone: Some(phone(1)),
        ..lead("other@example.com")
    };
    let p2 = capture_at(store, ctx, p2, &default, t0 + Duration::hours(1)).await;
    assert_eq!(p2.lead.duplicate_of, Some(p1.lead.id));
    // With email-only dedupe the phone does not count.
    let email_only = DedupePolicy {
        fields: vec![DedupeField::Email],
        ..DedupePolicy::default()
    };
    let p3 = NewLead {
        phone: Some(phone(1)),
        ..lead("third@example.com")
    };
    let p3 = capture_at(store, ctx, p3, &email_only, t0 + Duration::hours(2)).await;
    assert_eq!(p3.lead.status, LeadStatus::New);

    // email_postal_code needs both to match.
    let zip = DedupePolicy {
        fields: vec![DedupeField::EmailPostalCode],
        ..DedupePolicy::default()
    };
    let with_zip = |zip: &str| NewLead {
        postal_code: Some(zip.into()),
        ..in_vertical(lead("z@example.com"), "hvac")
    };
    let q1 = capture_at(store, ctx, with_zip("94107"), &zip, t0).await;
    let q2 = capture_at(store, ctx, with_zip("10001"), &zip, t0 + day).await;
    assert_eq!(q2.lead.status, LeadStatus::New);
    let q3 = capture_at(store, ctx, with_zip("94107"), &zip, t0 + day * 2).await;
    assert_eq!(q3.lead.duplicate_of, Some(q1.lead.id));

    // Deduplication off.
    let off = capture_at(
        store,
        ctx,
        lead("x@example.com"),
        &DedupePolicy::off(),
        t0 + day,
    )
    .await;
    assert_eq!(off.lead.status, LeadStatus::New);

    let dups = all_leads(
        store,
        ctx,
        LeadFilter {
            status: Some(LeadStatus::Duplicate),
            ..LeadFilter::default()
        },
    )
    .await;
    assert_ids_in_order(
        dups.iter().map(|id| id.as_uuid()),
        [b.lead.id, d.lead.id, p2.lead.id, q3.lead.id].map(|id| id.as_uuid()),
    );
}

contract_test!(concurrent_captures_dedupe);
async fn concurrent_captures_dedupe(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let at = now();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let (store, ctx) = (store.clone(), t.ctx.clone());
            tokio::spawn(async move {
                let new = NewLead {
                    phone: Some(phone(3)),
                    ..lead("race@example.com")
                };
                store
                    .capture_lead(&ctx, new, &DedupePolicy::default(), at)
                    .await
            })
        })
        .collect();
    let mut captured = Vec::new();
    for task in tasks {
        captured.push(task.await.unwrap().expect("capture"));
    }
    let new: Vec<_> = captured.iter().filter(|c| !c.is_duplicate()).collect();
    assert_eq!(new.len(), 1, "exactly one capture is new: {captured:#?}");
    assert!(
        captured
            .iter()
            .filter(|c| c.is_duplicate())
            .all(|c| c.lead.duplicate_of == Some(new[0].lead.id)
                && c.lead.person_id == new[0].lead.person_id)
    );
    assert_eq!(count_people(store, &t.ctx).await, 1);
}

contract_test!(first_touch_is_written_once);
async fn first_touch_is_written_once(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let ctx = &t.ctx;
    let off = DedupePolicy::off();
    let t0 = now();

    let first = NewLead {
        phone: Some(phone(1)),
        utm_source: Some("google".into()),
        utm_medium: Some("cpc".into()),
        utm_campaign: Some("spring".into()),
        gclid: Some("g-1".into()),
        landing_page: Some("https://acme.example/a".into()),
        ..lead("ann@example.com")
    };
    let l1 = capture_at(store, ctx, first, &off, t0).await.lead;
    let touch1 = Attribution {
        utm_source: Some("google".into()),
        utm_medium: Some("cpc".into()),
        utm_campaign: Some("spring".into()),
        gclid: Some("g-1".into()),
        landing_page: Some("https://acme.example/a".into()),
        ..Attribution::default()
    };
    assert_eq!(l1.first_touch.as_ref(), Some(&touch1));
    assert_eq!(l1.last_touch(), touch1);

    // The same person comes back through another campaign: last touch is new, first touch kept.
    let second = NewLead {
        utm_source: Some("facebook".into()),
        utm_campaign: Some("summer".into()),
        fbclid: Some("f-2".into()),
        referrer: Some("https://facebook.com/".into()),
        ..lead("ann@example.com")
    };
    let l2 = capture_at(store, ctx, second, &off, t0 + Duration::days(3))
        .await
        .lead;
    assert_eq!(l2.person_id, l1.person_id);
    assert_eq!(l2.first_touch.as_ref(), Some(&touch1));
    assert_eq!(
        (
            l2.utm_source.as_deref(),
            l2.utm_campaign.as_deref(),
            l2.fbclid.as_deref(),
            l2.gclid.as_deref()
        ),
        (Some("facebook"), Some("summer"), Some("f-2"), None)
    );
    // Found by phone, with no attribution at all: still the person's first touch.
    let third = NewLead {
        email: None,
        phone: Some(phone(1)),
        ..lead("unused@example.com")
    };
    let l3 = capture_at(store, ctx, third, &off, t0 + Duration::days(4))
        .await
        .lead;
    assert_eq!(l3.person_id, l1.person_id);
    assert_eq!(l3.first_touch.as_ref(), Some(&touch1));
    assert!(l3.last_touch().is_empty());
    // A status change leaves attribution alone, and the stored first lead is unchanged.
    store
        .set_lead_status(ctx, l1.id, LeadStatus::Routed)
        .await
        .unwrap();
    assert_eq!(
        store.get_lead(ctx, l1.id).await.unwrap().first_touch,
        Some(touch1.clone())
    );

    // A person whose first lead was direct keeps that (no) first touch.
    let direct = capture_at(store, ctx, lead("bo@example.com"), &off, t0)
        .await
        .lead;
    assert_eq!(direct.first_touch, None);
    let later = NewLead {
        utm_source: Some("newsletter".into()),
        ..lead("bo@example.com")
    };
    let later = capture_at(store, ctx, later, &off, t0 + Duration::days(1))
        .await
        .lead;
    assert_eq!(later.person_id, direct.person_id);
    assert_eq!(later.first_touch, None, "never overwritten");
    assert_eq!(later.utm_source.as_deref(), Some("newsletter"));

    // A CRM person with no lead yet: the first lead's touch becomes the first touch.
    store
        .create_person(
            ctx,
            NewPerson {
                email: Some(email("cy@example.com")),
                ..NewPerson::default()
            },
        )
        .await
        .unwrap();
    let cy = NewLead {
        utm_source: Some("bing".into()),
        ..lead("cy@example.com")
    };
    let cy = capture_at(store, ctx, cy, &off, t0).await;
    assert!(!cy.person_created);
    assert_eq!(
        cy.lead.first_touch.and_then(|t| t.utm_source).as_deref(),
        Some("bing")
    );

    // A duplicate carries the original's first touch, not its own.
    let dup = NewLead {
        utm_source: Some("tiktok".into()),
        ..lead("ann@example.com")
    };
    let dup = capture_at(
        store,
        ctx,
        dup,
        &DedupePolicy::default(),
        t0 + Duration::days(5),
    )
    .await;
    assert_eq!(
        dup.lead.duplicate_of,
        Some(l2.id),
        "the most recent original"
    );
    assert_eq!(dup.lead.first_touch.as_ref(), Some(&touch1));
    assert_eq!(dup.lead.utm_source.as_deref(), Some("tiktok"));
}

contract_test!(lead_status_and_listing);
async fn lead_status_and_listing(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let member = t.user(store, Role::Member).await;
    let viewer = t.user(store, Role::Viewer).await;
    let off = DedupePolicy::off();
    let t0 = now();
    let mut ids = Vec::new();
    for (i, (source, campaign)) in [
        ("google", "a"),
        ("google", "b"),
        ("facebook", "a"),
        ("google", "a"),
        ("bing", "c"),
    ]
    .into_iter()
    .enumerate()
    {
        let new = NewLead {
            utm_source: Some(source.into()),
            utm_campaign: Some(campaign.into()),
            ..lead(&format!("l{i}@example.com"))
        };
        let at = t0 + Duration::days(i64::try_from(i).unwrap());
        ids.push(capture_at(store, &member, new, &off, at).await.lead.id);
    }

    let updated = store
        .set_lead_status(&member, ids[1], LeadStatus::Queued)
        .await
        .unwrap();
    assert_eq!(updated.status, LeadStatus::Queued);
    assert_eq!(store.get_lead(&viewer, ids[1]).await.unwrap(), updated);
    let event = one_event(store, &member, types::LEAD_STATUS_CHANGED, ids[1]).await;
    assert_eq!(event.data["status"], "queued");
    // The same status again changes nothing and emits nothing.
    store
        .set_lead_status(&member, ids[1], LeadStatus::Queued)
        .await
        .unwrap();
    one_event(store, &member, types::LEAD_STATUS_CHANGED, ids[1]).await;
    expect_validation(
        store
            .set_lead_status(&member, ids[2], LeadStatus::Duplicate)
            .await,
        "status",
    );
    expect_forbidden(
        store
            .set_lead_status(&viewer, ids[2], LeadStatus::Routed)
            .await,
    );
    expect_not_found(
        store
            .set_lead_status(&member, LeadId::new(), LeadStatus::Routed)
            .await,
    );

    let uuids = |v: &[usize]| v.iter().map(|&i| ids[i].as_uuid()).collect::<Vec<_>>();
    let listed = |filter: LeadFilter| {
        let viewer = viewer.clone();
        async move { all_leads(store, &viewer, filter).await }
    };
    let check = |got: Vec<LeadId>, want: &[usize]| {
        assert_ids_in_order(got.iter().map(|id| id.as_uuid()), uuids(want));
    };
    check(listed(LeadFilter::default()).await, &[0, 1, 2, 3, 4]);
    check(
        listed(LeadFilter {
            status: Some(LeadStatus::Queued),
            ..LeadFilter::default()
        })
        .await,
        &[1],
    );
    check(
        listed(LeadFilter {
            status: Some(LeadStatus::New),
            ..LeadFilter::default()
        })
        .await,
        &[0, 2, 3, 4],
    );
    check(
        listed(LeadFilter {
            utm_source: Some("google".into()),
            ..LeadFilter::default()
        })
        .await,
        &[0, 1, 3],
    );
    check(
        listed(LeadFilter {
            utm_source: Some("google".into()),
            utm_campaign: Some("a".into()),
            ..LeadFilter::default()
        })
        .await,
        &[0, 3],
    );
    check(
        listed(LeadFilter {
            created: later_than(t0 + Duration::days(2)),
            ..LeadFilter::default()
        })
        .await,
        &[2, 3, 4],
    );
    check(
        listed(LeadFilter {
            created: earlier_than(t0 + Duration::days(2)),
            ..LeadFilter::default()
        })
        .await,
        &[0, 1],
    );
    let paged = all_pages(
        2,
        |pg| store.list_leads(&viewer, LeadFilter::default(), pg),
        |l: &Lead| l.id.as_uuid(),
    )
    .await;
    assert_ids_in_order(
        paged.iter().map(|l| l.id.as_uuid()),
        uuids(&[0, 1, 2, 3, 4]),
    );
}

// ---------------------------------------------------------------------------------------------
// Partners

contract_test!(partner_crud_and_events);
async fn partner_crud_and_events(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let admin = t.user(store, Role::Admin).await.with_request_id("req-p");
    let viewer = t.user(store, Role::Viewer).await;

    let new = NewPartner {
        verticals: vec![" Solar ".into(), "solar".into()],
        regions: vec!["ca".into(), "941".into()],
        ..partner(" SunBuyer ")
    };
    let p = store.create_partner(&admin, new).await.unwrap();
    assert_eq!(p.org_id, t.org.id);
    assert_eq!(p.name, "SunBuyer");
    assert_eq!(p.verticals, ["solar"]);
    assert_eq!(p.regions, ["CA", "941"]);
    assert_eq!((p.priority, p.weight, p.price_minor), (10, 3, 2500));
    assert_eq!(p.currency.code(), "EUR");
    assert_eq!((p.daily_cap, p.monthly_cap), (Some(5), Some(100)));
    assert_eq!(p.timezone, "America/Los_Angeles");
    assert!(p.exclusive && p.active);
    // Admins read the delivery URL whole; everyone else reads it redacted (capability URLs).
    assert_eq!(store.get_partner(&admin, p.id).await.unwrap(), p);
    assert_eq!(
        store.get_partner(&viewer, p.id).await.unwrap(),
        p.redacted()
    );
    assert_ne!(p.redacted(), p, "the URL's path is a capability");
    let event = one_event(store, &admin, types::PARTNER_CREATED, p.id).await;
    assert_eq!(event.subject.kind, "partner");
    assert_eq!(event.request_id.as_deref(), Some("req-p"));
    // Events fan out to other receivers: they carry the URL redacted.
    assert_eq!(
        event.data["delivery"],
        json!({"kind": "webhook", "url": "https://buyer.example.com/[redacted]"})
    );
    let body = serde_json::to_value(p.redacted()).unwrap();
    for field in [
        "name",
        "delivery",
        "verticals",
        "regions",
        "priority",
        "weight",
        "price_minor",
        "daily_cap",
        "monthly_cap",
        "timezone",
        "exclusive",
        "active",
    ] {
        assert!(body.get(field).is_some(), "partner JSON lacks {field}");
    }

    // Defaults, and email delivery.
    let mailer = NewPartner::new(
        "Mailer",
        PartnerDelivery::Email {
            address: email("Leads@Buyer.example"),
        },
    );
    let m = store.create_partner(&admin, mailer).await.unwrap();
    assert_eq!(
        m.delivery,
        PartnerDelivery::Email {
            address: email("leads@buyer.example")
        }
    );
    assert_eq!(
        (
            m.weight,
            m.price_minor,
            m.currency.code(),
            m.timezone.as_str()
        ),
        (1, 0, "USD", "UTC")
    );
    assert!(m.verticals.is_empty() && m.regions.is_empty() && m.daily_cap.is_none());

    let patch = PartnerPatch {
        name: Some("SunBuyer West".into()),
        daily_cap: Patch::Clear,
        monthly_cap: Patch::Set(50),
        active: Some(false),
        delivery: Some(webhook("https://buyer.example.com/v2")),
        ..PartnerPatch::default()
    };
    let u = store.update_partner(&admin, p.id, patch).await.unwrap();
    assert_eq!(u.name, "SunBuyer West");
    assert_eq!(
        (u.daily_cap, u.monthly_cap, u.active),
        (None, Some(50), false)
    );
    assert_eq!(u.created_at, p.created_at);
    assert_eq!(
        store.get_partner(&viewer, p.id).await.unwrap(),
        u.redacted()
    );
    let event = one_event(store, &admin, types::PARTNER_UPDATED, p.id).await;
    assert_eq!(event.data["active"], false);
    // An empty patch changes nothing and emits nothing.
    let same = store
        .update_partner(&admin, p.id, PartnerPatch::default())
        .await
        .unwrap();
    assert_eq!(same, u);
    one_event(store, &admin, types::PARTNER_UPDATED, p.id).await;

    let active = store
        .list_partners(&viewer, PartnerFilter { active: Some(true) }, page(50))
        .await
        .unwrap()
        .data;
    assert_eq!(active, vec![m.redacted()]);
    let listed = all_pages(
        1,
        |pg| store.list_partners(&viewer, PartnerFilter::default(), pg),
        |p: &Partner| p.id.as_uuid(),
    )
    .await;
    assert_eq!(listed, vec![u.redacted(), m.redacted()]);

    store.delete_partner(&admin, p.id).await.unwrap();
    expect_not_found(store.get_partner(&viewer, p.id).await);
    expect_not_found(store.delete_partner(&admin, p.id).await);
    expect_not_found(
        store
            .update_partner(&admin, p.id, PartnerPatch::default())
            .await,
    );
    let event = one_event(store, &admin, types::PARTNER_DELETED, p.id).await;
    assert_eq!(event.data["name"], "SunBuyer West");
    let left = store
        .list_partners(&viewer, PartnerFilter::default(), page(50))
        .await
        .unwrap()
        .data;
    assert_eq!(left, vec![m]);
    expect_not_found(store.get_partner(&viewer, PartnerId::new()).await);
}

contract_test!(partner_validation_names_fields);
async fn partner_validation_names_fields(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let ctx = &t.ctx;
    for (field, new) in [
        ("name", NewPartner::new("  ", webhook("https://b.example"))),
        (
            "timezone",
            NewPartner {
                timezone: "Mars/Olympus_Mons".into(),
                ..partner("P")
            },
        ),
        (
            "timezone",
            NewPartner {
                timezone: "EST; DROP TABLE".into(),
                ..partner("P")
            },
        ),
        (
            "price_minor",
            NewPartner {
                price_minor: -1,
                ..partner("P")
            },
        ),
        (
            "weight",
            NewPartner {
                weight: 0,
                ..partner("P")
            },
        ),
        (
            "daily_cap",
            NewPartner {
                daily_cap: Some(0),
                ..partner("P")
            },
        ),
        (
            "daily_cap",
            NewPartner {
                daily_cap: Some(200),
                monthly_cap: Some(100),
                ..partner("P")
            },
        ),
        (
            "regions[1]",
            NewPartner {
                regions: vec!["CA".into(), "US/CA".into()],
                ..partner("P")
            },
        ),
        (
            "verticals[0]",
            NewPartner {
                verticals: vec![" ".into()],
                ..partner("P")
            },
        ),
        (
            "delivery.url",
            NewPartner::new(
                "P",
                webhook(&format!("https://b.example/{}", "x".repeat(2100))),
            ),
        ),
    ] {
        expect_validation(store.create_partner(ctx, new).await, field);
    }
    // A malformed delivery URL never becomes a NewPartner: the API rejects it at parsing.
    for bad in [
        json!({"name": "P", "delivery": {"kind": "webhook", "url": "ftp://b.example"}}),
        json!({"name": "P", "delivery": {"kind": "webhook", "url": "not a url"}}),
        json!({"name": "P", "delivery": {"kind": "webhook", "url": "https://u:pw@b.example"}}),
        json!({"name": "P", "delivery": {"kind": "email", "address": "nobody"}}),
        json!({"name": "P", "delivery": {"kind": "sftp", "host": "b.example"}}),
        json!({"name": "P", "delivery": {"kind": "webhook", "url": "https://b.example"}, "colour": "red"}),
    ] {
        assert!(
            serde_json::from_value::<NewPartner>(bad.clone()).is_err(),
            "{bad} must be rejected"
        );
    }
    let ok: NewPartner = serde_json::from_value(json!({
        "name": "P", "delivery": {"kind": "webhook", "url": "https://b.example/hook"}
    }))
    .unwrap();
    let p = store.create_partner(ctx, ok).await.unwrap();
    // Updates are validated as a whole.
    let bad_tz = PartnerPatch {
        timezone: Some("Nowhere".into()),
        ..PartnerPatch::default()
    };
    expect_validation(store.update_partner(ctx, p.id, bad_tz).await, "timezone");
    let bad_caps = PartnerPatch {
        daily_cap: Patch::Set(10),
        monthly_cap: Patch::Set(5),
        ..PartnerPatch::default()
    };
    expect_validation(store.update_partner(ctx, p.id, bad_caps).await, "daily_cap");
    assert_eq!(store.get_partner(ctx, p.id).await.unwrap(), p);
    assert_eq!(
        events_about(store, ctx, types::PARTNER_UPDATED, p.id)
            .await
            .len(),
        0
    );
}

// ---------------------------------------------------------------------------------------------
// Deliveries

contract_test!(deliveries_statuses_and_events);
async fn deliveries_statuses_and_events(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let member = t.user(store, Role::Member).await;
    let viewer = t.user(store, Role::Viewer).await;
    let p = store.create_partner(&t.ctx, partner("P")).await.unwrap();
    let q = store
        .create_partner(&t.ctx, NewPartner::new("Q", webhook("https://q.example")))
        .await
        .unwrap();
    let l1 = capture(store, &member, lead("a@example.com")).await;
    let l2 = capture(store, &member, lead("b@example.com")).await;

    let d = store
        .record_delivery(&member, l1.id, p.id, Some(" solar-ca ".into()), 2500)
        .await
        .unwrap();
    assert_eq!((d.lead_id, d.partner_id, d.org_id), (l1.id, p.id, t.org.id));
    assert_eq!(d.status, DS::Pending);
    assert_eq!(d.rule.as_deref(), Some("solar-ca"));
    assert_eq!(
        (d.price_minor, d.currency.code(), d.attempts),
        (2500, "EUR", 0)
    );
    assert_eq!((d.response.clone(), d.return_reason), (None, None));
    assert_eq!(store.get_lead_delivery(&viewer, d.id).await.unwrap(), d);
    let event = one_event(store, &member, types::LEAD_ROUTED, d.id).await;
    assert_eq!(event.subject.kind, "lead_delivery");
    assert_eq!(event.data["lead_id"], json_id(l1.id));
    assert_eq!(event.data["partner_id"], json_id(p.id));
    // Routing leaves the lead's status to the router.
    assert_eq!(
        store.get_lead(&viewer, l1.id).await.unwrap().status,
        LeadStatus::New
    );

    // A lead goes to a partner once.
    expect_conflict(
        store.record_delivery(&member, l1.id, p.id, None, 100).await,
        "partner_id",
    );
    expect_validation(
        store.record_delivery(&member, l2.id, p.id, None, -5).await,
        "price_minor",
    );
    expect_validation(
        store
            .record_delivery(&member, l2.id, p.id, Some("r".repeat(201)), 5)
            .await,
        "rule",
    );
    expect_not_found(
        store
            .record_delivery(&member, LeadId::new(), p.id, None, 5)
            .await,
    );
    expect_not_found(
        store
            .record_delivery(&member, l2.id, PartnerId::new(), None, 5)
            .await,
    );

    // pending → failed → failed → delivered → accepted → returned.
    let failed = store
        .update_delivery(
            &member,
            d.id,
            DS::Failed,
            Some(json!({"http_status": 503})),
            None,
        )
        .await
        .unwrap();
    assert_eq!((failed.status, failed.attempts), (DS::Failed, 1));
    let failed = store
        .update_delivery(&member, d.id, DS::Failed, None, None)
        .await
        .unwrap();
    assert_eq!(failed.attempts, 2);
    assert_eq!(
        failed.response,
        Some(json!({"http_status": 503})),
        "kept when not given"
    );
    assert_eq!(
        events_about(store, &member, types::LEAD_DELIVERY_FAILED, d.id)
            .await
            .len(),
        2
    );
    let delivered = store
        .update_delivery(
            &member,
            d.id,
            DS::Delivered,
            Some(json!({"http_status": 200, "body": {"id": "b-1"}})),
            None,
        )
        .await
        .unwrap();
    assert_eq!((delivered.status, delivered.attempts), (DS::Delivered, 3));
    let event = one_event(store, &member, types::LEAD_DELIVERED, d.id).await;
    assert_eq!(event.data["response"]["body"]["id"], "b-1");
    expect_conflict(
        store
            .update_delivery(&member, d.id, DS::Pending, None, None)
            .await,
        "status",
    );
    expect_conflict(
        store
            .update_delivery(&member, d.id, DS::Failed, None, None)
            .await,
        "status",
    );
    let accepted = store
        .update_delivery(&member, d.id, DS::Accepted, None, None)
        .await
        .unwrap();
    assert_eq!((accepted.status, accepted.attempts), (DS::Accepted, 3));
    one_event(store, &member, types::LEAD_ACCEPTED, d.id).await;
    expect_validation(
        store
            .update_delivery(&member, d.id, DS::Returned, None, None)
            .await,
        "return_reason",
    );
    expect_validation(
        store
            .update_delivery(&member, d.id, DS::Accepted, None, Some(ReturnReason::Other))
            .await,
        "return_reason",
    );
    let returned = store
        .update_delivery(
            &member,
            d.id,
            DS::Returned,
            None,
            Some(ReturnReason::BadContactInfo),
        )
        .await
        .unwrap();
    assert_eq!(returned.return_reason, Some(ReturnReason::BadContactInfo));
    assert_eq!(
        store.get_lead_delivery(&viewer, d.id).await.unwrap(),
        returned
    );
    let event = one_event(store, &member, types::LEAD_RETURNED, d.id).await;
    assert_eq!(event.data["return_reason"], "bad_contact_info");
    expect_conflict(
        store
            .update_delivery(&member, d.id, DS::Accepted, None, None)
            .await,
        "status",
    );

    // pending → delivered → rejected (final).
    let d2 = store
        .record_delivery(&member, l1.id, q.id, None, 0)
        .await
        .unwrap();
    assert_eq!(d2.currency.code(), "USD", "the partner's currency");
    store
        .update_delivery(&member, d2.id, DS::Delivered, None, None)
        .await
        .unwrap();
    let rejected = store
        .update_delivery(
            &member,
            d2.id,
            DS::Rejected,
            Some(json!({"reason": "full"})),
            None,
        )
        .await
        .unwrap();
    assert_eq!(rejected.status, DS::Rejected);
    one_event(store, &member, types::LEAD_REJECTED, d2.id).await;
    expect_conflict(
        store
            .update_delivery(
                &member,
                d2.id,
                DS::Returned,
                None,
                Some(ReturnReason::Other),
            )
            .await,
        "status",
    );
    let d3 = store
        .record_delivery(&member, l2.id, p.id, None, 2500)
        .await
        .unwrap();
    expect_not_found(
        store
            .update_delivery(&member, LeadDeliveryId::new(), DS::Delivered, None, None)
            .await,
    );
    expect_forbidden(
        store
            .update_delivery(&viewer, d3.id, DS::Delivered, None, None)
            .await,
    );

    // Listings.
    let of_l1 = all_pages(
        1,
        |pg| store.list_lead_deliveries(&viewer, l1.id, pg),
        |d: &LeadDelivery| d.id.as_uuid(),
    )
    .await;
    assert_eq!(of_l1, vec![returned.clone(), rejected.clone()]);
    let of_p = store
        .list_partner_deliveries(&viewer, p.id, LeadDeliveryFilter::default(), page(50))
        .await
        .unwrap()
        .data;
    assert_eq!(of_p, vec![returned.clone(), d3.clone()]);
    let pending_of_p = store
        .list_partner_deliveries(
            &viewer,
            p.id,
            LeadDeliveryFilter {
                status: Some(DS::Pending),
                ..LeadDeliveryFilter::default()
            },
            page(50),
        )
        .await
        .unwrap()
        .data;
    assert_eq!(pending_of_p, vec![d3.clone()]);
    let recent = store
        .list_partner_deliveries(
            &viewer,
            p.id,
            LeadDeliveryFilter {
                created: later_than(d3.created_at),
                ..LeadDeliveryFilter::default()
            },
            page(50),
        )
        .await
        .unwrap()
        .data;
    assert_eq!(recent, vec![d3.clone()]);
    let via_q = all_leads(
        store,
        &viewer,
        LeadFilter {
            partner_id: Some(q.id),
            ..LeadFilter::default()
        },
    )
    .await;
    assert_eq!(via_q, vec![l1.id]);
    let via_p = all_leads(
        store,
        &viewer,
        LeadFilter {
            partner_id: Some(p.id),
            ..LeadFilter::default()
        },
    )
    .await;
    assert_eq!(via_p, vec![l1.id, l2.id]);
    expect_not_found(
        store
            .list_lead_deliveries(&viewer, LeadId::new(), page(50))
            .await,
    );

    // A deleted partner takes no new deliveries and reads as not found; history stays.
    store.delete_partner(&t.ctx, q.id).await.unwrap();
    let l3 = capture(store, &member, lead("c@example.com")).await;
    expect_not_found(store.record_delivery(&member, l3.id, q.id, None, 0).await);
    expect_not_found(
        store
            .list_partner_deliveries(&viewer, q.id, LeadDeliveryFilter::default(), page(50))
            .await,
    );
    assert_eq!(
        store
            .list_lead_deliveries(&viewer, l1.id, page(50))
            .await
            .unwrap()
            .data
            .len(),
        2
    );
}

contract_test!(partner_usage_excludes_returned);
async fn partner_usage_excludes_returned(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let ctx = &t.ctx;
    let p = store.create_partner(ctx, partner("P")).await.unwrap();
    let other = store
        .create_partner(ctx, NewPartner::new("O", webhook("https://o.example")))
        .await
        .unwrap();
    let before = now();
    assert_eq!(store.partner_usage(ctx, p.id, before).await.unwrap(), 0);

    let mut ds = Vec::new();
    for i in 0..4 {
        let l = capture(store, ctx, lead(&format!("u{i}@example.com"))).await;
        ds.push(
            store
                .record_delivery(ctx, l.id, p.id, None, 2500)
                .await
                .unwrap(),
        );
    }
    let l = capture(store, ctx, lead("o@example.com")).await;
    store
        .record_delivery(ctx, l.id, other.id, None, 0)
        .await
        .unwrap();

    // pending, failed, delivered and accepted all hold a slot; returned frees it.
    store
        .update_delivery(ctx, ds[1].id, DS::Failed, None, None)
        .await
        .unwrap();
    store
        .update_delivery(ctx, ds[2].id, DS::Delivered, None, None)
        .await
        .unwrap();
    store
        .update_delivery(ctx, ds[3].id, DS::Delivered, None, None)
        .await
        .unwrap();
    assert_eq!(store.partner_usage(ctx, p.id, before).await.unwrap(), 4);
    store
        .update_delivery(
            ctx,
            ds[3].id,
            DS::Returned,
            None,
            Some(ReturnReason::OutOfArea),
        )
        .await
        .unwrap();
    assert_eq!(store.partner_usage(ctx, p.id, before).await.unwrap(), 3);
    assert_eq!(store.partner_usage(ctx, other.id, before).await.unwrap(), 1);
    // Only deliveries recorded at or after `since` count.
    assert_eq!(
        store
            .partner_usage(ctx, p.id, ds[2].created_at)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .partner_usage(ctx, p.id, now() + Duration::seconds(1))
            .await
            .unwrap(),
        0
    );
    expect_not_found(store.partner_usage(ctx, PartnerId::new(), before).await);
}

// ---------------------------------------------------------------------------------------------
// Isolation and roles

contract_test!(leads_partners_deliveries_are_isolated);
async fn leads_partners_deliveries_are_isolated(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let b = Tenant::new(store, "B").await;
    let (actx, bctx) = (&a.ctx, &b.ctx);
    let pa = store.create_partner(actx, partner("PA")).await.unwrap();
    let pb = store.create_partner(bctx, partner("PB")).await.unwrap();
    let la = capture(store, actx, lead("same@example.com")).await;
    let da = store
        .record_delivery(actx, la.id, pa.id, None, 1)
        .await
        .unwrap();

    // The same email in B is B's own new lead with B's own person, never A's duplicate.
    let lb = capture(store, bctx, lead("same@example.com")).await;
    assert_eq!(lb.status, LeadStatus::New);
    assert_ne!(lb.person_id, la.person_id);
    assert_eq!(lb.org_id, b.org.id);

    expect_not_found(store.get_lead(bctx, la.id).await);
    expect_not_found(store.set_lead_status(bctx, la.id, LeadStatus::Routed).await);
    assert_eq!(
        all_leads(store, bctx, LeadFilter::default()).await,
        vec![lb.id]
    );
    let by_a_partner = LeadFilter {
        partner_id: Some(pa.id),
        ..LeadFilter::default()
    };
    assert!(all_leads(store, bctx, by_a_partner).await.is_empty());

    expect_not_found(store.get_partner(bctx, pa.id).await);
    expect_not_found(
        store
            .update_partner(
                bctx,
                pa.id,
                PartnerPatch {
                    active: Some(false),
                    ..PartnerPatch::default()
                },
            )
            .await,
    );
    expect_not_found(store.delete_partner(bctx, pa.id).await);
    let b_partners = store
        .list_partners(bctx, PartnerFilter::default(), page(50))
        .await
        .unwrap()
        .data;
    assert_eq!(b_partners, vec![pb.clone()]);

    expect_not_found(store.record_delivery(bctx, la.id, pb.id, None, 1).await);
    expect_not_found(store.record_delivery(bctx, lb.id, pa.id, None, 1).await);
    expect_not_found(store.get_lead_delivery(bctx, da.id).await);
    expect_not_found(
        store
            .update_delivery(bctx, da.id, DS::Delivered, None, None)
            .await,
    );
    expect_not_found(store.list_lead_deliveries(bctx, la.id, page(50)).await);
    expect_not_found(
        store
            .list_partner_deliveries(bctx, pa.id, LeadDeliveryFilter::default(), page(50))
            .await,
    );
    expect_not_found(
        store
            .partner_usage(bctx, pa.id, now() - Duration::days(1))
            .await,
    );

    // A is untouched.
    assert_eq!(store.get_lead(actx, la.id).await.unwrap(), la);
    assert_eq!(store.get_partner(actx, pa.id).await.unwrap(), pa);
    assert_eq!(store.get_lead_delivery(actx, da.id).await.unwrap(), da);
    assert_eq!(
        store
            .partner_usage(actx, pa.id, now() - Duration::days(1))
            .await
            .unwrap(),
        1
    );
}

contract_test!(lead_roles);
async fn lead_roles(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let viewer = t.user(store, Role::Viewer).await;
    let member = t.user(store, Role::Member).await;
    let admin = t.user(store, Role::Admin).await;
    let policy = DedupePolicy::default();

    // Members (and API keys with the member role) capture leads; viewers only read.
    expect_forbidden(
        store
            .capture_lead(&viewer, lead("v@example.com"), &policy, now())
            .await,
    );
    let l = capture(store, &member, lead("m@example.com")).await;
    let key = TenantContext::api_key(t.org.id, workos_core::ids::ApiKeyId::new(), Role::Member);
    capture(store, &key, lead("k@example.com")).await;
    assert_eq!(store.get_lead(&viewer, l.id).await.unwrap(), l);

    // Only admins (and owners) manage partners; everyone reads them.
    expect_forbidden(store.create_partner(&member, partner("P")).await);
    expect_forbidden(store.create_partner(&viewer, partner("P")).await);
    let p = store.create_partner(&admin, partner("P")).await.unwrap();
    store
        .create_partner(&t.ctx, partner("Owner's"))
        .await
        .unwrap();
    let pause = PartnerPatch {
        active: Some(false),
        ..PartnerPatch::default()
    };
    expect_forbidden(store.update_partner(&member, p.id, pause.clone()).await);
    expect_forbidden(store.delete_partner(&member, p.id).await);
    assert_eq!(
        store.get_partner(&viewer, p.id).await.unwrap(),
        p.redacted()
    );
    assert!(store.update_partner(&admin, p.id, pause).await.is_ok());

    // Members record and update deliveries; viewers read them.
    expect_forbidden(store.record_delivery(&viewer, l.id, p.id, None, 1).await);
    let d = store
        .record_delivery(&member, l.id, p.id, None, 1)
        .await
        .unwrap();
    store
        .update_delivery(&member, d.id, DS::Delivered, None, None)
        .await
        .unwrap();
    assert_eq!(
        store
            .list_lead_deliveries(&viewer, l.id, page(50))
            .await
            .unwrap()
            .data
            .len(),
        1
    );
    assert_eq!(
        store
            .partner_usage(&viewer, p.id, now() - Duration::days(1))
            .await
            .unwrap(),
        1
    );
    store.delete_partner(&admin, p.id).await.unwrap();
}
