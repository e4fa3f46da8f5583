//! Outbound webhooks for the WorkOS CRM engine.
//!
//! Subscribers register endpoints; every domain event an endpoint's filter matches is POSTed to
//! it as JSON, signed per [Standard Webhooks](https://www.standardwebhooks.com), retried on a
//! schedule until it is delivered or dead-lettered.
//!
//! | module | what |
//! |---|---|
//! | [`service`] | [`WebhookService`](service::WebhookService): register endpoints (SSRF-checked URL, minted secret sealed at rest), change them, rotate secrets with a grace period |
//! | [`worker`] | [`Pipeline`](worker::Pipeline): the [`Dispatcher`](worker::Dispatcher) fanning events out into deliveries and the [`DeliveryWorker`](worker::DeliveryWorker) sending them; [`WebhookConfig`](worker::WebhookConfig) |
//! | [`sender`] | one HTTP attempt: re-checked and pinned destination, no redirects, timeout, capped response body, classification |
//! | [`schedule`] | [`RetrySchedule`](schedule::RetrySchedule): delays between attempts, jitter, `Retry-After` |
//! | [`signing`] | Standard Webhooks signatures: [`WebhookSecret`](signing::WebhookSecret), [`verify`](signing::verify) for receivers |
//! | [`ssrf`] | [`SsrfGuard`](ssrf::SsrfGuard): refuses private, loopback and other non-public destinations |
//! | [`wakeups`] | [`Wakeups`](wakeups::Wakeups): what the sending loops sleep on (bus notices, a timer, shutdown) |
//!
//! Routed leads reach fulfillment partners through the same sender, signing and schedule: that
//! lives in the `workos-leads` crate.
//!
//! The crate reaches storage only through the `workos-core` traits
//! ([`WebhookRepo`](workos_core::repo::WebhookRepo),
//! [`DeliveryQueue`](workos_core::repo::DeliveryQueue),
//! [`EventBus`](workos_core::events::EventBus)), so it runs on any backend.
//!
//! What an embedder does first, as the example shows: **configure**
//! ([`WebhookConfig::from_env`](worker::WebhookConfig::from_env)), **register endpoints**
//! ([`WebhookService::create`](service::WebhookService::create), which returns the signing
//! secret once) and **run the pipeline** ([`Pipeline::spawn`](worker::Pipeline::spawn)).
//! Receivers check deliveries with [`signing::verify`]. The crate has no feature flags.
//!
//! ```no_run
//! # async fn demo(store: std::sync::Arc<workos_store::SqlStore>, cipher: std::sync::Arc<workos_core::crypto::Cipher>,
//! #               ctx: workos_core::tenant::TenantContext, new: workos_core::domain::NewWebhook) -> Result<(), Box<dyn std::error::Error>> {
//! use workos_webhooks::service::WebhookService;
//! use workos_webhooks::worker::{Pipeline, WebhookConfig};
//!
//! // WORKOS_WEBHOOK_RETRY_SCHEDULE, WORKOS_WEBHOOK_TIMEOUT_SECS, WORKOS_WEBHOOK_ALLOWED_SUBNETS
//! let config = WebhookConfig::from_env()?;
//! let service = WebhookService::new(store.clone(), cipher.clone(), config.allowed_subnets.clone());
//! let (endpoint, secret) = service.create(&ctx, new).await?; // show `secret.expose()` once
//!
//! let pipeline = Pipeline::spawn(store, cipher, config)?;
//! // … serve …
//! pipeline.shutdown().await;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The README's examples run as doctests, so what the registry's docs show is compiled code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod dispatcher;
pub mod schedule;
pub mod sender;
pub mod service;
pub mod signing;
pub mod ssrf;
pub mod wakeups;
pub mod worker;

pub use service::sealed_labels;
