//! The Postgres path of the routing settings' read: the settings in force and the capture's
//! contact locks in one statement (a `LATERAL` join, which Citus routes to the org's shard),
//! where the portable code in the parent module reads the settings and capture then takes the
//! locks (SQLite's single writer needs none). The parity test of capture and routing
//! (`routing::postgres`) runs both paths on one database and compares the rows.

use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;
use workos_core::Result;
use workos_core::domain::{DedupePolicy, NewLead, RoutingSettings, Timestamp};
use workos_core::tenant::TenantContext;

use super::{StoredSettings, settings_from};
use crate::db::db_error;
use crate::repos::leads::postgres::contact_lock_keys;

/// [`super::settings_locking_contacts`] in one statement; the locks are always taken.
pub(super) async fn settings_locking_contacts(
    pg: &mut PgConnection,
    ctx: &TenantContext,
    new: &NewLead,
) -> Result<(StoredSettings, bool)> {
    type MaybeSettings = (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i32>,
        Option<Json<DedupePolicy>>,
        Option<i32>,
        Option<Uuid>,
        Option<Timestamp>,
    );
    let keys = contact_lock_keys(ctx, new);
    // The locks come first in the plan but need not: the settings are not what they guard.
    let row: MaybeSettings = sqlx::query_as(
        "SELECT s.vertical, s.strategy, s.when_full, s.distribution, s.max_partners, s.dedupe,
         s.return_window_days, s.rr_last_partner_id, s.updated_at
         FROM (SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0)))
               FROM unnest($3::text[]) AS k) AS locked
         LEFT JOIN LATERAL (
           SELECT * FROM routing_settings WHERE org_id = $1 AND vertical IN ($2, '')
           ORDER BY vertical DESC LIMIT 1) AS s ON true",
    )
    .bind(ctx.org_id().as_uuid())
    .bind(new.vertical.as_deref().unwrap_or(""))
    .bind(&keys)
    .fetch_one(pg)
    .await
    .map_err(db_error)?;
    let stored = match row {
        (Some(v), Some(st), Some(wf), Some(d), Some(max), Some(dd), Some(w), rr, Some(t)) => {
            settings_from((v, st, wf, d, max, dd, w, rr, t))?
        }
        _ => StoredSettings {
            settings: RoutingSettings::defaults(),
            row_key: None,
            rr_last: None,
        },
    };
    Ok((stored, true))
}
