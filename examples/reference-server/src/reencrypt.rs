//! `workos-server admin reencrypt`: re-seals every secret at rest with the current
//! `WORKOS_ENCRYPTION_KEY`, so the previous key (`WORKOS_ENCRYPTION_KEY_PREVIOUS`) can be
//! retired.
//!
//! It walks every org and every sealed column ([`SealedColumn::ALL`]) in batches. A value the
//! current key already sealed is left alone, so the command is resumable: run it again after an
//! interruption and it carries on, touching only what is still sealed with the old key. Each
//! value is swapped only if nobody changed it meanwhile (a token refreshed by a live server is
//! already sealed with the current key), so it runs next to live servers.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;
use workos_core::crypto::Cipher;
use workos_core::ids::OrgId;
use workos_store::{SealedColumn, SealedValue, SqlStore};

/// Values read per batch.
const BATCH: u32 = 200;

/// What a run did, per column: printed as JSON at the end.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct ColumnReport {
    /// Values re-sealed with the current key.
    pub resealed: u64,
    /// Values already sealed with the current key.
    pub current: u64,
    /// Values changed by someone else while this run read them (already current).
    pub changed_meanwhile: u64,
    /// Values no configured key opens: left as they were, and the run fails.
    pub unreadable: u64,
}

/// The whole run's report, by column name.
pub type Report = BTreeMap<&'static str, ColumnReport>;

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
) -> anyhow::Result<Report> {
    let mut report = Report::new();
    let mut after: Option<OrgId> = None;
    let mut orgs_done = 0_u64;
    loop {
        let orgs = store.org_ids(after, BATCH).await?;
        let Some(last) = orgs.last().copied() else {
            break;
        };
        for org in orgs {
            let mut resealed = 0;
            for column in SealedColumn::ALL {
                let entry = report.entry(column.name()).or_default();
                resealed += reencrypt_column(store, cipher, column, org, entry).await?;
            }
            orgs_done += 1;
            writeln!(
                progress,
                "reencrypt: org {org} done ({resealed} re-sealed; {orgs_done} orgs so far)"
            )?;
        }
        after = Some(last);
    }
    let unreadable: u64 = report.values().map(|r| r.unreadable).sum();
    anyhow::ensure!(
        unreadable == 0,
        "{unreadable} sealed values open with no configured key (left as they were): {}",
        serde_json::to_string(&report)?
    );
    Ok(report)
}

/// Re-seals `org`'s values of `column`; answers how many it re-sealed.
async fn reencrypt_column(
    store: &SqlStore,
    cipher: &Cipher,
    column: SealedColumn,
    org: OrgId,
    report: &mut ColumnReport,
) -> anyhow::Result<u64> {
    let mut resealed = 0;
    let mut after: Option<SealedValue> = None;
    loop {
        let values = store
            .sealed_values(column, org, after.as_ref(), BATCH)
            .await?;
        for value in &values {
            let Some(labels) = labels(value) else {
                report.unreadable += 1;
                continue;
            };
            let labels: Vec<&[u8]> = labels.iter().map(Vec::as_slice).collect();
            match cipher.reseal(&value.sealed, &labels) {
                Ok(None) => report.current += 1,
                Ok(Some(new)) => {
                    if store.replace_sealed(value, new).await? {
                        report.resealed += 1;
                        resealed += 1;
                    } else {
                        report.changed_meanwhile += 1;
                    }
                }
                Err(_) => report.unreadable += 1,
            }
        }
        if values.len() < BATCH as usize {
            return Ok(resealed);
        }
        after = values.into_iter().last();
    }
}
