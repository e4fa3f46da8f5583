//! Postgres Row Level Security, proven with raw SQL on the store's pool: whatever the queries
//! say, the `workos_app` role sees and writes only the rows of the org set for the transaction;
//! a user actor's transaction begins only when the user is a member of it. Postgres only.

use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;
use workos_core::domain::{NewPerson, PersonFilter};
use workos_core::ids::{OrgId, UserId};
use workos_core::repo::{CompanyRepo, PersonRepo};
use workos_core::tenant::{Role, TenantContext};
use workos_store::SqlStore;

use crate::common::*;

/// Two orgs: A with three people, B with two.
async fn two_orgs(store: &SqlStore) -> (Tenant, Tenant) {
    let a = Tenant::new(store, "A").await;
    let b = Tenant::new(store, "B").await;
    for (t, n) in [(&a, 3), (&b, 2)] {
        for i in 0..n {
            let new = NewPerson {
                first_name: Some(format!("P{i}")),
                email: Some(email(&format!("p{i}@x.com"))),
                ..NewPerson::default()
            };
            store.create_person(&t.ctx, new).await.unwrap();
        }
        let company = workos_core::domain::NewCompany {
            name: "Co".into(),
            domain: None,
        };
        store.create_company(&t.ctx, company).await.unwrap();
    }
    (a, b)
}

/// A transaction as the application role, with the tenant settings the store would make.
async fn app_tx(
    pool: &PgPool,
    org: Option<OrgId>,
    user: Option<UserId>,
) -> Transaction<'static, Postgres> {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SET LOCAL ROLE workos_app")
        .execute(&mut *tx)
        .await
        .unwrap();
    for (name, value) in [
        ("workos.org_id", org.map(|o| o.to_string())),
        ("workos.user_id", user.map(|u| u.to_string())),
    ] {
        if let Some(value) = value {
            sqlx::query("SELECT set_config($1, $2, true)")
                .bind(name)
                .bind(value)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
    }
    tx
}

async fn count(tx: &mut Transaction<'static, Postgres>, sql: &str, org: Option<OrgId>) -> i64 {
    let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql));
    if let Some(org) = org {
        q = q.bind(org.as_uuid());
    }
    q.fetch_one(&mut **tx).await.unwrap()
}

/// The tenant tables whose rows the two orgs above hold.
const TENANT_TABLES: &[&str] = &[
    "org_members",
    "companies",
    "people",
    "person_contacts",
    "domain_events",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rls_confines_the_app_role_to_the_transactions_org() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let (a, b) = two_orgs(&db.store).await;
    let pool = db.store.pg_pool().expect("a Postgres store has a pool");

    // Control: as A, A's rows are there.
    let mut tx = app_tx(pool, Some(a.org.id), None).await;
    assert_eq!(count(&mut tx, "SELECT count(*) FROM people", None).await, 3);
    tx.rollback().await.unwrap();

    let mut tx = app_tx(pool, Some(b.org.id), None).await;
    let theirs = "SELECT count(*) FROM people WHERE org_id = $1";
    assert_eq!(
        count(&mut tx, theirs, Some(a.org.id)).await,
        0,
        "A's people are invisible to B"
    );
    assert_eq!(
        count(&mut tx, "SELECT count(*) FROM people", None).await,
        2,
        "only B's"
    );
    for table in TENANT_TABLES {
        let sql = format!("SELECT count(*) FROM {table} WHERE org_id = $1");
        assert_eq!(count(&mut tx, &sql, Some(a.org.id)).await, 0, "{table}");
        assert!(
            count(&mut tx, &sql, Some(b.org.id)).await > 0,
            "{table}: B sees its own"
        );
    }
    assert_eq!(count(&mut tx, "SELECT count(*) FROM orgs", None).await, 1);
    // Updates and deletes of A's rows touch nothing.
    let updated = sqlx::query("UPDATE people SET first_name = 'Hijacked' WHERE org_id = $1")
        .bind(a.org.id.as_uuid())
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(updated.rows_affected(), 0);
    let deleted = sqlx::query("DELETE FROM companies WHERE org_id = $1")
        .bind(a.org.id.as_uuid())
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(deleted.rows_affected(), 0);
    // Inserting a row for A is refused outright.
    let err = sqlx::query(
        "INSERT INTO companies (id, org_id, name, created_at, updated_at) VALUES ($1, $2, 'Evil', now(), now())",
    )
    .bind(Uuid::now_v7())
    .bind(a.org.id.as_uuid())
    .execute(&mut *tx)
    .await
    .unwrap_err();
    assert_rls_violation(&err);
    tx.rollback().await.unwrap();

    let people = db
        .store
        .list_people(&a.ctx, PersonFilter::default(), page(50))
        .await
        .unwrap();
    assert_eq!(people.data.len(), 3);
    assert!(
        people
            .data
            .iter()
            .all(|p| p.first_name.as_deref() != Some("Hijacked"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rls_without_an_org_sees_nothing() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let (a, _b) = two_orgs(&db.store).await;
    let pool = db.store.pg_pool().expect("a Postgres store has a pool");

    let mut tx = app_tx(pool, None, None).await;
    for table in TENANT_TABLES
        .iter()
        .chain(&["orgs", "api_keys", "phones", "deals", "tasks"])
    {
        let sql = format!("SELECT count(*) FROM {table}");
        assert_eq!(count(&mut tx, &sql, None).await, 0, "{table}");
    }
    let err = sqlx::query(
        "INSERT INTO companies (id, org_id, name, created_at, updated_at) VALUES ($1, $2, 'Evil', now(), now())",
    )
    .bind(Uuid::now_v7())
    .bind(a.org.id.as_uuid())
    .execute(&mut *tx)
    .await
    .unwrap_err();
    assert_rls_violation(&err);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rls_user_actor_must_be_a_member() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let (a, b) = two_orgs(&db.store).await;
    let pool = db.store.pg_pool().expect("a Postgres store has a pool");
    let all = "SELECT count(*) FROM people";

    // Control: A's owner sees A's people.
    let mut tx = app_tx(pool, Some(a.org.id), Some(a.owner)).await;
    assert_eq!(count(&mut tx, all, None).await, 3);
    tx.rollback().await.unwrap();

    // Membership is checked once, when a user's transaction begins: the check passes for a
    // member and refuses a stranger, or a member of B only.
    let assert_member = |user: UserId| async move {
        let mut tx = app_tx(pool, Some(a.org.id), Some(user)).await;
        sqlx::query("SELECT workos_assert_member($1, $2)")
            .bind(a.org.id.as_uuid())
            .bind(user.as_uuid())
            .execute(&mut *tx)
            .await
    };
    assert!(assert_member(a.owner).await.is_ok());
    for user in [UserId::new(), b.owner] {
        let err = assert_member(user).await.unwrap_err();
        let code = err.as_database_error().and_then(|d| d.code());
        assert_eq!(code.as_deref(), Some("42501"), "{err}");
    }

    // The store's own transactions check it: a context naming a user who is not a member
    // (which an authenticator would never make) reads as "not found" and writes nothing, even
    // with the owner role.
    let forged = TenantContext::user(a.org.id, UserId::new(), Role::Owner);
    let people = db
        .store
        .list_people(&forged, PersonFilter::default(), page(50))
        .await;
    assert!(
        matches!(people, Err(workos_core::Error::NotFound { .. })),
        "{people:?}"
    );
    let company = workos_core::domain::NewCompany {
        name: "Forged".into(),
        domain: None,
    };
    assert!(db.store.create_company(&forged, company).await.is_err());
    let companies = db
        .store
        .list_companies(&a.ctx, Default::default(), page(50))
        .await
        .unwrap();
    assert!(companies.data.iter().all(|c| c.name != "Forged"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rls_is_forced_and_the_app_role_is_unprivileged() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let pool = db.store.pg_pool().expect("a Postgres store has a pool");
    let (superuser, bypass): (bool, bool) =
        sqlx::query_as("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'workos_app'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert!(!superuser && !bypass, "workos_app must not bypass RLS");
    // Every table holding tenant rows has RLS enabled and forced (so even its owner is subject
    // to it).
    let unprotected: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
            AND EXISTS (SELECT 1 FROM pg_attribute a
                         WHERE a.attrelid = c.oid AND a.attname = 'org_id' AND NOT a.attisdropped)
            AND NOT (c.relrowsecurity AND c.relforcerowsecurity)
          ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(
        unprotected.is_empty(),
        "tenant tables without forced RLS: {unprotected:?}"
    );
    let protected: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relforcerowsecurity",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert!(
        protected >= 20,
        "the tenant tables are all there ({protected})"
    );
}

#[track_caller]
fn assert_rls_violation(err: &sqlx::Error) {
    match err {
        sqlx::Error::Database(e) => {
            assert_eq!(e.code().as_deref(), Some("42501"), "{e}");
            assert!(e.message().contains("row-level security"), "{e}");
        }
        other => panic!("expected an RLS violation, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rls_keeps_oauth_states_and_claims_to_the_system_scope() {
    use workos_core::domain::NewIntegration;
    use workos_core::repo::{IntegrationRepo, OAuthStateRepo, PendingOAuth, SealedSecrets};
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let (a, b) = two_orgs(&db.store).await;
    db.store
        .put_oauth_state(
            "a-state",
            PendingOAuth {
                org_id: a.org.id,
                user_id: a.owner,
                provider: "gmail".into(),
                sealed_verifier: SealedSecrets(vec![1]),
                expires_at: chrono::Utc::now() + chrono::Duration::minutes(10),
            },
        )
        .await
        .unwrap();
    db.store
        .create_integration(
            &b.ctx,
            NewIntegration::gmail("me@b.com"),
            SealedSecrets(vec![2]),
        )
        .await
        .unwrap();
    let pool = db.store.pg_pool().expect("a Postgres store has a pool");

    // Even the org that started it cannot read, take or forge a state as a tenant.
    let mut tx = app_tx(pool, Some(a.org.id), Some(a.owner)).await;
    assert_eq!(
        count(&mut tx, "SELECT count(*) FROM oauth_states", None).await,
        0
    );
    let deleted = sqlx::query("DELETE FROM oauth_states")
        .execute(&mut *tx)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(deleted, 0);
    let err = sqlx::query(
        "INSERT INTO oauth_states (state_hash, org_id, user_id, provider, sealed_verifier, expires_at, created_at)
         VALUES ('\\x00', $1, $2, 'gmail', '\\x00', now() + interval '1 hour', now())",
    )
    .bind(a.org.id.as_uuid())
    .bind(a.owner.as_uuid())
    .execute(&mut *tx)
    .await
    .unwrap_err();
    assert_rls_violation(&err);
    drop(tx);
    // A tenant cannot claim (or see) another org's integrations: the scheduler's policies
    // need the system scope.
    let mut tx = app_tx(pool, Some(a.org.id), Some(a.owner)).await;
    let claimed =
        sqlx::query("UPDATE integrations SET sync_claimed_until = now() + interval '1 hour'")
            .execute(&mut *tx)
            .await
            .unwrap()
            .rows_affected();
    assert_eq!(claimed, 0);
    drop(tx);
    assert!(
        db.store
            .take_oauth_state("a-state")
            .await
            .unwrap()
            .is_some()
    );
}
