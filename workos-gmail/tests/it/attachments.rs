//! Attachments at the API level: the upload endpoint's wire format, `format=full` part ids and
//! `attachments.get`, and `Gmail::attachment` on a stored email.

use base64::Engine as _;
use workos_core::Error;
use workos_core::channel::{Attachment, EmailChannel as _};
use workos_gmail::PersonPolicy;
use workos_gmail::api::Method;
use workos_gmail::api::SIMPLE_SEND_MAX_BYTES;
use workos_tests::fake_google::{Fault, Route};

use crate::common::{Harness, outbound};

async fn upload_and_attachment_wire_format(h: Harness) {
    let integration = h.connect().await;
    let token = h.gmail.access_token(&h.ctx, integration.id).await.unwrap();
    let api = h.gmail.api();

    // A message through the upload endpoint, in a thread.
    let raw = b"From: owner@acme.example\r\nTo: ada@example.com\r\nSubject: hi\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Type: text/csv; name=\"a.csv\"\r\nContent-Disposition: attachment; filename=\"a.csv\"\r\nContent-Transfer-Encoding: base64\r\n\r\nYSxiCjEsMgo=\r\n--b--\r\n";
    let sent = api.send_upload(&token, raw, Some("t-1")).await.unwrap();
    let at_google = h.google.sent();
    assert!(at_google[0].uploaded);
    assert_eq!(at_google[0].raw, raw, "the message arrives byte for byte");
    assert_eq!(at_google[0].requested_thread_id.as_deref(), Some("t-1"));
    assert_eq!(h.google.calls(Route::UploadSend), 1);

    // Its MIME tree names the attachment by part id, with an attachment id that changes on
    // every read; each works.
    let first = api.get_full(&token, &sent.id).await.unwrap();
    let second = api.get_full(&token, &sent.id).await.unwrap();
    let part = first.payload.find("1").expect("part 1");
    assert_eq!(part.filename, "a.csv");
    assert_eq!(part.mime_type, "text/csv");
    assert_eq!(part.body.size, 8);
    let other = second.payload.find("1").unwrap().body.attachment_id.clone();
    assert_ne!(part.body.attachment_id, other);
    for id in [part.body.attachment_id.clone(), other] {
        let body = api
            .get_attachment(&token, &sent.id, &id.unwrap())
            .await
            .unwrap();
        assert_eq!(body.decode().unwrap(), b"a,b\n1,2\n");
        assert_eq!(body.size, 8);
    }
    assert_eq!(
        first.payload.find("0").unwrap().body.decode().unwrap(),
        b"hello"
    );
    assert_eq!(api.usage().calls_of(Method::AttachmentsGet), 2);

    // Google's refusals: an unknown attachment token, a message that is not RFC 5322.
    let err = api
        .get_attachment(&token, &sent.id, "ANGjdJbogus")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Provider {
                status: Some(400),
                ..
            }
        ),
        "{err:?}"
    );
    let err = api
        .send_upload(&token, b"no headers, no message", None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Provider {
                status: Some(400),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(h.google.sent().len(), 1, "the refused upload sent nothing");
}
gmail_test!(upload_and_attachment_wire_format);

async fn large_sends_upload_and_attachments_download(h: Harness) {
    let integration = h.connect().await;
    let sender = h.gmail.sender(PersonPolicy::SentOnly);
    let big: Vec<u8> = (0..(5usize << 20) + 1).map(|i| (i % 251) as u8).collect();
    let mut email = outbound(integration.id, "ada@example.com", "big");
    email.attachments = vec![Attachment {
        filename: "big.bin".into(),
        content_type: "application/octet-stream".into(),
        content: big.clone(),
    }];
    sender.send_email(&h.ctx, email).await.unwrap();
    assert!(
        h.google.sent()[0].uploaded,
        "over 5 MiB: the upload endpoint"
    );
    assert_eq!(h.google.calls(Route::Send), 0);

    let stored = h.emails(integration.id).await;
    let stored = &stored[0];
    assert_eq!(stored.headers["attachments"][0]["id"], "1");
    let file = h.gmail.attachment(&h.ctx, stored.id, "1").await.unwrap();
    assert_eq!(file.filename.as_deref(), Some("big.bin"));
    assert_eq!(file.content_type, "application/octet-stream");
    assert_eq!(file.bytes, big);
    // The text body is a part, not an attachment; unknown parts are not found.
    for id in ["0", "7"] {
        let err = h.gmail.attachment(&h.ctx, stored.id, id).await.unwrap_err();
        assert!(
            matches!(err, Error::NotFound { kind: "attachment" }),
            "{err:?}"
        );
    }
}
gmail_test!(large_sends_upload_and_attachments_download);

/// A message of `len` bytes that Gmail takes: headers, then a body of every byte value.
fn large_message(len: usize) -> Vec<u8> {
    let mut raw = b"From: owner@acme.example\r\nTo: ada@example.com\r\nSubject: big\r\nContent-Type: application/octet-stream\r\n\r\n".to_vec();
    let body = len - raw.len();
    raw.extend((0..body).map(|i| (i * 7 % 256) as u8));
    raw
}

async fn resumable_upload_resumes_after_an_interruption(h: Harness) {
    use workos_gmail::api::RESUMABLE_CHUNK_BYTES;
    let integration = h.connect().await;
    let token = h.gmail.access_token(&h.ctx, integration.id).await.unwrap();
    let api = h.gmail.api();
    // Three chunks (4 + 4 + 1 MiB): the second breaks off half way, like a dropped
    // connection, and the upload resumes from what Gmail kept.
    let raw = large_message(2 * RESUMABLE_CHUNK_BYTES + (1 << 20));
    h.google.inject(Route::UploadChunk, Fault::Pass, 1);
    h.google.inject(Route::UploadChunk, Fault::Interrupt, 1);
    let sent = api
        .send_resumable(&token, &raw, Some("t-9"), None)
        .await
        .expect("sent after resuming");
    let at_google = h.google.sent();
    assert_eq!(at_google.len(), 1, "sent once");
    assert!(at_google[0].uploaded && at_google[0].resumable);
    assert_eq!(at_google[0].raw, raw, "intact, byte for byte");
    assert_eq!(at_google[0].id, sent.id);
    assert_eq!(at_google[0].requested_thread_id.as_deref(), Some("t-9"));
    // Chunk 1, chunk 2 (interrupted), the status query, then the rest from the middle of
    // chunk 2 in one final chunk of 4 MiB + 1 MiB - 2 MiB.
    assert_eq!(h.google.calls(Route::UploadChunk), 4);
    assert_eq!(h.google.calls(Route::UploadSend), 1, "one session");
    assert_eq!(api.usage().calls_of(Method::MessagesSend), 1);

    // A 5xx that drops a whole chunk, twice in a row on the last one: resumed all the same.
    h.google.reset_counters();
    h.google.inject(Route::UploadChunk, Fault::Pass, 2);
    h.google.inject(Route::UploadChunk, Fault::Status(503), 1);
    h.google.inject(Route::UploadChunk, Fault::Interrupt, 1);
    let again = api.send_resumable(&token, &raw, None, None).await.unwrap();
    let at_google = h.google.sent();
    assert_eq!(at_google.len(), 2);
    assert_eq!(at_google[1].raw, raw);
    assert_eq!(at_google[1].id, again.id);

    // Messages over 5 MiB take this path from send_raw.
    let over = large_message(SIMPLE_SEND_MAX_BYTES + 1);
    api.send_raw(&token, &over, None).await.unwrap();
    let at_google = h.google.sent();
    assert!(at_google[2].resumable);
    assert_eq!(at_google[2].raw, over);
}
gmail_test!(resumable_upload_resumes_after_an_interruption);

async fn a_send_past_its_deadline_sends_nothing(h: Harness) {
    use std::time::{Duration, Instant};
    use workos_gmail::api::QUERY_RESERVE;
    let integration = h.connect().await;
    let token = h.gmail.access_token(&h.ctx, integration.id).await.unwrap();
    let api = h.gmail.api();
    let raw = large_message(SIMPLE_SEND_MAX_BYTES + 1);
    // The first chunk takes longer than the time left for chunks: it is given up, and no
    // chunk starts after the deadline's reserve, so the message is never complete at Gmail.
    h.google
        .inject(Route::UploadChunk, Fault::Delay(Duration::from_secs(3)), 1);
    let deadline = Instant::now() + QUERY_RESERVE + Duration::from_millis(300);
    let err = api
        .send_raw_until(&token, &raw, None, Some(deadline))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Unavailable { ref message, .. } if message.contains("did not send")),
        "{err:?}"
    );
    // Even once the slow chunk lands, the session stays incomplete: nothing is sent.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(h.google.sent().is_empty());

    // A deadline already past: not even the session is opened.
    let before = h.google.calls(Route::UploadSend);
    let err = api
        .send_raw_until(&token, &raw, None, Some(Instant::now()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert_eq!(h.google.calls(Route::UploadSend), before);
    assert!(h.google.sent().is_empty());
}
gmail_test!(a_send_past_its_deadline_sends_nothing);

async fn root_and_legacy_attachments_download(h: Harness) {
    use workos_core::domain::{Direction, NewEmail};
    use workos_core::repo::EmailRepo as _;
    let integration = h.connect().await;
    // A message whose whole body is the file (Gmail's part id ""), synced.
    let pdf: Vec<u8> = b"%PDF-1.4\n"
        .iter()
        .copied()
        .chain((0..5000).map(|i| (i % 256) as u8))
        .collect();
    let encoded = base64::engine::general_purpose::STANDARD.encode(&pdf);
    let scan = format!(
        "From: scanner@acme.example\r\nTo: owner@acme.example\r\nSubject: Scan\r\nMessage-ID: <scan-1@acme.example>\r\nMIME-Version: 1.0\r\nContent-Type: application/pdf; name=\"scan.pdf\"\r\nContent-Disposition: attachment; filename=\"scan.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n"
    );
    let scan_id = h.google.add_message(scan);
    h.gmail
        .sync_engine(workos_gmail::SyncConfig::default())
        .sync_once(&h.system, integration.id)
        .await
        .unwrap();
    let stored = h.emails(integration.id).await;
    let email = stored
        .iter()
        .find(|e| e.provider_id == scan_id)
        .expect("synced");
    assert_eq!(
        email.headers["attachments"][0]["id"], "root",
        "{}",
        email.headers
    );
    let file = h.gmail.attachment(&h.ctx, email.id, "root").await.unwrap();
    assert_eq!(file.filename.as_deref(), Some("scan.pdf"));
    assert_eq!(file.content_type, "application/pdf");
    assert_eq!(file.bytes, pdf);
    let file = h
        .gmail
        .attachment(&h.ctx, email.id, "index-0")
        .await
        .unwrap();
    assert_eq!(file.bytes, pdf);

    // Emails recorded before ids were stored: entries without `id` are found by position
    // (matched to the MIME tree by file name), and a root entry stored as "" answers `root`.
    let two = "From: ada@example.com\r\nTo: owner@acme.example\r\nSubject: Two\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee files\r\n--b\r\nContent-Type: text/csv; name=\"a.csv\"\r\nContent-Disposition: attachment; filename=\"a.csv\"\r\n\r\na,b\r\n--b\r\nContent-Type: image/png; name=\"b.png\"\r\nContent-Disposition: attachment; filename=\"b.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b--\r\n";
    let two_id = h.google.add_message(two);
    let record = |provider_id: &str, attachments: serde_json::Value| NewEmail {
        integration_id: integration.id,
        provider_id: provider_id.into(),
        thread_id: None,
        message_id: None,
        direction: Direction::Inbound,
        from: "ada@example.com".into(),
        to: vec!["owner@acme.example".into()],
        cc: Vec::new(),
        subject: Some("old".into()),
        snippet: None,
        headers: serde_json::json!({ "attachments": attachments }),
        labels: Vec::new(),
        occurred_at: chrono::Utc::now(),
        person_id: None,
        create_person: false,
    };
    let legacy = h
        .store()
        .record_email(
            &h.system,
            record(
                &two_id,
                serde_json::json!([
                    {"filename": "a.csv", "content_type": "text/csv", "size": 3},
                    {"filename": "b.png", "content_type": "image/png", "size": 8}
                ]),
            ),
        )
        .await
        .unwrap()
        .record;
    let png = h
        .gmail
        .attachment(&h.ctx, legacy.id, "index-1")
        .await
        .unwrap();
    assert_eq!(png.filename.as_deref(), Some("b.png"));
    assert_eq!(png.bytes, b"\x89PNG\r\n\x1a\n");
    let csv = h
        .gmail
        .attachment(&h.ctx, legacy.id, "index-0")
        .await
        .unwrap();
    assert_eq!(csv.content_type, "text/csv");
    for missing in ["index-2", "1", "root", "nope"] {
        let err = h
            .gmail
            .attachment(&h.ctx, legacy.id, missing)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::NotFound { kind: "attachment" }),
            "{missing}: {err:?}"
        );
    }
}
gmail_test!(root_and_legacy_attachments_download);
