//! The machine a bench runs on: its load, the wait for it to be quiet (and for no other bench),
//! and the line a report states about it.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::env_num;

/// The 1-minute load average (NaN when unknown) and the three averages as `/proc/loadavg`
/// shows them.
#[must_use]
pub fn loadavg() -> (f64, String) {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let fields: Vec<&str> = text.split_whitespace().take(3).collect();
    let one = fields
        .first()
        .and_then(|f| f.parse().ok())
        .unwrap_or(f64::NAN);
    (one, fields.join(" "))
}

/// The wait for a quiet machine before each scenario: until the 1-minute load average is below
/// `max`, checking every `poll`, for at most `wait` over the whole run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quiet {
    /// `BENCH_LOAD_MAX` (1.5).
    pub max: f64,
    /// `BENCH_LOAD_POLL_SECS` (20 s).
    pub poll: Duration,
    /// `BENCH_LOAD_WAIT_SECS` (the bench's default).
    pub wait: Duration,
}

impl Quiet {
    /// From the environment; `wait_secs` is the bench's default budget.
    ///
    /// # Errors
    /// When a variable is set to something that does not parse.
    pub fn from_env(wait_secs: f64) -> Result<Self> {
        Ok(Self {
            max: env_num("BENCH_LOAD_MAX", 1.5)?,
            poll: Duration::from_secs_f64(env_num("BENCH_LOAD_POLL_SECS", 20.0)?),
            wait: Duration::from_secs_f64(env_num("BENCH_LOAD_WAIT_SECS", wait_secs)?),
        })
    }

    /// Waits until the load average is below the maximum, spending at most `budget` (which it
    /// reduces). Returns the time waited, whether the machine was quiet at the end, and the
    /// load average then.
    pub async fn wait(&self, budget: &mut Duration) -> (Duration, bool, String) {
        self.wait_until_quiet(budget, false).await
    }

    /// What a report says of the wait when it is shared by the scenarios ([`Quiet::wait()`]
    /// with one budget).
    #[must_use]
    pub fn describe(&self) -> String {
        format!(
            "waited before each scenario for the 1-minute load average < {} (poll {} s, budget {} \
             s in all)",
            self.max,
            self.poll.as_secs(),
            self.wait.as_secs()
        )
    }

    /// [`Quiet::wait()`], and until no other benchmark runs either (see [`other_benches`]).
    pub async fn wait_alone(&self, budget: &mut Duration) -> (Duration, bool, String) {
        self.wait_until_quiet(budget, true).await
    }

    async fn wait_until_quiet(
        &self,
        budget: &mut Duration,
        alone: bool,
    ) -> (Duration, bool, String) {
        let max = self.max;
        let started = Instant::now();
        loop {
            let (one, all) = loadavg();
            let others = if alone { other_benches() } else { Vec::new() };
            if one < max && others.is_empty() {
                return (started.elapsed(), true, all);
            }
            let why = if others.is_empty() {
                format!("load average {all}")
            } else {
                format!(
                    "load average {all}, other benchmarks running: {}",
                    others.join(", ")
                )
            };
            if budget.is_zero() {
                if alone {
                    eprintln!("{why}: the wait budget is spent; running anyway");
                } else {
                    eprintln!(
                        "{why}: not below {max} and the wait budget is spent; running anyway"
                    );
                }
                return (started.elapsed(), false, all);
            }
            let nap = self.poll.min(*budget);
            let (nap_secs, left) = (nap.as_secs_f64(), budget.as_secs_f64());
            if alone {
                eprintln!(
                    "{why}: waiting {nap_secs:.0} s (for a load average below {max} and no other \
                     benchmark; {left:.0} s of waiting left)"
                );
            } else {
                eprintln!(
                    "{why}: waiting {nap_secs:.0} s for it to fall below {max} ({left:.0} s of \
                     waiting left)"
                );
            }
            tokio::time::sleep(nap).await;
            *budget = budget.saturating_sub(nap);
        }
    }
}

/// Other benchmark processes (an argument `--bench`, as `cargo bench` passes), as
/// `name (pid)`: measuring while one runs would measure both. This process and its ancestors
/// (the `cargo bench` that started it) do not count.
#[must_use]
pub fn other_benches() -> Vec<String> {
    let mut mine = vec![std::process::id().to_string()];
    while let Some(parent) =
        std::fs::read_to_string(format!("/proc/{}/status", mine[mine.len() - 1]))
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix("PPid:"))
                    .map(|p| p.trim().to_owned())
            })
            .filter(|p| p != "0" && !mine.contains(p))
    {
        mine.push(parent);
    }
    let mut found = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let pid = entry.file_name().to_string_lossy().into_owned();
            if mine.contains(&pid) || !pid.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                continue;
            };
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            if args.iter().skip(1).any(|a| *a == b"--bench") {
                let exe = String::from_utf8_lossy(args[0]);
                let name = exe.rsplit('/').next().unwrap_or_default().to_owned();
                found.push(format!("{name} ({pid})"));
            }
        }
    }
    found
}

/// The machine, for a report: CPUs, their model and the memory.
#[must_use]
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or_else(|| "unknown".to_owned(), |(_, v)| v.trim().to_owned());
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or_else(
            || "unknown".to_owned(),
            |kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0),
        );
    format!("{cores} CPUs ({cpu}), {mem} RAM")
}
