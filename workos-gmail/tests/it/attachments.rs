//! Attachments at the API level: the upload endpoint's wire format, `format=full` part ids and
//! `attachments.get`, and `Gmail::attachment` on a stored email.

use workos_core::Error;
use workos_core::channel::{Attachment, EmailChannel as _};
use workos_gmail::PersonPolicy;
use workos_gmail::api::Method;
use workos_tests::fake_google::Route;

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
