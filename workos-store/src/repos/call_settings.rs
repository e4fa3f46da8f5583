//! The org's call settings (recording, voicemail transcription), the phone each member takes
//! calls on, and the ringing of each of the org's numbers. Every change emits its event in its
//! transaction.

use async_trait::async_trait;
use serde::Serialize;
use sqlx::types::Json;
use uuid::Uuid;
use workos_core::domain::{CallSettings, E164, RingSettings, RingStrategy, RingTargets};
use workos_core::events::types;
use workos_core::ids::{MemberId, PhoneId};
use workos_core::repo::CallSettingsRepo;
use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};

use super::{corrupt, emit, emit_and_commit};
use crate::SqlStore;
use crate::db::{Sql, Tx, args, now};

/// The snapshot of `member_phone.updated`.
#[derive(Serialize)]
struct MemberPhoneChange<'a> {
    member_id: MemberId,
    phone: Option<&'a E164>,
}

/// The snapshot of `phone_ringing.updated`.
#[derive(Serialize)]
struct RingingChange<'a> {
    phone_id: PhoneId,
    #[serde(flatten)]
    settings: &'a RingSettings,
}

#[derive(sqlx::FromRow)]
struct RingRow {
    strategy: String,
    timeout_seconds: i32,
    members: Json<Vec<Uuid>>,
}

impl TryFrom<RingRow> for RingSettings {
    type Error = Error;

    fn try_from(r: RingRow) -> Result<Self> {
        Ok(Self {
            members: r.members.0.into_iter().map(MemberId::from_uuid).collect(),
            strategy: RingStrategy::parse(&r.strategy).map_err(|e| corrupt("ring strategy", e))?,
            timeout_seconds: u32::try_from(r.timeout_seconds)
                .map_err(|e| corrupt("ring timeout", e))?,
        })
    }
}

/// `NotFound` (`phone`) unless `phone` is one of the org's numbers.
async fn ensure_phone(tx: &mut Tx, ctx: &TenantContext, phone: PhoneId) -> Result<()> {
    let found: Option<(i32,)> = tx
        .fetch_optional(
            "SELECT 1 FROM phones WHERE org_id = $1 AND id = $2",
            args![ctx.org_id(), phone],
        )
        .await?;
    found
        .map(|_| ())
        .ok_or_else(|| Error::not_found(PhoneId::KIND))
}

async fn ring_settings(tx: &mut Tx, ctx: &TenantContext, phone: PhoneId) -> Result<RingSettings> {
    let row: Option<RingRow> = tx
        .fetch_optional(
            "SELECT strategy, timeout_seconds, members FROM phone_ringing
             WHERE org_id = $1 AND phone_id = $2",
            args![ctx.org_id(), phone],
        )
        .await?;
    row.map_or_else(|| Ok(RingSettings::default()), RingSettings::try_from)
}

/// `sql` narrowed to `column IN (members)`.
fn among(sql: &mut Sql, column: &str, members: &[MemberId]) {
    sql.push(&format!(" AND {column} IN ("));
    for (i, m) in members.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind(*m);
    }
    sql.push(")");
}

async fn phone_of(tx: &mut Tx, ctx: &TenantContext, id: MemberId) -> Result<Option<E164>> {
    let row: Option<(String,)> = tx
        .fetch_optional(
            "SELECT p.number FROM member_phones p
             JOIN org_members m ON m.org_id = p.org_id AND m.id = p.member_id
             WHERE p.org_id = $1 AND p.member_id = $2",
            args![ctx.org_id(), id],
        )
        .await?;
    row.map(|(n,)| E164::parse(&n).map_err(|e| corrupt("member phone", e)))
        .transpose()
}

#[async_trait]
impl CallSettingsRepo for SqlStore {
    async fn call_settings(&self, ctx: &TenantContext) -> Result<CallSettings> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        let row: Option<(bool, bool)> = tx
            .fetch_optional(
                "SELECT record_calls, transcribe_voicemail FROM comms_settings WHERE org_id = $1",
                args![ctx.org_id()],
            )
            .await?;
        let (record_calls, transcribe_voicemail) = row.unwrap_or_default();
        Ok(CallSettings {
            record_calls,
            transcribe_voicemail,
        })
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn set_call_settings(
        &self,
        ctx: &TenantContext,
        settings: CallSettings,
    ) -> Result<CallSettings> {
        let mut tx = self.tenant_tx(ctx, Access::Manage).await?;
        tx.execute(
            "INSERT INTO comms_settings (org_id, record_calls, transcribe_voicemail, updated_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (org_id) DO UPDATE SET record_calls = excluded.record_calls,
                 transcribe_voicemail = excluded.transcribe_voicemail,
                 updated_at = excluded.updated_at",
            args![
                ctx.org_id(),
                settings.record_calls,
                settings.transcribe_voicemail,
                now()
            ],
        )
        .await?;
        let org = ctx.org_id();
        emit(
            &mut tx,
            ctx,
            types::CALL_SETTINGS_UPDATED,
            "call_settings",
            org.as_uuid(),
            &settings,
        )
        .await?;
        tx.commit().await?;
        Ok(settings)
    }

    async fn member_phone(&self, ctx: &TenantContext, id: MemberId) -> Result<Option<E164>> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        phone_of(&mut tx, ctx, id).await
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn set_member_phone(
        &self,
        ctx: &TenantContext,
        id: MemberId,
        phone: Option<E164>,
    ) -> Result<Option<E164>> {
        let mut tx = self.tenant_tx(ctx, Access::Manage).await?;
        let member: Option<(Uuid,)> = tx
            .fetch_optional(
                "SELECT id FROM org_members WHERE org_id = $1 AND id = $2",
                args![ctx.org_id(), id],
            )
            .await?;
        if member.is_none() {
            return Err(Error::not_found(MemberId::KIND));
        }
        if phone_of(&mut tx, ctx, id).await? == phone {
            return Ok(phone);
        }
        match &phone {
            Some(n) => {
                tx.execute(
                    "INSERT INTO member_phones (org_id, member_id, number, updated_at)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (org_id, member_id) DO UPDATE SET number = excluded.number,
                         updated_at = excluded.updated_at",
                    args![ctx.org_id(), id, n.as_ref(), now()],
                )
                .await?;
            }
            None => {
                tx.execute(
                    "DELETE FROM member_phones WHERE org_id = $1 AND member_id = $2",
                    args![ctx.org_id(), id],
                )
                .await?;
            }
        }
        let change = MemberPhoneChange {
            member_id: id,
            phone: phone.as_ref(),
        };
        emit_and_commit(tx, ctx, types::MEMBER_PHONE_UPDATED, id, &change).await?;
        Ok(phone)
    }

    async fn ringing(&self, ctx: &TenantContext, phone: PhoneId) -> Result<RingSettings> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        ensure_phone(&mut tx, ctx, phone).await?;
        ring_settings(&mut tx, ctx, phone).await
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn set_ringing(
        &self,
        ctx: &TenantContext,
        phone: PhoneId,
        settings: RingSettings,
    ) -> Result<RingSettings> {
        settings.validate()?;
        let mut tx = self.tenant_tx(ctx, Access::Manage).await?;
        ensure_phone(&mut tx, ctx, phone).await?;
        if !settings.members.is_empty() {
            let mut sql = Sql::tenant("SELECT id FROM org_members", "org_id", ctx.org_id());
            among(&mut sql, "id", &settings.members);
            let found: Vec<(Uuid,)> = tx.fetch_sql(sql).await?;
            if let Some(missing) = settings
                .members
                .iter()
                .find(|m| !found.iter().any(|(f,)| *f == m.as_uuid()))
            {
                return Err(Error::invalid(
                    "members",
                    format!("{missing} is not a member of the org"),
                ));
            }
        }
        let members: Vec<Uuid> = settings.members.iter().map(|m| m.as_uuid()).collect();
        let members = serde_json::to_value(members).map_err(|e| Error::internal("json", e))?;
        tx.execute(
            "INSERT INTO phone_ringing (org_id, phone_id, strategy, timeout_seconds, members, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (org_id, phone_id) DO UPDATE SET strategy = excluded.strategy,
                 timeout_seconds = excluded.timeout_seconds, members = excluded.members,
                 updated_at = excluded.updated_at",
            args![
                ctx.org_id(),
                phone,
                settings.strategy.as_str(),
                i64::from(settings.timeout_seconds),
                members,
                now()
            ],
        )
        .await?;
        let change = RingingChange {
            phone_id: phone,
            settings: &settings,
        };
        emit_and_commit(tx, ctx, types::PHONE_RINGING_UPDATED, phone, &change).await?;
        Ok(settings)
    }

    async fn ring_targets(
        &self,
        ctx: &TenantContext,
        phone: PhoneId,
    ) -> Result<Option<RingTargets>> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        if let Err(Error::NotFound { .. }) = ensure_phone(&mut tx, ctx, phone).await {
            return Ok(None);
        }
        let settings = ring_settings(&mut tx, ctx, phone).await?;
        let mut phones = Vec::new();
        if !settings.members.is_empty() {
            let mut sql = Sql::tenant(
                "SELECT p.member_id, p.number FROM member_phones p
                 JOIN org_members m ON m.org_id = p.org_id AND m.id = p.member_id",
                "p.org_id",
                ctx.org_id(),
            );
            among(&mut sql, "p.member_id", &settings.members);
            let rows: Vec<(Uuid, String)> = tx.fetch_sql(sql).await?;
            for m in &settings.members {
                if let Some((_, number)) = rows.iter().find(|(id, _)| *id == m.as_uuid()) {
                    let number = E164::parse(number).map_err(|e| corrupt("member phone", e))?;
                    phones.push((*m, number));
                }
            }
        }
        Ok(Some(RingTargets {
            phone_id: phone,
            settings,
            phones,
        }))
    }
}
