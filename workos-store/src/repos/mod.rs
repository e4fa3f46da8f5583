//! Repository implementations, written once against [`crate::db::Tx`] for both backends.
//!
//! Where Postgres can do in one statement what the portable code does in several (arrays,
//! `LATERAL`, data-modifying `WITH`), that path lives in a module named `postgres` under the
//! aggregate's module (`person/postgres.rs` beside `person.rs`, `comms/postgres.rs` beside
//! `comms/mod.rs`), compiled with the `postgres` feature only. The portable file holds the
//! portable path and the one branch that picks the Postgres path: `Tx::fast_path` /
//! `Tx::fast_pg` for multi-statement fast paths (one Postgres node; Citus runs the portable
//! statements, each routed to one shard), `Tx::pg_path` for single Postgres statements that
//! Citus routes as well. Parity tests (`parity` in those modules) run the same operations
//! through both paths on one Postgres database and compare the rows and events stored.
//! Postgres-only code that has no portable twin (row and advisory locks, `SKIP LOCKED`) stays
//! where it is used.

mod call_settings;
mod caps;
mod claims;
mod comms;
mod crm;
mod email;
mod idempotency;
mod integrations;
mod lead_deliveries;
mod lead_forms;
mod lead_sender;
mod leads;
mod lookups;
mod opt_outs;
mod org;
#[cfg(all(test, feature = "postgres"))]
mod parity;
mod partners;
mod person;
pub(crate) mod retention;
mod routing;
mod routing_settings;
mod scheduler;
mod search;
mod subnets;
mod timeline;
mod webhooks;

pub(crate) use crm::and_range;
pub(crate) use lookups::{Lookup, claim_lookup, org_of, release_lookup};

use serde::Serialize;
use uuid::Uuid;
use workos_core::events::DomainEvent;
use workos_core::ids::EntityId;
use workos_core::page::{Page, PageRequest, SortField, Sortable};
use workos_core::tenant::TenantContext;
use workos_core::{Error, Result};

use crate::db::{Row, SortExpr, Sql, Tx, args};

/// Appends the event for a change to `entity` (its JSON snapshot) in the change's transaction.
pub(crate) async fn emit<T: Serialize>(
    tx: &mut Tx,
    ctx: &TenantContext,
    event_type: &str,
    kind: &str,
    id: Uuid,
    entity: &T,
) -> Result<()> {
    let data =
        serde_json::to_value(entity).map_err(|e| Error::internal("cannot snapshot entity", e))?;
    let event = DomainEvent::in_context(ctx, event_type, kind, id, data);
    tx.record(&event).await
}

/// Records the event of the entity `id` names (as [`emit`], its kind from the id) and
/// commits: how a write that emits one event ends.
pub(crate) async fn emit_and_commit<I: EntityId, T: Serialize>(
    mut tx: Tx,
    ctx: &TenantContext,
    event_type: &str,
    id: I,
    entity: &T,
) -> Result<()> {
    emit(&mut tx, ctx, event_type, I::KIND, id.uuid(), entity).await?;
    tx.commit().await
}

/// Whether an update changes nothing: `updated` equals `current` but for the `updated_at`
/// that `stamp` reaches. Such an update writes nothing and emits no event.
pub(crate) fn unchanged<T: Clone + PartialEq>(
    updated: &T,
    current: &T,
    stamp: impl Fn(&mut T) -> &mut workos_core::domain::Timestamp,
) -> bool {
    let mut probe = updated.clone();
    *stamp(&mut probe) = *stamp(&mut current.clone());
    probe == *current
}

/// A stored value that no longer parses: the database was changed behind the engine's back.
pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Internal {
        message: format!("stored {what} is invalid: {e}"),
        source: None,
    }
}

/// The reference `next` when an update changes it, else `None`: an update checks only the
/// references it changes, so a record that points at a since-deleted record stays editable.
pub(crate) fn changed<T: PartialEq>(next: Option<T>, current: Option<T>) -> Option<T> {
    next.filter(|n| current.as_ref() != Some(n))
}

/// Checks that a record referenced by `field` is a live record of the context's org; another
/// org's id reads as absent. `table` is one of the engine's own table names, never input.
pub(crate) async fn ensure_ref(
    tx: &mut Tx,
    ctx: &TenantContext,
    table: &'static str,
    field: &str,
    id: Option<Uuid>,
) -> Result<()> {
    let Some(id) = id else { return Ok(()) };
    let sql = format!("SELECT 1 FROM {table} WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL");
    let found: Option<(i32,)> = tx.fetch_optional(&sql, args![ctx.org_id(), id]).await?;
    match found {
        Some(_) => Ok(()),
        None => Err(Error::invalid(
            field,
            "refers to a record that does not exist in this org",
        )),
    }
}

/// The rows of a page query (one built with `Sql::page`), each converted, as a page.
pub(crate) async fn fetch_page<R: Row, T: TryFrom<R, Error = Error>>(
    tx: &mut Tx,
    sql: Sql,
    page: &PageRequest,
    id: impl Fn(&T) -> Uuid,
) -> Result<Page<T>> {
    let rows: Vec<R> = tx.fetch_sql(sql).await?;
    let rows = rows
        .into_iter()
        .map(T::try_from)
        .collect::<Result<Vec<_>>>()?;
    Ok(Page::from_rows(rows, page, id))
}

/// A sorted list's page: appends the page of `page.sort()` to `sql` (`Sql::sorted_page` on
/// `id`, with the table's sort `keys`), fetches the rows and converts each, as a page whose
/// cursor carries the last row's sort key.
pub(crate) async fn fetch_sorted_page<R: Row, T: TryFrom<R, Error = Error> + Sortable>(
    tx: &mut Tx,
    mut sql: Sql,
    keys: &[(SortField, SortExpr)],
    page: &PageRequest,
) -> Result<Page<T>> {
    sql.sorted_page("id", keys, page, tx.is_postgres())?;
    let rows: Vec<R> = tx.fetch_sql(sql).await?;
    let rows = rows
        .into_iter()
        .map(T::try_from)
        .collect::<Result<Vec<_>>>()?;
    Ok(Page::from_sorted_rows(rows, page))
}
