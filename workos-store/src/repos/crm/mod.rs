//! Companies, deals, tasks and interactions, a module each, and what they share. People live in
//! `person.rs` (their contact uniqueness needs more care).

mod companies;
mod deals;
mod interactions;
mod tasks;

pub(crate) use interactions::{
    INTERACTION_COLUMNS, InteractionRow, insert_interaction, interaction_from,
};
pub(crate) use tasks::{TASK_COLUMNS, TaskRow};

use uuid::Uuid;
use workos_core::Result;
use workos_core::domain::TimeRange;
use workos_core::ids::{CompanyId, DealId, PersonId};
use workos_core::tenant::TenantContext;

use super::ensure_ref;
use crate::db::{Sql, Tx, args, now};

/// Appends a time-range condition on `column`.
pub(crate) fn and_range(sql: &mut Sql, column: &'static str, range: TimeRange) {
    sql.and(column, ">=", range.after)
        .and(column, "<", range.before);
}

/// Soft-deletes a row of `table` in the context's org; returns whether a live row was found.
async fn soft_delete(
    tx: &mut Tx,
    ctx: &TenantContext,
    table: &'static str,
    id: Uuid,
) -> Result<bool> {
    let sql = format!(
        "UPDATE {table} SET deleted_at = $1 WHERE org_id = $2 AND id = $3 AND deleted_at IS NULL"
    );
    Ok(tx.execute(&sql, args![now(), ctx.org_id(), id]).await? == 1)
}

async fn check_subject_refs(
    tx: &mut Tx,
    ctx: &TenantContext,
    person: Option<PersonId>,
    company: Option<CompanyId>,
    deal: Option<DealId>,
) -> Result<()> {
    ensure_ref(tx, ctx, "people", "person_id", person.map(|i| i.as_uuid())).await?;
    ensure_ref(
        tx,
        ctx,
        "companies",
        "company_id",
        company.map(|i| i.as_uuid()),
    )
    .await?;
    ensure_ref(tx, ctx, "deals", "deal_id", deal.map(|i| i.as_uuid())).await
}
