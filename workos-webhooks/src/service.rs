//! Registering endpoints: the SSRF check at the door, signing secrets minted and sealed at rest.
//!
//! [`WebhookService`] wraps a store's [`WebhookRepo`] for the operations that need more than
//! storage: creating an endpoint (its URL is checked with the [`SsrfGuard`] and a signing secret
//! is minted), changing its URL (checked again) and rotating its secret. Everything else
//! (listing, deliveries, replay) goes to the store directly.
//!
//! ## Sealed secrets
//!
//! An endpoint's secrets are stored as one AEAD ciphertext ([`SealedSecrets`]) of the JSON
//! list `[{"secret": "whsec_…", "expires_at": null | "<RFC 3339>"}, …]`, newest (primary)
//! first. The primary never expires; a rotation gives the secrets it replaces an expiry of
//! *now + grace period* (default 24 hours), during which deliveries are signed with all of them.
//!
//! The associated data binding the ciphertext is `org:<org id>\0webhooks.secrets` (see
//! [`SecretSealer::aad`]): the org and the column, not the endpoint, because the endpoint's id is
//! only assigned by the store when it is created. A sealed list therefore cannot be moved to
//! another org or another column, but could be swapped between two endpoints of the same org
//! by someone with write access to the database.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;
use workos_core::crypto::{Cipher, SealLabel};
use workos_core::domain::{HttpUrl, NewWebhook, Webhook, WebhookPatch};
use workos_core::ids::{OrgId, WebhookId};
use workos_core::repo::{DeliveryQueue, SealedSecrets, SubnetAllowanceRepo, WebhookRepo};
use workos_core::sealed::{SealedColumn, SealedRef};
use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};

use crate::signing::WebhookSecret;
use crate::ssrf::{SsrfError, SsrfGuard};

/// How long secrets replaced by a rotation stay valid, by default: 24 hours.
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(24 * 3600);
/// The most secrets an endpoint keeps; rotating past it drops the oldest.
pub const MAX_SECRETS: usize = 10;

/// A rotation's list: `secret` as the new primary, then those of `kept` still valid now, each
/// expiring within `grace` at the latest; at most [`MAX_SECRETS`]. Endpoints and partners
/// rotate alike.
pub fn rotated_entries(
    secret: &WebhookSecret,
    kept: Vec<SecretEntry>,
    grace: Duration,
) -> Vec<SecretEntry> {
    let now = workos_core::domain::now();
    let until = now
        .checked_add_signed(chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let mut entries = vec![SecretEntry {
        secret: secret.clone(),
        expires_at: None,
    }];
    entries.extend(
        kept.into_iter()
            .filter(|e| e.is_valid_at(now))
            .map(|e| SecretEntry {
                expires_at: Some(e.expires_at.map_or(until, |t| t.min(until))),
                ..e
            }),
    );
    entries.truncate(MAX_SECRETS);
    entries
}
/// How often [`WebhookService::rotate_secret`] reads and swaps before giving up when other
/// rotations keep getting in first.
pub const MAX_ROTATION_TRIES: usize = 8;
/// How long resolving a URL's host may take at registration.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);

/// One of an endpoint's signing secrets, with its expiry (`None` for the primary).
#[derive(Debug, Clone)]
pub struct SecretEntry {
    /// The secret.
    pub secret: WebhookSecret,
    /// When it stops being used; `None` while it is the primary.
    pub expires_at: Option<DateTime<Utc>>,
}

impl SecretEntry {
    /// Whether the secret is still used to sign at `now`.
    #[must_use]
    pub fn is_valid_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|t| t > now)
    }
}

/// The stored JSON form of a [`SecretEntry`].
#[derive(Serialize, Deserialize)]
struct StoredEntry {
    secret: String,
    expires_at: Option<DateTime<Utc>>,
}

/// The labels a sealed value of this crate's columns may be sealed under (endpoints' secret
/// lists and custom headers, see [`SecretSealer`]); `None` for any other column. For key
/// rotation: see [`workos_core::sealed`].
#[must_use]
pub fn sealed_labels(value: &SealedRef<'_>) -> Option<Vec<Vec<u8>>> {
    match value.column {
        SealedColumn::WebhookSecrets => Some(vec![SecretSealer::aad(value.org_id)]),
        SealedColumn::WebhookHeaders => Some(vec![SecretSealer::headers_aad(value.org_id)]),
        _ => None,
    }
}

/// Seals and opens endpoints' secret lists with the engine's [`Cipher`]. Cheap to clone.
#[derive(Clone)]
pub struct SecretSealer {
    cipher: Arc<Cipher>,
}

impl std::fmt::Debug for SecretSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretSealer(..)")
    }
}

impl SecretSealer {
    /// A sealer using `cipher`.
    #[must_use]
    pub fn new(cipher: Arc<Cipher>) -> Self {
        Self { cipher }
    }

    /// The associated data of an org's sealed secret lists: `org:<org id>\0webhooks.secrets`
    /// ([`SealLabel::org`]).
    #[must_use]
    pub fn aad(org_id: OrgId) -> Vec<u8> {
        SealLabel::org(org_id, "webhooks.secrets")
            .as_bytes()
            .to_vec()
    }

    /// Seals `entries` (primary first) for an endpoint of `org_id`.
    ///
    /// # Errors
    /// [`Error::Internal`] if the list cannot be serialised (it always can).
    pub fn seal(&self, org_id: OrgId, entries: &[SecretEntry]) -> Result<SealedSecrets> {
        self.seal_for(&Self::aad(org_id), entries)
    }

    /// Seals `entries` bound to the associated data `aad` (what they belong to).
    ///
    /// # Errors
    /// [`Error::Internal`] if the list cannot be serialised (it always can).
    pub fn seal_for(&self, aad: &[u8], entries: &[SecretEntry]) -> Result<SealedSecrets> {
        let stored: Vec<StoredEntry> = entries
            .iter()
            .map(|e| StoredEntry {
                secret: e.secret.expose().to_owned(),
                expires_at: e.expires_at,
            })
            .collect();
        let json =
            serde_json::to_vec(&stored).map_err(|e| Error::internal("webhook secrets", e))?;
        Ok(SealedSecrets(self.cipher.encrypt(&json, aad)))
    }

    /// Opens a sealed list: every entry, expired ones included, primary first.
    ///
    /// # Errors
    /// [`Error::Internal`] when the ciphertext does not open under this cipher and org (wrong
    /// key, another org's list, tampering) or does not hold a valid list.
    pub fn open(&self, org_id: OrgId, sealed: &SealedSecrets) -> Result<Vec<SecretEntry>> {
        self.open_for(&Self::aad(org_id), sealed)
    }

    /// Opens a list sealed with [`SecretSealer::seal_for`] under `aad`.
    ///
    /// # Errors
    /// As [`SecretSealer::open`].
    pub fn open_for(&self, aad: &[u8], sealed: &SealedSecrets) -> Result<Vec<SecretEntry>> {
        let json = self
            .cipher
            .decrypt(&sealed.0, aad)
            .map_err(|e| Error::internal("cannot open webhook secrets", e))?;
        let stored: Vec<StoredEntry> = serde_json::from_slice(&json)
            .map_err(|e| Error::internal("malformed webhook secrets", e))?;
        stored
            .into_iter()
            .map(|s| {
                Ok(SecretEntry {
                    secret: WebhookSecret::parse(&s.secret)
                        .map_err(|e| Error::internal("malformed webhook secret", e))?,
                    expires_at: s.expires_at,
                })
            })
            .collect()
    }

    /// The associated data of an org's sealed custom headers: `org:<org id>\0webhooks.headers`.
    #[must_use]
    pub fn headers_aad(org_id: OrgId) -> Vec<u8> {
        SealLabel::org(org_id, "webhooks.headers")
            .as_bytes()
            .to_vec()
    }

    /// Seals an endpoint's custom headers (names and values, as one JSON object).
    ///
    /// # Errors
    /// [`Error::Internal`] if they cannot be serialised (they always can).
    pub fn seal_headers(
        &self,
        org_id: OrgId,
        headers: &BTreeMap<String, String>,
    ) -> Result<SealedSecrets> {
        let json =
            serde_json::to_vec(headers).map_err(|e| Error::internal("webhook headers", e))?;
        Ok(SealedSecrets(
            self.cipher.encrypt(&json, &Self::headers_aad(org_id)),
        ))
    }

    /// Opens headers sealed with [`SecretSealer::seal_headers`].
    ///
    /// # Errors
    /// [`Error::Internal`] when they do not open under this cipher and org or are not a JSON
    /// object of strings.
    pub fn open_headers(
        &self,
        org_id: OrgId,
        sealed: &SealedSecrets,
    ) -> Result<BTreeMap<String, String>> {
        let json = self
            .cipher
            .decrypt(&sealed.0, &Self::headers_aad(org_id))
            .map_err(|e| Error::internal("cannot open webhook headers", e))?;
        serde_json::from_slice(&json).map_err(|e| Error::internal("malformed webhook headers", e))
    }

    /// Every secret of a sealed list still valid at `now`, primary first: the secrets a
    /// delivery made at `now` is signed with.
    ///
    /// # Errors
    /// As [`SecretSealer::open`].
    pub fn open_valid(
        &self,
        org_id: OrgId,
        sealed: &SealedSecrets,
        now: DateTime<Utc>,
    ) -> Result<Vec<WebhookSecret>> {
        Ok(self
            .open(org_id, sealed)?
            .into_iter()
            .filter(|e| e.is_valid_at(now))
            .map(|e| e.secret)
            .collect())
    }
}

/// Checks `url` with `guard`, bounded by `timeout`.
pub(crate) async fn check_destination(
    guard: &SsrfGuard,
    url: &Url,
    timeout: Duration,
) -> std::result::Result<Vec<SocketAddr>, DestinationError> {
    match tokio::time::timeout(timeout, guard.check_url(url)).await {
        Ok(Ok(addrs)) => Ok(addrs),
        Ok(Err(e)) => Err(DestinationError::Refused(e)),
        Err(_) => Err(DestinationError::ResolveTimeout),
    }
}

/// Checks `url` for the context's org: with the deployment's `guard`, and when that refuses an
/// address, again with the org's own allowance added (read only then, so destinations on public
/// addresses never touch the store). Each check is bounded by `timeout`.
pub(crate) async fn check_org_destination<A: SubnetAllowanceRepo + ?Sized>(
    guard: &SsrfGuard,
    allowances: &A,
    ctx: &TenantContext,
    url: &Url,
    timeout: Duration,
) -> std::result::Result<Vec<SocketAddr>, DestinationError> {
    match check_destination(guard, url, timeout).await {
        Err(refused @ DestinationError::Refused(SsrfError::Blocked { .. })) => {
            let extra = allowances
                .allowed_subnets(ctx)
                .await
                .map_err(DestinationError::Allowance)?;
            if extra.is_empty() {
                return Err(refused);
            }
            check_destination(&guard.with_allowed(&extra), url, timeout).await
        }
        checked => checked,
    }
}

/// The SSRF check of a destination URL at registration (webhook endpoints, partners): the
/// deployment's `guard` plus the org's allowance, as a validation error on `field` whose message
/// names no address (what a host resolves to is the deployment's network, not the caller's to
/// learn).
///
/// # Errors
/// [`Error::Validation`] on `field` when the URL is refused or its host does not resolve (in
/// [`RESOLVE_TIMEOUT`]); the store's error when the org's allowance cannot be read.
pub async fn check_registration_url<A: SubnetAllowanceRepo + ?Sized>(
    guard: &SsrfGuard,
    allowances: &A,
    ctx: &TenantContext,
    url: &Url,
    field: &str,
) -> Result<()> {
    match check_org_destination(guard, allowances, ctx, url, RESOLVE_TIMEOUT).await {
        Ok(_) => Ok(()),
        Err(DestinationError::Allowance(e)) => Err(e),
        Err(e) => Err(Error::invalid(field, refusal(&e))),
    }
}

/// Why a destination was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DestinationError {
    #[error(transparent)]
    Refused(SsrfError),
    #[error("resolving the host timed out")]
    ResolveTimeout,
    #[error("cannot read the org's allowed subnets: {0}")]
    Allowance(Error),
}

/// Why a URL was refused at registration, in words that name no address.
fn refusal(e: &DestinationError) -> &'static str {
    match e {
        DestinationError::Refused(SsrfError::Blocked { .. }) => {
            "must reach public addresses only; this one reaches an address deliveries may not go to"
        }
        DestinationError::Refused(SsrfError::UnsupportedScheme { .. }) => {
            "must be an http or https URL"
        }
        DestinationError::Refused(SsrfError::MissingHost) => "must have a host",
        DestinationError::Refused(_) => "its host does not resolve",
        DestinationError::ResolveTimeout => "resolving its host timed out",
        DestinationError::Allowance(_) => "the org's allowed subnets cannot be read",
    }
}

/// Endpoint registration with SSRF checks and sealed signing secrets. See the
/// [module docs](self).
pub struct WebhookService<S: ?Sized> {
    store: Arc<S>,
    sealer: SecretSealer,
    guard: SsrfGuard,
    grace: Duration,
}

impl<S: ?Sized> std::fmt::Debug for WebhookService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookService")
            .field("guard", &self.guard)
            .field("grace", &self.grace)
            .finish_non_exhaustive()
    }
}

impl<S: WebhookRepo + SubnetAllowanceRepo + ?Sized> WebhookService<S> {
    /// A service over `store`, sealing secrets with `cipher` and checking URLs with `guard`,
    /// with the default grace period.
    #[must_use]
    pub fn new(store: Arc<S>, cipher: Arc<Cipher>, guard: SsrfGuard) -> Self {
        Self {
            store,
            sealer: SecretSealer::new(cipher),
            guard,
            grace: DEFAULT_GRACE_PERIOD,
        }
    }

    /// Sets how long secrets replaced by [`WebhookService::rotate_secret`] stay valid.
    #[must_use]
    pub fn with_grace_period(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &Arc<S> {
        &self.store
    }

    /// The sealer of secret lists.
    #[must_use]
    pub fn sealer(&self) -> &SecretSealer {
        &self.sealer
    }

    /// Registers an endpoint: checks its URL with the SSRF guard (the deployment's allowed
    /// subnets and the org's, [`check_registration_url`]), mints a signing secret and
    /// stores it sealed. The secret is returned this once; it is never readable again.
    ///
    /// # Errors
    /// [`Error::Forbidden`] below the admin role; [`Error::Validation`] for invalid input,
    /// including on `url` when the guard refuses it (the message says why) or its host does not
    /// resolve; the store's errors.
    pub async fn create(
        &self,
        ctx: &TenantContext,
        new: NewWebhook,
    ) -> Result<(Webhook, WebhookSecret)> {
        ctx.authorize(Access::Manage)?;
        new.validate()?;
        self.check_url(ctx, &new.url).await?;
        let secret = WebhookSecret::generate();
        let sealed = self.sealer.seal(
            ctx.org_id(),
            &[SecretEntry {
                secret: secret.clone(),
                expires_at: None,
            }],
        )?;
        let headers = self.sealer.seal_headers(ctx.org_id(), &new.headers)?;
        let webhook = self.store.create_webhook(ctx, new, sealed, headers).await?;
        Ok((webhook, secret))
    }

    /// Changes an endpoint; a changed URL is checked with the SSRF guard first.
    ///
    /// # Errors
    /// As [`WebhookService::create`], and [`Error::NotFound`] for the endpoint.
    pub async fn update(
        &self,
        ctx: &TenantContext,
        id: WebhookId,
        patch: WebhookPatch,
    ) -> Result<Webhook> {
        ctx.authorize(Access::Manage)?;
        if let Some(url) = &patch.url {
            let current = self.store.get_webhook(ctx, id).await?;
            if current.url != *url {
                self.check_url(ctx, url).await?;
            }
        }
        let headers = patch
            .headers
            .as_ref()
            .map(|h| self.sealer.seal_headers(ctx.org_id(), h))
            .transpose()?;
        self.store.update_webhook(ctx, id, patch, headers).await
    }

    /// Mints a new primary secret for an endpoint and returns it (shown this once). The
    /// secrets it replaces stay valid for the grace period (an earlier expiry is kept);
    /// expired ones are dropped, and so are the oldest beyond [`MAX_SECRETS`]. Records a
    /// `webhook_endpoint.secret_rotated` event (without any secret).
    ///
    /// The list is swapped only if it is still the one read ([`WebhookRepo::swap_webhook_secrets`]);
    /// when another rotation got in between, it is read again and the rotation redone on top, so
    /// concurrent rotations keep every new secret.
    ///
    /// # Errors
    /// [`Error::Forbidden`] below the admin role; [`Error::NotFound`] for the endpoint;
    /// [`Error::Internal`] when the stored list does not open; [`Error::Conflict`] on `secrets`
    /// when the list kept changing under [`MAX_ROTATION_TRIES`] tries.
    pub async fn rotate_secret(&self, ctx: &TenantContext, id: WebhookId) -> Result<WebhookSecret> {
        ctx.authorize(Access::Manage)?;
        let secret = WebhookSecret::generate();
        for _ in 0..MAX_ROTATION_TRIES {
            let sealed = self.store.webhook_secrets(ctx, id).await?;
            let entries = self.rotated(ctx.org_id(), &sealed, &secret)?;
            let next = self.sealer.seal(ctx.org_id(), &entries)?;
            if self
                .store
                .swap_webhook_secrets(ctx, id, sealed, next)
                .await?
            {
                return Ok(secret);
            }
        }
        Err(Error::conflict(
            "secrets",
            "the endpoint's secrets kept changing; try again",
        ))
    }

    /// The list after rotating `secret` in as the primary of the list `sealed`.
    fn rotated(
        &self,
        org_id: OrgId,
        sealed: &SealedSecrets,
        secret: &WebhookSecret,
    ) -> Result<Vec<SecretEntry>> {
        let kept = self.sealer.open(org_id, sealed)?;
        Ok(rotated_entries(secret, kept, self.grace))
    }

    /// Every secret of an endpoint of `org_id` still valid at `now`, primary first.
    ///
    /// # Errors
    /// As [`SecretSealer::open`].
    pub fn open_secrets(
        &self,
        org_id: OrgId,
        sealed: &SealedSecrets,
        now: DateTime<Utc>,
    ) -> Result<Vec<WebhookSecret>> {
        self.sealer.open_valid(org_id, sealed, now)
    }

    /// Seals the custom headers of every endpoint that still holds them in plaintext (written
    /// before headers were sealed at rest), in batches; returns how many endpoints it converted.
    /// Idempotent; `workos-server serve` and `worker` run it at start.
    ///
    /// # Errors
    /// The store's errors.
    pub async fn seal_plaintext_headers(&self) -> Result<u64>
    where
        S: DeliveryQueue,
    {
        let mut sealed = 0;
        loop {
            let batch = self.store.plaintext_webhook_headers(100).await?;
            if batch.is_empty() {
                return Ok(sealed);
            }
            let mut progressed = false;
            for (org, id, headers) in batch {
                let blob = self.sealer.seal_headers(org, &headers)?;
                if self.store.seal_webhook_headers(org, id, blob).await? {
                    sealed += 1;
                    progressed = true;
                }
            }
            if !progressed {
                // Another process converts the same rows: it finishes them.
                return Ok(sealed);
            }
        }
    }

    /// The SSRF check of a URL at registration for the context's org, as a validation error
    /// on `url`.
    async fn check_url(&self, ctx: &TenantContext, url: &HttpUrl) -> Result<()> {
        check_registration_url(&self.guard, &*self.store, ctx, &url.to_url(), "url").await
    }
}

#[cfg(test)]
mod tests {
    use workos_core::crypto::SecretKey;

    use super::*;

    fn sealer() -> SecretSealer {
        SecretSealer::new(Arc::new(Cipher::new(1, SecretKey::generate())))
    }

    #[test]
    fn seal_open_round_trip_and_expiry() {
        let s = sealer();
        let org = OrgId::new();
        let now = Utc::now();
        let (a, b, c) = (
            WebhookSecret::generate(),
            WebhookSecret::generate(),
            WebhookSecret::generate(),
        );
        let sealed = s
            .seal(
                org,
                &[
                    SecretEntry {
                        secret: a.clone(),
                        expires_at: None,
                    },
                    SecretEntry {
                        secret: b.clone(),
                        expires_at: Some(now + chrono::Duration::hours(1)),
                    },
                    SecretEntry {
                        secret: c,
                        expires_at: Some(now - chrono::Duration::seconds(1)),
                    },
                ],
            )
            .unwrap();
        assert_eq!(s.open(org, &sealed).unwrap().len(), 3);
        let valid = s.open_valid(org, &sealed, now).unwrap();
        let exposed: Vec<&str> = valid.iter().map(WebhookSecret::expose).collect();
        assert_eq!(exposed, [a.expose(), b.expose()]);
        let later = s
            .open_valid(org, &sealed, now + chrono::Duration::hours(2))
            .unwrap();
        assert_eq!(later.len(), 1);
        assert_eq!(later[0].expose(), a.expose());
    }

    #[test]
    fn sealed_list_is_bound_to_its_org() {
        let s = sealer();
        let sealed = s
            .seal(
                OrgId::new(),
                &[SecretEntry {
                    secret: WebhookSecret::generate(),
                    expires_at: None,
                }],
            )
            .unwrap();
        assert!(matches!(
            s.open(OrgId::new(), &sealed),
            Err(Error::Internal { .. })
        ));
        // And to the cipher's key.
        assert!(sealer().open(OrgId::new(), &sealed).is_err());
    }

    #[test]
    fn stored_format_is_the_documented_json() {
        let cipher = Arc::new(Cipher::new(1, SecretKey::generate()));
        let s = SecretSealer::new(cipher.clone());
        let org = OrgId::new();
        let secret = WebhookSecret::generate();
        let exp = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        let sealed = s
            .seal(
                org,
                &[
                    SecretEntry {
                        secret: secret.clone(),
                        expires_at: None,
                    },
                    SecretEntry {
                        secret: secret.clone(),
                        expires_at: Some(exp),
                    },
                ],
            )
            .unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&cipher.decrypt(&sealed.0, &SecretSealer::aad(org)).unwrap())
                .unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"secret": secret.expose(), "expires_at": null},
                {"secret": secret.expose(), "expires_at": "2026-01-02T03:04:05Z"},
            ])
        );
        assert!(!format!("{s:?}").contains(secret.expose()));
    }
}
