//! Cap windows rolling over under load: many routings at once in the first seconds of capped
//! partners' local day and month (partners in several time zones, so each rollover finds some
//! windows new and others running), as a busy server sees every midnight. Every routing must
//! succeed (no deadlock, no error of any kind), and the caps must hold exactly: a lead is
//! queued only when every partner is full, and no window holds more deliveries than its cap.

use std::sync::Arc;

use tokio::sync::Barrier;
use workos_core::domain::{
    Distribution, HttpUrl, LeadStatus, NewLead, NewPartner, Partner, PartnerDelivery,
    RoutingSettingsInput, RoutingStrategy, Timestamp, day_start, month_start, partner_timezone,
};
use workos_core::repo::{LeadDeliveryRepo, PartnerRepo, RoutingRepo};
use workos_core::tenant::TenantContext;
use workos_store::SqlStore;

use crate::common::*;

/// Routings started together at each rollover: more than the Postgres pool's connections, so
/// transactions queue on the same counter rows in every order the pool lets through.
const RACERS: usize = 40;

/// The partners' zones: one rollover instant each for a given local date (UTC+5:30 and
/// UTC+2 turn over before UTC, New York after).
const ZONES: [&str; 4] = ["Asia/Kolkata", "Europe/Berlin", "UTC", "America/New_York"];

fn at(s: &str) -> Timestamp {
    s.parse().expect("an RFC 3339 time")
}

/// The local midnight starting `date` (`YYYY-MM-DD`) in `zone`.
fn local_midnight(zone: &str, date: &str) -> Timestamp {
    let tz = partner_timezone(zone).expect("a known zone");
    // Noon UTC of the day before is within the day before everywhere in `ZONES`; midnight
    // is the start of the local day of noon UTC on `date` for all of them.
    day_start(tz, at(&format!("{date}T12:00:00Z")))
}

/// A partner in each of [`ZONES`], capped at `daily` (plus its index) a day and `monthly` a
/// month.
async fn capped_partners(
    store: &SqlStore,
    ctx: &TenantContext,
    exclusive: bool,
    (daily, monthly): (u32, u32),
) -> Vec<Partner> {
    let mut partners = Vec::new();
    for (i, zone) in ZONES.iter().enumerate() {
        let new = NewPartner {
            verticals: vec!["solar".into()],
            daily_cap: Some(daily + u32::try_from(i).expect("small")),
            monthly_cap: Some(monthly),
            timezone: (*zone).into(),
            exclusive,
            weight: 1,
            ..NewPartner::new(
                format!("Buyer in {zone}"),
                PartnerDelivery::Webhook {
                    url: HttpUrl::parse("https://buyer.example.com/leads").expect("url"),
                },
            )
        };
        partners.push(
            store
                .create_partner(ctx, new)
                .await
                .expect("create partner"),
        );
    }
    partners
}

/// Captures and routes `n` leads at once, the i-th at `when` plus `i % 3` seconds (the first
/// seconds of the window); panics on any error. Answers how many were queued.
async fn race(store: &SqlStore, ctx: &TenantContext, n: usize, when: Timestamp) -> usize {
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (store, ctx, barrier) = (store.clone(), ctx.clone(), barrier.clone());
            let at = when + chrono::Duration::seconds(i64::try_from(i % 3).expect("small"));
            tokio::spawn(async move {
                let new = NewLead {
                    email: Some(email(&format!(
                        "rollover-{}@example.com",
                        uuid::Uuid::now_v7().simple()
                    ))),
                    vertical: Some("solar".into()),
                    region: Some("CA".into()),
                    ..NewLead::default()
                };
                barrier.wait().await;
                store.capture_and_route_lead(&ctx, new, at).await
            })
        })
        .collect();
    let mut errors = Vec::new();
    let mut queued = 0;
    for h in handles {
        match h.await.expect("no panic") {
            Ok(r) if r.lead.status == LeadStatus::Queued => queued += 1,
            Ok(r) => assert_eq!(r.lead.status, LeadStatus::Routed, "{r:?}"),
            Err(e) => errors.push(format!("{e:?}")),
        }
    }
    assert!(
        errors.is_empty(),
        "{} of {n} routings at {when} failed: {errors:?}",
        errors.len()
    );
    queued
}

/// Each partner's deliveries in its local day and month at `when` (a window's deliveries are
/// those since its start: nothing is routed later than `when` in this test).
async fn windows_used(
    store: &SqlStore,
    ctx: &TenantContext,
    partners: &[Partner],
    when: Timestamp,
) -> Vec<(u32, u32)> {
    let mut used = Vec::new();
    for p in partners {
        let tz = partner_timezone(&p.timezone).expect("a known zone");
        let day = store
            .partner_usage(ctx, p.id, day_start(tz, when))
            .await
            .expect("usage");
        let month = store
            .partner_usage(ctx, p.id, month_start(tz, when))
            .await
            .expect("usage");
        used.push((day, month));
    }
    used
}

/// Races routings at each partner's rollover of `date` (in zone order, the order they come
/// in), after warming every window up the day before; checks the caps after every race.
async fn roll_over(
    store: &SqlStore,
    ctx: &TenantContext,
    partners: &[Partner],
    (day_before, date): (&str, &str),
) {
    // The day before: the counters of that day (and month) exist, as on a running server.
    let warm = at(&format!("{day_before}T12:00:00Z"));
    race(store, ctx, 8, warm).await;
    for zone in ZONES {
        let when = local_midnight(zone, date);
        let queued = race(store, ctx, RACERS, when).await;
        let last = when + chrono::Duration::seconds(2);
        let used = windows_used(store, ctx, partners, last).await;
        for (p, (day, month)) in partners.iter().zip(&used) {
            let (daily, monthly) = (p.daily_cap.expect("capped"), p.monthly_cap.expect("capped"));
            assert!(
                *day <= daily && *month <= monthly,
                "{} over its caps at {when}: {day}/{daily} today, {month}/{monthly} this month",
                p.name
            );
            if queued > 0 {
                assert!(
                    *day == daily || *month == monthly,
                    "{queued} leads queued at {when} while {} had room: {day}/{daily} today, \
                     {month}/{monthly} this month",
                    p.name
                );
            }
        }
        // The partner whose day just began took leads (it had a whole day's cap free).
        let rolled = partners
            .iter()
            .position(|p| p.timezone == zone)
            .expect("a partner in the zone");
        assert!(used[rolled].0 > 0, "{zone}'s new day got no lead at {when}");
    }
}

contract_test!(caps_hold_without_deadlocks_as_windows_roll_over);
/// Exclusive routing (each lead to one partner, weighted among those with room) and shared
/// routing (each lead to up to two partners, whose slots one transaction takes together),
/// with caps that fill during a race (routing takes a savepoint before its slots) and caps
/// with room to spare (an exclusive routing takes its slot in its write), each across a day's
/// rollover and a month's.
async fn caps_hold_without_deadlocks_as_windows_roll_over(store: &SqlStore) {
    for (name, exclusive, caps) in [
        ("Exclusive, roomy caps", true, (1000, 100_000)),
        ("Shared, roomy caps", false, (1000, 100_000)),
        ("Exclusive, tight caps", true, (5, 60)),
        ("Shared, tight caps", false, (5, 60)),
    ] {
        let t = Tenant::new(store, name).await;
        let ctx = &t.ctx;
        let settings = if exclusive {
            RoutingSettingsInput {
                strategy: RoutingStrategy::Weighted,
                ..RoutingSettingsInput::default()
            }
        } else {
            RoutingSettingsInput {
                distribution: Distribution::Shared,
                max_partners: 2,
                ..RoutingSettingsInput::default()
            }
        };
        store
            .put_routing_settings(ctx, None, settings)
            .await
            .expect("put settings");
        let partners = capped_partners(store, ctx, exclusive, caps).await;
        // A day's rollover within April, then the rollover to May.
        roll_over(store, ctx, &partners, ("2026-04-14", "2026-04-15")).await;
        roll_over(store, ctx, &partners, ("2026-04-30", "2026-05-01")).await;
    }
}
