//! Connected accounts (integrations, e.g. a Gmail mailbox): their status, and what connecting
//! one takes.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{EmailAddress, check_text};
use crate::error::{Error, ValidationError, Validator};
use crate::ids::{IntegrationId, OrgId};

/// The provider name of a Gmail integration.
pub const GMAIL: &str = "gmail";

/// Where a connected account stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum IntegrationStatus {
    /// Connected and working.
    Active,
    /// A sync is running.
    Syncing,
    /// Recent syncs failed (see `last_error`); they are retried.
    Failing,
    /// The provider rejected the credentials: a user must connect the account again.
    NeedsReauth,
    /// Disconnected: its credentials are deleted and nothing syncs. Connecting the same account
    /// again revives it.
    Disconnected,
}

impl IntegrationStatus {
    /// Every status, in order.
    pub const ALL: &'static [Self] = &[
        Self::Active,
        Self::Syncing,
        Self::Failing,
        Self::NeedsReauth,
        Self::Disconnected,
    ];

    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Syncing => "syncing",
            Self::Failing => "failing",
            Self::NeedsReauth => "needs_reauth",
            Self::Disconnected => "disconnected",
        }
    }

    /// Parses a stored name.
    ///
    /// # Errors
    /// [`crate::Error::Validation`] on `status` for an unknown name.
    pub fn parse(s: &str) -> crate::Result<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(
                    "status",
                    "must be active, syncing, failing, needs_reauth or disconnected",
                )
            })
    }
}

impl fmt::Display for IntegrationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IntegrationStatus {
    type Err = Error;

    fn from_str(s: &str) -> crate::Result<Self> {
        Self::parse(s)
    }
}

/// A connected account of the org, e.g. a Gmail mailbox. Its credentials (sealed OAuth tokens)
/// are never part of this record: only the sync and send code reads them, through
/// [`crate::repo::IntegrationRepo::integration_credentials`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Integration {
    /// Its id.
    pub id: IntegrationId,
    /// The org it belongs to.
    pub org_id: OrgId,
    /// The provider, e.g. `gmail`.
    pub provider: String,
    /// The account at the provider (for Gmail, the mailbox's address, lower-cased).
    pub account: String,
    /// Where it stands.
    pub status: IntegrationStatus,
    /// Provider settings chosen when connecting (a JSON object).
    pub settings: serde_json::Value,
    /// The sync's own bookmark (e.g. Gmail's `historyId`), a JSON object.
    pub sync_state: serde_json::Value,
    /// When a sync last completed.
    pub last_synced_at: Option<DateTime<Utc>>,
    /// What went wrong last, when the integration is failing or needs reauthorisation.
    pub last_error: Option<String>,
    /// Push notifications (Gmail: `users.watch` to a Pub/Sub topic): until when the provider
    /// publishes the account's changes; `None` when nothing is watched.
    #[serde(default)]
    pub watch_expires_at: Option<DateTime<Utc>>,
    /// The provider's position (Gmail: `historyId`) when the watch was last made or renewed.
    #[serde(default)]
    pub watch_history_id: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Input for connecting an account.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewIntegration {
    /// The provider: lower-case letters, digits and `_`, e.g. `gmail`.
    pub provider: String,
    /// The account at the provider; for `gmail`, an email address.
    pub account: String,
    /// Provider settings, a JSON object (default `{}`).
    #[serde(default = "empty_object")]
    pub settings: serde_json::Value,
}

/// A watch made at the provider ([`Integration::watch_expires_at`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationWatch {
    /// Until when the provider publishes changes.
    pub expires_at: DateTime<Utc>,
    /// The provider's position when the watch was made (Gmail: `historyId`).
    pub history_id: String,
}

pub(super) fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

impl NewIntegration {
    /// A Gmail connection of `account` with no settings.
    pub fn gmail(account: impl Into<String>) -> Self {
        Self {
            provider: GMAIL.to_owned(),
            account: account.into(),
            settings: empty_object(),
        }
    }

    /// Checks what the types cannot, and normalises the account: trimmed, and lower-cased when
    /// it is an email address (so the same mailbox cannot be connected twice under two
    /// spellings).
    ///
    /// # Errors
    /// A [`ValidationError`] naming each invalid field.
    pub fn validate(&mut self) -> Result<(), ValidationError> {
        let mut v = Validator::new();
        self.provider = self.provider.trim().to_owned();
        v.require(
            !self.provider.is_empty()
                && self.provider.len() <= 50
                && self
                    .provider
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "provider",
            "must be 1-50 lower-case letters, digits or _, e.g. gmail",
        );
        self.account = self.account.trim().to_owned();
        check_text(&mut v, "account", &self.account, true, 320);
        match EmailAddress::parse(&self.account) {
            Ok(address) => self.account = address.as_ref().to_owned(),
            Err(e) if self.provider == GMAIL => v.require(false, "account", &e.to_string()),
            Err(_) => {}
        }
        check_object(&mut v, "settings", &self.settings, 64 * 1024);
        v.finish()
    }
}

pub(super) fn check_object(
    v: &mut Validator,
    field: &str,
    value: &serde_json::Value,
    max_bytes: usize,
) {
    v.require(value.is_object(), field, "must be a JSON object");
    v.require(
        value.to_string().len() <= max_bytes,
        field,
        &format!("must be at most {max_bytes} bytes of JSON"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_round_trip() {
        for s in IntegrationStatus::ALL {
            assert_eq!(IntegrationStatus::parse(s.as_str()).unwrap(), *s);
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::Value::from(s.as_str())
            );
        }
        assert!(IntegrationStatus::parse("broken").is_err());
    }

    #[test]
    fn new_integration_normalises_and_validates() {
        let mut ok = NewIntegration::gmail("  Ada@Example.COM ");
        ok.validate().unwrap();
        assert_eq!(ok.account, "ada@example.com");

        let mut bad = NewIntegration {
            provider: "G Mail".into(),
            account: String::new(),
            settings: serde_json::json!([1]),
        };
        let err = bad.validate().unwrap_err();
        let fields: Vec<_> = err.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["provider", "account", "settings"]);

        let mut not_an_address = NewIntegration::gmail("ada");
        assert!(not_an_address.validate().is_err());
    }
}
