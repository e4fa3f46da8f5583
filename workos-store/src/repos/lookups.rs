//! The global lookups: which org an API key prefix, a phone number or a public form id belongs
//! to. Each is its own small table (a reference table on Citus), written in the transaction
//! that writes the row it points at; its primary key is what keeps the value unique across
//! orgs. Reading one is how a request that carries no tenant yet finds its org, after which
//! every query filters by that org.

use uuid::Uuid;
use workos_core::Result;
use workos_core::ids::OrgId;

use crate::db::{Tx, args};

/// A global lookup table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// `api_key_prefixes`: an API key's public prefix.
    ApiKeyPrefix,
    /// `phone_numbers`: a phone number (E.164) registered to an org.
    PhoneNumber,
    /// `lead_form_ids`: a lead form's public id.
    PublicFormId,
}

impl Lookup {
    /// (table, key column, row id column).
    const fn columns(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::ApiKeyPrefix => ("api_key_prefixes", "prefix", "api_key_id"),
            Self::PhoneNumber => ("phone_numbers", "number", "phone_id"),
            Self::PublicFormId => ("lead_form_ids", "public_id", "form_id"),
        }
    }
}

/// The org `key` belongs to, if any. Needs the system scope (the lookups are readable across
/// orgs only there).
pub(crate) async fn org_of(tx: &mut Tx, lookup: Lookup, key: &str) -> Result<Option<OrgId>> {
    let (table, column, _) = lookup.columns();
    let sql = format!("SELECT org_id FROM {table} WHERE {column} = $1");
    let row: Option<(Uuid,)> = tx.fetch_optional(&sql, args![key]).await?;
    Ok(row.map(|(org,)| OrgId::from_uuid(org)))
}

/// Records that `key` belongs to `org` (row `id`). A key another row holds, in any org, is a
/// conflict on the key's field.
pub(crate) async fn claim_lookup(
    tx: &mut Tx,
    lookup: Lookup,
    key: &str,
    org: OrgId,
    id: Uuid,
) -> Result<()> {
    let (table, column, id_column) = lookup.columns();
    let sql = format!("INSERT INTO {table} ({column}, org_id, {id_column}) VALUES ($1, $2, $3)");
    tx.execute(&sql, args![key, org, id]).await.map(drop)
}

/// Frees `key` (the row it pointed at is gone).
pub(crate) async fn release_lookup(
    tx: &mut Tx,
    lookup: Lookup,
    key: &str,
    org: OrgId,
) -> Result<()> {
    let (table, column, _) = lookup.columns();
    let sql = format!("DELETE FROM {table} WHERE {column} = $1 AND org_id = $2");
    tx.execute(&sql, args![key, org]).await.map(drop)
}
