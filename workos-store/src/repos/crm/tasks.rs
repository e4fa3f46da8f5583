//! Tasks: to-dos with a status, a priority and a due time, about a person, a company or a deal.

use async_trait::async_trait;
use uuid::Uuid;
use workos_core::domain::{NewTask, Task, TaskFilter, TaskPatch, Timestamp};
use workos_core::events::types;
use workos_core::ids::{CompanyId, DealId, OrgId, PersonId, TaskId, UserId};
use workos_core::page::{Page, PageRequest, SortField};
use workos_core::repo::TaskRepo;
use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};

use super::{check_subject_refs, soft_delete};
use crate::SqlStore;
use crate::db::{SortExpr, Sql, Tx, args, now};
use crate::repos::fetch_sorted_page;
use crate::repos::{changed, corrupt, emit_and_commit, unchanged};

#[derive(sqlx::FromRow)]
pub(crate) struct TaskRow {
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

pub(crate) const TASK_COLUMNS: &str = "id, org_id, title, status, priority, due_at, assignee_id, person_id, company_id, deal_id, created_at, updated_at";

async fn fetch_task(tx: &mut Tx, ctx: &TenantContext, id: TaskId) -> Result<Task> {
    let sql = format!(
        "SELECT {TASK_COLUMNS} FROM tasks WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL"
    );
    let row: Option<TaskRow> = tx.fetch_optional(&sql, args![ctx.org_id(), id]).await?;
    row.ok_or_else(|| Error::not_found(TaskId::KIND))?
        .try_into()
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

/// The keys of `sort` on tasks (`created_at` is id order); `workos_core::page::Sortable`
/// for `Task` computes the same keys.
const TASK_SORTS: &[(SortField, SortExpr)] = &[
    (SortField::UpdatedAt, SortExpr::Time("updated_at")),
    (SortField::DueAt, SortExpr::NullableTime("due_at")),
];

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
        emit_and_commit(tx, ctx, types::TASK_CREATED, task.id, &task).await?;
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
        let mut sql = Sql::live(TASK_COLUMNS, "tasks", ctx.org_id());
        sql.and("status", "=", filter.status.map(|s| s.as_str()))
            .and("assignee_id", "=", filter.assignee_id)
            .and("due_at", "<", filter.due_before)
            .and("person_id", "=", filter.person_id)
            .and("company_id", "=", filter.company_id)
            .and("deal_id", "=", filter.deal_id);
        fetch_sorted_page::<TaskRow, Task>(&mut tx, sql, TASK_SORTS, &page).await
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
        if unchanged(&updated, &current, |r| &mut r.updated_at) {
            return Ok(current);
        }
        write_task(&mut tx, &updated, false).await?;
        emit_and_commit(tx, ctx, types::TASK_UPDATED, id, &updated).await?;
        Ok(updated)
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn delete_task(&self, ctx: &TenantContext, id: TaskId) -> Result<()> {
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        let task = fetch_task(&mut tx, ctx, id).await?;
        soft_delete(&mut tx, ctx, "tasks", id.as_uuid()).await?;
        emit_and_commit(tx, ctx, types::TASK_DELETED, id, &task).await
    }
}
