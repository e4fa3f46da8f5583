//! The bench's settings, all from the environment (see the crate docs).

use anyhow::{Result, bail, ensure};
use workos_tests::bench::{self, env_num};

/// Who the engine acts as (`BENCH_ACTOR`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Actor {
    ApiKey,
    User,
    System,
}

pub(crate) struct Config {
    pub(crate) url: String,
    pub(crate) orgs: usize,
    pub(crate) people: usize,
    pub(crate) ops: u64,
    pub(crate) warmup: u64,
    pub(crate) concurrency: usize,
    pub(crate) rounds: u64,
    pub(crate) actor: Actor,
    pub(crate) separate_one_org_db: bool,
    pub(crate) only: Vec<String>,
    pub(crate) keep_db: bool,
    pub(crate) use_db: bool,
}

impl Config {
    pub(crate) fn from_env() -> Result<Self> {
        let url = bench::database_url("workos-store", "store", true)?;
        let actor = match std::env::var("BENCH_ACTOR").as_deref() {
            Err(_) | Ok("" | "api_key") => Actor::ApiKey,
            Ok("user") => Actor::User,
            Ok("system") => Actor::System,
            Ok(other) => bail!("BENCH_ACTOR must be api_key, user or system, got {other:?}"),
        };
        let separate_one_org_db = match std::env::var("BENCH_ONE_ORG_DB").as_deref() {
            Err(_) | Ok("" | "same") => false,
            Ok("separate") => true,
            Ok(other) => bail!("BENCH_ONE_ORG_DB must be same or separate, got {other:?}"),
        };
        let cfg = Self {
            url,
            orgs: env_num("BENCH_ORGS", 10_000)?,
            people: env_num("BENCH_PEOPLE", 100)?,
            ops: env_num("BENCH_OPS", 20_000)?,
            warmup: env_num("BENCH_WARMUP", 2_000)?,
            concurrency: env_num("BENCH_CONCURRENCY", 8)?,
            rounds: env_num("BENCH_ROUNDS", 10)?,
            actor,
            separate_one_org_db,
            only: bench::env_list("BENCH_ONLY"),
            keep_db: bench::keep_db(),
            use_db: std::env::var("BENCH_USE_DB").is_ok_and(|v| v == "1"),
        };
        ensure!(
            cfg.orgs > 0 && cfg.people > 0 && cfg.concurrency > 0 && cfg.rounds > 0,
            "BENCH_ORGS, BENCH_PEOPLE, BENCH_CONCURRENCY and BENCH_ROUNDS must be positive"
        );
        ensure!(
            cfg.ops >= cfg.rounds,
            "BENCH_OPS must be at least BENCH_ROUNDS"
        );
        ensure!(
            !(cfg.use_db && cfg.separate_one_org_db),
            "BENCH_USE_DB=1 benches in one database: BENCH_ONE_ORG_DB must be same"
        );
        Ok(cfg)
    }
}
