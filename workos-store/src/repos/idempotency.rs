//! Idempotency keys: reserve (a lease), complete, release, purge.
//!
//! A reservation holds its key until `lease_until`; a request whose process died before it
//! completed or released the key leaves it to the retry that comes after the lease. Every
//! reservation also deletes a small batch of the org's keys older than [`RETENTION_HOURS`], so
//! the table does not grow without a job of its own; every statement stays within one org.

use async_trait::async_trait;
use chrono::Duration;
use workos_core::repo::{IdempotencyRepo, IdempotencyState, StoredResponse};
use workos_core::tenant::TenantContext;
use workos_core::{Error, Result};

use crate::SqlStore;
use crate::db::{Tx, args, now};

/// How long a key is remembered.
const RETENTION_HOURS: i64 = 24;

/// Old keys a reservation purges at most (so a write never pays for a large backlog).
const PURGE_ON_WRITE: i64 = 100;

/// Tries at reserving a key whose row keeps vanishing under the reservation (see
/// [`reserve_round`]).
const RESERVE_ROUNDS: usize = 3;

/// Old keys one [`IdempotencyRepo::purge_idempotent`] call deletes at most.
const PURGE_BATCH: i64 = 1000;

fn chrono_duration(d: std::time::Duration) -> Result<Duration> {
    Duration::from_std(d).map_err(|e| Error::invalid("lease", e.to_string()))
}

/// Deletes up to `limit` of the org's keys created before `cutoff` that are completed or whose
/// lease has lapsed by `t`.
async fn purge(
    tx: &mut Tx,
    ctx: &TenantContext,
    cutoff: chrono::DateTime<chrono::Utc>,
    t: chrono::DateTime<chrono::Utc>,
    limit: i64,
) -> Result<u64> {
    tx.execute(
        "DELETE FROM idempotency_keys WHERE org_id = $1 AND key IN (
             SELECT key FROM idempotency_keys
             WHERE org_id = $1 AND created_at < $2
               AND (status IS NOT NULL OR lease_until IS NULL OR lease_until < $3)
             LIMIT $4)",
        args![ctx.org_id(), cutoff, t, limit],
    )
    .await
}

/// A key's row: fingerprint, and the status, `Location` and body of its completed response.
type KeyRow = (Vec<u8>, Option<i32>, Option<String>, Option<Vec<u8>>);

/// One try at reserving `key`: the state found, or `None` when the key's row vanished between
/// the statements (released by its holder meanwhile).
async fn reserve_round(
    tx: &mut Tx,
    ctx: &TenantContext,
    key: &str,
    fingerprint: &[u8],
    t: chrono::DateTime<chrono::Utc>,
    lease_until: chrono::DateTime<chrono::Utc>,
) -> Result<Option<IdempotencyState>> {
    let inserted = tx
        .execute(
            "INSERT INTO idempotency_keys (org_id, key, fingerprint, created_at, lease_until)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT DO NOTHING",
            args![ctx.org_id(), key, fingerprint.to_vec(), t, lease_until],
        )
        .await?;
    if inserted == 1 {
        return Ok(Some(IdempotencyState::Reserved));
    }
    // A reservation nobody answered whose lease ran out: this request takes it over.
    let taken_over = tx
        .execute(
            "UPDATE idempotency_keys SET fingerprint = $1, created_at = $2, lease_until = $3
             WHERE org_id = $4 AND key = $5 AND status IS NULL
               AND (lease_until IS NULL OR lease_until < $2)",
            args![fingerprint.to_vec(), t, lease_until, ctx.org_id(), key],
        )
        .await?;
    if taken_over == 1 {
        tracing::info!(org_id = %ctx.org_id(), "took over an idempotency key whose lease lapsed");
        return Ok(Some(IdempotencyState::Reserved));
    }
    let row: Option<KeyRow> = tx
        .fetch_optional(
            "SELECT fingerprint, status, location, body FROM idempotency_keys WHERE org_id = $1 AND key = $2",
            args![ctx.org_id(), key],
        )
        .await?;
    Ok(row.map(|row| match row {
        (stored, _, _, _) if stored != fingerprint => IdempotencyState::Mismatch,
        (_, Some(status), location, body) => IdempotencyState::Completed(StoredResponse {
            status: u16::try_from(status).unwrap_or(500),
            location,
            body: body.unwrap_or_default(),
        }),
        (_, None, _, _) => IdempotencyState::InProgress,
    }))
}

#[async_trait]
impl IdempotencyRepo for SqlStore {
    async fn reserve_idempotent(
        &self,
        ctx: &TenantContext,
        key: &str,
        fingerprint: &[u8],
        lease: std::time::Duration,
    ) -> Result<IdempotencyState> {
        let t = now();
        let lease_until = t + chrono_duration(lease)?;
        let mut tx = self.tenant_write_tx(ctx).await?;
        purge(
            &mut tx,
            ctx,
            t - Duration::hours(RETENTION_HOURS),
            t,
            PURGE_ON_WRITE,
        )
        .await?;
        // This key, when it is old: whatever it holds, it is forgotten.
        tx.execute(
            "DELETE FROM idempotency_keys WHERE org_id = $1 AND key = $2 AND created_at < $3",
            args![ctx.org_id(), key, t - Duration::hours(RETENTION_HOURS)],
        )
        .await?;
        // The key's row can be released (deleted) by the request that holds it between the
        // statements below: the insert is then tried again, a bounded number of times, and a
        // key that keeps changing hands is reported as still in progress (the client retries).
        let mut state = IdempotencyState::InProgress;
        for _ in 0..RESERVE_ROUNDS {
            if let Some(found) =
                reserve_round(&mut tx, ctx, key, fingerprint, t, lease_until).await?
            {
                state = found;
                break;
            }
        }
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
            "UPDATE idempotency_keys SET status = $1, location = $2, body = $3, lease_until = NULL
             WHERE org_id = $4 AND key = $5",
            args![
                i64::from(response.status),
                response.location,
                response.body,
                ctx.org_id(),
                key
            ],
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

    async fn purge_idempotent(
        &self,
        ctx: &TenantContext,
        older_than: std::time::Duration,
    ) -> Result<u64> {
        let t = now();
        let cutoff = t - chrono_duration(older_than)?;
        let mut tx = self.tenant_write_tx(ctx).await?;
        let purged = purge(&mut tx, ctx, cutoff, t, PURGE_BATCH).await?;
        tx.commit().await?;
        Ok(purged)
    }
}
