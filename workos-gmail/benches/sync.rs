//! Benchmark (not a test) of the Gmail sync on Postgres: a full sync of a large fake mailbox,
//! then an incremental sync of a burst of changes.
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!   cargo bench -p workos-gmail --bench sync
//! # a quick check that it works:
//! DATABASE_URL=… BENCH_MESSAGES=500 BENCH_CHANGES=20 cargo bench -p workos-gmail --bench sync
//! ```
//!
//! The bench creates a fresh database `workos_gmailbench_<uuid>` next to the one
//! `DATABASE_URL` names (the role must be able to create databases), migrates it, and starts
//! the fake Google of `workos-tests` on `127.0.0.1:0` with a mailbox of `BENCH_MESSAGES`
//! (default 10,000) messages: nine in ten plain text from distinct senders, one in ten the
//! harness's realistic samples (multipart, non-UTF-8 charsets, encoded headers, attachments,
//! malformed ones). One org connects the mailbox through the real OAuth flow (PKCE, sealed
//! tokens). Then:
//!
//! - `full`: one `sync_once` from nothing (`messages.list` pages, each message fetched,
//!   parsed, matched and recorded with its interaction and event);
//! - `incremental`: `BENCH_CHANGES` (default 100) changes in the mailbox (six in ten new
//!   messages, three in ten label changes, one in ten deletions), then one `sync_once`
//!   (`history.list`).
//!
//! For each: wall time, the Gmail API calls the fake served (per method) and the quota units
//! they cost at Google's published prices (`messages.list` 5, `messages.get` 5,
//! `history.list` 2, `getProfile` 1), the client's own count for comparison, and the peak
//! resident memory of the process during the phase (`VmHWM` of `/proc/self/status`, reset
//! before each phase through `/proc/self/clear_refs`; the fake runs in the same process, so
//! its mailbox counts too). After each phase the stored emails are counted. The report is
//! Markdown on stdout; progress goes to stderr. The database is dropped at the end unless
//! `KEEP_DB=1`. Settings: `DATABASE_URL` (required), `BENCH_MESSAGES`, `BENCH_CHANGES`,
//! `BENCH_PAGE_SIZE` (Google's maximum, 500), `BENCH_CONCURRENCY` (the engine's default, 4),
//! `BENCH_QUOTA_UNITS` (quota units per second, default the engine's 250 = Google's per-user
//! limit; 0 measures the engine unpaced).

#![allow(missing_docs)]

use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use sqlx::{Connection as _, Executor as _, PgConnection};
use workos_core::crypto::{Cipher, SecretKey};
use workos_core::domain::NewOrg;
use workos_core::ids::{IntegrationId, UserId};
use workos_core::repo::{Directory as _, EmailRepo as _};
use workos_core::tenant::{Role, TenantContext};
use workos_gmail::{Gmail, GmailConfig, GmailStore, PersonPolicy, SyncConfig, SyncEngine};
use workos_store::SqlStore;
use workos_tests::db::with_database;
use workos_tests::fake_google::{FakeGoogle, Route, sample_messages, simple_message};

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

const ACCOUNT: &str = "bench@acme.example";

/// Google's quota units per call.
const UNITS: [(Route, &str, u64); 4] = [
    (Route::MessagesList, "messages.list", 5),
    (Route::MessagesGet, "messages.get", 5),
    (Route::History, "history.list", 2),
    (Route::Profile, "getProfile", 1),
];

fn setting(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Ok(v) => Ok(v.trim().parse()?),
        Err(_) => Ok(default),
    }
}

/// Peak resident set size of this process since the last reset, in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn current_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets the peak RSS to the current RSS (Linux `clear_refs` value 5).
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

struct Phase {
    name: &'static str,
    wall: Duration,
    fake_calls: Vec<(&'static str, usize, u64)>,
    client_calls: u64,
    client_units: u64,
    rss_before_kib: Option<u64>,
    peak_kib: Option<u64>,
    peak_reset: bool,
    stored: u64,
    report: String,
}

async fn run_phase(
    name: &'static str,
    google: &FakeGoogle,
    gmail: &Gmail,
    engine: &SyncEngine,
    store: &SqlStore,
    job: &TenantContext,
    id: IntegrationId,
) -> Result<Phase> {
    google.reset_counters();
    let usage_before = gmail.usage();
    let peak_reset = reset_peak_rss();
    let rss_before_kib = current_rss_kib();
    eprintln!("{name}: syncing…");
    let started = Instant::now();
    let report = engine.sync_once(job, id).await?;
    let wall = started.elapsed();
    let peak_kib = peak_rss_kib();
    let usage = gmail.usage();
    let fake_calls = UNITS
        .iter()
        .map(|(route, label, units)| {
            let n = google.calls(*route);
            (*label, n, n as u64 * units)
        })
        .collect();
    let (inbound, outbound) = store.email_counts(job, id).await?;
    eprintln!("{name}: done in {wall:?}");
    Ok(Phase {
        name,
        wall,
        fake_calls,
        client_calls: usage.calls - usage_before.calls,
        client_units: usage.quota_units - usage_before.quota_units,
        rss_before_kib,
        peak_kib,
        peak_reset,
        stored: inbound + outbound,
        report: format!(
            "recorded {}, already stored {}, missing {}, skipped {}, labels updated {}, pages {}",
            report.recorded,
            report.already_stored,
            report.missing,
            report.skipped,
            report.labels_updated,
            report.pages
        ),
    })
}

fn main() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(bench())
}

async fn bench() -> Result<()> {
    let admin_url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is required")?;
    let messages = setting("BENCH_MESSAGES", 10_000)?;
    let changes = setting("BENCH_CHANGES", 100)?;
    let page_size = u32::try_from(setting("BENCH_PAGE_SIZE", 500)?)?;
    let concurrency = setting("BENCH_CONCURRENCY", SyncConfig::default().concurrency)?;
    let quota_units_per_second = u32::try_from(setting(
        "BENCH_QUOTA_UNITS",
        SyncConfig::default().quota_units_per_second as usize,
    )?)?;

    let database = format!("workos_gmailbench_{}", uuid::Uuid::now_v7().simple());
    let mut admin = PgConnection::connect(&admin_url).await?;
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE \"{database}\""
        )))
        .await?;
    let outcome = run(
        &with_database(&admin_url, &database),
        messages,
        changes,
        page_size,
        concurrency,
        quota_units_per_second,
    )
    .await;
    if std::env::var("KEEP_DB").is_ok_and(|v| v == "1") {
        eprintln!("kept database {database}");
    } else {
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE \"{database}\" WITH (FORCE)"
            )))
            .await?;
    }
    outcome
}

async fn run(
    url: &str,
    messages: usize,
    changes: usize,
    page_size: u32,
    concurrency: usize,
    quota_units_per_second: u32,
) -> Result<()> {
    let store = SqlStore::connect(url).await?;
    store.migrate().await?;
    let google = FakeGoogle::start(ACCOUNT).await;
    eprintln!("filling the mailbox with {messages} messages…");
    let samples = sample_messages(ACCOUNT);
    let now = Utc::now();
    for i in 0..messages {
        let raw = if i % 10 == 9 {
            samples[i / 10 % samples.len()].clone()
        } else {
            simple_message(
                &format!("Sender {i} <sender{i}@example.org>"),
                ACCOUNT,
                &format!("Message {i}"),
                &format!("Hello, this is message number {i}.\r\nRegards"),
            )
        };
        let at = now - chrono::Duration::seconds(i64::try_from(messages - i)?);
        google.add_message_with(raw, &["INBOX", "UNREAD"], at);
    }

    let vars = google.env_vars();
    let config = GmailConfig::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })?
    .ok_or("the fake's configuration is incomplete")?;
    let gmail_store: Arc<dyn GmailStore> = Arc::new(store.clone());
    let gmail = Gmail::builder(
        config,
        gmail_store,
        Arc::new(Cipher::new(1, SecretKey::generate())),
    )
    .build()?;
    let owner = UserId::new();
    let org = store
        .create_org(
            NewOrg {
                name: "Bench".into(),
            },
            Some(owner),
        )
        .await?;
    let ctx = TenantContext::user(org.id, owner, Role::Owner);
    let start = gmail.start_connect(&ctx).await?;
    let (code, state) = google.consent(start.authorization_url.as_str()).await;
    let integration = gmail.finish_connect(&ctx, &code, &state).await?;
    let job = TenantContext::system(org.id, "gmail-bench");
    let engine = gmail.sync_engine(SyncConfig {
        page_size,
        concurrency,
        person_policy: PersonPolicy::SentAndReceived,
        quota_units_per_second,
        ..SyncConfig::default()
    });

    // Both phases sync the same mailbox with the same engine.
    let phase = |name: &'static str| {
        run_phase(name, &google, &gmail, &engine, &store, &job, integration.id)
    };
    let full = phase("full").await?;

    let ids = google.message_ids();
    let (added, labelled, deleted) = (changes * 6 / 10, changes * 3 / 10, changes / 10);
    for i in 0..added {
        google.add_message(simple_message(
            &format!("New {i} <new{i}@example.org>"),
            ACCOUNT,
            &format!("New message {i}"),
            "Fresh mail",
        ));
    }
    for id in ids
        .iter()
        .step_by((ids.len() / labelled.max(1)).max(1))
        .take(labelled)
    {
        google.modify_labels(id, &["STARRED"], &["UNREAD"]);
    }
    for id in ids.iter().rev().take(deleted) {
        google.delete_message(id);
    }
    let incremental = phase("incremental").await?;

    println!("## Gmail sync (Postgres)\n");
    println!(
        "Mailbox: {messages} messages; then {changes} changes ({added} new, {labelled} label changes, {deleted} deletions). \
         Page size {page_size}, {concurrency} messages fetched at once, paced to {quota_units_per_second} quota units/s (0: unpaced).\n"
    );
    println!(
        "| phase | wall | Gmail calls (fake) | quota units | client's count (calls / units) | peak RSS in phase | emails stored after |"
    );
    println!("|---|---|---|---|---|---|---|");
    for p in [&full, &incremental] {
        let calls: Vec<String> = p
            .fake_calls
            .iter()
            .filter(|(_, n, _)| *n > 0)
            .map(|(label, n, _)| format!("{label} {n}"))
            .collect();
        let units: u64 = p.fake_calls.iter().map(|(_, _, u)| u).sum();
        let total: usize = p.fake_calls.iter().map(|(_, n, _)| n).sum();
        let memory = match (p.peak_kib, p.rss_before_kib, p.peak_reset) {
            (Some(peak), Some(before), true) => format!(
                "{:.1} MiB (+{:.1} MiB over the start)",
                peak as f64 / 1024.0,
                peak.saturating_sub(before) as f64 / 1024.0
            ),
            (Some(peak), _, _) => format!(
                "{:.1} MiB (process peak; reset unavailable)",
                peak as f64 / 1024.0
            ),
            _ => "n/a".to_owned(),
        };
        println!(
            "| {} | {:.2} s | {total} ({}) | {units} | {} / {} | {memory} | {} |",
            p.name,
            p.wall.as_secs_f64(),
            calls.join(", "),
            p.client_calls,
            p.client_units,
            p.stored,
        );
    }
    println!();
    for p in [&full, &incremental] {
        println!("- {}: {}", p.name, p.report);
    }
    Ok(())
}
