//! Routing settings as stored: per org and per vertical, with round robin's pointer, read
//! (locked when routing needs it) inside the routing transaction.

use sqlx::types::Json;
use uuid::Uuid;
use workos_core::Result;
use workos_core::domain::{
    DedupePolicy, NewLead, RoutingSettings, RoutingSettingsInput, Timestamp,
};
use workos_core::ids::PartnerId;
use workos_core::tenant::TenantContext;

use super::corrupt;
use crate::db::{Tx, args};

#[cfg(feature = "postgres")]
mod postgres;

pub(super) type SettingsRow = (
    String,
    String,
    String,
    String,
    i32,
    Json<DedupePolicy>,
    i32,
    Option<Uuid>,
    Timestamp,
);

/// Settings as stored, with round robin's pointer.
pub(super) struct StoredSettings {
    pub(super) settings: RoutingSettings,
    /// The stored row's key (`''` for org-wide), when a row applies.
    pub(super) row_key: Option<String>,
    pub(super) rr_last: Option<PartnerId>,
}

pub(super) fn settings_from(row: SettingsRow) -> Result<StoredSettings> {
    let (vertical, strategy, when_full, distribution, max, dedupe, window, rr, updated_at) = row;
    let count = |what: &str, n: i32| u32::try_from(n).map_err(|e| corrupt(what, e));
    let input = RoutingSettingsInput {
        strategy: strategy
            .parse()
            .map_err(|e| corrupt("routing strategy", e))?,
        when_full: when_full.parse().map_err(|e| corrupt("when_full", e))?,
        distribution: distribution
            .parse()
            .map_err(|e| corrupt("distribution", e))?,
        max_partners: count("max_partners", max)?,
        dedupe: dedupe.0,
        return_window_days: count("return_window_days", window)?,
    };
    let shown = Some(vertical.clone()).filter(|v| !v.is_empty());
    Ok(StoredSettings {
        settings: input.into_settings(shown, Some(updated_at)),
        row_key: Some(vertical),
        rr_last: rr.map(PartnerId::from_uuid),
    })
}

/// The settings in force for `vertical`: its own row, else the org-wide row, else defaults.
/// `lock` is [`for_update`] inside routing (round robin moves the pointer).
pub(super) async fn settings_in(
    tx: &mut Tx,
    ctx: &TenantContext,
    vertical: Option<&str>,
    lock: &str,
) -> Result<StoredSettings> {
    let sql = format!(
        "SELECT vertical, strategy, when_full, distribution, max_partners, dedupe, return_window_days,
         rr_last_partner_id, updated_at FROM routing_settings WHERE org_id = $1 AND vertical IN ($2, '')
         ORDER BY vertical DESC LIMIT 1{lock}"
    );
    let row: Option<SettingsRow> = tx
        .fetch_optional(&sql, args![ctx.org_id(), vertical.unwrap_or("")])
        .await?;
    match row {
        Some(row) => settings_from(row),
        None => Ok(StoredSettings {
            settings: RoutingSettings::defaults(),
            row_key: None,
            rr_last: None,
        }),
    }
}

/// The settings in force for `new`'s vertical (as [`settings_in`]), and on Postgres, in the
/// same statement, the capture's contact locks (`postgres::settings_locking_contacts`): one
/// round trip where there were two. Answers whether the locks were taken.
pub(super) async fn settings_locking_contacts(
    tx: &mut Tx,
    ctx: &TenantContext,
    new: &NewLead,
) -> Result<(StoredSettings, bool)> {
    #[cfg(feature = "postgres")]
    if let Some(pg) = tx.pg_path() {
        return postgres::settings_locking_contacts(pg, ctx, new).await;
    }
    Ok((
        settings_in(tx, ctx, new.vertical.as_deref(), "").await?,
        false,
    ))
}
