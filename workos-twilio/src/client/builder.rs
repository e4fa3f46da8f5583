//! [`Secret`] credentials and the [`TwilioClientBuilder`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use workos_core::Error;
use workos_core::error::{Result, Validator};

use super::{DEFAULT_BASE_URL, DEFAULT_TIMEOUT, Inner, TwilioClient, USER_AGENT};

/// A credential (auth token or API key secret). `Debug` prints `Secret(..)`; there is no
/// `Display` or `Serialize`, so it is read only through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The credential itself.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

/// Builds a [`TwilioClient`]; see [`TwilioClient::builder`].
///
/// Required: [`account_sid`](Self::account_sid) and either
/// [`auth_token`](Self::auth_token) or [`api_key`](Self::api_key).
#[derive(Debug, Clone)]
pub struct TwilioClientBuilder {
    account_sid: Option<String>,
    auth_token: Option<Secret>,
    api_key: Option<(String, Secret)>,
    base_url: String,
    timeout: Duration,
    get_retries: u32,
    retry_backoff: Duration,
    max_retry_wait: Duration,
}

impl Default for TwilioClientBuilder {
    fn default() -> Self {
        Self {
            account_sid: None,
            auth_token: None,
            api_key: None,
            base_url: DEFAULT_BASE_URL.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            get_retries: 3,
            retry_backoff: Duration::from_millis(250),
            max_retry_wait: Duration::from_secs(30),
        }
    }
}

impl TwilioClientBuilder {
    /// The account (or subaccount) SID, `AC…`; it names the account in every request path.
    #[must_use]
    pub fn account_sid(mut self, account_sid: impl Into<String>) -> Self {
        self.account_sid = Some(account_sid.into());
        self
    }

    /// Authenticate with the account's auth token (HTTP Basic `account_sid:auth_token`).
    #[must_use]
    pub fn auth_token(mut self, auth_token: impl Into<Secret>) -> Self {
        self.auth_token = Some(auth_token.into());
        self
    }

    /// Authenticate with an API key (`SK…`) and its secret instead of the auth token (HTTP
    /// Basic `key_sid:secret`); the account SID still names the account in the paths.
    #[must_use]
    pub fn api_key(mut self, key_sid: impl Into<String>, secret: impl Into<Secret>) -> Self {
        self.api_key = Some((key_sid.into(), secret.into()));
        self
    }

    /// The API's base URL (default [`DEFAULT_BASE_URL`]); point it at a fake in tests.
    /// A trailing `/` is ignored; a path prefix is kept.
    #[must_use]
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// The whole-request timeout (default 15 s); connecting is limited to the smaller of
    /// this and 10 s.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many times an idempotent GET is retried after a transport error, a 5xx or a 429
    /// (default 3, so at most 4 attempts). Creating requests are never retried.
    #[must_use]
    pub fn get_retries(mut self, retries: u32) -> Self {
        self.get_retries = retries;
        self
    }

    /// The first backoff between GET attempts (default 250 ms), doubled after each attempt
    /// and capped at 8 s.
    #[must_use]
    pub fn retry_backoff(mut self, backoff: Duration) -> Self {
        self.retry_backoff = backoff;
        self
    }

    /// The longest `Retry-After` a GET waits out before retrying (default 30 s); a longer
    /// one is returned to the caller as [`Error::RateLimited`].
    #[must_use]
    pub fn max_retry_wait(mut self, max: Duration) -> Self {
        self.max_retry_wait = max;
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// [`Error::Validation`] naming every problem: a missing or non-alphanumeric account
    /// SID, no credential (or both an auth token and an API key), an empty credential, a
    /// base URL that is not an absolute `http(s)` URL without query, or a zero timeout.
    /// [`Error::Internal`] when the HTTP client cannot be built (TLS backend failure).
    pub fn build(self) -> Result<TwilioClient> {
        let mut v = Validator::new();
        let account_sid = self.account_sid.unwrap_or_default();
        v.require(
            is_sid(&account_sid),
            "account_sid",
            "the account SID is required and must be alphanumeric (AC…)",
        );
        let credentials = match (self.auth_token, self.api_key) {
            (Some(token), None) => {
                v.require(
                    !token.expose().is_empty(),
                    "auth_token",
                    "must not be empty",
                );
                Some(Credentials {
                    username: account_sid.clone(),
                    password: token,
                })
            }
            (None, Some((key_sid, secret))) => {
                v.require(
                    is_sid(&key_sid) && !secret.expose().is_empty(),
                    "api_key",
                    "the API key SID must be alphanumeric (SK…) and its secret not empty",
                );
                Some(Credentials {
                    username: key_sid,
                    password: secret,
                })
            }
            (None, None) => {
                v.require(
                    false,
                    "auth_token",
                    "an auth token or an API key is required",
                );
                None
            }
            (Some(_), Some(_)) => {
                v.require(
                    false,
                    "api_key",
                    "set either an auth token or an API key, not both",
                );
                None
            }
        };
        let base_url = self.base_url.trim().trim_end_matches('/').to_owned();
        let base_ok = reqwest::Url::parse(&base_url).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https")
                && u.host().is_some()
                && u.query().is_none()
                && u.fragment().is_none()
        });
        v.require(
            base_ok,
            "base_url",
            "must be an absolute http(s) URL without query or fragment",
        );
        v.require(!self.timeout.is_zero(), "timeout", "must not be zero");
        v.finish()?;
        let credentials = credentials.expect("validated above");

        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| Error::internal("cannot build the Twilio HTTP client", e))?;
        Ok(TwilioClient {
            inner: Arc::new(Inner {
                http,
                account_sid,
                credentials,
                base_url,
                timeout: self.timeout,
                get_retries: self.get_retries,
                retry_backoff: self.retry_backoff,
                max_retry_wait: self.max_retry_wait,
            }),
        })
    }
}

/// Whether `s` is usable as a SID in a URL path: non-empty ASCII alphanumerics.
pub(super) fn is_sid(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[derive(Clone)]
pub(super) struct Credentials {
    pub(super) username: String,
    pub(super) password: Secret,
}
