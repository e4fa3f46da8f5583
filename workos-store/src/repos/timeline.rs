//! Timelines of people, companies and deals: one query finds the page's keys (time, type, id)
//! over interactions and tasks, then one query per type present reads the records.
//!
//! An email, SMS or call is found through its timeline entry (`interactions.email_id`,
//! `sms_id`, `call_id`), so what it belongs to is what its entry is linked to, on every backend
//! alike; the entry itself is then not listed again.

use std::collections::HashMap;

use async_trait::async_trait;
use uuid::Uuid;
use workos_core::domain::{
    Call, Email, Interaction, Sms, Task, Timeline, TimelineCursor, TimelineItem, TimelineKind,
    TimelineRecord, TimelineRequest, TimelineSubject, Timestamp,
};
use workos_core::ids::{CompanyId, DealId, PersonId};
use workos_core::repo::TimelineRepo;
use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};

use super::comms::{CALL_COLUMNS, CallRow, SMS_COLUMNS, SmsRow};
use super::crm::{INTERACTION_COLUMNS, InteractionRow, TASK_COLUMNS, TaskRow};
use super::email::{EMAIL_COLUMNS, EmailRow};
use crate::SqlStore;
use crate::db::{Row, Sql, Tx, args};

/// A page key: what the timeline query answers.
#[derive(sqlx::FromRow)]
struct KeyRow {
    kind: String,
    id: Uuid,
    occurred_at: Timestamp,
}

/// The interactions' type and record id: an entry made for an email, SMS or call stands for it.
const INTERACTION_KEY: &str = "CASE WHEN email_id IS NOT NULL THEN 'email' WHEN sms_id IS NOT NULL THEN 'sms' \
     WHEN call_id IS NOT NULL THEN 'call' ELSE 'interaction' END AS kind, \
     COALESCE(email_id, sms_id, call_id, id) AS id, occurred_at";

/// A task's key: it happens when it is due (or, without a due time, when it was made).
const TASK_KEY: &str = "'task' AS kind, id, COALESCE(due_at, created_at) AS occurred_at";

/// Appends the condition that a row of interactions or tasks (both have `person_id`,
/// `company_id` and `deal_id`) belongs to `subject`; `$1` is the org.
fn belongs_to(sql: &mut Sql, subject: TimelineSubject) {
    match subject {
        TimelineSubject::Person(id) => {
            sql.push(" AND person_id = ").bind(id);
        }
        TimelineSubject::Deal(id) => {
            sql.push(" AND deal_id = ").bind(id);
        }
        TimelineSubject::Company(id) => {
            sql.push(" AND (company_id = ").bind(id);
            // The company's people now; the org filter keeps it on one shard on Citus.
            sql.push(
                " OR person_id IN (SELECT p.id FROM people p WHERE p.org_id = $1 AND p.deleted_at IS NULL AND p.company_id = ",
            )
            .bind(id)
            .push("))");
        }
    }
}

/// The subject's table and id, to check that it is a live record of the org.
fn subject_row(subject: TimelineSubject) -> (&'static str, Uuid, &'static str) {
    match subject {
        TimelineSubject::Person(id) => ("people", id.as_uuid(), PersonId::KIND),
        TimelineSubject::Company(id) => ("companies", id.as_uuid(), CompanyId::KIND),
        TimelineSubject::Deal(id) => ("deals", id.as_uuid(), DealId::KIND),
    }
}

/// The page's keys, newest first, with one more when a next page exists.
async fn page_keys(
    tx: &mut Tx,
    ctx: &TenantContext,
    subject: TimelineSubject,
    page: TimelineRequest,
) -> Result<Vec<KeyRow>> {
    let mut sql = Sql::tenant(
        &format!("SELECT kind, id, occurred_at FROM (SELECT {INTERACTION_KEY} FROM interactions"),
        "org_id",
        ctx.org_id(),
    );
    sql.push(" AND deleted_at IS NULL");
    belongs_to(&mut sql, subject);
    sql.push(&format!(
        " UNION ALL SELECT {TASK_KEY} FROM tasks WHERE org_id = $1 AND deleted_at IS NULL"
    ));
    belongs_to(&mut sql, subject);
    sql.push(") items");
    if let Some(c) = page.cursor {
        // Row-value comparison: strictly after the last item in (time, type, id) descending.
        sql.push(" WHERE (occurred_at, kind, id) < (")
            .bind(c.occurred_at)
            .push(", ")
            .bind(c.kind.as_str())
            .push(", ")
            .bind(c.id)
            .push(")");
    }
    sql.push(" ORDER BY occurred_at DESC, kind DESC, id DESC LIMIT ")
        .bind(i64::from(page.limit) + 1);
    tx.fetch_sql(sql).await
}

/// How to read one type of record: the `SELECT … FROM <table> <alias>`, the alias's
/// `org_id` column, and the condition that keeps live rows among `ids` (ending in `IN `).
struct Source {
    select: String,
    org_column: &'static str,
    live_ids: &'static str,
}

/// The live records of the org named by `ids`, by id.
async fn records<R: Row, T: TryFrom<R, Error = Error>>(
    tx: &mut Tx,
    ctx: &TenantContext,
    source: Source,
    ids: &[Uuid],
    id_of: impl Fn(&T) -> Uuid,
) -> Result<HashMap<Uuid, T>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut sql = Sql::tenant(&source.select, source.org_column, ctx.org_id());
    sql.push(source.live_ids).push_in(ids.iter().copied());
    let rows: Vec<R> = tx.fetch_sql(sql).await?;
    rows.into_iter()
        .map(|r| T::try_from(r).map(|t| (id_of(&t), t)))
        .collect()
}

#[async_trait]
impl TimelineRepo for SqlStore {
    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn timeline(
        &self,
        ctx: &TenantContext,
        subject: TimelineSubject,
        page: TimelineRequest,
    ) -> Result<Timeline> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        let (table, id, kind) = subject_row(subject);
        let sql =
            format!("SELECT 1 FROM {table} WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL");
        let found: Option<(i32,)> = tx.fetch_optional(&sql, args![ctx.org_id(), id]).await?;
        if found.is_none() {
            return Err(Error::not_found(kind));
        }

        let mut keys = page_keys(&mut tx, ctx, subject, page).await?;
        let more = keys.len() > page.limit as usize;
        keys.truncate(page.limit as usize);
        let keys = keys
            .into_iter()
            .map(|k| {
                let kind = k
                    .kind
                    .parse::<TimelineKind>()
                    .map_err(|e| super::corrupt("timeline kind", e))?;
                Ok((kind, k.id, k.occurred_at))
            })
            .collect::<Result<Vec<_>>>()?;
        let ids = |of: TimelineKind| -> Vec<Uuid> {
            keys.iter().filter(|k| k.0 == of).map(|k| k.1).collect()
        };

        let mut interactions: HashMap<Uuid, Interaction> = records::<InteractionRow, _>(
            &mut tx,
            ctx,
            Source {
                select: format!("SELECT {INTERACTION_COLUMNS} FROM interactions"),
                org_column: "org_id",
                live_ids: " AND deleted_at IS NULL AND id IN ",
            },
            &ids(TimelineKind::Interaction),
            |i: &Interaction| i.id.as_uuid(),
        )
        .await?;
        let mut emails: HashMap<Uuid, Email> = records::<EmailRow, _>(
            &mut tx,
            ctx,
            Source {
                select: format!("SELECT {EMAIL_COLUMNS} FROM emails e"),
                org_column: "e.org_id",
                live_ids: " AND e.deleted_at IS NULL AND e.id IN ",
            },
            &ids(TimelineKind::Email),
            |e: &Email| e.id.as_uuid(),
        )
        .await?;
        let mut sms: HashMap<Uuid, Sms> = records::<SmsRow, _>(
            &mut tx,
            ctx,
            Source {
                select: format!("SELECT {SMS_COLUMNS} FROM sms s"),
                org_column: "s.org_id",
                live_ids: " AND s.deleted_at IS NULL AND s.id IN ",
            },
            &ids(TimelineKind::Sms),
            |s: &Sms| s.id.as_uuid(),
        )
        .await?;
        let mut calls: HashMap<Uuid, Call> = records::<CallRow, _>(
            &mut tx,
            ctx,
            Source {
                select: format!("SELECT {CALL_COLUMNS} FROM calls c"),
                org_column: "c.org_id",
                live_ids: " AND c.deleted_at IS NULL AND c.id IN ",
            },
            &ids(TimelineKind::Call),
            |c: &Call| c.id.as_uuid(),
        )
        .await?;
        let mut tasks: HashMap<Uuid, Task> = records::<TaskRow, _>(
            &mut tx,
            ctx,
            Source {
                select: format!("SELECT {TASK_COLUMNS} FROM tasks"),
                org_column: "org_id",
                live_ids: " AND deleted_at IS NULL AND id IN ",
            },
            &ids(TimelineKind::Task),
            |t: &Task| t.id.as_uuid(),
        )
        .await?;

        let next_cursor = more
            .then(|| keys.last())
            .flatten()
            .map(|&(kind, id, occurred_at)| TimelineCursor {
                occurred_at,
                kind,
                id,
            });
        // A record deleted since its entry was made is left out.
        let data = keys
            .into_iter()
            .filter_map(|(kind, id, occurred_at)| {
                let record = match kind {
                    TimelineKind::Interaction => {
                        interactions.remove(&id).map(TimelineRecord::Interaction)
                    }
                    TimelineKind::Email => emails.remove(&id).map(TimelineRecord::Email),
                    TimelineKind::Sms => sms.remove(&id).map(TimelineRecord::Sms),
                    TimelineKind::Call => calls.remove(&id).map(TimelineRecord::Call),
                    TimelineKind::Task => tasks.remove(&id).map(TimelineRecord::Task),
                }?;
                Some(TimelineItem {
                    kind,
                    occurred_at,
                    record,
                })
            })
            .collect();
        Ok(Timeline { data, next_cursor })
    }
}
