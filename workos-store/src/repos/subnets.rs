//! The private subnets the operator allowed each org's outbound deliveries to reach
//! (`org_allowed_subnets`, one row per org and subnet, stored as CIDR text with the host bits
//! cleared). Operator configuration: written only by system actors, and without an event.

use async_trait::async_trait;
use workos_core::repo::{IpNet, SubnetAllowanceRepo};
use workos_core::tenant::{Access, Actor, TenantContext};
use workos_core::{Error, Result};

use super::corrupt;
use crate::SqlStore;
use crate::db::{Arg, args, now};

/// `Forbidden` unless the actor is a system actor: tenants never change their own allowance.
fn operator_only(ctx: &TenantContext) -> Result<()> {
    match ctx.actor() {
        Actor::System { .. } => Ok(()),
        _ => Err(Error::Forbidden(
            "only the operator changes an org's allowed subnets".to_owned(),
        )),
    }
}

/// Runs the change `sql` for an operator, in its own transaction: whether it changed a row.
async fn write(store: &SqlStore, ctx: &TenantContext, sql: &str, args: Vec<Arg>) -> Result<bool> {
    operator_only(ctx)?;
    let mut tx = store.tenant_tx(ctx, Access::Own).await?;
    let changed = tx.execute(sql, args).await?;
    tx.commit().await?;
    Ok(changed > 0)
}

#[async_trait]
impl SubnetAllowanceRepo for SqlStore {
    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn allowed_subnets(&self, ctx: &TenantContext) -> Result<Vec<IpNet>> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        let rows: Vec<(String,)> = tx
            .fetch_all(
                "SELECT subnet FROM org_allowed_subnets WHERE org_id = $1 ORDER BY subnet",
                args![ctx.org_id()],
            )
            .await?;
        tx.commit().await?;
        rows.into_iter()
            .map(|(s,)| s.parse().map_err(|e| corrupt("allowed subnet", e)))
            .collect()
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn allow_subnet(&self, ctx: &TenantContext, subnet: IpNet) -> Result<bool> {
        write(
            self,
            ctx,
            "INSERT INTO org_allowed_subnets (org_id, subnet, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (org_id, subnet) DO NOTHING",
            args![ctx.org_id(), subnet.trunc().to_string(), now()],
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn revoke_subnet(&self, ctx: &TenantContext, subnet: IpNet) -> Result<bool> {
        write(
            self,
            ctx,
            "DELETE FROM org_allowed_subnets WHERE org_id = $1 AND subnet = $2",
            args![ctx.org_id(), subnet.trunc().to_string()],
        )
        .await
    }
}
