//! Per-org Twilio accounts: an org may use its own Twilio account (SID + auth token) instead of
//! the platform's. The account is an integration of provider `twilio` whose `account` is the
//! SID and whose credentials are the auth token sealed with the server's [`Cipher`]; the token
//! is never answered, logged or put in an event.
//!
//! Reading an org's account takes two queries, so loaded accounts (and the absence of one) are
//! kept for [`CACHE_TTL`]: setting or removing an account through this server takes effect at
//! once here and within [`CACHE_TTL`] on other servers. Number → org is cached apart, and
//! re-checked by every write (see [`crate::twilio_numbers`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use workos_core::crypto::Cipher;
use workos_core::domain::{Integration, IntegrationStatus, NewIntegration};
use workos_core::ids::{IntegrationId, OrgId};
use workos_core::page::PageRequest;
use workos_core::repo::{IntegrationRepo, SealedSecrets};
use workos_core::tenant::TenantContext;
use workos_core::{Error, Result};
use workos_store::SqlStore;
use workos_twilio::client::Secret;
use workos_twilio::signature::RequestValidator;
use workos_twilio::{TwilioClient, TwilioErrorKind};

/// The integration provider of an org's own Twilio account.
pub const PROVIDER: &str = "twilio";

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
    /// The REST client authenticated as the account, when the server can reach Twilio.
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

/// Stores, loads and caches orgs' own Twilio accounts.
pub struct TwilioAccounts {
    store: SqlStore,
    cipher: Arc<Cipher>,
    /// Builds clients for orgs' accounts: the platform client (sharing its pool), or a builder
    /// with the configured base URL and timeout when there is no platform account.
    platform: Option<TwilioClient>,
    base_url: String,
    timeout: Duration,
    cache: Mutex<HashMap<OrgId, Cached>>,
}

impl std::fmt::Debug for TwilioAccounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioAccounts")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// The associated data sealing a token to its org, so a sealed token copied to another org's
/// row does not open.
fn aad(org: OrgId) -> Vec<u8> {
    format!("workos.twilio.auth_token:{org}").into_bytes()
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

impl TwilioAccounts {
    /// Accounts over `store`, sealed with `cipher`; clients for them share `platform`'s pool
    /// when there is one, else use `base_url` and `timeout`.
    #[must_use]
    pub fn new(
        store: SqlStore,
        cipher: Arc<Cipher>,
        platform: Option<TwilioClient>,
        base_url: String,
        timeout: Duration,
    ) -> Self {
        Self {
            store,
            cipher,
            platform,
            base_url,
            timeout,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn forget(&self, org: OrgId) {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&org);
    }

    /// The org's active `twilio` integrations, newest change first.
    async fn integrations(&self, ctx: &TenantContext) -> Result<Vec<Integration>> {
        let mut found = Vec::new();
        let mut page = PageRequest::first(200)?;
        loop {
            let listed = self.store.list_integrations(ctx, page).await?;
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

    /// Uses `account_sid` + `auth_token` for the context's org (admin), once Twilio has
    /// accepted them ([`TwilioClient::fetch_account`]): replaces the token when this account is
    /// already set, else disconnects any other `twilio` account of the org and connects this
    /// one. Emits `integration.connected` for a new account (without the token).
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
        ctx.authorize(workos_core::tenant::Access::Manage)?;
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
                if TwilioErrorKind::of(&e) == Some(TwilioErrorKind::AuthenticationFailed)
                    || TwilioErrorKind::of(&e) == Some(TwilioErrorKind::NotFound) =>
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

    /// Stops using the org's own account (admin): disconnects its `twilio` integrations (the
    /// sealed token is deleted); the platform account applies again. Returns whether there was
    /// one.
    ///
    /// # Errors
    /// [`Error::Forbidden`] for non-admins.
    pub async fn remove(&self, ctx: &TenantContext) -> Result<bool> {
        ctx.authorize(workos_core::tenant::Access::Manage)?;
        let current = self.integrations(ctx).await?;
        for integration in &current {
            self.store
                .disconnect_integration(ctx, integration.id)
                .await?;
        }
        self.forget(ctx.org_id());
        Ok(!current.is_empty())
    }

    /// The org's own account, if it has one (from the cache when fresh).
    ///
    /// # Errors
    /// [`Error::Unavailable`] when the storage fails; [`Error::Internal`] when the sealed
    /// token does not open (wrong encryption key).
    pub async fn of(&self, org: OrgId) -> Result<Option<Arc<OrgAccount>>> {
        {
            let cache = self
                .cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(c) = cache.get(&org)
                && c.loaded.elapsed() < CACHE_TTL
            {
                return Ok(c.account.clone());
            }
        }
        let account = self.load(org).await?.map(Arc::new);
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
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
        Ok(Some(self.account(
            integration.id,
            integration.account,
            token,
        )))
    }

    fn account(&self, id: IntegrationId, account_sid: String, token: String) -> OrgAccount {
        let client = self
            .client(account_sid.clone(), Secret::new(token.clone()))
            .inspect_err(|e| {
                tracing::error!(integration_id = %id, error = %e, "an org's Twilio account cannot be used for sending");
            })
            .ok();
        OrgAccount {
            integration_id: id,
            account_sid,
            validator: RequestValidator::new(token),
            client,
        }
    }
}
