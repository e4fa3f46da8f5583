//! Twilio for the WorkOS engine: the primitives, and the services an application runs
//! whether or not it uses the reference server.
//!
//! - [`inbound`]: [`InboundService`] takes Twilio's webhooks (inbound SMS and calls, status
//!   callbacks, recordings) as they arrived ([`InboundRequest`]): checks the signature with the
//!   right account, finds the org, records them, and answers the TwiML.
//! - [`accounts`]: [`TwilioAccounts`] stores orgs' own Twilio accounts (checked with Twilio,
//!   the token sealed) and picks the account that acts for an org: its own, else the
//!   platform's ([`TwilioConfig`], read from `TWILIO_*`).
//! - [`registration`]: [`TwilioAccounts::register_phone`] maps a number to an org only when the
//!   org's own Twilio account owns it; [`TwilioAccounts::assign_phone`] is the operator's way for
//!   the platform's numbers. Capabilities come from Twilio.
//! - [`engine`]: [`Messenger`](engine::Messenger) sends SMS and places calls from an org's
//!   numbers and records them; [`TwilioAccounts::messenger`] gives the org's.
//! - [`signature`]: verify the `X-Twilio-Signature` header of form-encoded and JSON-body
//!   webhooks ([`RequestValidator`]), in constant time, over the full URL (query string
//!   included) with Twilio's default-port variants.
//! - [`models`]: typed inbound webhook payloads ([`InboundMessage`], [`InboundCall`], status
//!   callbacks), tolerant status enums ([`MessageStatus`], [`CallStatus`]), Twilio's REST
//!   error body ([`TwilioErrorBody`]) and a minimal escaping TwiML builder ([`Twiml`]).
//! - [`client`]: a REST client ([`TwilioClient`]) that sends messages and places calls
//!   (never retried after an ambiguous failure), fetches them back (with retries), maps
//!   Twilio's errors onto [`workos_core::Error`] and implements the engine's
//!   [`SmsChannel`](workos_core::channel::SmsChannel) and
//!   [`CallChannel`](workos_core::channel::CallChannel). Tests can point it at the fake API
//!   in `workos-tests` (`workos_tests::fake_twilio`).
//!
//! What an embedder does first: **check the signature** of every webhook
//! ([`RequestValidator::validate`]), **read the payload** ([`InboundMessage::from_params`], …),
//! and **send** ([`TwilioClient::builder`], [`TwilioClient::send_message`]). The crate has no
//! feature flags.
//!
//! ```
//! use workos_twilio::{InboundMessage, RequestValidator, parse_form};
//!
//! let body = b"MessageSid=SM1&AccountSid=AC1&From=%2B14155550100&To=%2B14155550199&Body=Hi";
//! let params = parse_form(body);
//! let validator = RequestValidator::new("auth-token");
//! let url = "https://example.com/twilio/sms";
//! let header = validator.signature(url, &params); // what Twilio would send
//! assert!(validator.validate(url, &params, &header));
//! let message = InboundMessage::from_params(&params)?;
//! assert_eq!(message.body, "Hi");
//!
//! // Sending: `client.send_message(&reply).await?` in your async code.
//! let client = workos_twilio::TwilioClient::builder()
//!     .account_sid("AC0123456789abcdef0123456789abcdef")
//!     .auth_token("auth-token")
//!     .build()?;
//! let reply = workos_twilio::SendMessage::new(
//!     &message.from,
//!     workos_twilio::MessageSender::From(message.to.clone()),
//!     "Thanks!",
//! );
//! # let _ = (client, reply);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The README's examples run as doctests, so what the registry's docs show is compiled code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod accounts;
pub mod client;
pub mod config;
pub mod engine;
pub mod inbound;
pub mod models;
mod numbers;
mod opt_outs;
pub mod reconcile;
pub mod registration;
pub mod signature;
pub mod twiml;

pub use accounts::{OrgAccount, TwilioAccounts, sealed_labels};
pub use config::TwilioConfig;
pub use inbound::{InboundRequest, InboundService};

pub use client::{
    AccountResource, CallResource, CreateCall, IncomingPhoneNumberResource, MessageResource,
    MessageSender, NumberCapabilities, Secret, SendMessage, TransportError, TransportErrorKind,
    TwilioClient, TwilioClientBuilder, TwilioErrorKind, is_outcome_unknown,
};

pub use models::{
    CallStatus, CallStatusCallback, DialActionCallback, InboundCall, InboundMessage, Media,
    MessageStatus, MessageStatusCallback, ParseError, RecordingCallback, TranscriptionCallback,
    TwilioErrorBody, Twiml, empty_twiml, xml_escape,
};
pub use signature::{RequestValidator, SIGNATURE_HEADER, parse_form, sha256_hex};
