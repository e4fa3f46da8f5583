//! What the parity tests of the Postgres paths share. Each runs one operation twice on one
//! Postgres database, in two orgs alike: through a store whose transactions take every
//! Postgres path ([`Paths::OneNode`](crate::db::Paths), as on one node) and through its twin
//! that takes the portable statements only (as on SQLite), and then compares what each org
//! stored, table by table.
//!
//! Rows are compared as `to_jsonb` of the row. Ids differ between the two runs, so each id is
//! named by where it first appears (the first id seen is `id#0` in both snapshots, wherever it
//! appears again): rows must match and so must every link between them. Times differ too, and
//! are masked.

use std::collections::HashMap;

use serde_json::Value;
use workos_core::domain::NewOrg;
use workos_core::ids::UserId;
use workos_core::repo::Directory;
use workos_core::tenant::{Access, Role, TenantContext};
use workos_tests::db::TestDatabase;

use crate::db::args;
use crate::{Backend, SqlStore};

/// Two stores on one Postgres database, each with an org of its own, named alike.
pub(crate) struct Twins {
    /// Takes every Postgres path.
    pub(crate) fast: SqlStore,
    /// Takes the portable statements only.
    pub(crate) portable: SqlStore,
    /// The owner of `fast`'s org.
    pub(crate) fast_ctx: TenantContext,
    /// The owner of `portable`'s org.
    pub(crate) portable_ctx: TenantContext,
    /// Dropped last: the stores' connections go first.
    _db: TestDatabase,
}

impl Twins {
    /// A fresh database, migrated, with an org made through each store; `None` when Postgres
    /// tests are skipped.
    pub(crate) async fn new(prefix: &str) -> Option<Self> {
        let db = TestDatabase::postgres(prefix).await?;
        let fast = SqlStore::connect(db.url()).await.expect("connect");
        fast.migrate().await.expect("migrate");
        let mut portable = fast.clone();
        match &mut portable.backend {
            Backend::Postgres(b) => b.portable = true,
            #[allow(unreachable_patterns)]
            _ => unreachable!("a Postgres store"),
        }
        let fast_ctx = org(&fast).await;
        let portable_ctx = org(&portable).await;
        // Each run takes the paths it is meant to.
        let tx = fast.tenant_tx(&fast_ctx, Access::Read).await.expect("tx");
        assert!(tx.fast_path(), "the fast store takes the fast paths");
        let mut tx = portable
            .tenant_tx(&portable_ctx, Access::Read)
            .await
            .expect("tx");
        assert!(
            !tx.fast_path() && tx.pg_path().is_none(),
            "the portable twin takes none"
        );
        drop(tx);
        Some(Self {
            fast,
            portable,
            fast_ctx,
            portable_ctx,
            _db: db,
        })
    }

    /// Fails unless both orgs stored the same rows in each of `tables` (every table has an
    /// `org_id`); `domain_events` is compared in stream order, the others as sets of rows.
    pub(crate) async fn assert_same(&self, tables: &[&str]) {
        let fast = snapshot(&self.fast, &self.fast_ctx, tables).await;
        let portable = snapshot(&self.portable, &self.portable_ctx, tables).await;
        for ((table, fast), (_, portable)) in fast.iter().zip(&portable) {
            assert!(!fast.is_empty(), "{table}: nothing stored to compare");
            assert_eq!(
                fast, portable,
                "{table}: the fast path (left) and the portable path (right) stored different rows"
            );
        }
    }
}

/// A new org made through `store`, and its owner's context.
async fn org(store: &SqlStore) -> TenantContext {
    let owner = UserId::new();
    let org = store
        .create_org(
            NewOrg {
                name: "Parity".into(),
            },
            Some(owner),
        )
        .await
        .expect("create org");
    TenantContext::user(org.id, owner, Role::Owner)
}

/// The rows of `ctx`'s org in each of `tables`, with ids named in order of appearance and
/// times masked.
async fn snapshot(
    store: &SqlStore,
    ctx: &TenantContext,
    tables: &[&str],
) -> Vec<(String, Vec<Value>)> {
    let mut tx = store.tenant_tx(ctx, Access::Read).await.expect("tx");
    let mut names = HashMap::new();
    let mut out = Vec::new();
    for table in tables {
        let order = if *table == "domain_events" {
            "pos"
        } else {
            "1"
        };
        let rows: Vec<(Value,)> = tx
            .fetch_all(
                &format!("SELECT to_jsonb(t) FROM {table} t WHERE org_id = $1 ORDER BY {order}"),
                args![ctx.org_id()],
            )
            .await
            .expect("rows");
        let mut rows: Vec<Value> = rows.into_iter().map(|(r,)| r).collect();
        if *table != "domain_events" {
            // A set: in the order of the rows with every id and time masked.
            rows.sort_by_cached_key(|r| {
                let mut masked = r.clone();
                canonical(&mut masked, &mut None);
                masked.to_string()
            });
        }
        for row in &mut rows {
            canonical(row, &mut Some(&mut names));
        }
        out.push(((*table).to_owned(), rows));
    }
    out
}

/// `value` with every time masked and every id named by `names` (in order of first
/// appearance), or masked without them.
fn canonical(value: &mut Value, names: &mut Option<&mut HashMap<String, String>>) {
    match value {
        Value::String(s) => *s = canonical_text(s, names),
        Value::Array(items) => items.iter_mut().for_each(|v| canonical(v, names)),
        Value::Object(fields) => fields.values_mut().for_each(|v| canonical(v, names)),
        _ => {}
    }
}

fn canonical_text(s: &str, names: &mut Option<&mut HashMap<String, String>>) -> String {
    if chrono::DateTime::parse_from_rfc3339(s).is_ok() {
        return "<time>".to_owned();
    }
    // Ids anywhere in the text (`user:<uuid>`, lists).
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let id = s
            .get(i..i + 36)
            .filter(|t| t.as_bytes()[8] == b'-' && uuid::Uuid::try_parse(t).is_ok());
        if let Some(id) = id {
            match names {
                Some(names) => {
                    let n = names.len();
                    out.push_str(names.entry(id.to_owned()).or_insert(format!("id#{n}")));
                }
                None => out.push_str("<id>"),
            }
            i += 36;
        } else if let Some(c) = s[i..].chars().next() {
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

#[test]
fn ids_are_named_by_first_appearance_and_times_masked() {
    let a = "0190b5a0-0000-7000-8000-000000000001";
    let b = "0190b5a0-0000-7000-8000-000000000002";
    let mut names = HashMap::new();
    let mut v = serde_json::json!({
        "x": [b, format!("user:{a}"), b],
        "t": "2026-12-07T17:25:54.123456+00:00",
        "n": 3,
    });
    canonical(&mut v, &mut Some(&mut names));
    assert_eq!(
        v,
        serde_json::json!({"x": ["id#0", "user:id#1", "id#0"], "t": "<time>", "n": 3})
    );
    let mut v = serde_json::json!([a]);
    canonical(&mut v, &mut None);
    assert_eq!(v, serde_json::json!(["<id>"]));
}
