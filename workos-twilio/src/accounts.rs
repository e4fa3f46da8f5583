//! [`TwilioAccounts`]: which Twilio account acts for an org — its own, or the platform's.
//!
//! An org may use its own Twilio account (SID + auth token) instead of the platform's: its auth
//! token then checks the signatures of webhooks for the org's numbers, and its SID and token
//! send the org's SMS and calls. The account is an integration of provider
//! [`crate::client::PROVIDER`] whose `account` is the SID and whose credentials are
//! the auth token sealed with the engine's [`Cipher`] (bound to the org); the token is never
//! answered, logged or put in an event.
//!
//! Reading an org's account takes two queries, so loaded accounts (and the absence of one) are
//! kept for [`CACHE_TTL`]: setting or removing an account through this value takes effect at
//! once here, and in other processes when they are told ([`TwilioAccounts::forget`], e.g. on
//! the store's invalidations) or within [`CACHE_TTL`] at the latest.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use workos_core::crypto::Cipher;
use workos_core::domain::{Integration, IntegrationStatus, NewIntegration};
use workos_core::ids::{IntegrationId, OrgId};
use workos_core::page::PageRequest;
use workos_core::repo::{
    CallSettingsRepo, CommsRepo, IntegrationRepo, OptOutRepo, PersonRepo, PhoneRepo, SealedSecrets,
};
use workos_core::sealed::{SealedColumn, SealedRef};
use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};

use crate::client::{PROVIDER, Secret, TwilioClient, TwilioErrorKind};
use crate::config::TwilioConfig;
use crate::engine::Messenger;
use crate::signature::RequestValidator;

/// How long a loaded account (or its absence) is used before it is read again.
pub const CACHE_TTL: Duration = Duration::from_secs(10);

/// Cached orgs beyond this clear the cache (it only saves queries).
const CACHE_MAX: usize = 10_000;

/// An org's own Twilio account, ready to use.
pub struct OrgAccount {
    /// The integration holding it.
    pub integration_id: IntegrationId,
    /// The account SID (`AC…`).
    pub account_sid: String,
    /// Checks webhooks signed with the account's auth token.
    pub validator: RequestValidator,
    /// The REST client authenticated as the account (`None` when it cannot be built).
    pub client: Option<TwilioClient>,
}

impl std::fmt::Debug for OrgAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrgAccount")
            .field("account_sid", &self.account_sid)
            .finish_non_exhaustive()
    }
}

struct Cached {
    loaded: Instant,
    account: Option<Arc<OrgAccount>>,
}

/// Stores, loads and caches orgs' own Twilio accounts, and picks the account that acts for an
/// org: its own when it has one, else the platform's (from [`TwilioConfig`]).
pub struct TwilioAccounts<S> {
    store: Arc<S>,
    cipher: Arc<Cipher>,
    /// The platform client; orgs' clients share its pool. Without it, orgs' clients are built
    /// with `base_url` and `timeout`.
    platform: Option<TwilioClient>,
    /// Checks signatures for orgs without an account of their own.
    platform_validator: Option<RequestValidator>,
    /// Sends for orgs without an account of their own.
    platform_messenger: Option<Messenger<S>>,
    base_url: String,
    timeout: Duration,
    public_url: String,
    cache: Mutex<HashMap<OrgId, Cached>>,
}

impl<S> std::fmt::Debug for TwilioAccounts<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioAccounts")
            .field("platform", &self.platform.is_some())
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// The associated data sealing an org's auth token to it, so a sealed token copied to another
/// org's row does not open (public for re-sealing with a new key).
#[must_use]
pub fn aad(org: OrgId) -> Vec<u8> {
    format!("workos.twilio.auth_token:{org}").into_bytes()
}

/// The labels a sealed value of this crate may be sealed under: an org's own Twilio auth
/// token ([`aad`], integration credentials of provider `twilio`); `None` for anything else.
/// For key rotation: see [`workos_core::sealed`].
#[must_use]
pub fn sealed_labels(value: &SealedRef<'_>) -> Option<Vec<Vec<u8>>> {
    (value.column == SealedColumn::IntegrationCredentials && value.provider == Some(PROVIDER))
        .then(|| vec![aad(value.org_id)])
}

/// Twilio account SIDs: `AC` and 32 hex digits.
fn valid_sid(sid: &str) -> bool {
    sid.len() == 34 && sid.starts_with("AC") && sid[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Auth tokens are 32 hex digits today; accept any plain alphanumeric token of sane length
/// (it travels in HTTP Basic auth, so no `:` or spaces).
fn valid_token(token: &str) -> bool {
    (16..=128).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl<S> TwilioAccounts<S>
where
    S: IntegrationRepo
        + PhoneRepo
        + PersonRepo
        + CommsRepo
        + OptOutRepo
        + CallSettingsRepo
        + 'static,
{
    /// Accounts over `store`, sealed with `cipher`. The platform account is `config`'s (it
    /// sends when both its SID and token are set, and checks signatures when its token is);
    /// `public_url` is where Twilio reaches the engine's webhooks (status callbacks and call
    /// instructions of what is sent).
    #[must_use]
    pub fn new(
        store: Arc<S>,
        cipher: Arc<Cipher>,
        config: &TwilioConfig,
        public_url: &str,
    ) -> Self {
        let platform = platform_client(config);
        let platform_messenger = platform.clone().map(|client| {
            let client = Arc::new(client);
            Messenger::new(Arc::clone(&store), client.clone(), client, public_url)
        });
        Self {
            store,
            cipher,
            platform,
            platform_validator: config.auth_token.clone().map(RequestValidator::new),
            platform_messenger,
            base_url: config.api_base_url.clone(),
            timeout: config.timeout,
            public_url: public_url.to_owned(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Whether the platform account can send (its SID and token are configured).
    #[must_use]
    pub fn platform_sends(&self) -> bool {
        self.platform_messenger.is_some()
    }

    /// Whether the platform account checks webhook signatures (its token is configured).
    #[must_use]
    pub fn platform_validates(&self) -> bool {
        self.platform_validator.is_some()
    }

    /// The platform account's webhook validator (its token), when configured: it checks a
    /// request without any lookup.
    #[must_use]
    pub fn platform_validator(&self) -> Option<&RequestValidator> {
        self.platform_validator.as_ref()
    }

    /// The org's own account as an integration (never its token), for any member; `None` when
    /// the org uses the platform's account.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when the storage fails; [`Error::Internal`] when the sealed
    /// token does not open (wrong encryption key).
    pub async fn get(&self, ctx: &TenantContext) -> Result<Option<Integration>> {
        ctx.authorize(Access::Read)?;
        match self.of(ctx.org_id()).await? {
            Some(account) => Ok(Some(
                self.store
                    .get_integration(ctx, account.integration_id)
                    .await?,
            )),
            None => Ok(None),
        }
    }

    /// Uses `account_sid` + `auth_token` for the context's org (admin), once Twilio has
    /// accepted them ([`TwilioClient::fetch_account`]): replaces the token when this account is
    /// already set, else disconnects any other account of the org and connects this one.
    /// Emits `integration.connected` for a new account (without the token). Surrounding
    /// white space is ignored.
    ///
    /// # Errors
    /// [`Error::Validation`] on `account_sid` or `auth_token` (also when Twilio refuses them,
    /// or the account is not active); [`Error::Forbidden`] for non-admins;
    /// [`Error::Unavailable`] when Twilio cannot be asked (nothing is stored).
    pub async fn set(
        &self,
        ctx: &TenantContext,
        account_sid: &str,
        auth_token: &str,
    ) -> Result<Integration> {
        ctx.authorize(Access::Manage)?;
        let (account_sid, auth_token) = (account_sid.trim(), auth_token.trim());
        let mut v = workos_core::error::Validator::new();
        v.require(
            valid_sid(account_sid),
            "account_sid",
            "must be a Twilio account SID: AC and 32 hex digits",
        );
        v.require(
            valid_token(auth_token),
            "auth_token",
            "must be the account's auth token (16-128 letters and digits)",
        );
        v.finish()?;
        self.verify(account_sid, auth_token).await?;
        let sealed = SealedSecrets(self.cipher.encrypt_str(auth_token, &aad(ctx.org_id())));
        let current = self.integrations(ctx).await?;
        let result = match current.iter().find(|i| i.account == account_sid) {
            Some(same) => {
                self.store
                    .replace_integration_credentials(ctx, same.id, sealed)
                    .await?;
                self.store.get_integration(ctx, same.id).await
            }
            None => {
                for other in &current {
                    self.store.disconnect_integration(ctx, other.id).await?;
                }
                let new = NewIntegration {
                    provider: PROVIDER.to_owned(),
                    account: account_sid.to_owned(),
                    settings: serde_json::Value::Object(serde_json::Map::new()),
                };
                self.store.create_integration(ctx, new, sealed).await
            }
        };
        self.forget(ctx.org_id());
        result
    }

    /// Stops using the org's own account (admin): disconnects its Twilio integrations (the
    /// sealed token is deleted); the platform account applies again. Returns whether there was
    /// one.
    ///
    /// # Errors
    /// [`Error::Forbidden`] for non-admins; [`Error::Unavailable`] when the storage fails.
    pub async fn remove(&self, ctx: &TenantContext) -> Result<bool> {
        ctx.authorize(Access::Manage)?;
        let current = self.integrations(ctx).await?;
        for integration in &current {
            self.store
                .disconnect_integration(ctx, integration.id)
                .await?;
        }
        self.forget(ctx.org_id());
        Ok(!current.is_empty())
    }

    /// The messenger that sends for the context's org: through its own account when it has
    /// one, else the platform's. `None` when neither can send (Twilio is not configured, or the
    /// org's account has no usable client).
    ///
    /// # Errors
    /// As [`TwilioAccounts::of`].
    pub async fn messenger(&self, ctx: &TenantContext) -> Result<Option<Messenger<S>>> {
        match self.of(ctx.org_id()).await? {
            Some(account) => Ok(account.client.clone().map(|client| {
                let client = Arc::new(client);
                Messenger::new(
                    Arc::clone(&self.store),
                    client.clone(),
                    client,
                    &self.public_url,
                )
            })),
            None => Ok(self.platform_messenger.clone()),
        }
    }

    /// The validator of webhooks for `org` (its own account's, else the platform's; the
    /// platform's when the org is unknown). `None` when neither is configured.
    ///
    /// # Errors
    /// As [`TwilioAccounts::of`].
    pub async fn validator(&self, org: Option<OrgId>) -> Result<Option<RequestValidator>> {
        let own = match org {
            Some(org) => self.of(org).await?,
            None => None,
        };
        Ok(own
            .map(|a| a.validator.clone())
            .or_else(|| self.platform_validator.clone()))
    }

    /// The org's own account, if it has one (from the cache when fresh).
    ///
    /// # Errors
    /// [`Error::Unavailable`] when the storage fails; [`Error::Internal`] when the sealed
    /// token does not open (wrong encryption key).
    pub async fn of(&self, org: OrgId) -> Result<Option<Arc<OrgAccount>>> {
        {
            let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(c) = cache.get(&org)
                && c.loaded.elapsed() < CACHE_TTL
            {
                return Ok(c.account.clone());
            }
        }
        let account = self.load(org).await?.map(Arc::new);
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(
            org,
            Cached {
                loaded: Instant::now(),
                account: account.clone(),
            },
        );
        Ok(account)
    }

    /// The storage.
    pub(crate) fn store(&self) -> &S {
        &self.store
    }

    /// The REST client acting for `org`: its own account's when it has one, else the
    /// platform's; `None` when neither can be used.
    ///
    /// # Errors
    /// As [`TwilioAccounts::of`].
    pub async fn client_for(&self, org: OrgId) -> Result<Option<TwilioClient>> {
        Ok(match self.of(org).await? {
            Some(account) => account.client.clone(),
            None => self.platform.clone(),
        })
    }

    /// The platform account's REST client, when configured.
    pub(crate) fn platform_client(&self) -> Option<&TwilioClient> {
        self.platform.as_ref()
    }

    /// Drops what is cached of `org`'s account, so the next use reads it again: for a change
    /// made through another process (this value forgets its own changes).
    pub fn forget(&self, org: OrgId) {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&org);
    }

    /// Drops every cached account (changes may have been missed).
    pub fn forget_all(&self) {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// The org's active Twilio integrations, newest change first.
    async fn integrations(&self, ctx: &TenantContext) -> Result<Vec<Integration>> {
        let mut found = Vec::new();
        let mut page = PageRequest::first(200)?;
        loop {
            let listed = self.store.list_integrations(ctx, page.clone()).await?;
            found.extend(
                listed.data.into_iter().filter(|i| {
                    i.provider == PROVIDER && i.status != IntegrationStatus::Disconnected
                }),
            );
            match listed.next_cursor {
                Some(c) => page = page.after(Some(c)),
                None => break,
            }
        }
        found.sort_by_key(|i| std::cmp::Reverse(i.updated_at));
        Ok(found)
    }

    /// Asks Twilio whether `account_sid` + `auth_token` open an active account.
    async fn verify(&self, account_sid: &str, auth_token: &str) -> Result<()> {
        let client = self.client(account_sid.to_owned(), Secret::new(auth_token.to_owned()))?;
        match client.fetch_account().await {
            Ok(account) if account.status == "active" => Ok(()),
            Ok(account) => Err(Error::invalid(
                "account_sid",
                format!("the Twilio account is {}, not active", account.status),
            )),
            Err(e)
                if matches!(
                    TwilioErrorKind::of(&e),
                    Some(TwilioErrorKind::AuthenticationFailed | TwilioErrorKind::NotFound)
                ) =>
            {
                Err(Error::invalid(
                    "auth_token",
                    "Twilio did not accept this account SID and auth token",
                ))
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot check an org's Twilio credentials");
                Err(Error::unavailable(
                    "cannot reach Twilio to check the credentials; try again",
                    e,
                ))
            }
        }
    }

    /// A REST client for `account_sid` authenticated with `token`: sharing the platform
    /// client's pool when there is one.
    fn client(&self, account_sid: String, token: Secret) -> Result<TwilioClient> {
        match &self.platform {
            Some(platform) => platform.for_account(account_sid, token),
            None => TwilioClient::builder()
                .account_sid(account_sid)
                .auth_token(token)
                .base_url(self.base_url.clone())
                .timeout(self.timeout)
                .build(),
        }
    }

    async fn load(&self, org: OrgId) -> Result<Option<OrgAccount>> {
        let ctx = TenantContext::system(org, "twilio.account");
        let Some(integration) = self.integrations(&ctx).await?.into_iter().next() else {
            return Ok(None);
        };
        let sealed = self
            .store
            .integration_credentials(&ctx, integration.id)
            .await?;
        let token = self
            .cipher
            .decrypt_str(&sealed.0, &aad(org))
            .map_err(|e| Error::internal("cannot open the org's Twilio auth token", e))?;
        let id = integration.id;
        let client = self
            .client(integration.account.clone(), Secret::new(token.clone()))
            .inspect_err(|e| {
                tracing::error!(integration_id = %id, error = %e, "an org's Twilio account cannot be used for sending");
            })
            .ok();
        Ok(Some(OrgAccount {
            integration_id: id,
            account_sid: integration.account,
            validator: RequestValidator::new(token),
            client,
        }))
    }
}

/// The platform account's REST client, when its SID and token are configured.
fn platform_client(config: &TwilioConfig) -> Option<TwilioClient> {
    let (sid, token) = (config.account_sid.as_ref()?, config.auth_token.as_ref()?);
    TwilioClient::builder()
        .account_sid(sid.clone())
        .auth_token(token.clone())
        .base_url(config.api_base_url.clone())
        .timeout(config.timeout)
        .build()
        .inspect_err(|e| {
            tracing::error!(error = %e, "Twilio is misconfigured; outbound SMS and calls are off");
        })
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids_and_tokens_have_twilio_shapes() {
        assert!(valid_sid("AC0123456789abcdef0123456789abcdef"));
        assert!(!valid_sid("AC0123456789abcdef0123456789abcdeg"));
        assert!(!valid_sid("SK0123456789abcdef0123456789abcdef"));
        assert!(!valid_sid("AC0123"));
        assert!(valid_token("0123456789abcdef0123456789abcdef"));
        assert!(!valid_token("short"));
        assert!(!valid_token("has a space in it ........"));
        assert!(!valid_token("user:password-like-token"));
    }

    #[test]
    fn tokens_are_sealed_to_their_org() {
        let (a, b) = (OrgId::new(), OrgId::new());
        assert_ne!(aad(a), aad(b));
    }
}
