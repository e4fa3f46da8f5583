//! Fulfillment partners: who buys leads ([`Partner`]), how each receives them (a signed webhook
//! or an email), what they buy (verticals, regions), at what price, under which caps and opening
//! hours.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Currency, EmailAddress, HttpUrl, Patch, Schedule, check_text};
use crate::error::{ValidationError, Validator};
use crate::ids::{OrgId, PartnerId};

/// How a partner receives its leads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PartnerDelivery {
    /// POSTed as JSON to a URL.
    Webhook {
        /// Where leads are POSTed (up to 2,048 characters).
        url: HttpUrl,
    },
    /// Sent by email.
    Email {
        /// Where leads are sent.
        address: EmailAddress,
    },
}

/// A fulfillment partner: a buyer leads are routed and sold to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Partner {
    /// Its id.
    pub id: PartnerId,
    /// The org it belongs to.
    pub org_id: OrgId,
    /// Name, 1–200 characters.
    pub name: String,
    /// How it receives leads.
    pub delivery: PartnerDelivery,
    /// The verticals it buys, lower-cased; empty means every vertical.
    pub verticals: Vec<String>,
    /// Where it buys: region codes (`CA`, `US-CA`) or postal-code prefixes (`941`), upper-cased;
    /// empty means everywhere.
    pub regions: Vec<String>,
    /// Routing preference: higher first.
    pub priority: i32,
    /// Share among partners of equal priority (1–10,000).
    pub weight: u32,
    /// Price per lead in minor units of `currency`.
    pub price_minor: i64,
    /// The currency of `price_minor`.
    pub currency: Currency,
    /// At most this many leads per day (the partner's local day).
    pub daily_cap: Option<u32>,
    /// At most this many leads per month (the partner's local month).
    pub monthly_cap: Option<u32>,
    /// The IANA time zone its days and months are counted in, e.g. `America/New_York`.
    pub timezone: String,
    /// Weekly opening hours in `timezone`; `null` is always open.
    pub schedule: Option<Schedule>,
    /// Whether it buys leads exclusively (no other partner gets the same lead).
    pub exclusive: bool,
    /// Whether routing may choose it.
    pub active: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl Partner {
    /// The partner as events carry it and non-admins read it: a webhook delivery URL reduced to
    /// scheme and host ([`HttpUrl::redacted`]); partner URLs are often capability URLs.
    #[must_use]
    pub fn redacted(&self) -> Self {
        let delivery = match &self.delivery {
            PartnerDelivery::Webhook { url } => PartnerDelivery::Webhook {
                url: url.redacted(),
            },
            other => other.clone(),
        };
        Self {
            delivery,
            ..self.clone()
        }
    }
}

/// Input for a new partner.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewPartner {
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
    /// How it receives leads.
    pub delivery: PartnerDelivery,
    /// Verticals it buys (at most 100, each up to 100 characters); empty means all.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = verticals_schema))]
    pub verticals: Vec<String>,
    /// Region codes or postal-code prefixes (at most 5,000, each up to 20 letters, digits,
    /// spaces or dashes); empty means everywhere.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = regions_schema))]
    pub regions: Vec<String>,
    /// Routing preference (default 0).
    #[serde(default)]
    pub priority: i32,
    /// Share among equal priorities, 1–10,000 (default 1).
    #[serde(default = "default_weight")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10000))]
    pub weight: u32,
    /// Price per lead in minor units, 0 to 10^12 (default 0).
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub price_minor: i64,
    /// Currency of the price (default `USD`).
    #[serde(default = "default_currency")]
    pub currency: Currency,
    /// Daily cap, 1–1,000,000.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000000))]
    pub daily_cap: Option<u32>,
    /// Monthly cap, 1–1,000,000, not below the daily cap.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000000))]
    pub monthly_cap: Option<u32>,
    /// IANA time zone (default `UTC`): `UTC`, `Etc/GMT±N` or `Area/Location`, such as
    /// `America/New_York`.
    #[serde(default = "default_timezone")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = r"^(UTC|Etc/UTC|Etc/GMT|Etc/GMT[+-](0?[0-9]|1[0-4])|(Africa|America|Antarctica|Arctic|Asia|Atlantic|Australia|Europe|Indian|Pacific)(/[A-Z][A-Za-z0-9_+-]{0,29}){1,2})$"
        )
    )]
    pub timezone: String,
    /// Weekly opening hours in `timezone` (default `null`: always open).
    #[serde(default)]
    pub schedule: Option<Schedule>,
    /// Buys exclusively (default true).
    #[serde(default = "yes")]
    pub exclusive: bool,
    /// Routable (default true).
    #[serde(default = "yes")]
    pub active: bool,
}

const fn default_weight() -> u32 {
    1
}

fn default_currency() -> Currency {
    Currency::parse("USD").expect("USD is an ISO 4217 code")
}

fn default_timezone() -> String {
    "UTC".to_owned()
}

const fn yes() -> bool {
    true
}

/// A change to a partner.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct PartnerPatch {
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
    /// New delivery method.
    pub delivery: Option<PartnerDelivery>,
    /// Replacement verticals, as on create.
    #[cfg_attr(feature = "openapi", schema(schema_with = nullable_verticals_schema))]
    pub verticals: Option<Vec<String>>,
    /// Replacement regions, as on create.
    #[cfg_attr(feature = "openapi", schema(schema_with = nullable_regions_schema))]
    pub regions: Option<Vec<String>>,
    /// New priority.
    pub priority: Option<i32>,
    /// New weight.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10000))]
    pub weight: Option<u32>,
    /// New price.
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub price_minor: Option<i64>,
    /// New currency.
    pub currency: Option<Currency>,
    /// New daily cap, or clear it.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<u32>))]
    pub daily_cap: Patch<u32>,
    /// New monthly cap, or clear it.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<u32>))]
    pub monthly_cap: Patch<u32>,
    /// New time zone, as on create.
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = r"^(UTC|Etc/UTC|Etc/GMT|Etc/GMT[+-](0?[0-9]|1[0-4])|(Africa|America|Antarctica|Arctic|Asia|Atlantic|Australia|Europe|Indian|Pacific)(/[A-Z][A-Za-z0-9_+-]{0,29}){1,2})$"
        )
    )]
    pub timezone: Option<String>,
    /// New opening hours, or `null` for always open.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Schedule>))]
    pub schedule: Patch<Schedule>,
    /// New exclusivity.
    pub exclusive: Option<bool>,
    /// Activate or pause.
    pub active: Option<bool>,
}

/// Narrows a list of partners.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartnerFilter {
    /// Only active (`true`) or paused (`false`) partners.
    pub active: Option<bool>,
}

/// The document's schema of a list of strings: at most `max_items`, each not blank, at most
/// `max_length` characters and matching `pattern`; `null` allowed when `nullable`.
#[cfg(feature = "openapi")]
fn string_list(
    max_items: usize,
    max_length: usize,
    pattern: &str,
    nullable: bool,
) -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
    let types = if nullable {
        SchemaType::from_iter([Type::Array, Type::Null])
    } else {
        SchemaType::new(Type::Array)
    };
    ArrayBuilder::new()
        .schema_type(types)
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(max_length))
                .pattern(Some(pattern)),
        )
        .max_items(Some(max_items))
        .build()
}

/// Not blank and no NUL.
#[cfg(feature = "openapi")]
const VERTICAL_PATTERN: &str = r"^[^\u0000]*[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\u0000][^\u0000]*$";
/// Letters, digits, spaces and dashes, not only spaces.
#[cfg(feature = "openapi")]
const REGION_PATTERN: &str = "^[A-Za-z0-9 -]*[A-Za-z0-9-][A-Za-z0-9 -]*$";

#[cfg(feature = "openapi")]
fn verticals_schema() -> utoipa::openapi::schema::Array {
    string_list(100, 100, VERTICAL_PATTERN, false)
}

#[cfg(feature = "openapi")]
fn nullable_verticals_schema() -> utoipa::openapi::schema::Array {
    string_list(100, 100, VERTICAL_PATTERN, true)
}

#[cfg(feature = "openapi")]
fn regions_schema() -> utoipa::openapi::schema::Array {
    string_list(5000, 20, REGION_PATTERN, false)
}

#[cfg(feature = "openapi")]
fn nullable_regions_schema() -> utoipa::openapi::schema::Array {
    string_list(5000, 20, REGION_PATTERN, true)
}

/// Whether `tz` looks like an IANA time zone name: `UTC`, `Etc/UTC`, `Etc/GMT±N`, or
/// `Area/Location[/Sub]` under one of the IANA areas (`America/New_York`,
/// `America/Argentina/Buenos_Aires`).
///
/// This checks the shape, not membership in the tz database (so `America/Atlantis` passes):
/// the engine does not bundle the database yet. Routing, which needs UTC offsets to count a
/// partner's day, will bring `chrono-tz` and tighten this to an exact lookup.
#[must_use]
pub fn is_timezone_name(tz: &str) -> bool {
    const AREAS: &[&str] = &[
        "Africa",
        "America",
        "Antarctica",
        "Arctic",
        "Asia",
        "Atlantic",
        "Australia",
        "Europe",
        "Indian",
        "Pacific",
    ];
    if matches!(tz, "UTC" | "Etc/UTC") {
        return true;
    }
    if let Some(offset) = tz.strip_prefix("Etc/GMT") {
        let hours = offset.strip_prefix(['+', '-']).unwrap_or("");
        return offset.is_empty()
            || hours
                .parse::<u8>()
                .is_ok_and(|h| h <= 14 && hours.len() <= 2);
    }
    let mut parts = tz.split('/');
    let area_ok = parts.next().is_some_and(|a| AREAS.contains(&a));
    let rest: Vec<&str> = parts.collect();
    area_ok
        && (1..=2).contains(&rest.len())
        && rest.iter().all(|p| {
            p.len() <= 30
                && p.starts_with(|c: char| c.is_ascii_uppercase())
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
        })
}

/// Normalises a list: trims, maps, drops blanks (reported), removes repeats (keeping order).
fn clean_list(
    v: &mut Validator,
    field: &str,
    list: &mut Vec<String>,
    map: impl Fn(&str) -> String,
) {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(list.len());
    for (i, item) in list.drain(..).enumerate() {
        let item = map(item.trim());
        if item.is_empty() {
            v.require(false, &format!("{field}[{i}]"), "must not be blank");
        } else if seen.insert(item.clone()) {
            out.push(item);
        }
    }
    *list = out;
}

impl NewPartner {
    /// A webhook or email partner with the defaults: every vertical and region, priority 0,
    /// weight 1, price 0 USD, no caps, UTC, exclusive, active.
    pub fn new(name: impl Into<String>, delivery: PartnerDelivery) -> Self {
        Self {
            name: name.into(),
            delivery,
            verticals: Vec::new(),
            regions: Vec::new(),
            priority: 0,
            weight: 1,
            price_minor: 0,
            currency: default_currency(),
            daily_cap: None,
            monthly_cap: None,
            timezone: default_timezone(),
            schedule: None,
            exclusive: true,
            active: true,
        }
    }

    /// Normalises the input (trims the name and time zone; trims, lower-cases and de-duplicates
    /// verticals; trims, upper-cases and de-duplicates regions) and checks what the types cannot.
    ///
    /// # Errors
    /// A [`ValidationError`] naming each invalid field (`delivery.url` for a webhook URL).
    pub fn validate(&mut self) -> Result<(), ValidationError> {
        let mut v = Validator::new();
        self.name = self.name.trim().to_owned();
        check_text(&mut v, "name", &self.name, true, 200);
        if let PartnerDelivery::Webhook { url } = &self.delivery {
            v.require(
                url.as_ref().len() <= 2048,
                "delivery.url",
                "must be at most 2048 characters",
            );
        }
        clean_list(&mut v, "verticals", &mut self.verticals, str::to_lowercase);
        v.require(
            self.verticals.len() <= 100,
            "verticals",
            "at most 100 verticals",
        );
        for (i, vertical) in self.verticals.iter().enumerate() {
            check_text(&mut v, &format!("verticals[{i}]"), vertical, true, 100);
        }
        clean_list(&mut v, "regions", &mut self.regions, str::to_uppercase);
        v.require(
            self.regions.len() <= 5000,
            "regions",
            "at most 5000 regions",
        );
        for (i, region) in self.regions.iter().enumerate() {
            v.require(
                region.chars().count() <= 20
                    && region
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-'),
                &format!("regions[{i}]"),
                "must be a region code or postal-code prefix: up to 20 letters, digits, spaces or dashes",
            );
        }
        v.require(
            (1..=10_000).contains(&self.weight),
            "weight",
            "must be between 1 and 10000",
        );
        v.require(
            (0..=1_000_000_000_000).contains(&self.price_minor),
            "price_minor",
            "must not be negative (and at most 10^12)",
        );
        for (field, cap) in [
            ("daily_cap", self.daily_cap),
            ("monthly_cap", self.monthly_cap),
        ] {
            if let Some(cap) = cap {
                v.require(
                    (1..=1_000_000).contains(&cap),
                    field,
                    "must be between 1 and 1000000 (pause the partner with active: false)",
                );
            }
        }
        if let (Some(daily), Some(monthly)) = (self.daily_cap, self.monthly_cap) {
            v.require(daily <= monthly, "daily_cap", "must not exceed monthly_cap");
        }
        self.timezone = self.timezone.trim().to_owned();
        v.require(
            is_timezone_name(&self.timezone),
            "timezone",
            "must be an IANA time zone such as America/New_York or UTC",
        );
        if let Some(schedule) = &self.schedule {
            schedule.check(&mut v);
        }
        v.finish()
    }

    /// Applies a patch to a partner, producing the full new state to validate and store.
    #[must_use]
    pub fn patched(p: &Partner, patch: PartnerPatch) -> Self {
        Self {
            name: patch.name.unwrap_or_else(|| p.name.clone()),
            delivery: patch.delivery.unwrap_or_else(|| p.delivery.clone()),
            verticals: patch.verticals.unwrap_or_else(|| p.verticals.clone()),
            regions: patch.regions.unwrap_or_else(|| p.regions.clone()),
            priority: patch.priority.unwrap_or(p.priority),
            weight: patch.weight.unwrap_or(p.weight),
            price_minor: patch.price_minor.unwrap_or(p.price_minor),
            currency: patch.currency.unwrap_or(p.currency),
            daily_cap: patch.daily_cap.apply(p.daily_cap),
            monthly_cap: patch.monthly_cap.apply(p.monthly_cap),
            timezone: patch.timezone.unwrap_or_else(|| p.timezone.clone()),
            schedule: patch.schedule.apply(p.schedule.clone()),
            exclusive: patch.exclusive.unwrap_or(p.exclusive),
            active: patch.active.unwrap_or(p.active),
        }
    }
}
