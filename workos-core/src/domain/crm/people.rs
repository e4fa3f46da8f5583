//! People (contacts): the record, its input, change and filter, and the checks on their
//! emails and phones.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{E164, EmailAddress, Patch, TimeRange, check_text};
use crate::error::{ValidationError, Validator};
use crate::ids::{CompanyId, OrgId, PersonId};

/// A person (contact). Every email and phone of a person, primary or additional, is unique
/// within the org, so a message to any of them finds this one person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Person {
    /// Its id.
    pub id: PersonId,
    /// The org it belongs to.
    pub org_id: OrgId,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Primary email.
    pub email: Option<EmailAddress>,
    /// Other emails.
    pub additional_emails: Vec<EmailAddress>,
    /// Primary phone.
    pub phone: Option<E164>,
    /// Other phones.
    pub additional_phones: Vec<E164>,
    /// Job title.
    pub title: Option<String>,
    /// Employer.
    pub company_id: Option<CompanyId>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl Person {
    /// Every email of the person, primary first.
    pub fn emails(&self) -> impl Iterator<Item = &EmailAddress> {
        self.email.iter().chain(&self.additional_emails)
    }

    /// Every phone of the person, primary first.
    pub fn phones(&self) -> impl Iterator<Item = &E164> {
        self.phone.iter().chain(&self.additional_phones)
    }
}

/// Input for a new person. At least a name, an email or a phone is required.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
#[serde(deny_unknown_fields)]
pub struct NewPerson {
    /// Given name.
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 100, pattern = r"^[^\u0000]*$")
    )]
    pub first_name: Option<String>,
    /// Family name.
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 100, pattern = r"^[^\u0000]*$")
    )]
    pub last_name: Option<String>,
    /// Primary email.
    pub email: Option<EmailAddress>,
    /// Other emails: with the primary one, at most 20, none twice.
    #[cfg_attr(feature = "openapi", schema(max_items = 20))]
    pub additional_emails: Vec<EmailAddress>,
    /// Primary phone.
    pub phone: Option<E164>,
    /// Other phones: with the primary one, at most 20, none twice.
    #[cfg_attr(feature = "openapi", schema(max_items = 20))]
    pub additional_phones: Vec<E164>,
    /// Job title.
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 200, pattern = r"^[^\u0000]*$")
    )]
    pub title: Option<String>,
    /// Employer.
    pub company_id: Option<CompanyId>,
}

/// A change to a person. `additional_emails`/`additional_phones`, when given, replace the lists.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
#[serde(deny_unknown_fields)]
pub struct PersonPatch {
    /// New given name, or clear it.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, max_length = 100, pattern = r"^[^\u0000]*$"))]
    pub first_name: Patch<String>,
    /// New family name, or clear it.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, max_length = 100, pattern = r"^[^\u0000]*$"))]
    pub last_name: Patch<String>,
    /// New primary email, or clear it.
    pub email: Patch<EmailAddress>,
    /// Replacement list of other emails: with the primary one, at most 20, none twice.
    #[cfg_attr(feature = "openapi", schema(max_items = 20))]
    pub additional_emails: Option<Vec<EmailAddress>>,
    /// New primary phone, or clear it.
    pub phone: Patch<E164>,
    /// Replacement list of other phones: with the primary one, at most 20, none twice.
    #[cfg_attr(feature = "openapi", schema(max_items = 20))]
    pub additional_phones: Option<Vec<E164>>,
    /// New title, or clear it.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, max_length = 200, pattern = r"^[^\u0000]*$"))]
    pub title: Patch<String>,
    /// New employer, or clear it.
    pub company_id: Patch<CompanyId>,
}

/// Narrows a list of people.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PersonFilter {
    /// Has this email, primary or additional.
    pub email: Option<EmailAddress>,
    /// Has this phone, primary or additional.
    pub phone: Option<E164>,
    /// First or last name contains this, case-insensitively.
    pub name: Option<String>,
    /// Works at this company.
    pub company_id: Option<CompanyId>,
    /// Created within.
    pub created: TimeRange,
}

impl NewPerson {
    /// Checks what the types cannot: lengths, at least one identifying field, and no address or
    /// number listed twice.
    ///
    /// # Errors
    /// A [`ValidationError`] naming each invalid field.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut v = Validator::new();
        check_person(
            &mut v,
            [&self.first_name, &self.last_name, &self.title],
            self.email.iter().chain(&self.additional_emails),
            self.phone.iter().chain(&self.additional_phones),
        );
        let named = [&self.first_name, &self.last_name]
            .iter()
            .any(|n| n.as_deref().is_some_and(|n| !n.trim().is_empty()));
        v.require(
            named || self.email.is_some() || self.phone.is_some(),
            "first_name",
            "a person needs a name, an email or a phone",
        );
        v.finish()
    }

    /// Applies a patch to a person, producing the full new state to validate and store.
    #[must_use]
    pub fn patched(person: &Person, patch: PersonPatch) -> Self {
        Self {
            first_name: patch.first_name.apply(person.first_name.clone()),
            last_name: patch.last_name.apply(person.last_name.clone()),
            email: patch.email.apply(person.email.clone()),
            additional_emails: patch
                .additional_emails
                .unwrap_or_else(|| person.additional_emails.clone()),
            phone: patch.phone.apply(person.phone.clone()),
            additional_phones: patch
                .additional_phones
                .unwrap_or_else(|| person.additional_phones.clone()),
            title: patch.title.apply(person.title.clone()),
            company_id: patch.company_id.apply(person.company_id),
        }
    }
}

fn check_person<'a>(
    v: &mut Validator,
    [first, last, title]: [&Option<String>; 3],
    emails: impl Iterator<Item = &'a EmailAddress>,
    phones: impl Iterator<Item = &'a E164>,
) {
    check_text(v, "first_name", first.as_deref().unwrap_or(""), false, 100);
    check_text(v, "last_name", last.as_deref().unwrap_or(""), false, 100);
    check_text(v, "title", title.as_deref().unwrap_or(""), false, 200);
    let emails: Vec<_> = emails.collect();
    let phones: Vec<_> = phones.collect();
    v.require(
        emails.len() <= 20,
        "additional_emails",
        "at most 20 emails per person",
    );
    v.require(
        phones.len() <= 20,
        "additional_phones",
        "at most 20 phones per person",
    );
    let unique_emails: std::collections::HashSet<_> = emails.iter().collect();
    v.require(
        unique_emails.len() == emails.len(),
        "additional_emails",
        "lists an email twice",
    );
    let unique_phones: std::collections::HashSet<_> = phones.iter().collect();
    v.require(
        unique_phones.len() == phones.len(),
        "additional_phones",
        "lists a phone twice",
    );
}
