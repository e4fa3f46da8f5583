//! Claims on queues that span orgs (webhook and lead deliveries, integrations due a sync):
//! first the orgs that have due rows (a read that takes no lock), then one claim per org, a
//! conditional `UPDATE` of that org's rows that skips rows another claimer has locked. On Citus
//! the read spans the shards and every claim is routed to one org's shard: no statement locks
//! rows across shards.

use uuid::Uuid;
use workos_core::Result;
use workos_core::ids::OrgId;

use crate::db::{Arg, Tx};
use crate::{Backend, SqlStore};

/// The distinct orgs of the rows `rows_sql` selects with `args` (an `org_id` column of the
/// rows due first, with a `LIMIT`, so the read is bounded however long the queue).
pub(crate) async fn due_orgs(tx: &mut Tx, rows_sql: &str, args: Vec<Arg>) -> Result<Vec<OrgId>> {
    let sql = format!("SELECT org_id FROM ({rows_sql}) AS due GROUP BY org_id");
    let orgs: Vec<(Uuid,)> = tx.fetch_all(&sql, args).await?;
    Ok(orgs.into_iter().map(|(o,)| OrgId::from_uuid(o)).collect())
}

/// The lock clause of a claim's inner `SELECT` over `alias`: `FOR UPDATE OF alias SKIP LOCKED`
/// on Postgres; nothing on SQLite, whose single writer serialises claims already.
#[cfg_attr(not(feature = "postgres"), expect(unused_variables))]
pub(crate) fn skip_locked(store: &SqlStore, alias: &str) -> String {
    match &store.backend {
        #[cfg(feature = "postgres")]
        Backend::Postgres(_) => format!(" FOR UPDATE OF {alias} SKIP LOCKED"),
        #[cfg(feature = "sqlite")]
        Backend::Sqlite(_) => String::new(),
    }
}

/// `column` among the ids `select` picks, for a claim's `UPDATE … WHERE`, with `lock` (from
/// [`skip_locked`]) closing `select`. Locking (Postgres): `column = ANY(ARRAY(select lock))`,
/// an init plan, run once per statement, so the `LIMIT` of `select` bounds the claim. As
/// `column IN (select)` it is a join the executor may evaluate more than once within one
/// statement, and each evaluation skips rows already locked or updated, so one claim took
/// past its limit (369 webhook deliveries for a limit of 100 under load, which panicked the
/// worker that had room for 100). Without a lock (SQLite, one writer): `column IN (select)`.
pub(crate) fn among_claimed(column: &str, select: &str, lock: &str) -> String {
    if lock.is_empty() {
        format!("{column} IN ({select})")
    } else {
        format!("{column} = ANY(ARRAY({select}{lock}))")
    }
}
