//! Search across people, companies and deals: what matches (names, emails, phones, domains,
//! prefixes, typos), the order, and that only the org's live records appear.

use uuid::Uuid;
use workos_core::domain::{
    NewCompany, NewDeal, NewPerson, Patch, PersonPatch, SearchKind, SearchQuery, SearchResults,
};
use workos_core::ids::{CompanyId, DealId, PersonId};
use workos_core::repo::{CompanyRepo, DealRepo, PersonRepo, SearchRepo};
use workos_core::tenant::{Role, TenantContext};
use workos_store::SqlStore;

use crate::common::*;

async fn search(store: &SqlStore, ctx: &TenantContext, q: &str) -> SearchResults {
    store
        .search(ctx, SearchQuery::new(q).unwrap())
        .await
        .unwrap_or_else(|e| panic!("search {q:?}: {e}"))
}

/// The `(type, id)` of each result, in order.
async fn found(store: &SqlStore, ctx: &TenantContext, q: &str) -> Vec<(SearchKind, Uuid)> {
    search(store, ctx, q)
        .await
        .data
        .iter()
        .map(|h| (h.kind, h.id))
        .collect()
}

async fn person(
    store: &SqlStore,
    ctx: &TenantContext,
    first: &str,
    last: &str,
    mail: Option<&str>,
    phone: Option<&str>,
) -> Uuid {
    let new = NewPerson {
        first_name: Some(first.into()),
        last_name: Some(last.into()),
        email: mail.map(email),
        phone: phone.map(|p| workos_core::domain::E164::parse(p).unwrap()),
        ..NewPerson::default()
    };
    store.create_person(ctx, new).await.unwrap().id.as_uuid()
}

async fn company(store: &SqlStore, ctx: &TenantContext, name: &str, domain: &str) -> Uuid {
    let new = NewCompany {
        name: name.into(),
        domain: Some(domain.into()),
    };
    store.create_company(ctx, new).await.unwrap().id.as_uuid()
}

async fn deal(store: &SqlStore, ctx: &TenantContext, name: &str) -> Uuid {
    store
        .create_deal(ctx, NewDeal::named(name))
        .await
        .unwrap()
        .id
        .as_uuid()
}

async fn names_prefixes_typos_and_ranking(store: &SqlStore) {
    let t = Tenant::new(store, "Search").await;
    let ctx = &t.ctx;
    let john = person(store, ctx, "John", "Smith", Some("john@example.org"), None).await;
    let johnny = person(store, ctx, "Johnny", "Smithers", None, None).await;
    let jane = person(store, ctx, "Jane", "Doe", None, None).await;
    let acme = company(store, ctx, "Acme", "acme.io").await;
    let acme_deal = deal(store, ctx, "Acme renewal 2025").await;

    // Exact before prefix before fuzzy.
    let r = found(store, ctx, "john").await;
    assert_eq!(r[0], (SearchKind::Person, john), "{r:?}");
    assert!(r.contains(&(SearchKind::Person, johnny)));
    assert!(!r.iter().any(|h| h.1 == jane), "{r:?}");
    let r = found(store, ctx, "jon").await;
    assert!(
        r.contains(&(SearchKind::Person, john)),
        "jon finds John: {r:?}"
    );
    let r = found(store, ctx, "jhon smith").await;
    assert_eq!(
        r[0],
        (SearchKind::Person, john),
        "jhon smith finds John Smith: {r:?}"
    );
    assert!(
        r.contains(&(SearchKind::Person, johnny)),
        "Smithers is a prefix: {r:?}"
    );
    let r = found(store, ctx, "john smithers").await;
    assert_eq!(r[0], (SearchKind::Person, johnny), "{r:?}");

    // "acm" is a prefix of the company and of the deal's first word; the company's name is
    // shorter and both tie on score, so the title orders them.
    let r = found(store, ctx, "acm").await;
    assert_eq!(
        r,
        vec![(SearchKind::Company, acme), (SearchKind::Deal, acme_deal)]
    );
    let hits = search(store, ctx, "acme").await.data;
    assert_eq!(hits[0].title, "Acme");
    assert_eq!(hits[0].subtitle.as_deref(), Some("acme.io"));
    assert!((hits[0].score - 1.0).abs() < f64::EPSILON);
    assert!(
        hits.windows(2).all(|w| w[0].score >= w[1].score),
        "best first"
    );
    let r = found(store, ctx, "acmr renewal").await;
    assert_eq!(r, vec![(SearchKind::Deal, acme_deal)], "a typo in one word");
    // A word that matches nothing excludes the record.
    assert!(found(store, ctx, "john zebra").await.is_empty());

    // Types and limit.
    let q = SearchQuery::new("acme").unwrap().kinds([SearchKind::Deal]);
    let r = store.search(ctx, q).await.unwrap();
    assert_eq!(r.data.len(), 1);
    assert_eq!(r.data[0].kind, SearchKind::Deal);
    let q = SearchQuery::new("j").unwrap().limit(1).unwrap();
    assert_eq!(store.search(ctx, q).await.unwrap().data.len(), 1);
    let r = found(store, ctx, "j").await;
    assert!(
        r.contains(&(SearchKind::Person, jane)),
        "one letter is a prefix: {r:?}"
    );
}
contract_test!(names_prefixes_typos_and_ranking);

async fn emails_phones_and_domains(store: &SqlStore) {
    let t = Tenant::new(store, "Contacts").await;
    let ctx = &t.ctx;
    let ann = person(
        store,
        ctx,
        "Ann",
        "Lee",
        Some("ann.lee@globex.com"),
        Some("+14155550100"),
    )
    .await;
    let bob = person(store, ctx, "Bob", "Ray", None, Some("+442071838750")).await;
    let globex = company(store, ctx, "Globex Corporation", "globex.com").await;

    for q in ["555 0100", "(415) 555-0100", "+1 415 555 0100", "5550100"] {
        assert_eq!(
            found(store, ctx, q).await,
            vec![(SearchKind::Person, ann)],
            "{q}"
        );
    }
    assert_eq!(
        found(store, ctx, "020 7183").await,
        Vec::new(),
        "the leading 0 is not stored"
    );
    assert_eq!(
        found(store, ctx, "20 7183 8750").await,
        vec![(SearchKind::Person, bob)]
    );
    let hits = search(store, ctx, "+14155550100").await.data;
    assert!(
        (hits[0].score - 1.0).abs() < f64::EPSILON,
        "the same digits: {hits:?}"
    );

    // The domain finds the company first (a name's word weighs more than an email's), then
    // the person by email.
    let r = found(store, ctx, "globex").await;
    assert_eq!(
        r,
        vec![(SearchKind::Company, globex), (SearchKind::Person, ann)]
    );
    assert_eq!(
        found(store, ctx, "ann.lee@globex").await[0],
        (SearchKind::Person, ann)
    );
    let hits = search(store, ctx, "lee").await.data;
    assert_eq!(hits[0].title, "Ann Lee");
    assert_eq!(hits[0].subtitle.as_deref(), Some("ann.lee@globex.com"));

    // Additional emails and phones, after an update, are found; the replaced ones are not.
    let patch = PersonPatch {
        email: Patch::Clear,
        additional_emails: Some(vec![email("annie@initech.com")]),
        additional_phones: Some(vec![phone(7)]),
        ..PersonPatch::default()
    };
    store
        .update_person(ctx, PersonId::from_uuid(ann), patch)
        .await
        .unwrap();
    assert_eq!(
        found(store, ctx, "initech").await,
        vec![(SearchKind::Person, ann)]
    );
    assert!(found(store, ctx, "globex").await.iter().all(|h| h.1 != ann));
    let digits: String = phone(7).as_ref().chars().skip(2).collect();
    assert_eq!(
        found(store, ctx, &digits).await,
        vec![(SearchKind::Person, ann)]
    );
}
contract_test!(emails_phones_and_domains);

async fn only_the_orgs_live_records(store: &SqlStore) {
    let ours = Tenant::new(store, "Ours").await;
    let theirs = Tenant::new(store, "Theirs").await;
    let mine = person(store, &ours.ctx, "Zora", "Quill", None, None).await;
    let other = person(
        store,
        &theirs.ctx,
        "Zora",
        "Quill",
        None,
        Some("+14155550123"),
    )
    .await;
    company(store, &theirs.ctx, "Zora Quill Ltd", "zoraquill.com").await;

    // Another org's exact match never appears.
    assert_eq!(
        found(store, &ours.ctx, "zora quill").await,
        vec![(SearchKind::Person, mine)]
    );
    assert!(found(store, &ours.ctx, "5550123").await.is_empty());
    assert!(found(store, &ours.ctx, "zoraquill").await.is_empty());
    assert_eq!(
        found(store, &theirs.ctx, "zora quill").await[0],
        (SearchKind::Person, other)
    );

    // A viewer searches; deleted records are gone; a renamed record is found by its new name only.
    let viewer = ours.user(store, Role::Viewer).await;
    assert_eq!(
        found(store, &viewer, "zora").await,
        vec![(SearchKind::Person, mine)]
    );
    let gone = deal(store, &ours.ctx, "Zora expansion").await;
    assert_eq!(
        found(store, &viewer, "expansion").await,
        vec![(SearchKind::Deal, gone)]
    );
    store
        .delete_deal(&ours.ctx, DealId::from_uuid(gone))
        .await
        .unwrap();
    store
        .delete_person(&ours.ctx, PersonId::from_uuid(mine))
        .await
        .unwrap();
    assert!(found(store, &viewer, "zora").await.is_empty());
    assert!(found(store, &viewer, "expansion").await.is_empty());

    let renamed = company(store, &ours.ctx, "Initrode", "initrode.com").await;
    let patch = workos_core::domain::CompanyPatch {
        name: Some("Vandelay Industries".into()),
        domain: Patch::Clear,
    };
    store
        .update_company(&ours.ctx, CompanyId::from_uuid(renamed), patch)
        .await
        .unwrap();
    assert!(found(store, &viewer, "initrode").await.is_empty());
    assert_eq!(
        found(store, &viewer, "vandelay").await,
        vec![(SearchKind::Company, renamed)]
    );
}
contract_test!(only_the_orgs_live_records);

/// More matches than the limit: the best come first.
async fn many_records_rank_within_the_candidate_bound(store: &SqlStore) {
    let t = Tenant::new(store, "Many").await;
    let ctx = &t.ctx;
    for i in 0..30 {
        person(store, ctx, &format!("Smith{i:02}"), "Jones", None, None).await;
    }
    let exact = person(store, ctx, "Smith", "Jones", None, None).await;
    let r = found(store, ctx, "smith").await;
    assert_eq!(r.len(), 20, "the default limit");
    assert_eq!(r[0], (SearchKind::Person, exact));
    let q = SearchQuery::new("smith jones").unwrap().limit(50).unwrap();
    assert_eq!(store.search(ctx, q).await.unwrap().data.len(), 31);
}
contract_test!(many_records_rank_within_the_candidate_bound);
