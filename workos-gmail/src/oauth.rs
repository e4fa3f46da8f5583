//! OAuth 2.0 with Google (authorization code with PKCE S256, offline access), through the
//! `oauth2` crate on the workspace's `reqwest`.
//!
//! The connect flow: [`GmailOAuth::authorization_url`] makes a single-use `state` bound to the
//! org and user who started it and a PKCE verifier, kept in a [`StateStore`] for
//! [`STATE_TTL`]; the user consents at Google, which redirects to the configured redirect URL
//! with `code` and `state`; [`GmailOAuth::exchange`] takes the state back (once: a replay
//! fails), checks it is the same org and user, and exchanges the code with the verifier.
//!
//! The redirect arrives at a public handler without the caller's credentials, so the state
//! alone would let anyone who holds the consent link finish the connect: an admin could send a
//! victim the real Google link, and the victim's mailbox would land in the admin's org. Each
//! connect therefore also has a **browser nonce** ([`PendingConnect::browser_nonce`]): the
//! application sets it in a short-lived cookie of the browser that starts the connect, and the
//! redirect handler presents the cookie back ([`GmailOAuth::take_bound_state`]); only a keyed
//! hash of it is kept with the state ([`browser_binding`]), and a redirect without the matching
//! cookie is refused before anything is exchanged or stored.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError,
    Scope, TokenResponse as _, TokenUrl,
};
use url::Url;
use workos_core::crypto::{Cipher, SealLabel, constant_time_eq, hmac_sha256};
use workos_core::ids::{OrgId, UserId};
use workos_core::repo::{OAuthStateRepo, PendingOAuth, SealedSecrets};
use workos_core::{Error, Result};

use crate::config::GmailConfig;

/// How long a started connect stays valid.
pub const STATE_TTL: Duration = Duration::from_secs(10 * 60);
/// The lifetime assumed for an access token when Google does not say.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// The provider name in errors.
pub(crate) const PROVIDER: &str = "gmail";
/// The `code` of the error a call fails with when the account must be connected again.
pub const NEEDS_REAUTH_CODE: &str = "needs_reauth";

type GoogleClient =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// Tokens Google issued. `Debug` never prints them.
#[derive(Clone, PartialEq, Eq)]
pub struct Tokens {
    /// The bearer token for the Gmail API.
    pub access_token: String,
    /// The long-lived token to get new access tokens (Google sends it on the first consent,
    /// which `prompt=consent` forces, and usually not on refreshes).
    pub refresh_token: Option<String>,
    /// When the access token expires.
    pub expires_at: DateTime<Utc>,
    /// The scopes granted, when Google said.
    pub scopes: Vec<String>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("access_token", &"..")
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| ".."))
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// A connect in progress: the `state` sent to Google, the PKCE verifier of its challenge, and
/// the nonce that binds it to the starting browser. `Debug` never prints the verifier or the
/// nonce.
#[derive(Clone, PartialEq, Eq)]
pub struct PendingConnect {
    /// The `state` parameter (random, single use).
    pub state: String,
    /// The PKCE code verifier.
    pub pkce_verifier: String,
    /// Random, 32 bytes base64url: set it in a cookie of the browser that goes to Google
    /// (HttpOnly, Secure, SameSite=Lax, for [`STATE_TTL`]); the redirect handler must present
    /// it to [`GmailOAuth::take_bound_state`]. Only [`browser_binding`] of it is kept.
    pub browser_nonce: String,
}

impl fmt::Debug for PendingConnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingConnect")
            .field("state", &self.state)
            .field("pkce_verifier", &"..")
            .field("browser_nonce", &"..")
            .finish()
    }
}

/// What is kept of a browser nonce: a keyed SHA-256 of it, base64url.
#[must_use]
pub fn browser_binding(nonce: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hmac_sha256(
        b"workos.gmail.browser-binding",
        nonce.as_bytes(),
    ))
}

/// What a [`StateStore`] keeps for a started connect.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredState {
    /// The org that started the connect.
    pub org_id: OrgId,
    /// The user who started it.
    pub user_id: UserId,
    /// The PKCE code verifier.
    pub pkce_verifier: String,
    /// [`browser_binding`] of the starting browser's nonce; `None` for a connect that is not
    /// bound to a browser (it cannot be finished through [`GmailOAuth::take_bound_state`]).
    pub browser_binding: Option<String>,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for StoredState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredState")
            .field("org_id", &self.org_id)
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Where started connects wait for Google's redirect.
///
/// [`InMemoryStateStore`] serves one process. A deployment with several processes behind a
/// load balancer (the redirect may reach another process than the one that started the
/// connect) needs a shared implementation whose [`StateStore::take`] removes atomically:
/// [`SharedStateStore`] keeps states in the engine's store (`DELETE … RETURNING`).
#[async_trait]
pub trait StateStore: Send + Sync {
    /// Keeps `stored` under `state`.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when the store fails.
    async fn put(&self, state: &str, stored: StoredState) -> Result<()>;

    /// Removes and returns what is kept under `state`, if anything: a state is used once. An
    /// expired state may be returned; the caller checks `expires_at`.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when the store fails.
    async fn take(&self, state: &str) -> Result<Option<StoredState>>;
}

/// A [`StateStore`] in this process's memory; expired states are dropped as new ones come.
#[derive(Debug, Default)]
pub struct InMemoryStateStore {
    states: Mutex<HashMap<String, StoredState>>,
}

impl InMemoryStateStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// How many states are kept (expired ones not yet dropped included).
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no state is kept.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, StoredState>> {
        self.states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl StateStore for InMemoryStateStore {
    async fn put(&self, state: &str, stored: StoredState) -> Result<()> {
        let now = Utc::now();
        let mut states = self.lock();
        states.retain(|_, s| s.expires_at > now);
        states.insert(state.to_owned(), stored);
        Ok(())
    }

    async fn take(&self, state: &str) -> Result<Option<StoredState>> {
        Ok(self.lock().remove(state))
    }
}

/// A [`StateStore`] on the engine's store ([`OAuthStateRepo`]): shared by every process on
/// the database, so Google's redirect may reach any of them. The store keeps a hash of the
/// state, and the PKCE verifier sealed with the engine's cipher (bound to the org); a state is
/// taken with `DELETE … RETURNING`, so it is used once even across processes.
pub struct SharedStateStore {
    repo: Arc<dyn OAuthStateRepo>,
    cipher: Arc<Cipher>,
}

impl fmt::Debug for SharedStateStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedStateStore").finish_non_exhaustive()
    }
}

impl SharedStateStore {
    /// States kept in `repo`, verifiers sealed with `cipher`.
    #[must_use]
    pub fn new(repo: Arc<dyn OAuthStateRepo>, cipher: Arc<Cipher>) -> Self {
        Self { repo, cipher }
    }

    /// What binds a sealed PKCE verifier to its org ([`SealLabel`], the engine's one scheme).
    fn aad(org: OrgId) -> Vec<u8> {
        SealLabel::org(org, "gmail.oauth_state").as_bytes().to_vec()
    }

    /// The labels a sealed verifier of `org` opens under, the current one first (for re-sealing
    /// them with a new key, see `Cipher::reseal`).
    #[must_use]
    pub fn labels(org: OrgId) -> Vec<Vec<u8>> {
        vec![Self::aad(org), Self::legacy_aad(org)]
    }

    /// The label states were sealed with before the labels were unified (a state lives
    /// minutes; this keeps a connection started just before an upgrade working).
    fn legacy_aad(org: OrgId) -> Vec<u8> {
        let mut aad = b"oauth_state:".to_vec();
        aad.extend_from_slice(org.as_uuid().as_bytes());
        aad
    }
}

#[async_trait]
impl StateStore for SharedStateStore {
    async fn put(&self, state: &str, stored: StoredState) -> Result<()> {
        // The browser binding travels sealed with the verifier (a verifier has no newline).
        let secret = match &stored.browser_binding {
            Some(binding) => format!("{}\n{binding}", stored.pkce_verifier),
            None => stored.pkce_verifier.clone(),
        };
        let sealed = self.cipher.encrypt_str(&secret, &Self::aad(stored.org_id));
        self.repo
            .put_oauth_state(
                state,
                PendingOAuth {
                    org_id: stored.org_id,
                    user_id: stored.user_id,
                    provider: PROVIDER.to_owned(),
                    sealed_verifier: SealedSecrets(sealed),
                    expires_at: stored.expires_at,
                },
            )
            .await
    }

    async fn take(&self, state: &str) -> Result<Option<StoredState>> {
        let Some(pending) = self.repo.take_oauth_state(state).await? else {
            return Ok(None);
        };
        if pending.provider != PROVIDER {
            return Ok(None);
        }
        let secret = self
            .cipher
            .decrypt_str(&pending.sealed_verifier.0, &Self::aad(pending.org_id))
            .or_else(|e| {
                self.cipher
                    .decrypt_str(
                        &pending.sealed_verifier.0,
                        &Self::legacy_aad(pending.org_id),
                    )
                    .map_err(|_| e)
            })
            .map_err(|e| Error::internal("an OAuth state's PKCE verifier does not open", e))?;
        let (verifier, binding) = match secret.split_once('\n') {
            Some((verifier, binding)) => (verifier.to_owned(), Some(binding.to_owned())),
            None => (secret, None),
        };
        Ok(Some(StoredState {
            org_id: pending.org_id,
            user_id: pending.user_id,
            pkce_verifier: verifier,
            browser_binding: binding,
            expires_at: pending.expires_at,
        }))
    }
}

fn invalid_state() -> Error {
    Error::invalid(
        "state",
        "unknown, already used or expired; start connecting again",
    )
}

/// Why a token request failed, as far as the caller must act on it.
#[derive(Debug)]
#[non_exhaustive]
pub enum OAuthFailure {
    /// Google refused the grant for good (`invalid_grant`: revoked, expired or the password
    /// changed; `invalid_scope`; `unauthorized_client`): the user must connect again.
    Permanent {
        /// Google's `error`.
        error: String,
        /// Google's `error_description`, when given.
        description: Option<String>,
    },
    /// Anything else: the network, a 5xx, an unreadable answer, or an error of our own
    /// configuration (`invalid_client`, `invalid_request`) that reconnecting would not fix.
    Other(Error),
}

impl OAuthFailure {
    /// The engine error for this failure: a permanent one is [`Error::Provider`] with code
    /// [`NEEDS_REAUTH_CODE`].
    #[must_use]
    pub fn into_error(self) -> Error {
        match self {
            Self::Permanent { error, description } => needs_reauth_error(&error, description),
            Self::Other(e) => e,
        }
    }
}

/// The error of a call on an integration that must be connected again.
pub(crate) fn needs_reauth_error(error: &str, description: Option<String>) -> Error {
    Error::Provider {
        provider: PROVIDER,
        status: None,
        code: Some(NEEDS_REAUTH_CODE.to_owned()),
        message: format!(
            "Google refused the account's authorization ({error}{}); connect the account again",
            description.map(|d| format!(": {d}")).unwrap_or_default()
        ),
    }
}

/// Whether `err` says the integration must be connected again (see [`NEEDS_REAUTH_CODE`]).
#[must_use]
pub fn is_needs_reauth(err: &Error) -> bool {
    matches!(err, Error::Provider { provider: PROVIDER, code: Some(code), .. } if code == NEEDS_REAUTH_CODE)
}

/// Google's OAuth endpoints for one client.
pub struct GmailOAuth {
    client: GoogleClient,
    revoke_url: Url,
    http: reqwest::Client,
    scopes: Vec<String>,
    states: Arc<dyn StateStore>,
}

impl fmt::Debug for GmailOAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GmailOAuth")
            .field("client_id", self.client.client_id())
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

fn bad_url(field: &str) -> impl FnOnce(url::ParseError) -> Error + '_ {
    move |e| Error::invalid(field, format!("must be a URL: {e}"))
}

impl GmailOAuth {
    /// The client of `config`, keeping started connects in `states`. `http` must not follow
    /// redirects (the token endpoint must answer itself; see [`crate::http_client`]).
    ///
    /// # Errors
    /// [`Error::Validation`] when a configured URL does not parse.
    pub fn new(
        config: &GmailConfig,
        http: reqwest::Client,
        states: Arc<dyn StateStore>,
    ) -> Result<Self> {
        let client = BasicClient::new(ClientId::new(config.client_id.clone()))
            .set_client_secret(ClientSecret::new(config.client_secret.clone()))
            // Google documents the credentials in the body; it accepts Basic too.
            .set_auth_type(AuthType::RequestBody)
            .set_auth_uri(AuthUrl::new(config.auth_url.clone()).map_err(bad_url("auth_url"))?)
            .set_token_uri(TokenUrl::new(config.token_url.clone()).map_err(bad_url("token_url"))?)
            .set_redirect_uri(
                RedirectUrl::new(config.redirect_url.clone()).map_err(bad_url("redirect_url"))?,
            );
        let revoke_url = Url::parse(&config.revoke_url).map_err(bad_url("revoke_url"))?;
        Ok(Self {
            client,
            revoke_url,
            http,
            scopes: config.scopes.clone(),
            states,
        })
    }

    /// Starts a connect for `user` of `org`: the URL to send the user to (PKCE S256,
    /// `access_type=offline`, `prompt=consent`, the configured scopes) and what was kept for
    /// the redirect. The state is kept for [`STATE_TTL`] and bound to `org` and `user`.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when the state store fails.
    pub async fn authorization_url(
        &self,
        org: OrgId,
        user: UserId,
    ) -> Result<(Url, PendingConnect)> {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = self
            .client
            .authorize_url(CsrfToken::new_random)
            .set_pkce_challenge(challenge)
            .add_extra_param("access_type", "offline")
            .add_extra_param("prompt", "consent")
            .add_extra_param("include_granted_scopes", "true");
        for scope in &self.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state) = request.url();
        let pending = PendingConnect {
            state: state.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            browser_nonce: CsrfToken::new_random_len(32).secret().clone(),
        };
        let expires_at = Utc::now()
            + chrono::Duration::from_std(STATE_TTL).unwrap_or(chrono::Duration::minutes(10));
        self.states
            .put(
                &pending.state,
                StoredState {
                    org_id: org,
                    user_id: user,
                    pkce_verifier: pending.pkce_verifier.clone(),
                    browser_binding: Some(browser_binding(&pending.browser_nonce)),
                    expires_at,
                },
            )
            .await?;
        Ok((url, pending))
    }

    /// Finishes a connect: takes `state` back (it cannot be used again, whatever happens
    /// next), checks that `org` and `user` started it and that it has not expired, and
    /// exchanges `code` with the PKCE verifier.
    ///
    /// # Errors
    /// [`Error::Validation`] on `state` when it is unknown, used, expired or another org's or
    /// user's; [`Error::Provider`] when Google refuses the code; [`Error::Unavailable`].
    pub async fn exchange(
        &self,
        org: OrgId,
        user: UserId,
        code: &str,
        state: &str,
    ) -> Result<Tokens> {
        let taken = self.take_state(state).await?;
        self.exchange_taken(org, user, code, taken).await
    }

    /// Takes `state` back (once: it cannot be used again, whatever happens next), for a
    /// caller that learns from it who started the connect, e.g. an unauthenticated redirect
    /// handler. Finish with [`GmailOAuth::exchange_taken`].
    ///
    /// # Errors
    /// [`Error::Validation`] on `state` when it is unknown, used or expired;
    /// [`Error::Unavailable`].
    pub async fn take_state(&self, state: &str) -> Result<StoredState> {
        let stored = self.states.take(state).await?.ok_or_else(invalid_state)?;
        if stored.expires_at <= Utc::now() {
            return Err(invalid_state());
        }
        Ok(stored)
    }

    /// [`GmailOAuth::take_state`] for a redirect handler that does not know the caller: the
    /// state is taken (once) and then accepted only when `browser_nonce` (the cookie the
    /// starting browser got) matches the connect's binding. A redirect that reaches another
    /// browser (a consent link sent to someone else) is refused, before any code is exchanged.
    ///
    /// # Errors
    /// [`Error::Validation`] on `state` when it is unknown, used or expired, and when the
    /// nonce is missing or does not match; [`Error::Unavailable`].
    pub async fn take_bound_state(
        &self,
        state: &str,
        browser_nonce: Option<&str>,
    ) -> Result<StoredState> {
        let stored = self.take_state(state).await?;
        let matches = match (&stored.browser_binding, browser_nonce) {
            (Some(kept), Some(nonce)) => {
                constant_time_eq(kept.as_bytes(), browser_binding(nonce).as_bytes())
            }
            _ => false,
        };
        if !matches {
            tracing::warn!(org_id = %stored.org_id, "a Gmail connect was finished from a browser that did not start it");
            return Err(Error::invalid(
                "state",
                "this connect was not started in this browser (its connect cookie is missing or \
                 does not match): start it again here",
            ));
        }
        Ok(stored)
    }

    /// Exchanges `code` with the verifier of a taken state, after checking that `org` and
    /// `user` started it.
    ///
    /// # Errors
    /// [`Error::Validation`] on `state` when another org or user started it;
    /// [`Error::Provider`] when Google refuses the code; [`Error::Unavailable`].
    pub async fn exchange_taken(
        &self,
        org: OrgId,
        user: UserId,
        code: &str,
        stored: StoredState,
    ) -> Result<Tokens> {
        if stored.org_id != org || stored.user_id != user {
            tracing::warn!(%org, "an OAuth state was presented by another org or user");
            return Err(invalid_state());
        }
        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(stored.pkce_verifier))
            .request_async(&self.http)
            .await;
        match response {
            Ok(r) => Ok(tokens_from(&r)),
            Err(e) => Err(match classify(e) {
                OAuthFailure::Permanent { error, description } => Error::Provider {
                    provider: PROVIDER,
                    status: Some(400),
                    code: Some(error),
                    message: description
                        .unwrap_or_else(|| "Google refused the authorization code".to_owned()),
                },
                OAuthFailure::Other(e) => e,
            }),
        }
    }

    /// New tokens for `refresh_token`.
    ///
    /// # Errors
    /// [`OAuthFailure::Permanent`] when Google refused the grant for good.
    pub async fn refresh(&self, refresh_token: &str) -> std::result::Result<Tokens, OAuthFailure> {
        let token = RefreshToken::new(refresh_token.to_owned());
        self.client
            .exchange_refresh_token(&token)
            .request_async(&self.http)
            .await
            .map(|r| tokens_from(&r))
            .map_err(classify)
    }

    /// Revokes `refresh_token` (and so the grant) at Google: `POST revoke_url` with the form
    /// `token=…`, as Google documents. (The `oauth2` crate's RFC 7009 request insists on an
    /// `https` endpoint, which rules out local fakes, and Google needs no client
    /// authentication here.) A token Google no longer knows (`invalid_token`) counts as
    /// revoked.
    ///
    /// # Errors
    /// [`Error::Unavailable`] or [`Error::Provider`] when Google could not be told.
    pub async fn revoke(&self, refresh_token: &str) -> Result<()> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("token", refresh_token)
            .finish();
        let response = self
            .http
            .post(self.revoke_url.as_str())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .map_err(|e| Error::unavailable("Google's revocation endpoint", e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        #[derive(serde::Deserialize, Default)]
        struct RevokeError {
            #[serde(default)]
            error: String,
            #[serde(default)]
            error_description: Option<String>,
        }
        let error: RevokeError = response
            .bytes()
            .await
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        if error.error == "invalid_token" || error.error == "invalid_grant" {
            return Ok(());
        }
        if status.is_server_error() {
            return Err(Error::Unavailable {
                message: format!("Google's revocation endpoint answered {}", status.as_u16()),
                source: None,
            });
        }
        Err(Error::Provider {
            provider: PROVIDER,
            status: Some(status.as_u16()),
            code: Some(error.error).filter(|e| !e.is_empty()),
            message: error
                .error_description
                .unwrap_or_else(|| "revocation refused".to_owned()),
        })
    }
}

fn tokens_from(r: &oauth2::basic::BasicTokenResponse) -> Tokens {
    let lifetime = r.expires_in().unwrap_or(DEFAULT_TOKEN_LIFETIME);
    Tokens {
        access_token: r.access_token().secret().clone(),
        refresh_token: r.refresh_token().map(|t| t.secret().clone()),
        expires_at: Utc::now()
            + chrono::Duration::from_std(lifetime).unwrap_or(chrono::Duration::hours(1)),
        scopes: r
            .scopes()
            .map(|s| s.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default(),
    }
}

fn classify<RE>(e: RequestTokenError<RE, oauth2::basic::BasicErrorResponse>) -> OAuthFailure
where
    RE: std::error::Error + Send + Sync + 'static,
{
    match e {
        RequestTokenError::ServerResponse(r) => {
            let description = r.error_description().cloned();
            match r.error() {
                BasicErrorResponseType::InvalidGrant
                | BasicErrorResponseType::InvalidScope
                | BasicErrorResponseType::UnauthorizedClient => OAuthFailure::Permanent {
                    error: r.error().to_string(),
                    description,
                },
                other => OAuthFailure::Other(Error::Provider {
                    provider: PROVIDER,
                    status: None,
                    code: Some(other.to_string()),
                    message: description.unwrap_or_else(|| "token request refused".to_owned()),
                }),
            }
        }
        RequestTokenError::Request(e) => {
            OAuthFailure::Other(Error::unavailable("Google's token endpoint", e))
        }
        RequestTokenError::Parse(e, _) => {
            OAuthFailure::Other(Error::unavailable("Google's token endpoint answer", e))
        }
        RequestTokenError::Other(message) => OAuthFailure::Other(Error::Unavailable {
            message: format!("Google's token endpoint: {message}"),
            source: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oauth() -> GmailOAuth {
        let config = GmailConfig::new("client-1", "secret-1", "https://app.test/cb");
        GmailOAuth::new(
            &config,
            reqwest::Client::new(),
            Arc::new(InMemoryStateStore::new()),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn authorization_url_carries_pkce_offline_and_consent() {
        let oauth = oauth();
        let (url, pending) = oauth
            .authorization_url(OrgId::new(), UserId::new())
            .await
            .unwrap();
        let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], "client-1");
        assert_eq!(q["redirect_uri"], "https://app.test/cb");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["access_type"], "offline");
        assert_eq!(q["prompt"], "consent");
        assert_eq!(q["state"], pending.state);
        assert!(q["scope"].contains("gmail.send") && q["scope"].contains("gmail.readonly"));
        assert!(!url.as_str().contains(&pending.pkce_verifier));
        assert!(!format!("{pending:?}").contains(&pending.pkce_verifier));
    }

    #[tokio::test]
    async fn state_is_single_use_and_bound() {
        let oauth = oauth();
        let (org, user) = (OrgId::new(), UserId::new());
        let (_, pending) = oauth.authorization_url(org, user).await.unwrap();
        // Another user: refused, and the state is spent.
        let err = oauth
            .exchange(org, UserId::new(), "code", &pending.state)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Validation(_)), "{err:?}");
        let err = oauth
            .exchange(org, user, "code", &pending.state)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Validation(_)), "{err:?}");
    }

    #[tokio::test]
    async fn the_redirect_must_come_from_the_starting_browser() {
        let oauth = oauth();
        let (org, user) = (OrgId::new(), UserId::new());
        let (url, pending) = oauth.authorization_url(org, user).await.unwrap();
        assert!(
            !url.as_str().contains(&pending.browser_nonce),
            "the nonce never goes to Google"
        );
        assert!(!format!("{pending:?}").contains(&pending.browser_nonce));
        for wrong in [None, Some("another browser's nonce")] {
            let (_, pending) = oauth.authorization_url(org, user).await.unwrap();
            let err = oauth
                .take_bound_state(&pending.state, wrong)
                .await
                .unwrap_err();
            assert!(matches!(err, Error::Validation(_)), "{err:?}");
        }
        let taken = oauth
            .take_bound_state(&pending.state, Some(&pending.browser_nonce))
            .await
            .unwrap();
        assert_eq!((taken.org_id, taken.user_id), (org, user));
        assert_eq!(
            taken.browser_binding.as_deref(),
            Some(browser_binding(&pending.browser_nonce).as_str())
        );
    }

    #[tokio::test]
    async fn expired_states_are_refused() {
        let states = Arc::new(InMemoryStateStore::new());
        let config = GmailConfig::new("client-1", "secret-1", "https://app.test/cb");
        let oauth = GmailOAuth::new(&config, reqwest::Client::new(), states.clone()).unwrap();
        let (org, user) = (OrgId::new(), UserId::new());
        states
            .put(
                "old",
                StoredState {
                    org_id: org,
                    user_id: user,
                    pkce_verifier: "v".into(),
                    browser_binding: None,
                    expires_at: Utc::now() - chrono::Duration::seconds(1),
                },
            )
            .await
            .unwrap();
        let err = oauth.exchange(org, user, "code", "old").await.unwrap_err();
        assert!(matches!(err, Error::Validation(_)), "{err:?}");
        // Expired states are dropped as new ones come.
        oauth.authorization_url(org, user).await.unwrap();
        states
            .put(
                "old2",
                StoredState {
                    org_id: org,
                    user_id: user,
                    pkce_verifier: "v".into(),
                    browser_binding: None,
                    expires_at: Utc::now() - chrono::Duration::seconds(1),
                },
            )
            .await
            .unwrap();
        oauth.authorization_url(org, user).await.unwrap();
        assert_eq!(states.len(), 2);
    }

    #[test]
    fn needs_reauth_is_recognised() {
        assert!(is_needs_reauth(&needs_reauth_error("invalid_grant", None)));
        assert!(!is_needs_reauth(&Error::not_found("x")));
    }
}
