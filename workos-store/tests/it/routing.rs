//! Lead routing: caps under concurrency (the key property), caps counted in the partner's time
//! zone, strategies (priority fall-through, weighted, round robin), shared distribution, queue
//! versus unrouted, duplicates, partner callbacks and the return window, reporting, lead forms,
//! settings, roles and cross-tenant isolation.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Duration;
use tokio::sync::Barrier;
use workos_core::Error;
use workos_core::domain::{
    DedupePolicy, DeliveryCallback, Distribution, HttpUrl, LeadDeliveryStatus as DS, LeadFormPatch,
    LeadStatus, NewLead, NewLeadForm, NewPartner, Partner, PartnerDelivery, PartnerPatch, Patch,
    ReturnReason, RoutedLead, RoutingSettingsInput, RoutingStrategy, Schedule, TimeRange,
    Timestamp, WhenFull, now,
};
use workos_core::events::types;
use workos_core::ids::{LeadDeliveryId, LeadId, OrgId, PartnerId};
use workos_core::repo::{LeadDeliveryRepo, LeadFormRepo, LeadRepo, PartnerRepo, RoutingRepo};
use workos_core::tenant::{Role, TenantContext};
use workos_store::SqlStore;

use crate::common::*;

fn at(s: &str) -> Timestamp {
    s.parse().expect("an RFC 3339 time")
}

fn partner(name: &str) -> NewPartner {
    NewPartner {
        verticals: vec!["solar".into()],
        ..NewPartner::new(
            name,
            PartnerDelivery::Webhook {
                url: HttpUrl::parse("https://buyer.example.com/leads").expect("url"),
            },
        )
    }
}

async fn create_partner(store: &SqlStore, ctx: &TenantContext, new: NewPartner) -> Partner {
    store
        .create_partner(ctx, new)
        .await
        .expect("create partner")
}

/// A solar lead with a unique email, captured with dedupe off at `when`.
async fn new_lead(store: &SqlStore, ctx: &TenantContext, n: usize, when: Timestamp) -> LeadId {
    let new = NewLead {
        email: Some(email(&format!(
            "lead{n}-{}@example.com",
            uuid::Uuid::now_v7().simple()
        ))),
        vertical: Some("solar".into()),
        region: Some("CA".into()),
        ..NewLead::default()
    };
    store
        .capture_lead(ctx, new, &DedupePolicy::off(), when)
        .await
        .expect("capture")
        .lead
        .id
}

async fn route(store: &SqlStore, ctx: &TenantContext, id: LeadId, when: Timestamp) -> RoutedLead {
    store.route_lead(ctx, id, when).await.expect("route lead")
}

/// Captures and routes a lead at `when`; returns the partner chosen (if any) and the status.
async fn capture_and_route(
    store: &SqlStore,
    ctx: &TenantContext,
    n: usize,
    when: Timestamp,
) -> (Option<PartnerId>, LeadStatus) {
    let id = new_lead(store, ctx, n, when).await;
    let r = route(store, ctx, id, when).await;
    (r.deliveries.first().map(|d| d.partner_id), r.lead.status)
}

async fn set_strategy(store: &SqlStore, ctx: &TenantContext, input: RoutingSettingsInput) {
    store
        .put_routing_settings(ctx, None, input)
        .await
        .expect("put settings");
}

// ---------------------------------------------------------------------------------------------
// Caps

/// Captures `racers` leads, then routes them all at once (released together by a barrier);
/// the handles answer each routing.
async fn race_routings(
    store: &SqlStore,
    ctx: &TenantContext,
    racers: usize,
    when: Timestamp,
) -> Vec<tokio::task::JoinHandle<workos_core::Result<RoutedLead>>> {
    let mut leads = Vec::new();
    for i in 0..racers {
        leads.push(new_lead(store, ctx, i, when).await);
    }
    let barrier = Arc::new(Barrier::new(racers));
    leads
        .into_iter()
        .map(|id| {
            let (store, ctx, barrier) = (store.clone(), ctx.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.route_lead(&ctx, id, when).await
            })
        })
        .collect()
}

contract_test!(concurrent_routings_never_exceed_a_daily_cap);
async fn concurrent_routings_never_exceed_a_daily_cap(store: &SqlStore) {
    const RACERS: usize = 20;
    let t = Tenant::new(store, "Caps").await;
    let ctx = t.user(store, Role::Member).await;
    let p = create_partner(
        store,
        &t.ctx,
        NewPartner {
            daily_cap: Some(5),
            ..partner("Capped")
        },
    )
    .await;
    let when = now();
    let handles = race_routings(store, &ctx, RACERS, when).await;
    let mut routed = 0;
    let mut queued = 0;
    for h in handles {
        let r = h.await.expect("no panic").expect("routing succeeds");
        match r.lead.status {
            LeadStatus::Routed => {
                assert_eq!(r.deliveries.len(), 1);
                assert_eq!(r.deliveries[0].partner_id, p.id);
                routed += 1;
            }
            LeadStatus::Queued => {
                assert!(r.deliveries.is_empty());
                queued += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(
        (routed, queued),
        (5, RACERS - 5),
        "exactly the cap is routed"
    );
    let deliveries = store
        .list_partner_deliveries(&ctx, p.id, Default::default(), page(200))
        .await
        .unwrap()
        .data;
    assert_eq!(deliveries.len(), 5, "exactly 5 deliveries were recorded");
    assert!(deliveries.iter().all(|d| d.status == DS::Pending));
    let start = when - Duration::hours(30);
    assert_eq!(store.partner_usage(&ctx, p.id, start).await.unwrap(), 5);
}

contract_test!(concurrent_routings_fall_through_capped_partners_exactly);
/// Routing locks only the partner it chose; when that one filled meanwhile it starts over with
/// every capped partner locked. Two capped partners at two priorities under 20 racers: each gets
/// exactly its cap, the rest wait, and nobody deadlocks.
async fn concurrent_routings_fall_through_capped_partners_exactly(store: &SqlStore) {
    const RACERS: usize = 20;
    let t = Tenant::new(store, "Fall-through caps").await;
    let ctx = t.user(store, Role::Member).await;
    let high = create_partner(
        store,
        &t.ctx,
        NewPartner {
            daily_cap: Some(3),
            priority: 10,
            ..partner("High")
        },
    )
    .await;
    let low = create_partner(
        store,
        &t.ctx,
        NewPartner {
            daily_cap: Some(4),
            priority: 1,
            ..partner("Low")
        },
    )
    .await;
    let when = now();
    let handles = race_routings(store, &ctx, RACERS, when).await;
    let (mut to_high, mut to_low, mut queued) = (0, 0, 0);
    for h in handles {
        let r = h.await.expect("no panic").expect("routing succeeds");
        match (r.lead.status, r.deliveries.as_slice()) {
            (LeadStatus::Routed, [d]) if d.partner_id == high.id => to_high += 1,
            (LeadStatus::Routed, [d]) if d.partner_id == low.id => to_low += 1,
            (LeadStatus::Queued, []) => queued += 1,
            (status, deliveries) => panic!("unexpected {status} with {deliveries:?}"),
        }
    }
    assert_eq!((to_high, to_low, queued), (3, 4, RACERS - 7));
    let start = when - Duration::hours(30);
    assert_eq!(store.partner_usage(&ctx, high.id, start).await.unwrap(), 3);
    assert_eq!(store.partner_usage(&ctx, low.id, start).await.unwrap(), 4);
    // A choice undone because its partner filled meanwhile leaves no event behind.
    assert_eq!(count_events(store, &t.ctx, types::LEAD_ROUTED).await, 7);
    assert_eq!(
        count_events(store, &t.ctx, types::LEAD_STATUS_CHANGED).await,
        RACERS
    );
}

/// Captures and routes a solar lead from each of `emails` at once (released together by a
/// barrier); answers each lead's status.
async fn race_captures(
    store: &SqlStore,
    ctx: &TenantContext,
    emails: Vec<String>,
) -> Vec<LeadStatus> {
    let barrier = Arc::new(Barrier::new(emails.len()));
    let handles: Vec<_> = emails
        .into_iter()
        .map(|address| {
            let (store, ctx, barrier) = (store.clone(), ctx.clone(), barrier.clone());
            tokio::spawn(async move {
                let new = NewLead {
                    email: Some(email(&address)),
                    vertical: Some("solar".into()),
                    region: Some("CA".into()),
                    ..NewLead::default()
                };
                barrier.wait().await;
                store.capture_and_route_lead(&ctx, new, now()).await
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for h in handles {
        statuses.push(
            h.await
                .expect("no panic")
                .expect("capture and route")
                .lead
                .status,
        );
    }
    statuses
}

contract_test!(concurrent_captures_and_routings_keep_every_event);
/// Capture and routing in one transaction under a race for two capped partners: routings whose
/// first choice filled meanwhile roll back to a savepoint and choose again, and the capture's
/// own events, written before that savepoint was rolled back to, are still there.
async fn concurrent_captures_and_routings_keep_every_event(store: &SqlStore) {
    const RACERS: usize = 16;
    let t = Tenant::new(store, "Capture races").await;
    let ctx = t.user(store, Role::Member).await;
    for (name, cap, priority) in [("High", 2, 10), ("Low", 3, 1)] {
        create_partner(
            store,
            &t.ctx,
            NewPartner {
                daily_cap: Some(cap),
                priority,
                ..partner(name)
            },
        )
        .await;
    }
    let emails = (0..RACERS)
        .map(|n| format!("racer{n}@example.com"))
        .collect();
    let statuses = race_captures(store, &ctx, emails).await;
    let routed = statuses
        .iter()
        .filter(|s| **s == LeadStatus::Routed)
        .count();
    assert_eq!(routed, 5, "exactly the two caps");
    assert_eq!(
        count_events(store, &t.ctx, types::LEAD_CREATED).await,
        RACERS
    );
    assert_eq!(
        count_events(store, &t.ctx, types::PERSON_CREATED).await,
        RACERS
    );
    assert_eq!(count_events(store, &t.ctx, types::LEAD_ROUTED).await, 5);
    assert_eq!(
        count_events(store, &t.ctx, types::LEAD_STATUS_CHANGED).await,
        RACERS
    );
}

contract_test!(concurrent_captures_of_one_contact_route_once);
/// The same contact captured and routed by several requests at once: the contact locks taken
/// with the settings read make all but one a duplicate, and only that one is routed.
async fn concurrent_captures_of_one_contact_route_once(store: &SqlStore) {
    const RACERS: usize = 8;
    let t = Tenant::new(store, "Same contact").await;
    let ctx = t.user(store, Role::Member).await;
    create_partner(store, &t.ctx, partner("Buyer")).await;
    let statuses = race_captures(store, &ctx, vec!["twice@example.com".into(); RACERS]).await;
    let routed = statuses
        .iter()
        .filter(|s| **s == LeadStatus::Routed)
        .count();
    let duplicates = statuses
        .iter()
        .filter(|s| **s == LeadStatus::Duplicate)
        .count();
    assert_eq!((routed, duplicates), (1, RACERS - 1), "{statuses:?}");
    assert_eq!(count_events(store, &t.ctx, types::LEAD_ROUTED).await, 1);
}

async fn deliver_then_return(store: &SqlStore, ctx: &TenantContext, id: LeadDeliveryId) {
    store
        .update_delivery(ctx, id, DS::Delivered, None, None)
        .await
        .unwrap();
    store
        .update_delivery(ctx, id, DS::Returned, None, Some(ReturnReason::Other))
        .await
        .unwrap();
}

contract_test!(caps_count_deliveries_made_before_the_cap_and_by_hand);
/// Cap usage is kept in counters made on first use: a cap set in the middle of a day counts the
/// deliveries already made that day, deliveries recorded by hand count too, a cap change
/// recounts, and a return gives its slot back.
async fn caps_count_deliveries_made_before_the_cap_and_by_hand(store: &SqlStore) {
    let t = Tenant::new(store, "Counters").await;
    let ctx = &t.ctx;
    let p = create_partner(store, ctx, partner("Uncapped at first")).await;
    let when = now();
    for n in 0..3 {
        assert_eq!(
            capture_and_route(store, ctx, n, when).await,
            (Some(p.id), LeadStatus::Routed)
        );
    }
    // One more by hand, outside routing.
    let by_hand = new_lead(store, ctx, 3, when).await;
    store
        .record_delivery(ctx, by_hand, p.id, Some("manual".into()), 500)
        .await
        .unwrap();

    // A daily cap of 4 set now: the four deliveries of today already fill it.
    let cap = |n: u32| PartnerPatch {
        daily_cap: Patch::Set(n),
        ..PartnerPatch::default()
    };
    store.update_partner(ctx, p.id, cap(4)).await.unwrap();
    assert_eq!(
        capture_and_route(store, ctx, 4, when).await,
        (None, LeadStatus::Queued)
    );
    // Raised to 6: two more fit, then it is full again.
    store.update_partner(ctx, p.id, cap(6)).await.unwrap();
    for n in 5..7 {
        assert_eq!(
            capture_and_route(store, ctx, n, when).await,
            (Some(p.id), LeadStatus::Routed)
        );
    }
    assert_eq!(
        capture_and_route(store, ctx, 7, when).await,
        (None, LeadStatus::Queued)
    );
    // A delivery recorded by hand is never refused, and counts: after returning one
    // delivery the partner is still full (7 counted, 1 returned, cap 6).
    let extra = new_lead(store, ctx, 8, when).await;
    let manual = store
        .record_delivery(ctx, extra, p.id, None, 500)
        .await
        .expect("a delivery recorded by hand is not refused for the cap");
    deliver_then_return(store, ctx, manual.id).await;
    assert_eq!(
        capture_and_route(store, ctx, 9, when).await,
        (None, LeadStatus::Queued)
    );
    // One more return frees a slot.
    let first = store
        .list_partner_deliveries(ctx, p.id, Default::default(), Default::default())
        .await
        .unwrap()
        .data
        .into_iter()
        .find(|d| d.status == DS::Pending)
        .expect("a pending delivery");
    deliver_then_return(store, ctx, first.id).await;
    assert_eq!(
        capture_and_route(store, ctx, 10, when).await,
        (Some(p.id), LeadStatus::Routed)
    );
    assert_eq!(
        store
            .partner_usage(ctx, p.id, when - Duration::hours(24))
            .await
            .unwrap(),
        6,
        "the counters agree with the deliveries"
    );
    // Without a cap nothing is counted; capped again, the day is counted afresh (8 now).
    let clear = PartnerPatch {
        daily_cap: Patch::Clear,
        ..PartnerPatch::default()
    };
    store.update_partner(ctx, p.id, clear).await.unwrap();
    for n in 11..13 {
        assert_eq!(
            capture_and_route(store, ctx, n, when).await,
            (Some(p.id), LeadStatus::Routed)
        );
    }
    store.update_partner(ctx, p.id, cap(8)).await.unwrap();
    assert_eq!(
        capture_and_route(store, ctx, 13, when).await,
        (None, LeadStatus::Queued)
    );
}

contract_test!(daily_caps_reset_at_the_partners_local_midnight);
async fn daily_caps_reset_at_the_partners_local_midnight(store: &SqlStore) {
    let t = Tenant::new(store, "Time zones").await;
    let ctx = &t.ctx;
    let ny = create_partner(
        store,
        ctx,
        NewPartner {
            daily_cap: Some(2),
            timezone: "America/New_York".into(),
            ..partner("New York")
        },
    )
    .await;
    // 2026-03-10 03:30 UTC is 23:30 on March 9 in New York (EDT, UTC-4).
    let late = at("2026-03-10T03:30:00Z");
    assert_eq!(
        capture_and_route(store, ctx, 1, late).await,
        (Some(ny.id), LeadStatus::Routed)
    );
    assert_eq!(
        capture_and_route(store, ctx, 2, late).await,
        (Some(ny.id), LeadStatus::Routed)
    );
    let (none, status) = capture_and_route(store, ctx, 3, late).await;
    assert_eq!(
        (none, status),
        (None, LeadStatus::Queued),
        "capped for March 9"
    );
    // Just after midnight in New York (still March 10 03:59 UTC would be the same NY day).
    let still = at("2026-03-10T03:59:59Z");
    assert_eq!(
        capture_and_route(store, ctx, 4, still).await.1,
        LeadStatus::Queued
    );
    let fresh = at("2026-03-10T04:00:01Z");
    // The queued leads come first when a job routes them: two fit in the new day.
    let routed = store.route_queued_leads(ctx, fresh, 10).await.unwrap();
    let statuses: Vec<LeadStatus> = routed.iter().map(|r| r.lead.status).collect();
    assert_eq!(statuses, [LeadStatus::Routed, LeadStatus::Routed]);
    assert_eq!(
        capture_and_route(store, ctx, 5, fresh).await.1,
        LeadStatus::Queued
    );

    // Monthly caps count from the 1st in the partner's zone too.
    let t2 = Tenant::new(store, "Months").await;
    let ctx = &t2.ctx;
    let monthly = create_partner(
        store,
        ctx,
        NewPartner {
            monthly_cap: Some(1),
            timezone: "America/New_York".into(),
            ..partner("Monthly")
        },
    )
    .await;
    // 2026-04-01 03:30 UTC is still March 31 in New York.
    let march = at("2026-04-01T03:30:00Z");
    assert_eq!(
        capture_and_route(store, ctx, 1, march).await.0,
        Some(monthly.id)
    );
    assert_eq!(
        capture_and_route(store, ctx, 2, march).await.1,
        LeadStatus::Queued
    );
    let april = at("2026-04-01T04:05:00Z");
    assert_eq!(
        capture_and_route(store, ctx, 3, april).await.0,
        Some(monthly.id)
    );

    // A UTC partner's day did not turn over at New York's midnight.
    let t3 = Tenant::new(store, "UTC").await;
    let ctx = &t3.ctx;
    let utc = create_partner(
        store,
        ctx,
        NewPartner {
            daily_cap: Some(1),
            ..partner("UTC")
        },
    )
    .await;
    assert_eq!(capture_and_route(store, ctx, 1, late).await.0, Some(utc.id));
    assert_eq!(
        capture_and_route(store, ctx, 2, fresh).await.1,
        LeadStatus::Queued
    );
}

// ---------------------------------------------------------------------------------------------
// Strategies

contract_test!(priority_falls_through_capped_and_paused_partners);
async fn priority_falls_through_capped_and_paused_partners(store: &SqlStore) {
    let t = Tenant::new(store, "Priority").await;
    let ctx = &t.ctx;
    let top = create_partner(
        store,
        ctx,
        NewPartner {
            priority: 10,
            daily_cap: Some(1),
            ..partner("Top")
        },
    )
    .await;
    let paused = create_partner(
        store,
        ctx,
        NewPartner {
            priority: 7,
            active: false,
            ..partner("Paused")
        },
    )
    .await;
    let other_vertical = create_partner(
        store,
        ctx,
        NewPartner {
            priority: 8,
            verticals: vec!["roofing".into()],
            ..partner("Roofing")
        },
    )
    .await;
    let out_of_area = create_partner(
        store,
        ctx,
        NewPartner {
            priority: 9,
            regions: vec!["TX".into()],
            ..partner("Texas")
        },
    )
    .await;
    let second = create_partner(
        store,
        ctx,
        NewPartner {
            priority: 5,
            ..partner("Second")
        },
    )
    .await;
    let when = now();
    assert_eq!(capture_and_route(store, ctx, 1, when).await.0, Some(top.id));
    for n in 2..5 {
        let (p, status) = capture_and_route(store, ctx, n, when).await;
        assert_eq!((p, status), (Some(second.id), LeadStatus::Routed));
    }
    for skipped in [paused.id, other_vertical.id, out_of_area.id] {
        let d = store
            .list_partner_deliveries(ctx, skipped, Default::default(), page(10))
            .await
            .unwrap();
        assert!(d.data.is_empty());
    }
    // The delivery carries the partner's price and the rule that chose it.
    let routed = store
        .list_partner_deliveries(ctx, second.id, Default::default(), page(10))
        .await
        .unwrap()
        .data;
    assert_eq!(routed[0].rule.as_deref(), Some("priority:exclusive"));
}

contract_test!(weighted_routing_follows_the_weights);
async fn weighted_routing_follows_the_weights(store: &SqlStore) {
    const LEADS: usize = 2000;
    let t = Tenant::new(store, "Weighted").await;
    let ctx = &t.ctx;
    set_strategy(
        store,
        ctx,
        RoutingSettingsInput {
            strategy: RoutingStrategy::Weighted,
            ..RoutingSettingsInput::default()
        },
    )
    .await;
    // Priorities are ignored by the weighted strategy.
    let light = create_partner(
        store,
        ctx,
        NewPartner {
            weight: 1,
            priority: 100,
            ..partner("Light")
        },
    )
    .await;
    let heavy = create_partner(
        store,
        ctx,
        NewPartner {
            weight: 3,
            ..partner("Heavy")
        },
    )
    .await;
    let when = now();
    // Four workers at once, to keep the run short on Postgres.
    let handles: Vec<_> = (0..4)
        .map(|w| {
            let (store, ctx) = (store.clone(), ctx.clone());
            tokio::spawn(async move {
                let mut counts: HashMap<PartnerId, usize> = HashMap::new();
                for i in (w..LEADS).step_by(4) {
                    let (p, _) = capture_and_route(&store, &ctx, i, when).await;
                    *counts.entry(p.expect("routed")).or_default() += 1;
                }
                counts
            })
        })
        .collect();
    let mut counts: HashMap<PartnerId, usize> = HashMap::new();
    for h in handles {
        for (p, n) in h.await.unwrap() {
            *counts.entry(p).or_default() += n;
        }
    }
    assert_eq!(counts.values().sum::<usize>(), LEADS);
    #[allow(clippy::cast_precision_loss)]
    let share = counts.get(&light.id).copied().unwrap_or(0) as f64 / LEADS as f64;
    assert!(
        (share - 0.25).abs() <= 0.04,
        "weights 1:3 give the light partner 25% ± 4%, got {share:.3}"
    );
    assert!(counts.contains_key(&heavy.id));
}

contract_test!(round_robin_cycles_through_partners);
async fn round_robin_cycles_through_partners(store: &SqlStore) {
    let t = Tenant::new(store, "Round robin").await;
    let ctx = &t.ctx;
    set_strategy(
        store,
        ctx,
        RoutingSettingsInput {
            strategy: RoutingStrategy::RoundRobin,
            ..RoutingSettingsInput::default()
        },
    )
    .await;
    let mut ids = Vec::new();
    for (i, priority) in [0, 50, 10].into_iter().enumerate() {
        ids.push(
            create_partner(
                store,
                ctx,
                NewPartner {
                    priority,
                    ..partner(&format!("P{i}"))
                },
            )
            .await
            .id,
        );
    }
    ids.sort();
    let when = now();
    let mut seen = Vec::new();
    for n in 0..7 {
        seen.push(
            capture_and_route(store, ctx, n, when)
                .await
                .0
                .expect("routed"),
        );
    }
    assert_eq!(
        seen,
        [ids[0], ids[1], ids[2], ids[0], ids[1], ids[2], ids[0]],
        "each partner in turn, in id order, whatever the priority"
    );
    // A paused partner is skipped without breaking the cycle.
    store
        .update_partner(
            ctx,
            ids[1],
            PartnerPatch {
                active: Some(false),
                ..PartnerPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(capture_and_route(store, ctx, 8, when).await.0, Some(ids[2]));
    assert_eq!(capture_and_route(store, ctx, 9, when).await.0, Some(ids[0]));
}

contract_test!(shared_leads_go_to_several_non_exclusive_partners);
async fn shared_leads_go_to_several_non_exclusive_partners(store: &SqlStore) {
    let t = Tenant::new(store, "Shared").await;
    let ctx = &t.ctx;
    set_strategy(
        store,
        ctx,
        RoutingSettingsInput {
            distribution: Distribution::Shared,
            max_partners: 2,
            ..RoutingSettingsInput::default()
        },
    )
    .await;
    let exclusive = create_partner(
        store,
        ctx,
        NewPartner {
            priority: 100,
            ..partner("Exclusive")
        },
    )
    .await;
    let mut shared = Vec::new();
    for (i, priority) in [30, 20, 10].into_iter().enumerate() {
        shared.push(
            create_partner(
                store,
                ctx,
                NewPartner {
                    priority,
                    exclusive: false,
                    price_minor: 1000 + i64::from(priority),
                    ..partner(&format!("Shared {i}"))
                },
            )
            .await,
        );
    }
    let id = new_lead(store, ctx, 1, now()).await;
    let r = route(store, ctx, id, now()).await;
    assert_eq!(r.lead.status, LeadStatus::Routed);
    let got: Vec<PartnerId> = r.deliveries.iter().map(|d| d.partner_id).collect();
    assert_eq!(
        got,
        [shared[0].id, shared[1].id],
        "the top two shared partners"
    );
    assert!(!got.contains(&exclusive.id));
    assert_eq!(r.deliveries[0].price_minor, 1030);
    assert_eq!(r.deliveries[0].rule.as_deref(), Some("priority:shared"));
    let listed = store.list_lead_deliveries(ctx, id, page(10)).await.unwrap();
    assert_eq!(listed.data.len(), 2);
}

// ---------------------------------------------------------------------------------------------
// When full, duplicates

contract_test!(full_partners_queue_or_unroute_leads);
async fn full_partners_queue_or_unroute_leads(store: &SqlStore) {
    let t = Tenant::new(store, "Full").await;
    let ctx = &t.ctx;
    let when = now();
    // Nobody buys at all: unrouted, even with `queue`.
    assert_eq!(
        capture_and_route(store, ctx, 0, when).await.1,
        LeadStatus::Unrouted
    );

    let p = create_partner(
        store,
        ctx,
        NewPartner {
            daily_cap: Some(1),
            ..partner("Small")
        },
    )
    .await;
    assert_eq!(capture_and_route(store, ctx, 1, when).await.0, Some(p.id));
    let queued = new_lead(store, ctx, 2, when).await;
    let r = route(store, ctx, queued, when).await;
    assert_eq!(r.lead.status, LeadStatus::Queued);
    let changed = one_event(store, ctx, types::LEAD_STATUS_CHANGED, queued).await;
    assert_eq!(changed.data["status"], "queued");
    // Still full: routing it again keeps it queued.
    assert!(
        store.route_queued_leads(ctx, when, 10).await.unwrap()[0]
            .deliveries
            .is_empty()
    );
    // Room again (the cap is raised): the queued lead is routed.
    store
        .update_partner(
            ctx,
            p.id,
            PartnerPatch {
                daily_cap: Patch::Set(5),
                ..PartnerPatch::default()
            },
        )
        .await
        .unwrap();
    let routed = store.route_queued_leads(ctx, when, 10).await.unwrap();
    assert_eq!(routed.len(), 1);
    assert_eq!(routed[0].lead.id, queued);
    assert_eq!(routed[0].lead.status, LeadStatus::Routed);
    // A routed lead is past routing.
    expect_conflict(store.route_lead(ctx, queued, when).await, "status");

    // With `unrouted`, a full partner gives up on the lead.
    set_strategy(
        store,
        ctx,
        RoutingSettingsInput {
            when_full: WhenFull::Unrouted,
            ..RoutingSettingsInput::default()
        },
    )
    .await;
    store
        .update_partner(
            ctx,
            p.id,
            PartnerPatch {
                active: Some(false),
                ..PartnerPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        capture_and_route(store, ctx, 3, when).await.1,
        LeadStatus::Unrouted
    );
}

contract_test!(capture_and_route_is_one_transaction);
/// Capture and routing together: the lead is answered routed with its delivery, a repeat is a
/// duplicate with no delivery (the default settings dedupe on email), and a lead that fails
/// validation leaves nothing behind.
async fn capture_and_route_is_one_transaction(store: &SqlStore) {
    let t = Tenant::new(store, "Capture and route").await;
    let ctx = &t.ctx;
    let p = create_partner(store, ctx, partner("Buyer")).await;
    let new = NewLead {
        email: Some(email("once@example.com")),
        vertical: Some(" Solar ".into()),
        region: Some("CA".into()),
        ..NewLead::default()
    };
    let routed = store
        .capture_and_route_lead(ctx, new.clone(), now())
        .await
        .unwrap();
    assert_eq!(routed.lead.status, LeadStatus::Routed);
    assert_eq!(routed.lead.vertical.as_deref(), Some("solar"));
    assert_eq!(routed.deliveries.len(), 1);
    assert_eq!(routed.deliveries[0].partner_id, p.id);
    let stored = store.get_lead(ctx, routed.lead.id).await.unwrap();
    assert_eq!(stored, routed.lead, "the row is the lead as answered");
    // The lead is written once, routed, yet its history reads as before: created `new`, routed
    // to the partner, then moved to `routed`.
    let created = one_event(store, ctx, types::LEAD_CREATED, routed.lead.id).await;
    assert_eq!(created.data["status"], "new");
    let delivery = one_event(store, ctx, types::LEAD_ROUTED, routed.deliveries[0].id).await;
    assert_eq!(delivery.data["lead_id"], json_id(routed.lead.id));
    let changed = one_event(store, ctx, types::LEAD_STATUS_CHANGED, routed.lead.id).await;
    assert_eq!(changed.data["status"], "routed");
    let person = routed.lead.person_id.expect("linked to a person");
    one_event(store, ctx, types::PERSON_CREATED, person).await;

    // With nobody buying the vertical, the lead is written with that outcome and no delivery.
    let waiting = store
        .capture_and_route_lead(
            ctx,
            NewLead {
                email: Some(email("waits@example.com")),
                vertical: Some("roofing".into()),
                ..NewLead::default()
            },
            now(),
        )
        .await
        .unwrap();
    assert!(waiting.deliveries.is_empty());
    assert_eq!(
        store.get_lead(ctx, waiting.lead.id).await.unwrap(),
        waiting.lead
    );

    let again = store.capture_and_route_lead(ctx, new, now()).await.unwrap();
    assert_eq!(again.lead.status, LeadStatus::Duplicate);
    assert_eq!(again.lead.duplicate_of, Some(routed.lead.id));
    assert!(again.deliveries.is_empty());

    let before = store
        .list_leads(ctx, Default::default(), Default::default())
        .await
        .unwrap()
        .data
        .len();
    let bad = NewLead {
        vertical: Some("x".repeat(101)),
        ..NewLead::default()
    };
    match store.capture_and_route_lead(ctx, bad, now()).await {
        Err(Error::Validation(e)) => assert!(e.to_string().contains("vertical"), "{e}"),
        other => panic!("expected a validation error, got {other:?}"),
    }
    let after = store
        .list_leads(ctx, Default::default(), Default::default())
        .await
        .unwrap()
        .data
        .len();
    assert_eq!(before, after, "nothing stored");
}

contract_test!(duplicates_are_never_routed);
async fn duplicates_are_never_routed(store: &SqlStore) {
    let t = Tenant::new(store, "Dupes").await;
    let ctx = &t.ctx;
    let p = create_partner(store, ctx, partner("Any")).await;
    let new = NewLead {
        email: Some(email("dup@example.com")),
        vertical: Some("solar".into()),
        ..NewLead::default()
    };
    let first = store
        .capture_lead(ctx, new.clone(), &DedupePolicy::default(), now())
        .await
        .unwrap();
    let second = store
        .capture_lead(ctx, new, &DedupePolicy::default(), now())
        .await
        .unwrap();
    assert!(second.is_duplicate());
    let r = route(store, ctx, second.lead.id, now()).await;
    assert_eq!(r.lead.status, LeadStatus::Duplicate);
    assert_eq!(r.lead.duplicate_of, Some(first.lead.id));
    assert!(r.deliveries.is_empty());
    let routed = route(store, ctx, first.lead.id, now()).await;
    assert_eq!(routed.deliveries[0].partner_id, p.id);
    let all = store
        .list_partner_deliveries(ctx, p.id, Default::default(), page(10))
        .await
        .unwrap();
    assert_eq!(all.data.len(), 1, "only the original was delivered");
    expect_not_found(store.route_lead(ctx, LeadId::new(), now()).await);
}

// ---------------------------------------------------------------------------------------------
// Callbacks

contract_test!(partner_callbacks_and_the_return_window);
async fn partner_callbacks_and_the_return_window(store: &SqlStore) {
    let t = Tenant::new(store, "Callbacks").await;
    let ctx = &t.ctx;
    let member = t.user(store, Role::Member).await;
    let viewer = t.user(store, Role::Viewer).await;
    let p = create_partner(
        store,
        ctx,
        NewPartner {
            daily_cap: Some(1),
            ..partner("Buyer")
        },
    )
    .await;
    let t0 = at("2026-01-15T10:00:00Z");
    let lead = new_lead(store, ctx, 1, t0).await;
    let d = route(store, ctx, lead, t0).await.deliveries[0].clone();
    // Sending is not routing's business: a pending delivery cannot be accepted yet.
    expect_conflict(
        store
            .delivery_callback(&member, d.id, DeliveryCallback::Accept { note: None }, t0)
            .await,
        "status",
    );
    store
        .update_delivery(ctx, d.id, DS::Delivered, None, None)
        .await
        .unwrap();
    expect_forbidden(
        store
            .delivery_callback(&viewer, d.id, DeliveryCallback::Accept { note: None }, t0)
            .await,
    );
    let accepted = store
        .delivery_callback(
            &member,
            d.id,
            DeliveryCallback::Accept {
                note: Some(" bought ".into()),
            },
            t0 + Duration::hours(1),
        )
        .await
        .unwrap();
    assert_eq!(accepted.status, DS::Accepted);
    assert_eq!(accepted.response.as_ref().unwrap()["note"], "bought");
    assert_eq!(
        store.get_lead(ctx, lead).await.unwrap().status,
        LeadStatus::Accepted
    );
    one_event(store, ctx, types::LEAD_ACCEPTED, d.id).await;

    // The partner is at its cap for the day; a return frees the slot.
    let day = t0 - Duration::hours(24);
    assert_eq!(store.partner_usage(ctx, p.id, day).await.unwrap(), 1);
    let blocked = new_lead(store, ctx, 2, t0 + Duration::hours(2)).await;
    assert_eq!(
        route(store, ctx, blocked, t0 + Duration::hours(2))
            .await
            .lead
            .status,
        LeadStatus::Queued
    );
    let returned = store
        .delivery_callback(
            &member,
            d.id,
            DeliveryCallback::Return {
                reason: ReturnReason::BadContactInfo,
                note: Some("bounced".into()),
            },
            t0 + Duration::days(6),
        )
        .await
        .unwrap();
    assert_eq!(returned.status, DS::Returned);
    assert_eq!(returned.return_reason, Some(ReturnReason::BadContactInfo));
    assert_eq!(
        returned.response.as_ref().unwrap()["reason"],
        "bad_contact_info"
    );
    assert_eq!(
        store.get_lead(ctx, lead).await.unwrap().status,
        LeadStatus::Returned
    );
    one_event(store, ctx, types::LEAD_RETURNED, d.id).await;
    assert_eq!(store.partner_usage(ctx, p.id, day).await.unwrap(), 0);
    // The slot is free again for that day.
    let again = route(store, ctx, blocked, t0 + Duration::hours(3)).await;
    assert_eq!(again.lead.status, LeadStatus::Routed);
    // Returned is final.
    expect_conflict(
        store
            .delivery_callback(&member, d.id, DeliveryCallback::Accept { note: None }, t0)
            .await,
        "status",
    );

    // Outside the window (7 days by default), a return is refused.
    let late = again.deliveries[0].clone();
    store
        .update_delivery(ctx, late.id, DS::Delivered, None, None)
        .await
        .unwrap();
    let refused = store
        .delivery_callback(
            &member,
            late.id,
            DeliveryCallback::Return {
                reason: ReturnReason::Other,
                note: None,
            },
            late.created_at + Duration::days(8),
        )
        .await;
    expect_conflict(refused, "return_window");
    assert_eq!(
        store.get_lead_delivery(ctx, late.id).await.unwrap().status,
        DS::Delivered,
        "a refused return changes nothing"
    );
    // The window is configurable: with 10 days, day 8 is in time.
    set_strategy(
        store,
        ctx,
        RoutingSettingsInput {
            return_window_days: 10,
            ..RoutingSettingsInput::default()
        },
    )
    .await;
    let ok = store
        .delivery_callback(
            &member,
            late.id,
            DeliveryCallback::Return {
                reason: ReturnReason::Other,
                note: None,
            },
            late.created_at + Duration::days(8),
        )
        .await
        .unwrap();
    assert_eq!(ok.status, DS::Returned);

    // Rejection of the only delivery rejects the lead.
    let l3 = new_lead(store, ctx, 3, t0 + Duration::days(1)).await;
    let d3 = route(store, ctx, l3, t0 + Duration::days(1))
        .await
        .deliveries[0]
        .clone();
    store
        .update_delivery(ctx, d3.id, DS::Delivered, None, None)
        .await
        .unwrap();
    store
        .delivery_callback(&member, d3.id, DeliveryCallback::Reject { note: None }, t0)
        .await
        .unwrap();
    assert_eq!(
        store.get_lead(ctx, l3).await.unwrap().status,
        LeadStatus::Rejected
    );
    one_event(store, ctx, types::LEAD_REJECTED, d3.id).await;
    expect_validation(
        store
            .delivery_callback(
                &member,
                d3.id,
                DeliveryCallback::Reject {
                    note: Some("x".repeat(2001)),
                },
                t0,
            )
            .await,
        "note",
    );
}

// ---------------------------------------------------------------------------------------------
// Settings, summary, forms, isolation

contract_test!(routing_settings_per_org_and_vertical);
async fn routing_settings_per_org_and_vertical(store: &SqlStore) {
    let t = Tenant::new(store, "Settings").await;
    let admin = t.user(store, Role::Admin).await;
    let member = t.user(store, Role::Member).await;
    let defaults = store.get_routing_settings(&member, None).await.unwrap();
    assert_eq!(defaults.strategy, RoutingStrategy::Priority);
    assert_eq!(defaults.when_full, WhenFull::Queue);
    assert_eq!(defaults.return_window_days, 7);
    assert_eq!(defaults.updated_at, None);

    expect_forbidden(
        store
            .put_routing_settings(&member, None, RoutingSettingsInput::default())
            .await,
    );
    let org = store
        .put_routing_settings(
            &admin,
            None,
            RoutingSettingsInput {
                strategy: RoutingStrategy::Weighted,
                ..RoutingSettingsInput::default()
            },
        )
        .await
        .unwrap();
    assert!(org.updated_at.is_some());
    let solar = store
        .put_routing_settings(
            &admin,
            Some(" Solar ".into()),
            RoutingSettingsInput {
                strategy: RoutingStrategy::RoundRobin,
                dedupe: DedupePolicy::off(),
                ..RoutingSettingsInput::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(solar.vertical.as_deref(), Some("solar"));
    let got = store
        .get_routing_settings(&member, Some("solar".into()))
        .await
        .unwrap();
    assert_eq!(got, solar);
    let fallback = store
        .get_routing_settings(&member, Some("roofing".into()))
        .await
        .unwrap();
    assert_eq!(fallback.strategy, RoutingStrategy::Weighted);
    assert_eq!(fallback.vertical, None, "the org-wide settings apply");
    // Replacing them twice is an upsert.
    let replaced = store
        .put_routing_settings(&admin, None, RoutingSettingsInput::default())
        .await
        .unwrap();
    assert_eq!(replaced.strategy, RoutingStrategy::Priority);
    expect_validation(
        store
            .put_routing_settings(
                &admin,
                None,
                RoutingSettingsInput {
                    max_partners: 0,
                    ..RoutingSettingsInput::default()
                },
            )
            .await,
        "max_partners",
    );
    // Another org sees only its own.
    let other = Tenant::new(store, "Other").await;
    assert_eq!(
        store
            .get_routing_settings(&other.ctx, None)
            .await
            .unwrap()
            .updated_at,
        None
    );
}

contract_test!(summary_counts_per_partner_and_source);
async fn summary_counts_per_partner_and_source(store: &SqlStore) {
    let t = Tenant::new(store, "Summary").await;
    let ctx = &t.ctx;
    let a = create_partner(
        store,
        ctx,
        NewPartner {
            priority: 2,
            daily_cap: Some(2),
            ..partner("A")
        },
    )
    .await;
    let b = create_partner(store, ctx, partner("B")).await;
    let when = now();
    let mut deliveries = Vec::new();
    for (i, (source, campaign)) in [
        ("google", "spring"),
        ("google", "spring"),
        ("meta", "spring"),
        ("meta", "fall"),
    ]
    .into_iter()
    .enumerate()
    {
        let new = NewLead {
            email: Some(email(&format!("s{i}@example.com"))),
            vertical: Some("solar".into()),
            utm_source: Some(source.into()),
            utm_campaign: Some(campaign.into()),
            ..NewLead::default()
        };
        let lead = store
            .capture_lead(ctx, new, &DedupePolicy::off(), when)
            .await
            .unwrap()
            .lead;
        deliveries.push(route(store, ctx, lead.id, when).await.deliveries[0].clone());
    }
    for d in &deliveries {
        store
            .update_delivery(ctx, d.id, DS::Delivered, None, None)
            .await
            .unwrap();
    }
    // A: two (google spring): one accepted, one returned. B: two (meta): one accepted.
    for (d, callback) in [
        (&deliveries[0], DeliveryCallback::Accept { note: None }),
        (
            &deliveries[1],
            DeliveryCallback::Return {
                reason: ReturnReason::Duplicate,
                note: None,
            },
        ),
        (&deliveries[2], DeliveryCallback::Accept { note: None }),
    ] {
        store
            .delivery_callback(ctx, d.id, callback, when)
            .await
            .unwrap();
    }

    let range = TimeRange {
        after: Some(when - Duration::hours(1)),
        before: Some(when + Duration::hours(1)),
    };
    let s = store.lead_summary(ctx, range).await.unwrap();
    assert_eq!((s.leads, s.duplicates, s.deliveries), (4, 0, 4));
    assert_eq!(s.leads_by_status.get("accepted"), Some(&2));
    let pa = s.partners.iter().find(|p| p.partner_id == a.id).unwrap();
    assert_eq!(
        (pa.counts.deliveries, pa.counts.accepted, pa.counts.returned),
        (2, 1, 1)
    );
    assert!((pa.counts.acceptance_rate - 0.5).abs() < 1e-9);
    assert!((pa.counts.return_rate - 0.5).abs() < 1e-9);
    assert_eq!(pa.name, "A");
    let pb = s.partners.iter().find(|p| p.partner_id == b.id).unwrap();
    assert_eq!((pb.counts.deliveries, pb.counts.accepted), (2, 1));
    let spring = s
        .sources
        .iter()
        .find(|x| x.utm_source.as_deref() == Some("google"))
        .unwrap();
    assert_eq!(
        (
            spring.leads,
            spring.counts.deliveries,
            spring.counts.accepted
        ),
        (2, 2, 1)
    );
    assert_eq!(s.sources.len(), 3);
    // Outside the range: nothing.
    let empty = store
        .lead_summary(
            ctx,
            TimeRange {
                after: Some(when + Duration::hours(2)),
                before: None,
            },
        )
        .await
        .unwrap();
    assert_eq!((empty.leads, empty.deliveries), (0, 0));
    assert!(empty.partners.is_empty());
    expect_validation(
        store
            .lead_summary(
                ctx,
                TimeRange {
                    after: Some(when),
                    before: Some(when),
                },
            )
            .await,
        "to",
    );
}

contract_test!(lead_forms_crud_and_public_lookup);
async fn lead_forms_crud_and_public_lookup(store: &SqlStore) {
    let t = Tenant::new(store, "Forms").await;
    let admin = t.user(store, Role::Admin).await;
    let member = t.user(store, Role::Member).await;
    let new = NewLeadForm {
        vertical: Some(" Solar ".into()),
        required_fields: vec!["email".into(), "postal_code".into()],
        ..NewLeadForm::new("Quote")
    };
    expect_forbidden(store.create_lead_form(&member, new.clone(), None).await);
    let form = store
        .create_lead_form(&admin, new, Some(b"sealed-secret".to_vec()))
        .await
        .unwrap();
    assert_eq!(form.vertical.as_deref(), Some("solar"));
    assert_eq!(form.honeypot_field, "website");
    assert!(form.has_secret);
    assert!(form.public_form_id.starts_with("lf_"));
    assert_eq!(store.get_lead_form(&member, form.id).await.unwrap(), form);
    let (found, secret) = store
        .lead_form_by_public_id(&form.public_form_id)
        .await
        .unwrap()
        .expect("found by public id");
    assert_eq!(
        (found, secret.as_deref()),
        (form.clone(), Some(&b"sealed-secret"[..]))
    );
    assert!(
        store
            .lead_form_by_public_id("lf_nothing")
            .await
            .unwrap()
            .is_none()
    );

    let patched = store
        .update_lead_form(
            &admin,
            form.id,
            LeadFormPatch {
                honeypot_field: Some("fax".into()),
                vertical: Patch::Clear,
                ..LeadFormPatch::default()
            },
            Patch::Clear,
        )
        .await
        .unwrap();
    assert_eq!(patched.honeypot_field, "fax");
    assert_eq!(patched.vertical, None);
    assert!(!patched.has_secret);
    let (_, secret) = store
        .lead_form_by_public_id(&form.public_form_id)
        .await
        .unwrap()
        .unwrap();
    assert!(secret.is_none());
    expect_validation(
        store
            .update_lead_form(
                &admin,
                form.id,
                LeadFormPatch {
                    required_fields: Some(vec!["shoe_size".into()]),
                    ..LeadFormPatch::default()
                },
                Patch::Keep,
            )
            .await,
        "required_fields[0]",
    );
    let listed = store.list_lead_forms(&member, page(10)).await.unwrap();
    assert_eq!(listed.data, [patched]);

    let other = Tenant::new(store, "Other forms").await;
    expect_not_found(store.get_lead_form(&other.ctx, form.id).await);
    expect_not_found(store.delete_lead_form(&other.ctx, form.id).await);
    assert!(
        store
            .list_lead_forms(&other.ctx, page(10))
            .await
            .unwrap()
            .data
            .is_empty()
    );

    store.delete_lead_form(&admin, form.id).await.unwrap();
    expect_not_found(store.get_lead_form(&admin, form.id).await);
    assert!(
        store
            .lead_form_by_public_id(&form.public_form_id)
            .await
            .unwrap()
            .is_none()
    );
}

contract_test!(routing_is_isolated_between_orgs);
async fn routing_is_isolated_between_orgs(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let b = Tenant::new(store, "B").await;
    let pa = create_partner(store, &a.ctx, partner("A's")).await;
    let pb = create_partner(store, &b.ctx, partner("B's")).await;
    let lead = new_lead(store, &a.ctx, 1, now()).await;
    expect_not_found(store.route_lead(&b.ctx, lead, now()).await);
    let r = route(store, &a.ctx, lead, now()).await;
    assert_eq!(r.deliveries.len(), 1);
    assert_eq!(
        r.deliveries[0].partner_id, pa.id,
        "never another org's partner"
    );
    let d = r.deliveries[0].id;
    store
        .update_delivery(&a.ctx, d, DS::Delivered, None, None)
        .await
        .unwrap();
    expect_not_found(
        store
            .delivery_callback(&b.ctx, d, DeliveryCallback::Accept { note: None }, now())
            .await,
    );
    let sb = store
        .lead_summary(&b.ctx, TimeRange::default())
        .await
        .unwrap();
    assert_eq!((sb.leads, sb.deliveries), (0, 0));
    assert!(
        store
            .list_partner_deliveries(&b.ctx, pb.id, Default::default(), page(10))
            .await
            .unwrap()
            .data
            .is_empty()
    );
    // B's queued sweep never touches A's leads.
    assert!(
        store
            .route_queued_leads(&b.ctx, now(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    match store
        .route_queued_leads(&t_viewer(store, &a).await, now(), 10)
        .await
    {
        Err(Error::Forbidden(_)) => {}
        other => panic!("a viewer cannot route: {other:?}"),
    }
}

async fn t_viewer(store: &SqlStore, t: &Tenant) -> TenantContext {
    t.user(store, Role::Viewer).await
}

// ---------------------------------------------------------------------------------------------
// Opening hours

fn hours(pairs: &[(&str, &str)]) -> Vec<[String; 2]> {
    pairs
        .iter()
        .map(|(o, c)| [(*o).to_owned(), (*c).to_owned()])
        .collect()
}

contract_test!(partner_schedules_are_stored_and_validated);
async fn partner_schedules_are_stored_and_validated(store: &SqlStore) {
    let t = Tenant::new(store, "Hours").await;
    let ctx = &t.ctx;
    let schedule = Schedule {
        mon: hours(&[("09:00", "12:00"), ("13:00", "17:00")]),
        fri: hours(&[("09:00", "24:00")]),
        ..Schedule::default()
    };
    let p = create_partner(
        store,
        ctx,
        NewPartner {
            timezone: "America/New_York".into(),
            schedule: Some(schedule.clone()),
            ..partner("Office hours")
        },
    )
    .await;
    assert_eq!(p.schedule.as_ref(), Some(&schedule));
    assert_eq!(store.get_partner(ctx, p.id).await.unwrap(), p);
    expect_validation(
        store
            .update_partner(
                ctx,
                p.id,
                PartnerPatch {
                    schedule: Patch::Set(Schedule {
                        tue: hours(&[("18:00", "08:00")]),
                        ..Schedule::default()
                    }),
                    ..PartnerPatch::default()
                },
            )
            .await,
        "schedule.tue[0]",
    );
    let cleared = store
        .update_partner(
            ctx,
            p.id,
            PartnerPatch {
                schedule: Patch::Clear,
                ..PartnerPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(cleared.schedule, None);
    assert_eq!(store.get_partner(ctx, p.id).await.unwrap().schedule, None);
}

contract_test!(closed_partners_are_skipped_and_leads_queue_until_one_opens);
async fn closed_partners_are_skipped_and_leads_queue_until_one_opens(store: &SqlStore) {
    let t = Tenant::new(store, "Hours").await;
    let ctx = &t.ctx;
    // Monday 09:00–17:00 in New York; Monday 18:00–20:00 in Tokyo (higher priority).
    let ny = create_partner(
        store,
        ctx,
        NewPartner {
            timezone: "America/New_York".into(),
            schedule: Some(Schedule {
                mon: hours(&[("09:00", "17:00")]),
                ..Schedule::default()
            }),
            ..partner("New York")
        },
    )
    .await;
    let tokyo = create_partner(
        store,
        ctx,
        NewPartner {
            timezone: "Asia/Tokyo".into(),
            priority: 10,
            schedule: Some(Schedule {
                mon: hours(&[("18:00", "20:00")]),
                ..Schedule::default()
            }),
            ..partner("Tokyo")
        },
    )
    .await;
    // Monday 2026-03-02 13:30 UTC is 08:30 in New York (EST, UTC-5) and 22:30 in Tokyo: both
    // closed, so the lead waits.
    let before_dst = at("2026-03-02T13:30:00Z");
    assert_eq!(
        capture_and_route(store, ctx, 1, before_dst).await,
        (None, LeadStatus::Queued)
    );
    // The same UTC time a week later is 09:30 in New York (EDT since March 8, UTC-4): open.
    let after_dst = at("2026-03-09T13:30:00Z");
    assert_eq!(
        capture_and_route(store, ctx, 2, after_dst).await,
        (Some(ny.id), LeadStatus::Routed)
    );
    // Monday 09:30 UTC is 18:30 in Tokyo (and 05:30 in New York): Tokyo takes it.
    let tokyo_evening = at("2026-03-09T09:30:00Z");
    assert_eq!(
        capture_and_route(store, ctx, 3, tokyo_evening).await,
        (Some(tokyo.id), LeadStatus::Routed)
    );
    // Nobody is open on Tuesday: with `unrouted` the lead is given up on, not queued.
    set_strategy(
        store,
        ctx,
        RoutingSettingsInput {
            when_full: WhenFull::Unrouted,
            ..RoutingSettingsInput::default()
        },
    )
    .await;
    assert_eq!(
        capture_and_route(store, ctx, 4, at("2026-03-10T15:00:00Z"))
            .await
            .1,
        LeadStatus::Unrouted
    );
    set_strategy(store, ctx, RoutingSettingsInput::default()).await;
    // The job, run while New York is open, routes the first (queued) lead there.
    let routed = store
        .route_pending_leads(ctx, after_dst, after_dst, 10)
        .await
        .unwrap();
    assert_eq!(routed.len(), 1);
    assert_eq!(routed[0].lead.status, LeadStatus::Routed);
    assert_eq!(routed[0].deliveries[0].partner_id, ny.id);
}

// ---------------------------------------------------------------------------------------------
// The queued-lead job

contract_test!(the_job_finds_orgs_with_queued_and_stranded_new_leads);
async fn the_job_finds_orgs_with_queued_and_stranded_new_leads(store: &SqlStore) {
    let a = Tenant::new(store, "Queued").await;
    let b = Tenant::new(store, "Crashed").await;
    let quiet = Tenant::new(store, "Quiet").await;
    let t0 = at("2026-05-04T12:00:00Z");
    let grace = Duration::minutes(5);
    // Org a: a lead queued behind a full partner.
    let p = create_partner(
        store,
        &a.ctx,
        NewPartner {
            daily_cap: Some(1),
            ..partner("Full")
        },
    )
    .await;
    assert_eq!(capture_and_route(store, &a.ctx, 1, t0).await.0, Some(p.id));
    let queued = new_lead(store, &a.ctx, 2, t0).await;
    assert_eq!(
        route(store, &a.ctx, queued, t0).await.lead.status,
        LeadStatus::Queued
    );
    // Org b: a lead captured but never routed (the process died in between).
    create_partner(store, &b.ctx, partner("Open")).await;
    let stranded = new_lead(store, &b.ctx, 1, t0).await;
    // Org quiet: only routed leads.
    create_partner(store, &quiet.ctx, partner("Open")).await;
    capture_and_route(store, &quiet.ctx, 1, t0).await;

    let mut within_grace = store
        .orgs_with_pending_leads(t0 + Duration::seconds(1) - grace, None, 10)
        .await
        .unwrap();
    within_grace.sort();
    assert_eq!(
        within_grace,
        [a.ctx.org_id()],
        "a new lead within its grace period is left alone"
    );
    let mut expected = vec![a.ctx.org_id(), b.ctx.org_id()];
    expected.sort();
    let later = t0 + grace + Duration::seconds(1);
    let orgs = store
        .orgs_with_pending_leads(later - grace, None, 10)
        .await
        .unwrap();
    assert_eq!(orgs, expected);
    // Paged by org id.
    let first = store
        .orgs_with_pending_leads(later - grace, None, 1)
        .await
        .unwrap();
    let rest = store
        .orgs_with_pending_leads(later - grace, first.first().copied(), 10)
        .await
        .unwrap();
    assert_eq!([first, rest].concat(), expected);

    // The stranded lead is routed by the job, in org b's scope.
    let routed = store
        .route_pending_leads(&b.system(), later, later - grace, 10)
        .await
        .unwrap();
    assert_eq!(routed.len(), 1);
    assert_eq!(routed[0].lead.id, stranded);
    assert_eq!(routed[0].lead.status, LeadStatus::Routed);
    // Org a's lead stays queued while the partner is full; routed once it has room.
    let tried = store
        .route_pending_leads(&a.system(), later, later - grace, 10)
        .await
        .unwrap();
    assert_eq!(tried.len(), 1);
    assert_eq!(tried[0].lead.status, LeadStatus::Queued);
    let next_day = t0 + Duration::days(1);
    let routed = store
        .route_pending_leads(&a.system(), next_day, next_day - grace, 10)
        .await
        .unwrap();
    assert_eq!(routed.len(), 1);
    assert_eq!(routed[0].lead.id, queued);
    assert_eq!(routed[0].deliveries[0].partner_id, p.id);
    assert!(
        store
            .orgs_with_pending_leads(next_day - grace, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

contract_test!(concurrent_job_runs_never_route_a_lead_twice);
async fn concurrent_job_runs_never_route_a_lead_twice(store: &SqlStore) {
    const LEADS: usize = 30;
    const RUNS: usize = 4;
    let t = Tenant::new(store, "Jobs").await;
    // Shared distribution to every partner: a second routing would add deliveries.
    set_strategy(
        store,
        &t.ctx,
        RoutingSettingsInput {
            distribution: Distribution::Shared,
            max_partners: 2,
            ..RoutingSettingsInput::default()
        },
    )
    .await;
    for name in ["A", "B", "C"] {
        create_partner(
            store,
            &t.ctx,
            NewPartner {
                exclusive: false,
                ..partner(name)
            },
        )
        .await;
    }
    let t0 = at("2026-05-04T12:00:00Z");
    let mut leads = Vec::new();
    for i in 0..LEADS {
        leads.push(new_lead(store, &t.ctx, i, t0).await);
    }
    let later = t0 + Duration::hours(1);
    let barrier = Arc::new(Barrier::new(RUNS));
    let handles: Vec<_> = (0..RUNS)
        .map(|_| {
            let (store, ctx, barrier) = (store.clone(), t.system(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.route_pending_leads(&ctx, later, later, 100).await
            })
        })
        .collect();
    let mut routed_by: HashMap<LeadId, usize> = HashMap::new();
    for h in handles {
        for r in h.await.unwrap().expect("job run") {
            assert_eq!(r.lead.status, LeadStatus::Routed);
            assert_eq!(r.deliveries.len(), 2);
            *routed_by.entry(r.lead.id).or_default() += 1;
        }
    }
    assert_eq!(routed_by.len(), LEADS);
    assert!(routed_by.values().all(|n| *n == 1), "{routed_by:?}");
    for id in leads {
        let deliveries = store
            .list_lead_deliveries(&t.ctx, id, page(50))
            .await
            .unwrap();
        assert_eq!(deliveries.data.len(), 2);
    }
}

/// Postgres: a routing that takes a partner's cap slot without a savepoint (the counters it
/// read left plenty of room) and is refused it all the same starts again from scratch, with a
/// savepoint, and goes to the next partner; the attempt rolled back leaves nothing behind.
/// The slot is refused by holding the partner's day counter at its cap in an open transaction
/// that commits once the routing waits on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_refused_without_a_savepoint_routes_again() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let store = &db.store;
    let t = Tenant::new(store, "Optimistic slots").await;
    let ctx = &t.ctx;
    let big = create_partner(
        store,
        ctx,
        NewPartner {
            priority: 10,
            daily_cap: Some(1000),
            ..partner("Big")
        },
    )
    .await;
    let backup = create_partner(
        store,
        ctx,
        NewPartner {
            priority: 1,
            ..partner("Backup")
        },
    )
    .await;
    let lead = |n: &str| NewLead {
        email: Some(email(&format!("{n}@example.com"))),
        vertical: Some("solar".into()),
        region: Some("CA".into()),
        ..NewLead::default()
    };
    // The first lead makes Big's day counter.
    let first = store
        .capture_and_route_lead(ctx, lead("first"), now())
        .await
        .unwrap();
    assert_eq!(first.deliveries[0].partner_id, big.id);

    let pool = store.pg_pool().expect("a Postgres store has a pool");
    let mut hold = tenant_tx(pool, ctx.org_id()).await;
    let held = sqlx::query(
        "UPDATE partner_cap_usage SET used = 1000 WHERE partner_id = $1 AND period = 'day'",
    )
    .bind(big.id.as_uuid())
    .execute(&mut *hold)
    .await
    .unwrap();
    assert_eq!(held.rows_affected(), 1);
    // Committed once the routing waits on the counter row.
    let release = commit_once_a_lock_waits(pool, hold);
    let (second, ()) = tokio::join!(
        store.capture_and_route_lead(ctx, lead("second"), now()),
        release
    );
    let second = second.unwrap();
    assert_eq!(second.lead.status, LeadStatus::Routed);
    assert_eq!(second.deliveries.len(), 1);
    assert_eq!(second.deliveries[0].partner_id, backup.id, "Big was full");

    let (used,): (i32,) = sqlx::query_as(
        "SELECT used FROM partner_cap_usage WHERE partner_id = $1 AND period = 'day'",
    )
    .bind(big.id.as_uuid())
    .fetch_one(&mut *tenant_tx(pool, ctx.org_id()).await)
    .await
    .unwrap();
    assert_eq!(used, 1000, "the refused slot was not counted");
    let leads = store
        .list_leads(ctx, Default::default(), Default::default())
        .await
        .unwrap()
        .data;
    assert_eq!(leads.len(), 2, "the first attempt's lead was rolled back");
    assert_eq!(count_events(store, ctx, types::LEAD_CREATED).await, 2);
    assert_eq!(count_events(store, ctx, types::PERSON_CREATED).await, 2);
    assert_eq!(count_events(store, ctx, types::LEAD_ROUTED).await, 2);
    let to_big = store
        .list_partner_deliveries(ctx, big.id, Default::default(), Default::default())
        .await
        .unwrap()
        .data;
    assert_eq!(to_big.len(), 1);
}

/// A raw transaction in `org`, as the store opens its own: Row Level Security is forced on
/// every table, also for the role the pool logs in as when it owns them (as in CI).
async fn tenant_tx(pool: &sqlx::PgPool, org: OrgId) -> sqlx::Transaction<'static, sqlx::Postgres> {
    pool.begin_with(sqlx::AssertSqlSafe(format!(
        "BEGIN; SET LOCAL ROLE workos_app; SET LOCAL workos.org_id = '{org}'"
    )))
    .await
    .unwrap()
}

/// Postgres: capture writes a new person together with the lead and its routing. When another
/// transaction writes a person with the lead's email after capture looked, that write finds
/// the contact taken: the routing starts again, links the lead to that person, and leaves no
/// second person (nor its `person.created`) behind. The other person is held in an open
/// transaction that commits once the capture waits on its contact row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_written_meanwhile_is_linked_not_duplicated() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let store = &db.store;
    let t = Tenant::new(store, "Racing people").await;
    let ctx = &t.ctx;
    let buyer = create_partner(store, ctx, partner("Buyer")).await;
    let address = "raced@example.com";

    let pool = store.pg_pool().expect("a Postgres store has a pool");
    let mut hold = tenant_tx(pool, ctx.org_id()).await;
    let held_id = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO people (id, org_id, first_name, email, created_at, updated_at)
         VALUES ($1, $2, 'Held', $3, now(), now())",
    )
    .bind(held_id)
    .bind(ctx.org_id().as_uuid())
    .bind(address)
    .execute(&mut *hold)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO person_contacts (org_id, kind, value, person_id) VALUES ($1, 'email', $2, $3)",
    )
    .bind(ctx.org_id().as_uuid())
    .bind(address)
    .bind(held_id)
    .execute(&mut *hold)
    .await
    .unwrap();
    // Committed once the capture waits on the contact row.
    let release = commit_once_a_lock_waits(pool, hold);
    let new = NewLead {
        first_name: Some("Raced".into()),
        email: Some(email(address)),
        vertical: Some("solar".into()),
        region: Some("CA".into()),
        ..NewLead::default()
    };
    let (routed, ()) = tokio::join!(store.capture_and_route_lead(ctx, new, now()), release);
    let routed = routed.unwrap();
    assert_eq!(routed.lead.status, LeadStatus::Routed);
    assert_eq!(routed.deliveries[0].partner_id, buyer.id);
    assert_eq!(
        routed.lead.person_id.map(|p| p.as_uuid()),
        Some(held_id),
        "linked to the person written meanwhile"
    );

    let (people,): (i64,) = sqlx::query_as("SELECT count(*) FROM people WHERE org_id = $1")
        .bind(ctx.org_id().as_uuid())
        .fetch_one(&mut *tenant_tx(pool, ctx.org_id()).await)
        .await
        .unwrap();
    assert_eq!(people, 1, "the first attempt's person was rolled back");
    let stored = store.get_lead(ctx, routed.lead.id).await.unwrap();
    assert_eq!(stored, routed.lead);
    assert_eq!(count_events(store, ctx, types::PERSON_CREATED).await, 0);
    assert_eq!(count_events(store, ctx, types::LEAD_CREATED).await, 1);
    assert_eq!(count_events(store, ctx, types::LEAD_ROUTED).await, 1);
}

/// Commits `hold` once a session of the test database waits on a lock (one `hold` took), or
/// after 10 s: how the Postgres tests above make a write meet a row changed under it.
async fn commit_once_a_lock_waits(
    pool: &sqlx::PgPool,
    hold: sqlx::Transaction<'_, sqlx::Postgres>,
) {
    for _ in 0..1000 {
        let (waiting,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    hold.commit().await.unwrap();
}
