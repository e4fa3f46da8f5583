//! Key rotation: re-sealing every secret at rest with the cipher's current (primary) key, so
//! the previous key can be retired.
//!
//! [`SqlStore::reencrypt_secrets`] walks every org and every sealed column
//! ([`SealedColumn::ALL`]) in batches. A value the current key already sealed is left alone, so
//! a rotation is resumable: run it again after an interruption and it carries on, touching
//! only what is still sealed with the old key. Each value is swapped only if nobody changed it
//! meanwhile (a token refreshed by a live server is already sealed with the current key), so it
//! runs next to live servers.
//!
//! The store never knows what a value's labels (its additional authenticated data) are: they
//! belong to the crate that sealed it (`workos-gmail`, `workos-twilio`, `workos-webhooks`,
//! `workos-leads`), each of which answers them for its own columns (a `sealed_labels` function per
//! crate); the caller composes those it links into one function of the value's [`SealedRef`].

use std::collections::BTreeMap;

use serde::Serialize;
use workos_core::Result;
use workos_core::crypto::Cipher;
use workos_core::ids::OrgId;
use workos_core::sealed::SealedRef;

use crate::{SealedColumn, SealedValue, SqlStore};

/// Values read per batch.
const BATCH: u32 = 200;

/// What a rotation did with one column's values.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct ColumnReport {
    /// Values re-sealed with the current key.
    pub resealed: u64,
    /// Values already sealed with the current key.
    pub current: u64,
    /// Values changed by someone else while the rotation read them (already current).
    pub changed_meanwhile: u64,
    /// Values no key of the cipher opens (or whose labels the caller does not know): left as
    /// they were.
    pub unreadable: u64,
}

/// A rotation's report, by column name ([`SealedColumn::name`]).
pub type ReencryptReport = BTreeMap<&'static str, ColumnReport>;

/// The labels a sealed value may be sealed under, the current one first; `None` for a value
/// the caller cannot label (a provider it does not know, a feature it was built without),
/// which counts as unreadable. The sealing crates answer for their own columns
/// ([`workos_core::sealed`]).
pub type SealedLabels = dyn Fn(&SealedRef<'_>) -> Option<Vec<Vec<u8>>> + Send + Sync;

impl SqlStore {
    /// Re-seals every sealed value of every org with `cipher`'s primary key, the labels of
    /// each given by `labels`; calls `progress(org, resealed, orgs_done)` after each org.
    /// Values nothing opens are counted as unreadable and left as they were: check
    /// [`ColumnReport::unreadable`] before retiring the previous key.
    ///
    /// # Errors
    /// [`workos_core::Error::Unavailable`] when the database fails (run it again: it resumes).
    pub async fn reencrypt_secrets(
        &self,
        cipher: &Cipher,
        labels: &SealedLabels,
        progress: &mut (dyn FnMut(OrgId, u64, u64) + Send),
    ) -> Result<ReencryptReport> {
        let mut report = ReencryptReport::new();
        let mut after: Option<OrgId> = None;
        let mut orgs_done = 0_u64;
        loop {
            let orgs = self.org_ids(after, BATCH).await?;
            let Some(last) = orgs.last().copied() else {
                break;
            };
            for org in orgs {
                let mut resealed = 0;
                for column in SealedColumn::ALL {
                    let entry = report.entry(column.name()).or_default();
                    resealed += self
                        .reencrypt_column(cipher, labels, column, org, entry)
                        .await?;
                }
                orgs_done += 1;
                progress(org, resealed, orgs_done);
            }
            after = Some(last);
        }
        Ok(report)
    }

    /// Re-seals `org`'s values of `column`; answers how many it re-sealed.
    async fn reencrypt_column(
        &self,
        cipher: &Cipher,
        labels: &SealedLabels,
        column: SealedColumn,
        org: OrgId,
        report: &mut ColumnReport,
    ) -> Result<u64> {
        let mut resealed = 0;
        let mut after: Option<SealedValue> = None;
        loop {
            let values = self
                .sealed_values(column, org, after.as_ref(), BATCH)
                .await?;
            for value in &values {
                let Some(labels) = labels(&value.sealed_ref()) else {
                    report.unreadable += 1;
                    continue;
                };
                let labels: Vec<&[u8]> = labels.iter().map(Vec::as_slice).collect();
                match cipher.reseal(&value.sealed, &labels) {
                    Ok(None) => report.current += 1,
                    Ok(Some(new)) => {
                        if self.replace_sealed(value, new).await? {
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
}
