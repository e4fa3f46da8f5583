//! Inbound ringing: which members a call to one of the org's numbers rings, and how.

use serde::{Deserialize, Serialize};

use crate::domain::E164;
use crate::ids::{MemberId, PhoneId};

/// How the members of a number are rung.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RingStrategy {
    /// One after the other, in the order given, each for `timeout_seconds`.
    #[default]
    Sequential,
    /// All at once for `timeout_seconds`; the first to answer takes the call.
    Simultaneous,
}

impl RingStrategy {
    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sequential => "sequential",
            Self::Simultaneous => "simultaneous",
        }
    }

    /// Parses a stored name.
    ///
    /// # Errors
    /// [`crate::Error::Validation`] on `strategy`.
    pub fn parse(s: &str) -> crate::Result<Self> {
        match s {
            "sequential" => Ok(Self::Sequential),
            "simultaneous" => Ok(Self::Simultaneous),
            _ => Err(crate::Error::invalid(
                "strategy",
                "must be sequential or simultaneous",
            )),
        }
    }
}

/// The ringing of one of the org's numbers: when no member answers (or none is set), the
/// caller hears the greeting and leaves a voicemail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RingSettings {
    /// The members to ring, in order (at most 10, no repeats); each rings on the phone on their
    /// membership (`PUT /api/v1/members/{id}/phone`), members without one are skipped. Empty:
    /// straight to voicemail.
    pub members: Vec<MemberId>,
    /// `sequential` (default) or `simultaneous`.
    #[serde(default)]
    pub strategy: RingStrategy,
    /// How long each member (sequential) or all of them (simultaneous) ring, 5–600 seconds
    /// (default 20).
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u32,
}

const fn default_timeout() -> u32 {
    RingSettings::DEFAULT_TIMEOUT_SECONDS
}

impl Default for RingSettings {
    fn default() -> Self {
        Self {
            members: Vec::new(),
            strategy: RingStrategy::Sequential,
            timeout_seconds: Self::DEFAULT_TIMEOUT_SECONDS,
        }
    }
}

impl RingSettings {
    /// The most members a number rings (Twilio dials at most ten numbers at once).
    pub const MAX_MEMBERS: usize = 10;
    /// How long members ring by default.
    pub const DEFAULT_TIMEOUT_SECONDS: u32 = 20;

    /// Checks the limits.
    ///
    /// # Errors
    /// [`crate::Error::Validation`] on `members` (more than 10, or a repeat) or
    /// `timeout_seconds` (outside 5–600).
    pub fn validate(&self) -> crate::Result<()> {
        if self.members.len() > Self::MAX_MEMBERS {
            return Err(crate::Error::invalid(
                "members",
                format!("at most {} members", Self::MAX_MEMBERS),
            ));
        }
        for (i, m) in self.members.iter().enumerate() {
            if self.members[..i].contains(m) {
                return Err(crate::Error::invalid("members", format!("{m} is repeated")));
            }
        }
        if !(5..=600).contains(&self.timeout_seconds) {
            return Err(crate::Error::invalid(
                "timeout_seconds",
                "must be 5 to 600 seconds",
            ));
        }
        Ok(())
    }
}

/// What an inbound call to a number rings: its settings, and the phones of its members that
/// have one, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingTargets {
    /// The number.
    pub phone_id: PhoneId,
    /// Its settings.
    pub settings: RingSettings,
    /// The members' phones, in the settings' order (members without a phone left out).
    pub phones: Vec<(MemberId, E164)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(r: crate::Result<()>) -> String {
        match r {
            Err(crate::Error::Validation(v)) => v.errors[0].field.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn limits_name_the_field() {
        let m = MemberId::new();
        let bad = RingSettings {
            members: vec![m, m],
            ..RingSettings::default()
        };
        assert_eq!(field(bad.validate()), "members");
        let bad = RingSettings {
            timeout_seconds: 4,
            ..RingSettings::default()
        };
        assert_eq!(field(bad.validate()), "timeout_seconds");
        assert!(RingSettings::default().validate().is_ok());
        assert_eq!(
            RingStrategy::parse("simultaneous").unwrap(),
            RingStrategy::Simultaneous
        );
    }
}
