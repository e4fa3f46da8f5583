//! SMS opt-outs (one row per org and number, the latest state) and the org's SMS settings.
//! The org's call settings are in `call_settings.rs`.

use async_trait::async_trait;
use uuid::Uuid;
use workos_core::Result;
use workos_core::domain::{E164, OptOutChange, OptOutSource, SmsOptOut, SmsSettings, Timestamp};
use workos_core::events::types;
use workos_core::ids::{OrgId, SmsId};
use workos_core::page::{Page, PageRequest};
use workos_core::repo::OptOutRepo;
use workos_core::tenant::{Access, TenantContext};

use super::{corrupt, emit, fetch_page};
use crate::SqlStore;
use crate::db::{Sql, Tx, args, now};

/// The event subject kind of an opt-out.
const KIND: &str = "sms_opt_out";

#[derive(sqlx::FromRow)]
struct OptOutRow {
    id: Uuid,
    org_id: Uuid,
    number: String,
    opted_out: bool,
    keyword: Option<String>,
    source: String,
    sms_id: Option<Uuid>,
    changed_at: Timestamp,
    created_at: Timestamp,
}

impl TryFrom<OptOutRow> for SmsOptOut {
    type Error = workos_core::Error;

    fn try_from(r: OptOutRow) -> Result<Self> {
        Ok(Self {
            id: r.id,
            org_id: OrgId::from_uuid(r.org_id),
            number: E164::parse(&r.number).map_err(|e| corrupt("opt-out number", e))?,
            opted_out: r.opted_out,
            keyword: r.keyword,
            source: OptOutSource::parse(&r.source).map_err(|e| corrupt("opt-out source", e))?,
            sms_id: r.sms_id.map(SmsId::from_uuid),
            changed_at: r.changed_at,
            created_at: r.created_at,
        })
    }
}

const COLUMNS: &str =
    "id, org_id, number, opted_out, keyword, source, sms_id, changed_at, created_at";

async fn fetch(tx: &mut Tx, ctx: &TenantContext, number: &E164) -> Result<Option<SmsOptOut>> {
    let sql = format!("SELECT {COLUMNS} FROM sms_opt_outs WHERE org_id = $1 AND number = $2");
    let row: Option<OptOutRow> = tx
        .fetch_optional(&sql, args![ctx.org_id(), number.as_ref()])
        .await?;
    row.map(SmsOptOut::try_from).transpose()
}

#[async_trait]
impl OptOutRepo for SqlStore {
    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn record_opt_out(
        &self,
        ctx: &TenantContext,
        change: OptOutChange,
    ) -> Result<Option<SmsOptOut>> {
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        let current = fetch(&mut tx, ctx, &change.number).await?;
        let unchanged = match &current {
            Some(c) => c.opted_out == change.opted_out,
            None => !change.opted_out,
        };
        if unchanged {
            return Ok(None);
        }
        let t = now();
        // A concurrent change of the same number: the upsert's condition lets only a real change
        // through, so two STOPs at once make one row and one event.
        let sql = format!(
            "INSERT INTO sms_opt_outs ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
             ON CONFLICT (org_id, number) DO UPDATE SET opted_out = excluded.opted_out,
                 keyword = excluded.keyword, source = excluded.source, sms_id = excluded.sms_id,
                 changed_at = excluded.changed_at
             WHERE sms_opt_outs.opted_out <> excluded.opted_out
             RETURNING id, created_at"
        );
        let written: Option<(Uuid, Timestamp)> = tx
            .fetch_optional(
                &sql,
                args![
                    Uuid::now_v7(),
                    ctx.org_id(),
                    change.number.as_ref(),
                    change.opted_out,
                    change.keyword.clone(),
                    change.source.as_str(),
                    change.sms_id,
                    t
                ],
            )
            .await?;
        let Some((id, created_at)) = written else {
            return Ok(None);
        };
        let record = SmsOptOut {
            id,
            org_id: ctx.org_id(),
            number: change.number,
            opted_out: change.opted_out,
            keyword: change.keyword,
            source: change.source,
            sms_id: change.sms_id,
            changed_at: t,
            created_at,
        };
        let event = if record.opted_out {
            types::SMS_OPTED_OUT
        } else {
            types::SMS_OPTED_IN
        };
        emit(&mut tx, ctx, event, KIND, id, &record).await?;
        tx.commit().await?;
        Ok(Some(record))
    }

    async fn opt_out(&self, ctx: &TenantContext, number: &E164) -> Result<Option<SmsOptOut>> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        fetch(&mut tx, ctx, number).await
    }

    async fn opted_out_among(&self, ctx: &TenantContext, numbers: &[E164]) -> Result<Vec<E164>> {
        if numbers.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        let mut sql = Sql::tenant("SELECT number FROM sms_opt_outs", "org_id", ctx.org_id());
        sql.push(" AND opted_out = ")
            .bind(true)
            .push(" AND number IN (");
        for (i, n) in numbers.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(n.as_ref());
        }
        sql.push(")");
        let rows: Vec<(String,)> = tx.fetch_sql(sql).await?;
        Ok(numbers
            .iter()
            .filter(|n| rows.iter().any(|(r,)| r == n.as_ref()))
            .cloned()
            .collect())
    }

    async fn list_opt_outs(
        &self,
        ctx: &TenantContext,
        opted_out: Option<bool>,
        page: PageRequest,
    ) -> Result<Page<SmsOptOut>> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        let mut sql = Sql::select(COLUMNS, "sms_opt_outs", ctx.org_id());
        sql.and("opted_out", "=", opted_out).page("id", &page)?;
        fetch_page::<OptOutRow, SmsOptOut>(&mut tx, sql, &page, |o| o.id).await
    }

    async fn sms_settings(&self, ctx: &TenantContext) -> Result<SmsSettings> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        let row: Option<(Option<String>,)> = tx
            .fetch_optional(
                "SELECT help_text FROM comms_settings WHERE org_id = $1",
                args![ctx.org_id()],
            )
            .await?;
        Ok(SmsSettings {
            help_text: row.and_then(|(h,)| h),
        })
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn set_sms_settings(
        &self,
        ctx: &TenantContext,
        settings: SmsSettings,
    ) -> Result<SmsSettings> {
        settings.validate()?;
        let mut tx = self.tenant_tx(ctx, Access::Manage).await?;
        let settings = SmsSettings {
            help_text: settings.help_text.map(|h| h.trim().to_owned()),
        };
        tx.execute(
            "INSERT INTO comms_settings (org_id, help_text, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (org_id) DO UPDATE SET help_text = excluded.help_text,
                 updated_at = excluded.updated_at",
            args![ctx.org_id(), settings.help_text.clone(), now()],
        )
        .await?;
        let org = ctx.org_id();
        emit(
            &mut tx,
            ctx,
            types::SMS_SETTINGS_UPDATED,
            "sms_settings",
            org.as_uuid(),
            &settings,
        )
        .await?;
        tx.commit().await?;
        Ok(settings)
    }
}
