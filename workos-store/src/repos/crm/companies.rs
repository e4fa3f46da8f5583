//! Companies: the company records of an org (soft-deleted).

use async_trait::async_trait;
use uuid::Uuid;
use workos_core::domain::{Company, CompanyFilter, CompanyPatch, NewCompany, Timestamp};
use workos_core::events::types;
use workos_core::ids::{CompanyId, OrgId};
use workos_core::page::{Page, PageRequest, SortField};
use workos_core::repo::CompanyRepo;
use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};

use super::{and_range, soft_delete};
use crate::SqlStore;
use crate::db::{SortExpr, Sql, Tx, args, contains_pattern, now};
use crate::repos::{emit_and_commit, unchanged};

#[derive(sqlx::FromRow)]
struct CompanyRow {
    id: Uuid,
    org_id: Uuid,
    name: String,
    domain: Option<String>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl From<CompanyRow> for Company {
    fn from(r: CompanyRow) -> Self {
        Self {
            id: CompanyId::from_uuid(r.id),
            org_id: OrgId::from_uuid(r.org_id),
            name: r.name,
            domain: r.domain,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const COMPANY_COLUMNS: &str = "id, org_id, name, domain, created_at, updated_at";

async fn fetch_company(tx: &mut Tx, ctx: &TenantContext, id: CompanyId) -> Result<Company> {
    let sql = format!(
        "SELECT {COMPANY_COLUMNS} FROM companies WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL"
    );
    let row: Option<CompanyRow> = tx.fetch_optional(&sql, args![ctx.org_id(), id]).await?;
    row.map(Company::from)
        .ok_or_else(|| Error::not_found(CompanyId::KIND))
}

/// The keys of `sort` on companies (`created_at` is id order); `workos_core::page::Sortable`
/// for `Company` computes the same keys.
const COMPANY_SORTS: &[(SortField, SortExpr)] = &[
    (SortField::UpdatedAt, SortExpr::Time("updated_at")),
    (SortField::Name, SortExpr::Folded("name")),
];

#[async_trait]
impl CompanyRepo for SqlStore {
    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn create_company(&self, ctx: &TenantContext, mut new: NewCompany) -> Result<Company> {
        new.validate()?;
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        let t = now();
        let company = Company {
            id: CompanyId::new(),
            org_id: ctx.org_id(),
            name: new.name.trim().to_owned(),
            domain: new.domain,
            created_at: t,
            updated_at: t,
        };
        tx.execute(
            "INSERT INTO companies (id, org_id, name, domain, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)",
            args![company.id, company.org_id, company.name.as_str(), company.domain.clone(), t, t],
        )
        .await?;
        emit_and_commit(tx, ctx, types::COMPANY_CREATED, company.id, &company).await?;
        Ok(company)
    }

    async fn get_company(&self, ctx: &TenantContext, id: CompanyId) -> Result<Company> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        fetch_company(&mut tx, ctx, id).await
    }

    async fn list_companies(
        &self,
        ctx: &TenantContext,
        filter: CompanyFilter,
        page: PageRequest,
    ) -> Result<Page<Company>> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        let mut sql = Sql::live(COMPANY_COLUMNS, "companies", ctx.org_id());
        sql.and(
            "lower(name)",
            "LIKE",
            filter.name.as_deref().map(contains_pattern),
        );
        if filter.name.is_some() {
            sql.push(" ESCAPE '\\'");
        }
        sql.and(
            "domain",
            "=",
            filter.domain.map(|d| d.trim().to_ascii_lowercase()),
        );
        and_range(&mut sql, "created_at", filter.created);
        sql.sorted_page("id", COMPANY_SORTS, &page, tx.is_postgres())?;
        let rows: Vec<CompanyRow> = tx.fetch_sql(sql).await?;
        Ok(Page::from_sorted_rows(
            rows.into_iter().map(Company::from).collect(),
            &page,
        ))
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn update_company(
        &self,
        ctx: &TenantContext,
        id: CompanyId,
        patch: CompanyPatch,
    ) -> Result<Company> {
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        let current = fetch_company(&mut tx, ctx, id).await?;
        let mut next = NewCompany::patched(&current, patch);
        next.validate()?;
        let updated = Company {
            name: next.name.trim().to_owned(),
            domain: next.domain,
            updated_at: now(),
            ..current.clone()
        };
        if unchanged(&updated, &current, |r| &mut r.updated_at) {
            return Ok(current);
        }
        tx.execute(
            "UPDATE companies SET name = $1, domain = $2, updated_at = $3 WHERE org_id = $4 AND id = $5",
            args![updated.name.as_str(), updated.domain.clone(), updated.updated_at, ctx.org_id(), id],
        )
        .await?;
        emit_and_commit(tx, ctx, types::COMPANY_UPDATED, id, &updated).await?;
        Ok(updated)
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn delete_company(&self, ctx: &TenantContext, id: CompanyId) -> Result<()> {
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        let company = fetch_company(&mut tx, ctx, id).await?;
        soft_delete(&mut tx, ctx, "companies", id.as_uuid()).await?;
        emit_and_commit(tx, ctx, types::COMPANY_DELETED, id, &company).await
    }
}
