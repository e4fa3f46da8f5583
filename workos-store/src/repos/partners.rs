//! Fulfillment partners: rows, writes and their sealed signing secrets.

use async_trait::async_trait;
use sqlx::types::Json;
use uuid::Uuid;
use workos_core::domain::{
    Currency, NewPartner, Partner, PartnerDelivery, PartnerFilter, PartnerPatch, Schedule,
    Timestamp,
};
use workos_core::events::types;
use workos_core::ids::{OrgId, PartnerId};
use workos_core::page::{Page, PageRequest};
use workos_core::repo::{PartnerRepo, SealedSecrets};
use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};

use super::leads::{for_update, json};
use super::{caps, corrupt, emit, emit_and_commit, unchanged};
use crate::SqlStore;
use crate::db::{Sql, Tx, args, now};

/// A `fulfillment_partners` row, in [`PARTNER_COLUMNS`] order.
#[derive(sqlx::FromRow)]
pub(crate) struct PartnerRow {
    id: Uuid,
    org_id: Uuid,
    name: String,
    delivery: Json<PartnerDelivery>,
    verticals: Json<Vec<String>>,
    regions: Json<Vec<String>>,
    priority: i32,
    weight: i32,
    price_minor: i64,
    currency: String,
    daily_cap: Option<i32>,
    monthly_cap: Option<i32>,
    timezone: String,
    schedule: Option<Json<Schedule>>,
    exclusive: bool,
    active: bool,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl TryFrom<PartnerRow> for Partner {
    type Error = Error;

    fn try_from(r: PartnerRow) -> Result<Self> {
        let count = |what: &str, n: i32| u32::try_from(n).map_err(|e| corrupt(what, e));
        Ok(Self {
            id: PartnerId::from_uuid(r.id),
            org_id: OrgId::from_uuid(r.org_id),
            name: r.name,
            delivery: r.delivery.0,
            verticals: r.verticals.0,
            regions: r.regions.0,
            priority: r.priority,
            weight: count("partner weight", r.weight)?,
            price_minor: r.price_minor,
            currency: Currency::parse(&r.currency).map_err(|e| corrupt("currency", e))?,
            daily_cap: r.daily_cap.map(|c| count("daily cap", c)).transpose()?,
            monthly_cap: r.monthly_cap.map(|c| count("monthly cap", c)).transpose()?,
            timezone: r.timezone,
            schedule: r.schedule.map(|s| s.0),
            exclusive: r.exclusive,
            active: r.active,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// The columns [`PartnerRow`] reads.
pub(crate) const PARTNER_COLUMNS: &str = "id, org_id, name, delivery, verticals, regions, priority, weight, price_minor, \
     currency, daily_cap, monthly_cap, timezone, schedule, exclusive, active, created_at, updated_at";

/// A live partner of the org; `lock` is [`for_update`] when the caller will write
/// what depends on it (an update, or routing that checks caps before recording a delivery).
pub(crate) async fn fetch_partner(
    tx: &mut Tx,
    ctx: &TenantContext,
    id: PartnerId,
    lock: &str,
) -> Result<Partner> {
    let sql = format!(
        "SELECT {PARTNER_COLUMNS} FROM fulfillment_partners WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL{lock}"
    );
    let row: Option<PartnerRow> = tx.fetch_optional(&sql, args![ctx.org_id(), id]).await?;
    row.ok_or_else(|| Error::not_found(PartnerId::KIND))?
        .try_into()
}

fn partner_from(
    id: PartnerId,
    ctx: &TenantContext,
    n: NewPartner,
    created_at: Timestamp,
    updated_at: Timestamp,
) -> Partner {
    Partner {
        id,
        org_id: ctx.org_id(),
        name: n.name,
        delivery: n.delivery,
        verticals: n.verticals,
        regions: n.regions,
        priority: n.priority,
        weight: n.weight,
        price_minor: n.price_minor,
        currency: n.currency,
        daily_cap: n.daily_cap,
        monthly_cap: n.monthly_cap,
        timezone: n.timezone,
        schedule: n.schedule,
        exclusive: n.exclusive,
        active: n.active,
        created_at,
        updated_at,
    }
}

/// The stored columns of a partner that an update writes: `name` to `active`, `updated_at`, then
/// `schedule` (SQL NULL for none: bind it through `NULLIF(.., 'null')`).
fn partner_args(p: &Partner) -> Result<Vec<crate::db::Arg>> {
    Ok(args![
        p.name.as_str(),
        json(&p.delivery)?,
        json(&p.verticals)?,
        json(&p.regions)?,
        i64::from(p.priority),
        i64::from(p.weight),
        p.price_minor,
        p.currency.code(),
        p.daily_cap.map(i64::from),
        p.monthly_cap.map(i64::from),
        p.timezone.as_str(),
        p.exclusive,
        p.active,
        p.updated_at,
        json(&p.schedule)?,
    ])
}

/// Whether a partner receives leads by webhook (only those keep a signing secret).
const fn is_webhook(p: &Partner) -> bool {
    matches!(p.delivery, PartnerDelivery::Webhook { .. })
}

impl SqlStore {
    /// Creates a partner under `id`, with `secret` when it is a webhook partner.
    async fn insert_partner(
        &self,
        ctx: &TenantContext,
        id: PartnerId,
        mut new: NewPartner,
        secret: Option<SealedSecrets>,
    ) -> Result<Partner> {
        new.validate()?;
        let mut tx = self.tenant_tx(ctx, Access::Manage).await?;
        let t = now();
        let partner = partner_from(id, ctx, new, t, t);
        let secret = secret.filter(|_| is_webhook(&partner)).map(|s| s.0);
        let mut a = partner_args(&partner)?;
        a.extend(args![
            partner.org_id,
            partner.id,
            partner.created_at,
            secret
        ]);
        tx.execute(
            "INSERT INTO fulfillment_partners (name, delivery, verticals, regions, priority, weight, price_minor,
             currency, daily_cap, monthly_cap, timezone, exclusive, active, updated_at, schedule, org_id, id,
             created_at, signing_secret)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, NULLIF($15, 'null'), $16, $17,
             $18, $19)",
            a,
        )
        .await?;
        emit_and_commit(
            tx,
            ctx,
            types::PARTNER_CREATED,
            partner.id,
            &partner.redacted(),
        )
        .await?;
        Ok(partner)
    }

    /// Applies `patch` to a partner; with `mint`, also keeps its signing secret in step with
    /// its delivery ([`PartnerRepo::update_partner_with_secret`]). Answers whether `mint` was
    /// stored.
    async fn patch_partner(
        &self,
        ctx: &TenantContext,
        id: PartnerId,
        patch: PartnerPatch,
        mint: Option<SealedSecrets>,
    ) -> Result<(Partner, bool)> {
        let mut tx = self.tenant_tx(ctx, Access::Manage).await?;
        let current = fetch_partner(&mut tx, ctx, id, for_update(self)).await?;
        let mut next = NewPartner::patched(&current, patch);
        next.validate()?;
        let updated = partner_from(id, ctx, next, current.created_at, now());
        let unchanged = unchanged(&updated, &current, |r| &mut r.updated_at);
        let partner = if unchanged {
            current
        } else {
            let mut a = partner_args(&updated)?;
            a.extend(args![ctx.org_id(), id]);
            tx.execute(
                "UPDATE fulfillment_partners SET name = $1, delivery = $2, verticals = $3, regions = $4, priority = $5,
                 weight = $6, price_minor = $7, currency = $8, daily_cap = $9, monthly_cap = $10, timezone = $11,
                 exclusive = $12, active = $13, updated_at = $14, schedule = NULLIF($15, 'null')
                 WHERE org_id = $16 AND id = $17",
                a,
            )
            .await?;
            emit(
                &mut tx,
                ctx,
                types::PARTNER_UPDATED,
                PartnerId::KIND,
                id.as_uuid(),
                &updated.redacted(),
            )
            .await?;
            if (updated.daily_cap, updated.monthly_cap, &updated.timezone)
                != (current.daily_cap, current.monthly_cap, &current.timezone)
            {
                // Before the event is written (at commit): counters come before the org's
                // event stream head.
                caps::forget(&mut tx, ctx, id).await?;
            }
            updated
        };
        let mut minted = false;
        if let Some(mint) = mint {
            // The row is locked (Postgres) or the database is (SQLite) since the read above.
            let (has_secret,): (bool,) = tx
                .fetch_one(
                    "SELECT signing_secret IS NOT NULL FROM fulfillment_partners WHERE org_id = $1 AND id = $2",
                    args![ctx.org_id(), id],
                )
                .await?;
            let secret = match (is_webhook(&partner), has_secret) {
                (true, false) => Some(Some(mint.0)),
                (false, true) => Some(None),
                _ => None,
            };
            if let Some(secret) = secret {
                minted = secret.is_some();
                tx.execute(
                    "UPDATE fulfillment_partners SET signing_secret = $1 WHERE org_id = $2 AND id = $3",
                    args![secret, ctx.org_id(), id],
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok((partner, minted))
    }
}

#[async_trait]
impl PartnerRepo for SqlStore {
    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn create_partner(&self, ctx: &TenantContext, new: NewPartner) -> Result<Partner> {
        self.insert_partner(ctx, PartnerId::new(), new, None).await
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn create_partner_with_secret(
        &self,
        ctx: &TenantContext,
        id: PartnerId,
        new: NewPartner,
        secret: Option<SealedSecrets>,
    ) -> Result<Partner> {
        self.insert_partner(ctx, id, new, secret).await
    }

    async fn get_partner(&self, ctx: &TenantContext, id: PartnerId) -> Result<Partner> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        fetch_partner(&mut tx, ctx, id, "")
            .await
            .map(|p| partner_for_reader(ctx, p))
    }

    async fn list_partners(
        &self,
        ctx: &TenantContext,
        filter: PartnerFilter,
        page: PageRequest,
    ) -> Result<Page<Partner>> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        let mut sql = Sql::new(&format!(
            "SELECT {PARTNER_COLUMNS} FROM fulfillment_partners WHERE deleted_at IS NULL AND org_id = "
        ));
        sql.bind(ctx.org_id());
        if let Some(active) = filter.active {
            sql.push(" AND active = ").bind(active);
        }
        sql.page("id", &page)?;
        let rows: Vec<PartnerRow> = tx.fetch_sql(sql).await?;
        let rows = rows
            .into_iter()
            .map(|r| Partner::try_from(r).map(|p| partner_for_reader(ctx, p)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(rows, &page, |p| p.id.as_uuid()))
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn update_partner(
        &self,
        ctx: &TenantContext,
        id: PartnerId,
        patch: PartnerPatch,
    ) -> Result<Partner> {
        Ok(self.patch_partner(ctx, id, patch, None).await?.0)
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn update_partner_with_secret(
        &self,
        ctx: &TenantContext,
        id: PartnerId,
        patch: PartnerPatch,
        mint: SealedSecrets,
    ) -> Result<(Partner, bool)> {
        self.patch_partner(ctx, id, patch, Some(mint)).await
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn delete_partner(&self, ctx: &TenantContext, id: PartnerId) -> Result<()> {
        let mut tx = self.tenant_tx(ctx, Access::Manage).await?;
        let partner = fetch_partner(&mut tx, ctx, id, for_update(self)).await?;
        tx.execute(
            "UPDATE fulfillment_partners SET deleted_at = $1 WHERE org_id = $2 AND id = $3",
            args![now(), ctx.org_id(), id],
        )
        .await?;
        emit_and_commit(tx, ctx, types::PARTNER_DELETED, id, &partner.redacted()).await
    }

    async fn partner_signing_secret(
        &self,
        ctx: &TenantContext,
        id: PartnerId,
    ) -> Result<Option<SealedSecrets>> {
        let mut tx = self.tenant_tx(ctx, Access::Manage).await?;
        let row: Option<(Option<Vec<u8>>,)> = tx
            .fetch_optional(
                "SELECT signing_secret FROM fulfillment_partners WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL",
                args![ctx.org_id(), id],
            )
            .await?;
        let (secret,) = row.ok_or_else(|| Error::not_found(PartnerId::KIND))?;
        Ok(secret.map(SealedSecrets))
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn swap_partner_signing_secret(
        &self,
        ctx: &TenantContext,
        id: PartnerId,
        expected: Option<SealedSecrets>,
        next: SealedSecrets,
    ) -> Result<bool> {
        let mut tx = self.tenant_tx(ctx, Access::Manage).await?;
        // Sealing uses a fresh nonce, so equal ciphertexts mean the very secret the caller read.
        let changed = tx
            .execute(
                "UPDATE fulfillment_partners SET signing_secret = $1
                 WHERE org_id = $2 AND id = $3 AND deleted_at IS NULL
                 AND signing_secret IS NOT DISTINCT FROM $4",
                args![next.0, ctx.org_id(), id, expected.map(|e| e.0)],
            )
            .await?;
        let partner = fetch_partner(&mut tx, ctx, id, "").await?;
        if changed == 0 {
            // Changed since it was read.
            return Ok(false);
        }
        emit_and_commit(
            tx,
            ctx,
            types::PARTNER_SECRET_ROTATED,
            id,
            &partner.redacted(),
        )
        .await?;
        Ok(true)
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn set_partner_signing_secret(
        &self,
        ctx: &TenantContext,
        id: PartnerId,
        secret: Option<SealedSecrets>,
    ) -> Result<()> {
        let mut tx = self.tenant_tx(ctx, Access::Manage).await?;
        let changed = tx
            .execute(
                "UPDATE fulfillment_partners SET signing_secret = $1
                 WHERE org_id = $2 AND id = $3 AND deleted_at IS NULL",
                args![secret.map(|s| s.0), ctx.org_id(), id],
            )
            .await?;
        if changed == 0 {
            return Err(Error::not_found(PartnerId::KIND));
        }
        tx.commit().await
    }
}

/// A partner as `ctx` may read it: admins see a webhook delivery URL whole, everyone else only
/// its scheme and host (partner URLs are often capability URLs).
fn partner_for_reader(ctx: &TenantContext, p: Partner) -> Partner {
    if ctx.authorize(Access::Manage).is_ok() {
        p
    } else {
        p.redacted()
    }
}
