//! The token vault: an integration's OAuth tokens sealed with the engine's [`Cipher`], fresh
//! access tokens on demand, and one refresh at a time per integration.
//!
//! Sealed form: the JSON `{"refresh_token", "access_token", "expires_at"}` encrypted with
//! AES-256-GCM under the associated data of the org id's 16 bytes, stored as the integration's
//! [`SealedSecrets`]. A ciphertext copied to another org's row does not decrypt.
//!
//! An access token is used until [`REFRESH_MARGIN`] before it expires. Refreshes of one
//! integration are serialised by a per-integration [`tokio::sync::Mutex`]: concurrent callers
//! wait for the one refresh and then read its result from the store. The lock is per process;
//! processes sharing a store may each refresh once, which Google allows (the refresh token
//! stays valid) — the last write wins, and every written access token is valid.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use workos_core::crypto::{Cipher, SealLabel};
use workos_core::domain::IntegrationStatus;
use workos_core::ids::{IntegrationId, OrgId};
use workos_core::repo::SealedSecrets;
use workos_core::tenant::TenantContext;
use workos_core::{Error, Result};

use crate::GmailStore;
use crate::oauth::{GmailOAuth, OAuthFailure, Tokens};

/// How long before its expiry an access token is refreshed.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// An integration's tokens as sealed in its credentials. `Debug` never prints them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredTokens {
    /// The refresh token.
    pub refresh_token: String,
    /// The current access token.
    pub access_token: String,
    /// When the access token expires.
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for StoredTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredTokens")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl StoredTokens {
    /// Whether the access token is good for at least [`REFRESH_MARGIN`] more.
    #[must_use]
    pub fn is_fresh(&self, now: DateTime<Utc>) -> bool {
        let margin = chrono::Duration::from_std(REFRESH_MARGIN).unwrap_or_default();
        self.expires_at - margin > now
    }

    /// Seals the tokens for `org`.
    #[must_use]
    pub fn seal(&self, cipher: &Cipher, org: OrgId) -> SealedSecrets {
        let json = serde_json::to_vec(self).expect("tokens serialise");
        SealedSecrets(cipher.encrypt(&json, Self::label(org).as_bytes()))
    }

    /// What binds sealed tokens to their org ([`SealLabel`], the engine's one scheme).
    fn label(org: OrgId) -> SealLabel {
        SealLabel::org(org, "gmail.tokens")
    }

    /// The labels tokens of `org` open under, the current one first (for re-sealing them with
    /// a new key, see `Cipher::reseal`).
    #[must_use]
    pub fn labels(org: OrgId) -> Vec<Vec<u8>> {
        vec![
            Self::label(org).as_bytes().to_vec(),
            org.as_uuid().as_bytes().to_vec(),
        ]
    }

    /// Opens tokens sealed for `org`.
    ///
    /// # Errors
    /// [`Error::Internal`] when they do not decrypt (another key, another org, tampered) or
    /// are not the expected JSON. The message never contains the plaintext.
    pub fn open(sealed: &SealedSecrets, cipher: &Cipher, org: OrgId) -> Result<Self> {
        // Tokens sealed before the labels were unified were bound to the org's id bytes alone:
        // they still open (and are sealed anew at their next refresh).
        let plain = cipher
            .decrypt(&sealed.0, Self::label(org).as_bytes())
            .or_else(|e| {
                cipher
                    .decrypt(&sealed.0, org.as_uuid().as_bytes())
                    .map_err(|_| e)
            })
            .map_err(|e| Error::internal("the integration's credentials do not decrypt", e))?;
        serde_json::from_slice(&plain).map_err(|_| Error::Internal {
            message: "the integration's credentials are not Gmail tokens".to_owned(),
            source: None,
        })
    }

    /// The tokens after a refresh: Google usually keeps the refresh token and says so by
    /// omitting it.
    #[must_use]
    pub fn refreshed(&self, new: Tokens) -> Self {
        Self {
            refresh_token: new
                .refresh_token
                .unwrap_or_else(|| self.refresh_token.clone()),
            access_token: new.access_token,
            expires_at: new.expires_at,
        }
    }
}

/// Fresh access tokens for integrations (see the [module](self)).
pub(crate) struct TokenVault {
    store: Arc<dyn GmailStore>,
    cipher: Arc<Cipher>,
    oauth: Arc<GmailOAuth>,
    locks: Mutex<HashMap<IntegrationId, Arc<tokio::sync::Mutex<()>>>>,
}

impl TokenVault {
    pub(crate) fn new(
        store: Arc<dyn GmailStore>,
        cipher: Arc<Cipher>,
        oauth: Arc<GmailOAuth>,
    ) -> Self {
        Self {
            store,
            cipher,
            oauth,
            locks: Mutex::default(),
        }
    }

    pub(crate) fn seal(&self, tokens: &StoredTokens, org: OrgId) -> SealedSecrets {
        tokens.seal(&self.cipher, org)
    }

    pub(crate) async fn load(
        &self,
        ctx: &TenantContext,
        id: IntegrationId,
    ) -> Result<StoredTokens> {
        let sealed = self.store.integration_credentials(ctx, id).await?;
        StoredTokens::open(&sealed, &self.cipher, ctx.org_id())
    }

    fn lock_for(&self, id: IntegrationId) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(locks.entry(id).or_default())
    }

    /// A fresh access token of the integration, refreshing it when it expires within the
    /// margin.
    pub(crate) async fn access_token(
        &self,
        ctx: &TenantContext,
        id: IntegrationId,
    ) -> Result<String> {
        let tokens = self.load(ctx, id).await?;
        if tokens.is_fresh(Utc::now()) {
            return Ok(tokens.access_token);
        }
        let lock = self.lock_for(id);
        let _guard = lock.lock().await;
        // Another caller may have refreshed while this one waited.
        let tokens = self.load(ctx, id).await?;
        if tokens.is_fresh(Utc::now()) {
            return Ok(tokens.access_token);
        }
        self.refresh_locked(ctx, id, &tokens).await
    }

    /// A new access token after Gmail refused `rejected`, unless another caller has replaced
    /// it meanwhile.
    pub(crate) async fn after_rejection(
        &self,
        ctx: &TenantContext,
        id: IntegrationId,
        rejected: &str,
    ) -> Result<String> {
        let lock = self.lock_for(id);
        let _guard = lock.lock().await;
        let tokens = self.load(ctx, id).await?;
        if tokens.access_token != rejected && tokens.is_fresh(Utc::now()) {
            return Ok(tokens.access_token);
        }
        self.refresh_locked(ctx, id, &tokens).await
    }

    async fn refresh_locked(
        &self,
        ctx: &TenantContext,
        id: IntegrationId,
        tokens: &StoredTokens,
    ) -> Result<String> {
        match self.oauth.refresh(&tokens.refresh_token).await {
            Ok(new) => {
                let refreshed = tokens.refreshed(new);
                self.store
                    .replace_integration_credentials(ctx, id, self.seal(&refreshed, ctx.org_id()))
                    .await?;
                tracing::debug!(integration_id = %id, "refreshed a Gmail access token");
                Ok(refreshed.access_token)
            }
            Err(OAuthFailure::Permanent { error, description }) => {
                let err = crate::oauth::needs_reauth_error(&error, description);
                tracing::warn!(integration_id = %id, %error, "Gmail authorization revoked; the integration needs reauthorisation");
                if let Err(e) = self
                    .store
                    .set_integration_status(
                        ctx,
                        id,
                        IntegrationStatus::NeedsReauth,
                        Some(err.to_string()),
                    )
                    .await
                {
                    tracing::warn!(integration_id = %id, error = %e, "could not mark the integration needs_reauth");
                }
                Err(err)
            }
            Err(OAuthFailure::Other(e)) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use workos_core::crypto::SecretKey;

    use super::*;

    #[test]
    fn sealed_tokens_open_only_for_their_org() {
        let cipher = Cipher::new(1, SecretKey::generate());
        let org = OrgId::new();
        let tokens = StoredTokens {
            refresh_token: "1//refresh-marker".into(),
            access_token: "ya29.access-marker".into(),
            expires_at: Utc::now(),
        };
        let sealed = tokens.seal(&cipher, org);
        let bytes = String::from_utf8_lossy(&sealed.0).into_owned();
        assert!(!bytes.contains("marker"));
        assert_eq!(StoredTokens::open(&sealed, &cipher, org).unwrap(), tokens);
        let err = StoredTokens::open(&sealed, &cipher, OrgId::new()).unwrap_err();
        assert!(matches!(err, Error::Internal { .. }));
        assert!(!format!("{tokens:?}").contains("marker"));
    }

    /// Tokens sealed before the labels were unified (bound to the org's id bytes) still open,
    /// for their org only; new seals use the org's `gmail.tokens` label.
    #[test]
    fn tokens_sealed_under_the_old_label_still_open() {
        let cipher = Cipher::new(1, SecretKey::generate());
        let org = OrgId::new();
        let tokens = StoredTokens {
            refresh_token: "r".into(),
            access_token: "a".into(),
            expires_at: Utc::now(),
        };
        let json = serde_json::to_vec(&tokens).unwrap();
        let legacy = SealedSecrets(cipher.encrypt(&json, org.as_uuid().as_bytes()));
        assert_eq!(StoredTokens::open(&legacy, &cipher, org).unwrap(), tokens);
        assert!(StoredTokens::open(&legacy, &cipher, OrgId::new()).is_err());
        let sealed = tokens.seal(&cipher, org);
        assert!(cipher.decrypt(&sealed.0, org.as_uuid().as_bytes()).is_err());
        assert!(
            cipher
                .decrypt(&sealed.0, SealLabel::org(org, "gmail.tokens").as_bytes())
                .is_ok()
        );
    }

    #[test]
    fn freshness_keeps_a_margin() {
        let now = Utc::now();
        let mut t = StoredTokens {
            refresh_token: String::new(),
            access_token: String::new(),
            expires_at: now + chrono::Duration::seconds(61),
        };
        assert!(t.is_fresh(now));
        t.expires_at = now + chrono::Duration::seconds(59);
        assert!(!t.is_fresh(now));
    }

    #[test]
    fn refresh_keeps_the_refresh_token_google_omits() {
        let old = StoredTokens {
            refresh_token: "r1".into(),
            access_token: "a1".into(),
            expires_at: Utc::now(),
        };
        let new = old.refreshed(Tokens {
            access_token: "a2".into(),
            refresh_token: None,
            expires_at: Utc::now(),
            scopes: vec![],
        });
        assert_eq!(
            (new.refresh_token.as_str(), new.access_token.as_str()),
            ("r1", "a2")
        );
    }
}
