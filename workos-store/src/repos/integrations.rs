//! Integrations: connected accounts (Gmail and the like), their sealed credentials and sync
//! state.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;
use workos_core::domain::{
    Integration, IntegrationStatus, IntegrationWatch, NewIntegration, Timestamp,
    to_storage_precision,
};
use workos_core::events::types;
use workos_core::ids::{IntegrationId, OrgId};
use workos_core::page::{Page, PageRequest};
use workos_core::repo::{IntegrationRepo, SealedSecrets};
use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};

use super::{corrupt, emit, emit_and_commit};
use crate::SqlStore;
use crate::db::{Sql, Tx, args, now};
use crate::repos::fetch_page;

/// The longest `last_error` kept; provider messages beyond it are cut.
const MAX_ERROR_CHARS: usize = 2_000;
/// The largest sync state kept, in bytes of JSON.
const MAX_SYNC_STATE_BYTES: usize = 256 * 1024;

#[derive(sqlx::FromRow)]
struct IntegrationRow {
    id: Uuid,
    org_id: Uuid,
    provider: String,
    account: String,
    status: String,
    settings: Json<serde_json::Value>,
    sync_state: Json<serde_json::Value>,
    last_synced_at: Option<Timestamp>,
    last_error: Option<String>,
    watch_expires_at: Option<Timestamp>,
    watch_history_id: Option<String>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl TryFrom<IntegrationRow> for Integration {
    type Error = Error;

    fn try_from(r: IntegrationRow) -> Result<Self> {
        Ok(Self {
            id: IntegrationId::from_uuid(r.id),
            org_id: OrgId::from_uuid(r.org_id),
            provider: r.provider,
            account: r.account,
            status: IntegrationStatus::parse(&r.status)
                .map_err(|e| corrupt("integration status", e))?,
            settings: r.settings.0,
            sync_state: r.sync_state.0,
            last_synced_at: r.last_synced_at,
            last_error: r.last_error,
            watch_expires_at: r.watch_expires_at,
            watch_history_id: r.watch_history_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const INTEGRATION_COLUMNS: &str = "id, org_id, provider, account, status, settings, sync_state, \
     last_synced_at, last_error, watch_expires_at, watch_history_id, created_at, updated_at";

pub(super) async fn fetch_integration(
    tx: &mut Tx,
    ctx: &TenantContext,
    id: IntegrationId,
) -> Result<Integration> {
    let sql =
        format!("SELECT {INTEGRATION_COLUMNS} FROM integrations WHERE org_id = $1 AND id = $2");
    let row: Option<IntegrationRow> = tx.fetch_optional(&sql, args![ctx.org_id(), id]).await?;
    row.ok_or_else(|| Error::not_found(IntegrationId::KIND))?
        .try_into()
}

/// Reads an integration after taking its row lock (on Postgres; SQLite write transactions hold
/// the database lock already), so a read-check-write cannot interleave with another writer of
/// the same integration: status changes emit their event once, and a disconnect is never
/// undone by a sync job that read the row before it.
async fn lock_integration(
    tx: &mut Tx,
    ctx: &TenantContext,
    id: IntegrationId,
) -> Result<Integration> {
    let locked = tx
        .execute(
            "UPDATE integrations SET updated_at = updated_at WHERE org_id = $1 AND id = $2",
            args![ctx.org_id(), id],
        )
        .await?;
    if locked == 0 {
        return Err(Error::not_found(IntegrationId::KIND));
    }
    fetch_integration(tx, ctx, id).await
}

pub(super) fn disconnected() -> Error {
    Error::conflict("status", "the integration is disconnected")
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// The org's integration of `new`'s provider and account, if any.
async fn find_account(
    tx: &mut Tx,
    ctx: &TenantContext,
    new: &NewIntegration,
) -> Result<Option<IntegrationId>> {
    let existing: Option<(Uuid,)> = tx
        .fetch_optional(
            "SELECT id FROM integrations WHERE org_id = $1 AND provider = $2 AND account = $3",
            args![ctx.org_id(), new.provider.as_str(), new.account.as_str()],
        )
        .await?;
    Ok(existing.map(|(id,)| IntegrationId::from_uuid(id)))
}

/// Inserts a new `active` integration; `None` when the org has the account already (also
/// when a concurrent connect inserted it first).
async fn insert_integration(
    tx: &mut Tx,
    ctx: &TenantContext,
    new: NewIntegration,
    credentials: SealedSecrets,
) -> Result<Option<Integration>> {
    let t = now();
    let integration = Integration {
        id: IntegrationId::new(),
        org_id: ctx.org_id(),
        provider: new.provider,
        account: new.account,
        status: IntegrationStatus::Active,
        settings: new.settings,
        sync_state: empty_object(),
        last_synced_at: None,
        last_error: None,
        watch_expires_at: None,
        watch_history_id: None,
        created_at: t,
        updated_at: t,
    };
    // ON CONFLICT keeps a concurrent connect of the same account a clean conflict (and the
    // Postgres transaction usable).
    let inserted = tx
        .execute(
            "INSERT INTO integrations (id, org_id, provider, account, status, credentials, settings,
             sync_state, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
             ON CONFLICT DO NOTHING",
            args![
                integration.id,
                integration.org_id,
                integration.provider.as_str(),
                integration.account.as_str(),
                integration.status.as_str(),
                credentials.0,
                integration.settings.clone(),
                integration.sync_state.clone(),
                t,
            ],
        )
        .await?;
    Ok((inserted == 1).then_some(integration))
}

/// Makes the locked integration `current` `active` again with new credentials and settings,
/// no last error and no sync claim. Its sync state starts afresh when it was disconnected (its
/// credentials were wiped: nobody followed the mailbox since) and is kept otherwise.
async fn revive_integration(
    tx: &mut Tx,
    ctx: &TenantContext,
    current: Integration,
    settings: serde_json::Value,
    credentials: SealedSecrets,
) -> Result<Integration> {
    let fresh = current.status == IntegrationStatus::Disconnected;
    let revived = Integration {
        status: IntegrationStatus::Active,
        settings,
        sync_state: if fresh {
            empty_object()
        } else {
            current.sync_state.clone()
        },
        last_synced_at: if fresh { None } else { current.last_synced_at },
        last_error: None,
        updated_at: now(),
        ..current
    };
    tx.execute(
        "UPDATE integrations SET status = $1, credentials = $2, settings = $3, sync_state = $4,
         last_synced_at = $5, last_error = NULL, sync_claimed_until = NULL, updated_at = $6
         WHERE org_id = $7 AND id = $8",
        args![
            revived.status.as_str(),
            credentials.0,
            revived.settings.clone(),
            revived.sync_state.clone(),
            revived.last_synced_at,
            revived.updated_at,
            ctx.org_id(),
            revived.id,
        ],
    )
    .await?;
    Ok(revived)
}

#[async_trait]
impl IntegrationRepo for SqlStore {
    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn create_integration(
        &self,
        ctx: &TenantContext,
        mut new: NewIntegration,
        credentials: SealedSecrets,
    ) -> Result<Integration> {
        new.validate()?;
        let mut tx = self.tenant_tx(ctx, Access::Manage).await?;
        let existing = find_account(&mut tx, ctx, &new).await?;
        let taken = || Error::conflict("account", "this account is already connected");
        let integration = if let Some(id) = existing {
            // Connecting a disconnected account again revives its integration.
            let current = lock_integration(&mut tx, ctx, id).await?;
            if current.status != IntegrationStatus::Disconnected {
                return Err(taken());
            }
            revive_integration(&mut tx, ctx, current, new.settings, credentials).await?
        } else {
            insert_integration(&mut tx, ctx, new, credentials)
                .await?
                .ok_or_else(taken)?
        };
        emit_and_commit(
            tx,
            ctx,
            types::INTEGRATION_CONNECTED,
            integration.id,
            &integration,
        )
        .await?;
        Ok(integration)
    }

    async fn get_integration(&self, ctx: &TenantContext, id: IntegrationId) -> Result<Integration> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        fetch_integration(&mut tx, ctx, id).await
    }

    async fn list_integrations(
        &self,
        ctx: &TenantContext,
        page: PageRequest,
    ) -> Result<Page<Integration>> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        let mut sql = Sql::select(INTEGRATION_COLUMNS, "integrations", ctx.org_id());
        sql.page("id", &page)?;
        fetch_page::<IntegrationRow, Integration>(&mut tx, sql, &page, |i| i.id.as_uuid()).await
    }

    async fn integration_credentials(
        &self,
        ctx: &TenantContext,
        id: IntegrationId,
    ) -> Result<SealedSecrets> {
        // A read, but of secrets: the member role that sends and syncs mail, not any viewer.
        ctx.authorize(Access::WriteCrm)?;
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        let row: Option<(Option<Vec<u8>>,)> = tx
            .fetch_optional(
                "SELECT credentials FROM integrations WHERE org_id = $1 AND id = $2",
                args![ctx.org_id(), id],
            )
            .await?;
        match row {
            None => Err(Error::not_found(IntegrationId::KIND)),
            Some((None,)) => Err(disconnected()),
            Some((Some(bytes),)) => Ok(SealedSecrets(bytes)),
        }
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id(), integration_id = %id))]
    async fn replace_integration_credentials(
        &self,
        ctx: &TenantContext,
        id: IntegrationId,
        credentials: SealedSecrets,
    ) -> Result<()> {
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        // One statement: a refresh racing a disconnect never brings the credentials back.
        let changed = tx
            .execute(
                "UPDATE integrations SET credentials = $1, updated_at = $2
                 WHERE org_id = $3 AND id = $4 AND status <> 'disconnected'",
                args![credentials.0, now(), ctx.org_id(), id],
            )
            .await?;
        if changed == 0 {
            fetch_integration(&mut tx, ctx, id).await?;
            return Err(disconnected());
        }
        tx.commit().await
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id(), integration_id = %id, status = %status))]
    async fn set_integration_status(
        &self,
        ctx: &TenantContext,
        id: IntegrationId,
        status: IntegrationStatus,
        last_error: Option<String>,
    ) -> Result<Integration> {
        if status == IntegrationStatus::Disconnected {
            return Err(Error::invalid(
                "status",
                "disconnect through disconnect_integration, which deletes the credentials",
            ));
        }
        let last_error = last_error.map(|e| e.chars().take(MAX_ERROR_CHARS).collect::<String>());
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        let current = lock_integration(&mut tx, ctx, id).await?;
        if current.status == IntegrationStatus::Disconnected {
            return Err(disconnected());
        }
        if current.status == status && current.last_error == last_error {
            return Ok(current);
        }
        let updated = Integration {
            status,
            last_error,
            updated_at: now(),
            ..current.clone()
        };
        tx.execute(
            "UPDATE integrations SET status = $1, last_error = $2, updated_at = $3 WHERE org_id = $4 AND id = $5",
            args![
                updated.status.as_str(),
                updated.last_error.clone(),
                updated.updated_at,
                ctx.org_id(),
                id,
            ],
        )
        .await?;
        if status == IntegrationStatus::NeedsReauth && current.status != status {
            emit(
                &mut tx,
                ctx,
                types::INTEGRATION_NEEDS_REAUTH,
                IntegrationId::KIND,
                id.as_uuid(),
                &updated,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(updated)
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id(), integration_id = %id))]
    async fn update_sync_state(
        &self,
        ctx: &TenantContext,
        id: IntegrationId,
        sync_state: serde_json::Value,
        last_synced_at: Option<DateTime<Utc>>,
    ) -> Result<Integration> {
        if !sync_state.is_object() || sync_state.to_string().len() > MAX_SYNC_STATE_BYTES {
            return Err(Error::invalid(
                "sync_state",
                format!("must be a JSON object of at most {MAX_SYNC_STATE_BYTES} bytes"),
            ));
        }
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        let current = lock_integration(&mut tx, ctx, id).await?;
        if current.status == IntegrationStatus::Disconnected {
            return Err(disconnected());
        }
        let updated = Integration {
            sync_state,
            last_synced_at: last_synced_at
                .map(to_storage_precision)
                .or(current.last_synced_at),
            updated_at: now(),
            ..current
        };
        tx.execute(
            "UPDATE integrations SET sync_state = $1, last_synced_at = $2, updated_at = $3
             WHERE org_id = $4 AND id = $5",
            args![
                updated.sync_state.clone(),
                updated.last_synced_at,
                updated.updated_at,
                ctx.org_id(),
                id,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(updated)
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id(), integration_id = %id))]
    async fn set_integration_watch(
        &self,
        ctx: &TenantContext,
        id: IntegrationId,
        watch: Option<IntegrationWatch>,
    ) -> Result<Integration> {
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        let current = lock_integration(&mut tx, ctx, id).await?;
        if current.status == IntegrationStatus::Disconnected {
            if watch.is_some() {
                return Err(disconnected());
            }
            return Ok(current);
        }
        let (expires_at, history_id) = watch
            .map(|w| (Some(to_storage_precision(w.expires_at)), Some(w.history_id)))
            .unwrap_or_default();
        let updated = Integration {
            watch_expires_at: expires_at,
            watch_history_id: history_id,
            updated_at: now(),
            ..current
        };
        tx.execute(
            "UPDATE integrations SET watch_expires_at = $1, watch_history_id = $2, updated_at = $3
             WHERE org_id = $4 AND id = $5",
            args![
                updated.watch_expires_at,
                updated.watch_history_id.clone(),
                updated.updated_at,
                ctx.org_id(),
                id,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(updated)
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn reconnect_integration(
        &self,
        ctx: &TenantContext,
        mut new: NewIntegration,
        credentials: SealedSecrets,
    ) -> Result<Integration> {
        new.validate()?;
        let mut tx = self.tenant_tx(ctx, Access::Manage).await?;
        let integration = match find_account(&mut tx, ctx, &new).await? {
            Some(id) => {
                let current = lock_integration(&mut tx, ctx, id).await?;
                revive_integration(&mut tx, ctx, current, new.settings, credentials).await?
            }
            None => match insert_integration(&mut tx, ctx, new.clone(), credentials.clone()).await?
            {
                Some(created) => created,
                // A concurrent connect inserted it first (SQLite never gets here: one writer).
                None => {
                    drop(tx);
                    return self.reconnect_integration(ctx, new, credentials).await;
                }
            },
        };
        emit_and_commit(
            tx,
            ctx,
            types::INTEGRATION_CONNECTED,
            integration.id,
            &integration,
        )
        .await?;
        Ok(integration)
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id(), integration_id = %id))]
    async fn disconnect_integration(
        &self,
        ctx: &TenantContext,
        id: IntegrationId,
    ) -> Result<Integration> {
        let mut tx = self.tenant_tx(ctx, Access::Manage).await?;
        let current = lock_integration(&mut tx, ctx, id).await?;
        if current.status == IntegrationStatus::Disconnected {
            return Ok(current);
        }
        let updated = Integration {
            status: IntegrationStatus::Disconnected,
            last_error: None,
            watch_expires_at: None,
            watch_history_id: None,
            updated_at: now(),
            ..current
        };
        tx.execute(
            "UPDATE integrations SET status = $1, credentials = NULL, last_error = NULL,
             watch_expires_at = NULL, watch_history_id = NULL, updated_at = $2
             WHERE org_id = $3 AND id = $4",
            args![
                updated.status.as_str(),
                updated.updated_at,
                ctx.org_id(),
                id
            ],
        )
        .await?;
        emit_and_commit(tx, ctx, types::INTEGRATION_DISCONNECTED, id, &updated).await?;
        Ok(updated)
    }
}
