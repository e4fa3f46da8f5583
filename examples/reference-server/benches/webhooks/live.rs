//! The scenarios through the whole path: creates with the pipeline running (saturation, fixed
//! rate), and a backlog created first, then drained.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use workos_tests::bench::{self, loadavg};

use crate::SETUP_CONCURRENCY;
use crate::cpu::{Cpu, cpu_note};
use crate::load::{Api, closed_loop, open_loop};
use crate::scenario::{Ctx, Kind, Row, Scenario};
use crate::server::{Running, Server};

/// Saturation and fixed rate: creates with the pipeline running.
pub(crate) async fn live(
    cx: &mut Ctx<'_>,
    sc: &Scenario,
    server: &Server,
    api: &Arc<Api>,
) -> Result<Row> {
    let s = cx.s;
    let fanout = sc.endpoints as u64;
    let running = Running::start(sc.workers, server, s, &cx.server_rt).await?;

    // Warm-up: connections, caches, worker processes up.
    let warm = closed_loop(
        api,
        SETUP_CONCURRENCY.min(8),
        Some(s.warmup_events as u64),
        None,
    )
    .await;
    ensure!(
        cx.sink
            .wait_for(warm * fanout, Duration::from_secs(120))
            .await,
        "the warm-up deliveries did not arrive"
    );
    cx.sink.reset();
    api.reset_latency();

    let load_start = loadavg().1;
    eprintln!("{}: measuring, load average {load_start}", sc.name);
    let cpu_start = Cpu::now(&server.db, &running.pids());
    let start = Instant::now();
    let (made, what) = match sc.kind {
        Kind::Fixed(rate) => (
            open_loop(api, rate, s.secs, s.max_in_flight).await?,
            format!("open loop, {rate:.0} creates/s"),
        ),
        _ => (
            closed_loop(
                api,
                s.concurrency,
                None,
                Some(start + Duration::from_secs_f64(s.secs)),
            )
            .await,
            format!("closed loop, {} creates in flight", s.concurrency),
        ),
    };
    let window = start.elapsed();
    let at_window_end = cx.sink.count();
    let expected = made * fanout;
    let complete = cx.sink.wait_for(expected, s.drain).await;
    let cpu_end = Cpu::now(&server.db, &running.pids());
    let load_end = loadavg().1;
    running.stop().await;

    let last = cx.sink.at(cx.sink.last.load(Ordering::Relaxed));
    let span = last.saturating_duration_since(start).max(window);
    let delivered = cx.sink.count();
    Ok(Row {
        notes: vec![cpu_note(
            &cpu_start,
            &cpu_end,
            start.elapsed(),
            delivered,
            "window start → last delivery (creates included)",
        )],
        what,
        events: made,
        deliveries: delivered,
        create_rate: Some(made as f64 / window.as_secs_f64()),
        window_rate: Some(at_window_end as f64 / window.as_secs_f64()),
        rate: (delivered / fanout.max(1)) as f64 / span.as_secs_f64(),
        delivery_rate: delivered as f64 / span.as_secs_f64(),
        lag: Some(expected.saturating_sub(at_window_end)),
        latency: Some(cx.sink.latency()),
        api_latency: Some(
            api.api_latency
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        ),
        complete,
        quiet: true,
        load_start,
        load_end,
        ..Row::default()
    })
}

/// Creates `n` events with no pipeline, then times draining them.
pub(crate) async fn backlog(
    cx: &mut Ctx<'_>,
    sc: &Scenario,
    server: &Server,
    api: &Arc<Api>,
    n: usize,
) -> Result<Row> {
    let s = cx.s;
    let fanout = sc.endpoints as u64;
    let (made, create_secs, waited, quiet) = create_backlog(cx, sc, server, api, n).await?;
    cx.sink.reset();

    let load_start = loadavg().1;
    eprintln!("{}: draining, load average {load_start}", sc.name);
    let expected = made * fanout;
    let cpu_start = Cpu::now(&server.db, &[]);
    let t0 = Instant::now();
    let running = Running::start(sc.workers, server, s, &cx.server_rt).await?;
    let complete = cx.sink.wait_for(expected, s.drain).await;
    let wall = t0.elapsed();
    let cpu_end = Cpu::now(&server.db, &running.pids());
    let load_end = loadavg().1;
    running.stop().await;

    let first = cx.sink.at(cx.sink.first.load(Ordering::Relaxed));
    let last = cx.sink.at(cx.sink.last.load(Ordering::Relaxed));
    let delivered = cx.sink.count();
    let span = last
        .saturating_duration_since(first)
        .max(Duration::from_micros(1));
    let rate = delivered.saturating_sub(1) as f64 / span.as_secs_f64();
    Ok(Row {
        what: format!(
            "{made} events × {fanout} endpoint(s) created first ({:.0} creates/s), then drained",
            made as f64 / create_secs
        ),
        events: made,
        deliveries: delivered,
        create_rate: Some(made as f64 / create_secs),
        rate,
        delivery_rate: rate,
        first_after: Some(first.saturating_duration_since(t0)),
        complete,
        waited,
        quiet,
        load_start,
        load_end,
        notes: vec![
            format!(
                "start → last delivery {:.2} s",
                last.saturating_duration_since(t0).as_secs_f64()
            ),
            cpu_note(&cpu_start, &cpu_end, wall, delivered, "of the drain"),
        ],
        ..Row::default()
    })
}

/// A backlog of `n` events created with no pipeline running, then a `CHECKPOINT` and the wait
/// for a quiet machine. Returns the events made, the seconds their creates took, the time
/// waited and whether the machine was quiet at the end.
pub(crate) async fn create_backlog(
    cx: &Ctx<'_>,
    sc: &Scenario,
    server: &Server,
    api: &Arc<Api>,
    n: usize,
) -> Result<(u64, f64, Duration, bool)> {
    let started = Instant::now();
    let made = closed_loop(api, SETUP_CONCURRENCY, Some(n as u64), None).await;
    let create_secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{}: {made} events created in {create_secs:.1} s ({:.0}/s)",
        sc.name,
        made as f64 / create_secs
    );
    bench::admin_sql(&server.url, "CHECKPOINT").await?;
    let (waited, quiet) = cx.s.wait_for_quiet().await;
    Ok((made, create_secs, waited, quiet))
}
