//! The private subnets the operator lets one org's outbound deliveries reach.

use async_trait::async_trait;
pub use ipnet::IpNet;

use crate::error::Result;
use crate::tenant::TenantContext;

/// Each org's allowance of private subnets for its outbound deliveries (webhook endpoints and
/// partner lead webhooks), on top of the deployment-wide `WORKOS_WEBHOOK_ALLOWED_SUBNETS`.
///
/// Operator configuration, not tenant data: only a system actor (the operator's
/// `workos-server admin` commands) may change it, no API serves it, and its changes emit no
/// domain event (events are readable by the org through the API and its webhooks). The
/// engine reads it when the deployment-wide guard refuses a destination.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait SubnetAllowanceRepo: Send + Sync {
    /// The subnets allowed to the context's org, in the order of their text.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn allowed_subnets(&self, ctx: &TenantContext) -> Result<Vec<IpNet>>;

    /// Allows `subnet` (its host bits cleared) to the context's org; `false` when it already
    /// was.
    ///
    /// # Errors
    /// [`crate::Error::Forbidden`] unless the actor is a system actor;
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn allow_subnet(&self, ctx: &TenantContext, subnet: IpNet) -> Result<bool>;

    /// Revokes `subnet` (its host bits cleared) from the context's org; `false` when it was not
    /// allowed.
    ///
    /// # Errors
    /// As [`SubnetAllowanceRepo::allow_subnet`].
    async fn revoke_subnet(&self, ctx: &TenantContext, subnet: IpNet) -> Result<bool>;
}
