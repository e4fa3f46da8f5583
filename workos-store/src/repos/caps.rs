//! Partner cap usage, kept as counters in `partner_cap_usage`: one row per partner and capped
//! window (its local day or month), holding the deliveries that count against the cap in that
//! window (every delivery but a returned one).
//!
//! - Routing reads the counters without locks to find the partners with room ([`usage`]), then,
//!   before it writes the routing, takes one slot of each capped window of the partners it
//!   chose ([`take_slot`]: `UPDATE … SET used = used + 1 WHERE used < cap`), one counter at a
//!   time in one global lock order (partner, then day before month, and all before the org's
//!   event stream head), each made when its turn comes if missing, so that routings cannot
//!   deadlock on the counters. Two routings racing for a partner's last slot queue on its
//!   counter row, and the second re-checks the cap against the first's committed count, so
//!   caps hold under any concurrency; the row lock is held from that statement to the commit,
//!   while the org's stream head is held only by the routing's write and the commit.
//! - A window's row is made when the first slot is taken in it, by counting the deliveries
//!   already in it ([`ensure`]), so counters need no backfill, and dropping a partner's rows
//!   ([`forget`], when its caps or time zone change) only makes the next routing count afresh.
//!   The count leaves out the lead being routed, whose delivery the same transaction may have
//!   written (a delivery recorded by hand) and is about to count. Until then, reading a window
//!   counts its deliveries.
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

#[cfg(feature = "postgres")]
mod postgres;

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

    /// The period stored as `s` (`day` or `month`).
    fn named(s: &str) -> Self {
        if s == "day" { Self::Day } else { Self::Month }
    }
}

/// A count read from the database, as a counter's value.
fn saturated(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
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

/// The partner's capped windows at `at`, in lock order (day, then month; see [`take_slot`]).
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
/// one without a counter by counting its deliveries (`postgres::read_counters`); elsewhere
/// those are absent, for [`count_windows`].
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
    #[cfg(feature = "postgres")]
    if let Some(pg) = tx.pg_path() {
        return postgres::read_counters(pg, ctx, &wanted).await;
    }
    // `used` read as a 64-bit integer on either backend (Postgres stores an `int4`), so the
    // parity test can run this statement on Postgres too.
    let mut sql = Sql::new(
        "SELECT partner_id, period, CAST(used AS BIGINT) FROM partner_cap_usage WHERE org_id = ",
    );
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
        .map(|(id, period, used)| ((id, Period::named(&period)), saturated(used)))
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
/// (returns and `lead`'s own delivery, if written already, excluded); answers whether this
/// call made it. A concurrent maker of the same row wins; this one then waits for it to
/// commit and leaves it be. The count and the insert are two statements, each routed to the
/// org's shard on Citus (as one `INSERT … SELECT count(*)` it would be planned in steps
/// through the coordinator).
async fn ensure(
    tx: &mut Tx,
    ctx: &TenantContext,
    partner: PartnerId,
    (period, starts_at): (Period, Timestamp),
    lead: Option<LeadId>,
) -> Result<bool> {
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
    let made = tx
        .execute(
            "INSERT INTO partner_cap_usage (org_id, partner_id, period, starts_at, used)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            args![ctx.org_id(), partner, period.as_str(), starts_at, used],
        )
        .await?;
    Ok(made == 1)
}

/// Checks the lock order of [`take_slot`]: no event of `tx` is written yet, so it holds no
/// event stream head while it locks counters.
fn before_stream_head(tx: &Tx) -> Result<()> {
    if tx.holds_stream_heads() {
        return Err(workos_core::Error::internal(
            "cap counters locked after the event stream head",
            std::io::Error::other("lock order"),
        ));
    }
    Ok(())
}

/// Adds one to the partner's counter of `window` if it exists and, with `enforce`, is below
/// its cap; answers whether it counted.
async fn bump(
    tx: &mut Tx,
    ctx: &TenantContext,
    partner: PartnerId,
    window: &Window,
    enforce: bool,
) -> Result<bool> {
    let cap = enforce.then_some(i64::from(window.cap));
    #[cfg(feature = "postgres")]
    if let Some(pg) = tx.pg_path() {
        return postgres::bump(pg, ctx, partner, window, cap).await;
    }
    let n = tx
        .execute(
            "UPDATE partner_cap_usage SET used = used + 1
             WHERE org_id = $1 AND partner_id = $2 AND period = $3 AND starts_at = $4
             AND ($5 IS NULL OR used < $5)",
            args![
                ctx.org_id(),
                partner,
                window.period.as_str(),
                window.starts_at,
                cap
            ],
        )
        .await?;
    Ok(n == 1)
}

/// Counts `lead`'s delivery to `partner` at `at` in each of the partner's capped windows.
/// With `enforce`, only when every window has room: `false` means one is full, and the caller
/// must roll back what this call counted (a savepoint) before choosing again. Without it (a
/// delivery recorded by hand), the delivery is counted whatever the caps.
///
/// Lock order: counters come after the rows the caller locked first (the lead, the
/// round-robin pointer, a delivery) and before the org's event stream head, which a
/// transaction locks when it appends its events: in its last write or at commit, never
/// before its slots (the caller must not have written events yet; a write that carries the
/// events recorded before it, on one Postgres node, must come after the slots; checked
/// here). Counters are locked in one global order: by partner id (a caller taking slots of
/// several partners takes them in that order), then period (day before month). A window's row
/// is made (if missing) only when its turn comes, just before it is counted; making a row is
/// a lock too (a second maker waits for the first to commit). So no two transactions can each
/// hold a row the other waits for, and the head, which every write of the org takes, is held
/// only by the last write and the commit, not by the slots' round trips.
///
/// Three orders this replaces: the slots taken after the write, behind the head (correct,
/// but every write of the org queued behind two more round trips); and two that deadlocked at
/// every window's start under load: a routing that took its slot inside its write statement
/// locked the counter before the event stream head (a statement's `WITH` items run in no set
/// order), while one that found the new window's row missing locked the head, then made the
/// row; and a routing whose snapshot predated a new day's row counted the month first and
/// then made the day, while one that saw the day locked day then month.
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
    before_stream_head(tx)?;
    take_windows(tx, ctx, partner.id, lead, &windows, enforce).await
}

/// Takes the slots of `windows`, one window at a time in lock order (see [`take_slot`]): each
/// is counted, or made if missing and counted then. `false` when one is full (with
/// `enforce`); the windows after it are left alone.
async fn take_windows(
    tx: &mut Tx,
    ctx: &TenantContext,
    partner: PartnerId,
    lead: LeadId,
    windows: &[Window],
    enforce: bool,
) -> Result<bool> {
    for w in windows {
        if bump(tx, ctx, partner, w, enforce).await? {
            continue;
        }
        // No counter yet, or full: make it if missing and try once more.
        ensure(tx, ctx, partner, (w.period, w.starts_at), Some(lead)).await?;
        if !bump(tx, ctx, partner, w, enforce).await? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Gives back the slot of `delivery` (just made `returned` in `tx`) in the partner's capped
/// windows it was counted in (those around its creation, in the partner's time zone). Call
/// it after the status change, before the events are written (counters are locked before the
/// event stream head; see [`take_slot`]): a counter made here counts the window's deliveries
/// without this one already, and is left as made.
pub(crate) async fn release(
    tx: &mut Tx,
    ctx: &TenantContext,
    partner: &Partner,
    delivery: &LeadDelivery,
) -> Result<()> {
    let windows = capped_windows(partner, delivery.created_at);
    if !windows.is_empty() {
        before_stream_head(tx)?;
    }
    for w in windows {
        if ensure(tx, ctx, partner.id, (w.period, w.starts_at), None).await? {
            continue;
        }
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
/// counted afresh from the deliveries when next used. Call it before the change's event is
/// written (counters are locked before the event stream head): on Postgres the rows are
/// locked in lock order (period, then start; see [`take_slot`]), as a `DELETE` would lock them
/// in whatever order its plan reads them.
pub(crate) async fn forget(tx: &mut Tx, ctx: &TenantContext, partner: PartnerId) -> Result<()> {
    before_stream_head(tx)?;
    #[cfg(feature = "postgres")]
    if tx.is_postgres() {
        let _: Vec<(i64,)> = tx
            .fetch_all(
                "SELECT used::int8 FROM partner_cap_usage WHERE org_id = $1 AND partner_id = $2
                 ORDER BY period, starts_at FOR UPDATE",
                args![ctx.org_id(), partner],
            )
            .await?;
    }
    tx.execute(
        "DELETE FROM partner_cap_usage WHERE org_id = $1 AND partner_id = $2",
        args![ctx.org_id(), partner],
    )
    .await?;
    Ok(())
}
