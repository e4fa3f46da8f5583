//! `workos-server admin allow-subnets`, `list-subnets` and `revoke-subnets`: the operator's
//! per-org allowance of private subnets for outbound deliveries (webhook endpoints and webhook
//! partners), on top of the deployment-wide `WORKOS_WEBHOOK_ALLOWED_SUBNETS`.
//!
//! The SSRF guard reads an org's allowance from the store each time the deployment's guard
//! refuses one of its destinations (at registration and before every delivery attempt): no
//! process caches it, so a change applies at once in every process of the deployment.

use std::net::IpAddr;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use workos_core::ids::OrgId;
use workos_core::repo::{IpNet, OrgRepo, SubnetAllowanceRepo};
use workos_core::tenant::TenantContext;
use workos_store::SqlStore;

/// What to do with an org's allowance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Allow these subnets.
    Allow(Vec<IpNet>),
    /// Revoke these subnets.
    Revoke(Vec<IpNet>),
    /// Change nothing.
    List,
}

/// Parses `--cidr` values: CIDR subnets (host bits cleared) or bare IP addresses (one host).
///
/// # Errors
/// Naming `--cidr` and the first value that is neither.
pub fn parse_cidrs(values: &[String]) -> anyhow::Result<Vec<IpNet>> {
    values
        .iter()
        .map(|v| {
            let v = v.trim();
            v.parse::<IpNet>()
                .map(|n| n.trunc())
                .or_else(|_| v.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    anyhow::anyhow!(
                        "--cidr {v:?}: not a CIDR subnet such as 10.1.0.0/16 or an IP address"
                    )
                })
        })
        .collect()
}

/// Applies `change` to `org`'s allowance and answers `{"org_id", "allowed_subnets"}` as it
/// stands afterwards. A revocation of a subnet the org is not allowed fails and changes
/// nothing (a typo must not pass for a revocation).
///
/// # Errors
/// An unknown org; a subnet to revoke that is not allowed; the store's errors.
pub async fn run(store: &SqlStore, org: OrgId, change: Change) -> anyhow::Result<Value> {
    let ctx = TenantContext::system(org, "admin");
    store
        .get_org(&ctx)
        .await
        .with_context(|| format!("org {org}"))?;
    match change {
        Change::Allow(subnets) => {
            for subnet in subnets {
                store.allow_subnet(&ctx, subnet).await?;
                tracing::info!(org_id = %org, %subnet, "subnet allowed to the org");
            }
        }
        Change::Revoke(subnets) => {
            let allowed = store.allowed_subnets(&ctx).await?;
            if let Some(missing) = subnets.iter().find(|s| !allowed.contains(s)) {
                bail!("--cidr {missing}: not allowed to org {org}; nothing revoked");
            }
            for subnet in subnets {
                store.revoke_subnet(&ctx, subnet).await?;
                tracing::info!(org_id = %org, %subnet, "subnet revoked from the org");
            }
        }
        Change::List => {}
    }
    let allowed: Vec<String> = store
        .allowed_subnets(&ctx)
        .await?
        .iter()
        .map(ToString::to_string)
        .collect();
    Ok(json!({ "org_id": org, "allowed_subnets": allowed }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_and_addresses_parse_others_are_named() {
        let parsed = parse_cidrs(&["10.1.2.3/16".into(), " 127.0.0.1 ".into(), "::1".into()])
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>();
        assert_eq!(parsed, ["10.1.0.0/16", "127.0.0.1/32", "::1/128"]);
        let e = parse_cidrs(&["10.0.0.0/8".into(), "intranet".into()]).unwrap_err();
        assert!(e.to_string().contains("--cidr \"intranet\""), "{e}");
    }
}
