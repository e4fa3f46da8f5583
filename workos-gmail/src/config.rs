//! Where Google is and who we are to it: the OAuth client and the endpoints.

use std::fmt;

use workos_core::{Error, Result};

/// Google's authorization endpoint.
pub const GOOGLE_AUTH_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
/// Google's token endpoint.
pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// Google's token revocation endpoint.
pub const GOOGLE_REVOKE_URL: &str = "https://oauth2.googleapis.com/revoke";
/// The Gmail API's base URL.
pub const GMAIL_API_BASE_URL: &str = "https://gmail.googleapis.com";
/// The scope to send mail.
pub const SCOPE_GMAIL_SEND: &str = "https://www.googleapis.com/auth/gmail.send";
/// The scope to read mail (sync).
pub const SCOPE_GMAIL_READONLY: &str = "https://www.googleapis.com/auth/gmail.readonly";

/// The environment variables [`GmailConfig::from_lookup`] reads.
pub mod env {
    /// The OAuth client id (required).
    pub const CLIENT_ID: &str = "GOOGLE_CLIENT_ID";
    /// The OAuth client secret (required).
    pub const CLIENT_SECRET: &str = "GOOGLE_CLIENT_SECRET";
    /// Where Google sends the user back with a code (required).
    pub const REDIRECT_URL: &str = "GOOGLE_REDIRECT_URL";
    /// The authorization endpoint (default Google's).
    pub const AUTH_URL: &str = "GOOGLE_AUTH_URL";
    /// The token endpoint (default Google's).
    pub const TOKEN_URL: &str = "GOOGLE_TOKEN_URL";
    /// The revocation endpoint (default Google's).
    pub const REVOKE_URL: &str = "GOOGLE_REVOKE_URL";
    /// The Gmail API base URL (default `https://gmail.googleapis.com`).
    pub const API_BASE_URL: &str = "GMAIL_API_BASE_URL";
}

/// The OAuth client and the endpoints of Google (or of a fake of it, in tests).
///
/// `Debug` never prints the client secret.
#[derive(Clone, PartialEq, Eq)]
pub struct GmailConfig {
    /// The OAuth client id.
    pub client_id: String,
    /// The OAuth client secret.
    pub client_secret: String,
    /// Where Google redirects the user with `code` and `state`.
    pub redirect_url: String,
    /// The authorization endpoint.
    pub auth_url: String,
    /// The token endpoint.
    pub token_url: String,
    /// The revocation endpoint.
    pub revoke_url: String,
    /// The Gmail API's base URL, without a trailing `/`.
    pub api_base_url: String,
    /// The scopes asked for; by default `gmail.send` and `gmail.readonly`.
    pub scopes: Vec<String>,
}

impl fmt::Debug for GmailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GmailConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"..")
            .field("redirect_url", &self.redirect_url)
            .field("auth_url", &self.auth_url)
            .field("token_url", &self.token_url)
            .field("revoke_url", &self.revoke_url)
            .field("api_base_url", &self.api_base_url)
            .field("scopes", &self.scopes)
            .finish()
    }
}

impl GmailConfig {
    /// A configuration with Google's real endpoints and the default scopes.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        redirect_url: impl Into<String>,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            redirect_url: redirect_url.into(),
            auth_url: GOOGLE_AUTH_URL.to_owned(),
            token_url: GOOGLE_TOKEN_URL.to_owned(),
            revoke_url: GOOGLE_REVOKE_URL.to_owned(),
            api_base_url: GMAIL_API_BASE_URL.to_owned(),
            scopes: vec![SCOPE_GMAIL_SEND.to_owned(), SCOPE_GMAIL_READONLY.to_owned()],
        }
    }

    /// Reads the configuration through `lookup` (e.g. `|name| std::env::var(name).ok()`), with
    /// the names in [`env`](mod@env). Blank values count as unset.
    ///
    /// Returns `Ok(None)` when none of the three required variables is set (Gmail is not
    /// configured), so a server can run without it.
    ///
    /// # Errors
    /// [`Error::Validation`] naming each required variable that is missing when another is
    /// set, and each URL that does not parse.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Self>> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let required = [env::CLIENT_ID, env::CLIENT_SECRET, env::REDIRECT_URL].map(get);
        if required.iter().all(Option::is_none) {
            return Ok(None);
        }
        let mut v = workos_core::error::Validator::new();
        for (name, value) in [env::CLIENT_ID, env::CLIENT_SECRET, env::REDIRECT_URL]
            .iter()
            .zip(&required)
        {
            v.require(value.is_some(), name, "must be set to use Gmail");
        }
        let [client_id, client_secret, redirect_url] = required;
        let mut config = Self::new(
            client_id.unwrap_or_default(),
            client_secret.unwrap_or_default(),
            redirect_url.unwrap_or_default(),
        );
        for (name, slot) in [
            (env::AUTH_URL, &mut config.auth_url),
            (env::TOKEN_URL, &mut config.token_url),
            (env::REVOKE_URL, &mut config.revoke_url),
            (env::API_BASE_URL, &mut config.api_base_url),
        ] {
            if let Some(value) = get(name) {
                *slot = value;
            }
        }
        config.api_base_url = config.api_base_url.trim_end_matches('/').to_owned();
        for (name, url) in [
            (env::REDIRECT_URL, &config.redirect_url),
            (env::AUTH_URL, &config.auth_url),
            (env::TOKEN_URL, &config.token_url),
            (env::REVOKE_URL, &config.revoke_url),
            (env::API_BASE_URL, &config.api_base_url),
        ] {
            if !url.is_empty() {
                let ok = url::Url::parse(url)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
                v.require(ok, name, "must be an http(s) URL");
            }
        }
        v.finish().map_err(Error::Validation)?;
        Ok(Some(config))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn unset_means_not_configured() {
        assert_eq!(GmailConfig::from_lookup(lookup(&[])).unwrap(), None);
        assert_eq!(
            GmailConfig::from_lookup(lookup(&[(env::CLIENT_ID, "  ")])).unwrap(),
            None
        );
    }

    #[test]
    fn defaults_to_google() {
        let config = GmailConfig::from_lookup(lookup(&[
            (env::CLIENT_ID, "id"),
            (env::CLIENT_SECRET, "secret"),
            (env::REDIRECT_URL, "https://app.test/oauth/google"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(config.auth_url, GOOGLE_AUTH_URL);
        assert_eq!(config.token_url, GOOGLE_TOKEN_URL);
        assert_eq!(config.revoke_url, GOOGLE_REVOKE_URL);
        assert_eq!(config.api_base_url, GMAIL_API_BASE_URL);
        assert_eq!(config.scopes, [SCOPE_GMAIL_SEND, SCOPE_GMAIL_READONLY]);
        assert!(!format!("{config:?}").contains("secret\""));
    }

    #[test]
    fn overrides_and_errors() {
        let config = GmailConfig::from_lookup(lookup(&[
            (env::CLIENT_ID, "id"),
            (env::CLIENT_SECRET, "secret"),
            (env::REDIRECT_URL, "https://app.test/cb"),
            (env::API_BASE_URL, "http://127.0.0.1:9/"),
            (env::TOKEN_URL, "http://127.0.0.1:9/token"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(config.api_base_url, "http://127.0.0.1:9");
        assert_eq!(config.token_url, "http://127.0.0.1:9/token");

        let err = GmailConfig::from_lookup(lookup(&[
            (env::CLIENT_ID, "id"),
            (env::AUTH_URL, "not a url"),
        ]))
        .unwrap_err();
        let Error::Validation(v) = err else {
            panic!("expected validation")
        };
        let fields: Vec<_> = v.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [env::CLIENT_SECRET, env::REDIRECT_URL, env::AUTH_URL]
        );
    }
}
