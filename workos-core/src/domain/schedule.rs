//! Partners' weekly opening hours ([`Schedule`]), read in the partner's own time zone: when a
//! partner takes leads.

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};

use super::{Partner, partner_timezone};
use crate::error::{ValidationError, Validator};

/// The most opening periods one day of a [`Schedule`] may list.
pub const MAX_PERIODS_PER_DAY: usize = 12;

/// A partner's weekly opening hours, read in the partner's `timezone`: for each day, the
/// periods (`["09:00", "17:00"]`: open at the first time, closed from the second) during which
/// it takes leads. A day absent (or empty) is closed all day. Times are `HH:MM`, 24-hour;
/// `"24:00"` closes at the end of the day. Hours past midnight are the next day's periods
/// (`mon: [["22:00", "24:00"]], tue: [["00:00", "02:00"]]`).
///
/// Local wall-clock times are what count, so a period keeps its local hours across a DST
/// change (and an hour the change skips is simply never reached).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Monday's opening periods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<OpeningPeriod>, max_items = 12))]
    pub mon: Vec<[String; 2]>,
    /// Tuesday's opening periods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<OpeningPeriod>, max_items = 12))]
    pub tue: Vec<[String; 2]>,
    /// Wednesday's opening periods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<OpeningPeriod>, max_items = 12))]
    pub wed: Vec<[String; 2]>,
    /// Thursday's opening periods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<OpeningPeriod>, max_items = 12))]
    pub thu: Vec<[String; 2]>,
    /// Friday's opening periods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<OpeningPeriod>, max_items = 12))]
    pub fri: Vec<[String; 2]>,
    /// Saturday's opening periods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<OpeningPeriod>, max_items = 12))]
    pub sat: Vec<[String; 2]>,
    /// Sunday's opening periods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<OpeningPeriod>, max_items = 12))]
    pub sun: Vec<[String; 2]>,
}

/// The document's schema of one opening period: `["HH:MM", "HH:MM"]`. That it opens before it
/// closes, and that `"24:00"` is only a closing time, is said in words (JSON Schema cannot
/// compare two items).
#[cfg(feature = "openapi")]
pub struct OpeningPeriod;

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for OpeningPeriod {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
        ArrayBuilder::new()
            .items(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")),
            )
            .min_items(Some(2))
            .max_items(Some(2))
            .description(Some(
                "`[open, close]`, 24-hour `HH:MM` local times; it opens before it closes, and \
                 `\"24:00\"` is only a closing time.",
            ))
            .examples([serde_json::json!(["09:00", "17:00"])])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for OpeningPeriod {}

impl Schedule {
    /// The days with their names, Monday first.
    fn days(&self) -> [(&'static str, &[[String; 2]]); 7] {
        [
            ("mon", &self.mon),
            ("tue", &self.tue),
            ("wed", &self.wed),
            ("thu", &self.thu),
            ("fri", &self.fri),
            ("sat", &self.sat),
            ("sun", &self.sun),
        ]
    }

    /// The periods of one weekday.
    fn periods(&self, day: chrono::Weekday) -> &[[String; 2]] {
        self.days()[day.num_days_from_monday() as usize].1
    }

    /// Checks the times: each period `["HH:MM", "HH:MM"]` opens before it closes (`"24:00"`
    /// only as a closing time), at most [`MAX_PERIODS_PER_DAY`] a day.
    ///
    /// # Errors
    /// A [`ValidationError`] naming each bad period, as `schedule.mon[0]`, or a day with too
    /// many periods, as `schedule.mon`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut v = Validator::new();
        self.check(&mut v);
        v.finish()
    }

    pub(crate) fn check(&self, v: &mut Validator) {
        for (day, periods) in self.days() {
            v.require(
                periods.len() <= MAX_PERIODS_PER_DAY,
                &format!("schedule.{day}"),
                "at most 12 opening periods a day",
            );
            for (i, [open, close]) in periods.iter().enumerate() {
                let field = format!("schedule.{day}[{i}]");
                match (clock_minutes(open, false), clock_minutes(close, true)) {
                    (Some(o), Some(c)) => {
                        v.require(o < c, &field, "must open before it closes");
                    }
                    _ => v.require(
                        false,
                        &field,
                        "must be [\"HH:MM\", \"HH:MM\"] (24-hour; \"24:00\" only as the closing time)",
                    ),
                }
            }
        }
    }

    /// Whether `now` falls in an opening period, reading the local day and time in `tz`.
    #[must_use]
    pub fn is_open_at(&self, tz: chrono_tz::Tz, now: DateTime<Utc>) -> bool {
        use chrono::Timelike;
        let local = now.with_timezone(&tz);
        let minute = local.hour() * 60 + local.minute();
        self.periods(local.weekday()).iter().any(|[open, close]| {
            matches!(
                (clock_minutes(open, false), clock_minutes(close, true)),
                (Some(o), Some(c)) if o <= minute && minute < c
            )
        })
    }
}

/// Minutes since midnight of `HH:MM`; `24:00` (1440) only when `close`.
fn clock_minutes(s: &str, close: bool) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) if close => Some(24 * 60),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

/// Whether the partner takes leads at `now` by its opening hours: always without a schedule;
/// otherwise when `now`, in the partner's time zone (UTC for a name the tz database does not
/// know), falls in one of its periods. Says nothing of `active` or caps.
#[must_use]
pub fn partner_is_open(partner: &Partner, now: DateTime<Utc>) -> bool {
    partner.schedule.as_ref().is_none_or(|s| {
        s.is_open_at(
            partner_timezone(&partner.timezone).unwrap_or(chrono_tz::UTC),
            now,
        )
    })
}
