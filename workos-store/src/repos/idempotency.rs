//! Idempotency keys: reserve, complete, release.

use async_trait::async_trait;
use chrono::Duration;
use workos_core::Result;
use workos_core::repo::{IdempotencyRepo, IdempotencyState, StoredResponse};
use workos_core::tenant::TenantContext;

use crate::SqlStore;
use crate::db::{args, now};

/// How long a key is remembered.
const RETENTION_HOURS: i64 = 24;

#[async_trait]
impl IdempotencyRepo for SqlStore {
    async fn reserve_idempotent(
        &self,
        ctx: &TenantContext,
        key: &str,
        fingerprint: &[u8],
    ) -> Result<IdempotencyState> {
        let t = now();
        let mut tx = self.tenant_write_tx(ctx).await?;
        tx.execute(
            "DELETE FROM idempotency_keys WHERE org_id = $1 AND key = $2 AND created_at < $3",
            args![ctx.org_id(), key, t - Duration::hours(RETENTION_HOURS)],
        )
        .await?;
        let inserted = tx
            .execute(
                "INSERT INTO idempotency_keys (org_id, key, fingerprint, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
                args![ctx.org_id(), key, fingerprint.to_vec(), t],
            )
            .await?;
        let state = if inserted == 1 {
            IdempotencyState::Reserved
        } else {
            let row: (Vec<u8>, Option<i32>, Option<String>, Option<Vec<u8>>) = tx
                .fetch_one(
                    "SELECT fingerprint, status, location, body FROM idempotency_keys WHERE org_id = $1 AND key = $2",
                    args![ctx.org_id(), key],
                )
                .await?;
            match row {
                (stored, _, _, _) if stored != fingerprint => IdempotencyState::Mismatch,
                (_, Some(status), location, body) => IdempotencyState::Completed(StoredResponse {
                    status: u16::try_from(status).unwrap_or(500),
                    location,
                    body: body.unwrap_or_default(),
                }),
                (_, None, _, _) => IdempotencyState::InProgress,
            }
        };
        tx.commit().await?;
        Ok(state)
    }

    async fn complete_idempotent(
        &self,
        ctx: &TenantContext,
        key: &str,
        response: StoredResponse,
    ) -> Result<()> {
        let mut tx = self.tenant_write_tx(ctx).await?;
        tx.execute(
            "UPDATE idempotency_keys SET status = $1, location = $2, body = $3 WHERE org_id = $4 AND key = $5",
            args![i64::from(response.status), response.location, response.body, ctx.org_id(), key],
        )
        .await?;
        tx.commit().await
    }

    async fn release_idempotent(&self, ctx: &TenantContext, key: &str) -> Result<()> {
        let mut tx = self.tenant_write_tx(ctx).await?;
        tx.execute(
            "DELETE FROM idempotency_keys WHERE org_id = $1 AND key = $2 AND status IS NULL",
            args![ctx.org_id(), key],
        )
        .await?;
        tx.commit().await
    }
}
