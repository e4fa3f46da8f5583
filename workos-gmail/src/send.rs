//! [`GmailSender`]: the engine's [`EmailChannel`] through a connected Gmail account, and
//! [`GmailSender::send`], which also picks the account, threads replies and answers the stored
//! email.

use async_trait::async_trait;
use chrono::Utc;
use serde_json::{Map, Value, json};
use workos_core::channel::{Attachment, EmailChannel, OutboundEmail, SentEmail};
use workos_core::domain::{Direction, Email, EmailAddress, GMAIL, IntegrationStatus, NewEmail};
use workos_core::ids::{EmailId, IntegrationId};
use workos_core::page::PageRequest;
use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};

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

    /// The org's Gmail account to send from when none is named: an `active` one, else one
    /// `syncing` or `failing` (never one that needs reauthorisation or is disconnected).
    ///
    /// # Errors
    /// [`Error::Validation`] on `integration_id` when the org has none;
    /// [`Error::Unavailable`] when the storage fails.
    pub async fn default_integration(&self, ctx: &TenantContext) -> Result<IntegrationId> {
        let first = PageRequest::first(100)?;
        let mut request = first.clone();
        let mut fallback = None;
        loop {
            let listed = self.store().list_integrations(ctx, request).await?;
            for i in listed.data.iter().filter(|i| i.provider == GMAIL) {
                match i.status {
                    IntegrationStatus::Active => return Ok(i.id),
                    IntegrationStatus::Syncing | IntegrationStatus::Failing => {
                        fallback = fallback.or(Some(i.id));
                    }
                    // `needs_reauth`, `disconnected`, and any status a later version adds
                    // (`IntegrationStatus` is non-exhaustive): not one to send from.
                    _ => {}
                }
            }
            match listed.next_cursor {
                Some(cursor) => request = first.clone().after(Some(cursor)),
                None => break,
            }
        }
        fallback.ok_or_else(|| {
            Error::invalid(
                "integration_id",
                "the org has no connected Gmail account to send from",
            )
        })
    }
}

/// An email to send from one of the org's Gmail accounts, as a client asks for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendEmail {
    /// Recipients (at least one).
    pub to: Vec<EmailAddress>,
    /// Copy recipients.
    pub cc: Vec<EmailAddress>,
    /// Blind copy recipients.
    pub bcc: Vec<EmailAddress>,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: Option<String>,
    /// HTML body.
    pub html: Option<String>,
    /// Attachments.
    pub attachments: Vec<Attachment>,
    /// A stored email this replies to: sent from its account (unless `integration_id` says
    /// otherwise), in its thread when the account is the same, with `In-Reply-To`.
    pub reply_to_email_id: Option<EmailId>,
    /// The account to send from; default: the replied-to email's, else
    /// [`Gmail::default_integration`].
    pub integration_id: Option<IntegrationId>,
    /// When to give up sending (default: never before the HTTP client's own timeouts). No
    /// request to Gmail outlives it, and a large message whose upload is not complete by then
    /// is not sent (see [`crate::api::resumable`]); a caller with a time limit of its own sets
    /// it inside that limit, so it never abandons a send that Gmail completes.
    pub deadline: Option<std::time::Instant>,
}

/// What [`GmailSender::send`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// Gmail's answer.
    pub receipt: SentEmail,
    /// The stored email (`email.sent`); `None` when Gmail sent it but recording failed
    /// (logged): the mailbox sync records it later from the `SENT` copy.
    pub email: Option<Email>,
}

impl GmailSender {
    /// Sends `request` (member role) from the account it names, the replied-to email's, or
    /// the org's default ([`Gmail::default_integration`]), and records it (`email.sent`).
    ///
    /// # Errors
    /// [`Error::Forbidden`] below member; [`Error::Validation`] on `to` without recipients, on
    /// `reply_to_email_id` for an email the org does not have, on `integration_id` for an
    /// account it does not have (or none to send from), and as [`crate::mime::validate`];
    /// [`Error::Conflict`] when the account is disconnected; Gmail's errors as
    /// [`EmailChannel::send_email`].
    pub async fn send(&self, ctx: &TenantContext, request: SendEmail) -> Result<Sent> {
        ctx.authorize(Access::WriteCrm)?;
        if request.to.is_empty() {
            return Err(Error::invalid("to", "needs at least one recipient"));
        }
        let parent =
            match request.reply_to_email_id {
                Some(id) => Some(self.gmail.store().get_email(ctx, id).await.map_err(
                    |e| match e {
                        Error::NotFound { .. } => {
                            Error::invalid("reply_to_email_id", "no such email")
                        }
                        other => other,
                    },
                )?),
                None => None,
            };
        let integration_id = match (request.integration_id, &parent) {
            (Some(id), _) => id,
            (None, Some(p)) => p.integration_id,
            (None, None) => self.gmail.default_integration(ctx).await?,
        };
        let email = OutboundEmail {
            integration_id,
            to: request.to,
            cc: request.cc,
            bcc: request.bcc,
            subject: request.subject,
            text: request.text,
            html: request.html,
            attachments: request.attachments,
            in_reply_to: parent.as_ref().and_then(|p| p.message_id.clone()),
            thread_id: parent
                .as_ref()
                .filter(|p| p.integration_id == integration_id)
                .and_then(|p| p.thread_id.clone()),
        };
        let (receipt, email) =
            self.deliver(ctx, email, request.deadline)
                .await
                .map_err(|e| match e {
                    Error::NotFound { .. } => {
                        Error::invalid("integration_id", "no such integration")
                    }
                    other => other,
                })?;
        Ok(Sent { receipt, email })
    }

    /// Sends `email` and records it; the stored email is `None` when recording failed.
    async fn deliver(
        &self,
        ctx: &TenantContext,
        email: OutboundEmail,
        deadline: Option<std::time::Instant>,
    ) -> Result<(SentEmail, Option<Email>)> {
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
            .send_raw_until(
                ctx,
                integration.id,
                &built.raw,
                email.thread_id.as_deref(),
                deadline,
            )
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
            // Read back from the message as sent, so each carries the part id Gmail's copy
            // has (what the download route takes), as a synced email's would.
            let parsed = crate::parse::parse(&built.raw);
            headers.insert(
                "attachments".into(),
                crate::parse::attachments_json(&parsed.attachments),
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
        let stored = match self.gmail.store().record_email(ctx, new).await {
            Ok(recorded) => Some(recorded.record),
            Err(e) => {
                tracing::error!(
                    provider_id = %sent.id,
                    error = %e,
                    "Gmail sent the message but recording it failed; the sync will record it"
                );
                None
            }
        };
        Ok((receipt, stored))
    }
}

#[async_trait]
impl EmailChannel for GmailSender {
    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id(), integration_id = %email.integration_id))]
    async fn send_email(&self, ctx: &TenantContext, email: OutboundEmail) -> Result<SentEmail> {
        Ok(self.deliver(ctx, email, None).await?.0)
    }
}
