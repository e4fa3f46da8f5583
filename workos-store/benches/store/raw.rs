//! The raw variants' statements: the engine's own SQL, sent straight through sqlx.

use std::hint::black_box;

use anyhow::{Context as _, Result, ensure};
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, PgConnection};
use uuid::Uuid;

use crate::PAGE;
use crate::scenario::Op;

const COLUMNS: &str = "id, org_id, first_name, last_name, email, additional_emails, phone, \
     additional_phones, title, company_id, created_at, updated_at";

/// The raw statements of one variant.
pub(crate) struct RawSql {
    pub(crate) get: String,
    pub(crate) list: String,
    /// The engine's statements for a create, in order (see [`raw_sql`]).
    pub(crate) create: Vec<String>,
}

/// The engine's statements, marked with `variant`. For `create`, on one Postgres node the
/// engine's single statement (`write_new_person`'s fast path: the person, the contact index,
/// the org's event stream head, the event); on Citus the portable path's statements (the
/// person, one contact row, the head, the event).
pub(crate) fn raw_sql(variant: &str, citus: bool) -> RawSql {
    let tag = format!("/* bench {variant} */");
    const INSERT_PERSON: &str = "INSERT INTO people (first_name, last_name, email, additional_emails, phone, \
         additional_phones, title, company_id, updated_at, org_id, id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";
    const EVENT_COLUMNS: &str =
        "id, org_id, type, occurred_at, subject_kind, subject_id, data, request_id";
    let create = if citus {
        vec![
            format!("{tag} {INSERT_PERSON}"),
            format!(
                "{tag} INSERT INTO person_contacts (org_id, kind, value, person_id) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING"
            ),
            format!(
                "{tag} INSERT INTO event_streams (org_id, head) VALUES ($1, $2) \
                 ON CONFLICT (org_id) DO UPDATE SET head = event_streams.head + excluded.head RETURNING head"
            ),
            format!(
                "{tag} INSERT INTO domain_events (pos, {EVENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            ),
        ]
    } else {
        vec![format!(
            "{tag} WITH workos_person AS ({INSERT_PERSON}), \
             workos_contacts AS (INSERT INTO person_contacts (org_id, kind, value, person_id) \
               SELECT $13, k, v, $14 FROM unnest($15::text[], $16::text[]) AS c(k, v) \
               ON CONFLICT DO NOTHING RETURNING kind || ':' || value AS taken), \
             workos_head AS (INSERT INTO event_streams AS s (org_id, head) VALUES ($17, $18) \
               ON CONFLICT (org_id) DO UPDATE SET head = s.head + excluded.head RETURNING head), \
             workos_events AS (INSERT INTO domain_events (pos, {EVENT_COLUMNS}) \
               SELECT h.head - $18 + u.n, u.id, $17, u.type, u.occurred_at, u.subject_kind, \
                      u.subject_id, u.data, u.request_id \
               FROM workos_head h, unnest($19::uuid[], $20::text[], $21::timestamptz[], $22::text[], \
                    $23::uuid[], $24::jsonb[], $25::text[]) \
                    WITH ORDINALITY AS u(id, type, occurred_at, subject_kind, subject_id, data, request_id, n)) \
             SELECT ARRAY(SELECT taken FROM workos_contacts)"
        )]
    };
    RawSql {
        get: format!(
            "{tag} SELECT {COLUMNS} FROM people WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL"
        ),
        list: format!(
            "{tag} SELECT {COLUMNS} FROM people p WHERE deleted_at IS NULL AND org_id = $1 ORDER BY id LIMIT $2"
        ),
        create,
    }
}

/// What the raw variants decode: every column, as the engine reads them.
#[derive(sqlx::FromRow)]
#[allow(dead_code)]
struct RawPerson {
    id: Uuid,
    org_id: Uuid,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    additional_emails: Json<Vec<String>>,
    phone: Option<String>,
    additional_phones: Json<Vec<String>>,
    title: Option<String>,
    company_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A person to create, made before the clock starts (it is request parsing, not storage).
pub(crate) struct NewRow {
    pub(crate) id: Uuid,
    pub(crate) seq: u64,
    pub(crate) email: String,
}

impl NewRow {
    /// The `person.created` event's data: the person as the engine serializes it.
    fn event_data(&self, org: Uuid, now: DateTime<Utc>) -> serde_json::Value {
        serde_json::json!({
            "id": self.id, "org_id": org, "first_name": "New",
            "last_name": format!("Person{}", self.seq), "email": self.email,
            "additional_emails": [], "phone": null, "additional_phones": [],
            "title": "Engineer", "company_id": null, "created_at": now, "updated_at": now,
        })
    }
}

/// The raw statements of `op` on `c` (a pooled connection, or a transaction's). Boxed: the
/// compiler cannot prove an unboxed future over `&mut PgConnection` `Send` for every lifetime.
pub(crate) fn raw_statement<'a>(
    c: &'a mut PgConnection,
    sql: &'a RawSql,
    op: Op,
    org: Uuid,
    pid: Uuid,
    new: Option<&'a NewRow>,
) -> BoxFuture<'a, Result<()>> {
    Box::pin(async move {
        match op {
            Op::Get => {
                let row = sqlx::query_as::<_, RawPerson>(AssertSqlSafe(sql.get.as_str()))
                    .bind(org)
                    .bind(pid)
                    .fetch_optional(&mut *c)
                    .await?;
                ensure!(
                    row.as_ref().is_some_and(|r| r.id == pid),
                    "raw get found nothing"
                );
                black_box(row);
            }
            Op::List => {
                let rows = sqlx::query_as::<_, RawPerson>(AssertSqlSafe(sql.list.as_str()))
                    .bind(org)
                    .bind(i64::from(PAGE) + 1)
                    .fetch_all(&mut *c)
                    .await?;
                ensure!(!rows.is_empty(), "raw list found nothing");
                black_box(rows);
            }
            Op::Create => raw_create(c, &sql.create, org, new.context("no row to create")?).await?,
        }
        Ok(())
    })
}

/// `sql` (settings; no parameters) on `c`, with the simple protocol as the engine sends them.
pub(crate) fn simple<'a>(c: &'a mut PgConnection, sql: &'a str) -> BoxFuture<'a, Result<()>> {
    Box::pin(async move {
        sqlx::Executor::execute(c, AssertSqlSafe(sql)).await?;
        Ok(())
    })
}

/// The engine's create statements (see [`raw_sql`]) for `new` in `org`.
async fn raw_create(
    c: &mut PgConnection,
    create: &[String],
    org: Uuid,
    new: &NewRow,
) -> Result<()> {
    let now = Utc::now();
    let person = sqlx::query(AssertSqlSafe(create[0].as_str()))
        .bind(Some("New"))
        .bind(Some(format!("Person{}", new.seq)))
        .bind(Some(new.email.as_str()))
        .bind(Json(serde_json::Value::Array(Vec::new())))
        .bind(None::<String>)
        .bind(Json(serde_json::Value::Array(Vec::new())))
        .bind(Some("Engineer"))
        .bind(None::<Uuid>)
        .bind(now)
        .bind(org)
        .bind(new.id)
        .bind(now);
    let event_id = Uuid::now_v7();
    let data = new.event_data(org, now);
    if let [_, contact, head, event] = create {
        // Citus: the portable path, statement by statement.
        let done = person.execute(&mut *c).await?;
        ensure!(done.rows_affected() == 1, "raw insert wrote nothing");
        sqlx::query(AssertSqlSafe(contact.as_str()))
            .bind(org)
            .bind("email")
            .bind(new.email.as_str())
            .bind(new.id)
            .execute(&mut *c)
            .await?;
        let (pos,): (i64,) = sqlx::query_as(AssertSqlSafe(head.as_str()))
            .bind(org)
            .bind(1_i64)
            .fetch_one(&mut *c)
            .await?;
        sqlx::query(AssertSqlSafe(event.as_str()))
            .bind(pos)
            .bind(event_id)
            .bind(org)
            .bind("person.created")
            .bind(now)
            .bind("person")
            .bind(new.id)
            .bind(data)
            .bind(None::<String>)
            .execute(&mut *c)
            .await?;
    } else {
        let row = person
            .bind(org)
            .bind(new.id)
            .bind(vec!["email"])
            .bind(vec![new.email.clone()])
            .bind(org)
            .bind(1_i64)
            .bind(vec![event_id])
            .bind(vec!["person.created"])
            .bind(vec![now])
            .bind(vec!["person"])
            .bind(vec![new.id])
            .bind(vec![data])
            .bind(vec![None::<String>])
            .fetch_one(&mut *c)
            .await?;
        let taken: Vec<String> = sqlx::Row::try_get(&row, 0)?;
        ensure!(taken.len() == 1, "raw create indexed no contact");
    }
    Ok(())
}
