//! The public intake: a submission to a lead form, from anyone, captured and routed like an
//! authenticated `POST /leads` ([`submit`]).
//!
//! In order: the form is looked up by its public id (live and active, or not found); a form
//! with a secret needs the body's HMAC-SHA256 signature (`sha256=<hex>`); the body is read (JSON
//! as is; a URL-encoded form's lead fields as strings and every other field under `answers`);
//! a filled honeypot field drops the submission quietly; the form's vertical fills in a missing
//! one; each missing required field is named; the consent's address is the submitter's as the
//! caller determined it (an address in the body is dropped); then the lead is captured and
//! routed in the form's org.
//!
//! What stays with the caller (it is about the transport): the per-client rate limit, the body
//! size limit, and who the client is (`X-Forwarded-For` behind trusted proxies).

use std::net::IpAddr;

use serde_json::{Map, Value};
use workos_core::Error;
use workos_core::crypto::Cipher;
use workos_core::domain::{Lead, NewLead, verify_form_signature};
use workos_core::error::{FieldError, ValidationError};
use workos_core::json::JsonObjectError;
use workos_core::repo::{LeadFormRepo, RoutingRepo};
use workos_core::tenant::TenantContext;

/// The lead fields a URL-encoded submission may fill; its other fields are `answers`.
const URL_ENCODED_LEAD_FIELDS: &[&str] = &[
    "first_name",
    "last_name",
    "email",
    "phone",
    "postal_code",
    "region",
    "country",
    "vertical",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "gclid",
    "fbclid",
    "landing_page",
    "referrer",
];

/// How the body is encoded (from its `Content-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `application/json` or `…+json`.
    Json,
    /// `application/x-www-form-urlencoded`.
    FormUrlEncoded,
    /// Anything else: refused, once the form and signature are checked.
    Other,
}

impl BodyFormat {
    /// The format a `Content-Type` value names (parameters and case ignored).
    #[must_use]
    pub fn from_content_type(content_type: Option<&str>) -> Self {
        let media = content_type
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default();
        if media == "application/x-www-form-urlencoded" {
            Self::FormUrlEncoded
        } else if media == "application/json" || media.ends_with("+json") {
            Self::Json
        } else {
            Self::Other
        }
    }
}

/// One submission, as it arrived.
#[derive(Debug, Clone, Copy)]
pub struct Submission<'a> {
    /// The form's public id (from its URL).
    pub public_form_id: &'a str,
    /// How `body` is encoded.
    pub format: BodyFormat,
    /// The raw body (what the signature covers).
    pub body: &'a [u8],
    /// The `X-Form-Signature` value, if any.
    pub signature: Option<&'a str>,
    /// The submitter's address, when known: always the consent's address (one the body names
    /// is replaced, or dropped when this is `None`).
    pub client_ip: Option<IpAddr>,
    /// The request id, carried into the events the capture writes.
    pub request_id: Option<&'a str>,
}

/// What became of an accepted submission (the submitter is told neither).
#[derive(Debug, Clone, PartialEq)]
pub enum Submitted {
    /// Captured and routed (its `status` says how).
    Captured(Box<Lead>),
    /// Dropped: the honeypot field was filled.
    Dropped,
}

/// Why a submission was refused.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// The body is neither JSON nor URL-encoded.
    #[error("the body must be JSON or application/x-www-form-urlencoded")]
    UnsupportedMediaType,
    /// The body, or the lead it makes, does not read.
    #[error(transparent)]
    Body(#[from] JsonObjectError),
    /// The engine's answer: [`Error::NotFound`] for a missing or closed form,
    /// [`Error::Forbidden`] for a missing or wrong signature, [`Error::Validation`] naming each
    /// missing required field, and the capture's errors.
    #[error(transparent)]
    Engine(#[from] Error),
}

/// Takes a submission: see the [module docs](self) for the steps.
///
/// # Errors
/// See [`IntakeError`].
pub async fn submit<S>(
    store: &S,
    cipher: &Cipher,
    submission: Submission<'_>,
) -> Result<Submitted, IntakeError>
where
    S: LeadFormRepo + RoutingRepo + ?Sized,
{
    let not_found = || Error::not_found("lead form");
    let (form, sealed) = store
        .lead_form_by_public_id(submission.public_form_id)
        .await?
        .ok_or_else(not_found)?;
    if !form.active {
        return Err(not_found().into());
    }
    if let Some(sealed) = sealed {
        let secret = crate::forms::open_secret(cipher, form.org_id, &sealed)?;
        let signature = submission.signature.unwrap_or_default();
        if !verify_form_signature(secret.as_bytes(), submission.body, signature) {
            tracing::warn!(form_id = %form.id, "refused a form submission with a missing or invalid signature");
            return Err(Error::Forbidden("invalid or missing X-Form-Signature".into()).into());
        }
    }

    let honeypot = form.honeypot_field.as_str();
    let mut fields = match submission.format {
        BodyFormat::FormUrlEncoded => url_encoded_fields(submission.body, honeypot),
        BodyFormat::Json => json_fields(submission.body)?,
        BodyFormat::Other => return Err(IntakeError::UnsupportedMediaType),
    };
    if filled(fields.get(honeypot)) {
        tracing::info!(form_id = %form.id, "honeypot filled; submission dropped");
        return Ok(Submitted::Dropped);
    }
    fields.remove(honeypot);
    if !filled(fields.get("vertical"))
        && let Some(vertical) = &form.vertical
    {
        fields.insert("vertical".into(), Value::String(vertical.clone()));
    }
    let missing: Vec<FieldError> = form
        .required_fields
        .iter()
        .filter(|f| !filled(fields.get(f.as_str())))
        .map(|f| FieldError {
            field: f.clone(),
            message: "is required".into(),
        })
        .collect();
    if !missing.is_empty() {
        return Err(Error::Validation(ValidationError { errors: missing }).into());
    }
    // The consent's address is the one the server saw, never the submitter's say: a form can
    // be filled by anyone, and spam leads with a made-up consent address are sold on.
    if let Some(Value::Object(consent)) = fields.get_mut("consent") {
        consent.remove("ip");
        if let Some(ip) = submission.client_ip {
            consent.insert("ip".into(), Value::String(ip.to_string()));
        }
    }
    let new: NewLead = workos_core::json::from_object(Value::Object(fields))?;

    let ctx = TenantContext::system(form.org_id, "lead_form.submit");
    let ctx = match submission.request_id {
        Some(id) => ctx.with_request_id(id),
        None => ctx,
    };
    let lead = store
        .capture_and_route_lead(&ctx, new, chrono::Utc::now())
        .await?
        .lead;
    tracing::info!(form_id = %form.id, lead_id = %lead.id, status = %lead.status, "form submission");
    Ok(Submitted::Captured(Box::new(lead)))
}

/// Whether a submitted value counts as filled.
fn filled(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(Value::Bool(b)) => *b,
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(Value::Number(_)) => true,
    }
}

/// A URL-encoded form's lead fields (and its honeypot) as strings, every other field under
/// `answers`.
fn url_encoded_fields(body: &[u8], honeypot: &str) -> Map<String, Value> {
    let mut out = Map::new();
    let mut answers = Map::new();
    for (k, v) in form_urlencoded::parse(body) {
        let (k, v) = (k.into_owned(), Value::String(v.into_owned()));
        if URL_ENCODED_LEAD_FIELDS.contains(&k.as_str()) || k == honeypot {
            out.insert(k, v);
        } else {
            answers.insert(k, v);
        }
    }
    out.insert("answers".into(), Value::Object(answers));
    out
}

/// A JSON body, which must be an object.
fn json_fields(body: &[u8]) -> Result<Map<String, Value>, JsonObjectError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(JsonObjectError::NotAnObject),
        Err(e) => Err(JsonObjectError::Malformed(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_follow_the_content_type() {
        let f = BodyFormat::from_content_type;
        assert_eq!(f(Some("application/json")), BodyFormat::Json);
        assert_eq!(f(Some("Application/JSON; charset=utf-8")), BodyFormat::Json);
        assert_eq!(f(Some("application/lead+json")), BodyFormat::Json);
        assert_eq!(
            f(Some("application/x-www-form-urlencoded")),
            BodyFormat::FormUrlEncoded
        );
        assert_eq!(f(Some("text/plain")), BodyFormat::Other);
        assert_eq!(f(None), BodyFormat::Other);
    }

    #[test]
    fn url_encoded_fields_split_lead_fields_from_answers() {
        let fields = url_encoded_fields(b"email=a%40example.com&roof=tile&website=x", "website");
        assert_eq!(fields["email"], "a@example.com");
        assert_eq!(fields["website"], "x");
        assert_eq!(fields["answers"], serde_json::json!({"roof": "tile"}));
    }

    #[test]
    fn blank_values_are_not_filled() {
        assert!(!filled(None));
        assert!(!filled(Some(&Value::String("  ".into()))));
        assert!(!filled(Some(&Value::Bool(false))));
        assert!(filled(Some(&serde_json::json!(0))));
        assert!(filled(Some(&serde_json::json!(["a"]))));
    }
}
