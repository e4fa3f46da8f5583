//! Deals: an amount in a currency at a stage, optionally tied to a company, a person and an owner.

use async_trait::async_trait;
use uuid::Uuid;
use workos_core::domain::{Currency, Deal, DealFilter, DealPatch, Money, NewDeal, Timestamp};
use workos_core::events::types;
use workos_core::ids::{CompanyId, DealId, OrgId, PersonId, UserId};
use workos_core::page::{Page, PageRequest, SortField};
use workos_core::repo::DealRepo;
use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};

use super::{and_range, soft_delete};
use crate::SqlStore;
use crate::db::{SortExpr, Sql, Tx, args, now};
use crate::repos::fetch_sorted_page;
use crate::repos::{changed, corrupt, emit_and_commit, ensure_ref, unchanged};

#[derive(sqlx::FromRow)]
struct DealRow {
    id: Uuid,
    org_id: Uuid,
    name: String,
    amount_minor: Option<i64>,
    currency: Option<String>,
    stage: String,
    company_id: Option<Uuid>,
    person_id: Option<Uuid>,
    owner_id: Option<Uuid>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl TryFrom<DealRow> for Deal {
    type Error = Error;

    fn try_from(r: DealRow) -> Result<Self> {
        let amount = match (r.amount_minor, r.currency) {
            (Some(amount_minor), Some(c)) => Some(Money {
                amount_minor,
                currency: Currency::parse(&c).map_err(|e| corrupt("currency", e))?,
            }),
            _ => None,
        };
        Ok(Self {
            id: DealId::from_uuid(r.id),
            org_id: OrgId::from_uuid(r.org_id),
            name: r.name,
            amount,
            stage: r.stage.parse().map_err(|e| corrupt("stage", e))?,
            company_id: r.company_id.map(CompanyId::from_uuid),
            person_id: r.person_id.map(PersonId::from_uuid),
            owner_id: r.owner_id.map(UserId::from_uuid),
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const DEAL_COLUMNS: &str = "id, org_id, name, amount_minor, currency, stage, company_id, person_id, owner_id, created_at, updated_at";

async fn fetch_deal(tx: &mut Tx, ctx: &TenantContext, id: DealId) -> Result<Deal> {
    let sql = format!(
        "SELECT {DEAL_COLUMNS} FROM deals WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL"
    );
    let row: Option<DealRow> = tx.fetch_optional(&sql, args![ctx.org_id(), id]).await?;
    row.ok_or_else(|| Error::not_found(DealId::KIND))?
        .try_into()
}

async fn check_deal_refs(
    tx: &mut Tx,
    ctx: &TenantContext,
    company: Option<CompanyId>,
    person: Option<PersonId>,
) -> Result<()> {
    ensure_ref(
        tx,
        ctx,
        "companies",
        "company_id",
        company.map(|i| i.as_uuid()),
    )
    .await?;
    ensure_ref(tx, ctx, "people", "person_id", person.map(|i| i.as_uuid())).await
}

async fn write_deal(tx: &mut Tx, deal: &Deal, insert: bool) -> Result<()> {
    let sql = if insert {
        "INSERT INTO deals (name, amount_minor, currency, stage, company_id, person_id, owner_id, updated_at, org_id, id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    } else {
        "UPDATE deals SET name = $1, amount_minor = $2, currency = $3, stage = $4, company_id = $5, person_id = $6,
         owner_id = $7, updated_at = $8 WHERE org_id = $9 AND id = $10 AND created_at = $11"
    };
    tx.execute(
        sql,
        args![
            deal.name.as_str(),
            deal.amount.map(|m| m.amount_minor),
            deal.amount.map(|m| m.currency.code()),
            deal.stage.as_str(),
            deal.company_id,
            deal.person_id,
            deal.owner_id,
            deal.updated_at,
            deal.org_id,
            deal.id,
            deal.created_at,
        ],
    )
    .await?;
    Ok(())
}

fn deal_from(id: DealId, ctx: &TenantContext, n: NewDeal, created_at: Timestamp) -> Deal {
    Deal {
        id,
        org_id: ctx.org_id(),
        name: n.name.trim().to_owned(),
        amount: n.amount,
        stage: n.stage,
        company_id: n.company_id,
        person_id: n.person_id,
        owner_id: n.owner_id,
        created_at,
        updated_at: now(),
    }
}

/// The keys of `sort` on deals (`created_at` is id order); `workos_core::page::Sortable`
/// for `Deal` computes the same keys.
const DEAL_SORTS: &[(SortField, SortExpr)] = &[
    (SortField::UpdatedAt, SortExpr::Time("updated_at")),
    (SortField::Name, SortExpr::Folded("name")),
];

#[async_trait]
impl DealRepo for SqlStore {
    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn create_deal(&self, ctx: &TenantContext, new: NewDeal) -> Result<Deal> {
        new.validate()?;
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        check_deal_refs(&mut tx, ctx, new.company_id, new.person_id).await?;
        let mut deal = deal_from(DealId::new(), ctx, new, now());
        deal.created_at = deal.updated_at;
        write_deal(&mut tx, &deal, true).await?;
        emit_and_commit(tx, ctx, types::DEAL_CREATED, deal.id, &deal).await?;
        Ok(deal)
    }

    async fn get_deal(&self, ctx: &TenantContext, id: DealId) -> Result<Deal> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        fetch_deal(&mut tx, ctx, id).await
    }

    async fn list_deals(
        &self,
        ctx: &TenantContext,
        filter: DealFilter,
        page: PageRequest,
    ) -> Result<Page<Deal>> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        let mut sql = Sql::live(DEAL_COLUMNS, "deals", ctx.org_id());
        sql.and("stage", "=", filter.stage.map(|s| s.as_str()))
            .and("owner_id", "=", filter.owner_id)
            .and("company_id", "=", filter.company_id)
            .and("person_id", "=", filter.person_id);
        and_range(&mut sql, "created_at", filter.created);
        fetch_sorted_page::<DealRow, Deal>(&mut tx, sql, DEAL_SORTS, &page).await
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn update_deal(&self, ctx: &TenantContext, id: DealId, patch: DealPatch) -> Result<Deal> {
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        let current = fetch_deal(&mut tx, ctx, id).await?;
        let next = NewDeal::patched(&current, patch);
        next.validate()?;
        check_deal_refs(
            &mut tx,
            ctx,
            changed(next.company_id, current.company_id),
            changed(next.person_id, current.person_id),
        )
        .await?;
        let updated = deal_from(id, ctx, next, current.created_at);
        if unchanged(&updated, &current, |r| &mut r.updated_at) {
            return Ok(current);
        }
        write_deal(&mut tx, &updated, false).await?;
        emit_and_commit(tx, ctx, types::DEAL_UPDATED, id, &updated).await?;
        Ok(updated)
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn delete_deal(&self, ctx: &TenantContext, id: DealId) -> Result<()> {
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        let deal = fetch_deal(&mut tx, ctx, id).await?;
        soft_delete(&mut tx, ctx, "deals", id.as_uuid()).await?;
        emit_and_commit(tx, ctx, types::DEAL_DELETED, id, &deal).await
    }
}
