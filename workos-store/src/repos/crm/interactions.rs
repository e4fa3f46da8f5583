//! Interactions: the timeline entries (notes, meetings, messages, calls, emails) of people, companies and deals.

use async_trait::async_trait;
use uuid::Uuid;
use workos_core::domain::{
    Interaction, InteractionFilter, InteractionPatch, NewInteraction, Timestamp,
};
use workos_core::events::types;
use workos_core::ids::{CallId, CompanyId, DealId, EmailId, InteractionId, OrgId, PersonId, SmsId};
use workos_core::page::{Page, PageRequest, SortField};
use workos_core::repo::InteractionRepo;
use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};

use super::{and_range, check_subject_refs, soft_delete};
use crate::SqlStore;
use crate::db::{SortExpr, Sql, Tx, args, now};
use crate::repos::fetch_sorted_page;
use crate::repos::{changed, corrupt, emit, emit_and_commit, unchanged};

/// An `interactions` row, in [`INTERACTION_COLUMNS`] order.
#[derive(sqlx::FromRow)]
pub(crate) struct InteractionRow {
    id: Uuid,
    org_id: Uuid,
    kind: String,
    occurred_at: Timestamp,
    summary: String,
    body: Option<String>,
    person_id: Option<Uuid>,
    company_id: Option<Uuid>,
    deal_id: Option<Uuid>,
    email_id: Option<Uuid>,
    sms_id: Option<Uuid>,
    call_id: Option<Uuid>,
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
            email_id: r.email_id.map(EmailId::from_uuid),
            sms_id: r.sms_id.map(SmsId::from_uuid),
            call_id: r.call_id.map(CallId::from_uuid),
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

pub(crate) const INTERACTION_COLUMNS: &str = "id, org_id, kind, occurred_at, summary, body, person_id, company_id, deal_id, \
     email_id, sms_id, call_id, created_at, updated_at";

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

/// A new interaction of the context's org from `n`, linked to no email, SMS or call.
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
        email_id: None,
        sms_id: None,
        call_id: None,
        created_at,
        updated_at: now(),
    }
}

async fn write_interaction(tx: &mut Tx, i: &Interaction, insert: bool) -> Result<()> {
    let sql = if insert {
        "INSERT INTO interactions (kind, occurred_at, summary, body, person_id, company_id, deal_id, updated_at, org_id, id, created_at, email_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    } else {
        "UPDATE interactions SET kind = $1, occurred_at = $2, summary = $3, body = $4, person_id = $5, company_id = $6,
         deal_id = $7, updated_at = $8 WHERE org_id = $9 AND id = $10 AND created_at = $11"
    };
    let mut values = args![
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
    ];
    if insert {
        // The link to an email is set once, when the entry is made; a patch never moves it.
        values.push(i.email_id.into());
    }
    tx.execute(sql, values).await?;
    Ok(())
}

/// Inserts an interaction (the timeline entry of `email` when given) and its
/// `interaction.created` event inside `tx`.
pub(crate) async fn insert_interaction(
    tx: &mut Tx,
    ctx: &TenantContext,
    new: NewInteraction,
    email: Option<EmailId>,
) -> Result<Interaction> {
    new.validate()?;
    check_subject_refs(tx, ctx, new.person_id, new.company_id, new.deal_id).await?;
    let mut interaction = interaction_from(InteractionId::new(), ctx, new, now());
    interaction.created_at = interaction.updated_at;
    interaction.email_id = email;
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

/// The keys of `sort` on interactions (`created_at` is id order); `workos_core::page::Sortable`
/// for `Interaction` computes the same keys.
const INTERACTION_SORTS: &[(SortField, SortExpr)] =
    &[(SortField::OccurredAt, SortExpr::Time("occurred_at"))];

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
        let interaction = insert_interaction(&mut tx, ctx, new, None).await?;
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
        let mut sql = Sql::live(INTERACTION_COLUMNS, "interactions", ctx.org_id());
        sql.and("kind", "=", filter.kind.map(|k| k.as_str()))
            .and("person_id", "=", filter.person_id)
            .and("company_id", "=", filter.company_id)
            .and("deal_id", "=", filter.deal_id);
        and_range(&mut sql, "occurred_at", filter.occurred);
        fetch_sorted_page::<InteractionRow, Interaction>(&mut tx, sql, INTERACTION_SORTS, &page)
            .await
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
        let updated = Interaction {
            email_id: current.email_id,
            sms_id: current.sms_id,
            call_id: current.call_id,
            ..interaction_from(id, ctx, next, current.created_at)
        };
        if unchanged(&updated, &current, |r| &mut r.updated_at) {
            return Ok(current);
        }
        write_interaction(&mut tx, &updated, false).await?;
        emit_and_commit(tx, ctx, types::INTERACTION_UPDATED, id, &updated).await?;
        Ok(updated)
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn delete_interaction(&self, ctx: &TenantContext, id: InteractionId) -> Result<()> {
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        let interaction = fetch_interaction(&mut tx, ctx, id).await?;
        soft_delete(&mut tx, ctx, "interactions", id.as_uuid()).await?;
        emit_and_commit(tx, ctx, types::INTERACTION_DELETED, id, &interaction).await
    }
}
