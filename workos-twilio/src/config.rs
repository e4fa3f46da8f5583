//! [`TwilioConfig`]: the platform Twilio account and the inbound policies, read from the
//! environment. The variable names are a public interface (`docs/twilio.md`).

use std::time::Duration;

use workos_core::domain::UnknownSender;
use workos_core::{Error, Result};

use crate::client::{DEFAULT_BASE_URL, DEFAULT_TIMEOUT};

/// `TWILIO_ACCOUNT_SID`: the platform account, which sends for orgs without their own.
pub const ENV_ACCOUNT_SID: &str = "TWILIO_ACCOUNT_SID";
/// `TWILIO_AUTH_TOKEN`: checks webhook signatures and authenticates REST calls.
pub const ENV_AUTH_TOKEN: &str = "TWILIO_AUTH_TOKEN";
/// `TWILIO_API_BASE_URL`: the REST API's base URL (a fake's, in tests).
pub const ENV_API_BASE_URL: &str = "TWILIO_API_BASE_URL";
/// `TWILIO_TIMEOUT_SECS`: how long one REST call may take, a positive number of seconds.
pub const ENV_TIMEOUT_SECS: &str = "TWILIO_TIMEOUT_SECS";
/// `WORKOS_TWILIO_UNKNOWN_SENDER`: `create_person` or `store_unmatched`.
pub const ENV_UNKNOWN_SENDER: &str = "WORKOS_TWILIO_UNKNOWN_SENDER";
/// `WORKOS_TWILIO_VOICE_GREETING`: what inbound callers hear before the recording.
pub const ENV_VOICE_GREETING: &str = "WORKOS_TWILIO_VOICE_GREETING";

/// The greeting when [`ENV_VOICE_GREETING`] is not set.
pub const DEFAULT_VOICE_GREETING: &str = "Please leave a message after the tone.";

/// How the engine uses Twilio. Every field has a default, so Twilio may be left unconfigured:
/// orgs can still bring their own accounts ([`crate::TwilioAccounts::set`]).
///
/// The `Debug` output hides the auth token.
#[derive(Clone)]
pub struct TwilioConfig {
    /// The platform account's SID; with [`TwilioConfig::auth_token`], it sends for orgs without
    /// an account of their own.
    pub account_sid: Option<String>,
    /// The platform account's auth token: it checks the signatures of webhooks for orgs
    /// without an account of their own.
    pub auth_token: Option<String>,
    /// The REST API's base URL, default [`DEFAULT_BASE_URL`].
    pub api_base_url: String,
    /// How long one REST call may take, default [`DEFAULT_TIMEOUT`].
    pub timeout: Duration,
    /// What inbound messages and calls from numbers no person has do.
    pub unknown_sender: UnknownSender,
    /// What inbound callers hear before the recording starts.
    pub voice_greeting: String,
}

impl Default for TwilioConfig {
    fn default() -> Self {
        Self {
            account_sid: None,
            auth_token: None,
            api_base_url: DEFAULT_BASE_URL.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            unknown_sender: UnknownSender::default(),
            voice_greeting: DEFAULT_VOICE_GREETING.to_owned(),
        }
    }
}

impl std::fmt::Debug for TwilioConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioConfig")
            .field("account_sid", &self.account_sid)
            .field("api_base_url", &self.api_base_url)
            .field("timeout", &self.timeout)
            .field("unknown_sender", &self.unknown_sender)
            .finish_non_exhaustive()
    }
}

impl TwilioConfig {
    /// Reads the configuration through `get` (the environment, or a map in tests): the
    /// `ENV_*` variables of this module; unset ones keep their defaults.
    ///
    /// # Errors
    /// [`Error::Validation`] naming [`ENV_TIMEOUT_SECS`] when it is not a positive whole
    /// number of seconds (an empty value included), or [`ENV_UNKNOWN_SENDER`] when it is
    /// neither `create_person` nor `store_unmatched`.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut config = Self {
            account_sid: get(ENV_ACCOUNT_SID),
            auth_token: get(ENV_AUTH_TOKEN),
            ..Self::default()
        };
        if let Some(url) = get(ENV_API_BASE_URL) {
            config.api_base_url = url;
        }
        if let Some(v) = get(ENV_TIMEOUT_SECS) {
            config.timeout = v
                .trim()
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .map(Duration::from_secs)
                .ok_or_else(|| Error::invalid(ENV_TIMEOUT_SECS, "not a positive integer"))?;
        }
        config.unknown_sender = match get(ENV_UNKNOWN_SENDER).as_deref() {
            None | Some("create_person") => UnknownSender::CreatePerson,
            Some("store_unmatched") => UnknownSender::StoreUnmatched,
            Some(other) => {
                return Err(Error::invalid(
                    ENV_UNKNOWN_SENDER,
                    format!("{other} is not create_person or store_unmatched"),
                ));
            }
        };
        if let Some(greeting) = get(ENV_VOICE_GREETING) {
            config.voice_greeting = greeting;
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn defaults_without_variables() {
        let config = TwilioConfig::from_lookup(lookup(&[])).unwrap();
        assert_eq!(config.api_base_url, DEFAULT_BASE_URL);
        assert_eq!(config.timeout, DEFAULT_TIMEOUT);
        assert_eq!(config.unknown_sender, UnknownSender::CreatePerson);
        assert_eq!(config.voice_greeting, DEFAULT_VOICE_GREETING);
        assert!(config.account_sid.is_none() && config.auth_token.is_none());
    }

    #[test]
    fn reads_every_variable() {
        let config = TwilioConfig::from_lookup(lookup(&[
            (ENV_ACCOUNT_SID, "AC1"),
            (ENV_AUTH_TOKEN, "token-123"),
            (ENV_API_BASE_URL, "http://127.0.0.1:9"),
            (ENV_TIMEOUT_SECS, " 3 "),
            (ENV_UNKNOWN_SENDER, "store_unmatched"),
            (ENV_VOICE_GREETING, "Hi"),
        ]))
        .unwrap();
        assert_eq!(config.account_sid.as_deref(), Some("AC1"));
        assert_eq!(config.api_base_url, "http://127.0.0.1:9");
        assert_eq!(config.timeout, Duration::from_secs(3));
        assert_eq!(config.unknown_sender, UnknownSender::StoreUnmatched);
        assert_eq!(config.voice_greeting, "Hi");
        assert!(
            !format!("{config:?}").contains("token-123"),
            "Debug hides the token"
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        for bad in ["0", "-1", "soon", ""] {
            let e = TwilioConfig::from_lookup(lookup(&[(ENV_TIMEOUT_SECS, bad)])).unwrap_err();
            assert!(e.to_string().contains(ENV_TIMEOUT_SECS), "{bad:?}: {e}");
        }
        let e = TwilioConfig::from_lookup(lookup(&[(ENV_UNKNOWN_SENDER, "drop")])).unwrap_err();
        assert!(e.to_string().contains(ENV_UNKNOWN_SENDER), "{e}");
    }
}
