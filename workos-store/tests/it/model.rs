//! A model-based property test: random interleavings of creates, updates, deletes, gets and
//! lists by three orgs, checked after every step against an in-memory model of what exists.
//! Every read and list must return exactly the caller's org's live rows; every access to
//! another org's row, or to a deleted one, must be `NotFound`.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use uuid::Uuid;
use workos_core::Error;
use workos_core::domain::{
    CompanyFilter, CompanyPatch, DealFilter, DealPatch, NewCompany, NewDeal, NewPerson, Patch,
    PersonFilter, PersonPatch,
};
use workos_core::ids::{CompanyId, DealId, PersonId};
use workos_core::repo::{CompanyRepo, DealRepo, PersonRepo};
use workos_store::SqlStore;

use crate::common::*;

const ORGS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Company,
    Person,
    Deal,
}

#[derive(Debug, Clone)]
enum Op {
    CreateCompany {
        org: usize,
        name: u8,
    },
    /// Emails come from a pool of four, so conflicts happen; `shout` upper-cases the address.
    CreatePerson {
        org: usize,
        email: u8,
        shout: bool,
    },
    /// The deal's company is any company created so far, of any org, live or not.
    CreateDeal {
        org: usize,
        company: Option<Index>,
    },
    /// Renames a company or deal; gives a person another email of the pool.
    Update {
        org: usize,
        target: Index,
        value: u8,
    },
    Delete {
        org: usize,
        target: Index,
    },
    Get {
        org: usize,
        target: Index,
    },
    List {
        org: usize,
        kind: Kind,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let org = 0..ORGS;
    let kind = prop_oneof![Just(Kind::Company), Just(Kind::Person), Just(Kind::Deal)];
    prop_oneof![
        (org.clone(), 0..8u8).prop_map(|(org, name)| Op::CreateCompany { org, name }),
        (org.clone(), 0..4u8, any::<bool>()).prop_map(|(org, email, shout)| Op::CreatePerson {
            org,
            email,
            shout
        }),
        (org.clone(), proptest::option::of(any::<Index>()))
            .prop_map(|(org, company)| Op::CreateDeal { org, company }),
        (org.clone(), any::<Index>(), 0..4u8).prop_map(|(org, target, value)| Op::Update {
            org,
            target,
            value
        }),
        (org.clone(), any::<Index>()).prop_map(|(org, target)| Op::Delete { org, target }),
        (org.clone(), any::<Index>()).prop_map(|(org, target)| Op::Get { org, target }),
        (org, kind).prop_map(|(org, kind)| Op::List { org, kind }),
    ]
}

/// What the model knows of one record ever created.
#[derive(Debug, Clone)]
struct Rec {
    kind: Kind,
    id: Uuid,
    org: usize,
    alive: bool,
    /// A company's or deal's name, a person's email.
    label: String,
    /// A deal's company.
    company: Option<Uuid>,
}

fn pool_email(n: u8) -> String {
    format!("p{n}@x.com")
}

struct Model {
    records: Vec<Rec>,
}

impl Model {
    fn email_taken(&self, org: usize, address: &str, except: Option<Uuid>) -> bool {
        self.records.iter().any(|r| {
            r.kind == Kind::Person
                && r.alive
                && r.org == org
                && r.label == address
                && Some(r.id) != except
        })
    }

    fn visible(&self, org: usize, kind: Kind) -> Vec<&Rec> {
        let mut live: Vec<&Rec> = self
            .records
            .iter()
            .filter(|r| r.kind == kind && r.org == org && r.alive)
            .collect();
        live.sort_by_key(|r| r.id);
        live
    }
}

fn is_not_found<T>(r: &workos_core::Result<T>) -> bool {
    matches!(r, Err(Error::NotFound { .. }))
}

fn is_conflict<T>(r: &workos_core::Result<T>, on: &str) -> bool {
    matches!(r, Err(Error::Conflict { field, .. }) if field == on)
}

fn is_invalid<T>(r: &workos_core::Result<T>, on: &str) -> bool {
    matches!(r, Err(Error::Validation(v)) if v.errors.iter().any(|e| e.field == on))
}

/// One org's live rows of `kind`, as (id, org, label, company), in list order.
async fn list(
    store: &SqlStore,
    t: &Tenant,
    kind: Kind,
) -> Vec<(Uuid, workos_core::ids::OrgId, String, Option<Uuid>)> {
    let ctx = &t.ctx;
    match kind {
        Kind::Company => all_pages(
            3,
            |p| store.list_companies(ctx, CompanyFilter::default(), p),
            |c: &workos_core::domain::Company| c.id.as_uuid(),
        )
        .await
        .into_iter()
        .map(|c| (c.id.as_uuid(), c.org_id, c.name, None))
        .collect(),
        Kind::Person => all_pages(
            3,
            |p| store.list_people(ctx, PersonFilter::default(), p),
            |p: &workos_core::domain::Person| p.id.as_uuid(),
        )
        .await
        .into_iter()
        .map(|p| {
            let email = p.email.map(|e| e.to_string()).unwrap_or_default();
            (p.id.as_uuid(), p.org_id, email, None)
        })
        .collect(),
        Kind::Deal => all_pages(
            3,
            |p| store.list_deals(ctx, DealFilter::default(), p),
            |d: &workos_core::domain::Deal| d.id.as_uuid(),
        )
        .await
        .into_iter()
        .map(|d| {
            (
                d.id.as_uuid(),
                d.org_id,
                d.name,
                d.company_id.map(|c| c.as_uuid()),
            )
        })
        .collect(),
    }
}

async fn check_list(
    store: &SqlStore,
    tenants: &[Tenant],
    model: &Model,
    org: usize,
    kind: Kind,
) -> Result<(), TestCaseError> {
    let got = list(store, &tenants[org], kind).await;
    let want: Vec<_> = model
        .visible(org, kind)
        .into_iter()
        .map(|r| (r.id, tenants[org].org.id, r.label.clone(), r.company))
        .collect();
    prop_assert_eq!(got, want, "list of {:?} for org {}", kind, org);
    Ok(())
}

/// Runs one sequence of operations on three fresh orgs.
async fn run_case(store: &SqlStore, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut tenants = Vec::new();
    for i in 0..ORGS {
        tenants.push(Tenant::new(store, &format!("Org {i}")).await);
    }
    let mut model = Model {
        records: Vec::new(),
    };

    for op in ops {
        match op {
            Op::CreateCompany { org, name } => {
                let name = format!("c{name}");
                let new = NewCompany {
                    name: name.clone(),
                    domain: None,
                };
                let c = store.create_company(&tenants[org].ctx, new).await;
                let c = c.map_err(|e| TestCaseError::fail(format!("create company: {e}")))?;
                prop_assert_eq!(c.org_id, tenants[org].org.id);
                model.records.push(Rec {
                    kind: Kind::Company,
                    id: c.id.as_uuid(),
                    org,
                    alive: true,
                    label: name,
                    company: None,
                });
            }
            Op::CreatePerson {
                org,
                email: n,
                shout,
            } => {
                let address = pool_email(n);
                let written = if shout {
                    address.to_uppercase()
                } else {
                    address.clone()
                };
                let new = NewPerson {
                    email: Some(email(&written)),
                    ..NewPerson::default()
                };
                let r = store.create_person(&tenants[org].ctx, new).await;
                if model.email_taken(org, &address, None) {
                    prop_assert!(is_conflict(&r, "email"), "expected a conflict: {:?}", r);
                } else {
                    let p = r.map_err(|e| TestCaseError::fail(format!("create person: {e}")))?;
                    prop_assert_eq!(p.org_id, tenants[org].org.id);
                    model.records.push(Rec {
                        kind: Kind::Person,
                        id: p.id.as_uuid(),
                        org,
                        alive: true,
                        label: address,
                        company: None,
                    });
                }
            }
            Op::CreateDeal { org, company } => {
                let companies: Vec<&Rec> = model
                    .records
                    .iter()
                    .filter(|r| r.kind == Kind::Company)
                    .collect();
                let company = company
                    .filter(|_| !companies.is_empty())
                    .map(|i| companies[i.index(companies.len())].clone());
                let new = NewDeal {
                    company_id: company.as_ref().map(|c| CompanyId::from_uuid(c.id)),
                    ..NewDeal::named("d")
                };
                let r = store.create_deal(&tenants[org].ctx, new).await;
                match company {
                    Some(c) if !(c.alive && c.org == org) => {
                        prop_assert!(is_invalid(&r, "company_id"), "expected invalid: {:?}", r);
                    }
                    _ => {
                        let d = r.map_err(|e| TestCaseError::fail(format!("create deal: {e}")))?;
                        model.records.push(Rec {
                            kind: Kind::Deal,
                            id: d.id.as_uuid(),
                            org,
                            alive: true,
                            label: "d".into(),
                            company: company.map(|c| c.id),
                        });
                    }
                }
            }
            Op::Update { org, target, value } => {
                if model.records.is_empty() {
                    continue;
                }
                let i = target.index(model.records.len());
                let rec = model.records[i].clone();
                let reachable = rec.alive && rec.org == org;
                let ctx = &tenants[org].ctx;
                match rec.kind {
                    Kind::Company => {
                        let name = format!("c{value}");
                        let patch = CompanyPatch {
                            name: Some(name.clone()),
                            ..CompanyPatch::default()
                        };
                        let r = store
                            .update_company(ctx, CompanyId::from_uuid(rec.id), patch)
                            .await;
                        if reachable {
                            let c = r.map_err(|e| TestCaseError::fail(format!("update: {e}")))?;
                            prop_assert_eq!(&c.name, &name);
                            model.records[i].label = name;
                        } else {
                            prop_assert!(is_not_found(&r), "expected not found: {:?}", r);
                        }
                    }
                    Kind::Person => {
                        let address = pool_email(value);
                        let patch = PersonPatch {
                            email: Patch::Set(email(&address)),
                            ..PersonPatch::default()
                        };
                        let r = store
                            .update_person(ctx, PersonId::from_uuid(rec.id), patch)
                            .await;
                        if !reachable {
                            prop_assert!(is_not_found(&r), "expected not found: {:?}", r);
                        } else if model.email_taken(org, &address, Some(rec.id)) {
                            prop_assert!(is_conflict(&r, "email"), "expected a conflict: {:?}", r);
                        } else {
                            let p = r.map_err(|e| TestCaseError::fail(format!("update: {e}")))?;
                            prop_assert_eq!(p.email.map(|e| e.to_string()), Some(address.clone()));
                            model.records[i].label = address;
                        }
                    }
                    Kind::Deal => {
                        let name = format!("d{value}");
                        let patch = DealPatch {
                            name: Some(name.clone()),
                            ..DealPatch::default()
                        };
                        let r = store
                            .update_deal(ctx, DealId::from_uuid(rec.id), patch)
                            .await;
                        if reachable {
                            let d = r.map_err(|e| TestCaseError::fail(format!("update: {e}")))?;
                            prop_assert_eq!(&d.name, &name);
                            model.records[i].label = name;
                        } else {
                            prop_assert!(is_not_found(&r), "expected not found: {:?}", r);
                        }
                    }
                }
            }
            Op::Delete { org, target } => {
                if model.records.is_empty() {
                    continue;
                }
                let i = target.index(model.records.len());
                let rec = &model.records[i];
                let ctx = &tenants[org].ctx;
                let r = match rec.kind {
                    Kind::Company => {
                        store
                            .delete_company(ctx, CompanyId::from_uuid(rec.id))
                            .await
                    }
                    Kind::Person => store.delete_person(ctx, PersonId::from_uuid(rec.id)).await,
                    Kind::Deal => store.delete_deal(ctx, DealId::from_uuid(rec.id)).await,
                };
                if rec.alive && rec.org == org {
                    prop_assert!(r.is_ok(), "delete failed: {:?}", r);
                    model.records[i].alive = false;
                } else {
                    prop_assert!(is_not_found(&r), "expected not found: {:?}", r);
                }
            }
            Op::Get { org, target } => {
                if model.records.is_empty() {
                    continue;
                }
                let rec = &model.records[target.index(model.records.len())];
                let ctx = &tenants[org].ctx;
                let reachable = rec.alive && rec.org == org;
                let got = match rec.kind {
                    Kind::Company => store
                        .get_company(ctx, CompanyId::from_uuid(rec.id))
                        .await
                        .map(|c| (c.org_id, c.name, None)),
                    Kind::Person => store
                        .get_person(ctx, PersonId::from_uuid(rec.id))
                        .await
                        .map(|p| {
                            (
                                p.org_id,
                                p.email.map(|e| e.to_string()).unwrap_or_default(),
                                None,
                            )
                        }),
                    Kind::Deal => store
                        .get_deal(ctx, DealId::from_uuid(rec.id))
                        .await
                        .map(|d| (d.org_id, d.name, d.company_id.map(|c| c.as_uuid()))),
                };
                if reachable {
                    let got = got.map_err(|e| TestCaseError::fail(format!("get: {e}")))?;
                    prop_assert_eq!(got, (tenants[org].org.id, rec.label.clone(), rec.company));
                } else {
                    prop_assert!(is_not_found(&got), "expected not found: {:?}", got);
                }
            }
            Op::List { org, kind } => check_list(store, &tenants, &model, org, kind).await?,
        }
    }

    // Finally, every org sees exactly its own live rows of every kind.
    for org in 0..ORGS {
        for kind in [Kind::Company, Kind::Person, Kind::Deal] {
            check_list(store, &tenants, &model, org, kind).await?;
        }
    }
    Ok(())
}

fn check_model(rt: &tokio::runtime::Runtime, store: &SqlStore, cases: u32) {
    let config = Config {
        cases,
        // Failures are reported (with the shrunk sequence), not written into the source tree.
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&vec(op(), 1..40), |ops| rt.block_on(run_case(store, ops)));
    if let Err(e) = result {
        panic!("{e}");
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

#[test]
fn model_sqlite() {
    let rt = runtime();
    let db = rt.block_on(TestDb::sqlite());
    check_model(&rt, &db.store, 32);
    rt.block_on(async move { drop(db) });
}

#[test]
fn model_postgres() {
    let rt = runtime();
    let Some(db) = rt.block_on(TestDb::postgres()) else {
        return;
    };
    check_model(&rt, &db.store, 8);
    rt.block_on(async move { drop(db) });
}
