//! # workos-gmail
//!
//! Gmail for the WorkOS CRM engine:
//!
//! - **Connect** ([`Gmail::start_connect`], [`Gmail::finish_connect`], [`Gmail::disconnect`]):
//!   OAuth 2.0 authorization code with PKCE S256 and offline access, through the `oauth2`
//!   crate; single-use states bound to the org and user ([`oauth::StateStore`], shared by
//!   every process with [`SharedStateStore`]); reconnecting reactivates the account in one
//!   transaction (`integration.connected`); the account's
//!   address read from Gmail; tokens sealed with the engine's
//!   [`Cipher`](workos_core::crypto::Cipher) into the integration's credentials
//!   ([`vault`]). Disconnecting revokes the grant at Google.
//! - **Token vault** ([`vault`]): access tokens refreshed 60 s before expiry, one refresh at a
//!   time per integration, a `401` answered by one refresh and one retry, and a permanent
//!   OAuth refusal (`invalid_grant`, …) turning the integration `needs_reauth`
//!   (`integration.needs_reauth`) and failing the call with an error [`is_needs_reauth`]
//!   recognises.
//! - **API client** ([`api::GmailApi`]): profile, messages list/get (raw)/send, history list;
//!   Google's errors typed into [`workos_core::Error`]; reads retried on `5xx`; calls and quota
//!   units counted ([`api::ApiUsage`]).
//! - **Send** ([`GmailSender`], from [`Gmail::sender`]): the engine's
//!   [`EmailChannel`](workos_core::channel::EmailChannel); builds the MIME message
//!   ([`mime`]), sends it, records it (`email.sent`).
//! - **Sync** ([`SyncEngine::sync_once`]): full then incremental polling sync, resumable page by
//!   page, with person-creation policy and bulk-mail detection ([`sync`], [`parse`]); label
//!   changes kept current on the stored emails.
//! - **Scheduling** ([`SyncScheduler`], [`scheduler`]): syncs every org's due mailboxes run
//!   after run, sharing the work with the schedulers of other processes on the same store.
//! - **Push** ([`watch`], [`push`]): with a Pub/Sub topic, every mailbox is watched
//!   (`users.watch`, renewed by the scheduler, stopped on disconnect), and [`GmailPush`] turns
//!   Pub/Sub's OIDC-authenticated push requests into coalesced incremental syncs; polling
//!   stays as the safety net at a longer interval.
//! - **Composing** ([`GmailSender::send`]): picks the account (the one named, the replied-to
//!   email's, or the org's default, [`Gmail::default_integration`]), threads replies, sends,
//!   and answers the stored email; attachments of any size up to Gmail's 25 MB (messages over
//!   5 MiB through Gmail's resumable upload, [`api::resumable`]), within a deadline when given
//!   ([`SendEmail::deadline`]).
//! - **Attachments** ([`Gmail::attachment_stream`]): an email's attachment streamed from Gmail
//!   by its id (part id, `root`, or `index-N`), tenant-checked and size-limited
//!   ([`attachments`]).
//!
//! What an embedder does first, as the example shows: **configure** ([`GmailConfig`], then
//! [`Gmail::builder`]), **connect an account** ([`Gmail::start_connect`], then
//! [`Gmail::finish_connect`] with the redirect's `code` and `state`), and **sync and send**
//! ([`Gmail::sync_engine`], [`Gmail::sender`]). The crate has no feature flags. Tests point
//! every URL at the fake Google of `workos-tests`.
//!
//! ```no_run
//! # async fn demo(
//! #     store: std::sync::Arc<workos_store::SqlStore>,
//! #     cipher: std::sync::Arc<workos_core::crypto::Cipher>,
//! #     ctx: workos_core::tenant::TenantContext,
//! # ) -> workos_core::Result<()> {
//! use workos_gmail::{Gmail, GmailConfig, PersonPolicy, SyncConfig};
//!
//! let config = GmailConfig::from_lookup(|name| std::env::var(name).ok())?
//!     .expect("GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET and GOOGLE_REDIRECT_URL are set");
//! let gmail = Gmail::builder(config, store, cipher).build()?;
//!
//! // 1. Send the admin to Google…
//! let start = gmail.start_connect(&ctx).await?;
//! println!("{}", start.authorization_url);
//! // 2. …and finish with the redirect's `code` and `state`.
//! let integration = gmail.finish_connect(&ctx, "code", &start.pending.state).await?;
//!
//! // Sync (in a worker, with a system context), and send.
//! let engine = gmail.sync_engine(SyncConfig::default());
//! engine.sync_once(&ctx, integration.id).await?;
//! let _channel = gmail.sender(PersonPolicy::SentOnly);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The README's examples run as doctests, so what the registry's docs show is compiled code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod api;
pub mod attachments;
pub mod config;
mod gmail;
pub mod mime;
pub mod oauth;
pub mod parse;
pub mod push;
pub mod scheduler;
mod send;
mod send_request;
mod service;
pub mod sync;
pub mod vault;
pub mod watch;

use workos_core::domain::GMAIL;
use workos_core::repo::{EmailRepo, IntegrationRepo};
use workos_core::sealed::{SealedColumn, SealedRef};

pub use api::{ApiUsage, GmailApi, HistoryOutcome, RetryPolicy};
pub use attachments::{
    AttachmentContent, AttachmentRef, AttachmentStream, MAX_ATTACHMENT_BYTES, attachment_id,
};
pub use config::GmailConfig;
pub use gmail::{
    ConnectStart, DEFAULT_HTTP_TIMEOUT, Disconnected, Gmail, GmailBuilder, TakenConnect,
    http_client,
};
pub use oauth::{
    GmailOAuth, InMemoryStateStore, NEEDS_REAUTH_CODE, PendingConnect, SharedStateStore,
    StateStore, StoredState, Tokens, is_needs_reauth,
};
pub use push::{GmailPush, PushConfig, PushNotification, PushReport};
pub use scheduler::{SchedulerConfig, SchedulerHandle, SyncScheduler};
pub use send::{GmailSender, SendEmail, Sent};
pub use send_request::{Base64Attachment, MAX_BASE64_ATTACHMENT_BYTES, SendEmailRequest};
pub use service::{GmailService, GmailServiceStore};
pub use sync::{PersonPolicy, SyncConfig, SyncEngine, SyncPhase, SyncReport, SyncState};

/// The storage Gmail needs: integrations and emails (`workos_store::SqlStore` is one).
pub trait GmailStore: IntegrationRepo + EmailRepo {}

impl<T: IntegrationRepo + EmailRepo + ?Sized> GmailStore for T {}

/// The labels a sealed value of this crate may be sealed under: a mailbox's tokens
/// ([`vault::StoredTokens::labels`], integration credentials of provider `gmail`) and the PKCE
/// verifiers of connects in progress ([`SharedStateStore::labels`]); `None` for anything else.
/// For key rotation: see [`workos_core::sealed`].
#[must_use]
pub fn sealed_labels(value: &SealedRef<'_>) -> Option<Vec<Vec<u8>>> {
    match value.column {
        SealedColumn::IntegrationCredentials if value.provider == Some(GMAIL) => {
            Some(vault::StoredTokens::labels(value.org_id))
        }
        // Gmail's are the engine's only OAuth connects.
        SealedColumn::OAuthVerifiers => Some(SharedStateStore::labels(value.org_id)),
        _ => None,
    }
}
