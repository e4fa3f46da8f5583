//! Creating orgs and API keys: first run, the `admin` commands and the api-keys route share it.

use workos_core::Result;
pub use workos_core::auth::issue_api_key;
use workos_core::crypto::{ApiKeyHasher, ApiKeySecret};
use workos_core::domain::{NewOrg, Org};
use workos_core::ids::OrgId;
use workos_core::repo::Directory;
use workos_core::tenant::{Role, TenantContext};
use workos_store::SqlStore;

/// Creates an org with an owner API key.
///
/// # Errors
/// As [`Directory::create_org`].
pub async fn create_org_with_key(
    store: &SqlStore,
    hasher: &ApiKeyHasher,
    name: &str,
) -> Result<(Org, ApiKeySecret)> {
    let org = store
        .create_org(
            NewOrg {
                name: name.to_owned(),
            },
            None,
        )
        .await?;
    let ctx = TenantContext::system(org.id, "admin");
    let (_, secret) = issue_api_key(store, hasher, &ctx, "admin", Role::Owner).await?;
    Ok((org, secret))
}

/// On an empty database, creates a first org and returns it with its owner key: only the
/// first of several processes starting together does (see [`SqlStore::create_first_org`]).
/// Development mode only: the caller skips it with `WORKOS_ENV=production`.
///
/// # Errors
/// As [`create_org_with_key`].
pub async fn first_run(
    store: &SqlStore,
    hasher: &ApiKeyHasher,
) -> Result<Option<(OrgId, ApiKeySecret)>> {
    let first = NewOrg {
        name: "My organization".to_owned(),
    };
    let Some(org) = store.create_first_org(first).await? else {
        return Ok(None);
    };
    let ctx = TenantContext::system(org.id, "admin");
    let (_, secret) = issue_api_key(store, hasher, &ctx, "admin", Role::Owner).await?;
    Ok(Some((org.id, secret)))
}
