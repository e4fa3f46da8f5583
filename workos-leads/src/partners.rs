//! Partners with their webhook signing secret: minted (`whsec_…`) when a webhook partner is
//! created or switched to webhook, sealed at rest with the engine's [`Cipher`] (associated data
//! binding the org and the partner), shown once, rotated with a grace period like endpoints'
//! secrets ([`PartnerService`]). A webhook partner's URL is checked at registration with the
//! same SSRF rules as webhook endpoints (the deployment's allowed subnets plus the org's), as
//! it is again before every delivery.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use workos_core::crypto::Cipher;
use workos_core::domain::{HttpUrl, NewPartner, Partner, PartnerDelivery, PartnerPatch};
use workos_core::ids::{OrgId, PartnerId};
use workos_core::repo::{PartnerRepo, SealedSecrets, SubnetAllowanceRepo};
use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};
use workos_webhooks::service::{
    DEFAULT_GRACE_PERIOD, MAX_ROTATION_TRIES, SecretEntry, SecretSealer, check_registration_url,
    rotated_entries,
};
use workos_webhooks::signing::WebhookSecret;
use workos_webhooks::ssrf::SsrfGuard;

/// The associated data a partner's secrets are sealed with: the org and the partner, so a
/// sealed secret copied to another partner or org does not open.
#[must_use]
pub fn partner_aad(org_id: OrgId, partner_id: PartnerId) -> Vec<u8> {
    format!("org:{org_id}\0partner:{partner_id}\0leads.signing_secret").into_bytes()
}

/// Partners with their webhook signing secrets. See the [module docs](self).
pub struct PartnerService<S: ?Sized> {
    store: Arc<S>,
    sealer: SecretSealer,
    guard: SsrfGuard,
    grace: Duration,
}

impl<S: ?Sized> std::fmt::Debug for PartnerService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartnerService")
            .field("guard", &self.guard)
            .field("grace", &self.grace)
            .finish_non_exhaustive()
    }
}

impl<S: PartnerRepo + SubnetAllowanceRepo + ?Sized> PartnerService<S> {
    /// A service over `store`, sealing secrets with `cipher` and checking webhook URLs with
    /// `guard` (the deployment's, as the lead sender's: `WebhookConfig::allowed_subnets`); a
    /// rotated secret stays valid for [`DEFAULT_GRACE_PERIOD`].
    #[must_use]
    pub fn new(store: Arc<S>, cipher: Arc<Cipher>, guard: SsrfGuard) -> Self {
        Self {
            store,
            sealer: SecretSealer::new(cipher),
            guard,
            grace: DEFAULT_GRACE_PERIOD,
        }
    }

    /// The same service with another grace period for rotated secrets.
    #[must_use]
    pub fn with_grace_period(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Creates a partner; a webhook partner's URL is checked with the SSRF guard, and it gets
    /// a new signing secret, returned this once and stored with the partner in one transaction.
    ///
    /// # Errors
    /// As [`PartnerRepo::create_partner`], and [`Error::Validation`] on `delivery.url` when the
    /// guard refuses the URL or its host does not resolve.
    pub async fn create(
        &self,
        ctx: &TenantContext,
        new: NewPartner,
    ) -> Result<(Partner, Option<WebhookSecret>)> {
        match &new.delivery {
            PartnerDelivery::Webhook { url } => {
                ctx.authorize(Access::Manage)?;
                self.check_url(ctx, url).await?;
                let id = PartnerId::new();
                let (secret, sealed) = self.mint(ctx.org_id(), id)?;
                let partner = self
                    .store
                    .create_partner_with_secret(ctx, id, new, Some(sealed))
                    .await?;
                Ok((partner, Some(secret)))
            }
            PartnerDelivery::Email { .. } => Ok((self.store.create_partner(ctx, new).await?, None)),
        }
    }

    /// Changes a partner. When the patch names a delivery, the signing secret follows it in
    /// the same transaction: a webhook partner without one gets a new signing secret,
    /// returned this once; an email partner loses its.
    ///
    /// A changed webhook URL is checked with the SSRF guard first.
    ///
    /// # Errors
    /// As [`PartnerRepo::update_partner`], and as [`PartnerService::create`] for the URL.
    pub async fn update(
        &self,
        ctx: &TenantContext,
        id: PartnerId,
        patch: PartnerPatch,
    ) -> Result<(Partner, Option<WebhookSecret>)> {
        ctx.authorize(Access::Manage)?;
        if let Some(PartnerDelivery::Webhook { url }) = &patch.delivery {
            let current = self.store.get_partner(ctx, id).await?;
            if !matches!(&current.delivery, PartnerDelivery::Webhook { url: now } if now == url) {
                self.check_url(ctx, url).await?;
            }
        }
        if patch.delivery.is_none() {
            return Ok((self.store.update_partner(ctx, id, patch).await?, None));
        }
        let (secret, sealed) = self.mint(ctx.org_id(), id)?;
        let (partner, minted) = self
            .store
            .update_partner_with_secret(ctx, id, patch, sealed)
            .await?;
        Ok((partner, minted.then_some(secret)))
    }

    /// Mints a new signing secret for a webhook partner and returns it (shown this once). The
    /// secrets it replaces stay valid for the grace period (deliveries are signed with each),
    /// so the partner can switch without missing a lead. Rotations racing each other keep
    /// every new secret (the store's swap is a compare-and-swap).
    ///
    /// # Errors
    /// [`Error::Forbidden`] below admin; [`Error::NotFound`]; [`Error::Conflict`] on
    /// `delivery.kind` for an email partner, and on `signing_secret` when the secret kept
    /// changing under [`MAX_ROTATION_TRIES`] tries; [`Error::Internal`] when the stored
    /// secret does not open.
    pub async fn rotate_secret(&self, ctx: &TenantContext, id: PartnerId) -> Result<WebhookSecret> {
        ctx.authorize(Access::Manage)?;
        let partner = self.store.get_partner(ctx, id).await?;
        if !matches!(partner.delivery, PartnerDelivery::Webhook { .. }) {
            return Err(Error::conflict(
                "delivery.kind",
                "only webhook partners have a signing secret",
            ));
        }
        let secret = WebhookSecret::generate();
        let aad = partner_aad(ctx.org_id(), id);
        for _ in 0..MAX_ROTATION_TRIES {
            let stored = self.store.partner_signing_secret(ctx, id).await?;
            let kept = match &stored {
                Some(sealed) => self.sealer.open_for(&aad, sealed)?,
                None => Vec::new(),
            };
            let entries = rotated_entries(&secret, kept, self.grace);
            let next = self.sealer.seal_for(&aad, &entries)?;
            if self
                .store
                .swap_partner_signing_secret(ctx, id, stored, next)
                .await?
            {
                return Ok(secret);
            }
        }
        Err(Error::conflict(
            "signing_secret",
            "the partner's signing secret kept changing; try again",
        ))
    }

    /// The partner's signing secrets still valid at `now`, primary first, opened from `sealed`
    /// (as [`PartnerRepo::partner_signing_secret`] reads it). For the engine's own checks and
    /// tests; never shown through the API.
    ///
    /// # Errors
    /// [`Error::Internal`] when `sealed` does not open for this org and partner.
    pub fn open_secrets(
        &self,
        org_id: OrgId,
        id: PartnerId,
        sealed: &SealedSecrets,
        now: DateTime<Utc>,
    ) -> Result<Vec<WebhookSecret>> {
        Ok(self
            .sealer
            .open_for(&partner_aad(org_id, id), sealed)?
            .into_iter()
            .filter(|e| e.is_valid_at(now))
            .map(|e| e.secret)
            .collect())
    }

    /// The SSRF check of a webhook partner's URL for the context's org.
    async fn check_url(&self, ctx: &TenantContext, url: &HttpUrl) -> Result<()> {
        check_registration_url(
            &self.guard,
            &*self.store,
            ctx,
            &url.to_url(),
            "delivery.url",
        )
        .await
    }

    /// A new signing secret and its sealing, as the only entry, for the partner `id`.
    fn mint(&self, org_id: OrgId, id: PartnerId) -> Result<(WebhookSecret, SealedSecrets)> {
        let secret = WebhookSecret::generate();
        let entry = SecretEntry {
            secret: secret.clone(),
            expires_at: None,
        };
        let sealed = self
            .sealer
            .seal_for(&partner_aad(org_id, id), std::slice::from_ref(&entry))?;
        Ok((secret, sealed))
    }
}
