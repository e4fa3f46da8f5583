//! The org and what it is made of: its members, API keys and provider phone numbers, and
//! the cross-tenant lookups ([`Directory`]) that establish a tenant.

use async_trait::async_trait;

use crate::domain::{
    ApiKey, ApiKeyCredentials, ApiKeyPatch, E164, Member, NewApiKey, NewMember, NewOrg, NewPhone,
    Org, Phone, PhonePatch,
};
use crate::error::Result;
use crate::ids::{ApiKeyId, MemberId, OrgId, PhoneId, UserId};
use crate::page::{Page, PageRequest};
use crate::tenant::{Role, TenantContext};

/// Lookups that establish a tenant, and org creation. Cross-tenant by nature: only
/// authenticators and trusted jobs call these.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait Directory: Send + Sync {
    /// Creates an org; with `owner`, that user becomes its first member with [`Role::Owner`].
    /// Emits `org.created` (and `member.created`).
    ///
    /// # Errors
    /// [`crate::Error::Validation`] for a bad name.
    async fn create_org(&self, new: NewOrg, owner: Option<UserId>) -> Result<Org>;

    /// The live (not revoked) API key whose lookup prefix is `prefix`, with its hash, for the
    /// caller to verify the presented key against in constant time.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn api_key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKeyCredentials>>;

    /// Records that key `key_id` of `org_id` authenticated (at most one write per key per
    /// minute).
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn touch_api_key(&self, org_id: OrgId, key_id: ApiKeyId) -> Result<()>;

    /// The membership of `user_id` in `org_id`, if any.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn membership(&self, org_id: OrgId, user_id: UserId) -> Result<Option<Member>>;

    /// Whether any org exists (a fresh installation has none).
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn has_orgs(&self) -> Result<bool>;

    /// The org-owned phone mapping for an inbound number, if any.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn phone_by_number(&self, number: &E164) -> Result<Option<Phone>>;
}

/// The context's own org.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait OrgRepo: Send + Sync {
    /// The context's org.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`] if it was deleted.
    async fn get_org(&self, ctx: &TenantContext) -> Result<Org>;

    /// Renames the org (owner only). Emits `org.updated`.
    ///
    /// # Errors
    /// [`crate::Error::Forbidden`], [`crate::Error::Validation`].
    async fn rename_org(&self, ctx: &TenantContext, name: String) -> Result<Org>;
}

/// Members of the context's org. Reading needs viewer; changes need owner.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait MemberRepo: Send + Sync {
    /// Adds a user. Emits `member.created`.
    ///
    /// # Errors
    /// [`crate::Error::Conflict`] on `user_id` when already a member; [`crate::Error::Forbidden`].
    async fn create_member(&self, ctx: &TenantContext, new: NewMember) -> Result<Member>;
    /// One member.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`].
    async fn get_member(&self, ctx: &TenantContext, id: MemberId) -> Result<Member>;
    /// A page of members.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn list_members(&self, ctx: &TenantContext, page: PageRequest) -> Result<Page<Member>>;
    /// Changes a member's role. Emits `member.updated`.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`]; [`crate::Error::Conflict`] when it would leave no owner.
    async fn set_member_role(
        &self,
        ctx: &TenantContext,
        id: MemberId,
        role: Role,
    ) -> Result<Member>;
    /// Removes a member. Emits `member.deleted`.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`]; [`crate::Error::Conflict`] when it would leave no owner.
    async fn delete_member(&self, ctx: &TenantContext, id: MemberId) -> Result<()>;
}

/// API keys of the context's org (admin).
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait ApiKeyRepo: Send + Sync {
    /// Stores a key's prefix and hash. Emits `api_key.created`.
    ///
    /// # Errors
    /// [`crate::Error::Conflict`] on a prefix collision; [`crate::Error::Forbidden`].
    async fn create_api_key(&self, ctx: &TenantContext, new: NewApiKey) -> Result<ApiKey>;
    /// One key (never its hash).
    ///
    /// # Errors
    /// [`crate::Error::NotFound`].
    async fn get_api_key(&self, ctx: &TenantContext, id: ApiKeyId) -> Result<ApiKey>;
    /// A page of keys, revoked ones included.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn list_api_keys(&self, ctx: &TenantContext, page: PageRequest) -> Result<Page<ApiKey>>;
    /// Renames a key. Emits `api_key.updated`.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`], [`crate::Error::Validation`].
    async fn update_api_key(
        &self,
        ctx: &TenantContext,
        id: ApiKeyId,
        patch: ApiKeyPatch,
    ) -> Result<ApiKey>;
    /// Revokes a key; it never authenticates again. Emits `api_key.revoked`. A key with a
    /// stronger role than the caller's (an owner's key, for an admin) is not revoked.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`]; [`crate::Error::Forbidden`] for a stronger key.
    async fn revoke_api_key(&self, ctx: &TenantContext, id: ApiKeyId) -> Result<ApiKey>;
}

/// Provider phone numbers of the context's org (admin writes).
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait PhoneRepo: Send + Sync {
    /// Maps a number to the org. Emits `phone.created`.
    ///
    /// # Errors
    /// [`crate::Error::Conflict`] on `number` when any org already has it.
    async fn create_phone(&self, ctx: &TenantContext, new: NewPhone) -> Result<Phone>;
    /// One mapping.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`].
    async fn get_phone(&self, ctx: &TenantContext, id: PhoneId) -> Result<Phone>;
    /// A page of mappings.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn list_phones(&self, ctx: &TenantContext, page: PageRequest) -> Result<Page<Phone>>;
    /// Changes a mapping's label or capabilities. Emits `phone.updated`.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`], [`crate::Error::Validation`].
    async fn update_phone(
        &self,
        ctx: &TenantContext,
        id: PhoneId,
        patch: PhonePatch,
    ) -> Result<Phone>;
    /// Removes a mapping. Emits `phone.deleted`.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`].
    async fn delete_phone(&self, ctx: &TenantContext, id: PhoneId) -> Result<()>;
}
