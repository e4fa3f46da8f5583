//! Orgs, members, API keys, phone numbers, and the cross-tenant directory lookups.

use async_trait::async_trait;
use chrono::Duration;
use sqlx::types::Json;
use uuid::Uuid;
use workos_core::domain::{
    ApiKey, ApiKeyCredentials, ApiKeyPatch, E164, MAX_API_KEYS_PER_ORG, Member, NewApiKey,
    NewMember, NewOrg, NewPhone, Org, Phone, PhoneCapabilities, PhonePatch, Timestamp,
};
use workos_core::events::types;
use workos_core::ids::{ApiKeyId, MemberId, OrgId, PhoneId, UserId};
use workos_core::page::{Page, PageRequest};
use workos_core::repo::{ApiKeyRepo, Directory, MemberRepo, OrgRepo, PhoneRepo};
use workos_core::tenant::{Access, Role, TenantContext};
use workos_core::{Error, Result};

use super::{corrupt, emit, emit_and_commit};
use crate::SqlStore;
use crate::db::{Sql, Tx, args, now};
use crate::repos::fetch_page;

#[derive(sqlx::FromRow)]
struct OrgRow {
    id: Uuid,
    name: String,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl From<OrgRow> for Org {
    fn from(r: OrgRow) -> Self {
        Self {
            id: OrgId::from_uuid(r.id),
            name: r.name,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    id: Uuid,
    org_id: Uuid,
    user_id: Uuid,
    role: String,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl TryFrom<MemberRow> for Member {
    type Error = Error;

    fn try_from(r: MemberRow) -> Result<Self> {
        Ok(Self {
            id: MemberId::from_uuid(r.id),
            org_id: OrgId::from_uuid(r.org_id),
            user_id: UserId::from_uuid(r.user_id),
            role: r.role.parse().map_err(|e| corrupt("role", e))?,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const MEMBER_COLUMNS: &str = "id, org_id, user_id, role, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct ApiKeyRow {
    id: Uuid,
    org_id: Uuid,
    name: String,
    prefix: String,
    role: String,
    created_at: Timestamp,
    updated_at: Timestamp,
    last_used_at: Option<Timestamp>,
    revoked_at: Option<Timestamp>,
}

impl TryFrom<ApiKeyRow> for ApiKey {
    type Error = Error;

    fn try_from(r: ApiKeyRow) -> Result<Self> {
        Ok(Self {
            id: ApiKeyId::from_uuid(r.id),
            org_id: OrgId::from_uuid(r.org_id),
            name: r.name,
            prefix: r.prefix,
            role: r.role.parse().map_err(|e| corrupt("role", e))?,
            created_at: r.created_at,
            updated_at: r.updated_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        })
    }
}

const API_KEY_COLUMNS: &str =
    "id, org_id, name, prefix, role, created_at, updated_at, last_used_at, revoked_at";

#[derive(sqlx::FromRow)]
struct PhoneRow {
    id: Uuid,
    org_id: Uuid,
    number: String,
    provider: String,
    label: Option<String>,
    capabilities: Json<PhoneCapabilities>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl TryFrom<PhoneRow> for Phone {
    type Error = Error;

    fn try_from(r: PhoneRow) -> Result<Self> {
        Ok(Self {
            id: PhoneId::from_uuid(r.id),
            org_id: OrgId::from_uuid(r.org_id),
            number: E164::parse(&r.number).map_err(|e| corrupt("phone number", e))?,
            provider: r.provider,
            label: r.label,
            capabilities: r.capabilities.0,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const PHONE_COLUMNS: &str =
    "id, org_id, number, provider, label, capabilities, created_at, updated_at";

async fn insert_member(tx: &mut Tx, ctx: &TenantContext, new: &NewMember) -> Result<Member> {
    let t = now();
    let member = Member {
        id: MemberId::new(),
        org_id: ctx.org_id(),
        user_id: new.user_id,
        role: new.role,
        created_at: t,
        updated_at: t,
    };
    tx.execute(
        "INSERT INTO org_members (id, org_id, user_id, role, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)",
        args![member.id, member.org_id, member.user_id, member.role.as_str(), t, t],
    )
    .await?;
    emit(
        tx,
        ctx,
        types::MEMBER_CREATED,
        MemberId::KIND,
        member.id.as_uuid(),
        &member,
    )
    .await?;
    Ok(member)
}

#[async_trait]
impl Directory for SqlStore {
    #[tracing::instrument(skip_all)]
    async fn create_org(&self, new: NewOrg, owner: Option<UserId>) -> Result<Org> {
        new.validate()?;
        let t = now();
        let org = Org {
            id: OrgId::new(),
            name: new.name.trim().to_owned(),
            created_at: t,
            updated_at: t,
        };
        let ctx = TenantContext::system(org.id, "create_org");
        let mut tx = self.new_org_tx(org.id).await?;
        tx.execute(
            "INSERT INTO orgs (id, name, created_at, updated_at) VALUES ($1, $2, $3, $4)",
            args![org.id, org.name.as_str(), t, t],
        )
        .await?;
        emit(
            &mut tx,
            &ctx,
            types::ORG_CREATED,
            OrgId::KIND,
            org.id.as_uuid(),
            &org,
        )
        .await?;
        if let Some(user_id) = owner {
            insert_member(
                &mut tx,
                &ctx,
                &NewMember {
                    user_id,
                    role: Role::Owner,
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(org)
    }

    async fn api_key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKeyCredentials>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            key: ApiKeyRow,
            hash: Vec<u8>,
        }
        let mut tx = self.system_tx(false).await?;
        let Some(org) = super::org_of(&mut tx, super::Lookup::ApiKeyPrefix, prefix).await? else {
            return Ok(None);
        };
        let sql = format!(
            "SELECT {API_KEY_COLUMNS}, hash FROM api_keys WHERE org_id = $1 AND prefix = $2 AND revoked_at IS NULL"
        );
        let row: Option<Row> = tx.fetch_optional(&sql, args![org, prefix]).await?;
        row.map(|r| {
            Ok(ApiKeyCredentials {
                key: r.key.try_into()?,
                hash: r.hash,
            })
        })
        .transpose()
    }

    async fn touch_api_key(&self, org_id: OrgId, key_id: ApiKeyId) -> Result<()> {
        let t = now();
        let mut tx = self.system_tx(true).await?;
        // At most one write a minute per key: authentication must not turn every read into a write.
        tx.execute(
            "UPDATE api_keys SET last_used_at = $1
             WHERE org_id = $2 AND id = $3 AND (last_used_at IS NULL OR last_used_at < $4)",
            args![t, org_id, key_id, t - Duration::minutes(1)],
        )
        .await?;
        tx.commit().await
    }

    async fn membership(&self, org_id: OrgId, user_id: UserId) -> Result<Option<Member>> {
        let mut tx = self.system_tx(false).await?;
        let sql =
            format!("SELECT {MEMBER_COLUMNS} FROM org_members WHERE org_id = $1 AND user_id = $2");
        let row: Option<MemberRow> = tx.fetch_optional(&sql, args![org_id, user_id]).await?;
        row.map(Member::try_from).transpose()
    }

    async fn has_orgs(&self) -> Result<bool> {
        let mut tx = self.system_tx(false).await?;
        let row: Option<(i32,)> = tx
            .fetch_optional("SELECT 1 FROM orgs LIMIT 1", args![])
            .await?;
        Ok(row.is_some())
    }

    async fn phone_by_number(&self, number: &E164) -> Result<Option<Phone>> {
        let mut tx = self.system_tx(false).await?;
        let Some(org) = super::org_of(&mut tx, super::Lookup::PhoneNumber, number.as_ref()).await?
        else {
            return Ok(None);
        };
        let sql = format!("SELECT {PHONE_COLUMNS} FROM phones WHERE org_id = $1 AND number = $2");
        let row: Option<PhoneRow> = tx.fetch_optional(&sql, args![org, number.as_ref()]).await?;
        row.map(Phone::try_from).transpose()
    }
}

#[async_trait]
impl OrgRepo for SqlStore {
    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn get_org(&self, ctx: &TenantContext) -> Result<Org> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        let row: Option<OrgRow> = tx
            .fetch_optional(
                "SELECT id, name, created_at, updated_at FROM orgs WHERE id = $1 AND deleted_at IS NULL",
                args![ctx.org_id()],
            )
            .await?;
        row.map(Org::from)
            .ok_or_else(|| Error::not_found(OrgId::KIND))
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn rename_org(&self, ctx: &TenantContext, name: String) -> Result<Org> {
        NewOrg { name: name.clone() }.validate()?;
        let mut tx = self.tenant_tx(ctx, Access::Own).await?;
        let row: Option<OrgRow> = tx
            .fetch_optional(
                "UPDATE orgs SET name = $1, updated_at = $2 WHERE id = $3 AND deleted_at IS NULL
                 RETURNING id, name, created_at, updated_at",
                args![name.trim(), now(), ctx.org_id()],
            )
            .await?;
        let org = row
            .map(Org::from)
            .ok_or_else(|| Error::not_found(OrgId::KIND))?;
        emit_and_commit(tx, ctx, types::ORG_UPDATED, org.id, &org).await?;
        Ok(org)
    }
}

async fn fetch_member(tx: &mut Tx, ctx: &TenantContext, id: MemberId) -> Result<Member> {
    let sql = format!("SELECT {MEMBER_COLUMNS} FROM org_members WHERE org_id = $1 AND id = $2");
    let row: Option<MemberRow> = tx.fetch_optional(&sql, args![ctx.org_id(), id]).await?;
    row.ok_or_else(|| Error::not_found(MemberId::KIND))?
        .try_into()
}

/// Fails when `member` is the org's last owner and is about to stop being one.
async fn keep_an_owner(tx: &mut Tx, ctx: &TenantContext, member: &Member) -> Result<()> {
    if member.role != Role::Owner {
        return Ok(());
    }
    // Two transactions demoting or removing the last two owners would each count two owners
    // and both go ahead (Postgres reads committed rows): the owners' rows are locked first, in
    // id order, so the second waits for the first and then sees one owner left. SQLite has one
    // writer at a time.
    #[cfg(feature = "postgres")]
    let lock = if tx.is_postgres() { " FOR UPDATE" } else { "" };
    #[cfg(not(feature = "postgres"))]
    let lock = "";
    let sql = format!(
        "SELECT id FROM org_members WHERE org_id = $1 AND role = 'owner' ORDER BY id{lock}"
    );
    let owners: Vec<(uuid::Uuid,)> = tx.fetch_all(&sql, args![ctx.org_id()]).await?;
    if owners.len() <= 1 {
        return Err(Error::conflict(
            "role",
            "an org must keep at least one owner",
        ));
    }
    Ok(())
}

#[async_trait]
impl MemberRepo for SqlStore {
    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn create_member(&self, ctx: &TenantContext, new: NewMember) -> Result<Member> {
        let mut tx = self.tenant_tx(ctx, Access::Own).await?;
        let member = insert_member(&mut tx, ctx, &new).await?;
        tx.commit().await?;
        Ok(member)
    }

    async fn get_member(&self, ctx: &TenantContext, id: MemberId) -> Result<Member> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        fetch_member(&mut tx, ctx, id).await
    }

    async fn list_members(&self, ctx: &TenantContext, page: PageRequest) -> Result<Page<Member>> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        let mut sql = Sql::select(MEMBER_COLUMNS, "org_members", ctx.org_id());
        sql.page("id", &page)?;
        fetch_page::<MemberRow, Member>(&mut tx, sql, &page, |m| m.id.as_uuid()).await
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn set_member_role(
        &self,
        ctx: &TenantContext,
        id: MemberId,
        role: Role,
    ) -> Result<Member> {
        let mut tx = self.tenant_tx(ctx, Access::Own).await?;
        let mut member = fetch_member(&mut tx, ctx, id).await?;
        if member.role == role {
            return Ok(member);
        }
        keep_an_owner(&mut tx, ctx, &member).await?;
        member.role = role;
        member.updated_at = now();
        tx.execute(
            "UPDATE org_members SET role = $1, updated_at = $2 WHERE org_id = $3 AND id = $4",
            args![role.as_str(), member.updated_at, ctx.org_id(), id],
        )
        .await?;
        emit_and_commit(tx, ctx, types::MEMBER_UPDATED, id, &member).await?;
        Ok(member)
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn delete_member(&self, ctx: &TenantContext, id: MemberId) -> Result<()> {
        let mut tx = self.tenant_tx(ctx, Access::Own).await?;
        let member = fetch_member(&mut tx, ctx, id).await?;
        keep_an_owner(&mut tx, ctx, &member).await?;
        // The event goes first: on Postgres a user removing their own membership would no longer
        // pass the membership check that guards inserting it.
        emit(
            &mut tx,
            ctx,
            types::MEMBER_DELETED,
            MemberId::KIND,
            id.as_uuid(),
            &member,
        )
        .await?;
        tx.write_events().await?;
        tx.execute(
            "DELETE FROM org_members WHERE org_id = $1 AND id = $2",
            args![ctx.org_id(), id],
        )
        .await?;
        tx.commit().await
    }
}

async fn fetch_api_key(tx: &mut Tx, ctx: &TenantContext, id: ApiKeyId) -> Result<ApiKey> {
    let sql = format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE org_id = $1 AND id = $2");
    let row: Option<ApiKeyRow> = tx.fetch_optional(&sql, args![ctx.org_id(), id]).await?;
    row.ok_or_else(|| Error::not_found(ApiKeyId::KIND))?
        .try_into()
}

#[async_trait]
impl ApiKeyRepo for SqlStore {
    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn create_api_key(&self, ctx: &TenantContext, new: NewApiKey) -> Result<ApiKey> {
        new.validate()?;
        // An admin cannot mint a key stronger than itself.
        if new.role > ctx.actor().role() {
            return Err(Error::Forbidden(format!(
                "cannot create a key with the {} role",
                new.role
            )));
        }
        let mut tx = self.tenant_tx(ctx, Access::Manage).await?;
        // The org's row, locked (Postgres), serialises key creations of one org, so two at
        // once cannot both take the last place under the cap.
        let lock = format!(
            "SELECT id FROM orgs WHERE id = $1{}",
            super::leads::for_update(self)
        );
        let _: Option<(uuid::Uuid,)> = tx.fetch_optional(&lock, args![ctx.org_id()]).await?;
        let (live,): (i64,) = tx
            .fetch_one(
                "SELECT count(*) FROM api_keys WHERE org_id = $1 AND revoked_at IS NULL",
                args![ctx.org_id()],
            )
            .await?;
        if live >= i64::from(MAX_API_KEYS_PER_ORG) {
            return Err(Error::conflict(
                "api_keys",
                format!(
                    "the org has {MAX_API_KEYS_PER_ORG} live API keys, the most allowed; revoke one first"
                ),
            ));
        }
        let t = now();
        let key = ApiKey {
            id: ApiKeyId::new(),
            org_id: ctx.org_id(),
            name: new.name.trim().to_owned(),
            prefix: new.prefix,
            role: new.role,
            created_at: t,
            updated_at: t,
            last_used_at: None,
            revoked_at: None,
        };
        tx.execute(
            "INSERT INTO api_keys (id, org_id, name, prefix, hash, role, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            args![
                key.id,
                key.org_id,
                key.name.as_str(),
                key.prefix.as_str(),
                new.hash,
                key.role.as_str(),
                t,
                t
            ],
        )
        .await?;
        super::claim_lookup(
            &mut tx,
            super::Lookup::ApiKeyPrefix,
            key.prefix.as_str(),
            key.org_id,
            key.id.as_uuid(),
        )
        .await?;
        emit_and_commit(tx, ctx, types::API_KEY_CREATED, key.id, &key).await?;
        Ok(key)
    }

    async fn get_api_key(&self, ctx: &TenantContext, id: ApiKeyId) -> Result<ApiKey> {
        let mut tx = self.tenant_tx(ctx, Access::Manage).await?;
        fetch_api_key(&mut tx, ctx, id).await
    }

    async fn list_api_keys(&self, ctx: &TenantContext, page: PageRequest) -> Result<Page<ApiKey>> {
        let mut tx = self.tenant_tx(ctx, Access::Manage).await?;
        let mut sql = Sql::select(API_KEY_COLUMNS, "api_keys", ctx.org_id());
        sql.page("id", &page)?;
        fetch_page::<ApiKeyRow, ApiKey>(&mut tx, sql, &page, |k| k.id.as_uuid()).await
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn update_api_key(
        &self,
        ctx: &TenantContext,
        id: ApiKeyId,
        patch: ApiKeyPatch,
    ) -> Result<ApiKey> {
        let mut tx = self.tenant_tx(ctx, Access::Manage).await?;
        let mut key = fetch_api_key(&mut tx, ctx, id).await?;
        let Some(name) = patch
            .name
            .map(|n| n.trim().to_owned())
            .filter(|n| *n != key.name)
        else {
            return Ok(key);
        };
        NewApiKey {
            name: name.clone(),
            role: key.role,
            prefix: String::new(),
            hash: vec![0; 32],
        }
        .validate()?;
        key.name = name;
        key.updated_at = now();
        tx.execute(
            "UPDATE api_keys SET name = $1, updated_at = $2 WHERE org_id = $3 AND id = $4",
            args![key.name.as_str(), key.updated_at, ctx.org_id(), id],
        )
        .await?;
        emit_and_commit(tx, ctx, types::API_KEY_UPDATED, id, &key).await?;
        Ok(key)
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn revoke_api_key(&self, ctx: &TenantContext, id: ApiKeyId) -> Result<ApiKey> {
        let mut tx = self.tenant_tx(ctx, Access::Manage).await?;
        let mut key = fetch_api_key(&mut tx, ctx, id).await?;
        // As for creating one: an admin cannot revoke a key stronger than itself (an owner's),
        // which would lock the owner's automation out.
        if key.role > ctx.actor().role() {
            return Err(Error::Forbidden(format!(
                "revoking a key with the {} role needs that role; the caller is {}",
                key.role,
                ctx.actor().role()
            )));
        }
        if key.revoked_at.is_some() {
            return Ok(key);
        }
        let t = now();
        key.revoked_at = Some(t);
        key.updated_at = t;
        tx.execute(
            "UPDATE api_keys SET revoked_at = $1, updated_at = $1 WHERE org_id = $2 AND id = $3",
            args![t, ctx.org_id(), id],
        )
        .await?;
        emit_and_commit(tx, ctx, types::API_KEY_REVOKED, id, &key).await?;
        Ok(key)
    }
}

async fn fetch_phone(tx: &mut Tx, ctx: &TenantContext, id: PhoneId) -> Result<Phone> {
    let sql = format!("SELECT {PHONE_COLUMNS} FROM phones WHERE org_id = $1 AND id = $2");
    let row: Option<PhoneRow> = tx.fetch_optional(&sql, args![ctx.org_id(), id]).await?;
    row.ok_or_else(|| Error::not_found(PhoneId::KIND))?
        .try_into()
}

#[async_trait]
impl PhoneRepo for SqlStore {
    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn create_phone(&self, ctx: &TenantContext, new: NewPhone) -> Result<Phone> {
        new.validate()?;
        let mut tx = self.tenant_tx(ctx, Access::Manage).await?;
        let t = now();
        let phone = Phone {
            id: PhoneId::new(),
            org_id: ctx.org_id(),
            number: new.number,
            provider: new.provider,
            label: new.label,
            capabilities: new.capabilities,
            created_at: t,
            updated_at: t,
        };
        let capabilities =
            serde_json::to_value(phone.capabilities).map_err(|e| Error::internal("json", e))?;
        tx.execute(
            "INSERT INTO phones (id, org_id, number, provider, label, capabilities, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            args![
                phone.id,
                phone.org_id,
                phone.number.as_ref(),
                phone.provider.as_str(),
                phone.label.clone(),
                capabilities,
                t,
                t
            ],
        )
        .await?;
        super::claim_lookup(
            &mut tx,
            super::Lookup::PhoneNumber,
            phone.number.as_ref(),
            phone.org_id,
            phone.id.as_uuid(),
        )
        .await?;
        emit_and_commit(tx, ctx, types::PHONE_CREATED, phone.id, &phone).await?;
        Ok(phone)
    }

    async fn get_phone(&self, ctx: &TenantContext, id: PhoneId) -> Result<Phone> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        fetch_phone(&mut tx, ctx, id).await
    }

    async fn list_phones(&self, ctx: &TenantContext, page: PageRequest) -> Result<Page<Phone>> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        let mut sql = Sql::select(PHONE_COLUMNS, "phones", ctx.org_id());
        sql.page("id", &page)?;
        fetch_page::<PhoneRow, Phone>(&mut tx, sql, &page, |p| p.id.as_uuid()).await
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn update_phone(
        &self,
        ctx: &TenantContext,
        id: PhoneId,
        patch: PhonePatch,
    ) -> Result<Phone> {
        let mut tx = self.tenant_tx(ctx, Access::Manage).await?;
        let current = fetch_phone(&mut tx, ctx, id).await?;
        let next = NewPhone {
            number: current.number.clone(),
            provider: current.provider.clone(),
            label: patch.label.apply(current.label.clone()),
            capabilities: patch.capabilities.unwrap_or(current.capabilities),
        };
        next.validate()?;
        if next.label == current.label && next.capabilities == current.capabilities {
            return Ok(current);
        }
        let phone = Phone {
            label: next.label,
            capabilities: next.capabilities,
            updated_at: now(),
            ..current
        };
        let capabilities =
            serde_json::to_value(phone.capabilities).map_err(|e| Error::internal("json", e))?;
        tx.execute(
            "UPDATE phones SET label = $1, capabilities = $2, updated_at = $3 WHERE org_id = $4 AND id = $5",
            args![phone.label.clone(), capabilities, phone.updated_at, ctx.org_id(), id],
        )
        .await?;
        emit_and_commit(tx, ctx, types::PHONE_UPDATED, id, &phone).await?;
        Ok(phone)
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn delete_phone(&self, ctx: &TenantContext, id: PhoneId) -> Result<()> {
        let mut tx = self.tenant_tx(ctx, Access::Manage).await?;
        let phone = fetch_phone(&mut tx, ctx, id).await?;
        tx.execute(
            "DELETE FROM phones WHERE org_id = $1 AND id = $2",
            args![ctx.org_id(), id],
        )
        .await?;
        super::release_lookup(
            &mut tx,
            super::Lookup::PhoneNumber,
            phone.number.as_ref(),
            ctx.org_id(),
        )
        .await?;
        emit_and_commit(tx, ctx, types::PHONE_DELETED, id, &phone).await
    }
}
