//! Public lead forms' shared secrets: validated, sealed with the engine's [`Cipher`] (bound to
//! the org) before the store sees them, and opened again to check a submission's signature.

use workos_core::crypto::Cipher;
use workos_core::domain::{
    LeadForm, LeadFormId, LeadFormPatch, NewLeadForm, Patch, validate_form_secret,
};
use workos_core::ids::OrgId;
use workos_core::repo::LeadFormRepo;
use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};

/// The associated data an org's form secrets are sealed with (public for re-sealing with a
/// new key).
#[must_use]
pub fn secret_aad(org: OrgId) -> Vec<u8> {
    format!("workos.lead_form.secret:{org}").into_bytes()
}

/// Checks `secret` (16–256 characters) and seals it for a form of `org`.
///
/// # Errors
/// [`Error::Validation`] on `secret`.
pub fn seal_secret(cipher: &Cipher, org: OrgId, secret: &str) -> Result<Vec<u8>> {
    validate_form_secret(secret)?;
    Ok(cipher.encrypt_str(secret, &secret_aad(org)))
}

/// Opens a secret [`seal_secret`] sealed for a form of `org`.
///
/// # Errors
/// [`Error::Internal`] when it does not open (another org's, another key, tampered with).
pub fn open_secret(cipher: &Cipher, org: OrgId, sealed: &[u8]) -> Result<String> {
    cipher
        .decrypt_str(sealed, &secret_aad(org))
        .map_err(|e| Error::internal("cannot open a lead form secret", e))
}

/// Creates a form (admin), with `secret` (when given) sealed: submissions must then be signed
/// with it. Its `public_form_id` is random.
///
/// # Errors
/// [`Error::Forbidden`] below admin; [`Error::Validation`] on `secret` and as
/// [`LeadFormRepo::create_lead_form`].
pub async fn create<S: LeadFormRepo + ?Sized>(
    store: &S,
    cipher: &Cipher,
    ctx: &TenantContext,
    new: NewLeadForm,
    secret: Option<&str>,
) -> Result<LeadForm> {
    ctx.authorize(Access::Manage)?;
    let sealed = secret
        .map(|s| seal_secret(cipher, ctx.org_id(), s))
        .transpose()?;
    store.create_lead_form(ctx, new, sealed).await
}

/// Changes a form (admin); `secret` sets a new one (sealed), clears it (signatures no longer
/// required) or keeps it.
///
/// # Errors
/// [`Error::Forbidden`] below admin; [`Error::Validation`] on `secret` and as
/// [`LeadFormRepo::update_lead_form`].
pub async fn update<S: LeadFormRepo + ?Sized>(
    store: &S,
    cipher: &Cipher,
    ctx: &TenantContext,
    id: LeadFormId,
    patch: LeadFormPatch,
    secret: Patch<String>,
) -> Result<LeadForm> {
    ctx.authorize(Access::Manage)?;
    let secret = match secret {
        Patch::Keep => Patch::Keep,
        Patch::Clear => Patch::Clear,
        Patch::Set(s) => Patch::Set(seal_secret(cipher, ctx.org_id(), &s)?),
    };
    store.update_lead_form(ctx, id, patch, secret).await
}
