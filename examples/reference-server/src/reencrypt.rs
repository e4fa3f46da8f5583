//! `workos-server admin reencrypt`: re-seals every secret at rest with the current
//! `WORKOS_ENCRYPTION_KEY`, so the previous key (`WORKOS_ENCRYPTION_KEY_PREVIOUS`) can be
//! retired. The walk is the store's ([`SqlStore::reencrypt_secrets`]: resumable, safe next to
//! live servers); what this module adds is the labels of each column, from the crates this
//! build links, and the command's output.

use std::io::Write;

use workos_core::crypto::Cipher;
use workos_core::ids::OrgId;
use workos_store::{ReencryptReport, SealedColumn, SealedValue, SqlStore};

/// The labels `value` may be sealed under, the current one first; `None` for a value this
/// build cannot label (a provider it does not know, or a feature it was built without).
fn labels(value: &SealedValue) -> Option<Vec<Vec<u8>>> {
    match value.column {
        SealedColumn::IntegrationCredentials => {
            integration_labels(value.provider.as_deref()?, value.org_id)
        }
        #[cfg(any(feature = "webhooks", feature = "leads"))]
        SealedColumn::WebhookSecrets => Some(vec![workos_webhooks::service::SecretSealer::aad(
            value.org_id,
        )]),
        #[cfg(any(feature = "webhooks", feature = "leads"))]
        SealedColumn::WebhookHeaders => {
            Some(vec![workos_webhooks::service::SecretSealer::headers_aad(
                value.org_id,
            )])
        }
        #[cfg(feature = "leads")]
        SealedColumn::PartnerSigningSecrets => {
            let partner = workos_core::ids::PartnerId::from_uuid(value.record_id?);
            Some(vec![workos_leads::partners::partner_aad(
                value.org_id,
                partner,
            )])
        }
        #[cfg(feature = "leads")]
        SealedColumn::LeadFormSecrets => Some(vec![workos_leads::forms::secret_aad(value.org_id)]),
        #[cfg(feature = "gmail")]
        SealedColumn::OAuthVerifiers => Some(workos_gmail::SharedStateStore::labels(value.org_id)),
        _ => None,
    }
}

/// The labels of an integration's credentials, by provider.
#[cfg_attr(
    not(any(feature = "gmail", feature = "twilio")),
    expect(unused_variables)
)]
fn integration_labels(provider: &str, org: OrgId) -> Option<Vec<Vec<u8>>> {
    #[cfg(feature = "gmail")]
    if provider == "gmail" {
        return Some(workos_gmail::vault::StoredTokens::labels(org));
    }
    #[cfg(feature = "twilio")]
    if provider == "twilio" {
        return Some(vec![workos_twilio::accounts::aad(org)]);
    }
    None
}

/// Re-seals every sealed value of every org with `cipher`'s primary key, writing a progress
/// line per org to `progress`.
///
/// # Errors
/// When the database fails (run it again: it resumes), or when values no key opens were found
/// (the report says how many, per column; they are left as they were).
pub async fn reencrypt(
    store: &SqlStore,
    cipher: &Cipher,
    progress: &mut (dyn Write + Send),
) -> anyhow::Result<ReencryptReport> {
    let report = store
        .reencrypt_secrets(cipher, &labels, &mut |org, resealed, orgs_done| {
            // Progress is informative: a closed stderr does not stop the rotation.
            let _ = writeln!(
                progress,
                "reencrypt: org {org} done ({resealed} re-sealed; {orgs_done} orgs so far)"
            );
        })
        .await?;
    let unreadable: u64 = report.values().map(|r| r.unreadable).sum();
    anyhow::ensure!(
        unreadable == 0,
        "{unreadable} sealed values open with no configured key (left as they were): {}",
        serde_json::to_string(&report)?
    );
    Ok(report)
}
