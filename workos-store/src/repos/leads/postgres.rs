//! The Postgres paths of lead capture: the duplicate and the person holding the lead's contacts
//! found in one statement (scalar sub-selects and a `LATERAL` join, which Citus routes to the
//! org's shard) where the portable code in the parent module runs two; and the advisory locks
//! that serialise captures sharing a contact (SQLite's single writer needs none). The parity
//! test of capture and routing (`routing::postgres`) runs both paths on one database and
//! compares the rows.

use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;
use workos_core::Result;
use workos_core::domain::{Attribution, DedupeField, DedupePolicy, NewLead, Timestamp};
use workos_core::ids::PersonId;
use workos_core::tenant::TenantContext;

use super::{Original, original_from, push_duplicate_query};
use crate::db::{Sql, Tx, db_error};

/// The advisory lock keys of a capture's email and phone, in the order they are taken.
pub(crate) fn contact_lock_keys(ctx: &TenantContext, new: &NewLead) -> Vec<String> {
    let mut keys: Vec<String> = [
        new.email.as_ref().map(|e| format!("email:{e}")),
        new.phone.as_ref().map(|p| format!("phone:{p}")),
    ]
    .into_iter()
    .flatten()
    .map(|k| format!("workos.lead:{}:{k}", ctx.org_id()))
    .collect();
    keys.sort();
    keys
}

/// Takes the transaction-scoped advisory locks `$2` (in array order) on the node that holds
/// org `$1`'s rows: joining a table of the org makes Citus route the statement to the org's
/// shard, so every capture of an org takes its locks in one place (see
/// `routing_settings::postgres::settings_locking_contacts`, which takes them the same way); on
/// one Postgres node the join costs an index probe.
pub(crate) const LOCK_CONTACTS_ON_ORG_NODE: &str =
    "SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0)))
     FROM unnest($2::text[]) AS k
     LEFT JOIN LATERAL (SELECT 1 FROM routing_settings WHERE org_id = $1 LIMIT 1) AS org ON true";

/// Takes the capture's contact locks ([`LOCK_CONTACTS_ON_ORG_NODE`]).
pub(super) async fn lock_contacts(
    pg: &mut PgConnection,
    ctx: &TenantContext,
    new: &NewLead,
) -> Result<()> {
    sqlx::query(LOCK_CONTACTS_ON_ORG_NODE)
        .bind(ctx.org_id().as_uuid())
        .bind(contact_lock_keys(ctx, new))
        .execute(pg)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// [`super::duplicate_or_person`] in one statement: the lead `new` repeats on `fields` under
/// `policy`, if any; else the live person holding its email (else its phone), if any.
pub(super) async fn duplicate_or_person(
    tx: &mut Tx,
    ctx: &TenantContext,
    new: &NewLead,
    (policy, fields): (&DedupePolicy, &[DedupeField]),
    at: Timestamp,
) -> Result<(Option<Original>, Option<PersonId>)> {
    let email = new.email.as_ref().map(AsRef::<str>::as_ref);
    let phone = new.phone.as_ref().map(AsRef::<str>::as_ref);
    // The contact probes as scalar sub-selects, the duplicate as a lateral join: one row.
    let mut sql = Sql::new("SELECT ");
    if fields.is_empty() {
        sql.push("NULL::uuid, NULL::uuid, NULL::jsonb");
    } else {
        sql.push("d.id, d.person_id, d.first_touch");
    }
    for (kind, value) in [("email", email), ("phone", phone)] {
        sql.push(", (SELECT person_id FROM person_contacts WHERE org_id = ")
            .bind(ctx.org_id())
            .push(" AND kind = ")
            .bind(kind)
            .push(" AND value = ")
            .bind(value)
            .push(")");
    }
    if !fields.is_empty() {
        sql.push(" FROM (SELECT 1) AS one LEFT JOIN LATERAL (");
        push_duplicate_query(&mut sql, ctx, new, (policy, fields), at);
        sql.push(") AS d ON true");
    }
    type Row = (
        Option<Uuid>,
        Option<Uuid>,
        Option<Json<Attribution>>,
        Option<Uuid>,
        Option<Uuid>,
    );
    let rows: Vec<Row> = tx.fetch_sql(sql).await?;
    let Some((id, person_id, first_touch, by_email, by_phone)) = rows.into_iter().next() else {
        return Ok((None, None));
    };
    if let Some(id) = id {
        return Ok((Some(original_from((id, person_id, first_touch))), None));
    }
    Ok((None, by_email.or(by_phone).map(PersonId::from_uuid)))
}
