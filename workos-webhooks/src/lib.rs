//! Outbound webhooks for the WorkOS CRM engine: Standard Webhooks signing and verification,
//! and an SSRF guard for subscriber URLs.
#![forbid(unsafe_code)]

pub mod signing;
pub mod ssrf;
