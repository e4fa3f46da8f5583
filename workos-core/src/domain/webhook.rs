//! Outbound webhook endpoints, their deliveries and delivery attempts.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{HttpUrl, Patch, check_text};
use crate::error::{ValidationError, Validator};
use crate::ids::{EventId, OrgId, WebhookDeliveryId, WebhookId};

/// An event-type filter entry: an exact name (`person.created`), a family (`person.*`) or `*`.
/// An endpoint with no entries receives every event.
#[must_use]
pub fn event_type_matches(filter: &[String], event_type: &str) -> bool {
    filter.is_empty()
        || filter.iter().any(|f| {
            f == "*"
                || f == event_type
                || f.strip_suffix(".*").is_some_and(|family| {
                    event_type
                        .strip_prefix(family)
                        .is_some_and(|rest| rest.starts_with('.'))
                })
        })
}

/// An outbound webhook endpoint. Its signing secrets are never part of this record: they are
/// shown once, when created or rotated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Webhook {
    /// Its id.
    pub id: WebhookId,
    /// The org it belongs to.
    pub org_id: OrgId,
    /// Where deliveries are POSTed.
    pub url: HttpUrl,
    /// A note for humans.
    pub description: Option<String>,
    /// Event types it receives (`person.created`, `person.*`); empty means all.
    pub event_types: Vec<String>,
    /// Whether deliveries are made.
    pub enabled: bool,
    /// Extra headers sent with every delivery: their names; the values are sealed at rest and
    /// never shown again (each reads `[redacted]`).
    pub headers: BTreeMap<String, String>,
    /// At most this many deliveries a second to this endpoint.
    pub rate_limit_per_second: Option<u32>,
    /// Since when every delivery attempt has failed, if they do.
    pub failing_since: Option<DateTime<Utc>>,
    /// Why the engine disabled it (`gone`, `failing`), if it did.
    pub disabled_reason: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// What stands for a value nobody may read back: custom header values, the path and query of
/// a capability URL.
pub const REDACTED: &str = "[redacted]";

/// `headers` with every value replaced by [`REDACTED`]: the names stay readable.
#[must_use]
pub fn redacted_headers(headers: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    headers
        .keys()
        .map(|name| (name.clone(), REDACTED.to_owned()))
        .collect()
}

impl Webhook {
    /// The endpoint as events carry it and non-admins read it: its URL reduced to scheme and
    /// host ([`HttpUrl::redacted`]), its header values [`REDACTED`]. Events are read by viewers
    /// and fanned out to every endpoint of the org, so they never carry a capability URL.
    #[must_use]
    pub fn redacted(&self) -> Self {
        Self {
            url: self.url.redacted(),
            headers: redacted_headers(&self.headers),
            ..self.clone()
        }
    }
}

/// Input for a new endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Where deliveries are POSTed.
    pub url: HttpUrl,
    /// A note for humans, up to 500 characters.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 500, pattern = r"^[^\u0000]*$")
    )]
    pub description: Option<String>,
    /// Event types to receive (`person.created`, `person.*`, `*`); empty means all.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = event_types_schema))]
    pub event_types: Vec<String>,
    /// Whether deliveries are made (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Extra headers sent with every delivery: at most 20; names of letters, digits, `-` and
    /// `_`, not one the delivery sets itself (`webhook-*`, `content-type`, …); values
    /// printable ASCII. Their values are sealed at rest and never shown again: treat them as
    /// write-only credentials.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = headers_schema))]
    pub headers: BTreeMap<String, String>,
    /// At most this many deliveries a second.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10000))]
    pub rate_limit_per_second: Option<u32>,
}

const fn yes() -> bool {
    true
}

/// A change to an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct WebhookPatch {
    /// New URL.
    pub url: Option<HttpUrl>,
    /// New description (up to 500 characters), or clear it.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<String>, max_length = 500, pattern = r"^[^\u0000]*$")
    )]
    pub description: Patch<String>,
    /// New event-type filter, as on create.
    #[cfg_attr(feature = "openapi", schema(schema_with = nullable_event_types_schema))]
    pub event_types: Option<Vec<String>>,
    /// Enable or disable; enabling clears `disabled_reason` and `failing_since`.
    pub enabled: Option<bool>,
    /// Replacement headers, as on create (all of them: values are write-only, so none are
    /// merged).
    #[cfg_attr(feature = "openapi", schema(schema_with = nullable_headers_schema))]
    pub headers: Option<BTreeMap<String, String>>,
    /// New rate limit (1–10,000), or clear it.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<u32>, minimum = 1, maximum = 10000)
    )]
    pub rate_limit_per_second: Patch<u32>,
}

/// Headers a caller may not set: they carry the signature or are the transport's own.
const RESERVED_HEADERS: &[&str] = &[
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "content-type",
    "content-length",
    "host",
    "user-agent",
];

/// The document's schema of an event-type filter (what [`NewWebhook::validate`] accepts).
#[cfg(feature = "openapi")]
fn event_types_list(nullable: bool) -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
    ArrayBuilder::new()
        .schema_type(if nullable {
            SchemaType::from_iter([Type::Array, Type::Null])
        } else {
            SchemaType::new(Type::Array)
        })
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(100))
                .pattern(Some(r"^(\*|[a-z_]+(\.[a-z_]+)*(\.\*)?)$")),
        )
        .max_items(Some(100))
        .build()
}

#[cfg(feature = "openapi")]
fn event_types_schema() -> utoipa::openapi::schema::Array {
    event_types_list(false)
}

#[cfg(feature = "openapi")]
fn nullable_event_types_schema() -> utoipa::openapi::schema::Array {
    event_types_list(true)
}

/// The document's schema of extra headers (what [`NewWebhook::validate`] accepts): the
/// reserved names are refused whatever their case.
#[cfg(feature = "openapi")]
fn headers_object(nullable: bool) -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, SchemaType, Type};
    let any_case = |name: &str| -> String {
        name.chars()
            .map(|c| {
                if c.is_ascii_alphabetic() {
                    format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
                } else {
                    c.to_string()
                }
            })
            .collect()
    };
    let reserved: Vec<String> = RESERVED_HEADERS.iter().map(|h| any_case(h)).collect();
    let name_pattern = format!("^(?!({})$)[A-Za-z0-9_-]{{1,100}}$", reserved.join("|"));
    let mut object = ObjectBuilder::new()
        .schema_type(if nullable {
            SchemaType::from_iter([Type::Object, Type::Null])
        } else {
            SchemaType::new(Type::Object)
        })
        .additional_properties(Some(AdditionalProperties::RefOr(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(1000))
                .pattern(Some("^[\t -~]*$"))
                .into(),
        )))
        .max_properties(Some(20))
        .build();
    let mut names = utoipa::openapi::extensions::Extensions::default();
    names.insert(
        "propertyNames".to_owned(),
        serde_json::json!({ "pattern": name_pattern }),
    );
    object.extensions = Some(names);
    object
}

#[cfg(feature = "openapi")]
fn headers_schema() -> utoipa::openapi::schema::Object {
    headers_object(false)
}

#[cfg(feature = "openapi")]
fn nullable_headers_schema() -> utoipa::openapi::schema::Object {
    headers_object(true)
}

impl NewWebhook {
    /// Checks what the types cannot.
    ///
    /// # Errors
    /// A [`ValidationError`] naming each invalid field.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut v = Validator::new();
        check_text(
            &mut v,
            "description",
            self.description.as_deref().unwrap_or(""),
            false,
            500,
        );
        v.require(
            self.event_types.len() <= 100,
            "event_types",
            "at most 100 entries",
        );
        for (i, t) in self.event_types.iter().enumerate() {
            let ok = t == "*"
                || (!t.is_empty()
                    && t.len() <= 100
                    && t.split('.').all(|part| {
                        part == "*" || part.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    })
                    && t.split('.').all(|part| !part.is_empty())
                    && !t[..t.len().saturating_sub(1)].contains('*'));
            v.require(
                ok,
                &format!("event_types[{i}]"),
                "must be an event type like person.created or person.*",
            );
        }
        v.require(self.headers.len() <= 20, "headers", "at most 20 headers");
        for (name, value) in &self.headers {
            let ok_name = !name.is_empty()
                && name.len() <= 100
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str());
            v.require(
                ok_name,
                &format!("headers.{name}"),
                "is not a header name that may be set",
            );
            let ok_value = value.len() <= 1000
                && value
                    .bytes()
                    .all(|b| b == b'\t' || (b' '..=b'~').contains(&b));
            v.require(
                ok_value,
                &format!("headers.{name}"),
                "must be printable ASCII, at most 1000 characters",
            );
        }
        if let Some(r) = self.rate_limit_per_second {
            v.require(
                (1..=10_000).contains(&r),
                "rate_limit_per_second",
                "must be between 1 and 10000",
            );
        }
        v.finish()
    }

    /// Applies a patch to an endpoint, producing the full new state to validate and store.
    #[must_use]
    pub fn patched(w: &Webhook, patch: WebhookPatch) -> Self {
        Self {
            url: patch.url.unwrap_or_else(|| w.url.clone()),
            description: patch.description.apply(w.description.clone()),
            event_types: patch.event_types.unwrap_or_else(|| w.event_types.clone()),
            enabled: patch.enabled.unwrap_or(w.enabled),
            headers: patch.headers.unwrap_or_else(|| w.headers.clone()),
            rate_limit_per_second: patch.rate_limit_per_second.apply(w.rate_limit_per_second),
        }
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeliveryStatus {
    /// Waiting for its first attempt.
    Pending,
    /// Failed at least once; another attempt is scheduled.
    Retrying,
    /// The receiver answered 2xx.
    Succeeded,
    /// Every attempt failed: dead-lettered. Replay sends it again.
    Failed,
    /// Not attempted because the endpoint was disabled.
    Skipped,
}

impl DeliveryStatus {
    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Retrying => "retrying",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }

    /// Parses a stored name.
    ///
    /// # Errors
    /// [`crate::Error::Validation`] on `status` for an unknown name.
    pub fn parse(s: &str) -> crate::Result<Self> {
        Ok(match s {
            "pending" => Self::Pending,
            "retrying" => Self::Retrying,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "skipped" => Self::Skipped,
            _ => {
                return Err(crate::Error::invalid(
                    "status",
                    "must be pending, retrying, succeeded, failed or skipped",
                ));
            }
        })
    }
}

/// One event's delivery to one endpoint. Its id is the stable `webhook-id` of every attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookDelivery {
    /// Its id; sent as `webhook-id` (prefixed `msg_`).
    pub id: WebhookDeliveryId,
    /// The org.
    pub org_id: OrgId,
    /// The endpoint.
    pub webhook_id: WebhookId,
    /// The event delivered.
    pub event_id: EventId,
    /// The event's type.
    pub event_type: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due, if one is.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The last HTTP status received, if any.
    pub last_status_code: Option<u16>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// One attempt at a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryAttempt {
    /// The delivery.
    pub delivery_id: WebhookDeliveryId,
    /// When it was made.
    pub attempted_at: DateTime<Utc>,
    /// The HTTP status, when the receiver answered.
    pub status_code: Option<u16>,
    /// What went wrong on the network (`timeout`, `connect`, `blocked`, …), when it did.
    pub error_kind: Option<String>,
    /// How long it took, in milliseconds.
    pub latency_ms: u32,
    /// The first 4 KiB of the response body: shown to admins only (`null` for others).
    pub response_body: Option<String>,
    /// When the next attempt is due, if one is.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// Narrows a list of deliveries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeliveryFilter {
    /// With this status.
    pub status: Option<DeliveryStatus>,
    /// Of this event type.
    pub event_type: Option<String>,
    /// Created within.
    pub created: super::TimeRange,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_exact_names_families_and_all() {
        let f = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(event_type_matches(&[], "person.created"));
        assert!(event_type_matches(&f(&["*"]), "deal.updated"));
        assert!(event_type_matches(&f(&["person.*"]), "person.created"));
        assert!(!event_type_matches(&f(&["person.*"]), "personal.created"));
        assert!(!event_type_matches(&f(&["person.*"]), "deal.created"));
        assert!(event_type_matches(
            &f(&["deal.won", "person.created"]),
            "person.created"
        ));
        assert!(!event_type_matches(
            &f(&["person.created"]),
            "person.updated"
        ));
    }

    #[test]
    fn validation_names_bad_entries() {
        let mut new = NewWebhook {
            url: HttpUrl::parse("https://example.com/hook").unwrap(),
            description: None,
            event_types: vec!["person.*".into(), "Bad Type".into()],
            enabled: true,
            headers: BTreeMap::from([("webhook-signature".into(), "x".into())]),
            rate_limit_per_second: Some(0),
        };
        let err = new.validate().unwrap_err();
        let fields: Vec<_> = err.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "event_types[1]",
                "headers.webhook-signature",
                "rate_limit_per_second"
            ]
        );
        new.event_types = vec!["*".into(), "lead.delivery_failed".into()];
        new.headers = BTreeMap::from([("X-Tenant".into(), "acme".into())]);
        new.rate_limit_per_second = Some(5);
        assert!(new.validate().is_ok());
    }
}
