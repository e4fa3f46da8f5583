//! Companies, deals, tasks and interactions. People live in `person.rs` (their contact
//! uniqueness needs more care).

use async_trait::async_trait;
use uuid::Uuid;
use workos_core::domain::{
    Company, CompanyFilter, CompanyPatch, Currency, Deal, DealFilter, DealPatch, Interaction,
    InteractionFilter, InteractionPatch, Money, NewCompany, NewDeal, NewInteraction, NewTask, Task,
    TaskFilter, TaskPatch, TimeRange, Timestamp,
};
use workos_core::events::types;
use workos_core::ids::{CompanyId, DealId, InteractionId, OrgId, PersonId, TaskId, UserId};
use workos_core::page::{Page, PageRequest};
use workos_core::repo::{CompanyRepo, DealRepo, InteractionRepo, TaskRepo};
use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};

use super::{changed, corrupt, emit, ensure_ref};
use crate::SqlStore;
use crate::db::{Sql, Tx, args, contains_pattern, now};

/// Appends a time-range condition on `column`.
pub(crate) fn and_range(sql: &mut Sql, column: &str, range: TimeRange) {
    sql.and(column, ">=", range.after)
        .and(column, "<", range.before);
}

/// Soft-deletes a row of `table` in the context's org; returns whether a live row was found.
async fn soft_delete(
    tx: &mut Tx,
    ctx: &TenantContext,
    table: &'static str,
    id: Uuid,
) -> Result<bool> {
    let sql = format!(
        "UPDATE {table} SET deleted_at = $1 WHERE org_id = $2 AND id = $3 AND deleted_at IS NULL"
    );
    Ok(tx.execute(&sql, args![now(), ctx.org_id(), id]).await? == 1)
}

// ---------------------------------------------------------------------------------------------
// Companies

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
        emit(
            &mut tx,
            ctx,
            types::COMPANY_CREATED,
            CompanyId::KIND,
            company.id.as_uuid(),
            &company,
        )
        .await?;
        tx.commit().await?;
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
        let mut sql = Sql::new(&format!(
            "SELECT {COMPANY_COLUMNS} FROM companies WHERE deleted_at IS NULL AND org_id = "
        ));
        sql.bind(ctx.org_id());
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
        sql.page("id", page);
        let rows: Vec<CompanyRow> = tx.fetch_sql(sql).await?;
        Ok(Page::from_rows(
            rows.into_iter().map(Company::from).collect(),
            page,
            |c| c.id.as_uuid(),
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
        if (Company {
            updated_at: current.updated_at,
            ..updated.clone()
        }) == current
        {
            return Ok(current);
        }
        tx.execute(
            "UPDATE companies SET name = $1, domain = $2, updated_at = $3 WHERE org_id = $4 AND id = $5",
            args![updated.name.as_str(), updated.domain.clone(), updated.updated_at, ctx.org_id(), id],
        )
        .await?;
        emit(
            &mut tx,
            ctx,
            types::COMPANY_UPDATED,
            CompanyId::KIND,
            id.as_uuid(),
            &updated,
        )
        .await?;
        tx.commit().await?;
        Ok(updated)
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn delete_company(&self, ctx: &TenantContext, id: CompanyId) -> Result<()> {
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        let company = fetch_company(&mut tx, ctx, id).await?;
        soft_delete(&mut tx, ctx, "companies", id.as_uuid()).await?;
        emit(
            &mut tx,
            ctx,
            types::COMPANY_DELETED,
            CompanyId::KIND,
            id.as_uuid(),
            &company,
        )
        .await?;
        tx.commit().await
    }
}

// ---------------------------------------------------------------------------------------------
// Deals

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
        emit(
            &mut tx,
            ctx,
            types::DEAL_CREATED,
            DealId::KIND,
            deal.id.as_uuid(),
            &deal,
        )
        .await?;
        tx.commit().await?;
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
        let mut sql = Sql::new(&format!(
            "SELECT {DEAL_COLUMNS} FROM deals WHERE deleted_at IS NULL AND org_id = "
        ));
        sql.bind(ctx.org_id())
            .and("stage", "=", filter.stage.map(|s| s.as_str()))
            .and("owner_id", "=", filter.owner_id)
            .and("company_id", "=", filter.company_id)
            .and("person_id", "=", filter.person_id);
        and_range(&mut sql, "created_at", filter.created);
        sql.page("id", page);
        let rows: Vec<DealRow> = tx.fetch_sql(sql).await?;
        let rows = rows
            .into_iter()
            .map(Deal::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(rows, page, |d| d.id.as_uuid()))
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
        if (Deal {
            updated_at: current.updated_at,
            ..updated.clone()
        }) == current
        {
            return Ok(current);
        }
        write_deal(&mut tx, &updated, false).await?;
        emit(
            &mut tx,
            ctx,
            types::DEAL_UPDATED,
            DealId::KIND,
            id.as_uuid(),
            &updated,
        )
        .await?;
        tx.commit().await?;
        Ok(updated)
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn delete_deal(&self, ctx: &TenantContext, id: DealId) -> Result<()> {
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        let deal = fetch_deal(&mut tx, ctx, id).await?;
        soft_delete(&mut tx, ctx, "deals", id.as_uuid()).await?;
        emit(
            &mut tx,
            ctx,
            types::DEAL_DELETED,
            DealId::KIND,
            id.as_uuid(),
            &deal,
        )
        .await?;
        tx.commit().await
    }
}

// ---------------------------------------------------------------------------------------------
// Tasks

#[derive(sqlx::FromRow)]
struct TaskRow {
    id: Uuid,
    org_id: Uuid,
    title: String,
    status: String,
    priority: String,
    due_at: Option<Timestamp>,
    assignee_id: Option<Uuid>,
    person_id: Option<Uuid>,
    company_id: Option<Uuid>,
    deal_id: Option<Uuid>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl TryFrom<TaskRow> for Task {
    type Error = Error;

    fn try_from(r: TaskRow) -> Result<Self> {
        Ok(Self {
            id: TaskId::from_uuid(r.id),
            org_id: OrgId::from_uuid(r.org_id),
            title: r.title,
            status: r.status.parse().map_err(|e| corrupt("status", e))?,
            priority: r.priority.parse().map_err(|e| corrupt("priority", e))?,
            due_at: r.due_at,
            assignee_id: r.assignee_id.map(UserId::from_uuid),
            person_id: r.person_id.map(PersonId::from_uuid),
            company_id: r.company_id.map(CompanyId::from_uuid),
            deal_id: r.deal_id.map(DealId::from_uuid),
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const TASK_COLUMNS: &str = "id, org_id, title, status, priority, due_at, assignee_id, person_id, company_id, deal_id, created_at, updated_at";

async fn fetch_task(tx: &mut Tx, ctx: &TenantContext, id: TaskId) -> Result<Task> {
    let sql = format!(
        "SELECT {TASK_COLUMNS} FROM tasks WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL"
    );
    let row: Option<TaskRow> = tx.fetch_optional(&sql, args![ctx.org_id(), id]).await?;
    row.ok_or_else(|| Error::not_found(TaskId::KIND))?
        .try_into()
}

async fn check_subject_refs(
    tx: &mut Tx,
    ctx: &TenantContext,
    person: Option<PersonId>,
    company: Option<CompanyId>,
    deal: Option<DealId>,
) -> Result<()> {
    ensure_ref(tx, ctx, "people", "person_id", person.map(|i| i.as_uuid())).await?;
    ensure_ref(
        tx,
        ctx,
        "companies",
        "company_id",
        company.map(|i| i.as_uuid()),
    )
    .await?;
    ensure_ref(tx, ctx, "deals", "deal_id", deal.map(|i| i.as_uuid())).await
}

fn task_from(id: TaskId, ctx: &TenantContext, n: NewTask, created_at: Timestamp) -> Task {
    Task {
        id,
        org_id: ctx.org_id(),
        title: n.title.trim().to_owned(),
        status: n.status,
        priority: n.priority,
        due_at: n.due_at.map(workos_core::domain::to_storage_precision),
        assignee_id: n.assignee_id,
        person_id: n.person_id,
        company_id: n.company_id,
        deal_id: n.deal_id,
        created_at,
        updated_at: now(),
    }
}

async fn write_task(tx: &mut Tx, task: &Task, insert: bool) -> Result<()> {
    let sql = if insert {
        "INSERT INTO tasks (title, status, priority, due_at, assignee_id, person_id, company_id, deal_id, updated_at, org_id, id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    } else {
        "UPDATE tasks SET title = $1, status = $2, priority = $3, due_at = $4, assignee_id = $5, person_id = $6,
         company_id = $7, deal_id = $8, updated_at = $9 WHERE org_id = $10 AND id = $11 AND created_at = $12"
    };
    tx.execute(
        sql,
        args![
            task.title.as_str(),
            task.status.as_str(),
            task.priority.as_str(),
            task.due_at,
            task.assignee_id,
            task.person_id,
            task.company_id,
            task.deal_id,
            task.updated_at,
            task.org_id,
            task.id,
            task.created_at,
        ],
    )
    .await?;
    Ok(())
}

#[async_trait]
impl TaskRepo for SqlStore {
    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn create_task(&self, ctx: &TenantContext, new: NewTask) -> Result<Task> {
        new.validate()?;
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        check_subject_refs(&mut tx, ctx, new.person_id, new.company_id, new.deal_id).await?;
        let mut task = task_from(TaskId::new(), ctx, new, now());
        task.created_at = task.updated_at;
        write_task(&mut tx, &task, true).await?;
        emit(
            &mut tx,
            ctx,
            types::TASK_CREATED,
            TaskId::KIND,
            task.id.as_uuid(),
            &task,
        )
        .await?;
        tx.commit().await?;
        Ok(task)
    }

    async fn get_task(&self, ctx: &TenantContext, id: TaskId) -> Result<Task> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        fetch_task(&mut tx, ctx, id).await
    }

    async fn list_tasks(
        &self,
        ctx: &TenantContext,
        filter: TaskFilter,
        page: PageRequest,
    ) -> Result<Page<Task>> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        let mut sql = Sql::new(&format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE deleted_at IS NULL AND org_id = "
        ));
        sql.bind(ctx.org_id())
            .and("status", "=", filter.status.map(|s| s.as_str()))
            .and("assignee_id", "=", filter.assignee_id)
            .and("due_at", "<", filter.due_before)
            .and("person_id", "=", filter.person_id)
            .and("company_id", "=", filter.company_id)
            .and("deal_id", "=", filter.deal_id);
        sql.page("id", page);
        let rows: Vec<TaskRow> = tx.fetch_sql(sql).await?;
        let rows = rows
            .into_iter()
            .map(Task::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(rows, page, |t| t.id.as_uuid()))
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn update_task(&self, ctx: &TenantContext, id: TaskId, patch: TaskPatch) -> Result<Task> {
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        let current = fetch_task(&mut tx, ctx, id).await?;
        let next = NewTask::patched(&current, patch);
        next.validate()?;
        check_subject_refs(
            &mut tx,
            ctx,
            changed(next.person_id, current.person_id),
            changed(next.company_id, current.company_id),
            changed(next.deal_id, current.deal_id),
        )
        .await?;
        let updated = task_from(id, ctx, next, current.created_at);
        if (Task {
            updated_at: current.updated_at,
            ..updated.clone()
        }) == current
        {
            return Ok(current);
        }
        write_task(&mut tx, &updated, false).await?;
        emit(
            &mut tx,
            ctx,
            types::TASK_UPDATED,
            TaskId::KIND,
            id.as_uuid(),
            &updated,
        )
        .await?;
        tx.commit().await?;
        Ok(updated)
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn delete_task(&self, ctx: &TenantContext, id: TaskId) -> Result<()> {
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        let task = fetch_task(&mut tx, ctx, id).await?;
        soft_delete(&mut tx, ctx, "tasks", id.as_uuid()).await?;
        emit(
            &mut tx,
            ctx,
            types::TASK_DELETED,
            TaskId::KIND,
            id.as_uuid(),
            &task,
        )
        .await?;
        tx.commit().await
    }
}

// ---------------------------------------------------------------------------------------------
// Interactions

#[derive(sqlx::FromRow)]
struct InteractionRow {
    id: Uuid,
    org_id: Uuid,
    kind: String,
    occurred_at: Timestamp,
    summary: String,
    body: Option<String>,
    person_id: Option<Uuid>,
    company_id: Option<Uuid>,
    deal_id: Option<Uuid>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl TryFrom<InteractionRow> for Interaction {
    type Error = Error;

    fn try_from(r: InteractionRow) -> Result<Self> {
        Ok(Self {
            id: InteractionId::from_uuid(r.id),
            org_id: OrgId::from_uuid(r.org_id),
            kind: r.kind.parse().map_err(|e| corrupt("kind", e))?,
            occurred_at: r.occurred_at,
            summary: r.summary,
            body: r.body,
            person_id: r.person_id.map(PersonId::from_uuid),
            company_id: r.company_id.map(CompanyId::from_uuid),
            deal_id: r.deal_id.map(DealId::from_uuid),
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const INTERACTION_COLUMNS: &str = "id, org_id, kind, occurred_at, summary, body, person_id, company_id, deal_id, created_at, updated_at";

async fn fetch_interaction(
    tx: &mut Tx,
    ctx: &TenantContext,
    id: InteractionId,
) -> Result<Interaction> {
    let sql = format!(
        "SELECT {INTERACTION_COLUMNS} FROM interactions WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL"
    );
    let row: Option<InteractionRow> = tx.fetch_optional(&sql, args![ctx.org_id(), id]).await?;
    row.ok_or_else(|| Error::not_found(InteractionId::KIND))?
        .try_into()
}

pub(crate) fn interaction_from(
    id: InteractionId,
    ctx: &TenantContext,
    n: NewInteraction,
    created_at: Timestamp,
) -> Interaction {
    Interaction {
        id,
        org_id: ctx.org_id(),
        kind: n.kind,
        occurred_at: workos_core::domain::to_storage_precision(n.occurred_at),
        summary: n.summary.trim().to_owned(),
        body: n.body,
        person_id: n.person_id,
        company_id: n.company_id,
        deal_id: n.deal_id,
        created_at,
        updated_at: now(),
    }
}

async fn write_interaction(tx: &mut Tx, i: &Interaction, insert: bool) -> Result<()> {
    let sql = if insert {
        "INSERT INTO interactions (kind, occurred_at, summary, body, person_id, company_id, deal_id, updated_at, org_id, id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    } else {
        "UPDATE interactions SET kind = $1, occurred_at = $2, summary = $3, body = $4, person_id = $5, company_id = $6,
         deal_id = $7, updated_at = $8 WHERE org_id = $9 AND id = $10 AND created_at = $11"
    };
    tx.execute(
        sql,
        args![
            i.kind.as_str(),
            i.occurred_at,
            i.summary.as_str(),
            i.body.clone(),
            i.person_id,
            i.company_id,
            i.deal_id,
            i.updated_at,
            i.org_id,
            i.id,
            i.created_at,
        ],
    )
    .await?;
    Ok(())
}

/// Inserts an interaction and its `interaction.created` event inside `tx` (channels use it for
/// the timeline entries of messages and calls).
pub(crate) async fn insert_interaction(
    tx: &mut Tx,
    ctx: &TenantContext,
    new: NewInteraction,
) -> Result<Interaction> {
    new.validate()?;
    check_subject_refs(tx, ctx, new.person_id, new.company_id, new.deal_id).await?;
    let mut interaction = interaction_from(InteractionId::new(), ctx, new, now());
    interaction.created_at = interaction.updated_at;
    write_interaction(tx, &interaction, true).await?;
    emit(
        tx,
        ctx,
        types::INTERACTION_CREATED,
        InteractionId::KIND,
        interaction.id.as_uuid(),
        &interaction,
    )
    .await?;
    Ok(interaction)
}

#[async_trait]
impl InteractionRepo for SqlStore {
    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn create_interaction(
        &self,
        ctx: &TenantContext,
        new: NewInteraction,
    ) -> Result<Interaction> {
        new.validate()?;
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        let interaction = insert_interaction(&mut tx, ctx, new).await?;
        tx.commit().await?;
        Ok(interaction)
    }

    async fn get_interaction(&self, ctx: &TenantContext, id: InteractionId) -> Result<Interaction> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        fetch_interaction(&mut tx, ctx, id).await
    }

    async fn list_interactions(
        &self,
        ctx: &TenantContext,
        filter: InteractionFilter,
        page: PageRequest,
    ) -> Result<Page<Interaction>> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        let mut sql = Sql::new(&format!(
            "SELECT {INTERACTION_COLUMNS} FROM interactions WHERE deleted_at IS NULL AND org_id = "
        ));
        sql.bind(ctx.org_id())
            .and("kind", "=", filter.kind.map(|k| k.as_str()))
            .and("person_id", "=", filter.person_id)
            .and("company_id", "=", filter.company_id)
            .and("deal_id", "=", filter.deal_id);
        and_range(&mut sql, "occurred_at", filter.occurred);
        sql.page("id", page);
        let rows: Vec<InteractionRow> = tx.fetch_sql(sql).await?;
        let rows = rows
            .into_iter()
            .map(Interaction::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(rows, page, |i| i.id.as_uuid()))
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn update_interaction(
        &self,
        ctx: &TenantContext,
        id: InteractionId,
        patch: InteractionPatch,
    ) -> Result<Interaction> {
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        let current = fetch_interaction(&mut tx, ctx, id).await?;
        let next = NewInteraction::patched(&current, patch);
        next.validate()?;
        check_subject_refs(
            &mut tx,
            ctx,
            changed(next.person_id, current.person_id),
            changed(next.company_id, current.company_id),
            changed(next.deal_id, current.deal_id),
        )
        .await?;
        let updated = interaction_from(id, ctx, next, current.created_at);
        if (Interaction {
            updated_at: current.updated_at,
            ..updated.clone()
        }) == current
        {
            return Ok(current);
        }
        write_interaction(&mut tx, &updated, false).await?;
        emit(
            &mut tx,
            ctx,
            types::INTERACTION_UPDATED,
            InteractionId::KIND,
            id.as_uuid(),
            &updated,
        )
        .await?;
        tx.commit().await?;
        Ok(updated)
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn delete_interaction(&self, ctx: &TenantContext, id: InteractionId) -> Result<()> {
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        let interaction = fetch_interaction(&mut tx, ctx, id).await?;
        soft_delete(&mut tx, ctx, "interactions", id.as_uuid()).await?;
        emit(
            &mut tx,
            ctx,
            types::INTERACTION_DELETED,
            InteractionId::KIND,
            id.as_uuid(),
            &interaction,
        )
        .await?;
        tx.commit().await
    }
}
