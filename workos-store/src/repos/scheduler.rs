//! The system-level side of integrations: the scheduler's claims on due syncs (across orgs)
//! and the OAuth states of started connects, both shared by every process on the store.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;
use workos_core::domain::{Timestamp, to_storage_precision};
use workos_core::ids::{IntegrationId, OrgId, UserId};
use workos_core::repo::{
    ClaimedIntegration, IntegrationRef, IntegrationScheduler, OAuthStateRepo, PendingOAuth,
    SealedSecrets,
};
use workos_core::{Error, Result};

use crate::SqlStore;
use crate::db::{args, now};

/// The key of the hash under which OAuth states are kept (the state itself is a bearer secret).
const STATE_HASH_KEY: &[u8] = b"workos.oauth_state";

fn state_hash(state: &str) -> Vec<u8> {
    workos_core::crypto::hmac_sha256(STATE_HASH_KEY, state.as_bytes()).to_vec()
}

#[async_trait]
impl IntegrationScheduler for SqlStore {
    #[tracing::instrument(skip_all, fields(provider = %provider, limit))]
    async fn claim_due_integrations(
        &self,
        provider: &str,
        synced_before: DateTime<Utc>,
        lease: std::time::Duration,
        limit: u32,
    ) -> Result<Vec<ClaimedIntegration>> {
        let t = now();
        let until = to_storage_precision(
            t + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60)),
        );
        // The orgs of the integrations due longest, then a claim in each (see `claims`).
        let due = "FROM integrations WHERE provider = $3 AND status NOT IN ('needs_reauth', 'disconnected')
                   AND (last_synced_at IS NULL OR last_synced_at < $4)
                   AND (sync_claimed_until IS NULL OR sync_claimed_until <= $1)";
        let mut tx = self.system_tx(false).await?;
        let orgs = super::claims::due_orgs(
            &mut tx,
            &format!("SELECT org_id {due} ORDER BY last_synced_at NULLS FIRST, id LIMIT $2"),
            args![t, i64::from(limit), provider, synced_before],
        )
        .await?;
        drop(tx);
        let skip_locked = super::claims::skip_locked(self, "integrations");
        let mut claimed = Vec::new();
        for org in orgs {
            let room = i64::from(limit) - i64::try_from(claimed.len()).unwrap_or(i64::MAX);
            if room <= 0 {
                break;
            }
            let mut tx = self.system_tx(true).await?;
            let ids = super::claims::among_claimed(
                "id",
                &format!(
                    "SELECT id {due} AND org_id = $6 ORDER BY last_synced_at NULLS FIRST, id LIMIT $2"
                ),
                &skip_locked,
            );
            let sql = format!(
                "UPDATE integrations SET sync_claimed_until = $5 WHERE org_id = $6 AND {ids}
                 RETURNING org_id, id"
            );
            let rows: Vec<(Uuid, Uuid)> = tx
                .fetch_all(&sql, args![t, room, provider, synced_before, until, org])
                .await?;
            tx.commit().await?;
            claimed.extend(rows.into_iter().map(|(org, id)| ClaimedIntegration {
                org_id: OrgId::from_uuid(org),
                id: IntegrationId::from_uuid(id),
                claimed_until: until,
            }));
        }
        Ok(claimed)
    }

    async fn release_integration_claim(&self, org_id: OrgId, id: IntegrationId) -> Result<()> {
        let mut tx = self.system_tx(true).await?;
        tx.execute(
            "UPDATE integrations SET sync_claimed_until = NULL
             WHERE org_id = $1 AND id = $2 AND sync_claimed_until IS NOT NULL",
            args![org_id, id],
        )
        .await?;
        tx.commit().await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, integration_id = %id))]
    async fn claim_integration(
        &self,
        org_id: OrgId,
        id: IntegrationId,
        lease: std::time::Duration,
    ) -> Result<Option<ClaimedIntegration>> {
        let t = now();
        let until = to_storage_precision(
            t + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60)),
        );
        let mut tx = self.system_tx(true).await?;
        // One conditional UPDATE: of two claimers, the second finds the claim running.
        let claimed = tx
            .execute(
                "UPDATE integrations SET sync_claimed_until = $1
                 WHERE org_id = $2 AND id = $3 AND status NOT IN ('needs_reauth', 'disconnected')
                 AND (sync_claimed_until IS NULL OR sync_claimed_until <= $4)",
                args![until, org_id, id, t],
            )
            .await?;
        tx.commit().await?;
        Ok((claimed == 1).then_some(ClaimedIntegration {
            org_id,
            id,
            claimed_until: until,
        }))
    }

    async fn integrations_of_account(
        &self,
        provider: &str,
        account: &str,
    ) -> Result<Vec<IntegrationRef>> {
        let mut tx = self.system_tx(false).await?;
        let rows: Vec<(Uuid, Uuid)> = tx
            .fetch_all(
                "SELECT org_id, id FROM integrations
                 WHERE provider = $1 AND account = $2 AND status <> 'disconnected'
                 ORDER BY org_id, id",
                args![provider, account],
            )
            .await?;
        Ok(refs(rows))
    }

    async fn integrations_to_watch(
        &self,
        provider: &str,
        expiring_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<IntegrationRef>> {
        let mut tx = self.system_tx(false).await?;
        let rows: Vec<(Uuid, Uuid)> = tx
            .fetch_all(
                "SELECT org_id, id FROM integrations
                 WHERE provider = $1 AND status NOT IN ('needs_reauth', 'disconnected')
                 AND (watch_expires_at IS NULL OR watch_expires_at < $2)
                 ORDER BY watch_expires_at NULLS FIRST, org_id, id LIMIT $3",
                args![
                    provider,
                    to_storage_precision(expiring_before),
                    i64::from(limit)
                ],
            )
            .await?;
        Ok(refs(rows))
    }
}

fn refs(rows: Vec<(Uuid, Uuid)>) -> Vec<IntegrationRef> {
    rows.into_iter()
        .map(|(org, id)| IntegrationRef {
            org_id: OrgId::from_uuid(org),
            id: IntegrationId::from_uuid(id),
        })
        .collect()
}

#[derive(sqlx::FromRow)]
struct PendingRow {
    org_id: Uuid,
    user_id: Uuid,
    provider: String,
    sealed_verifier: Vec<u8>,
    expires_at: Timestamp,
}

#[async_trait]
impl OAuthStateRepo for SqlStore {
    #[tracing::instrument(skip_all, fields(org_id = %pending.org_id))]
    async fn put_oauth_state(&self, state: &str, pending: PendingOAuth) -> Result<()> {
        let t = now();
        let mut tx = self.system_tx(true).await?;
        tx.execute("DELETE FROM oauth_states WHERE expires_at <= $1", args![t])
            .await?;
        let inserted = tx
            .execute(
                "INSERT INTO oauth_states (state_hash, org_id, user_id, provider, sealed_verifier,
                 expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                args![
                    state_hash(state),
                    pending.org_id,
                    pending.user_id,
                    pending.provider.as_str(),
                    pending.sealed_verifier.0,
                    to_storage_precision(pending.expires_at),
                    t,
                ],
            )
            .await?;
        if inserted == 0 {
            return Err(Error::conflict("state", "this state is kept already"));
        }
        tx.commit().await
    }

    async fn take_oauth_state(&self, state: &str) -> Result<Option<PendingOAuth>> {
        let mut tx = self.system_tx(true).await?;
        let row: Option<PendingRow> = tx
            .fetch_optional(
                "DELETE FROM oauth_states WHERE state_hash = $1
                 RETURNING org_id, user_id, provider, sealed_verifier, expires_at",
                args![state_hash(state)],
            )
            .await?;
        tx.commit().await?;
        Ok(row.filter(|r| r.expires_at > now()).map(|r| PendingOAuth {
            org_id: OrgId::from_uuid(r.org_id),
            user_id: UserId::from_uuid(r.user_id),
            provider: r.provider,
            sealed_verifier: SealedSecrets(r.sealed_verifier),
            expires_at: r.expires_at,
        }))
    }
}
