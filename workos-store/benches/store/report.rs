//! The Markdown report: every scenario's figures, then the tenant-count and the RLS overhead
//! comparisons against the targets.

use std::fmt::Write as _;

use workos_tests::bench;

use crate::scenario::{Op, Scenario, Shared, Variant};

pub(crate) struct Result1 {
    pub(crate) s: Scenario,
    pub(crate) ops_per_s: f64,
    pub(crate) p50: u64,
    pub(crate) p95: u64,
    pub(crate) p99: u64,
    pub(crate) max: u64,
}

fn find(results: &[Result1], op: Op, variant: Variant, dataset: usize) -> Option<&Result1> {
    results
        .iter()
        .find(|r| r.s.op == op && r.s.variant == variant && r.s.dataset == dataset)
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "–".into(),
    }
}

pub(crate) fn report(out: &mut String, sh: &Shared, results: &[Result1]) -> std::fmt::Result {
    writeln!(out, "### Results\n")?;
    writeln!(
        out,
        "| op | variant | dataset | ops/s | p50 µs | p95 µs | p99 µs | max µs |"
    )?;
    writeln!(out, "|---|---|---|---:|---:|---:|---:|---:|")?;
    for r in results {
        writeln!(
            out,
            "| {} | {} | {} | {:.0} | {} | {} | {} | {} |",
            r.s.op.name(),
            r.s.variant.name(),
            sh.datasets[r.s.dataset].name,
            r.ops_per_s,
            r.p50,
            r.p95,
            r.p99,
            r.max
        )?;
    }
    let (many, one) = (&sh.datasets[0].name, &sh.datasets[1].name);
    let p99 = |op, v, d| find(results, op, v, d).map(|r| r.p99 as f64);
    let p50 = |op, v, d| find(results, op, v, d).map(|r| r.p50 as f64);
    let tput = |op, v, d| find(results, op, v, d).map(|r| r.ops_per_s);

    writeln!(out, "\n### Tenant count: engine p99, {many} / {one}\n")?;
    writeln!(
        out,
        "| op | p99 {many} µs | p99 {one} µs | ratio | p50 ratio | target |"
    )?;
    writeln!(out, "|---|---:|---:|---:|---:|---|")?;
    for op in [Op::Get, Op::List, Op::Create] {
        let r = ratio(p99(op, Variant::Engine, 0), p99(op, Variant::Engine, 1));
        let verdict = match (op, r.parse::<f64>()) {
            (Op::Create, _) => "(none)".to_owned(),
            (_, Ok(x)) if x <= 1.2 => "≤ 1.20: met".to_owned(),
            (_, Ok(_)) => "≤ 1.20: not met".to_owned(),
            _ => "–".to_owned(),
        };
        let show = |x: Option<f64>| x.map_or("–".into(), |x| format!("{x:.0}"));
        writeln!(
            out,
            "| {} | {} | {} | {r} | {} | {verdict} |",
            op.name(),
            show(p99(op, Variant::Engine, 0)),
            show(p99(op, Variant::Engine, 1)),
            ratio(p50(op, Variant::Engine, 0), p50(op, Variant::Engine, 1)),
        )?;
    }

    writeln!(out, "\n### Scoping + RLS: engine against raw\n")?;
    writeln!(
        out,
        "Overhead = raw ops/s ÷ engine ops/s − 1 (extra time per operation at saturation) and \
         engine p99 ÷ raw p99 − 1; targets: get and list under 25 %, create under 50 %. The step columns split the time per \
         operation (inverse throughput) from raw to engine; their product is raw → engine: \
         `tx` = the transaction's extra round trips (BEGIN, and COMMIT or the deferred ROLLBACK), \
         `set` = the tenant settings in the BEGIN round trip, `rls` = the switch to `workos_app` and \
         the policies, `engine` = the engine's own work (argument boxing, decoding into domain \
         types, building the event).\n"
    )?;
    writeln!(
        out,
        "| op | dataset | throughput overhead | p99 overhead | tx | set | rls | engine |"
    )?;
    writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|")?;
    for op in [Op::Get, Op::List, Op::Create] {
        let target = if op == Op::Create { 0.50 } else { 0.25 };
        for d in 0..sh.datasets.len() {
            let over = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) if b > 0.0 => {
                    let x = a / b - 1.0;
                    format!("{:+.0} % ({})", x * 100.0, bench::met(x <= target))
                }
                _ => "–".into(),
            };
            let step = |from, to| ratio(tput(op, from, d), tput(op, to, d));
            writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                op.name(),
                sh.datasets[d].name,
                over(tput(op, Variant::Raw, d), tput(op, Variant::Engine, d)),
                over(p99(op, Variant::Engine, d), p99(op, Variant::Raw, d)),
                step(Variant::Raw, Variant::RawTx),
                step(Variant::RawTx, Variant::RawTxSet),
                step(Variant::RawTxSet, Variant::RawTxRls),
                step(Variant::RawTxRls, Variant::Engine),
            )?;
        }
    }
    Ok(())
}
