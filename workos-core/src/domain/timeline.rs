//! A record's timeline: the interactions, emails, SMS, calls and tasks of a person, a company or
//! a deal, newest first by when they happened, read a page at a time.
//!
//! What belongs to whose timeline:
//! - a **person**'s: the interactions linked to the person, and their tasks;
//! - a **company**'s: the interactions and tasks linked to the company, and those of the people
//!   who work there now (`company_id` of the person), as CRMs roll contacts' activity up to
//!   their account;
//! - a **deal**'s: the interactions and tasks linked to the deal.
//!
//! An email, SMS or call appears through its timeline entry (the interaction made for it, see
//! [`Interaction::email_id`](super::Interaction::email_id)): it is on the timelines that entry
//! is linked to, shown as the email, SMS or call itself rather than as the entry (so it is
//! never listed twice). Linking a call's entry to a deal puts the call on the deal's timeline.
//!
//! "When it happened" is `occurred_at` for interactions, emails, SMS and calls, and for a task
//! its due time (its creation time when it has none). Items are ordered by it, newest first,
//! then by `type` and id (descending), so the order is total and a [`TimelineCursor`] (which
//! holds all three) continues exactly after the last item seen, whatever is added meanwhile.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Call, Email, Interaction, Sms, Task};
use crate::error::{Error, Result};
use crate::ids::{CompanyId, DealId, PersonId};
use crate::page::{DEFAULT_PAGE_SIZE, PageRequest};

/// The record whose timeline is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimelineSubject {
    /// A person.
    Person(PersonId),
    /// A company (its people's items included).
    Company(CompanyId),
    /// A deal.
    Deal(DealId),
}

/// What a timeline item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    /// A call.
    Call,
    /// An email.
    Email,
    /// An interaction that records no email, SMS or call (a note, a meeting, …).
    Interaction,
    /// An SMS or MMS message.
    Sms,
    /// A task.
    Task,
}

impl TimelineKind {
    /// Every kind, in the order the timeline sorts them (ascending).
    pub const ALL: [Self; 5] = [
        Self::Call,
        Self::Email,
        Self::Interaction,
        Self::Sms,
        Self::Task,
    ];

    /// The name as shown in `type` (and compared by the storage: the names sort as the
    /// variants do).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Call => "call",
            Self::Email => "email",
            Self::Interaction => "interaction",
            Self::Sms => "sms",
            Self::Task => "task",
        }
    }
}

impl fmt::Display for TimelineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TimelineKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                Error::invalid("type", "must be one of: call email interaction sms task")
            })
    }
}

/// The record of a timeline item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum TimelineRecord {
    /// An interaction.
    Interaction(Interaction),
    /// An email.
    Email(Email),
    /// An SMS.
    Sms(Sms),
    /// A call.
    Call(Call),
    /// A task.
    Task(Task),
}

impl TimelineRecord {
    /// Its kind.
    #[must_use]
    pub const fn kind(&self) -> TimelineKind {
        match self {
            Self::Interaction(_) => TimelineKind::Interaction,
            Self::Email(_) => TimelineKind::Email,
            Self::Sms(_) => TimelineKind::Sms,
            Self::Call(_) => TimelineKind::Call,
            Self::Task(_) => TimelineKind::Task,
        }
    }
}

/// One item of a timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimelineItem {
    /// What `record` is.
    #[serde(rename = "type")]
    pub kind: TimelineKind,
    /// When it happened: the record's `occurred_at`, or a task's `due_at` (else `created_at`).
    pub occurred_at: DateTime<Utc>,
    /// The record, as its own endpoint shows it.
    pub record: TimelineRecord,
}

/// Where a timeline page continues: after the item with this (time, type, id).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TimelineCursor {
    /// The last item's time.
    pub occurred_at: DateTime<Utc>,
    /// The last item's type.
    pub kind: TimelineKind,
    /// The last item's record id.
    pub id: Uuid,
}

impl fmt::Display for TimelineCursor {
    /// Unpadded base64url of the time (microseconds, 8 bytes big-endian), the id (16 bytes)
    /// and the type's index (1 byte): 34 characters, see [`TimelineCursor::PATTERN`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut bytes = Vec::with_capacity(25);
        bytes.extend_from_slice(&self.occurred_at.timestamp_micros().to_be_bytes());
        bytes.extend_from_slice(self.id.as_bytes());
        bytes.push(self.kind as u8);
        f.write_str(&URL_SAFE_NO_PAD.encode(bytes))
    }
}

impl fmt::Debug for TimelineCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TimelineCursor({self})")
    }
}

impl TimelineCursor {
    /// The form every cursor has: 32 characters for the time and id, then the type's index
    /// (0 to 4) in the last two. Every string of this form reads as a cursor (a time beyond
    /// years 1–9999 is read as the earliest or latest of them).
    pub const PATTERN: &'static str = "^[A-Za-z0-9_-]{32}(A[AQgw]|BA)$";
}

/// 0001-01-01T00:00:00Z in microseconds since the epoch.
const EARLIEST_MICROS: i64 = -62_135_596_800_000_000;
/// 9999-12-31T23:59:59.999999Z in microseconds since the epoch.
const LATEST_MICROS: i64 = 253_402_300_799_999_999;

impl FromStr for TimelineCursor {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::invalid(
                "cursor",
                "is not a cursor from a previous page of this timeline",
            )
        };
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
        let (micros, rest) = bytes.split_first_chunk::<8>().ok_or_else(bad)?;
        let (id, kind) = rest.split_first_chunk::<16>().ok_or_else(bad)?;
        let [kind] = kind else { return Err(bad()) };
        // Clamped to years 1–9999, which every backend's timestamp holds (Postgres refuses
        // chrono's own extremes with 22008): a cursor beyond them reads as the earliest or
        // latest time, as the pattern promises.
        let micros = i64::from_be_bytes(*micros).clamp(EARLIEST_MICROS, LATEST_MICROS);
        let occurred_at = DateTime::from_timestamp_micros(micros).ok_or_else(bad)?;
        Ok(Self {
            occurred_at,
            kind: *TimelineKind::ALL.get(usize::from(*kind)).ok_or_else(bad)?,
            id: Uuid::from_bytes(*id),
        })
    }
}

impl Serialize for TimelineCursor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Which timeline page to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineRequest {
    /// The page size, as [`PageRequest`] bounds it.
    pub limit: u32,
    /// Continue after this item; the newest items when `None`.
    pub cursor: Option<TimelineCursor>,
}

impl TimelineRequest {
    /// The first page of `limit` items.
    ///
    /// # Errors
    /// [`Error::Validation`] on `limit`, as [`PageRequest::first`].
    pub fn first(limit: u32) -> Result<Self> {
        Ok(Self {
            limit: PageRequest::first(limit)?.limit(),
            cursor: None,
        })
    }

    /// The same size of page, continuing after `cursor`.
    #[must_use]
    pub const fn after(mut self, cursor: Option<TimelineCursor>) -> Self {
        self.cursor = cursor;
        self
    }
}

impl Default for TimelineRequest {
    fn default() -> Self {
        Self {
            limit: DEFAULT_PAGE_SIZE,
            cursor: None,
        }
    }
}

/// One page of a timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Timeline {
    /// The items, newest first.
    pub data: Vec<TimelineItem>,
    /// Where the next page starts; `None` on the last page.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<TimelineCursor>))]
    pub next_cursor: Option<TimelineCursor>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_times_stay_within_what_every_backend_holds() {
        // Found by schemathesis: these read as chrono's extremes, which Postgres refuses (500).
        for (cursor, year) in [
            (format!("{}AA", "0".repeat(32)), 1),
            (format!("{}AA", "f".repeat(32)), 9999),
        ] {
            let c: TimelineCursor = cursor.parse().expect("every string of the pattern reads");
            assert_eq!(chrono::Datelike::year(&c.occurred_at), year, "{cursor}");
        }
        let latest = DateTime::from_timestamp_micros(LATEST_MICROS).unwrap();
        assert_eq!(latest.to_rfc3339(), "9999-12-31T23:59:59.999999+00:00");
        let earliest = DateTime::from_timestamp_micros(EARLIEST_MICROS).unwrap();
        assert_eq!(earliest.to_rfc3339(), "0001-01-01T00:00:00+00:00");
    }

    #[test]
    fn kinds_sort_as_their_names() {
        let mut names: Vec<&str> = TimelineKind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort_unstable();
        let in_order: Vec<&str> = TimelineKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names, in_order);
        for k in TimelineKind::ALL {
            assert_eq!(k.as_str().parse::<TimelineKind>().unwrap(), k);
        }
    }

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = TimelineCursor {
            occurred_at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            kind: TimelineKind::Sms,
            id: Uuid::now_v7(),
        };
        assert_eq!(c.to_string().parse::<TimelineCursor>().unwrap(), c);
        assert!("not-a-cursor!".parse::<TimelineCursor>().is_err());
        // A plain list cursor (an id alone) is not a timeline cursor.
        let id_only = URL_SAFE_NO_PAD.encode(Uuid::now_v7().as_bytes());
        assert!(id_only.parse::<TimelineCursor>().is_err());
        let pattern_ok = |s: &str| {
            s.len() == 34
                && s[..32]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && ["AA", "AQ", "Ag", "Aw", "BA"].contains(&&s[32..])
        };
        for kind in TimelineKind::ALL {
            assert!(
                pattern_ok(&TimelineCursor { kind, ..c }.to_string()),
                "{kind}"
            );
        }
        // Any string of the documented form reads, extreme times included.
        let extreme = format!("{}BA", "_".repeat(32));
        assert_eq!(
            extreme.parse::<TimelineCursor>().unwrap().kind,
            TimelineKind::Task
        );
        let mut bytes = URL_SAFE_NO_PAD.decode(c.to_string()).unwrap();
        bytes[24] = 9;
        assert!(
            URL_SAFE_NO_PAD
                .encode(bytes)
                .parse::<TimelineCursor>()
                .is_err()
        );
    }
}
