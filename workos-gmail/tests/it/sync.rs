//! Mailbox sync: full, incremental, resumption, expiry, statuses, people.

use std::collections::HashSet;
use std::time::Duration;

use chrono::Utc;
use workos_core::Error;
use workos_core::domain::{Direction, IntegrationStatus};
use workos_core::repo::EmailRepo as _;
use workos_gmail::{PersonPolicy, SyncConfig, SyncPhase};
use workos_tests::fake_google::{Fault, Route, simple_message};

use crate::common::{ACCOUNT, Harness};

fn config(policy: PersonPolicy) -> SyncConfig {
    SyncConfig {
        page_size: 10,
        person_policy: policy,
        // Large mailboxes sync here; the pacing itself is unit-tested.
        quota_units_per_second: 1_000_000,
        ..SyncConfig::default()
    }
}

/// Adds `n` plain messages from distinct senders; returns their ids.
fn add_plain(h: &Harness, n: usize, tag: &str) -> Vec<String> {
    (0..n)
        .map(|i| {
            h.google.add_message(simple_message(
                &format!("Sender {i} <{tag}{i}@example.org>"),
                ACCOUNT,
                &format!("{tag} {i}"),
                &format!("Hello number {i}"),
            ))
        })
        .collect()
}

async fn full_then_incremental(h: Harness) {
    let integration = h.connect().await;
    let sample_count = h.google.add_sample_messages().len();
    add_plain(&h, 20, "plain");
    // Never recorded: a draft and spam; never listed: older than the window.
    h.google.add_message_with(
        simple_message(ACCOUNT, "x@example.org", "draft", "wip"),
        &["DRAFT"],
        Utc::now(),
    );
    h.google.add_message_with(
        simple_message("spam@spam.example", ACCOUNT, "spam", "buy"),
        &["SPAM"],
        Utc::now(),
    );
    h.google.add_message_with(
        simple_message("old@example.org", ACCOUNT, "old", "long ago"),
        &["INBOX"],
        Utc::now() - chrono::Duration::days(45),
    );

    let engine = h.gmail.sync_engine(config(PersonPolicy::SentAndReceived));
    let report = engine.sync_once(&h.system, integration.id).await.unwrap();
    let total = sample_count + 20;
    assert_eq!(report.recorded as usize, total, "{report:?}");
    assert_eq!(report.skipped, 1, "the draft"); // spam is not listed
    assert_eq!(report.phase, SyncPhase::Incremental);
    assert!(!report.full_resync);
    assert_eq!(report.pages, 3);
    assert_eq!(
        h.store()
            .email_counts(&h.ctx, integration.id)
            .await
            .unwrap(),
        (total as u64 - 1, 1)
    );

    let stored = h.integration(integration.id).await;
    assert_eq!(stored.status, IntegrationStatus::Active);
    assert!(stored.last_synced_at.is_some());
    assert_eq!(stored.last_error, None);
    let state = h.sync_state(integration.id).await;
    assert_eq!(state.phase, SyncPhase::Incremental);
    assert_eq!(state.page_token, None);
    assert_eq!(state.consecutive_failures, 0);
    assert_eq!(state.full_sync_window_days, 30);
    assert!(state.history_id.is_some());

    // What was read of the samples.
    let emails = h.emails(integration.id).await;
    let by_subject = |s: &str| {
        emails
            .iter()
            .find(|e| e.subject.as_deref() == Some(s))
            .unwrap_or_else(|| {
                panic!(
                    "no email {s:?}: {:?}",
                    emails.iter().map(|e| &e.subject).collect::<Vec<_>>()
                )
            })
    };
    let ada = by_subject("Réunion de lundi — ordre du jour");
    assert_eq!(ada.from, "Ada Lovelace <ada@analytical.example>");
    assert_eq!(
        ada.message_id.as_deref(),
        Some("<ada-1@analytical.example>")
    );
    assert_eq!(ada.direction, Direction::Inbound);
    let reply = by_subject("Re: Réunion de lundi");
    assert_eq!(reply.thread_id, ada.thread_id);
    assert_eq!(reply.headers["In-Reply-To"], "<ada-1@analytical.example>");
    let latin1 = by_subject("Café crème");
    assert_eq!(latin1.from, "René <rene@cafe.example>");
    let grace = by_subject("Devis n°42 ✓");
    assert_eq!(grace.cc, ["\"Team, Navy\" <team@navy.example>"]);
    assert_eq!(grace.headers["attachments"][0]["filename"], "devis.pdf");
    assert_eq!(
        grace.headers["attachments"][0]["content_type"],
        "application/pdf"
    );
    let news = by_subject("This week's deals");
    assert!(news.headers["List-Unsubscribe"].is_string());
    let sent = by_subject("Difference engine");
    assert_eq!(sent.direction, Direction::Outbound);
    let broken = emails
        .iter()
        .find(|e| e.from == "(unknown sender)")
        .expect("the malformed message is recorded");
    assert_eq!(broken.direction, Direction::Inbound);

    // Incremental: ten new messages cost a handful of calls.
    add_plain(&h, 10, "fresh");
    h.google.reset_counters();
    let report = engine.sync_once(&h.system, integration.id).await.unwrap();
    assert_eq!(report.recorded, 10, "{report:?}");
    assert_eq!(h.google.calls(Route::History), 1);
    assert_eq!(h.google.calls(Route::MessagesGet), 10);
    assert_eq!(h.google.calls(Route::MessagesList), 0);
    assert_eq!(h.google.calls(Route::Profile), 0);
    assert_eq!(h.google.calls(Route::Token), 0);
    assert_eq!(report.usage.calls, 11);
    assert_eq!(report.usage.quota_units, 2 + 10 * 5);
    assert_eq!(
        h.sync_state(integration.id).await.history_id,
        Some(h.google.history_id().to_string())
    );

    // Nothing new: one call.
    h.google.reset_counters();
    let report = engine.sync_once(&h.system, integration.id).await.unwrap();
    assert_eq!(report.recorded, 0);
    assert_eq!(h.google.calls(Route::History), 1);
    assert_eq!(h.google.calls(Route::MessagesGet), 0);
}
gmail_test!(full_then_incremental);

async fn incremental_pages_and_deletions(h: Harness) {
    let integration = h.connect().await;
    let engine = h.gmail.sync_engine(config(PersonPolicy::Off));
    engine.sync_once(&h.system, integration.id).await.unwrap();
    let ids = add_plain(&h, 25, "burst");
    // A message added then deleted before the sync: its get is a 404, skipped.
    h.google.delete_message(&ids[3]);
    let report = engine.sync_once(&h.system, integration.id).await.unwrap();
    assert_eq!(report.recorded, 24, "{report:?}");
    assert_eq!(report.missing, 1);
    assert_eq!(report.deletions_seen, 1);
    assert_eq!(report.pages, 3); // 26 records, 10 a page
    assert_eq!(
        h.integration(integration.id).await.status,
        IntegrationStatus::Active
    );
}
gmail_test!(incremental_pages_and_deletions);

async fn label_changes_follow_the_mailbox(h: Harness) {
    let integration = h.connect().await;
    let engine = h.gmail.sync_engine(config(PersonPolicy::Off));
    let ids = add_plain(&h, 3, "label");
    engine.sync_once(&h.system, integration.id).await.unwrap();
    let labels_of = async |id: &str| {
        h.emails(integration.id)
            .await
            .into_iter()
            .find(|e| e.provider_id == id)
            .expect("stored")
            .labels
    };
    assert_eq!(labels_of(&ids[0]).await, ["INBOX"]);

    // Read and starred, archived, then un-starred; a message added after a change.
    assert!(
        h.google
            .modify_labels(&ids[0], &["STARRED"], &["UNREAD", "INBOX"])
    );
    assert!(
        h.google
            .modify_labels(&ids[1], &["IMPORTANT", "Label_7"], &[])
    );
    assert!(h.google.modify_labels(&ids[1], &[], &["IMPORTANT"]));
    let late = add_plain(&h, 1, "late").remove(0);
    assert!(h.google.modify_labels(&late, &["STARRED"], &[]));
    let report = engine.sync_once(&h.system, integration.id).await.unwrap();
    assert_eq!(report.recorded, 1, "{report:?}");
    assert_eq!(report.labels_updated, 3, "{report:?}");
    for id in [&ids[0], &ids[1], &ids[2], &late] {
        let mut want = h.google.labels(id).unwrap();
        want.sort();
        assert_eq!(labels_of(id).await, want, "labels of {id}");
    }
    assert_eq!(labels_of(&ids[0]).await, ["STARRED"]);
    assert_eq!(labels_of(&ids[1]).await, ["INBOX", "Label_7"]);
    assert_eq!(labels_of(&late).await, ["INBOX", "STARRED"]);

    // Nothing changed: a run changes nothing more.
    let report = engine.sync_once(&h.system, integration.id).await.unwrap();
    assert_eq!(
        (report.recorded, report.labels_updated),
        (0, 0),
        "{report:?}"
    );
}
gmail_test!(label_changes_follow_the_mailbox);

async fn stale_history_means_full_resync(h: Harness) {
    let integration = h.connect().await;
    add_plain(&h, 5, "before");
    let engine = h.gmail.sync_engine(config(PersonPolicy::Off));
    engine.sync_once(&h.system, integration.id).await.unwrap();
    add_plain(&h, 3, "after");
    h.google.expire_history();
    let report = engine.sync_once(&h.system, integration.id).await.unwrap();
    assert!(report.full_resync);
    assert_eq!(report.recorded, 3);
    assert_eq!(report.already_stored, 5);
    assert_eq!(report.phase, SyncPhase::Incremental);
    assert_eq!(
        h.store()
            .email_counts(&h.ctx, integration.id)
            .await
            .unwrap(),
        (8, 0)
    );
    let stored = h.integration(integration.id).await;
    assert_eq!(stored.status, IntegrationStatus::Active);
    assert_eq!(h.sync_state(integration.id).await.consecutive_failures, 0);

    // And the incremental sync works from the new bookmark.
    add_plain(&h, 2, "later");
    let report = engine.sync_once(&h.system, integration.id).await.unwrap();
    assert!(!report.full_resync);
    assert_eq!(report.recorded, 2);

    // A start id Gmail refuses (400) also means a full resync, not a failure loop.
    h.google.inject(Route::History, Fault::Status(400), 1);
    let report = engine.sync_once(&h.system, integration.id).await.unwrap();
    assert!(report.full_resync);
    assert_eq!((report.recorded, report.already_stored), (0, 10));
    assert_eq!(
        h.integration(integration.id).await.status,
        IntegrationStatus::Active
    );
}
gmail_test!(stale_history_means_full_resync);

async fn crash_between_pages_resumes(h: Harness) {
    let integration = h.connect().await;
    add_plain(&h, 25, "m");
    let engine = h.gmail.sync_engine(config(PersonPolicy::Off));
    // Page 1 answers; page 2 fails beyond the retries.
    h.google.inject(Route::MessagesList, Fault::Pass, 1);
    h.google.inject(Route::MessagesList, Fault::Status(500), 4);
    let err = engine
        .sync_once(&h.system, integration.id)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert_eq!(
        h.store()
            .email_counts(&h.ctx, integration.id)
            .await
            .unwrap(),
        (10, 0)
    );
    let state = h.sync_state(integration.id).await;
    assert_eq!(state.phase, SyncPhase::Full);
    assert!(state.page_token.is_some(), "page 2's token is kept");
    assert_eq!(state.consecutive_failures, 1);
    let stored = h.integration(integration.id).await;
    assert_eq!(stored.status, IntegrationStatus::Syncing);
    assert!(stored.last_error.is_some());

    // The next run resumes at page 2: nothing lost, nothing twice.
    h.google.reset_counters();
    let report = engine.sync_once(&h.system, integration.id).await.unwrap();
    assert_eq!(report.recorded, 15, "{report:?}");
    assert_eq!(report.already_stored, 0);
    assert_eq!(h.google.calls(Route::MessagesList), 2);
    assert_eq!(
        h.google.calls(Route::Profile),
        0,
        "the start history id was kept"
    );
    let emails = h.emails(integration.id).await;
    let ids: HashSet<&str> = emails.iter().map(|e| e.provider_id.as_str()).collect();
    assert_eq!((emails.len(), ids.len()), (25, 25));
    let stored = h.integration(integration.id).await;
    assert_eq!(stored.status, IntegrationStatus::Active);
    assert_eq!(stored.last_error, None);
}
gmail_test!(crash_between_pages_resumes);

async fn transient_errors_are_retried(h: Harness) {
    let integration = h.connect().await;
    add_plain(&h, 3, "r");
    h.google.inject(Route::MessagesList, Fault::Status(503), 2);
    h.google.inject(Route::MessagesGet, Fault::Status(500), 1);
    let engine = h.gmail.sync_engine(config(PersonPolicy::Off));
    let report = engine.sync_once(&h.system, integration.id).await.unwrap();
    assert_eq!(report.recorded, 3);
    assert_eq!(report.usage.retries, 3);
    assert_eq!(h.google.calls(Route::MessagesList), 3);
}
gmail_test!(transient_errors_are_retried);

/// A received message whose `From` claims the mailbox's own address is inbound, and makes no
/// person of its recipient: the direction is Gmail's `SENT` label, not a header any sender
/// writes. What the account really sent is outbound.
async fn spoofed_own_address_is_still_inbound(h: Harness) {
    let integration = h.connect().await;
    h.google.add_message(simple_message(
        ACCOUNT,
        "Mallory <mallory@evil.example>",
        "Spoofed",
        "Pay this invoice.",
    ));
    h.google.add_message_with(
        simple_message(ACCOUNT, "Bob <bob@example.org>", "Genuine", "Hello Bob."),
        &["SENT"],
        Utc::now(),
    );
    let engine = h.gmail.sync_engine(config(PersonPolicy::SentOnly));
    engine.sync_once(&h.system, integration.id).await.unwrap();
    let emails = h.emails(integration.id).await;
    let direction = |subject: &str| {
        emails
            .iter()
            .find(|e| e.subject.as_deref() == Some(subject))
            .map(|e| e.direction)
            .unwrap_or_else(|| panic!("no email {subject:?}"))
    };
    assert_eq!(direction("Spoofed"), Direction::Inbound);
    assert_eq!(direction("Genuine"), Direction::Outbound);
    assert_eq!(
        h.store()
            .email_counts(&h.ctx, integration.id)
            .await
            .unwrap(),
        (1, 1)
    );
    // Only the genuine recipient became a person (the policy creates them for sent mail).
    let people: Vec<String> = h
        .people()
        .await
        .into_iter()
        .filter_map(|p| p.email.map(|e| e.as_ref().to_owned()))
        .collect();
    assert_eq!(people, ["bob@example.org"]);
}
gmail_test!(spoofed_own_address_is_still_inbound);

async fn bulk_and_own_mail_create_no_person(h: Harness) {
    let integration = h.connect().await;
    h.google.add_sample_messages();
    // Mail to oneself.
    h.google.add_message_with(
        simple_message(ACCOUNT, ACCOUNT, "note to self", "remember"),
        &["SENT", "INBOX"],
        Utc::now(),
    );
    // An auto-reply.
    h.google.add_message(
        format!(
            "From: robot@auto.example\r\nTo: {ACCOUNT}\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\n\r\nAway.\r\n"
        )
        .into_bytes(),
    );
    let engine = h.gmail.sync_engine(config(PersonPolicy::SentAndReceived));
    engine.sync_once(&h.system, integration.id).await.unwrap();
    let mut people: Vec<String> = h
        .people()
        .await
        .into_iter()
        .filter_map(|p| p.email.map(|e| e.as_ref().to_owned()))
        .collect();
    people.sort();
    assert_eq!(
        people,
        [
            "ada@analytical.example",
            "charles@engine.example",
            "grace@navy.example",
            "rene@cafe.example",
        ]
    );
    // The newsletter is still recorded, without a person.
    let emails = h.emails(integration.id).await;
    let news = emails
        .iter()
        .find(|e| e.from.contains("news@deals.example"))
        .unwrap();
    assert_eq!(news.person_id, None);
    assert!(
        emails
            .iter()
            .any(|e| e.subject.as_deref() == Some("note to self"))
    );
}
gmail_test!(bulk_and_own_mail_create_no_person);

async fn person_policies(h: Harness) {
    let integration = h.connect().await;
    h.google.add_sample_messages();
    let engine = h.gmail.sync_engine(config(PersonPolicy::SentOnly));
    engine.sync_once(&h.system, integration.id).await.unwrap();
    let people: Vec<String> = h
        .people()
        .await
        .into_iter()
        .filter_map(|p| p.email.map(|e| e.as_ref().to_owned()))
        .collect();
    assert_eq!(people, ["charles@engine.example"]);
    // Existing people are matched whatever the policy.
    add_plain(&h, 1, "charles-again");
    h.google.add_message(simple_message(
        "Charles Babbage <Charles@Engine.example>",
        ACCOUNT,
        "Re: Difference engine",
        "Coming along.",
    ));
    let off = h.gmail.sync_engine(config(PersonPolicy::Off));
    off.sync_once(&h.system, integration.id).await.unwrap();
    let charles = h.person("charles@engine.example").await.unwrap();
    let emails = h.emails(integration.id).await;
    let reply = emails
        .iter()
        .find(|e| e.subject.as_deref() == Some("Re: Difference engine"))
        .unwrap();
    assert_eq!(reply.person_id, Some(charles.id));
    assert_eq!(h.people().await.len(), 1);
}
gmail_test!(person_policies);

async fn missing_messages_are_skipped(h: Harness) {
    let integration = h.connect().await;
    let ids = add_plain(&h, 4, "gone");
    h.google.make_unavailable(&ids[1]);
    let engine = h.gmail.sync_engine(config(PersonPolicy::Off));
    let report = engine.sync_once(&h.system, integration.id).await.unwrap();
    assert_eq!((report.recorded, report.missing), (3, 1));
    assert_eq!(
        h.integration(integration.id).await.status,
        IntegrationStatus::Active
    );
}
gmail_test!(missing_messages_are_skipped);

async fn failing_after_consecutive_failures(h: Harness) {
    let integration = h.connect().await;
    let engine = h.gmail.sync_engine(config(PersonPolicy::Off));
    engine.sync_once(&h.system, integration.id).await.unwrap();
    // Each run fails: the history answers 500 beyond the retries.
    h.google.inject(Route::History, Fault::Status(500), 12);
    for (run, expected) in [
        (1, IntegrationStatus::Syncing),
        (2, IntegrationStatus::Syncing),
        (3, IntegrationStatus::Failing),
    ] {
        let err = engine
            .sync_once(&h.system, integration.id)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
        let stored = h.integration(integration.id).await;
        assert_eq!(stored.status, expected, "after failed run {run}");
        assert!(stored.last_error.as_deref().unwrap().contains("500"));
        assert_eq!(h.sync_state(integration.id).await.consecutive_failures, run);
    }
    // Recovery.
    add_plain(&h, 1, "ok");
    let report = engine.sync_once(&h.system, integration.id).await.unwrap();
    assert_eq!(report.recorded, 1);
    let stored = h.integration(integration.id).await;
    assert_eq!(stored.status, IntegrationStatus::Active);
    assert_eq!(stored.last_error, None);
    assert_eq!(h.sync_state(integration.id).await.consecutive_failures, 0);
}
gmail_test!(failing_after_consecutive_failures);

async fn rate_limits_surface(h: Harness) {
    let integration = h.connect().await;
    add_plain(&h, 2, "rl");
    let engine = h.gmail.sync_engine(config(PersonPolicy::Off));
    h.google.inject(
        Route::MessagesList,
        Fault::RateLimited {
            status: 429,
            retry_after: Some(9),
        },
        1,
    );
    let err = engine
        .sync_once(&h.system, integration.id)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::RateLimited { retry_after } if retry_after == Duration::from_secs(9)),
        "{err:?}"
    );
    h.google.inject(
        Route::MessagesGet,
        Fault::RateLimited {
            status: 403,
            retry_after: None,
        },
        1,
    );
    let err = engine
        .sync_once(&h.system, integration.id)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RateLimited { .. }), "{err:?}");
    // The page is redone; nothing is lost or doubled.
    let report = engine.sync_once(&h.system, integration.id).await.unwrap();
    assert_eq!(report.recorded + report.already_stored, 2);
    assert_eq!(
        h.store()
            .email_counts(&h.ctx, integration.id)
            .await
            .unwrap(),
        (2, 0)
    );
}
gmail_test!(rate_limits_surface);

async fn one_run_at_a_time(h: Harness) {
    let integration = h.connect().await;
    add_plain(&h, 1, "slow");
    h.google
        .inject(Route::Profile, Fault::Delay(Duration::from_millis(500)), 1);
    let engine = h.gmail.sync_engine(config(PersonPolicy::Off));
    let (first, second) = tokio::join!(engine.sync_once(&h.system, integration.id), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        engine.sync_once(&h.system, integration.id).await
    });
    first.unwrap();
    let err = second.unwrap_err();
    assert!(
        matches!(err, Error::Conflict { ref field, .. } if field == "sync"),
        "{err:?}"
    );
}
gmail_test!(one_run_at_a_time);
