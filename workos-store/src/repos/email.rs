//! Emails: provider-idempotent records that resolve the person by address, add a timeline entry
//! and emit their event in one transaction. The accounts they come from are in `integrations.rs`.

use async_trait::async_trait;
use sqlx::types::Json;
use uuid::Uuid;
use workos_core::domain::{
    Direction, Email, EmailAddress, EmailFilter, IntegrationStatus, InteractionKind,
    MAX_EMAIL_LABELS, NewEmail, NewInteraction, NewPerson, Timestamp, mailbox_address,
    normalize_labels, to_storage_precision,
};
use workos_core::events::types;
use workos_core::ids::{EmailId, IntegrationId, InteractionId, OrgId, PersonId};
use workos_core::page::{Page, PageRequest};
use workos_core::repo::{EmailRepo, Recorded};
use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};

use super::comms::live_messages;
use super::integrations::{disconnected, fetch_integration};
use super::person::{find_by_contact, insert_person};
use super::{corrupt, emit_and_commit, ensure_ref};
use crate::SqlStore;
use crate::db::{Tx, args, now};
use crate::repos::fetch_page;

/// Interaction summaries hold at most this many characters.
const MAX_SUMMARY_CHARS: usize = 500;

#[derive(sqlx::FromRow)]
pub(crate) struct EmailRow {
    id: Uuid,
    org_id: Uuid,
    integration_id: Uuid,
    provider_id: String,
    thread_id: Option<String>,
    message_id: Option<String>,
    direction: String,
    from_address: String,
    to_addresses: Json<Vec<String>>,
    cc_addresses: Json<Vec<String>>,
    subject: Option<String>,
    snippet: Option<String>,
    headers: Json<serde_json::Value>,
    labels: Json<Vec<String>>,
    person_id: Option<Uuid>,
    interaction_id: Option<Uuid>,
    occurred_at: Timestamp,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl TryFrom<EmailRow> for Email {
    type Error = Error;

    fn try_from(r: EmailRow) -> Result<Self> {
        Ok(Self {
            id: EmailId::from_uuid(r.id),
            org_id: OrgId::from_uuid(r.org_id),
            integration_id: IntegrationId::from_uuid(r.integration_id),
            provider_id: r.provider_id,
            thread_id: r.thread_id,
            message_id: r.message_id,
            direction: Direction::parse(&r.direction).map_err(|e| corrupt("direction", e))?,
            from: r.from_address,
            to: r.to_addresses.0,
            cc: r.cc_addresses.0,
            subject: r.subject,
            snippet: r.snippet,
            headers: r.headers.0,
            labels: r.labels.0,
            person_id: r.person_id.map(PersonId::from_uuid),
            interaction_id: r.interaction_id.map(InteractionId::from_uuid),
            occurred_at: r.occurred_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

pub(crate) const EMAIL_COLUMNS: &str = "e.id, e.org_id, e.integration_id, e.provider_id, e.thread_id, e.message_id, e.direction, \
     e.from_address, e.to_addresses, e.cc_addresses, e.subject, e.snippet, e.headers, e.labels, e.person_id, \
     (SELECT i.id FROM interactions i WHERE i.org_id = e.org_id AND i.email_id = e.id ORDER BY i.id LIMIT 1) \
     AS interaction_id, e.occurred_at, e.created_at, e.updated_at";

/// The live email of the org matching `condition` (over `e`, with its arguments from `$2`).
async fn email_where(
    tx: &mut Tx,
    ctx: &TenantContext,
    condition: &str,
    mut values: Vec<crate::db::Arg>,
) -> Result<Option<Email>> {
    let sql = format!(
        "SELECT {EMAIL_COLUMNS} FROM emails e WHERE e.org_id = $1 AND {condition} AND e.deleted_at IS NULL"
    );
    values.insert(0, ctx.org_id().into());
    let row: Option<EmailRow> = tx.fetch_optional(&sql, values).await?;
    row.map(Email::try_from).transpose()
}

/// The person holding `address`, or a new one with it when `create` says so.
async fn person_for_address(
    tx: &mut Tx,
    ctx: &TenantContext,
    address: &EmailAddress,
    create: bool,
) -> Result<Option<PersonId>> {
    if let Some(id) = find_by_contact(tx, ctx, "email", address.as_ref()).await? {
        return Ok(Some(id));
    }
    if !create {
        return Ok(None);
    }
    let new = NewPerson {
        email: Some(address.clone()),
        ..NewPerson::default()
    };
    match insert_person(tx, ctx, new).await {
        Ok(person) => Ok(Some(person.id)),
        // Another transaction created a person with this address first: use theirs.
        Err(Error::Conflict { .. }) => find_by_contact(tx, ctx, "email", address.as_ref()).await,
        Err(e) => Err(e),
    }
}

fn email_summary(subject: Option<&str>) -> String {
    let subject = subject.map(str::trim).unwrap_or_default();
    if subject.is_empty() {
        "(no subject)".to_owned()
    } else {
        subject.chars().take(MAX_SUMMARY_CHARS).collect()
    }
}

#[async_trait]
impl EmailRepo for SqlStore {
    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id(), integration_id = %new.integration_id, provider_id = %new.provider_id))]
    async fn record_email(&self, ctx: &TenantContext, new: NewEmail) -> Result<Recorded<Email>> {
        new.validate()?;
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        // Another org's integration reads as absent (and never reaches the foreign key).
        let integration = fetch_integration(&mut tx, ctx, new.integration_id).await?;
        let t = now();
        let id = EmailId::new();
        let occurred_at = to_storage_precision(new.occurred_at);
        // Insert first: a retry (same provider id) stops here, before anything else.
        let inserted = tx
            .execute(
                "INSERT INTO emails (id, org_id, integration_id, provider_id, thread_id, message_id, direction,
                 from_address, to_addresses, cc_addresses, subject, snippet, headers, occurred_at, created_at,
                 updated_at, labels) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16)
                 ON CONFLICT DO NOTHING",
                args![
                    id,
                    ctx.org_id(),
                    new.integration_id,
                    new.provider_id.as_str(),
                    new.thread_id.clone(),
                    new.message_id.clone(),
                    new.direction.as_str(),
                    new.from.as_str(),
                    serde_json::Value::from(new.to.clone()),
                    serde_json::Value::from(new.cc.clone()),
                    new.subject.clone(),
                    new.snippet.clone(),
                    new.headers.clone(),
                    occurred_at,
                    t,
                    serde_json::Value::from(normalize_labels(new.labels.iter().cloned())),
                ],
            )
            .await?;
        if inserted == 0 {
            let existing = email_where(
                &mut tx,
                ctx,
                "e.integration_id = $2 AND e.provider_id = $3",
                args![new.integration_id, new.provider_id.as_str()],
            )
            .await?;
            return existing
                .map(|record| Recorded {
                    record,
                    created: false,
                })
                .ok_or_else(|| {
                    Error::internal(
                        "email conflict without a row",
                        std::io::Error::other("conflict"),
                    )
                });
        }
        if integration.status == IntegrationStatus::Disconnected {
            // Dropping the transaction rolls the insert back.
            return Err(disconnected());
        }
        let person_id = if let Some(known) = new.person_id {
            ensure_ref(&mut tx, ctx, "people", "person_id", Some(known.as_uuid())).await?;
            Some(known)
        } else if let Some(address) = new.counterpart().and_then(mailbox_address) {
            // Never make a contact of the connected mailbox itself (mail to oneself).
            let create = new.create_person && address.as_ref() != integration.account;
            person_for_address(&mut tx, ctx, &address, create).await?
        } else {
            None
        };
        if person_id.is_some() {
            tx.execute(
                "UPDATE emails SET person_id = $1 WHERE org_id = $2 AND id = $3",
                args![person_id, ctx.org_id(), id],
            )
            .await?;
        }
        super::crm::insert_interaction(
            &mut tx,
            ctx,
            NewInteraction {
                kind: InteractionKind::Email,
                occurred_at,
                summary: email_summary(new.subject.as_deref()),
                body: new.snippet.clone().filter(|s| !s.trim().is_empty()),
                person_id,
                company_id: None,
                deal_id: None,
            },
            Some(id),
        )
        .await?;
        let email = email_where(&mut tx, ctx, "e.id = $2", args![id])
            .await?
            .ok_or_else(|| Error::not_found(EmailId::KIND))?;
        let event_type = match new.direction {
            Direction::Inbound => types::EMAIL_RECEIVED,
            Direction::Outbound => types::EMAIL_SENT,
        };
        emit_and_commit(tx, ctx, event_type, id, &email).await?;
        Ok(Recorded {
            record: email,
            created: true,
        })
    }

    async fn get_email(&self, ctx: &TenantContext, id: EmailId) -> Result<Email> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        email_where(&mut tx, ctx, "e.id = $2", args![id])
            .await?
            .ok_or_else(|| Error::not_found(EmailId::KIND))
    }

    async fn list_emails(
        &self,
        ctx: &TenantContext,
        filter: EmailFilter,
        page: PageRequest,
    ) -> Result<Page<Email>> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        let mut sql = live_messages!(
            EMAIL_COLUMNS,
            "emails" "e",
            ctx.org_id(),
            filter.person_id,
            filter.direction,
            filter.occurred
        );
        sql.and("e.thread_id", "=", filter.thread_id)
            .and("e.integration_id", "=", filter.integration_id)
            .page("e.id", &page)?;
        fetch_page::<EmailRow, Email>(&mut tx, sql, &page, |e| e.id.as_uuid()).await
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id(), integration_id = %integration_id))]
    async fn update_email_labels(
        &self,
        ctx: &TenantContext,
        integration_id: IntegrationId,
        provider_id: &str,
        added: &[String],
        removed: &[String],
    ) -> Result<Option<Email>> {
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        fetch_integration(&mut tx, ctx, integration_id).await?;
        // Locks the row (Postgres) so two syncs' label changes never overwrite each other.
        let locked = tx
            .execute(
                "UPDATE emails SET updated_at = updated_at
                 WHERE org_id = $1 AND integration_id = $2 AND provider_id = $3 AND deleted_at IS NULL",
                args![ctx.org_id(), integration_id, provider_id],
            )
            .await?;
        if locked == 0 {
            return Ok(None);
        }
        let Some(current) = email_where(
            &mut tx,
            ctx,
            "e.integration_id = $2 AND e.provider_id = $3",
            args![integration_id, provider_id],
        )
        .await?
        else {
            return Ok(None);
        };
        let labels = normalize_labels(
            current
                .labels
                .iter()
                .chain(added)
                .filter(|l| !removed.contains(l))
                .cloned(),
        );
        if labels == current.labels {
            return Ok(Some(current));
        }
        let mut v = workos_core::error::Validator::new();
        v.require(
            labels.len() <= MAX_EMAIL_LABELS,
            "labels",
            "at most 100 labels",
        );
        v.require(
            labels
                .iter()
                .all(|l| !l.is_empty() && l.chars().count() <= 255),
            "labels",
            "each label is 1-255 characters",
        );
        v.finish()?;
        let updated = Email {
            labels,
            updated_at: now(),
            ..current
        };
        tx.execute(
            "UPDATE emails SET labels = $1, updated_at = $2 WHERE org_id = $3 AND id = $4",
            args![
                serde_json::Value::from(updated.labels.clone()),
                updated.updated_at,
                ctx.org_id(),
                updated.id,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(Some(updated))
    }

    async fn email_counts(
        &self,
        ctx: &TenantContext,
        integration_id: IntegrationId,
    ) -> Result<(u64, u64)> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        let found: Option<(i32,)> = tx
            .fetch_optional(
                "SELECT 1 FROM integrations WHERE org_id = $1 AND id = $2",
                args![ctx.org_id(), integration_id],
            )
            .await?;
        if found.is_none() {
            return Err(Error::not_found(IntegrationId::KIND));
        }
        let rows: Vec<(String, i64)> = tx
            .fetch_all(
                "SELECT direction, COUNT(*) FROM emails
                 WHERE org_id = $1 AND integration_id = $2 AND deleted_at IS NULL GROUP BY direction",
                args![ctx.org_id(), integration_id],
            )
            .await?;
        let (mut inbound, mut outbound) = (0, 0);
        for (direction, n) in rows {
            let n = u64::try_from(n).unwrap_or(0);
            match Direction::parse(&direction).map_err(|e| corrupt("direction", e))? {
                Direction::Inbound => inbound = n,
                Direction::Outbound => outbound = n,
            }
        }
        Ok((inbound, outbound))
    }
}
