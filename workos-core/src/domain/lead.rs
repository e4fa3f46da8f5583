//! Lead generation: leads captured from forms, the fulfillment partners they are sold to, and
//! each delivery of a lead to a partner.
//!
//! A lead is stored once per submission. Capture deduplicates it against recent leads (a
//! [`DedupePolicy`]), links it to the person with the same email or phone (creating one when
//! there is none) and keeps two attributions: the *last touch* (the flat `utm_*`, `gclid`,
//! `fbclid`, `landing_page` and `referrer` fields of the submission) and the person's *first
//! touch* ([`Lead::first_touch`]), written with the person's first lead and copied, never
//! overwritten, onto every later one.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Currency, E164, EmailAddress, TimeRange, check_text};
use crate::error::{Error, ValidationError, Validator};
use crate::events::types;
use crate::ids::{LeadDeliveryId, LeadId, OrgId, PartnerId, PersonId};

/// The largest `answers` object, serialised, in bytes.
pub const MAX_ANSWERS_BYTES: usize = 32 * 1024;
/// The largest partner `response` kept with a delivery, serialised, in bytes.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// The longest dedupe window, in days.
pub const MAX_DEDUPE_WINDOW_DAYS: u32 = 3650;

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
    /// Where a lead stands. Capture stores `new` or `duplicate`; routing moves it on.
    #[non_exhaustive]
    LeadStatus, "status" {
        /// Captured, not yet routed.
        New = "new",
        /// A repeat of a recent lead (see [`Lead::duplicate_of`]); not routed.
        Duplicate = "duplicate",
        /// Waiting for routing (e.g. outside every partner's hours).
        Queued = "queued",
        /// Assigned to one or more partners.
        Routed = "routed",
        /// No partner would take it.
        Unrouted = "unrouted",
        /// Sent to its partner(s).
        Delivered = "delivered",
        /// A partner accepted it.
        Accepted = "accepted",
        /// The partner(s) rejected it.
        Rejected = "rejected",
        /// A partner returned it after accepting it.
        Returned = "returned",
    }
}

string_enum! {
    /// Where one delivery of a lead to a partner stands.
    ///
    /// `pending` → `delivered` | `failed`; `failed` → `delivered` | `failed` (a retry);
    /// `delivered` → `accepted` | `rejected` | `returned`; `accepted` → `returned`.
    /// `rejected` and `returned` are final.
    #[non_exhaustive]
    LeadDeliveryStatus, "status" {
        /// Recorded by routing, not yet sent.
        Pending = "pending",
        /// Sent; the partner's endpoint or mailbox took it.
        Delivered = "delivered",
        /// The partner accepted (bought) it.
        Accepted = "accepted",
        /// The partner rejected it.
        Rejected = "rejected",
        /// Sending failed (it may be retried).
        Failed = "failed",
        /// The partner returned it (with a [`ReturnReason`]); it no longer counts toward caps.
        Returned = "returned",
    }
}

impl LeadDeliveryStatus {
    /// Whether a delivery in this status may move to `next` (see the type's docs).
    #[must_use]
    pub const fn can_become(self, next: Self) -> bool {
        matches!(
            (self, next),
            (Self::Pending | Self::Failed, Self::Delivered | Self::Failed)
                | (
                    Self::Delivered,
                    Self::Accepted | Self::Rejected | Self::Returned
                )
                | (Self::Accepted, Self::Returned)
        )
    }

    /// Whether moving to this status is a delivery attempt (and so counts in `attempts`).
    #[must_use]
    pub const fn is_attempt(self) -> bool {
        matches!(self, Self::Delivered | Self::Failed)
    }

    /// The event a delivery emits when it reaches this status: `lead.routed` when recorded
    /// (`pending`), then `lead.delivered`, `lead.delivery_failed`, `lead.accepted`,
    /// `lead.rejected` or `lead.returned`.
    #[must_use]
    pub const fn event_type(self) -> &'static str {
        match self {
            Self::Pending => types::LEAD_ROUTED,
            Self::Delivered => types::LEAD_DELIVERED,
            Self::Failed => types::LEAD_DELIVERY_FAILED,
            Self::Accepted => types::LEAD_ACCEPTED,
            Self::Rejected => types::LEAD_REJECTED,
            Self::Returned => types::LEAD_RETURNED,
        }
    }
}

string_enum! {
    /// Why a partner returned a lead.
    #[non_exhaustive]
    ReturnReason, "return_reason" {
        /// The email or phone did not reach the person.
        BadContactInfo = "bad_contact_info",
        /// The partner already had this lead.
        Duplicate = "duplicate",
        /// The lead is outside the partner's service area.
        OutOfArea = "out_of_area",
        /// Anything else.
        Other = "other",
    }
}

string_enum! {
    /// A contact detail two leads are compared on to find duplicates.
    DedupeField, "fields" {
        /// The same email.
        Email = "email",
        /// The same phone.
        Phone = "phone",
        /// The same email *and* the same postal code.
        EmailPostalCode = "email_postal_code",
    }
}

string_enum! {
    /// Which earlier leads a new lead is compared with.
    DedupeScope, "scope" {
        /// Only leads of the same vertical (a lead without a vertical matches leads without one).
        SameVertical = "same_vertical",
        /// Leads of every vertical.
        All = "all",
    }
}

/// The consent a person gave when submitting a lead (e.g. TCPA express written consent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Consent {
    /// The exact consent language shown and agreed to, 1–5,000 characters, not blank.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 5000,
            pattern = r"^[^\u0000]*[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\u0000][^\u0000]*$"
        )
    )]
    pub text: String,
    /// When it was given.
    pub given_at: DateTime<Utc>,
    /// The address it was given from (IPv4 or IPv6).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = ip_address_schema))]
    pub ip: Option<IpAddr>,
}

/// The document's schema of an optional IP address: IPv4, IPv6 or `null`.
#[cfg(feature = "openapi")]
fn ip_address_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{
        KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type,
    };
    let ip = |format| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(format)))
    };
    Schema::OneOf(
        OneOfBuilder::new()
            .item(ip(KnownFormat::Ipv4))
            .item(ip(KnownFormat::Ipv6))
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .build(),
    )
}

/// Where a visit came from: UTM parameters, ad click ids, and the pages involved.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Attribution {
    /// `utm_source`.
    pub utm_source: Option<String>,
    /// `utm_medium`.
    pub utm_medium: Option<String>,
    /// `utm_campaign`.
    pub utm_campaign: Option<String>,
    /// `utm_term`.
    pub utm_term: Option<String>,
    /// `utm_content`.
    pub utm_content: Option<String>,
    /// Google Ads click id.
    pub gclid: Option<String>,
    /// Meta (Facebook) click id.
    pub fbclid: Option<String>,
    /// The page the visit landed on.
    pub landing_page: Option<String>,
    /// The referring page.
    pub referrer: Option<String>,
}

impl Attribution {
    /// Whether no field is set (a direct visit, or nothing was tracked).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A captured lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Lead {
    /// Its id.
    pub id: LeadId,
    /// The org it belongs to.
    pub org_id: OrgId,
    /// The person it was linked to (found by email or phone, or created). A duplicate carries
    /// the person of the lead it duplicates.
    pub person_id: Option<PersonId>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Email.
    pub email: Option<EmailAddress>,
    /// Phone.
    pub phone: Option<E164>,
    /// Postal code, upper-cased.
    pub postal_code: Option<String>,
    /// Region (state, province) code, upper-cased, e.g. `CA` or `US-CA`.
    pub region: Option<String>,
    /// ISO 3166-1 alpha-2 country code, e.g. `US`.
    pub country: Option<String>,
    /// The product line, lower-cased, e.g. `solar`.
    pub vertical: Option<String>,
    /// The form's other answers: a JSON object.
    pub answers: serde_json::Value,
    /// The consent given.
    pub consent: Option<Consent>,
    /// Last touch: `utm_source`.
    pub utm_source: Option<String>,
    /// Last touch: `utm_medium`.
    pub utm_medium: Option<String>,
    /// Last touch: `utm_campaign`.
    pub utm_campaign: Option<String>,
    /// Last touch: `utm_term`.
    pub utm_term: Option<String>,
    /// Last touch: `utm_content`.
    pub utm_content: Option<String>,
    /// Last touch: Google Ads click id.
    pub gclid: Option<String>,
    /// Last touch: Meta click id.
    pub fbclid: Option<String>,
    /// Last touch: the landing page.
    pub landing_page: Option<String>,
    /// Last touch: the referrer.
    pub referrer: Option<String>,
    /// The person's first touch: this lead's own attribution when it is the person's first
    /// lead, else a copy of the first lead's. Never overwritten. `None` when the first lead
    /// carried no attribution at all.
    pub first_touch: Option<Attribution>,
    /// Where it stands.
    pub status: LeadStatus,
    /// The earlier lead this one repeats, when capture found it a duplicate (kept if the status
    /// is later overridden).
    pub duplicate_of: Option<LeadId>,
    /// The team's notes on it (set with a patch; never sent to partners).
    pub notes: Option<String>,
    /// When it was captured.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl Lead {
    /// The lead's own (last-touch) attribution.
    #[must_use]
    pub fn last_touch(&self) -> Attribution {
        Attribution {
            utm_source: self.utm_source.clone(),
            utm_medium: self.utm_medium.clone(),
            utm_campaign: self.utm_campaign.clone(),
            utm_term: self.utm_term.clone(),
            utm_content: self.utm_content.clone(),
            gclid: self.gclid.clone(),
            fbclid: self.fbclid.clone(),
            landing_page: self.landing_page.clone(),
            referrer: self.referrer.clone(),
        }
    }
}

/// A change to a lead: its status and the team's notes. Absent fields are kept; `notes: null`
/// clears them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct LeadPatch {
    /// The new status: any but `duplicate`, which only capture sets. A change emits
    /// `lead.status_changed`.
    #[cfg_attr(feature = "openapi", schema(schema_with = settable_lead_status))]
    pub status: Option<LeadStatus>,
    /// New notes (up to 10,000 characters), or `null` to clear them. A change emits
    /// `lead.updated`.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<String>, max_length = 10000, pattern = r"^[^\u0000]*$")
    )]
    pub notes: super::Patch<String>,
}

/// The document's schema of [`LeadPatch::status`]: `null` or any status but `duplicate`.
#[cfg(feature = "openapi")]
fn settable_lead_status() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
    let one_of = OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .item(
            ObjectBuilder::new().schema_type(Type::String).enum_values(Some(
                LeadStatus::ALL
                    .iter()
                    .filter(|s| **s != LeadStatus::Duplicate)
                    .map(|s| s.as_str()),
            )),
        )
        .description(Some(
            "The new status: any but `duplicate`, which only capture sets. A change emits\n`lead.status_changed`.",
        ))
        .build();
    Schema::OneOf(one_of)
}

/// The longest notes a lead may hold, in characters.
pub const MAX_LEAD_NOTES_CHARS: usize = 10_000;

impl LeadPatch {
    /// Checks what the types cannot.
    ///
    /// # Errors
    /// A [`ValidationError`] naming `status` (`duplicate`) or `notes` (too long, NUL).
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut v = Validator::new();
        v.require(
            self.status != Some(LeadStatus::Duplicate),
            "status",
            "duplicate is set only by capture",
        );
        if let super::Patch::Set(notes) = &self.notes {
            check_text(&mut v, "notes", notes, false, MAX_LEAD_NOTES_CHARS);
        }
        v.finish()
    }
}

/// A lead as submitted. An email or a phone is required.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct NewLead {
    /// Given name, up to 100 characters.
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 100, pattern = r"^[^\u0000]*$")
    )]
    pub first_name: Option<String>,
    /// Family name, up to 100 characters.
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 100, pattern = r"^[^\u0000]*$")
    )]
    pub last_name: Option<String>,
    /// Email.
    pub email: Option<EmailAddress>,
    /// Phone.
    pub phone: Option<E164>,
    /// Postal code, up to 20 letters, digits, spaces or dashes.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9 -]{0,20}$"))]
    pub postal_code: Option<String>,
    /// Region code, up to 100 characters.
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 100, pattern = r"^[^\u0000]*$")
    )]
    pub region: Option<String>,
    /// ISO 3166-1 alpha-2 country code.
    #[cfg_attr(feature = "openapi", schema(pattern = "^([A-Za-z]{2})?$"))]
    pub country: Option<String>,
    /// Product line, up to 100 characters.
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 100, pattern = r"^[^\u0000]*$")
    )]
    pub vertical: Option<String>,
    /// Other answers: a JSON object of at most 32 KiB (`null` or absent means `{}`), with no
    /// NUL character in any key or string (Postgres cannot store one).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub answers: serde_json::Value,
    /// The consent given.
    pub consent: Option<Consent>,
    /// `utm_source`, up to 500 characters (as are the other UTM fields and click ids).
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 500, pattern = r"^[^\u0000]*$")
    )]
    pub utm_source: Option<String>,
    /// `utm_medium`.
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 500, pattern = r"^[^\u0000]*$")
    )]
    pub utm_medium: Option<String>,
    /// `utm_campaign`.
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 500, pattern = r"^[^\u0000]*$")
    )]
    pub utm_campaign: Option<String>,
    /// `utm_term`.
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 500, pattern = r"^[^\u0000]*$")
    )]
    pub utm_term: Option<String>,
    /// `utm_content`.
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 500, pattern = r"^[^\u0000]*$")
    )]
    pub utm_content: Option<String>,
    /// Google Ads click id.
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 500, pattern = r"^[^\u0000]*$")
    )]
    pub gclid: Option<String>,
    /// Meta click id.
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 500, pattern = r"^[^\u0000]*$")
    )]
    pub fbclid: Option<String>,
    /// The landing page, up to 2,048 characters.
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 2048, pattern = r"^[^\u0000]*$")
    )]
    pub landing_page: Option<String>,
    /// The referrer, up to 2,048 characters.
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 2048, pattern = r"^[^\u0000]*$")
    )]
    pub referrer: Option<String>,
}

/// Whether a JSON value holds NUL in any string or object key, at any depth.
fn holds_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(holds_nul),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

/// Trims a text field; blank becomes `None`.
fn clean(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

impl NewLead {
    /// The submission's attribution (its last touch).
    #[must_use]
    pub fn touch(&self) -> Attribution {
        Attribution {
            utm_source: self.utm_source.clone(),
            utm_medium: self.utm_medium.clone(),
            utm_campaign: self.utm_campaign.clone(),
            utm_term: self.utm_term.clone(),
            utm_content: self.utm_content.clone(),
            gclid: self.gclid.clone(),
            fbclid: self.fbclid.clone(),
            landing_page: self.landing_page.clone(),
            referrer: self.referrer.clone(),
        }
    }

    /// Normalises the input (trims text, blank to absent, upper-cases postal code, region and
    /// country, lower-cases the vertical, `null` answers to `{}`) and checks what the types
    /// cannot.
    ///
    /// # Errors
    /// A [`ValidationError`] naming each invalid field (`email` when neither an email nor a
    /// phone is given; `consent.text` for consent).
    pub fn validate(&mut self) -> Result<(), ValidationError> {
        let mut v = Validator::new();
        self.postal_code = clean(self.postal_code.take()).map(|s| s.to_uppercase());
        self.region = clean(self.region.take()).map(|s| s.to_uppercase());
        self.country = clean(self.country.take()).map(|s| s.to_ascii_uppercase());
        self.vertical = clean(self.vertical.take()).map(|s| s.to_lowercase());
        for (field, value, max) in [
            ("first_name", &mut self.first_name, 100),
            ("last_name", &mut self.last_name, 100),
            ("region", &mut self.region, 100),
            ("vertical", &mut self.vertical, 100),
            ("utm_source", &mut self.utm_source, 500),
            ("utm_medium", &mut self.utm_medium, 500),
            ("utm_campaign", &mut self.utm_campaign, 500),
            ("utm_term", &mut self.utm_term, 500),
            ("utm_content", &mut self.utm_content, 500),
            ("gclid", &mut self.gclid, 500),
            ("fbclid", &mut self.fbclid, 500),
            ("landing_page", &mut self.landing_page, 2048),
            ("referrer", &mut self.referrer, 2048),
        ] {
            *value = clean(value.take());
            check_text(&mut v, field, value.as_deref().unwrap_or(""), false, max);
        }
        v.require(
            self.email.is_some() || self.phone.is_some(),
            "email",
            "a lead needs an email or a phone",
        );
        if let Some(p) = &self.postal_code {
            v.require(
                p.chars().count() <= 20
                    && p.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-'),
                "postal_code",
                "must be at most 20 letters, digits, spaces or dashes",
            );
        }
        if let Some(c) = &self.country {
            v.require(
                c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()),
                "country",
                "must be an ISO 3166-1 alpha-2 code such as US",
            );
        }
        if self.answers.is_null() {
            self.answers = serde_json::Value::Object(serde_json::Map::new());
        }
        v.require(self.answers.is_object(), "answers", "must be a JSON object");
        v.require(
            serde_json::to_vec(&self.answers).is_ok_and(|b| b.len() <= MAX_ANSWERS_BYTES),
            "answers",
            "must be at most 32 KiB",
        );
        v.require(
            !holds_nul(&self.answers),
            "answers",
            "must not contain NUL characters, in keys or values",
        );
        if let Some(c) = &mut self.consent {
            c.text = c.text.trim().to_owned();
            check_text(&mut v, "consent.text", &c.text, true, 5000);
        }
        v.finish()
    }
}

/// How capture finds duplicates: a new lead is a duplicate when a non-duplicate lead of the
/// org captured less than `window_days` before it (or later: a concurrent capture), in the same
/// vertical with [`DedupeScope::SameVertical`], matches it on any of `fields`.
///
/// The default compares email and phone over 30 days within the same vertical. No fields, or
/// a window of 0 days, turns deduplication off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct DedupePolicy {
    /// What to compare; a match on any one makes a duplicate.
    pub fields: Vec<DedupeField>,
    /// How far back to look, in days (at most 3,650).
    #[cfg_attr(feature = "openapi", schema(maximum = 3650))]
    pub window_days: u32,
    /// Which earlier leads to compare with.
    pub scope: DedupeScope,
}

impl Default for DedupePolicy {
    fn default() -> Self {
        Self {
            fields: vec![DedupeField::Email, DedupeField::Phone],
            window_days: 30,
            scope: DedupeScope::SameVertical,
        }
    }
}

impl DedupePolicy {
    /// A policy that finds no duplicates.
    #[must_use]
    pub const fn off() -> Self {
        Self {
            fields: Vec::new(),
            window_days: 0,
            scope: DedupeScope::All,
        }
    }

    /// Whether the policy can find duplicates at all.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        !self.fields.is_empty() && self.window_days > 0
    }

    /// Checks the window.
    ///
    /// # Errors
    /// A [`ValidationError`] on `window_days` beyond [`MAX_DEDUPE_WINDOW_DAYS`].
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut v = Validator::new();
        v.require(
            self.window_days <= MAX_DEDUPE_WINDOW_DAYS,
            "window_days",
            "must be at most 3650",
        );
        v.finish()
    }
}

/// Narrows a list of leads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeadFilter {
    /// With this status.
    pub status: Option<LeadStatus>,
    /// Delivered (in any delivery status) to this partner.
    pub partner_id: Option<PartnerId>,
    /// With this last-touch `utm_source`.
    pub utm_source: Option<String>,
    /// With this last-touch `utm_campaign`.
    pub utm_campaign: Option<String>,
    /// Captured within.
    pub created: TimeRange,
}

/// One routing of a lead to a partner, and how its sending and sale went. A lead goes to a
/// partner at most once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeadDelivery {
    /// Its id.
    pub id: LeadDeliveryId,
    /// The org it belongs to.
    pub org_id: OrgId,
    /// The lead.
    pub lead_id: LeadId,
    /// The partner.
    pub partner_id: PartnerId,
    /// The routing rule that chose the partner, for reporting.
    pub rule: Option<String>,
    /// The price the lead was sold at, in minor units of `currency`.
    pub price_minor: i64,
    /// The partner's currency when the delivery was recorded.
    pub currency: Currency,
    /// Where it stands.
    pub status: LeadDeliveryStatus,
    /// Sending attempts made (each move to `delivered` or `failed` counts one).
    pub attempts: u32,
    /// The partner's last response (e.g. HTTP status and body), as JSON.
    pub response: Option<serde_json::Value>,
    /// Why the partner returned it, when `returned`.
    pub return_reason: Option<ReturnReason>,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Narrows a list of a partner's deliveries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeadDeliveryFilter {
    /// With this status.
    pub status: Option<LeadDeliveryStatus>,
    /// Recorded within.
    pub created: TimeRange,
}

/// Checks the inputs of a new delivery.
///
/// # Errors
/// A [`ValidationError`] on `rule` (over 200 characters) or `price_minor` (negative).
pub fn validate_new_delivery(rule: Option<&str>, price_minor: i64) -> Result<(), ValidationError> {
    let mut v = Validator::new();
    check_text(&mut v, "rule", rule.unwrap_or(""), false, 200);
    v.require(price_minor >= 0, "price_minor", "must not be negative");
    v.finish()
}

/// Checks a delivery update's inputs against its new status.
///
/// # Errors
/// A [`ValidationError`] on `return_reason` (required exactly when `returned`) or `response`
/// (over 64 KiB).
pub fn validate_delivery_update(
    status: LeadDeliveryStatus,
    response: Option<&serde_json::Value>,
    return_reason: Option<ReturnReason>,
) -> Result<(), ValidationError> {
    let mut v = Validator::new();
    let returned = status == LeadDeliveryStatus::Returned;
    v.require(
        !returned || return_reason.is_some(),
        "return_reason",
        "is required when returning a lead",
    );
    v.require(
        returned || return_reason.is_none(),
        "return_reason",
        "is only for returned leads",
    );
    if let Some(r) = response {
        v.require(
            serde_json::to_vec(r).is_ok_and(|b| b.len() <= MAX_RESPONSE_BYTES),
            "response",
            "must be at most 64 KiB",
        );
    }
    v.finish()
}

#[cfg(test)]
mod tests {
    // The partner tests sit with the lead ones (they share fixtures).
    use super::*;
    use crate::domain::*;

    fn lead() -> NewLead {
        NewLead {
            email: Some(EmailAddress::parse("ann@example.com").unwrap()),
            ..NewLead::default()
        }
    }

    fn fields(e: ValidationError) -> Vec<String> {
        e.errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn lead_is_normalised_and_checked() {
        let mut l = NewLead {
            first_name: Some("  Ann ".into()),
            last_name: Some("   ".into()),
            postal_code: Some(" sw1a 1aa ".into()),
            country: Some("gb".into()),
            vertical: Some(" Solar ".into()),
            answers: serde_json::Value::Null,
            ..lead()
        };
        l.validate().unwrap();
        assert_eq!(l.first_name.as_deref(), Some("Ann"));
        assert_eq!(l.last_name, None);
        assert_eq!(l.postal_code.as_deref(), Some("SW1A 1AA"));
        assert_eq!(l.country.as_deref(), Some("GB"));
        assert_eq!(l.vertical.as_deref(), Some("solar"));
        assert_eq!(l.answers, serde_json::json!({}));

        let mut bad = NewLead {
            email: None,
            country: Some("USA".into()),
            answers: serde_json::json!([1]),
            utm_source: Some("x".repeat(501)),
            consent: Some(Consent {
                text: " ".into(),
                given_at: Utc::now(),
                ip: None,
            }),
            ..NewLead::default()
        };
        let f = fields(bad.validate().unwrap_err());
        for field in ["email", "country", "answers", "utm_source", "consent.text"] {
            assert!(f.iter().any(|x| x == field), "{field} missing from {f:?}");
        }
        let mut big = NewLead {
            answers: serde_json::json!({ "a": "x".repeat(MAX_ANSWERS_BYTES) }),
            ..lead()
        };
        assert_eq!(fields(big.validate().unwrap_err()), ["answers"]);
        for answers in [
            serde_json::json!({ "a\0": 1 }),
            serde_json::json!({ "a": { "b": ["ok", "x\0"] } }),
        ] {
            let mut nul = NewLead { answers, ..lead() };
            assert_eq!(fields(nul.validate().unwrap_err()), ["answers"]);
        }
    }

    #[test]
    fn lead_input_rejects_unknown_fields() {
        let ok: NewLead =
            serde_json::from_str(r#"{"phone":"+14155552671","consent":{"text":"yes","given_at":"2026-01-01T00:00:00Z","ip":"203.0.113.9"}}"#)
                .unwrap();
        assert_eq!(ok.consent.unwrap().ip, Some("203.0.113.9".parse().unwrap()));
        assert!(serde_json::from_str::<NewLead>(r#"{"emial":"a@b.co"}"#).is_err());
    }

    #[test]
    fn timezones_are_checked_by_shape() {
        for ok in [
            "UTC",
            "Etc/UTC",
            "Etc/GMT+5",
            "America/New_York",
            "America/Argentina/Buenos_Aires",
            "America/Port-au-Prince",
            "Europe/London",
        ] {
            assert!(is_timezone_name(ok), "{ok}");
        }
        for bad in [
            "",
            "utc",
            "Mars/Olympus",
            "America",
            "America/",
            "america/new_york",
            "Europe/London/x/y",
            "Etc/GMT+99",
            "EST; DROP",
        ] {
            assert!(!is_timezone_name(bad), "{bad}");
        }
    }

    #[test]
    fn partner_is_normalised_and_checked() {
        let url = HttpUrl::parse("https://buyer.example.com/leads").unwrap();
        let mut p = NewPartner {
            verticals: vec![" Solar".into(), "solar".into(), "Roofing".into()],
            regions: vec!["ca".into(), "941".into(), "CA".into()],
            ..NewPartner::new(" Buyer ", PartnerDelivery::Webhook { url })
        };
        p.validate().unwrap();
        assert_eq!(p.name, "Buyer");
        assert_eq!(p.verticals, ["solar", "roofing"]);
        assert_eq!(p.regions, ["CA", "941"]);

        let mut bad = NewPartner {
            weight: 0,
            price_minor: -1,
            daily_cap: Some(10),
            monthly_cap: Some(5),
            timezone: "Nowhere/Town".into(),
            regions: vec!["".into(), "a*b".into()],
            ..p
        };
        let f = fields(bad.validate().unwrap_err());
        for field in [
            "weight",
            "price_minor",
            "daily_cap",
            "timezone",
            "regions[0]",
        ] {
            assert!(f.iter().any(|x| x == field), "{field} missing from {f:?}");
        }
    }

    #[test]
    fn partner_delivery_is_tagged() {
        let d: PartnerDelivery =
            serde_json::from_str(r#"{"kind":"email","address":"Leads@Buyer.com"}"#).unwrap();
        assert_eq!(
            d,
            PartnerDelivery::Email {
                address: EmailAddress::parse("leads@buyer.com").unwrap()
            }
        );
        assert_eq!(
            serde_json::to_value(&d).unwrap(),
            serde_json::json!({"kind": "email", "address": "leads@buyer.com"})
        );
        for bad in [
            r#"{"kind":"webhook","url":"ftp://buyer.com"}"#,
            r#"{"kind":"webhook","url":"https://b.com","extra":1}"#,
            r#"{"kind":"fax","number":"1"}"#,
        ] {
            assert!(
                serde_json::from_str::<PartnerDelivery>(bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn delivery_statuses_move_forward_only() {
        use LeadDeliveryStatus as S;
        assert!(S::Pending.can_become(S::Delivered));
        assert!(S::Failed.can_become(S::Failed));
        assert!(S::Delivered.can_become(S::Returned));
        assert!(S::Accepted.can_become(S::Returned));
        assert!(!S::Pending.can_become(S::Accepted));
        assert!(!S::Returned.can_become(S::Delivered));
        assert!(!S::Rejected.can_become(S::Returned));
        assert!(!S::Delivered.can_become(S::Pending));
        assert_eq!(S::Pending.event_type(), "lead.routed");
        assert!(validate_delivery_update(S::Returned, None, None).is_err());
        assert!(validate_delivery_update(S::Delivered, None, Some(ReturnReason::Other)).is_err());
        assert!(validate_delivery_update(S::Returned, None, Some(ReturnReason::Other)).is_ok());
    }

    #[test]
    fn dedupe_policy_defaults() {
        let p: DedupePolicy = serde_json::from_str("{}").unwrap();
        assert_eq!(p, DedupePolicy::default());
        assert_eq!(p.fields, [DedupeField::Email, DedupeField::Phone]);
        assert_eq!((p.window_days, p.scope), (30, DedupeScope::SameVertical));
        assert!(!DedupePolicy::off().is_enabled());
        let wide = DedupePolicy {
            window_days: 5000,
            ..DedupePolicy::default()
        };
        assert!(wide.validate().is_err());
    }
}
