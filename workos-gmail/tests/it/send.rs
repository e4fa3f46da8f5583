//! Sending through a connected account.

use std::time::Duration;

use workos_core::Error;
use workos_core::channel::{Attachment, EmailChannel as _, OutboundEmail};
use workos_core::domain::{Direction, InteractionFilter};
use workos_core::events::types;
use workos_core::page::PageRequest;
use workos_core::repo::{EmailRepo as _, InteractionRepo as _};
use workos_gmail::{PersonPolicy, SyncConfig};
use workos_tests::fake_google::{Fault, Route};

use crate::common::{ACCOUNT, Harness, addr, outbound};

async fn send_builds_mime_and_records(h: Harness) {
    let integration = h.connect().await;
    let sender = h.gmail.sender(PersonPolicy::SentOnly);
    let email = OutboundEmail {
        integration_id: integration.id,
        to: vec![addr("ada@analytical.example"), addr("bob@example.org")],
        cc: vec![addr("carol@example.net")],
        bcc: vec![addr("dan@example.com")],
        subject: "Réunion — ordre du jour".into(),
        text: Some("Bonjour Ada,\n\nVoici l'ordre du jour.".into()),
        html: Some("<p>Bonjour <b>Ada</b>,</p><p>Voici l'ordre du jour.</p>".into()),
        attachments: vec![Attachment {
            filename: "agenda.pdf".into(),
            content_type: "application/pdf".into(),
            content: b"%PDF-1.4 agenda".to_vec(),
        }],
        in_reply_to: Some("<ada-1@analytical.example>".into()),
        thread_id: Some("thread-123".into()),
    };
    let receipt = sender.send_email(&h.ctx, email).await.unwrap();

    let sent = h.google.sent();
    assert_eq!(sent.len(), 1);
    let sent = &sent[0];
    assert_eq!(receipt.provider_message_id, sent.id);
    assert_eq!(sent.requested_thread_id.as_deref(), Some("thread-123"));

    // What the recipients get.
    let delivered = mail_parser::MessageParser::default()
        .parse(&sent.delivered)
        .unwrap();
    let list = |a: Option<&mail_parser::Address<'_>>| -> Vec<String> {
        a.map(|a| {
            a.iter()
                .filter_map(|x| x.address())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
    };
    assert_eq!(list(delivered.from()), [ACCOUNT]);
    assert_eq!(
        list(delivered.to()),
        ["ada@analytical.example", "bob@example.org"]
    );
    assert_eq!(list(delivered.cc()), ["carol@example.net"]);
    assert!(
        delivered.bcc().is_none(),
        "Bcc must not reach the recipients"
    );
    assert!(!String::from_utf8_lossy(&sent.delivered).contains("dan@example.com"));
    assert_eq!(delivered.subject(), Some("Réunion — ordre du jour"));
    assert_eq!(
        delivered.in_reply_to().as_text(),
        Some("ada-1@analytical.example")
    );
    assert_eq!(
        delivered.references().as_text(),
        Some("ada-1@analytical.example")
    );
    assert_eq!(
        delivered.message_id().map(|id| format!("<{id}>")),
        receipt.message_id_header
    );
    assert!(
        delivered
            .body_text(0)
            .unwrap()
            .contains("Voici l'ordre du jour.")
    );
    assert!(delivered.body_html(0).unwrap().contains("<b>Ada</b>"));
    let attachment = delivered.attachment(0).unwrap();
    assert_eq!(
        mail_parser::MimeHeaders::attachment_name(attachment),
        Some("agenda.pdf")
    );
    assert_eq!(attachment.contents(), b"%PDF-1.4 agenda");
    // Gmail delivers to Bcc from the message it was given.
    assert!(sent.envelope_to.contains(&"dan@example.com".to_owned()));
    assert_eq!(sent.header("Bcc"), ["<dan@example.com>"]);

    // Recorded: email, interaction, event, person for the first recipient.
    let emails = h.emails(integration.id).await;
    assert_eq!(emails.len(), 1);
    let stored = &emails[0];
    assert_eq!(stored.direction, Direction::Outbound);
    assert_eq!(stored.provider_id, sent.id);
    assert_eq!(stored.thread_id.as_deref(), Some(sent.thread_id.as_str()));
    assert_eq!(stored.message_id, receipt.message_id_header);
    assert_eq!(stored.from, ACCOUNT);
    assert_eq!(stored.to, ["ada@analytical.example", "bob@example.org"]);
    assert_eq!(stored.cc, ["carol@example.net"]);
    assert_eq!(stored.subject.as_deref(), Some("Réunion — ordre du jour"));
    assert_eq!(
        stored.snippet.as_deref(),
        Some("Bonjour Ada, Voici l'ordre du jour.")
    );
    assert_eq!(
        stored.headers["Bcc"],
        serde_json::json!(["dan@example.com"])
    );
    let ada = h
        .person("ada@analytical.example")
        .await
        .expect("a person for Ada");
    assert_eq!(stored.person_id, Some(ada.id));
    assert!(h.person("bob@example.org").await.is_none());
    let interaction_id = stored.interaction_id.expect("an interaction");
    let interactions = h
        .store()
        .list_interactions(
            &h.ctx,
            InteractionFilter {
                person_id: Some(ada.id),
                ..InteractionFilter::default()
            },
            PageRequest::first(10).unwrap(),
        )
        .await
        .unwrap()
        .data;
    assert_eq!(interactions.len(), 1);
    assert_eq!(interactions[0].id, interaction_id);
    assert_eq!(interactions[0].summary, "Réunion — ordre du jour");
    assert_eq!(
        h.events(types::EMAIL_SENT, stored.id.as_uuid()).await.len(),
        1
    );

    // The sync later sees the SENT copy and records nothing twice.
    let report = h
        .gmail
        .sync_engine(SyncConfig::default())
        .sync_once(&h.system, integration.id)
        .await
        .unwrap();
    assert_eq!((report.recorded, report.already_stored), (0, 1));
    assert_eq!(
        h.store()
            .email_counts(&h.ctx, integration.id)
            .await
            .unwrap(),
        (0, 1)
    );
}
gmail_test!(send_builds_mime_and_records);

async fn concurrent_sends_refresh_once(h: Harness) {
    let integration = h.connect_expiring().await;
    let sender = h.gmail.sender(PersonPolicy::Off);
    let mut tasks = Vec::new();
    for i in 0..10 {
        let sender = sender.clone();
        let ctx = h.ctx.clone();
        let email = outbound(
            integration.id,
            &format!("r{i}@example.org"),
            &format!("n°{i}"),
        );
        tasks.push(tokio::spawn(
            async move { sender.send_email(&ctx, email).await },
        ));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(h.google.token_grants("refresh_token"), 1);
    assert_eq!(h.google.calls(Route::Send), 10);
    assert_eq!(h.google.calls(Route::Token), 2); // the connect and the one refresh
    assert_eq!(
        h.store()
            .email_counts(&h.ctx, integration.id)
            .await
            .unwrap(),
        (0, 10)
    );
    assert_eq!(h.gmail.usage().messages_send, 10);
    assert_eq!(h.gmail.usage().quota_units, 1 + 10 * 100);
}
gmail_test!(concurrent_sends_refresh_once);

async fn send_errors_are_typed_and_never_retried(h: Harness) {
    let integration = h.connect().await;
    let sender = h.gmail.sender(PersonPolicy::Off);
    let send = |subject: &str| {
        sender.send_email(&h.ctx, outbound(integration.id, "x@example.org", subject))
    };

    h.google.inject(
        Route::Send,
        Fault::Error {
            status: 400,
            message: "Invalid To header".into(),
            reason: "invalidArgument".into(),
        },
        1,
    );
    let err = send("a").await.unwrap_err();
    assert!(
        matches!(err, Error::Validation(ref v) if v.errors[0].field == "to"),
        "{err:?}"
    );

    h.google.inject(
        Route::Send,
        Fault::RateLimited {
            status: 429,
            retry_after: Some(7),
        },
        1,
    );
    let err = send("b").await.unwrap_err();
    assert!(
        matches!(err, Error::RateLimited { retry_after } if retry_after == Duration::from_secs(7)),
        "{err:?}"
    );

    h.google.inject(
        Route::Send,
        Fault::RateLimited {
            status: 403,
            retry_after: None,
        },
        1,
    );
    let err = send("c").await.unwrap_err();
    assert!(matches!(err, Error::RateLimited { .. }), "{err:?}");

    h.google.inject(Route::Send, Fault::Status(500), 1);
    let err = send("d").await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");

    // One request each: sends are never retried.
    assert_eq!(h.google.calls(Route::Send), 4);
    assert!(h.google.sent().is_empty());
    assert_eq!(
        h.store()
            .email_counts(&h.ctx, integration.id)
            .await
            .unwrap(),
        (0, 0)
    );

    // A 401 proves nothing was sent: refreshed and sent once more.
    h.google.inject(Route::Send, Fault::Unauthorized, 1);
    send("e").await.unwrap();
    assert_eq!(h.google.sent().len(), 1);

    // Input the types cannot refuse.
    let mut nobody = outbound(integration.id, "x@example.org", "f");
    nobody.to.clear();
    let err = sender.send_email(&h.ctx, nobody).await.unwrap_err();
    assert!(matches!(err, Error::Validation(_)), "{err:?}");
    assert_eq!(h.google.calls(Route::Send), 6);
}
gmail_test!(send_errors_are_typed_and_never_retried);
