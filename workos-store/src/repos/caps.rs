//! Partner cap usage, kept as counters in `partner_cap_usage`: one row per partner and capped
//! window (its local day or month), holding the deliveries that count against the cap in that
//! window (every delivery but a returned one).
//!
//! - Routing reads the counters without locks to find the partners with room ([`usage`]), then,
//!   as the last write of its transaction, takes one slot of each capped window of the partners
//!   it chose ([`take_slot`]: `UPDATE … SET used = used + 1 WHERE used < cap`). Two routings
//!   racing for a partner's last slot queue on its counter row, and the second re-checks the
//!   cap against the first's committed count, so caps hold under any concurrency; the row
//!   lock is held only from that statement to the commit.
//! - A window's row is made when the first slot is taken in it, by counting the deliveries
//!   already in it ([`ensure`]), so counters need no backfill, and dropping a partner's rows
//!   ([`forget`], when its caps or time zone change) only makes the next routing count afresh.
//!   The count leaves out the lead being routed, whose delivery the same transaction has
//!   already written and is about to count. Until then, reading a window counts its deliveries.
//! - A return gives its slot back ([`release`]) in the windows it was counted in.
//!
//! Every path that writes a delivery or returns one goes through here, in the same transaction.

use std::collections::HashMap;

use uuid::Uuid;
use workos_core::Result;
use workos_core::domain::{
    LeadDelivery, Partner, Timestamp, day_start, month_start, partner_timezone,
};
use workos_core::ids::{LeadId, PartnerId};
use workos_core::tenant::TenantContext;

use crate::db::{Sql, Tx, args};

/// A cap window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Period {
    /// The partner's local day.
    Day,
    /// The partner's local month.
    Month,
}

impl Period {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Month => "month",
        }
    }
}

/// The start of the partner's local day and month at `now` (UTC for a zone the tz database
/// does not know, with a warning: partner validation checks only the name's shape).
fn cap_windows(partner: &Partner, now: Timestamp) -> (Timestamp, Timestamp) {
    let tz = partner_timezone(&partner.timezone).unwrap_or_else(|| {
        tracing::warn!(partner_id = %partner.id, timezone = %partner.timezone,
            "unknown partner time zone; counting caps in UTC");
        chrono_tz::UTC
    });
    (day_start(tz, now), month_start(tz, now))
}

/// A capped window of a partner.
#[derive(Debug, Clone, Copy)]
struct Window {
    period: Period,
    starts_at: Timestamp,
    cap: u32,
}

/// The partner's capped windows at `at`.
fn capped_windows(partner: &Partner, at: Timestamp) -> Vec<Window> {
    if partner.daily_cap.is_none() && partner.monthly_cap.is_none() {
        return Vec::new();
    }
    let (day, month) = cap_windows(partner, at);
    [
        partner.daily_cap.map(|cap| Window {
            period: Period::Day,
            starts_at: day,
            cap,
        }),
        partner.monthly_cap.map(|cap| Window {
            period: Period::Month,
            starts_at: month,
            cap,
        }),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Each capped partner's usage at `at` (today's and this month's deliveries in its time zone,
/// returns excluded), read without locks: from the counters, and for a window without one yet
/// by counting its deliveries. Uncapped partners are absent; so is the count of a period the
/// partner has no cap for (it reads as zero).
///
/// A window has no counter until a routing takes a slot in it, so the deliveries counted here
/// are the few recorded by hand, or those before a cap change dropped the counters: reading
/// takes no lock and writes nothing (a counter made here would be a row lock taken out of
/// partner id order, which could deadlock with another routing's slots).
pub(crate) async fn usage(
    tx: &mut Tx,
    ctx: &TenantContext,
    partners: &[Partner],
    at: Timestamp,
) -> Result<HashMap<Uuid, (u32, u32)>> {
    let windows: Vec<(&Partner, Vec<Window>)> = partners
        .iter()
        .map(|p| (p, capped_windows(p, at)))
        .filter(|(_, w)| !w.is_empty())
        .collect();
    if windows.is_empty() {
        return Ok(HashMap::new());
    }
    let mut counters = read_counters(tx, ctx, &windows).await?;
    let missing: Vec<(Uuid, Window)> = windows
        .iter()
        .flat_map(|(p, ws)| ws.iter().map(|w| (p.id.as_uuid(), *w)))
        .filter(|(id, w)| !counters.contains_key(&(*id, w.period)))
        .collect();
    if !missing.is_empty() {
        counters.extend(count_windows(tx, ctx, &missing).await?);
    }
    Ok(windows
        .iter()
        .map(|(partner, periods)| {
            let id = partner.id.as_uuid();
            let used = |period| {
                periods
                    .iter()
                    .find(|w| w.period == period)
                    .and_then(|w| counters.get(&(id, w.period)).copied())
                    .unwrap_or(0)
            };
            (id, (used(Period::Day), used(Period::Month)))
        })
        .collect())
}

/// The counters of `windows`, by partner and period. On Postgres every window is answered,
/// one without a counter by counting its deliveries; elsewhere those are absent, for
/// [`count_windows`].
async fn read_counters(
    tx: &mut Tx,
    ctx: &TenantContext,
    windows: &[(&Partner, Vec<Window>)],
) -> Result<HashMap<(Uuid, Period), u32>> {
    let mut wanted: Vec<(Uuid, Period, Timestamp)> = Vec::new();
    for (partner, periods) in windows {
        for w in periods {
            wanted.push((partner.id.as_uuid(), w.period, w.starts_at));
        }
    }
    let period_of = |s: &str| {
        if s == "day" {
            Period::Day
        } else {
            Period::Month
        }
    };
    let count = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
    // Postgres: one fixed statement over arrays, planned once per connection, that also
    // counts the deliveries of a window without a counter (`COALESCE` runs the count only
    // then). Each count is a correlated probe of the partner's deliveries index, which no
    // plan can turn into a scan of the whole table.
    #[cfg(feature = "postgres")]
    if let Some(pg) = tx.pg() {
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
        .map_err(crate::db::db_error)?;
        return Ok(rows
            .into_iter()
            .map(|(id, period, used)| ((id, period_of(&period)), count(used)))
            .collect());
    }
    let mut sql =
        Sql::new("SELECT partner_id, period, used FROM partner_cap_usage WHERE org_id = ");
    sql.bind(ctx.org_id()).push(" AND (");
    for (i, (id, period, starts)) in wanted.iter().enumerate() {
        sql.push(if i > 0 {
            " OR (partner_id = "
        } else {
            "(partner_id = "
        })
        .bind(*id)
        .push(" AND period = ")
        .bind(period.as_str())
        .push(" AND starts_at = ")
        .bind(*starts)
        .push(")");
    }
    sql.push(")");
    let rows: Vec<(Uuid, String, i64)> = tx.fetch_sql(sql).await?;
    Ok(rows
        .into_iter()
        .map(|(id, period, used)| ((id, period_of(&period)), count(used)))
        .collect())
}

/// The deliveries counting against each of `windows` (returns excluded), counted from the
/// deliveries since each window's start, in one statement.
async fn count_windows(
    tx: &mut Tx,
    ctx: &TenantContext,
    windows: &[(Uuid, Window)],
) -> Result<HashMap<(Uuid, Period), u32>> {
    let mut sql = Sql::new(
        "SELECT w.pid, w.period, (SELECT COUNT(*) FROM lead_deliveries d WHERE d.org_id = ",
    );
    sql.bind(ctx.org_id()).push(
        " AND d.partner_id = w.pid AND d.created_at >= w.since AND d.status <> 'returned') FROM (",
    );
    for (i, (id, w)) in windows.iter().enumerate() {
        sql.push(if i > 0 {
            " UNION ALL SELECT "
        } else {
            "SELECT "
        });
        sql.bind(*id)
            .push(" AS pid, ")
            .bind(w.period.as_str())
            .push(" AS period, ")
            .bind(w.starts_at)
            .push(" AS since");
    }
    sql.push(") w");
    let rows: Vec<(Uuid, String, i64)> = tx.fetch_sql(sql).await?;
    Ok(rows
        .into_iter()
        .map(|(id, period, n)| {
            let period = if period == "day" {
                Period::Day
            } else {
                Period::Month
            };
            ((id, period), u32::try_from(n).unwrap_or(u32::MAX))
        })
        .collect())
}

/// Makes the counter of one window if it has none, counting the partner's deliveries in it
/// (returns and `lead`'s own delivery excluded). A concurrent maker of the same row wins; this
/// one then waits for it to commit and leaves it be. The count and the insert are two
/// statements, each routed to the org's shard on Citus (as one `INSERT … SELECT count(*)` it
/// would be planned in steps through the coordinator).
async fn ensure(
    tx: &mut Tx,
    ctx: &TenantContext,
    partner: PartnerId,
    (period, starts_at): (Period, Timestamp),
    lead: Option<LeadId>,
) -> Result<()> {
    let (used,): (i64,) = tx
        .fetch_one(
            "SELECT COUNT(*) FROM lead_deliveries
             WHERE org_id = $1 AND partner_id = $2 AND created_at >= $3 AND status <> 'returned'
             AND lead_id <> $4",
            args![
                ctx.org_id(),
                partner,
                starts_at,
                lead.map_or_else(Uuid::nil, |l| l.as_uuid()),
            ],
        )
        .await?;
    tx.execute(
        "INSERT INTO partner_cap_usage (org_id, partner_id, period, starts_at, used)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        args![ctx.org_id(), partner, period.as_str(), starts_at, used],
    )
    .await?;
    Ok(())
}

/// The Postgres statement adding one to each counter of the partner `p[1]` of org `p[0]` whose
/// period and start are in the arrays `p[2]`, `p[3]`, and which is below its cap in `p[4]`
/// (none: no limit); it answers the periods counted. The arrays are in window order (day, then
/// month), the order the rows are locked in.
#[cfg(feature = "postgres")]
fn bump_sql(p: [&str; 5]) -> String {
    format!(
        "UPDATE partner_cap_usage u SET used = u.used + 1
         FROM unnest({}::text[], {}::timestamptz[], {}::int8[]) AS w(period, starts_at, cap)
         WHERE u.org_id = {} AND u.partner_id = {} AND u.period = w.period
         AND u.starts_at = w.starts_at AND (w.cap IS NULL OR u.used < w.cap)
         RETURNING u.period",
        p[2], p[3], p[4], p[0], p[1]
    )
}

/// Postgres: the `WITH` item (`workos_slot`, answering the periods counted) that takes a slot
/// of each of the partner's capped windows at `at` that has a counter with room, its arguments
/// added to `args`; `None` for an uncapped partner. A window it did not count (no counter yet,
/// or full) is for [`finish_slot`].
#[cfg(feature = "postgres")]
pub(crate) fn slot_cte(
    args: &mut crate::db::PgArgs,
    ctx: &TenantContext,
    partner: &Partner,
    at: Timestamp,
) -> Result<Option<String>> {
    let windows = capped_windows(partner, at);
    if windows.is_empty() {
        return Ok(None);
    }
    let sql = bump_sql([
        &args.bind(ctx.org_id().as_uuid())?,
        &args.bind(partner.id.as_uuid())?,
        &args.bind(
            windows
                .iter()
                .map(|w| w.period.as_str())
                .collect::<Vec<_>>(),
        )?,
        &args.bind(windows.iter().map(|w| w.starts_at).collect::<Vec<_>>())?,
        &args.bind(
            windows
                .iter()
                .map(|w| Some(i64::from(w.cap)))
                .collect::<Vec<_>>(),
        )?,
    ]);
    Ok(Some(format!("workos_slot AS ({sql})")))
}

/// Finishes taking `lead`'s slot of `partner` at `at` after [`slot_cte`] counted the periods
/// `counted` (as it answered them): the windows it did not count are made if missing and
/// tried once more, as [`take_slot`] does. `false` when one is full.
#[cfg(feature = "postgres")]
pub(crate) async fn finish_slot(
    tx: &mut Tx,
    ctx: &TenantContext,
    partner: &Partner,
    lead: LeadId,
    at: Timestamp,
    counted: &[String],
) -> Result<bool> {
    let windows = capped_windows(partner, at);
    let counted: Vec<Period> = windows
        .iter()
        .map(|w| w.period)
        .filter(|p| counted.iter().any(|c| c == p.as_str()))
        .collect();
    finish(tx, ctx, partner.id, lead, (&windows, &counted), true).await
}

/// Adds one to each of the partner's counters of `windows` that exists and, with `enforce`,
/// is below its cap; answers the periods counted. One statement on Postgres.
async fn bump_all(
    tx: &mut Tx,
    ctx: &TenantContext,
    partner: PartnerId,
    windows: &[Window],
    enforce: bool,
) -> Result<Vec<Period>> {
    let cap = |w: &Window| enforce.then_some(i64::from(w.cap));
    #[cfg(feature = "postgres")]
    if let Some(pg) = tx.pg() {
        let periods: Vec<&str> = windows.iter().map(|w| w.period.as_str()).collect();
        let starts: Vec<Timestamp> = windows.iter().map(|w| w.starts_at).collect();
        let caps: Vec<Option<i64>> = windows.iter().map(cap).collect();
        static SQL: std::sync::LazyLock<String> =
            std::sync::LazyLock::new(|| bump_sql(["$1", "$2", "$3", "$4", "$5"]));
        let rows: Vec<(String,)> = sqlx::query_as(SQL.as_str())
            .bind(ctx.org_id().as_uuid())
            .bind(partner.as_uuid())
            .bind(&periods)
            .bind(&starts)
            .bind(&caps)
            .fetch_all(pg)
            .await
            .map_err(crate::db::db_error)?;
        return Ok(windows
            .iter()
            .map(|w| w.period)
            .filter(|p| rows.iter().any(|(r,)| r == p.as_str()))
            .collect());
    }
    let mut counted = Vec::new();
    for w in windows {
        let n = tx
            .execute(
                "UPDATE partner_cap_usage SET used = used + 1
                 WHERE org_id = $1 AND partner_id = $2 AND period = $3 AND starts_at = $4
                 AND ($5 IS NULL OR used < $5)",
                args![
                    ctx.org_id(),
                    partner,
                    w.period.as_str(),
                    w.starts_at,
                    cap(w)
                ],
            )
            .await?;
        if n == 1 {
            counted.push(w.period);
        }
    }
    Ok(counted)
}

/// Counts `lead`'s delivery to `partner` at `at` in each of the partner's capped windows.
/// With `enforce`, only when every window has room: `false` means one is full, and the caller
/// must roll back what this call counted (a savepoint) before choosing again. Without it (a
/// delivery recorded by hand), the delivery is counted whatever the caps.
///
/// A caller taking slots of several partners takes them in partner id order, so that two
/// transactions cannot each hold a counter the other waits for.
pub(crate) async fn take_slot(
    tx: &mut Tx,
    ctx: &TenantContext,
    partner: &Partner,
    lead: LeadId,
    at: Timestamp,
    enforce: bool,
) -> Result<bool> {
    let windows = capped_windows(partner, at);
    if windows.is_empty() {
        return Ok(true);
    }
    let counted = bump_all(tx, ctx, partner.id, &windows, enforce).await?;
    finish(tx, ctx, partner.id, lead, (&windows, &counted), enforce).await
}

/// Takes the slots of `windows` not `counted` yet: each counter is made if missing and tried
/// once more. `false` when one is full (with `enforce`).
async fn finish(
    tx: &mut Tx,
    ctx: &TenantContext,
    partner: PartnerId,
    lead: LeadId,
    (windows, counted): (&[Window], &[Period]),
    enforce: bool,
) -> Result<bool> {
    for w in windows.iter().filter(|w| !counted.contains(&w.period)) {
        // No counter yet, or full: make it if missing and try once more.
        ensure(tx, ctx, partner, (w.period, w.starts_at), Some(lead)).await?;
        if bump_all(tx, ctx, partner, std::slice::from_ref(w), enforce)
            .await?
            .is_empty()
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Gives back the slot of `delivery` (about to become `returned`) in the partner's capped
/// windows it was counted in (those around its creation, in the partner's time zone). Call
/// it before the status changes: a counter made here counts the delivery, then lets it go.
pub(crate) async fn release(
    tx: &mut Tx,
    ctx: &TenantContext,
    partner: &Partner,
    delivery: &LeadDelivery,
) -> Result<()> {
    for w in capped_windows(partner, delivery.created_at) {
        ensure(tx, ctx, partner.id, (w.period, w.starts_at), None).await?;
        tx.execute(
            "UPDATE partner_cap_usage SET used = used - 1
             WHERE org_id = $1 AND partner_id = $2 AND period = $3 AND starts_at = $4 AND used > 0",
            args![ctx.org_id(), partner.id, w.period.as_str(), w.starts_at],
        )
        .await?;
    }
    Ok(())
}

/// Drops the partner's counters, after a change to its caps or time zone: windows are
/// counted afresh from the deliveries when next used.
pub(crate) async fn forget(tx: &mut Tx, ctx: &TenantContext, partner: PartnerId) -> Result<()> {
    tx.execute(
        "DELETE FROM partner_cap_usage WHERE org_id = $1 AND partner_id = $2",
        args![ctx.org_id(), partner],
    )
    .await?;
    Ok(())
}
