//! # workos-core
//!
//! The heart of the WorkOS CRM engine: typed ids, validated domain values, tenancy, the
//! repository / channel / event traits every backend and provider implements, and the crypto
//! used for secrets at rest and API keys. It depends on no database, web framework or HTTP
//! client; `workos-store` implements its traits on Postgres and SQLite.
//!
//! ```
//! use workos_core::domain::{EmailAddress, NewPerson};
//! use workos_core::tenant::{Access, Role, TenantContext};
//! use workos_core::ids::{OrgId, UserId};
//!
//! // Values are validated once, at the edge.
//! let email = EmailAddress::parse("Ada@Example.com")?;
//! let new = NewPerson { first_name: Some("Ada".into()), email: Some(email), ..Default::default() };
//! new.validate()?;
//!
//! // Every repository call takes a tenant context; roles decide what it may do.
//! let ctx = TenantContext::user(OrgId::new(), UserId::new(), Role::Viewer);
//! assert!(ctx.authorize(Access::Read).is_ok());
//! assert!(ctx.authorize(Access::WriteCrm).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! With the `testing` feature, every trait has a `mockall` mock (`MockPersonRepo`, …).

#![forbid(unsafe_code)]

pub mod channel;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod events;
pub mod ids;
#[cfg(feature = "openapi")]
mod openapi;
pub mod page;
pub mod repo;
pub mod tenant;

pub use error::{Error, Result};
