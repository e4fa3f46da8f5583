//! Deals (opportunities) and their pipeline stage.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::money::check_amount;
use crate::domain::{Money, Patch, TimeRange, check_text};
use crate::error::{ValidationError, Validator};
use crate::ids::{CompanyId, DealId, OrgId, PersonId, UserId};

string_enum! {
    /// Where a deal stands in the pipeline.
    #[non_exhaustive]
    DealStage, "stage" {
        /// Not yet qualified.
        Lead = "lead",
        /// Qualified.
        Qualified = "qualified",
        /// A proposal was sent.
        Proposal = "proposal",
        /// Terms are being negotiated.
        Negotiation = "negotiation",
        /// Closed and won.
        Won = "won",
        /// Closed and lost.
        Lost = "lost",
    }
}

/// A deal (opportunity).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Deal {
    /// Its id.
    pub id: DealId,
    /// The org it belongs to.
    pub org_id: OrgId,
    /// Name, 1–200 characters.
    pub name: String,
    /// Value, in minor units.
    pub amount: Option<Money>,
    /// Pipeline stage.
    pub stage: DealStage,
    /// The company it is with.
    pub company_id: Option<CompanyId>,
    /// The main contact.
    pub person_id: Option<PersonId>,
    /// The user who owns it.
    pub owner_id: Option<UserId>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Input for a new deal.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewDeal {
    /// Name, 1–200 characters.
    pub name: String,
    /// Value.
    #[serde(default)]
    pub amount: Option<Money>,
    /// Pipeline stage; defaults to `lead`.
    #[serde(default = "default_stage")]
    pub stage: DealStage,
    /// The company it is with.
    #[serde(default)]
    pub company_id: Option<CompanyId>,
    /// The main contact.
    #[serde(default)]
    pub person_id: Option<PersonId>,
    /// The user who owns it.
    #[serde(default)]
    pub owner_id: Option<UserId>,
}

const fn default_stage() -> DealStage {
    DealStage::Lead
}

/// A change to a deal.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
#[serde(deny_unknown_fields)]
pub struct DealPatch {
    /// New name.
    pub name: Option<String>,
    /// New value, or clear it.
    pub amount: Patch<Money>,
    /// New stage.
    pub stage: Option<DealStage>,
    /// New company, or clear it.
    pub company_id: Patch<CompanyId>,
    /// New contact, or clear it.
    pub person_id: Patch<PersonId>,
    /// New owner, or clear it.
    pub owner_id: Patch<UserId>,
}

/// Narrows a list of deals.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DealFilter {
    /// In this stage.
    pub stage: Option<DealStage>,
    /// Owned by this user.
    pub owner_id: Option<UserId>,
    /// With this company.
    pub company_id: Option<CompanyId>,
    /// With this contact.
    pub person_id: Option<PersonId>,
    /// Created within.
    pub created: TimeRange,
}

impl NewDeal {
    /// Starts a deal in the `lead` stage with nothing else set.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            amount: None,
            stage: DealStage::Lead,
            company_id: None,
            person_id: None,
            owner_id: None,
        }
    }

    /// Checks what the types cannot.
    ///
    /// # Errors
    /// A [`ValidationError`] naming each invalid field.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut v = Validator::new();
        check_text(&mut v, "name", &self.name, true, 200);
        check_amount(&mut v, self.amount.as_ref());
        v.finish()
    }

    /// Applies a patch to a deal, producing the full new state to validate and store.
    #[must_use]
    pub fn patched(deal: &Deal, patch: DealPatch) -> Self {
        Self {
            name: patch.name.unwrap_or_else(|| deal.name.clone()),
            amount: patch.amount.apply(deal.amount),
            stage: patch.stage.unwrap_or(deal.stage),
            company_id: patch.company_id.apply(deal.company_id),
            person_id: patch.person_id.apply(deal.person_id),
            owner_id: patch.owner_id.apply(deal.owner_id),
        }
    }
}
