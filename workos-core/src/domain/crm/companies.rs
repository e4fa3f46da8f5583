//! Companies (accounts): the record, its input, change and filter.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{Patch, TimeRange, check_text};
use crate::error::{ValidationError, Validator};
use crate::ids::{CompanyId, OrgId};

/// A company (account).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Company {
    /// Its id.
    pub id: CompanyId,
    /// The org it belongs to.
    pub org_id: OrgId,
    /// Name, 1–200 characters.
    pub name: String,
    /// Web domain, lower-cased, e.g. `example.com`.
    pub domain: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Input for a new company.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewCompany {
    /// Name, 1–200 characters.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 200,
            pattern = r"^[^\u0000]*[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\u0000][^\u0000]*$"
        )
    )]
    pub name: String,
    /// Web domain.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 253,
            pattern = r"^[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+$"
        )
    )]
    pub domain: Option<String>,
}

/// A change to a company.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
#[serde(deny_unknown_fields)]
pub struct CompanyPatch {
    /// New name.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 200,
            pattern = r"^[^\u0000]*[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\u0000][^\u0000]*$"
        )
    )]
    pub name: Option<String>,
    /// New domain, or clear it.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, max_length = 253, pattern = r"^[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+$"))]
    pub domain: Patch<String>,
}

/// Narrows a list of companies.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CompanyFilter {
    /// Name contains this, case-insensitively.
    pub name: Option<String>,
    /// Domain equals this.
    pub domain: Option<String>,
    /// Created within.
    pub created: TimeRange,
}

fn check_domain(v: &mut Validator, domain: Option<&str>) {
    if let Some(d) = domain {
        let ok = d.len() <= 253
            && d.contains('.')
            && d.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        v.require(ok, "domain", "must be a domain name such as example.com");
    }
}

impl NewCompany {
    /// Checks what the types cannot, and lower-cases the domain.
    ///
    /// # Errors
    /// A [`ValidationError`] naming each invalid field.
    pub fn validate(&mut self) -> Result<(), ValidationError> {
        let mut v = Validator::new();
        check_text(&mut v, "name", &self.name, true, 200);
        self.domain = self.domain.take().map(|d| d.trim().to_ascii_lowercase());
        check_domain(&mut v, self.domain.as_deref());
        v.finish()
    }
}

impl NewCompany {
    /// Applies a patch to a company, producing the full new state to validate and store.
    #[must_use]
    pub fn patched(company: &Company, patch: CompanyPatch) -> Self {
        Self {
            name: patch.name.unwrap_or_else(|| company.name.clone()),
            domain: patch.domain.apply(company.domain.clone()),
        }
    }
}
