//! Lead generation for the WorkOS CRM engine: taking leads in from public forms, routing them
//! to fulfillment partners, and delivering them.
//!
//! | module | what |
//! |---|---|
//! | [`intake`] | [`intake::submit`]: a public form's submission, checked (signature, honeypot, required fields) and captured and routed in the form's org |
//! | [`forms`] | lead forms' shared secrets, sealed before the store sees them: [`forms::create`], [`forms::update`] |
//! | [`partners`] | [`PartnerService`]: partners with their webhook signing secrets (minted, sealed, rotated with a grace period) |
//! | [`routing_job`] | the queued-lead job: routes the leads waiting for partners with room, across orgs ([`routing_job::spawn`]) |
//! | [`sender`] | [`LeadSender`]: routed leads to partners (signed webhook or email), retried on the webhook pipeline's schedule |
//! | [`document`] | what a partner receives: the [lead document](document::lead_document) and its email |
//!
//! Capturing, deduplicating and routing a lead in one transaction are the store's
//! ([`RoutingRepo::capture_and_route_lead`](workos_core::repo::RoutingRepo::capture_and_route_lead));
//! this crate reaches storage only through `workos-core`'s traits, so it runs on any backend
//! (`workos_store::SqlStore` is one), and sends through `workos-webhooks`' SSRF-guarded sender.
//!
//! An embedder runs the two loops next to its own server:
//!
//! ```no_run
//! # async fn demo(store: std::sync::Arc<workos_store::SqlStore>, cipher: std::sync::Arc<workos_core::crypto::Cipher>)
//! #     -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use workos_leads::{LeadSender, routing_job};
//! use workos_webhooks::worker::WebhookConfig;
//!
//! // Email partners need an `EmailChannel` (e.g. Gmail's); without one their deliveries retry.
//! let sender = LeadSender::new(store.clone(), cipher, None, &WebhookConfig::from_env()?)?.spawn();
//! let job = routing_job::spawn(store, Duration::from_secs(60));
//! // … serve …
//! sender.shutdown().await;
//! job.shutdown().await;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The README's examples run as doctests, so what the registry's docs show is compiled code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod document;
pub mod forms;
pub mod intake;
pub mod partners;
pub mod routing_job;
pub mod sender;

pub use partners::PartnerService;
pub use sender::{LeadSender, LeadSenderHandle};

use workos_core::sealed::{SealedColumn, SealedRef};

/// The labels a sealed value of this crate's columns may be sealed under (partners' signing
/// secrets, [`partners::partner_aad`]; public forms' secrets, [`forms::secret_aad`]); `None`
/// for any other column, or a partner secret without its record id. For key rotation: see
/// [`workos_core::sealed`].
#[must_use]
pub fn sealed_labels(value: &SealedRef<'_>) -> Option<Vec<Vec<u8>>> {
    match value.column {
        SealedColumn::PartnerSigningSecrets => {
            let partner = workos_core::ids::PartnerId::from_uuid(value.record_id?);
            Some(vec![partners::partner_aad(value.org_id, partner)])
        }
        SealedColumn::LeadFormSecrets => Some(vec![forms::secret_aad(value.org_id)]),
        _ => None,
    }
}
