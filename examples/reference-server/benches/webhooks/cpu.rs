//! CPU accounting: where the cycles go (the bench process, Postgres backends, worker
//! processes, everything else), from `/proc`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

/// Clock ticks per second of `/proc/<pid>/stat` (`getconf CLK_TCK`; 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

/// User + system CPU seconds of a process, from `/proc/<pid>/stat`.
pub(crate) fn cpu_secs(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: count fields after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SEC)
}

/// Busy CPU seconds of the whole machine so far, from the first line of `/proc/stat`.
pub(crate) fn machine_busy_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: everything but idle and iowait.
    [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|i| fields.get(*i))
        .sum::<f64>()
        / TICKS_PER_SEC
}

/// CPU seconds so far of this process, of the Postgres processes serving `db` (its backends and
/// the server's background processes), of `workers`, and of the whole machine.
#[derive(Clone, Default)]
pub(crate) struct Cpu {
    bench: f64,
    postgres: HashMap<String, f64>,
    workers: HashMap<u32, f64>,
    machine: f64,
}

impl Cpu {
    pub(crate) fn now(db: &str, workers: &[u32]) -> Self {
        let mut postgres = HashMap::new();
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for entry in dir.flatten() {
                let pid = entry.file_name().to_string_lossy().into_owned();
                if !pid.bytes().all(|b| b.is_ascii_digit()) {
                    continue;
                }
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                if comm.trim() != "postgres" {
                    continue;
                }
                // A backend's title names its database and client ("postgres: 15/main: user db
                // 127.0.0.1(port) idle"); background processes name neither.
                let title = std::fs::read(format!("/proc/{pid}/cmdline"))
                    .map(|c| String::from_utf8_lossy(&c).into_owned())
                    .unwrap_or_default();
                let backend = title.contains('(') || title.contains("[local]");
                if (!backend || title.contains(db))
                    && let Some(secs) = cpu_secs(&pid)
                {
                    postgres.insert(pid, secs);
                }
            }
        }
        Self {
            bench: cpu_secs("self").unwrap_or(0.0),
            postgres,
            workers: workers
                .iter()
                .filter_map(|pid| cpu_secs(&pid.to_string()).map(|s| (*pid, s)))
                .collect(),
            machine: machine_busy_secs(),
        }
    }

    /// CPU seconds spent since `start`: (bench process, Postgres, worker processes, everything
    /// else on the machine). A process that started since counts from zero; one that ended since
    /// is lost (and counts as "else").
    pub(crate) fn since(&self, start: &Self) -> (f64, f64, f64, f64) {
        let postgres: f64 = self
            .postgres
            .iter()
            .map(|(pid, s)| s - start.postgres.get(pid).copied().unwrap_or(0.0))
            .sum();
        let workers: f64 = self
            .workers
            .iter()
            .map(|(pid, s)| s - start.workers.get(pid).copied().unwrap_or(0.0))
            .sum();
        let bench = self.bench - start.bench;
        let machine = self.machine - start.machine;
        let other = (machine - bench - postgres - workers).max(0.0);
        (bench, postgres, workers, other)
    }
}

/// "CPU per delivery" note: µs of CPU per delivery in each place, and cores busy.
pub(crate) fn cpu_note(
    start: &Cpu,
    end: &Cpu,
    wall: Duration,
    deliveries: u64,
    what: &str,
) -> String {
    let (bench, postgres, workers, other) = end.since(start);
    let per = |secs: f64| secs * 1e6 / deliveries.max(1) as f64;
    let wall = wall.as_secs_f64().max(1e-9);
    let mut out = format!(
        "CPU {what} ({:.1} s): bench process (API + in-process pipeline + receiver + load \
         generator) {:.0} µs/delivery ({:.2} cores), Postgres {:.0} µs/delivery ({:.2} cores)",
        wall,
        per(bench),
        bench / wall,
        per(postgres),
        postgres / wall
    );
    if !end.workers.is_empty() {
        let _ = write!(
            out,
            ", worker processes {:.0} µs/delivery ({:.2} cores)",
            per(workers),
            workers / wall
        );
    }
    let _ = write!(
        out,
        "; everything else on the machine {:.2} cores",
        other / wall
    );
    out
}
