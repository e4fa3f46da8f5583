//! The Markdown report: the setup, a table of the live scenarios and one of the drains, each
//! scenario's notes, and the targets.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Result;
use workos_tests::bench::{machine, met, ms};

use crate::Settings;
use crate::scenario::Row;

pub(crate) fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.0}"))
}

pub(crate) fn report(s: &Settings, version: &str, rows: &[Row]) -> Result<String> {
    let mut out = String::new();
    writeln!(out, "### Setup\n")?;
    writeln!(out, "- machine: {}", machine())?;
    writeln!(out, "- database: {version}")?;
    writeln!(
        out,
        "- server in-process ({} runtime threads, 16 pooled connections); receiver: axum in the \
         bench process answering 204 (no signature check), sharing the load generator's runtime \
         ({} thread(s)); in-process pipeline: one dispatcher + one worker, claim batch {}, {} \
         attempts in flight; worker processes: `workos-server worker` (defaults: 100, 32)",
        s.server_threads, s.client_threads, s.claim_batch, s.worker_in_flight
    )?;
    writeln!(
        out,
        "- windows of {} s after a warm-up of {} events; latency = create request sent (open loop: \
         scheduled) → delivery received; e2e rate = events of the window ÷ (window start → last \
         delivery)",
        s.secs, s.warmup_events
    )?;
    writeln!(
        out,
        "- quiet machine: before each scenario and each backlog drain, waited for the 1-minute load \
         average < {} and no other `--bench` process (poll {} s, at most {} s per wait)\n",
        s.quiet.max,
        s.quiet.poll.as_secs(),
        s.quiet.wait.as_secs()
    )?;

    let live: Vec<&Row> = rows.iter().filter(|r| r.latency.is_some()).collect();
    if !live.is_empty() {
        writeln!(
            out,
            "| scenario | endpoints | workers | mode | events | creates/s | deliveries/s in window | lag at window end | e2e events/s | e2e deliveries/s | p50 ms | p90 ms | p99 ms | max ms | API p50/p99 ms | load avg start → end |"
        )?;
        writeln!(
            out,
            "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
        )?;
        for r in &live {
            let h = r.latency.as_ref().expect("filtered");
            let api = r.api_latency.as_ref().map_or_else(
                || "–".to_owned(),
                |a| {
                    format!(
                        "{} / {}",
                        ms(a.value_at_quantile(0.5)),
                        ms(a.value_at_quantile(0.99))
                    )
                },
            );
            writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} | {} | {} | {:.0}{} | {:.0} | {} | {} | {} | {} | {api} | {} → {}{} |",
                r.name,
                r.endpoints,
                r.workers,
                r.what,
                r.events,
                opt(r.create_rate),
                opt(r.window_rate),
                r.lag.map_or_else(|| "–".to_owned(), |l| l.to_string()),
                r.rate,
                if r.complete { "" } else { " (incomplete)" },
                r.delivery_rate,
                ms(h.value_at_quantile(0.5)),
                ms(h.value_at_quantile(0.9)),
                ms(h.value_at_quantile(0.99)),
                ms(h.max()),
                r.load_start,
                r.load_end,
                if r.quiet { "" } else { " (not quiet)" },
            )?;
        }
        writeln!(out)?;
    }

    let drains: Vec<&Row> = rows.iter().filter(|r| r.latency.is_none()).collect();
    if !drains.is_empty() {
        writeln!(
            out,
            "| scenario | endpoints | workers | what | deliveries | deliveries/s | first delivery after | load avg start → end |"
        )?;
        writeln!(out, "|---|---:|---|---|---:|---:|---:|---|")?;
        for r in &drains {
            writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {:.0}{} | {} | {} → {}{} |",
                r.name,
                r.endpoints,
                r.workers,
                r.what,
                r.deliveries,
                r.delivery_rate,
                if r.complete { "" } else { " (incomplete)" },
                r.first_after.map_or_else(
                    || "–".to_owned(),
                    |d| format!("{:.0} ms", d.as_secs_f64() * 1000.0)
                ),
                r.load_start,
                r.load_end,
                if r.quiet { "" } else { " (not quiet)" },
            )?;
        }
        writeln!(out)?;
    }

    for r in rows {
        for n in &r.notes {
            writeln!(out, "- `{}`: {n}", r.name)?;
        }
        if r.waited > Duration::from_secs(1) {
            writeln!(
                out,
                "- `{}`: waited {:.0} s for the load average",
                r.name,
                r.waited.as_secs_f64()
            )?;
        }
        if r.errors > 0 {
            writeln!(
                out,
                "- `{}`: {} create errors, first: {}",
                r.name,
                r.errors,
                r.first_error.as_deref().unwrap_or("?")
            )?;
        }
        if r.unknown > 0 {
            writeln!(
                out,
                "- `{}`: {} deliveries of unknown creates",
                r.name, r.unknown
            )?;
        }
    }

    // The targets.
    let find = |name: &str| rows.iter().find(|r| r.name == name);
    if let Some(r) = find("e2e/1") {
        writeln!(
            out,
            "- target ≥ 1,200 creates/s end to end to one endpoint: {:.0}/s, {}",
            r.rate,
            met(r.rate >= 1200.0 && r.complete)
        )?;
    }
    if let Some(r) = find("backlog/1") {
        writeln!(
            out,
            "- target ≥ 3,500 backlog deliveries/s to one endpoint: {:.0}/s, {}",
            r.delivery_rate,
            met(r.delivery_rate >= 3500.0 && r.complete)
        )?;
    }
    if let Some(r) = find("fixed/1")
        && let Some(h) = &r.latency
    {
        let p50 = h.value_at_quantile(0.5);
        writeln!(
            out,
            "- target p50 < 5 ms at {:.0} creates/s: p50 {} ms, {}",
            s.rate,
            ms(p50),
            met(p50 < 5000 && r.complete)
        )?;
    }
    Ok(out)
}
