//! Email attachments over REST: sending files (base64 in JSON, `multipart/form-data`, large
//! messages through Gmail's upload endpoint) and downloading an email's attachments from
//! Gmail (`GET /api/v1/emails/{id}/attachments/{attachment_id}`), with the limits, bad input
//! and tenant isolation. The fake Google checks what reaches it as Gmail would.

use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};
use workos_core::domain::{Direction, NewEmail};
use workos_core::repo::EmailRepo;
use workos_core::tenant::{Role, TenantContext};

use crate::gmail::{GmailApp, connect};
use crate::helpers::{Resp, id_of};

const ACCOUNT: &str = "owner@acme.example";

/// A test on a Gmail-enabled server, on every backend.
macro_rules! attachments_test {
    ($name:ident) => {
        server_test!(@tests $name, |backend| $crate::gmail::spawn(backend));
    };
}

/// A `multipart/form-data` body of an `email` JSON part and `files` (name, type, bytes).
fn form(email: &Value, files: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----workos-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"email\"\r\nContent-Type: application/json\r\n\r\n{email}\r\n").as_bytes(),
    );
    for (name, content_type, bytes) in files {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"attachments\"; filename=\"{name}\"\r\n").as_bytes(),
        );
        if let Some(t) = content_type {
            body.extend_from_slice(format!("Content-Type: {t}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn post_raw(app: &GmailApp, key: &str, content_type: &str, body: Vec<u8>) -> Resp {
    app.send(
        app.request(Method::POST, "/api/v1/email/send", key)
            .header("content-type", content_type)
            .body(body),
    )
    .await
}

/// A POST that only announces a body of `length` bytes (`Content-Length`) and waits for the
/// answer, over a plain HTTP/1.1 connection: a server that refuses by the announced length
/// answers before any byte of the body (a body written meanwhile would make the refusing
/// server's close reset the connection, losing the answer).
async fn post_announcing(
    app: &GmailApp,
    key: &str,
    content_type: &str,
    length: usize,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /api/v1/email/send HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {key}\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n",
        app.addr,
    );
    stream
        .write_all(head.as_bytes())
        .await
        .expect("write the head");
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .await
        .expect("read the answer");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, answer)
}

/// A download: status, headers and the exact bytes.
async fn download(app: &GmailApp, key: &str, email: &str, attachment: &str) -> reqwest::Response {
    app.request(
        Method::GET,
        &format!("/api/v1/emails/{email}/attachments/{attachment}"),
        key,
    )
    .send()
    .await
    .expect("download")
}

/// Bytes no text encoding would keep: every byte value, repeated.
fn binary(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 256) as u8).collect()
}

async fn send_and_download_attachments(app: &GmailApp) {
    let (org, owner) = app.create_org("Acme").await;
    let integration = connect(app, &owner, org).await;
    let viewer = app.api_key(org, Role::Viewer).await;

    // Base64 in JSON.
    let pdf = b"%PDF-1.4 tiny\n%%EOF\n".to_vec();
    let sent = app
        .post(
            "/api/v1/email/send",
            &owner,
            &json!({"to": ["ada@example.com"], "subject": "Quote", "text": "Attached.",
                "attachments": [{"filename": "quote.pdf", "content_type": "application/pdf",
                    "content": base64::engine::general_purpose::STANDARD.encode(&pdf)}]}),
        )
        .await
        .expect(201);
    let listed = &sent["headers"]["attachments"];
    assert_eq!(listed[0]["id"], "1", "{sent}");
    assert_eq!(listed[0]["filename"], "quote.pdf");
    assert_eq!(listed[0]["content_type"], "application/pdf");
    assert_eq!(listed[0]["size"], pdf.len());
    let at_google = app.google.sent();
    assert!(!at_google[0].uploaded, "a small message goes as raw JSON");
    assert_eq!(
        at_google[0].attachments(),
        [(
            Some("quote.pdf".to_owned()),
            "application/pdf".to_owned(),
            pdf.clone()
        )]
    );

    // Downloaded back from Gmail's SENT copy, by a viewer, with its name and type.
    let got = download(app, &viewer, &id_of(&sent), "1").await;
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(got.headers()["content-type"], "application/pdf");
    assert_eq!(
        got.headers()["content-disposition"],
        "attachment; filename=\"quote.pdf\"; filename*=UTF-8''quote.pdf"
    );
    assert_eq!(got.headers()["x-content-type-options"], "nosniff");
    assert_eq!(got.bytes().await.unwrap().as_ref(), pdf.as_slice());

    // multipart/form-data: two files, one with a non-ASCII name and binary bytes, one
    // without a type (application/octet-stream).
    let blob = binary(70_000);
    let (content_type, body) = form(
        &json!({"to": ["bob@example.com"], "subject": "Files", "html": "<p>Files</p>"}),
        &[
            ("Devis été.png", Some("image/png"), &blob),
            ("notes.bin", None, b"\x00\x01\x02"),
        ],
    );
    let resp = post_raw(app, &owner, &content_type, body).await;
    let sent = resp.expect(201);
    let ids: Vec<&str> = sent["headers"]["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["1", "2"], "{sent}");
    let at_google = app.google.sent();
    let files = at_google[1].attachments();
    assert_eq!(files[0].0.as_deref(), Some("Devis été.png"));
    assert_eq!(files[0].1, "image/png");
    assert_eq!(files[0].2, blob);
    assert_eq!(files[1].1, "application/octet-stream");
    let got = download(app, &owner, &id_of(&sent), "1").await;
    assert_eq!(got.headers()["content-type"], "image/png");
    assert_eq!(
        got.headers()["content-disposition"],
        "attachment; filename=\"Devis _t_.png\"; filename*=UTF-8''Devis%20%C3%A9t%C3%A9.png"
    );
    assert_eq!(got.bytes().await.unwrap().as_ref(), blob.as_slice());

    // A large message (over 5 MiB) goes through Gmail's upload endpoint, as a reply in its
    // thread.
    let large = binary(6 << 20);
    let (content_type, body) = form(
        &json!({"to": ["bob@example.com"], "subject": "Re: Files", "text": "The big one",
            "reply_to_email_id": id_of(&sent)}),
        &[("dataset.bin", Some("application/octet-stream"), &large)],
    );
    let reply = post_raw(app, &owner, &content_type, body).await.expect(201);
    let at_google = app.google.sent();
    assert!(at_google[2].uploaded, "through /upload/…/messages/send");
    assert!(at_google[2].resumable, "in a resumable upload session");
    assert_eq!(
        at_google[2].requested_thread_id.as_deref(),
        sent["thread_id"].as_str()
    );
    assert_eq!(at_google[2].attachments()[0].2, large);
    assert_eq!(reply["thread_id"], sent["thread_id"]);
    let got = download(app, &owner, &id_of(&reply), "1").await;
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(got.bytes().await.unwrap().len(), large.len());

    // An inbound attachment, synced from the mailbox, downloads with its bytes.
    app.google.add_sample_messages();
    app.post(
        &format!("/api/v1/integrations/gmail/{}/sync", id_of(&integration)),
        &owner,
        &json!({}),
    )
    .await
    .expect(202);
    let inbound = app.read("/api/v1/emails?direction=inbound", &owner).await;
    let with_file = inbound["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["headers"]["attachments"][0]["filename"] == "devis.pdf")
        .expect("the sample with devis.pdf")
        .clone();
    let part = with_file["headers"]["attachments"][0]["id"]
        .as_str()
        .unwrap();
    let got = download(app, &viewer, &id_of(&with_file), part).await;
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(got.headers()["content-type"], "application/pdf");
    let bytes = got.bytes().await.unwrap();
    assert!(bytes.starts_with(b"%PDF-1.4"), "{bytes:?}");
    assert_eq!(
        bytes.len() as u64,
        with_file["headers"]["attachments"][0]["size"]
            .as_u64()
            .unwrap()
    );
}

attachments_test!(send_and_download_attachments);

async fn attachment_limits_bad_input_and_isolation(app: &GmailApp) {
    let (org, owner) = app.create_org("A").await;
    let (_, other) = app.create_org("B").await;
    let integration = connect(app, &owner, org).await;
    let small = base64::engine::general_purpose::STANDARD.encode(b"hello");
    let sent = app
        .post(
            "/api/v1/email/send",
            &owner,
            &json!({"to": ["ada@example.com"], "subject": "x", "text": "y",
                "attachments": [{"filename": "a.txt", "content_type": "text/plain", "content": small}]}),
        )
        .await
        .expect(201);
    let email = id_of(&sent);

    // Another org's email reads as not found, as do unknown or malformed ids.
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(status(download(app, &other, &email, "1").await), 404);
    assert_eq!(status(download(app, &owner, &email, "9").await), 404);
    assert_eq!(status(download(app, &owner, &email, "x.1").await), 404);
    let unknown = uuid::Uuid::now_v7();
    assert_eq!(
        status(download(app, &owner, &unknown.to_string(), "1").await),
        404
    );
    let problem = download(app, &other, &email, "1").await;
    assert_eq!(
        problem.headers()["content-type"],
        "application/problem+json"
    );

    // Over the download limit: refused from the stored size, before Gmail is asked.
    let ctx = TenantContext::system(org, "test");
    let big = app
        .store
        .record_email(
            &ctx,
            NewEmail {
                integration_id: id_of(&integration).parse().unwrap(),
                provider_id: "18c0000000000fff".into(),
                thread_id: None,
                message_id: None,
                direction: Direction::Inbound,
                from: "big@example.com".into(),
                to: vec![ACCOUNT.into()],
                cc: Vec::new(),
                subject: Some("huge".into()),
                snippet: None,
                headers: json!({"attachments": [{"id": "1", "filename": "huge.zip",
                    "content_type": "application/zip", "size": 30_000_000}]}),
                labels: Vec::new(),
                occurred_at: chrono::Utc::now(),
                person_id: None,
                create_person: false,
            },
        )
        .await
        .expect("recorded")
        .record;
    let before = app
        .google
        .calls(workos_tests::fake_google::Route::MessagesGet);
    let refused = app
        .get(&format!("/api/v1/emails/{}/attachments/1", big.id), &owner)
        .await
        .invalid_field("attachment_id");
    assert!(
        refused["detail"].as_str().unwrap().contains("25 MiB"),
        "{refused}"
    );
    assert_eq!(
        app.google
            .calls(workos_tests::fake_google::Route::MessagesGet),
        before
    );

    // Bad input to the send route names the field; nothing reaches Google.
    let sent_before = app.google.sent().len();
    let base = json!({"to": ["ada@example.com"], "subject": "x", "text": "y"});
    let with = |attachments: Value| {
        let mut b = base.clone();
        b["attachments"] = attachments;
        b
    };
    for (attachment, field) in [
        (
            json!({"filename": "a", "content_type": "text/plain", "content": "***"}),
            "attachments[0].content",
        ),
        (
            json!({"filename": "a", "content_type": "pdf", "content": small}),
            "attachments[0].content_type",
        ),
        (
            json!({"filename": "a", "content_type": "multipart/mixed", "content": small}),
            "attachments[0].content_type",
        ),
        (
            json!({"filename": " ", "content_type": "text/plain", "content": small}),
            "attachments[0].filename",
        ),
    ] {
        app.post("/api/v1/email/send", &owner, &with(json!([attachment])))
            .await
            .invalid_field(field);
    }
    app.post(
        "/api/v1/email/send",
        &owner,
        &with(json!([{"filename": "a", "content_type": "text/plain"}])),
    )
    .await
    .problem(422);
    // Base64 in JSON is for small files: 5.5 MiB is refused, naming `attachments`.
    let six = base64::engine::general_purpose::STANDARD.encode(vec![b'a'; 11 << 19]);
    app.post(
        "/api/v1/email/send",
        &owner,
        &with(json!([{"filename": "a", "content_type": "text/plain", "content": six}])),
    )
    .await
    .invalid_field("attachments");
    // A JSON body announced over 8 MiB is a 413 before it is read.
    let (status, answer) = post_announcing(app, &owner, "application/json", 9 << 20).await;
    assert_eq!(status, 413, "{answer}");
    assert!(answer.contains("at most 8 MiB"), "{answer}");

    // multipart: the JSON part is required, file parts need a name, unknown parts are named.
    let (ct, body) = form(&base, &[]);
    let no_email = String::from_utf8(body)
        .unwrap()
        .replace("name=\"email\"", "name=\"mail\"");
    post_raw(app, &owner, &ct, no_email.into_bytes())
        .await
        .invalid_field("mail");
    let (ct, body) = form(&base, &[("", Some("text/plain"), b"x")]);
    post_raw(app, &owner, &ct, body)
        .await
        .invalid_field("attachments[0]");
    let (ct, body) = form(&json!({"subject": "no email part"}), &[]);
    let only_file = String::from_utf8(body).unwrap().replace(
        "name=\"email\"",
        "name=\"attachments\"; filename=\"e.json\"",
    );
    post_raw(app, &owner, &ct, only_file.into_bytes())
        .await
        .invalid_field("email");
    let (ct, body) = form(&json!({"to": ["ada@example.com"], "nope": 1}), &[]);
    post_raw(app, &owner, &ct, body).await.invalid_field("nope");
    post_raw(app, &owner, "text/plain", b"hi".to_vec())
        .await
        .problem(415);
    post_raw(
        app,
        &owner,
        "multipart/form-data; boundary=zz",
        b"garbage".to_vec(),
    )
    .await
    .problem(400);

    // Over Gmail's 25 MB: a message of 25 MiB + 1 byte of files is refused on `attachments`,
    // a body announced over the route's 26 MiB is a 413 before it is read.
    let over = vec![0u8; (25 << 20) + 1];
    let (ct, body) = form(&base, &[("big.bin", None, &over)]);
    post_raw(app, &owner, &ct, body)
        .await
        .invalid_field("attachments");
    let (ct, _) = form(&base, &[]);
    let (status, answer) = post_announcing(app, &owner, &ct, 27 << 20).await;
    assert_eq!(status, 413, "{answer}");
    assert!(answer.contains("urn:workos:problem:too-large"), "{answer}");
    // With an Idempotency-Key the large body reaches the route too.
    let (ct, body) = form(&base, &[("big.bin", None, &over)]);
    app.send(
        app.request(Method::POST, "/api/v1/email/send", &owner)
            .header("content-type", ct)
            .header("idempotency-key", "big-1")
            .body(body),
    )
    .await
    .invalid_field("attachments");
    assert_eq!(app.google.sent().len(), sent_before, "nothing was sent");

    // Another org cannot send from A's account with a file either.
    app.post(
        "/api/v1/email/send",
        &other,
        &json!({"to": ["ada@example.com"], "subject": "x", "integration_id": id_of(&integration),
            "attachments": [{"filename": "a.txt", "content_type": "text/plain", "content": small}]}),
    )
    .await
    .invalid_field("integration_id");
}
attachments_test!(attachment_limits_bad_input_and_isolation);

/// Both routes are in the OpenAPI document: the send route's JSON and multipart bodies, and
/// the download's binary answer.
async fn attachments_are_documented(app: &GmailApp) {
    let doc = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let send = &doc["paths"]["/api/v1/email/send"]["post"];
    let content = &send["requestBody"]["content"];
    assert!(
        content["application/json"]["schema"]["$ref"]
            .as_str()
            .unwrap()
            .ends_with("/SendEmailBody"),
        "{send}"
    );
    assert!(
        content["multipart/form-data"]["schema"]["$ref"]
            .as_str()
            .unwrap()
            .ends_with("/SendEmailForm"),
        "{send}"
    );
    assert!(send["responses"]["413"].is_object(), "{send}");
    let form = &doc["components"]["schemas"]["SendEmailForm"];
    assert_eq!(
        form["properties"]["attachments"]["items"]["format"], "binary",
        "{form}"
    );
    let body = &doc["components"]["schemas"]["SendEmailBody"];
    assert!(body["properties"]["attachments"].is_object(), "{body}");
    let get = &doc["paths"]["/api/v1/emails/{id}/attachments/{attachment_id}"]["get"];
    assert!(
        get["responses"]["200"]["content"]["application/octet-stream"].is_object(),
        "{get}"
    );
    assert!(
        get["responses"]["404"].is_object() && get["responses"]["422"].is_object(),
        "{get}"
    );
}
attachments_test!(attachments_are_documented);

/// The download streams: the first bytes of the file reach the client while Gmail's answer is
/// still held back part way, with the file's length announced; an answer that breaks off after
/// that aborts the download instead of completing it.
async fn attachment_downloads_stream(app: &GmailApp) {
    let (org, owner) = app.create_org("Acme").await;
    connect(app, &owner, org).await;
    let blob = binary(1 << 20);
    let (content_type, body) = form(
        &json!({"to": ["ada@example.com"], "subject": "Big file", "text": "Attached."}),
        &[("big.bin", Some("application/octet-stream"), &blob)],
    );
    let sent = post_raw(app, &owner, &content_type, body).await.expect(201);
    let email = id_of(&sent);

    let gate = app.google.hold_next_attachment_body();
    let mut got = download(app, &owner, &email, "1").await;
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(
        got.headers()["content-length"],
        blob.len().to_string().as_str()
    );
    assert_eq!(got.headers()["content-type"], "application/octet-stream");
    // Only what Gmail sent before the gate can arrive now; a server that buffered the whole
    // attachment would send nothing (the guard only stops a hang).
    let first = tokio::time::timeout(std::time::Duration::from_secs(60), got.chunk())
        .await
        .expect("the first bytes arrive while Gmail holds the rest back")
        .expect("a chunk")
        .expect("not the end");
    assert!(!first.is_empty());
    assert!(first.len() < blob.len(), "only part of the file so far");
    assert_eq!(first.as_ref(), &blob[..first.len()]);
    gate.open();
    let mut all = first.to_vec();
    while let Some(chunk) = got.chunk().await.expect("the rest") {
        all.extend_from_slice(&chunk);
    }
    assert_eq!(all, blob, "the whole file, intact");

    // Gmail breaks off after the first part: the client sees the download fail, never a
    // short file passed off as whole.
    let gate = app.google.hold_next_attachment_body();
    let mut got = download(app, &owner, &email, "1").await;
    assert_eq!(got.status().as_u16(), 200);
    let first = got.chunk().await.expect("a chunk").expect("not the end");
    assert_eq!(first.as_ref(), &blob[..first.len()]);
    gate.break_off();
    let mut received = first.len();
    let outcome = loop {
        match got.chunk().await {
            Ok(Some(chunk)) => received += chunk.len(),
            Ok(None) => break Ok(received),
            Err(e) => break Err(e),
        }
    };
    assert!(outcome.is_err(), "aborted, not ended: {outcome:?}");
    assert!(received < blob.len());
}
attachments_test!(attachment_downloads_stream);

/// Every attachment has an address: a message whose whole body is the file (`root`), and the
/// entries of emails recorded before ids were stored (`index-N`).
async fn every_attachment_is_addressable(app: &GmailApp) {
    let (org, owner) = app.create_org("Acme").await;
    let integration = connect(app, &owner, org).await;
    let viewer = app.api_key(org, Role::Viewer).await;
    let pdf: Vec<u8> = b"%PDF-1.4\n".iter().copied().chain(binary(3000)).collect();
    let scan = format!(
        "From: scanner@acme.example\r\nTo: {ACCOUNT}\r\nSubject: Scan\r\nMIME-Version: 1.0\r\nContent-Type: application/pdf; name=\"scan.pdf\"\r\nContent-Disposition: attachment; filename=\"scan.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        base64::engine::general_purpose::STANDARD.encode(&pdf)
    );
    app.google.add_message(scan);
    app.post(
        &format!("/api/v1/integrations/gmail/{}/sync", id_of(&integration)),
        &owner,
        &json!({}),
    )
    .await
    .expect(202);
    let inbound = app.read("/api/v1/emails?direction=inbound", &owner).await;
    let scanned = inbound["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["subject"] == "Scan")
        .expect("the scan, synced")
        .clone();
    assert_eq!(
        scanned["headers"]["attachments"][0]["id"], "root",
        "{scanned}"
    );
    let got = download(app, &viewer, &id_of(&scanned), "root").await;
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(got.headers()["content-type"], "application/pdf");
    assert_eq!(
        got.headers()["content-disposition"],
        "attachment; filename=\"scan.pdf\"; filename*=UTF-8''scan.pdf"
    );
    assert_eq!(got.bytes().await.unwrap().as_ref(), pdf.as_slice());

    // An email recorded before ids were stored: its entries have none.
    let two = "From: ada@example.com\r\nTo: owner@acme.example\r\nSubject: Two\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee files\r\n--b\r\nContent-Type: text/csv; name=\"a.csv\"\r\nContent-Disposition: attachment; filename=\"a.csv\"\r\n\r\na,b\r\n--b\r\nContent-Type: image/png; name=\"b.png\"\r\nContent-Disposition: attachment; filename=\"b.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b--\r\n";
    let provider_id = app
        .google
        .add_message_with(two, &["ARCHIVED"], chrono::Utc::now());
    let ctx = TenantContext::system(org, "test");
    let legacy = app
        .store
        .record_email(
            &ctx,
            NewEmail {
                integration_id: id_of(&integration).parse().unwrap(),
                provider_id,
                thread_id: None,
                message_id: None,
                direction: Direction::Inbound,
                from: "ada@example.com".into(),
                to: vec![ACCOUNT.into()],
                cc: Vec::new(),
                subject: Some("Two".into()),
                snippet: None,
                headers: json!({"attachments": [
                    {"filename": "a.csv", "content_type": "text/csv", "size": 3},
                    {"filename": "b.png", "content_type": "image/png", "size": 8}]}),
                labels: Vec::new(),
                occurred_at: chrono::Utc::now(),
                person_id: None,
                create_person: false,
            },
        )
        .await
        .expect("recorded")
        .record;
    let got = download(app, &viewer, &legacy.id.to_string(), "index-1").await;
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(got.headers()["content-type"], "image/png");
    assert_eq!(got.bytes().await.unwrap().as_ref(), b"\x89PNG\r\n\x1a\n");
    let got = download(app, &viewer, &legacy.id.to_string(), "index-0").await;
    assert_eq!(got.bytes().await.unwrap().as_ref(), b"a,b");
    for missing in ["index-2", "root", "1", "index-x"] {
        let got = download(app, &viewer, &legacy.id.to_string(), missing).await;
        assert_eq!(got.status().as_u16(), 404, "{missing}");
    }
    // Another org cannot reach them by position either.
    let (_, other) = app.create_org("B").await;
    let got = download(app, &other, &legacy.id.to_string(), "index-1").await;
    assert_eq!(got.status().as_u16(), 404);
}
attachments_test!(every_attachment_is_addressable);
