//! The Postgres paths of the cap counters: the counters of many windows read in one fixed
//! statement over arrays (a window without a counter counted from its deliveries in the same
//! statement), and a slot taken by an `UPDATE … RETURNING` of fixed text, where the portable
//! code in the parent module builds its statements per call and counts missing windows
//! apart. Single statements, routed to the org's shard on Citus. The parity test of capture
//! and routing (`routing::postgres`) runs both paths on one database and compares the rows.

use std::collections::HashMap;

use sqlx::PgConnection;
use uuid::Uuid;
use workos_core::Result;
use workos_core::domain::Timestamp;
use workos_core::ids::PartnerId;
use workos_core::tenant::TenantContext;

use super::{Period, Window, saturated};
use crate::db::db_error;

/// Every counter of `wanted` (partner, period, start), one without a counter counted from its
/// deliveries. One fixed statement over arrays, planned once per connection (`COALESCE` runs
/// the count only when there is no counter). Each count is a correlated probe of the
/// partner's deliveries index, which no plan can turn into a scan of the whole table.
pub(super) async fn read_counters(
    pg: &mut PgConnection,
    ctx: &TenantContext,
    wanted: &[(Uuid, Period, Timestamp)],
) -> Result<HashMap<(Uuid, Period), u32>> {
    let ids: Vec<Uuid> = wanted.iter().map(|w| w.0).collect();
    let periods: Vec<&str> = wanted.iter().map(|w| w.1.as_str()).collect();
    let starts: Vec<Timestamp> = wanted.iter().map(|w| w.2).collect();
    let rows: Vec<(Uuid, String, i64)> = sqlx::query_as(
        "SELECT w.pid, w.period, COALESCE(
           (SELECT u.used::int8 FROM partner_cap_usage u WHERE u.org_id = $4 AND u.partner_id = w.pid
             AND u.period = w.period AND u.starts_at = w.starts_at),
           (SELECT count(*) FROM lead_deliveries d WHERE d.org_id = $4 AND d.partner_id = w.pid
             AND d.created_at >= w.starts_at AND d.status <> 'returned'))
         FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS w(pid, period, starts_at)",
    )
    .bind(&ids)
    .bind(&periods)
    .bind(&starts)
    .bind(ctx.org_id().as_uuid())
    .fetch_all(pg)
    .await
    .map_err(db_error)?;
    Ok(rows
        .into_iter()
        .map(|(id, period, used)| ((id, Period::named(&period)), saturated(used)))
        .collect())
}

/// The statement adding one to the counter of org `$1`'s partner `$2` for the period `$3`
/// starting at `$4`, when it is below the cap `$5` (null: no limit); it answers the period
/// when it counted.
const BUMP: &str = "UPDATE partner_cap_usage u SET used = u.used + 1
     WHERE u.org_id = $1 AND u.partner_id = $2 AND u.period = $3 AND u.starts_at = $4
     AND ($5::int8 IS NULL OR u.used < $5::int8)
     RETURNING u.period";

/// [`super::bump`] as [`BUMP`]: adds one to the partner's counter of `window` if it exists
/// and is below `cap`; answers whether it counted.
pub(super) async fn bump(
    pg: &mut PgConnection,
    ctx: &TenantContext,
    partner: PartnerId,
    window: &Window,
    cap: Option<i64>,
) -> Result<bool> {
    let rows: Vec<(String,)> = sqlx::query_as(BUMP)
        .bind(ctx.org_id().as_uuid())
        .bind(partner.as_uuid())
        .bind(window.period.as_str())
        .bind(window.starts_at)
        .bind(cap)
        .fetch_all(pg)
        .await
        .map_err(db_error)?;
    Ok(!rows.is_empty())
}
