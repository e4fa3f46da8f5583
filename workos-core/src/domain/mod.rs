//! Domain records and their inputs. `NewX` creates, `XPatch` updates (absent fields are kept),
//! `XFilter` narrows a list. Values inside are validated types, so a record is valid by
//! construction; [`NewCompany::validate`] and friends check what types cannot (lengths, blanks).

#[macro_use]
mod macros;

mod comms;
mod crm;
mod email;
mod integration;
mod lead;
mod lead_form;
mod lead_summary;
mod opt_out;
mod org;
mod partner;
mod ringing;
mod routing;
mod schedule;
mod search;
mod sorts;
mod timeline;
mod values;
mod webhook;

pub use comms::*;
pub use crm::*;
pub use email::*;
pub use integration::*;
pub use lead::*;
pub use lead_form::*;
pub use lead_summary::*;
pub use opt_out::*;
pub use org::*;
pub use partner::*;
pub use ringing::*;
pub use routing::*;
pub use schedule::*;
pub use search::*;
pub use sorts::person_name;
pub use timeline::*;
pub use values::*;
pub use webhook::*;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};

/// The engine's timestamp: UTC with microsecond precision (what Postgres stores), so a value
/// written and read back compares equal on every backend.
pub type Timestamp = DateTime<Utc>;

/// Truncates a time to the microsecond precision the engine stores.
#[must_use]
pub fn to_storage_precision(t: Timestamp) -> Timestamp {
    use chrono::{SubsecRound, Timelike};
    let micros = t.nanosecond() / 1_000 * 1_000;
    t.with_nanosecond(micros)
        .unwrap_or_else(|| t.trunc_subsecs(6))
}

/// The current time at storage precision.
#[must_use]
pub fn now() -> Timestamp {
    to_storage_precision(Utc::now())
}

/// A change to a nullable field: absent (keep), `null` (clear) or a value (set).
///
/// Deserialises from JSON so that a missing key is [`Patch::Keep`] (with `#[serde(default)]`),
/// `null` is [`Patch::Clear`] and anything else is [`Patch::Set`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Patch<T> {
    /// Leave the field as it is.
    #[default]
    Keep,
    /// Set the field to null.
    Clear,
    /// Set the field to the value.
    Set(T),
}

impl<T> Patch<T> {
    /// Applies the patch to a current value.
    pub fn apply(self, current: Option<T>) -> Option<T> {
        match self {
            Self::Keep => current,
            Self::Clear => None,
            Self::Set(v) => Some(v),
        }
    }

    /// Whether the patch changes anything.
    pub const fn is_keep(&self) -> bool {
        matches!(self, Self::Keep)
    }
}

impl<T: serde::Serialize> serde::Serialize for Patch<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Set(v) => s.serialize_some(v),
            Self::Keep | Self::Clear => s.serialize_none(),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(d)? {
            None => Self::Clear,
            Some(v) => Self::Set(v),
        })
    }
}

/// A half-open time range `[after, before)`; either bound may be open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimeRange {
    /// Inclusive lower bound.
    pub after: Option<DateTime<Utc>>,
    /// Exclusive upper bound.
    pub before: Option<DateTime<Utc>>,
}

pub(crate) fn check_text(
    v: &mut crate::error::Validator,
    field: &str,
    value: &str,
    required: bool,
    max: usize,
) {
    if required {
        v.require(!value.trim().is_empty(), field, "must not be blank");
    }
    v.require(
        value.chars().count() <= max,
        field,
        &format!("must be at most {max} characters"),
    );
    // Postgres text cannot hold NUL; refuse it on every backend alike.
    v.require(
        !value.contains('\0'),
        field,
        "must not contain NUL characters",
    );
}
