//! [`Gmail`]: connecting and disconnecting accounts, and Gmail API calls on an integration's
//! behalf (fresh token, one refresh-and-retry after a `401`).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use url::Url;
use workos_core::crypto::Cipher;
use workos_core::domain::{GMAIL, Integration, IntegrationStatus, NewIntegration};
use workos_core::ids::{IntegrationId, OrgId, UserId};
use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};

use crate::GmailStore;
use crate::api::{
    ApiUsage, GmailApi, HistoryOutcome, HistoryQuery, ListQuery, MessageList, Profile, RawMessage,
    RetryPolicy, SentMessage, is_unauthorized,
};
use crate::config::GmailConfig;
use crate::oauth::{
    GmailOAuth, InMemoryStateStore, PendingConnect, StateStore, StoredState, needs_reauth_error,
};
use crate::vault::{StoredTokens, TokenVault};

/// The default timeout of one HTTP request to Google.
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// An HTTP client fit for Google: no redirects followed (a token endpoint that redirects is
/// refused, as the `oauth2` crate advises), a request timeout, rustls.
///
/// # Errors
/// [`Error::Internal`] if the TLS backend cannot start.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("workos-gmail/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::internal("building the HTTP client", e))
}

/// A started connect: where to send the user, and what was kept for Google's redirect.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectStart {
    /// Google's consent page for this connect.
    pub authorization_url: Url,
    /// The state and PKCE verifier (already kept in the [`StateStore`]).
    pub pending: PendingConnect,
}

/// What a disconnect came to.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Disconnected {
    /// The integration, now `disconnected`.
    pub integration: Integration,
    /// Whether Google confirmed the revocation of the grant. `false` when Google could not be
    /// reached or the integration had no credentials left: the local disconnect happens
    /// anyway, and the user can remove the grant in their Google account.
    pub revoked: bool,
}

/// Builds a [`Gmail`].
pub struct GmailBuilder {
    config: GmailConfig,
    store: Arc<dyn GmailStore>,
    cipher: Arc<Cipher>,
    states: Option<Arc<dyn StateStore>>,
    http: Option<reqwest::Client>,
    retry: RetryPolicy,
    watch_topic: Option<String>,
}

impl GmailBuilder {
    /// The Pub/Sub topic (`projects/{project}/topics/{topic}`) every connected mailbox is
    /// watched to (`users.watch`; default none: no push, see [`crate::watch`]).
    #[must_use]
    pub fn watch_topic(mut self, topic: Option<String>) -> Self {
        self.watch_topic = topic;
        self
    }

    /// Where started connects wait (default: an [`InMemoryStateStore`], which serves one
    /// process only; [`crate::SharedStateStore`] serves every process on the store).
    #[must_use]
    pub fn state_store(mut self, states: Arc<dyn StateStore>) -> Self {
        self.states = Some(states);
        self
    }

    /// The HTTP client (default [`http_client`] with [`DEFAULT_HTTP_TIMEOUT`]). It must not
    /// follow redirects.
    #[must_use]
    pub fn http(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// How reads are retried (default [`RetryPolicy::default`]).
    #[must_use]
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The [`Gmail`].
    ///
    /// # Errors
    /// [`Error::Validation`] when a configured URL does not parse; [`Error::Internal`] when
    /// the HTTP client cannot be built.
    pub fn build(self) -> Result<Gmail> {
        let http = match self.http {
            Some(h) => h,
            None => http_client(DEFAULT_HTTP_TIMEOUT)?,
        };
        let states = self
            .states
            .unwrap_or_else(|| Arc::new(InMemoryStateStore::new()));
        let oauth = Arc::new(GmailOAuth::new(&self.config, http.clone(), states)?);
        let api = GmailApi::new(http, self.config.api_base_url.clone(), self.retry);
        let vault = TokenVault::new(Arc::clone(&self.store), self.cipher, Arc::clone(&oauth));
        Ok(Gmail {
            inner: Arc::new(Inner {
                store: self.store,
                oauth,
                api,
                vault,
                sync_locks: Mutex::default(),
                watch_topic: self.watch_topic,
            }),
        })
    }
}

/// A started connect taken back by its `state` ([`Gmail::take_connect`]); `Debug` never
/// prints its PKCE verifier.
#[derive(Debug)]
pub struct TakenConnect(StoredState);

impl TakenConnect {
    /// The org that started the connect.
    #[must_use]
    pub fn org_id(&self) -> OrgId {
        self.0.org_id
    }

    /// The user who started it.
    #[must_use]
    pub fn user_id(&self) -> UserId {
        self.0.user_id
    }
}

struct Inner {
    store: Arc<dyn GmailStore>,
    oauth: Arc<GmailOAuth>,
    api: GmailApi,
    vault: TokenVault,
    sync_locks: Mutex<HashMap<IntegrationId, Arc<tokio::sync::Mutex<()>>>>,
    watch_topic: Option<String>,
}

/// Gmail for the engine: connect flow, token vault, API calls on an integration's behalf.
/// Cheap to clone; clones share the token locks and usage counters.
///
/// [`Gmail::sender`] is the [`workos_core::channel::EmailChannel`];
/// [`crate::SyncEngine`] synchronises mailboxes.
#[derive(Clone)]
pub struct Gmail {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Gmail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gmail")
            .field("oauth", &self.inner.oauth)
            .field("api", &self.inner.api)
            .finish_non_exhaustive()
    }
}

impl Gmail {
    /// A builder for the client of `config`, storing through `store` and sealing tokens with
    /// `cipher`.
    pub fn builder(
        config: GmailConfig,
        store: Arc<dyn GmailStore>,
        cipher: Arc<Cipher>,
    ) -> GmailBuilder {
        GmailBuilder {
            config,
            store,
            cipher,
            states: None,
            http: None,
            retry: RetryPolicy::default(),
            watch_topic: None,
        }
    }

    /// The Pub/Sub topic mailboxes are watched to, when push is on.
    #[must_use]
    pub fn watch_topic(&self) -> Option<&str> {
        self.inner.watch_topic.as_deref()
    }

    pub(crate) fn store(&self) -> &dyn GmailStore {
        &*self.inner.store
    }

    /// The OAuth client.
    #[must_use]
    pub fn oauth(&self) -> &GmailOAuth {
        &self.inner.oauth
    }

    /// The raw API client (for calls with a token of your own).
    #[must_use]
    pub fn api(&self) -> &GmailApi {
        &self.inner.api
    }

    /// The API calls made so far.
    #[must_use]
    pub fn usage(&self) -> ApiUsage {
        self.inner.api.usage()
    }

    pub(crate) fn sync_lock(&self, id: IntegrationId) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .inner
            .sync_locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(locks.entry(id).or_default())
    }

    // -----------------------------------------------------------------------------------------
    // Connect

    /// Starts connecting a Gmail account (admin, signed-in user): the consent URL to send the
    /// user to. The state is single use, bound to this org and user, and expires after
    /// [`crate::oauth::STATE_TTL`].
    ///
    /// # Errors
    /// [`Error::Forbidden`] below admin; [`Error::Validation`] on `authorization` when the
    /// actor is no signed-in user; [`Error::Unavailable`].
    pub async fn start_connect(&self, ctx: &TenantContext) -> Result<ConnectStart> {
        ctx.authorize(Access::Manage)?;
        let user = connecting_user(ctx)?;
        let (authorization_url, pending) = self
            .inner
            .oauth
            .authorization_url(ctx.org_id(), user)
            .await?;
        Ok(ConnectStart {
            authorization_url,
            pending,
        })
    }

    /// Finishes a connect with Google's redirect parameters: exchanges the code (PKCE),
    /// reads the account's address from Gmail, and stores the integration with its sealed
    /// tokens (`integration.connected`). Connecting an account that is connected already (for
    /// instance one that needs reauthorisation) replaces its credentials and makes it
    /// `active` again.
    ///
    /// # Errors
    /// [`Error::Validation`] on `state` (unknown, used, expired, another org's or user's);
    /// [`Error::Provider`] when Google refuses the code or grants no refresh token;
    /// [`Error::Forbidden`]; [`Error::Unavailable`].
    pub async fn finish_connect(
        &self,
        ctx: &TenantContext,
        code: &str,
        state: &str,
    ) -> Result<Integration> {
        ctx.authorize(Access::Manage)?;
        connecting_user(ctx)?;
        // The caller is the user who started it (checked by the exchange): no browser nonce
        // is needed on this authenticated path.
        let taken = TakenConnect(self.inner.oauth.take_state(state).await?);
        self.finish_taken_connect(ctx, code, taken).await
    }

    /// Takes back the started connect of `state` (once: a replay fails), so an
    /// unauthenticated redirect handler learns the org and user who started it
    /// ([`TakenConnect::org_id`], [`TakenConnect::user_id`]) and can check that user's role
    /// before [`Gmail::finish_taken_connect`]. `browser_nonce` is the cookie value the
    /// starting browser got ([`PendingConnect::browser_nonce`](crate::oauth::PendingConnect));
    /// a redirect that reaches a browser without it is refused (see [`crate::oauth`]).
    ///
    /// # Errors
    /// [`Error::Validation`] on `state` (unknown, used, expired, or the browser nonce missing
    /// or wrong); [`Error::Unavailable`].
    pub async fn take_connect(
        &self,
        state: &str,
        browser_nonce: Option<&str>,
    ) -> Result<TakenConnect> {
        Ok(TakenConnect(
            self.inner
                .oauth
                .take_bound_state(state, browser_nonce)
                .await?,
        ))
    }

    /// [`Gmail::finish_connect`] with a state taken by [`Gmail::take_connect`].
    ///
    /// # Errors
    /// As [`Gmail::finish_connect`].
    pub async fn finish_taken_connect(
        &self,
        ctx: &TenantContext,
        code: &str,
        taken: TakenConnect,
    ) -> Result<Integration> {
        ctx.authorize(Access::Manage)?;
        let user = connecting_user(ctx)?;
        let tokens = self
            .inner
            .oauth
            .exchange_taken(ctx.org_id(), user, code, taken.0)
            .await?;
        let Some(refresh_token) = tokens.refresh_token.clone() else {
            return Err(Error::Provider {
                provider: crate::oauth::PROVIDER,
                status: None,
                code: Some("no_refresh_token".to_owned()),
                message:
                    "Google granted no refresh token; connect again and consent to offline access"
                        .to_owned(),
            });
        };
        let profile = self.inner.api.profile(&tokens.access_token).await?;
        let stored = StoredTokens {
            refresh_token,
            access_token: tokens.access_token,
            expires_at: tokens.expires_at,
        };
        let sealed = self.inner.vault.seal(&stored, ctx.org_id());
        let mut new = NewIntegration::gmail(profile.email_address);
        new.validate()?;
        // One transaction: reactivates an account connected before (new credentials, no
        // last error) or creates it, and emits `integration.connected` either way.
        let integration = self.store().reconnect_integration(ctx, new, sealed).await?;
        if self.watch_topic().is_none() {
            return Ok(integration);
        }
        // Push: watch the mailbox now; when Google refuses, the scheduler's next run retries
        // (the integration has no watch stored), and polling covers the meantime.
        match self.watch(ctx, integration.id).await {
            Ok(watched) => Ok(watched),
            Err(e) => {
                tracing::warn!(integration_id = %integration.id, error = %e,
                    "could not watch the Gmail mailbox; the scheduler retries");
                Ok(integration)
            }
        }
    }

    /// Disconnects (admin): revokes the grant at Google (best effort, see
    /// [`Disconnected::revoked`]), then deletes the credentials (`integration.disconnected`).
    /// Stored emails are kept.
    ///
    /// Google revokes the whole grant of the account to this OAuth client, not one token: if
    /// the same mailbox is connected in another org through the same client, that
    /// integration's tokens stop working too (it turns `needs_reauth` on its next refresh).
    ///
    /// # Errors
    /// [`Error::NotFound`]; [`Error::Forbidden`]; [`Error::Unavailable`] when the store fails.
    pub async fn disconnect(&self, ctx: &TenantContext, id: IntegrationId) -> Result<Disconnected> {
        ctx.authorize(Access::Manage)?;
        if self.watch_topic().is_some() {
            // Before the revocation, which leaves no token to stop the watch with.
            if let Err(e) = self.stop_watch(ctx, id).await {
                tracing::warn!(integration_id = %id, error = %e,
                    "could not stop the Gmail watch; disconnecting anyway");
            }
        }
        let mut revoked = false;
        match self.inner.vault.load(ctx, id).await {
            Ok(tokens) => match self.inner.oauth.revoke(&tokens.refresh_token).await {
                Ok(()) => revoked = true,
                Err(e) => {
                    tracing::warn!(integration_id = %id, error = %e, "could not revoke the Gmail grant; disconnecting anyway");
                }
            },
            // Disconnected already, or undecryptable: nothing to revoke.
            Err(Error::Conflict { .. } | Error::Internal { .. }) => {}
            Err(e) => return Err(e),
        }
        let integration = self.store().disconnect_integration(ctx, id).await?;
        Ok(Disconnected {
            integration,
            revoked,
        })
    }

    // -----------------------------------------------------------------------------------------
    // Calls on an integration's behalf

    /// Runs `call` with a fresh access token of the integration; after a `401`, refreshes the
    /// token (once, whoever else is waiting) and runs it once more.
    ///
    /// # Errors
    /// The call's error; a needs-reauth [`Error::Provider`] (see
    /// [`crate::is_needs_reauth`]) when Google refused the refresh for good, after marking the
    /// integration `needs_reauth`.
    pub async fn with_token<T, F, Fut>(
        &self,
        ctx: &TenantContext,
        id: IntegrationId,
        call: F,
    ) -> Result<T>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let token = self.inner.vault.access_token(ctx, id).await?;
        match call(token.clone()).await {
            Err(e) if is_unauthorized(&e) => {
                tracing::debug!(integration_id = %id, "Gmail refused the access token; refreshing once");
                let token = self.inner.vault.after_rejection(ctx, id, &token).await?;
                call(token).await
            }
            other => other,
        }
    }

    /// A fresh access token of the integration (refreshed when it expires within
    /// [`crate::vault::REFRESH_MARGIN`]).
    ///
    /// # Errors
    /// As [`Gmail::with_token`].
    pub async fn access_token(&self, ctx: &TenantContext, id: IntegrationId) -> Result<String> {
        self.inner.vault.access_token(ctx, id).await
    }

    /// `users.getProfile` of the integration's mailbox.
    ///
    /// # Errors
    /// As [`Gmail::with_token`] and [`GmailApi`].
    pub async fn profile(&self, ctx: &TenantContext, id: IntegrationId) -> Result<Profile> {
        let api = &self.inner.api;
        self.with_token(ctx, id, |t| async move { api.profile(&t).await })
            .await
    }

    /// `users.messages.list` of the integration's mailbox.
    ///
    /// # Errors
    /// As [`Gmail::with_token`] and [`GmailApi`].
    pub async fn list_messages(
        &self,
        ctx: &TenantContext,
        id: IntegrationId,
        query: &ListQuery,
    ) -> Result<MessageList> {
        let api = &self.inner.api;
        self.with_token(
            ctx,
            id,
            |t| async move { api.list_messages(&t, query).await },
        )
        .await
    }

    /// `users.messages.get` (`format=raw`) of the integration's mailbox.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the message is gone; as [`Gmail::with_token`] and
    /// [`GmailApi`].
    pub async fn get_raw(
        &self,
        ctx: &TenantContext,
        id: IntegrationId,
        message_id: &str,
    ) -> Result<RawMessage> {
        let api = &self.inner.api;
        self.with_token(
            ctx,
            id,
            |t| async move { api.get_raw(&t, message_id).await },
        )
        .await
    }

    /// `users.history.list` of the integration's mailbox.
    ///
    /// # Errors
    /// As [`Gmail::with_token`] and [`GmailApi`].
    pub async fn list_history(
        &self,
        ctx: &TenantContext,
        id: IntegrationId,
        query: &HistoryQuery,
    ) -> Result<HistoryOutcome> {
        let api = &self.inner.api;
        self.with_token(
            ctx,
            id,
            |t| async move { api.list_history(&t, query).await },
        )
        .await
    }

    /// `users.messages.send` from the integration's mailbox (retried only after a `401`,
    /// which proves nothing was sent).
    ///
    /// # Errors
    /// As [`Gmail::with_token`] and [`GmailApi`].
    pub async fn send_raw(
        &self,
        ctx: &TenantContext,
        id: IntegrationId,
        raw: &[u8],
        thread_id: Option<&str>,
    ) -> Result<SentMessage> {
        self.send_raw_until(ctx, id, raw, thread_id, None).await
    }

    /// [`Gmail::send_raw`] that gives up at `deadline` (see [`GmailApi::send_raw_until`]).
    ///
    /// # Errors
    /// As [`Gmail::send_raw`].
    pub async fn send_raw_until(
        &self,
        ctx: &TenantContext,
        id: IntegrationId,
        raw: &[u8],
        thread_id: Option<&str>,
        deadline: Option<std::time::Instant>,
    ) -> Result<SentMessage> {
        let api = &self.inner.api;
        self.with_token(ctx, id, |t| async move {
            api.send_raw_until(&t, raw, thread_id, deadline).await
        })
        .await
    }

    /// The integration, checked to be a Gmail account that can be used now.
    pub(crate) async fn usable_integration(
        &self,
        ctx: &TenantContext,
        id: IntegrationId,
    ) -> Result<Integration> {
        let integration = self.store().get_integration(ctx, id).await?;
        if integration.provider != GMAIL {
            return Err(Error::invalid(
                "integration_id",
                "is not a Gmail integration",
            ));
        }
        match integration.status {
            IntegrationStatus::Disconnected => {
                Err(Error::conflict("status", "the integration is disconnected"))
            }
            IntegrationStatus::NeedsReauth => Err(needs_reauth_error(
                "needs_reauth",
                integration.last_error.clone(),
            )),
            _ => Ok(integration),
        }
    }
}

/// The user a connect is bound to: Google's consent is given by a person, so an API key or a
/// system job cannot connect (whatever its role). Named `authorization` after what the caller
/// must change: its credentials.
fn connecting_user(ctx: &TenantContext) -> Result<workos_core::ids::UserId> {
    ctx.user_id().ok_or_else(|| {
        Error::invalid(
            "authorization",
            "connecting a Gmail account needs a signed-in user (a user JWT), not an API key: the consent is bound to the user",
        )
    })
}
