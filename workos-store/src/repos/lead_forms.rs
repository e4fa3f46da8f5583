//! Public lead forms ([`LeadFormRepo`]): the form rows, with their sealed secrets.

use async_trait::async_trait;
use sqlx::types::Json;
use uuid::Uuid;
use workos_core::domain::{
    LeadForm, LeadFormId, LeadFormPatch, NewLeadForm, Patch, Timestamp, new_public_form_id,
};
use workos_core::events::types;
use workos_core::ids::OrgId;
use workos_core::page::{Page, PageRequest};
use workos_core::repo::LeadFormRepo;
use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};

use super::leads::{for_update, json};
use super::{emit_and_commit, unchanged};
use crate::SqlStore;
use crate::db::{Sql, Tx, args, now};

#[derive(sqlx::FromRow)]
struct FormRow {
    id: Uuid,
    org_id: Uuid,
    public_id: String,
    name: String,
    vertical: Option<String>,
    honeypot_field: String,
    required_fields: Json<Vec<String>>,
    secret: Option<Vec<u8>>,
    active: bool,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl FormRow {
    fn split(self) -> (LeadForm, Option<Vec<u8>>) {
        let form = LeadForm {
            id: LeadFormId::from_uuid(self.id),
            org_id: OrgId::from_uuid(self.org_id),
            public_form_id: self.public_id,
            name: self.name,
            vertical: self.vertical,
            honeypot_field: self.honeypot_field,
            required_fields: self.required_fields.0,
            has_secret: self.secret.is_some(),
            active: self.active,
            created_at: self.created_at,
            updated_at: self.updated_at,
        };
        (form, self.secret)
    }
}

const FORM_COLUMNS: &str = "id, org_id, public_id, name, vertical, honeypot_field, required_fields, secret, \
     active, created_at, updated_at";

async fn fetch_form(
    tx: &mut Tx,
    ctx: &TenantContext,
    id: LeadFormId,
    lock: &str,
) -> Result<(LeadForm, Option<Vec<u8>>)> {
    let sql = format!(
        "SELECT {FORM_COLUMNS} FROM lead_forms WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL{lock}"
    );
    let row: Option<FormRow> = tx
        .fetch_optional(&sql, args![ctx.org_id(), id.as_uuid()])
        .await?;
    Ok(row
        .ok_or_else(|| Error::not_found(LeadFormId::KIND))?
        .split())
}

#[async_trait]
impl LeadFormRepo for SqlStore {
    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn create_lead_form(
        &self,
        ctx: &TenantContext,
        mut new: NewLeadForm,
        sealed_secret: Option<Vec<u8>>,
    ) -> Result<LeadForm> {
        new.validate()?;
        let mut tx = self.tenant_tx(ctx, Access::Manage).await?;
        let t = now();
        let form = LeadForm {
            id: LeadFormId::new(),
            org_id: ctx.org_id(),
            public_form_id: new_public_form_id(),
            name: new.name,
            vertical: new.vertical,
            honeypot_field: new.honeypot_field,
            required_fields: new.required_fields,
            has_secret: sealed_secret.is_some(),
            active: new.active,
            created_at: t,
            updated_at: t,
        };
        tx.execute(
            "INSERT INTO lead_forms (id, org_id, public_id, name, vertical, honeypot_field, required_fields,
             secret, active, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
            vec![
                form.id.as_uuid().into(),
                form.org_id.into(),
                form.public_form_id.as_str().into(),
                form.name.as_str().into(),
                form.vertical.clone().into(),
                form.honeypot_field.as_str().into(),
                json(&form.required_fields)?.into(),
                sealed_secret.into(),
                form.active.into(),
                t.into(),
            ],
        )
        .await?;
        super::claim_lookup(
            &mut tx,
            super::Lookup::PublicFormId,
            form.public_form_id.as_str(),
            form.org_id,
            form.id.as_uuid(),
        )
        .await?;
        emit_and_commit(tx, ctx, types::LEAD_FORM_CREATED, form.id, &form).await?;
        Ok(form)
    }

    async fn get_lead_form(&self, ctx: &TenantContext, id: LeadFormId) -> Result<LeadForm> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        Ok(fetch_form(&mut tx, ctx, id, "").await?.0)
    }

    async fn list_lead_forms(
        &self,
        ctx: &TenantContext,
        page: PageRequest,
    ) -> Result<Page<LeadForm>> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        let mut sql = Sql::new(&format!(
            "SELECT {FORM_COLUMNS} FROM lead_forms WHERE deleted_at IS NULL AND org_id = "
        ));
        sql.bind(ctx.org_id());
        sql.page("id", &page)?;
        let rows: Vec<FormRow> = tx.fetch_sql(sql).await?;
        let rows = rows.into_iter().map(|r| r.split().0).collect();
        Ok(Page::from_rows(rows, &page, |f: &LeadForm| f.id.as_uuid()))
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn update_lead_form(
        &self,
        ctx: &TenantContext,
        id: LeadFormId,
        patch: LeadFormPatch,
        secret: Patch<Vec<u8>>,
    ) -> Result<LeadForm> {
        let mut tx = self.tenant_tx(ctx, Access::Manage).await?;
        let (current, current_secret) = fetch_form(&mut tx, ctx, id, for_update(self)).await?;
        let mut next = NewLeadForm::patched(&current, patch);
        next.validate()?;
        let secret_changed = !secret.is_keep();
        let sealed = secret.apply(current_secret);
        let updated = LeadForm {
            name: next.name,
            vertical: next.vertical,
            honeypot_field: next.honeypot_field,
            required_fields: next.required_fields,
            has_secret: sealed.is_some(),
            active: next.active,
            updated_at: now(),
            ..current.clone()
        };
        if !secret_changed && unchanged(&updated, &current, |r| &mut r.updated_at) {
            return Ok(current);
        }
        tx.execute(
            "UPDATE lead_forms SET name = $1, vertical = $2, honeypot_field = $3, required_fields = $4,
             secret = $5, active = $6, updated_at = $7 WHERE org_id = $8 AND id = $9",
            vec![
                updated.name.as_str().into(),
                updated.vertical.clone().into(),
                updated.honeypot_field.as_str().into(),
                json(&updated.required_fields)?.into(),
                sealed.into(),
                updated.active.into(),
                updated.updated_at.into(),
                ctx.org_id().into(),
                id.as_uuid().into(),
            ],
        )
        .await?;
        emit_and_commit(tx, ctx, types::LEAD_FORM_UPDATED, id, &updated).await?;
        Ok(updated)
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn delete_lead_form(&self, ctx: &TenantContext, id: LeadFormId) -> Result<()> {
        let mut tx = self.tenant_tx(ctx, Access::Manage).await?;
        let (form, _) = fetch_form(&mut tx, ctx, id, for_update(self)).await?;
        tx.execute(
            "UPDATE lead_forms SET deleted_at = $1 WHERE org_id = $2 AND id = $3",
            args![now(), ctx.org_id(), id.as_uuid()],
        )
        .await?;
        emit_and_commit(tx, ctx, types::LEAD_FORM_DELETED, id, &form).await
    }

    async fn lead_form_by_public_id(
        &self,
        public_form_id: &str,
    ) -> Result<Option<(LeadForm, Option<Vec<u8>>)>> {
        if !workos_core::domain::is_public_form_id(public_form_id) {
            return Ok(None);
        }
        let mut tx = self.system_tx(false).await?;
        let Some(org) = super::org_of(&mut tx, super::Lookup::PublicFormId, public_form_id).await?
        else {
            return Ok(None);
        };
        let sql = format!(
            "SELECT {FORM_COLUMNS} FROM lead_forms WHERE org_id = $1 AND public_id = $2 AND deleted_at IS NULL"
        );
        let row: Option<FormRow> = tx.fetch_optional(&sql, args![org, public_form_id]).await?;
        Ok(row.map(FormRow::split))
    }
}
