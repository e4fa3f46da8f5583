//! Tenancy: who is acting, for which org, and what their role allows.
//!
//! A [`TenantContext`] is the only way to reach tenant data: every repository method takes one,
//! and the org comes from it, never from input. Contexts are made by authenticators (an API key
//! lookup, a membership check) or, for trusted internal jobs, by [`TenantContext::system`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{ApiKeyId, OrgId, UserId};

/// A member's role in an org, from least to most privileged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Role {
    /// Reads CRM data.
    Viewer,
    /// Also writes CRM data (companies, people, deals, tasks, interactions, comms).
    Member,
    /// Also manages integrations, API keys, webhooks and phone numbers.
    Admin,
    /// Also manages members and the org itself.
    Owner,
}

impl Role {
    /// The role's name as stored and shown.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Member => "member",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "viewer" => Ok(Self::Viewer),
            "member" => Ok(Self::Member),
            "admin" => Ok(Self::Admin),
            "owner" => Ok(Self::Owner),
            _ => Err(Error::invalid(
                "role",
                "must be one of owner, admin, member, viewer",
            )),
        }
    }
}

/// What an operation needs. Each maps to the least role allowed to do it (DESIGN.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Access {
    /// Read any tenant data.
    Read,
    /// Write CRM data: companies, people, deals, tasks, interactions, emails, SMS, calls, leads.
    WriteCrm,
    /// Manage integrations, API keys, webhooks, phone numbers and partners.
    Manage,
    /// Manage members and the org.
    Own,
}

impl Access {
    /// The least role that grants this access.
    #[must_use]
    pub const fn least_role(self) -> Role {
        match self {
            Self::Read => Role::Viewer,
            Self::WriteCrm => Role::Member,
            Self::Manage => Role::Admin,
            Self::Own => Role::Owner,
        }
    }
}

/// Who performs an operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Actor {
    /// A signed-in user, with their role in the org (from a verified membership).
    User {
        /// The user.
        user_id: UserId,
        /// Their role in the context's org.
        role: Role,
    },
    /// A request authenticated by an API key, which carries its own role.
    ApiKey {
        /// The key.
        key_id: ApiKeyId,
        /// The key's role.
        role: Role,
    },
    /// A trusted internal job (inbound webhooks after resolving the org, sync, routing).
    System {
        /// What the job is, for the audit trail, e.g. `twilio.inbound`.
        job: String,
    },
}

impl Actor {
    /// The actor's effective role; system jobs act as owner.
    #[must_use]
    pub const fn role(&self) -> Role {
        match self {
            Self::User { role, .. } | Self::ApiKey { role, .. } => *role,
            Self::System { .. } => Role::Owner,
        }
    }
}

/// The tenant and actor of an operation, plus the request id to carry into events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantContext {
    org_id: OrgId,
    actor: Actor,
    request_id: Option<String>,
}

impl TenantContext {
    /// A context for a user whose membership (and so role) the caller has verified.
    #[must_use]
    pub fn user(org_id: OrgId, user_id: UserId, role: Role) -> Self {
        Self {
            org_id,
            actor: Actor::User { user_id, role },
            request_id: None,
        }
    }

    /// A context for a verified API key of `org_id`.
    #[must_use]
    pub fn api_key(org_id: OrgId, key_id: ApiKeyId, role: Role) -> Self {
        Self {
            org_id,
            actor: Actor::ApiKey { key_id, role },
            request_id: None,
        }
    }

    /// A context for a trusted internal job acting inside `org_id`.
    ///
    /// Only code that has itself established the org (e.g. by resolving an inbound number
    /// through `phones`) may make one; never build it from client input.
    pub fn system(org_id: OrgId, job: impl Into<String>) -> Self {
        Self {
            org_id,
            actor: Actor::System { job: job.into() },
            request_id: None,
        }
    }

    /// The same context, carrying `request_id` into the events it writes.
    #[must_use]
    pub fn with_request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    /// The tenant.
    #[must_use]
    pub const fn org_id(&self) -> OrgId {
        self.org_id
    }

    /// Who acts.
    #[must_use]
    pub const fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The user, when the actor is one (used for RLS membership checks).
    #[must_use]
    pub const fn user_id(&self) -> Option<UserId> {
        match self.actor {
            Actor::User { user_id, .. } => Some(user_id),
            _ => None,
        }
    }

    /// The request id, when the operation runs for a request.
    #[must_use]
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// Checks that the actor's role grants `access`.
    ///
    /// # Errors
    /// [`Error::Forbidden`] naming the role needed.
    pub fn authorize(&self, access: Access) -> Result<()> {
        let needed = access.least_role();
        if self.actor.role() >= needed {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "this needs the {needed} role; the caller is {}",
                self.actor.role()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_by_rank() {
        let org = OrgId::new();
        let viewer = TenantContext::user(org, UserId::new(), Role::Viewer);
        let member = TenantContext::user(org, UserId::new(), Role::Member);
        let admin = TenantContext::api_key(org, ApiKeyId::new(), Role::Admin);
        let system = TenantContext::system(org, "test");

        assert!(viewer.authorize(Access::Read).is_ok());
        assert!(matches!(
            viewer.authorize(Access::WriteCrm),
            Err(Error::Forbidden(_))
        ));
        assert!(member.authorize(Access::WriteCrm).is_ok());
        assert!(member.authorize(Access::Manage).is_err());
        assert!(admin.authorize(Access::Manage).is_ok());
        assert!(admin.authorize(Access::Own).is_err());
        assert!(system.authorize(Access::Own).is_ok());
    }

    #[test]
    fn role_parses_its_own_names_only() {
        for role in [Role::Viewer, Role::Member, Role::Admin, Role::Owner] {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("root".parse::<Role>().is_err());
    }
}
