//! [`GmailSender`]: the engine's [`EmailChannel`] through a connected Gmail account.

use async_trait::async_trait;
use chrono::Utc;
use serde_json::{Map, Value, json};
use workos_core::Result;
use workos_core::channel::{EmailChannel, OutboundEmail, SentEmail};
use workos_core::domain::{Direction, NewEmail};
use workos_core::tenant::{Access, TenantContext};

use crate::gmail::Gmail;
use crate::mime;
use crate::parse::{ParsedEmail, truncate};
use crate::sync::PersonPolicy;

/// The length of the snippet stored with a sent email.
const SNIPPET_CHARS: usize = 200;

/// Sends email through the integration named by [`OutboundEmail::integration_id`] and records
/// it: builds the MIME message (see [`crate::mime`]), sends it with `messages.send` (in the
/// given thread), then records it with [`workos_core::repo::EmailRepo::record_email`]
/// (outbound, Gmail's id and thread, our `Message-ID`, a snippet), which adds the interaction
/// and emits `email.sent`.
///
/// The send is never retried after an ambiguous failure. When recording fails after Gmail
/// accepted the message, the send still succeeds (sending twice would be worse) and the error
/// is logged; the mailbox sync records the message later from the `SENT` copy, idempotently.
#[derive(Debug, Clone)]
pub struct GmailSender {
    gmail: Gmail,
    person_policy: PersonPolicy,
}

impl Gmail {
    /// The [`EmailChannel`] of this client. With a `person_policy` that creates people for
    /// sent mail, a recipient no person has becomes a new person.
    #[must_use]
    pub fn sender(&self, person_policy: PersonPolicy) -> GmailSender {
        GmailSender {
            gmail: self.clone(),
            person_policy,
        }
    }
}

#[async_trait]
impl EmailChannel for GmailSender {
    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id(), integration_id = %email.integration_id))]
    async fn send_email(&self, ctx: &TenantContext, email: OutboundEmail) -> Result<SentEmail> {
        ctx.authorize(Access::WriteCrm)?;
        mime::validate(&email)?;
        let integration = self
            .gmail
            .usable_integration(ctx, email.integration_id)
            .await?;
        let message_id = mime::new_message_id(&integration.account);
        let built = mime::build(&integration.account, &email, &message_id)?;
        let sent = self
            .gmail
            .send_raw(ctx, integration.id, &built.raw, email.thread_id.as_deref())
            .await?;
        let receipt = SentEmail {
            provider_message_id: sent.id.clone(),
            thread_id: sent.thread_id.clone().or_else(|| email.thread_id.clone()),
            message_id_header: Some(built.message_id.clone()),
        };

        let excerpt = ParsedEmail {
            text: email.text.clone(),
            html: email.html.clone(),
            ..ParsedEmail::default()
        }
        .excerpt(SNIPPET_CHARS);
        let mut headers = Map::new();
        if !email.bcc.is_empty() {
            headers.insert(
                "Bcc".into(),
                json!(email.bcc.iter().map(|a| a.as_ref()).collect::<Vec<_>>()),
            );
        }
        if let Some(parent) = &email.in_reply_to {
            let parent = format!(
                "<{}>",
                parent.trim().trim_start_matches('<').trim_end_matches('>')
            );
            headers.insert("In-Reply-To".into(), json!(parent));
            headers.insert("References".into(), json!(parent));
        }
        if !email.attachments.is_empty() {
            headers.insert(
                "attachments".into(),
                Value::Array(
                    email
                        .attachments
                        .iter()
                        .map(|a| {
                            json!({"filename": a.filename, "content_type": a.content_type, "size": a.content.len()})
                        })
                        .collect(),
                ),
            );
        }
        let subject = email.subject.trim();
        let mut new = NewEmail {
            integration_id: integration.id,
            provider_id: sent.id.clone(),
            thread_id: receipt.thread_id.clone(),
            message_id: Some(built.message_id.clone()),
            direction: Direction::Outbound,
            from: integration.account.clone(),
            to: email.to.iter().map(|a| a.as_ref().to_owned()).collect(),
            cc: email.cc.iter().map(|a| a.as_ref().to_owned()).collect(),
            subject: (!subject.is_empty()).then(|| truncate(subject, 10_000)),
            snippet: excerpt,
            headers: Value::Object(headers),
            labels: crate::sync::clean_labels(&sent.label_ids),
            occurred_at: Utc::now(),
            person_id: None,
            create_person: self.person_policy.creates_for(Direction::Outbound),
        };
        crate::sync::sanitize(&mut new);
        if let Err(e) = self.gmail.store().record_email(ctx, new).await {
            tracing::error!(
                provider_id = %sent.id,
                error = %e,
                "Gmail sent the message but recording it failed; the sync will record it"
            );
        }
        Ok(receipt)
    }
}
