//! The columns that hold secrets sealed at rest, and what a sealed value's labels depend on.
//!
//! Each crate that seals a column knows the labels ([`crate::crypto::SealLabel`]) its values
//! were sealed under, and answers them for a [`SealedRef`] through a function of its own
//! (`workos_webhooks::sealed_labels`, `workos_leads::sealed_labels`,
//! `workos_gmail::sealed_labels`, `workos_twilio::sealed_labels`), so a key rotation
//! (`workos_store::SqlStore::reencrypt_secrets`) composes the crates it links instead of
//! knowing each scheme:
//!
//! ```
//! use workos_core::sealed::{SealedLabelsFn, SealedRef};
//!
//! fn labels(value: &SealedRef<'_>, owners: &[SealedLabelsFn]) -> Option<Vec<Vec<u8>>> {
//!     owners.iter().find_map(|owner| owner(value))
//! }
//! ```

use uuid::Uuid;

use crate::ids::OrgId;

/// A column of sealed values. Exhaustive on purpose: the store must walk every one, so a new
/// column does not build until the store knows where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SealedColumn {
    /// `integrations.credentials`: Gmail OAuth tokens, Twilio auth tokens (by `provider`).
    IntegrationCredentials,
    /// `webhooks.secrets`: endpoints' signing secret lists.
    WebhookSecrets,
    /// `webhooks.sealed_headers`: endpoints' custom headers (names and values).
    WebhookHeaders,
    /// `fulfillment_partners.signing_secret`: partners' lead-webhook signing secrets.
    PartnerSigningSecrets,
    /// `lead_forms.secret`: public forms' submission signing secrets.
    LeadFormSecrets,
    /// `oauth_states.sealed_verifier`: PKCE verifiers of OAuth connects in progress.
    OAuthVerifiers,
}

impl SealedColumn {
    /// Every sealed column, in the order a rotation walks them.
    pub const ALL: [Self; 6] = [
        Self::IntegrationCredentials,
        Self::WebhookSecrets,
        Self::WebhookHeaders,
        Self::PartnerSigningSecrets,
        Self::LeadFormSecrets,
        Self::OAuthVerifiers,
    ];

    /// `table.column`, for progress reports.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::IntegrationCredentials => "integrations.credentials",
            Self::WebhookSecrets => "webhooks.secrets",
            Self::WebhookHeaders => "webhooks.sealed_headers",
            Self::PartnerSigningSecrets => "fulfillment_partners.signing_secret",
            Self::LeadFormSecrets => "lead_forms.secret",
            Self::OAuthVerifiers => "oauth_states.sealed_verifier",
        }
    }
}

/// What a sealed value's labels depend on: its column, org, record and provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealedRef<'a> {
    /// Its column.
    pub column: SealedColumn,
    /// The org it belongs to.
    pub org_id: OrgId,
    /// Its record's id (`None` for OAuth states, which are keyed by a hash of the state).
    pub record_id: Option<Uuid>,
    /// The provider, for integrations and OAuth states (their labels depend on it).
    pub provider: Option<&'a str>,
}

/// A sealing crate's answer to "which labels may this value be sealed under", the current one
/// first; `None` for a value of a column (or provider) that is not the crate's.
pub type SealedLabelsFn = fn(&SealedRef<'_>) -> Option<Vec<Vec<u8>>>;
