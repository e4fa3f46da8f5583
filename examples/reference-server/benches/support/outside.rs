//! Preparing a bench database for a load generator outside the bench process
//! (`scripts/bench/wrk`): with `BENCH_PREPARE=DIR` a bench seeds its database as for its own
//! run, keeps it, and writes into `DIR`:
//!
//! - `db`: the database's name;
//! - `server.env`: the environment `workos-server serve` needs for it (`NAME=value` lines,
//!   secrets included: the directory is the operator's, like a `.env` file);
//! - `warmup.req` and `run.req`: distinct requests, one a line, `header value<TAB>body`
//!   (the header named by the script: Twilio's signature, or an API key), so the warm-up
//!   never repeats a request of the run.
//!
//! `BENCH_PUBLIC_URL` is the URL the outside server will answer on (`http://127.0.0.1:PORT`):
//! signed webhooks are signed over it.

// Included by several benches (`#[path]`), each using part of it.
#![allow(dead_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, ensure};

/// Where to write, when the bench only prepares (`BENCH_PREPARE`).
pub(crate) fn prepare_dir() -> Option<PathBuf> {
    std::env::var_os("BENCH_PREPARE")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
}

/// `BENCH_PUBLIC_URL`, required when preparing.
pub(crate) fn public_url() -> Result<String> {
    let url = std::env::var("BENCH_PUBLIC_URL").context("BENCH_PUBLIC_URL (with BENCH_PREPARE)")?;
    ensure!(
        url.starts_with("http://") && !url.ends_with('/'),
        "BENCH_PUBLIC_URL: an http:// URL without a trailing slash, got {url:?}"
    );
    Ok(url)
}

/// How many requests to write: `BENCH_REQUESTS` for the run (default `run`), and
/// `BENCH_WARMUP_REQUESTS` for the warm-up (default `warmup`).
pub(crate) fn request_counts(run: usize, warmup: usize) -> Result<(usize, usize)> {
    let get = |name: &str, default: usize| match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .with_context(|| format!("{name}: a positive number, got {v:?}")),
        Err(_) => Ok(default),
    };
    Ok((
        get("BENCH_REQUESTS", run)?,
        get("BENCH_WARMUP_REQUESTS", warmup)?,
    ))
}

/// Writes `db` and `server.env`.
pub(crate) fn write_server(dir: &Path, db: &str, env: &[(&str, String)]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join("db"), format!("{db}\n"))?;
    let mut out = String::new();
    for (name, value) in env {
        ensure!(
            !value.contains(['\n', '\'']),
            "{name}: a value the env file cannot hold"
        );
        out.push_str(&format!("{name}='{value}'\n"));
    }
    std::fs::write(dir.join("server.env"), out)?;
    Ok(())
}

/// Writes `name` (`warmup.req`, `run.req`): one `header<TAB>body` line per request.
pub(crate) fn write_requests(
    dir: &Path,
    name: &str,
    requests: impl Iterator<Item = (String, String)>,
) -> Result<usize> {
    let path = dir.join(name);
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?,
    );
    let mut n = 0;
    for (header, body) in requests {
        ensure!(
            !header.contains(['\t', '\n']) && !body.contains('\n'),
            "request {n}: a tab or newline would split its line"
        );
        writeln!(out, "{header}\t{body}")?;
        n += 1;
    }
    out.flush()?;
    Ok(n)
}
