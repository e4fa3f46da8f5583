//! CRM records: companies, people, deals, tasks and interactions.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Currency, E164, EmailAddress, Money, Patch, TimeRange, Timestamp, check_text};
use crate::error::{Error, ValidationError, Validator};
use crate::ids::{
    CallId, CompanyId, DealId, EmailId, InteractionId, OrgId, PersonId, SmsId, TaskId, UserId,
};

/// Declares a closed string enum with serde, `Display`, `FromStr` and `as_str`.
///
/// Each value is a `tt`, not a `literal`: a `literal` fragment reaches utoipa's derive
/// wrapped in an invisible group, which it does not read as `#[serde(rename = …)]`, and the
/// OpenAPI schema then listed the Rust variant names instead of the values sent.
macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident, $field:literal { $($(#[$vdoc:meta])* $variant:ident = $s:tt),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $s)] $variant),+
        }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The value's name as stored and shown.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $s),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(s: &str) -> Result<Self, Error> {
                match s {
                    $($s => Ok(Self::$variant),)+
                    _ => Err(Error::invalid($field, concat!("must be one of: ", $($s, " "),+).trim_end())),
                }
            }
        }
    };
}

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

string_enum! {
    /// A task's progress.
    #[non_exhaustive]
    TaskStatus, "status" {
        /// To do.
        Open = "open",
        /// Being worked on.
        InProgress = "in_progress",
        /// Finished.
        Done = "done",
        /// Dropped.
        Canceled = "canceled",
    }
}

string_enum! {
    /// A task's urgency.
    #[non_exhaustive]
    TaskPriority, "priority" {
        /// Whenever.
        Low = "low",
        /// The default.
        Normal = "normal",
        /// Soon.
        High = "high",
        /// Now.
        Urgent = "urgent",
    }
}

string_enum! {
    /// What an interaction records.
    #[non_exhaustive]
    InteractionKind, "kind" {
        /// An email (created by the Gmail channel).
        Email = "email",
        /// An SMS or MMS (created by the Twilio channel).
        Sms = "sms",
        /// A phone call (created by the Twilio channel).
        Call = "call",
        /// A note written by a user.
        Note = "note",
        /// A meeting.
        Meeting = "meeting",
    }
}

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
    /// Other emails.
    pub additional_emails: Vec<EmailAddress>,
    /// Primary phone.
    pub phone: Option<E164>,
    /// Other phones.
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
    /// Replacement list of other emails.
    pub additional_emails: Option<Vec<EmailAddress>>,
    /// New primary phone, or clear it.
    pub phone: Patch<E164>,
    /// Replacement list of other phones.
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

fn check_amount(v: &mut Validator, amount: Option<&Money>) {
    if let Some(m) = amount {
        v.require(m.amount_minor >= 0, "amount_minor", "must not be negative");
    }
}

/// Builds a [`Money`] from the two flat fields the API uses (`amount_minor`, `currency`).
///
/// # Errors
/// A [`ValidationError`] when only one of the two is given or the currency is unknown.
pub fn money_from_parts(
    amount_minor: Option<i64>,
    currency: Option<&str>,
) -> Result<Option<Money>, ValidationError> {
    match (amount_minor, currency) {
        (None, None) => Ok(None),
        (Some(amount_minor), Some(c)) => {
            let currency =
                Currency::parse(c).map_err(|e| ValidationError::new("currency", e.to_string()))?;
            Ok(Some(Money {
                amount_minor,
                currency,
            }))
        }
        (Some(_), None) => Err(ValidationError::new(
            "currency",
            "is required with amount_minor",
        )),
        (None, Some(_)) => Err(ValidationError::new(
            "amount_minor",
            "is required with currency",
        )),
    }
}

/// A task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Task {
    /// Its id.
    pub id: TaskId,
    /// The org it belongs to.
    pub org_id: OrgId,
    /// Title, 1–300 characters.
    pub title: String,
    /// Progress.
    pub status: TaskStatus,
    /// Urgency.
    pub priority: TaskPriority,
    /// When it is due.
    pub due_at: Option<DateTime<Utc>>,
    /// Who does it.
    pub assignee_id: Option<UserId>,
    /// The person it is about.
    pub person_id: Option<PersonId>,
    /// The company it is about.
    pub company_id: Option<CompanyId>,
    /// The deal it is about.
    pub deal_id: Option<DealId>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Input for a new task.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    /// Title, 1–300 characters.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 300,
            pattern = r"^[^\u0000]*[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\u0000][^\u0000]*$"
        )
    )]
    pub title: String,
    /// Progress; defaults to `open`.
    #[serde(default = "default_status")]
    pub status: TaskStatus,
    /// Urgency; defaults to `normal`.
    #[serde(default = "default_priority")]
    pub priority: TaskPriority,
    /// When it is due.
    #[serde(default)]
    pub due_at: Option<DateTime<Utc>>,
    /// Who does it.
    #[serde(default)]
    pub assignee_id: Option<UserId>,
    /// The person it is about.
    #[serde(default)]
    pub person_id: Option<PersonId>,
    /// The company it is about.
    #[serde(default)]
    pub company_id: Option<CompanyId>,
    /// The deal it is about.
    #[serde(default)]
    pub deal_id: Option<DealId>,
}

const fn default_status() -> TaskStatus {
    TaskStatus::Open
}

const fn default_priority() -> TaskPriority {
    TaskPriority::Normal
}

/// A change to a task.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
#[serde(deny_unknown_fields)]
pub struct TaskPatch {
    /// New title.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 300,
            pattern = r"^[^\u0000]*[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\u0000][^\u0000]*$"
        )
    )]
    pub title: Option<String>,
    /// New status.
    pub status: Option<TaskStatus>,
    /// New priority.
    pub priority: Option<TaskPriority>,
    /// New due time, or clear it.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub due_at: Patch<Timestamp>,
    /// New assignee, or clear it.
    pub assignee_id: Patch<UserId>,
    /// New person, or clear it.
    pub person_id: Patch<PersonId>,
    /// New company, or clear it.
    pub company_id: Patch<CompanyId>,
    /// New deal, or clear it.
    pub deal_id: Patch<DealId>,
}

/// Narrows a list of tasks.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaskFilter {
    /// With this status.
    pub status: Option<TaskStatus>,
    /// Assigned to this user.
    pub assignee_id: Option<UserId>,
    /// Due strictly before this time.
    pub due_before: Option<DateTime<Utc>>,
    /// About this person.
    pub person_id: Option<PersonId>,
    /// About this company.
    pub company_id: Option<CompanyId>,
    /// About this deal.
    pub deal_id: Option<DealId>,
}

impl NewTask {
    /// An open, normal-priority task with nothing else set.
    pub fn titled(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            status: TaskStatus::Open,
            priority: TaskPriority::Normal,
            due_at: None,
            assignee_id: None,
            person_id: None,
            company_id: None,
            deal_id: None,
        }
    }

    /// Checks what the types cannot.
    ///
    /// # Errors
    /// A [`ValidationError`] naming each invalid field.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut v = Validator::new();
        check_text(&mut v, "title", &self.title, true, 300);
        v.finish()
    }

    /// Applies a patch to a task, producing the full new state to validate and store.
    #[must_use]
    pub fn patched(task: &Task, patch: TaskPatch) -> Self {
        Self {
            title: patch.title.unwrap_or_else(|| task.title.clone()),
            status: patch.status.unwrap_or(task.status),
            priority: patch.priority.unwrap_or(task.priority),
            due_at: patch.due_at.apply(task.due_at),
            assignee_id: patch.assignee_id.apply(task.assignee_id),
            person_id: patch.person_id.apply(task.person_id),
            company_id: patch.company_id.apply(task.company_id),
            deal_id: patch.deal_id.apply(task.deal_id),
        }
    }
}

/// An entry on a record's timeline: a note, a meeting, or a communication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Interaction {
    /// Its id.
    pub id: InteractionId,
    /// The org it belongs to.
    pub org_id: OrgId,
    /// What it records.
    pub kind: InteractionKind,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// A one-line summary, up to 500 characters.
    pub summary: String,
    /// Longer text, up to 100,000 characters.
    pub body: Option<String>,
    /// The person involved.
    pub person_id: Option<PersonId>,
    /// The company involved.
    pub company_id: Option<CompanyId>,
    /// The deal involved.
    pub deal_id: Option<DealId>,
    /// The email it records (entries made by Gmail sync and sends); `null` for other entries.
    pub email_id: Option<EmailId>,
    /// The SMS it records (entries made for messages); `null` for other entries.
    pub sms_id: Option<SmsId>,
    /// The call it records (entries made for calls); `null` for other entries.
    pub call_id: Option<CallId>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// The kinds a client may record itself, in the document.
#[cfg(feature = "openapi")]
fn recordable_interaction_kind() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(
            [InteractionKind::Note, InteractionKind::Meeting].map(|k| k.as_str()),
        ))
        .build()
}

/// Input for a new interaction.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewInteraction {
    /// What it records: `note` or `meeting` (emails, SMS and calls are recorded by their
    /// channels).
    #[cfg_attr(feature = "openapi", schema(schema_with = recordable_interaction_kind))]
    pub kind: InteractionKind,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// A one-line summary.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 500,
            pattern = r"^[^\u0000]*[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\u0000][^\u0000]*$"
        )
    )]
    pub summary: String,
    /// Longer text.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 100000, pattern = r"^[^\u0000]*$")
    )]
    pub body: Option<String>,
    /// The person involved.
    #[serde(default)]
    pub person_id: Option<PersonId>,
    /// The company involved.
    #[serde(default)]
    pub company_id: Option<CompanyId>,
    /// The deal involved.
    #[serde(default)]
    pub deal_id: Option<DealId>,
}

/// A change to an interaction.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
#[serde(deny_unknown_fields)]
pub struct InteractionPatch {
    /// New time.
    pub occurred_at: Option<DateTime<Utc>>,
    /// New summary.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 500,
            pattern = r"^[^\u0000]*[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\u0000][^\u0000]*$"
        )
    )]
    pub summary: Option<String>,
    /// New body, or clear it.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, max_length = 100000, pattern = r"^[^\u0000]*$"))]
    pub body: Patch<String>,
    /// New person, or clear it.
    pub person_id: Patch<PersonId>,
    /// New company, or clear it.
    pub company_id: Patch<CompanyId>,
    /// New deal, or clear it.
    pub deal_id: Patch<DealId>,
}

/// Narrows a list of interactions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InteractionFilter {
    /// Of this kind.
    pub kind: Option<InteractionKind>,
    /// Involving this person.
    pub person_id: Option<PersonId>,
    /// Involving this company.
    pub company_id: Option<CompanyId>,
    /// Involving this deal.
    pub deal_id: Option<DealId>,
    /// Happened within.
    pub occurred: TimeRange,
}

impl NewInteraction {
    /// A note about nothing yet, happening now.
    pub fn note(summary: impl Into<String>) -> Self {
        Self {
            kind: InteractionKind::Note,
            occurred_at: super::now(),
            summary: summary.into(),
            body: None,
            person_id: None,
            company_id: None,
            deal_id: None,
        }
    }

    /// Checks what the types cannot.
    ///
    /// # Errors
    /// A [`ValidationError`] naming each invalid field.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut v = Validator::new();
        check_text(&mut v, "summary", &self.summary, true, 500);
        check_text(
            &mut v,
            "body",
            self.body.as_deref().unwrap_or(""),
            false,
            100_000,
        );
        v.finish()
    }

    /// Applies a patch to an interaction, producing the full new state to validate and store.
    #[must_use]
    pub fn patched(i: &Interaction, patch: InteractionPatch) -> Self {
        Self {
            kind: i.kind,
            occurred_at: patch.occurred_at.unwrap_or(i.occurred_at),
            summary: patch.summary.unwrap_or_else(|| i.summary.clone()),
            body: patch.body.apply(i.body.clone()),
            person_id: patch.person_id.apply(i.person_id),
            company_id: patch.company_id.apply(i.company_id),
            deal_id: patch.deal_id.apply(i.deal_id),
        }
    }
}
