//! # workos-core
//!
//! The heart of the WorkOS CRM engine: typed ids, validated domain values, tenancy, the
//! repository / channel / event traits every backend and provider implements, and the crypto
//! used for secrets at rest and API keys. It depends on no database, web framework or HTTP
//! client; `workos-store` implements its traits on Postgres and SQLite.
//!
//! What an embedder does first:
//!
//! 1. **Parse values at the edge** ([`domain::EmailAddress::parse`], [`domain::E164::parse`],
//!    …): inside the engine a value of one of these types is valid by construction, and input
//!    structs ([`domain::NewPerson`], …) validate as a whole, naming every bad field.
//! 2. **Build a [`tenant::TenantContext`]** where you authenticate: the org and the actor's
//!    [`tenant::Role`]. Every repository call takes one; the org always comes from it.
//! 3. **Write your code against the [`repo`] traits** ([`repo::PersonRepo`], …), so it runs on
//!    `workos_store::SqlStore` in production and on a mock (feature `testing`) in unit tests.
//!
//! ```
//! use workos_core::domain::{EmailAddress, NewPerson, Person};
//! use workos_core::ids::{OrgId, UserId};
//! use workos_core::repo::PersonRepo;
//! use workos_core::tenant::{Access, Role, TenantContext};
//!
//! // 1. Values are validated once, at the edge.
//! let email = EmailAddress::parse("Ada@Example.com")?;
//! let new = NewPerson { first_name: Some("Ada".into()), email: Some(email), ..Default::default() };
//! new.validate()?;
//!
//! // 2. Every repository call takes a tenant context; roles decide what it may do.
//! let ctx = TenantContext::user(OrgId::new(), UserId::new(), Role::Viewer);
//! assert!(ctx.authorize(Access::Read).is_ok());
//! assert!(ctx.authorize(Access::WriteCrm).is_err());
//!
//! // 3. Code generic over a trait runs on any backend, or on `MockPersonRepo` in tests.
//! async fn add(people: &impl PersonRepo, ctx: &TenantContext, new: NewPerson) -> workos_core::Result<Person> {
//!     people.create_person(ctx, new).await
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Feature flags
//!
//! - **`testing`**: a [`mockall`](https://docs.rs/mockall) mock of every repository, channel
//!   and event trait, named after it (`repo::MockPersonRepo`, `channel::MockEmailChannel`,
//!   `events::MockEventBus`, …), for unit-testing code built on the engine.
//! - **`openapi`**: [`utoipa`](https://docs.rs/utoipa) `ToSchema` implementations for the
//!   domain types, for servers that publish an OpenAPI document.
//!
//! ## Stability
//!
//! Enums that may grow (statuses, kinds, roles, errors) are `#[non_exhaustive]`: match them
//! with a `_` arm. Input structs with a `Default` ([`domain::NewPerson`],
//! [`domain::PersonPatch`], [`domain::PersonFilter`], …) only ever gain fields that have a
//! default: build them with `..Default::default()`.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The README's examples run as doctests, so what the registry's docs show is compiled code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod auth;
pub mod channel;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod events;
pub mod ids;
pub mod json;
#[cfg(feature = "openapi")]
mod openapi;
pub mod page;
pub mod repo;
pub mod sealed;
pub mod supervise;
pub mod tenant;

pub use error::{Error, Result};
