//! Every sealed column the engine keeps, read and rewritten in batches for key rotation.
//!
//! The engine seals secrets with the application's `Cipher` before they reach the store; the
//! store never sees a key or a plaintext. What it offers here is the other half of a rotation:
//! walking each org's sealed values in pages ([`SqlStore::sealed_values`]) and swapping one for
//! its re-sealed form only if nobody changed it meanwhile ([`SqlStore::replace_sealed`]), so a
//! rotation can run next to live servers (a token refreshed during the walk is kept).

use uuid::Uuid;
use workos_core::Result;
use workos_core::ids::OrgId;
use workos_core::sealed::SealedRef;
use workos_core::tenant::{Access, TenantContext};

use crate::SqlStore;
use crate::db::{Tx, args};

pub use workos_core::sealed::SealedColumn;

/// (table, column, row key column, extra column read as `provider`) of `column`. Engine names
/// only.
const fn sql(column: SealedColumn) -> (&'static str, &'static str, &'static str, &'static str) {
    match column {
        SealedColumn::IntegrationCredentials => ("integrations", "credentials", "id", "provider"),
        SealedColumn::WebhookSecrets => ("webhooks", "secrets", "id", "NULL"),
        SealedColumn::WebhookHeaders => ("webhooks", "sealed_headers", "id", "NULL"),
        SealedColumn::PartnerSigningSecrets => {
            ("fulfillment_partners", "signing_secret", "id", "NULL")
        }
        SealedColumn::LeadFormSecrets => ("lead_forms", "secret", "id", "NULL"),
        SealedColumn::OAuthVerifiers => {
            ("oauth_states", "sealed_verifier", "state_hash", "provider")
        }
    }
}
/// Which row a sealed value is in.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RowKey {
    Id(Uuid),
    Hash(Vec<u8>),
}

/// One sealed value, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedValue {
    /// Its column.
    pub column: SealedColumn,
    /// The org it belongs to.
    pub org_id: OrgId,
    /// Its record's id (`None` for OAuth states, which are keyed by a hash of the state).
    pub record_id: Option<Uuid>,
    /// The provider, for integrations and OAuth states (their labels depend on it).
    pub provider: Option<String>,
    /// The ciphertext.
    pub sealed: Vec<u8>,
    key: RowKey,
}

impl SealedValue {
    /// What its labels depend on, as the sealing crates take it.
    #[must_use]
    pub fn sealed_ref(&self) -> SealedRef<'_> {
        SealedRef {
            column: self.column,
            org_id: self.org_id,
            record_id: self.record_id,
            provider: self.provider.as_deref(),
        }
    }
}

#[derive(sqlx::FromRow)]
struct SealedRow {
    id: Option<Uuid>,
    state_hash: Option<Vec<u8>>,
    provider: Option<String>,
    sealed: Vec<u8>,
}

impl SqlStore {
    /// Up to `limit` org ids after `after`, in id order: the orgs a rotation walks.
    ///
    /// # Errors
    /// [`workos_core::Error::Unavailable`] when the database fails.
    pub async fn org_ids(&self, after: Option<OrgId>, limit: u32) -> Result<Vec<OrgId>> {
        let mut tx = self.system_tx(false).await?;
        let from = after.map_or(Uuid::nil(), |o| o.as_uuid());
        let rows: Vec<(Uuid,)> = tx
            .fetch_all(
                "SELECT id FROM orgs WHERE id > $1 ORDER BY id LIMIT $2",
                args![from, i64::from(limit)],
            )
            .await?;
        Ok(rows.into_iter().map(|(o,)| OrgId::from_uuid(o)).collect())
    }

    /// Up to `limit` of `org`'s non-null values of `column` after `after` (a value of the same
    /// column and org from the previous page), in row key order.
    ///
    /// # Errors
    /// [`workos_core::Error::Unavailable`] when the database fails.
    pub async fn sealed_values(
        &self,
        column: SealedColumn,
        org: OrgId,
        after: Option<&SealedValue>,
        limit: u32,
    ) -> Result<Vec<SealedValue>> {
        let (table, col, key, provider) = sql(column);
        // A NULL of either key column decodes as `None` on both backends, whatever its type.
        let keys = if key == "id" {
            "id, NULL AS state_hash"
        } else {
            "NULL AS id, state_hash"
        };
        let mut values = args![org, i64::from(limit)];
        let after_key = match after.map(|v| &v.key) {
            Some(RowKey::Id(i)) => {
                values.extend(args![*i]);
                " AND id > $3"
            }
            Some(RowKey::Hash(h)) => {
                values.extend(args![Some(h.clone())]);
                " AND state_hash > $3"
            }
            None => "",
        };
        let sql = format!(
            "SELECT {keys}, {provider} AS provider, {col} AS sealed FROM {table}
             WHERE org_id = $1 AND {col} IS NOT NULL{after_key} ORDER BY {key} LIMIT $2"
        );
        let mut tx = self.sealed_tx(column, org).await?;
        let rows: Vec<SealedRow> = tx.fetch_all(&sql, values).await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let key = match (r.id, r.state_hash) {
                    (Some(id), _) => RowKey::Id(id),
                    (None, Some(hash)) => RowKey::Hash(hash),
                    (None, None) => return None,
                };
                Some(SealedValue {
                    column,
                    org_id: org,
                    record_id: r.id,
                    provider: r.provider,
                    sealed: r.sealed,
                    key,
                })
            })
            .collect())
    }

    /// Replaces `value` with `resealed` unless the row changed since `value` was read (then
    /// the newer value, sealed by a live server with the current key, stays). Answers whether
    /// it replaced it.
    ///
    /// # Errors
    /// [`workos_core::Error::Unavailable`] when the database fails.
    pub async fn replace_sealed(&self, value: &SealedValue, resealed: Vec<u8>) -> Result<bool> {
        let (table, col, key, _) = sql(value.column);
        let sql = format!(
            "UPDATE {table} SET {col} = $1 WHERE org_id = $2 AND {key} = $3 AND {col} = $4"
        );
        let row = match &value.key {
            RowKey::Id(id) => args![*id],
            RowKey::Hash(hash) => args![Some(hash.clone())],
        };
        let mut values = args![Some(resealed), value.org_id];
        values.extend(row);
        values.extend(args![Some(value.sealed.clone())]);
        let mut tx = self.sealed_tx(value.column, value.org_id).await?;
        let changed = tx.execute(&sql, values).await?;
        tx.commit().await?;
        Ok(changed == 1)
    }

    /// The transaction a column of `org` is read and written in: the org's own (Row Level
    /// Security as for any of its writes) for tenant tables, the system scope for OAuth states,
    /// which only the system reaches.
    async fn sealed_tx(&self, column: SealedColumn, org: OrgId) -> Result<Tx> {
        match column {
            SealedColumn::OAuthVerifiers => self.system_tx(true).await,
            _ => {
                let ctx = TenantContext::system(org, "admin.reencrypt");
                self.tenant_tx(&ctx, Access::Own).await
            }
        }
    }
}
