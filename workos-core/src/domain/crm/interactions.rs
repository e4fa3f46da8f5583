//! Interactions: notes, meetings and communications on a record's timeline.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{Patch, TimeRange, check_text};
use crate::error::{ValidationError, Validator};
use crate::ids::{CallId, CompanyId, DealId, EmailId, InteractionId, OrgId, PersonId, SmsId};

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
            occurred_at: super::super::now(),
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
