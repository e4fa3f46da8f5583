//! Public lead forms: what a form takes ([`LeadForm`]), its public id, and the HMAC signature a
//! form with a shared secret requires of its submissions.

use chrono::{DateTime, Utc};
use rand::RngExt as _;
use serde::{Deserialize, Serialize};

use super::check_text;
use crate::error::{ValidationError, Validator};
use crate::ids::OrgId;

/// The honeypot field of a form when none is configured.
pub const DEFAULT_HONEYPOT_FIELD: &str = "website";
/// The fields a lead form may require.
pub const FORM_FIELDS: &[&str] = &[
    "first_name",
    "last_name",
    "email",
    "phone",
    "postal_code",
    "region",
    "country",
    "vertical",
    "consent",
];

pub use crate::ids::LeadFormId;

/// A new random public form id: `lf_` and 32 hex digits (128 random bits), safe to publish.
#[must_use]
pub fn new_public_form_id() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    let mut out = String::with_capacity(35);
    out.push_str("lf_");
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Whether `s` has the shape of a public form id (so lookups of junk can stop early).
#[must_use]
pub fn is_public_form_id(s: &str) -> bool {
    s.strip_prefix("lf_")
        .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A public lead form: where anonymous visitors submit leads, without an API key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeadForm {
    /// Its id.
    pub id: LeadFormId,
    /// The org it belongs to.
    pub org_id: OrgId,
    /// The id in its public URL, `POST /api/v1/forms/{public_form_id}/leads`.
    pub public_form_id: String,
    /// Name, 1–200 characters.
    pub name: String,
    /// The vertical of leads that do not name one.
    pub vertical: Option<String>,
    /// The honeypot field: a submission that fills it is answered as accepted and dropped.
    pub honeypot_field: String,
    /// Fields a submission must fill (a missing one is a 422 naming it).
    pub required_fields: Vec<String>,
    /// Whether submissions must be signed (`X-Form-Signature: sha256=<hex HMAC of the body>`).
    pub has_secret: bool,
    /// Whether it takes submissions.
    pub active: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Input for a new lead form. The signing secret travels separately, sealed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewLeadForm {
    /// Name, 1–200 characters.
    pub name: String,
    /// Default vertical, up to 100 characters.
    #[serde(default)]
    pub vertical: Option<String>,
    /// Honeypot field name (default `website`), 1–100 letters, digits, `_` or `-`.
    #[serde(default = "default_honeypot")]
    pub honeypot_field: String,
    /// Required fields, among `first_name`, `last_name`, `email`, `phone`, `postal_code`,
    /// `region`, `country`, `vertical`, `consent`.
    #[serde(default)]
    pub required_fields: Vec<String>,
    /// Takes submissions (default true).
    #[serde(default = "yes")]
    pub active: bool,
}

fn default_honeypot() -> String {
    DEFAULT_HONEYPOT_FIELD.to_owned()
}

const fn yes() -> bool {
    true
}

/// A change to a lead form.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct LeadFormPatch {
    /// New name.
    pub name: Option<String>,
    /// New default vertical, or clear it.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub vertical: super::Patch<String>,
    /// New honeypot field.
    pub honeypot_field: Option<String>,
    /// Replacement required fields.
    pub required_fields: Option<Vec<String>>,
    /// Open or close it.
    pub active: Option<bool>,
}

impl NewLeadForm {
    /// A form with the defaults: no vertical, honeypot `website`, nothing required, active.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            vertical: None,
            honeypot_field: default_honeypot(),
            required_fields: Vec::new(),
            active: true,
        }
    }

    /// Normalises (trims; lower-cases the vertical; de-duplicates required fields) and checks.
    ///
    /// # Errors
    /// A [`ValidationError`] naming each invalid field.
    pub fn validate(&mut self) -> Result<(), ValidationError> {
        let mut v = Validator::new();
        self.name = self.name.trim().to_owned();
        check_text(&mut v, "name", &self.name, true, 200);
        self.vertical = self
            .vertical
            .take()
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty());
        check_text(
            &mut v,
            "vertical",
            self.vertical.as_deref().unwrap_or(""),
            false,
            100,
        );
        self.honeypot_field = self.honeypot_field.trim().to_owned();
        v.require(
            (1..=100).contains(&self.honeypot_field.len())
                && self
                    .honeypot_field
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                && !FORM_FIELDS.contains(&self.honeypot_field.as_str()),
            "honeypot_field",
            "must be 1-100 letters, digits, _ or -, and not a lead field",
        );
        let mut seen = Vec::new();
        for (i, f) in self.required_fields.iter().enumerate() {
            let f = f.trim();
            v.require(
                FORM_FIELDS.contains(&f),
                &format!("required_fields[{i}]"),
                "must be one of first_name, last_name, email, phone, postal_code, region, country, vertical, consent",
            );
            if !seen.iter().any(|s: &String| s == f) {
                seen.push(f.to_owned());
            }
        }
        self.required_fields = seen;
        v.finish()
    }

    /// Applies a patch to a form, producing the full new state to validate and store.
    #[must_use]
    pub fn patched(f: &LeadForm, patch: LeadFormPatch) -> Self {
        Self {
            name: patch.name.unwrap_or_else(|| f.name.clone()),
            vertical: patch.vertical.apply(f.vertical.clone()),
            honeypot_field: patch
                .honeypot_field
                .unwrap_or_else(|| f.honeypot_field.clone()),
            required_fields: patch
                .required_fields
                .unwrap_or_else(|| f.required_fields.clone()),
            active: patch.active.unwrap_or(f.active),
        }
    }
}

/// Checks a form signing secret: 16–256 characters.
///
/// # Errors
/// A [`ValidationError`] on `secret`.
pub fn validate_form_secret(secret: &str) -> Result<(), ValidationError> {
    let mut v = Validator::new();
    v.require(
        (16..=256).contains(&secret.chars().count()),
        "secret",
        "must be 16 to 256 characters",
    );
    v.finish()
}

/// Whether `header` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under `secret`, compared in
/// constant time.
#[must_use]
pub fn verify_form_signature(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Some(given) = decode_hex(hex) else {
        return false;
    };
    let expected = crate::crypto::hmac_sha256(secret, body);
    crate::crypto::constant_time_eq(&given, &expected)
}

/// `sha256=<hex>`: the `X-Form-Signature` of `body` under `secret` (for senders and tests).
#[must_use]
pub fn form_signature(secret: &[u8], body: &[u8]) -> String {
    let mac = crate::crypto::hmac_sha256(secret, body);
    let mut out = String::from("sha256=");
    for b in mac {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}
