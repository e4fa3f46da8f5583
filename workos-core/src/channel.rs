//! Communication channels: how the engine sends email, SMS and calls. Provider crates
//! (`workos-gmail`, `workos-twilio`) implement these; the engine stores what they return.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::{E164, EmailAddress, HttpUrl};
use crate::error::Result;
use crate::ids::IntegrationId;
use crate::tenant::TenantContext;

/// An attachment to an outbound email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// File name shown to the recipient.
    pub filename: String,
    /// MIME type, e.g. `application/pdf`.
    pub content_type: String,
    /// The bytes.
    pub content: Vec<u8>,
}

/// An email to send through a connected account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundEmail {
    /// The connected account to send from.
    pub integration_id: IntegrationId,
    /// Recipients.
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
    /// `Message-ID` of the message replied to, for `In-Reply-To`/`References`.
    pub in_reply_to: Option<String>,
    /// Provider thread to reply in.
    pub thread_id: Option<String>,
}

/// What the provider answered for a sent email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentEmail {
    /// The provider's message id (Gmail message id).
    pub provider_message_id: String,
    /// The provider's thread id.
    pub thread_id: Option<String>,
    /// The RFC 5322 `Message-ID` header of the message.
    pub message_id_header: Option<String>,
}

/// Sends email.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait EmailChannel: Send + Sync {
    /// Sends one email. Not retried after an ambiguous failure (timeout): a send may have
    /// happened, and sending twice is worse than reporting the error.
    ///
    /// # Errors
    /// [`crate::Error::Provider`], [`crate::Error::RateLimited`], [`crate::Error::Unavailable`].
    async fn send_email(&self, ctx: &TenantContext, email: OutboundEmail) -> Result<SentEmail>;
}

/// Where an SMS is sent from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsSender {
    /// One of the org's numbers.
    Number(E164),
    /// A provider messaging service (Twilio `MessagingServiceSid`).
    MessagingService(String),
}

/// An SMS or MMS to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundSms {
    /// Sender.
    pub from: SmsSender,
    /// Recipient.
    pub to: E164,
    /// Text, up to 1,600 characters.
    pub body: String,
    /// Media for MMS.
    pub media_urls: Vec<HttpUrl>,
    /// Where the provider reports status changes.
    pub status_callback: Option<HttpUrl>,
}

/// What the provider answered for a sent SMS or a started call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderReceipt {
    /// The provider's id (Twilio `SM…`/`CA…` SID).
    pub sid: String,
    /// The provider's status at acceptance, e.g. `queued`.
    pub status: String,
}

/// Sends SMS.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait SmsChannel: Send + Sync {
    /// Sends one message; never retried blindly after a timeout.
    ///
    /// # Errors
    /// [`crate::Error::Provider`], [`crate::Error::RateLimited`], [`crate::Error::Unavailable`].
    async fn send_sms(&self, ctx: &TenantContext, sms: OutboundSms) -> Result<ProviderReceipt>;
}

/// A call to place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundCall {
    /// Caller id: one of the org's numbers.
    pub from: E164,
    /// Callee.
    pub to: E164,
    /// Where the provider fetches call instructions (TwiML).
    pub instructions_url: HttpUrl,
    /// Where the provider reports status changes.
    pub status_callback: Option<HttpUrl>,
}

/// Places calls.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait CallChannel: Send + Sync {
    /// Starts one call; never retried blindly after a timeout.
    ///
    /// # Errors
    /// [`crate::Error::Provider`], [`crate::Error::RateLimited`], [`crate::Error::Unavailable`].
    async fn start_call(&self, ctx: &TenantContext, call: OutboundCall) -> Result<ProviderReceipt>;
}
