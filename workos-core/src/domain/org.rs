//! Orgs (tenants), their members, API keys and phone numbers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{E164, check_text};
use crate::error::{ValidationError, Validator};
use crate::ids::{ApiKeyId, MemberId, OrgId, PhoneId, UserId};
use crate::tenant::Role;

/// The most live (not revoked) API keys an org may hold. Each key has its own rate-limit
/// budget, so minting keys without end would multiply an org's share of the server; creating
/// one more is answered 409 on `api_keys`.
pub const MAX_API_KEYS_PER_ORG: u32 = 100;
/// An organisation: the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Org {
    /// Its id.
    pub id: OrgId,
    /// Display name.
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Input for a new org.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewOrg {
    /// Display name, 1–200 characters.
    pub name: String,
}

impl NewOrg {
    /// Checks what the types cannot.
    ///
    /// # Errors
    /// A [`ValidationError`] naming each invalid field.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut v = Validator::new();
        check_text(&mut v, "name", &self.name, true, 200);
        v.finish()
    }
}

/// A user's membership of an org.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Member {
    /// Its id.
    pub id: MemberId,
    /// The org.
    pub org_id: OrgId,
    /// The user (an id of the embedding app's auth system).
    pub user_id: UserId,
    /// The user's role in the org.
    pub role: Role,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Input for a new membership.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    /// The user.
    pub user_id: UserId,
    /// Their role.
    pub role: Role,
}

/// An API key's stored form. The secret itself is shown once, at creation, and never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKey {
    /// Its id.
    pub id: ApiKeyId,
    /// The org it acts for.
    pub org_id: OrgId,
    /// A label.
    pub name: String,
    /// The public lookup prefix (`wos_…`), safe to show.
    pub prefix: String,
    /// The role it acts with.
    pub role: Role,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was last used to authenticate, at minute granularity.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked; a revoked key never authenticates.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Input for a new API key: the caller generates the secret (see `crypto::ApiKeyHasher`) and
/// hands over only its prefix and keyed hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiKey {
    /// A label, 1–200 characters.
    pub name: String,
    /// The role the key acts with.
    pub role: Role,
    /// The lookup prefix.
    pub prefix: String,
    /// HMAC-SHA256 of the full key under the server's pepper.
    pub hash: Vec<u8>,
}

impl NewApiKey {
    /// Checks what the types cannot.
    ///
    /// # Errors
    /// A [`ValidationError`] naming each invalid field.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut v = Validator::new();
        check_text(&mut v, "name", &self.name, true, 200);
        v.require(
            self.hash.len() == 32,
            "hash",
            "must be an HMAC-SHA256 digest",
        );
        v.finish()
    }
}

/// An API key found by its prefix, with the hash to verify the presented key against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyCredentials {
    /// The key.
    pub key: ApiKey,
    /// The stored keyed hash.
    pub hash: Vec<u8>,
}

/// What a provider number can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PhoneCapabilities {
    /// Sends and receives SMS.
    #[serde(default)]
    pub sms: bool,
    /// Sends and receives MMS.
    #[serde(default)]
    pub mms: bool,
    /// Makes and receives calls.
    #[serde(default)]
    pub voice: bool,
}

/// A provider phone number mapped to the org that owns it. A number belongs to one org at most.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Phone {
    /// Its id.
    pub id: PhoneId,
    /// The owning org.
    pub org_id: OrgId,
    /// The number.
    pub number: E164,
    /// The provider, e.g. `twilio`.
    pub provider: String,
    /// A label.
    pub label: Option<String>,
    /// What it can do.
    pub capabilities: PhoneCapabilities,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Input for a new phone mapping.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewPhone {
    /// The number.
    pub number: E164,
    /// The provider; only `twilio` today.
    #[cfg_attr(feature = "openapi", schema(pattern = "^twilio$"))]
    pub provider: String,
    /// A label.
    #[serde(default)]
    pub label: Option<String>,
    /// What it can do.
    #[serde(default)]
    pub capabilities: PhoneCapabilities,
}

impl NewPhone {
    /// Checks what the types cannot.
    ///
    /// # Errors
    /// A [`ValidationError`] naming each invalid field.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut v = Validator::new();
        v.require(self.provider == "twilio", "provider", "must be \"twilio\"");
        check_text(
            &mut v,
            "label",
            self.label.as_deref().unwrap_or(""),
            false,
            200,
        );
        v.finish()
    }
}

/// A request to register a number for an org. Its capabilities are not part of it: they are
/// read from the provider, which must say the number is the org's (or the operator's, for an
/// assignment).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RegisterPhone {
    /// The number.
    pub number: E164,
    /// The provider; only `twilio` (the default).
    #[serde(default = "default_provider")]
    #[cfg_attr(feature = "openapi", schema(pattern = "^twilio$"))]
    pub provider: String,
    /// A label.
    #[serde(default)]
    pub label: Option<String>,
}

fn default_provider() -> String {
    "twilio".to_owned()
}

impl RegisterPhone {
    /// The mapping to store, with the capabilities the provider reported.
    #[must_use]
    pub fn into_new_phone(self, capabilities: PhoneCapabilities) -> NewPhone {
        NewPhone {
            number: self.number,
            provider: self.provider,
            label: self.label,
            capabilities,
        }
    }
}

/// A change to a phone mapping (the number itself never changes: delete and re-add).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct PhonePatch {
    /// New label, or clear it.
    pub label: super::Patch<String>,
    /// New capabilities.
    pub capabilities: Option<PhoneCapabilities>,
}

/// A change to an API key (its secret and role never change: revoke and issue another).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct ApiKeyPatch {
    /// New label.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 200,
            pattern = r"^[^\u0000]*[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\u0000][^\u0000]*$"
        )
    )]
    pub name: Option<String>,
}
