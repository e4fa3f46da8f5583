//! [`GmailSender::send`](workos_gmail::GmailSender::send): the account chosen for the caller,
//! replies threaded, the stored email answered; and who may connect.

use workos_core::Error;
use workos_core::domain::Direction;
use workos_core::ids::{ApiKeyId, EmailId, IntegrationId};
use workos_core::repo::IntegrationRepo as _;
use workos_core::tenant::{Role, TenantContext};
use workos_gmail::{PersonPolicy, SendEmail};

use crate::common::{Harness, addr};

fn hello(to: &str) -> SendEmail {
    SendEmail {
        to: vec![addr(to)],
        subject: "Hello".into(),
        text: Some("Hi there".into()),
        ..SendEmail::default()
    }
}

fn invalid_field(result: workos_core::Result<impl std::fmt::Debug>) -> String {
    match result {
        Err(Error::Validation(v)) => v.errors[0].field.clone(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

async fn send_answers_the_stored_email(h: Harness) {
    let sender = h.gmail.sender(PersonPolicy::SentOnly);
    // No account yet: nothing to send from.
    assert_eq!(
        invalid_field(sender.send(&h.ctx, hello("ada@example.com")).await),
        "integration_id"
    );
    let integration = h.connect().await;
    assert_eq!(
        h.gmail.default_integration(&h.ctx).await.unwrap(),
        integration.id
    );

    let sent = sender.send(&h.ctx, hello("ada@example.com")).await.unwrap();
    let email = sent.email.expect("recorded");
    assert_eq!(email.provider_id, sent.receipt.provider_message_id);
    assert_eq!(email.integration_id, integration.id);
    assert_eq!(email.direction, Direction::Outbound);
    assert_eq!(h.emails(integration.id).await, std::slice::from_ref(&email));

    // A reply goes from the same account, in the same thread, with In-Reply-To.
    let reply = sender
        .send(
            &h.ctx,
            SendEmail {
                reply_to_email_id: Some(email.id),
                ..hello("ada@example.com")
            },
        )
        .await
        .unwrap();
    let stored = reply.email.expect("recorded");
    assert_eq!(stored.thread_id, email.thread_id);
    let delivered = h.google.sent().pop().unwrap();
    assert_eq!(delivered.requested_thread_id, email.thread_id);
    assert!(
        String::from_utf8_lossy(&delivered.delivered).contains("In-Reply-To:"),
        "the reply names its parent"
    );
}
gmail_test!(send_answers_the_stored_email);

async fn send_refusals_name_the_field(h: Harness) {
    let integration = h.connect().await;
    let sender = h.gmail.sender(PersonPolicy::SentOnly);
    let viewer = TenantContext::api_key(h.ctx.org_id(), ApiKeyId::new(), Role::Viewer);
    assert!(matches!(
        sender.send(&viewer, hello("ada@example.com")).await,
        Err(Error::Forbidden(_))
    ));
    let nobody = SendEmail {
        to: Vec::new(),
        ..hello("ada@example.com")
    };
    assert_eq!(invalid_field(sender.send(&h.ctx, nobody).await), "to");
    let unknown_parent = SendEmail {
        reply_to_email_id: Some(EmailId::new()),
        ..hello("ada@example.com")
    };
    assert_eq!(
        invalid_field(sender.send(&h.ctx, unknown_parent).await),
        "reply_to_email_id"
    );
    let unknown_account = SendEmail {
        integration_id: Some(IntegrationId::new()),
        ..hello("ada@example.com")
    };
    assert_eq!(
        invalid_field(sender.send(&h.ctx, unknown_account).await),
        "integration_id"
    );
    // A disconnected account is no default.
    h.store()
        .disconnect_integration(&h.ctx, integration.id)
        .await
        .unwrap();
    assert_eq!(
        invalid_field(h.gmail.default_integration(&h.ctx).await),
        "integration_id"
    );
    assert!(h.google.sent().is_empty(), "nothing left for Google");
}
gmail_test!(send_refusals_name_the_field);

/// Google's consent is a person's: an admin API key is refused on its credentials, a member
/// user on its role.
async fn only_signed_in_admins_connect(h: Harness) {
    let key = TenantContext::api_key(h.ctx.org_id(), ApiKeyId::new(), Role::Owner);
    assert_eq!(
        invalid_field(h.gmail.start_connect(&key).await),
        "authorization"
    );
    let system = TenantContext::system(h.ctx.org_id(), "job");
    assert_eq!(
        invalid_field(h.gmail.start_connect(&system).await),
        "authorization"
    );
    let member_key = TenantContext::api_key(h.ctx.org_id(), ApiKeyId::new(), Role::Member);
    assert!(matches!(
        h.gmail.start_connect(&member_key).await,
        Err(Error::Forbidden(_))
    ));
}
gmail_test!(only_signed_in_admins_connect);
