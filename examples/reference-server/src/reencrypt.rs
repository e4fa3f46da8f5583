//! `workos-server admin reencrypt`: re-seals every secret at rest with the current
//! `WORKOS_ENCRYPTION_KEY`, so the previous key (`WORKOS_ENCRYPTION_KEY_PREVIOUS`) can be
//! retired. The walk is the store's ([`SqlStore::reencrypt_secrets`]: resumable, safe next to
//! live servers); the labels of each column are the sealing crates' (`sealed_labels` of each
//! crate this build links); what this module adds is the command's output.

use std::io::Write;

use workos_core::crypto::Cipher;
use workos_core::sealed::{SealedLabelsFn, SealedRef};
use workos_store::{ReencryptReport, SqlStore};

/// The labels `value` may be sealed under, from the first crate this build links that seals
/// its column; `None` for a value none of them labels (a provider this build does not know, or
/// a feature it was built without).
fn labels(value: &SealedRef<'_>) -> Option<Vec<Vec<u8>>> {
    const OWNERS: &[SealedLabelsFn] = &[
        #[cfg(any(feature = "webhooks", feature = "leads"))]
        workos_webhooks::sealed_labels,
        #[cfg(feature = "leads")]
        workos_leads::sealed_labels,
        #[cfg(feature = "gmail")]
        workos_gmail::sealed_labels,
        #[cfg(feature = "twilio")]
        workos_twilio::sealed_labels,
    ];
    OWNERS.iter().find_map(|owner| owner(value))
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
