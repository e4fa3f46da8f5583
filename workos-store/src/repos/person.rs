//! People, and the contact index that makes every email and phone unique within an org.

use async_trait::async_trait;
use sqlx::types::Json;
use uuid::Uuid;
use workos_core::domain::{
    E164, EmailAddress, NewPerson, Person, PersonFilter, PersonPatch, Timestamp,
};
use workos_core::events::types;
use workos_core::ids::{CompanyId, OrgId, PersonId};
use workos_core::page::{Page, PageRequest, SortField};
use workos_core::repo::{ContactLookup, PersonRepo};
use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};

use super::crm::and_range;
use super::{changed, corrupt, emit, emit_and_commit, ensure_ref, unchanged};
use crate::SqlStore;
use crate::db::{Arg, SortExpr, Sql, Tx, args, contains_pattern, now};
use crate::repos::fetch_sorted_page;

#[cfg(feature = "postgres")]
pub(super) mod postgres;

#[derive(sqlx::FromRow)]
struct PersonRow {
    id: Uuid,
    org_id: Uuid,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    additional_emails: Json<Vec<String>>,
    phone: Option<String>,
    additional_phones: Json<Vec<String>>,
    title: Option<String>,
    company_id: Option<Uuid>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl TryFrom<PersonRow> for Person {
    type Error = Error;

    fn try_from(r: PersonRow) -> Result<Self> {
        let email = |s: &String| EmailAddress::parse(s).map_err(|e| corrupt("email", e));
        let phone = |s: &String| E164::parse(s).map_err(|e| corrupt("phone", e));
        Ok(Self {
            id: PersonId::from_uuid(r.id),
            org_id: OrgId::from_uuid(r.org_id),
            first_name: r.first_name,
            last_name: r.last_name,
            email: r.email.as_ref().map(email).transpose()?,
            additional_emails: r
                .additional_emails
                .0
                .iter()
                .map(email)
                .collect::<Result<_>>()?,
            phone: r.phone.as_ref().map(phone).transpose()?,
            additional_phones: r
                .additional_phones
                .0
                .iter()
                .map(phone)
                .collect::<Result<_>>()?,
            title: r.title,
            company_id: r.company_id.map(CompanyId::from_uuid),
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const PERSON_COLUMNS: &str = "id, org_id, first_name, last_name, email, additional_emails, phone, \
     additional_phones, title, company_id, created_at, updated_at";

async fn fetch_person(tx: &mut Tx, ctx: &TenantContext, id: PersonId) -> Result<Person> {
    let sql = format!(
        "SELECT {PERSON_COLUMNS} FROM people WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL"
    );
    let row: Option<PersonRow> = tx.fetch_optional(&sql, args![ctx.org_id(), id]).await?;
    row.ok_or_else(|| Error::not_found(PersonId::KIND))?
        .try_into()
}

/// Every (kind, value, field name) of a person's contact details, for the contact index.
fn contacts(p: &Person) -> Vec<(&'static str, &str, String)> {
    let mut out = Vec::new();
    if let Some(e) = &p.email {
        out.push(("email", e.as_ref(), "email".to_owned()));
    }
    for (i, e) in p.additional_emails.iter().enumerate() {
        out.push(("email", e.as_ref(), format!("additional_emails[{i}]")));
    }
    if let Some(ph) = &p.phone {
        out.push(("phone", ph.as_ref(), "phone".to_owned()));
    }
    for (i, ph) in p.additional_phones.iter().enumerate() {
        out.push(("phone", ph.as_ref(), format!("additional_phones[{i}]")));
    }
    out
}

/// Replaces the person's rows in the contact index. A value held by another live person is a
/// conflict named after the field that carries it.
async fn index_contacts(tx: &mut Tx, ctx: &TenantContext, p: &Person, replace: bool) -> Result<()> {
    // A new person has no rows yet: skip the round trip.
    if replace {
        tx.execute(
            "DELETE FROM person_contacts WHERE org_id = $1 AND person_id = $2",
            args![ctx.org_id(), p.id],
        )
        .await?;
    }
    for (kind, value, field) in contacts(p) {
        // ON CONFLICT keeps the transaction usable (on Postgres a unique violation would abort
        // it), and waits for a concurrent writer of the same value, so races resolve cleanly.
        let inserted = tx
            .execute(
                "INSERT INTO person_contacts (org_id, kind, value, person_id) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
                args![ctx.org_id(), kind, value, p.id],
            )
            .await?;
        if inserted == 0 {
            return Err(Error::conflict(
                field,
                format!("another person already has this {kind}"),
            ));
        }
    }
    Ok(())
}

/// The live person holding a contact value, if any.
pub(crate) async fn find_by_contact(
    tx: &mut Tx,
    ctx: &TenantContext,
    kind: &str,
    value: &str,
) -> Result<Option<PersonId>> {
    let row: Option<(Uuid,)> = tx
        .fetch_optional(
            "SELECT person_id FROM person_contacts WHERE org_id = $1 AND kind = $2 AND value = $3",
            args![ctx.org_id(), kind, value],
        )
        .await?;
    Ok(row.map(|(id,)| PersonId::from_uuid(id)))
}

/// The live person holding `email`, else the one holding `phone`: one statement for both.
pub(crate) async fn find_by_email_or_phone(
    tx: &mut Tx,
    ctx: &TenantContext,
    email: Option<&str>,
    phone: Option<&str>,
) -> Result<Option<PersonId>> {
    if email.is_none() && phone.is_none() {
        return Ok(None);
    }
    // Two primary-key probes. (An `ORDER BY kind LIMIT 1` over one `OR` would invite the
    // planner to walk the org's whole contact index in `kind` order.)
    let rows: Vec<(String, Uuid)> = tx
        .fetch_all(
            "SELECT kind, person_id FROM person_contacts WHERE org_id = $1 AND kind = 'email' AND value = $2
             UNION ALL
             SELECT kind, person_id FROM person_contacts WHERE org_id = $1 AND kind = 'phone' AND value = $3",
            args![ctx.org_id(), email, phone],
        )
        .await?;
    let holder = |kind: &str| rows.iter().find(|(k, _)| k == kind).map(|(_, id)| *id);
    Ok(holder("email")
        .or_else(|| holder("phone"))
        .map(PersonId::from_uuid))
}

/// Inserts a person with their contact index and `person.created` event, inside `tx`.
/// On a contact conflict the partial rows are removed, so the transaction stays usable and the
/// caller may fall back to the existing holder.
pub(crate) async fn insert_person(
    tx: &mut Tx,
    ctx: &TenantContext,
    new: NewPerson,
) -> Result<Person> {
    new.validate()?;
    ensure_ref(
        tx,
        ctx,
        "companies",
        "company_id",
        new.company_id.map(|c| c.as_uuid()),
    )
    .await?;
    let person = new_person(ctx, new);
    if let Err(e) = write_new_person(tx, ctx, &person).await {
        tx.execute(
            "DELETE FROM person_contacts WHERE org_id = $1 AND person_id = $2",
            args![ctx.org_id(), person.id],
        )
        .await?;
        tx.execute(
            "DELETE FROM people WHERE org_id = $1 AND id = $2",
            args![ctx.org_id(), person.id],
        )
        .await?;
        return Err(e);
    }
    emit_person_created(tx, ctx, &person).await?;
    Ok(person)
}

/// The person `new` (validated) makes, created now.
pub(crate) fn new_person(ctx: &TenantContext, new: NewPerson) -> Person {
    let mut person = person_from(PersonId::new(), ctx, new, now());
    person.created_at = person.updated_at;
    person
}

/// Records `person.created` for `person`.
pub(crate) async fn emit_person_created(
    tx: &mut Tx,
    ctx: &TenantContext,
    person: &Person,
) -> Result<()> {
    emit(
        tx,
        ctx,
        types::PERSON_CREATED,
        PersonId::KIND,
        person.id.as_uuid(),
        person,
    )
    .await
}

fn person_from(id: PersonId, ctx: &TenantContext, n: NewPerson, created_at: Timestamp) -> Person {
    let clean = |s: Option<String>| s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    Person {
        id,
        org_id: ctx.org_id(),
        first_name: clean(n.first_name),
        last_name: clean(n.last_name),
        email: n.email,
        additional_emails: n.additional_emails,
        phone: n.phone,
        additional_phones: n.additional_phones,
        title: clean(n.title),
        company_id: n.company_id,
        created_at,
        updated_at: now(),
    }
}

/// Writes a new person and their contact index: on Postgres in one statement, elsewhere one
/// per row. A contact held by another person is a conflict named after its field, with the
/// rows written so far left for the caller to remove.
async fn write_new_person(tx: &mut Tx, ctx: &TenantContext, p: &Person) -> Result<()> {
    #[cfg(feature = "postgres")]
    if tx.fast_path() {
        return postgres::write_new_person(tx, p).await;
    }
    write_person(tx, p, true).await?;
    index_contacts(tx, ctx, p, false).await
}

const INSERT_PERSON: &str = "INSERT INTO people (first_name, last_name, email, additional_emails, phone, \
     additional_phones, title, company_id, updated_at, org_id, id, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

/// The arguments of [`INSERT_PERSON`] and of `write_person`'s update, in placeholder order.
fn person_args(p: &Person) -> Vec<Arg> {
    let list = |v: Vec<&str>| serde_json::Value::from(v);
    args![
        p.first_name.clone(),
        p.last_name.clone(),
        p.email.as_ref().map(AsRef::<str>::as_ref),
        list(p.additional_emails.iter().map(AsRef::as_ref).collect()),
        p.phone.as_ref().map(AsRef::<str>::as_ref),
        list(p.additional_phones.iter().map(AsRef::as_ref).collect()),
        p.title.clone(),
        p.company_id,
        p.updated_at,
        p.org_id,
        p.id,
        p.created_at,
    ]
}

async fn write_person(tx: &mut Tx, p: &Person, insert: bool) -> Result<()> {
    let sql = if insert {
        INSERT_PERSON
    } else {
        "UPDATE people SET first_name = $1, last_name = $2, email = $3, additional_emails = $4, phone = $5,
         additional_phones = $6, title = $7, company_id = $8, updated_at = $9
         WHERE org_id = $10 AND id = $11 AND created_at = $12"
    };
    tx.execute(sql, person_args(p)).await?;
    Ok(())
}

/// The keys of `sort` on people (`created_at` is id order); `workos_core::page::Sortable`
/// for `Person` computes the same keys.
const PERSON_SORTS: &[(SortField, SortExpr)] = &[
    (SortField::UpdatedAt, SortExpr::Time("updated_at")),
    (
        SortField::Name,
        SortExpr::Folded("coalesce(last_name, '') || ' ' || coalesce(first_name, '')"),
    ),
];

#[async_trait]
impl PersonRepo for SqlStore {
    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn create_person(&self, ctx: &TenantContext, new: NewPerson) -> Result<Person> {
        new.validate()?;
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        let person = insert_person(&mut tx, ctx, new).await?;
        tx.commit().await?;
        Ok(person)
    }

    async fn get_person(&self, ctx: &TenantContext, id: PersonId) -> Result<Person> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        fetch_person(&mut tx, ctx, id).await
    }

    async fn list_people(
        &self,
        ctx: &TenantContext,
        filter: PersonFilter,
        page: PageRequest,
    ) -> Result<Page<Person>> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        let mut sql = Sql::tenant(
            &format!("SELECT {PERSON_COLUMNS} FROM people p"),
            "org_id",
            ctx.org_id(),
        );
        sql.push(" AND deleted_at IS NULL");
        for (kind, value) in [
            ("email", filter.email.as_ref().map(AsRef::<str>::as_ref)),
            ("phone", filter.phone.as_ref().map(AsRef::<str>::as_ref)),
        ] {
            if let Some(value) = value {
                sql.push(" AND id IN (SELECT person_id FROM person_contacts c WHERE c.org_id = p.org_id AND c.kind = ")
                    .bind(kind)
                    .push(" AND c.value = ")
                    .bind(value)
                    .push(")");
            }
        }
        if let Some(name) = &filter.name {
            let pattern = contains_pattern(name);
            sql.push(" AND (lower(first_name) LIKE ")
                .bind(pattern.as_str())
                .push(" ESCAPE '\\' OR lower(last_name) LIKE ")
                .bind(pattern)
                .push(" ESCAPE '\\')");
        }
        sql.and("company_id", "=", filter.company_id);
        and_range(&mut sql, "created_at", filter.created);
        fetch_sorted_page::<PersonRow, Person>(&mut tx, sql, PERSON_SORTS, &page).await
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn update_person(
        &self,
        ctx: &TenantContext,
        id: PersonId,
        patch: PersonPatch,
    ) -> Result<Person> {
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        let current = fetch_person(&mut tx, ctx, id).await?;
        let next = NewPerson::patched(&current, patch);
        next.validate()?;
        ensure_ref(
            &mut tx,
            ctx,
            "companies",
            "company_id",
            changed(next.company_id, current.company_id).map(|c| c.as_uuid()),
        )
        .await?;
        let updated = person_from(id, ctx, next, current.created_at);
        if unchanged(&updated, &current, |r| &mut r.updated_at) {
            return Ok(current);
        }
        write_person(&mut tx, &updated, false).await?;
        index_contacts(&mut tx, ctx, &updated, true).await?;
        emit_and_commit(tx, ctx, types::PERSON_UPDATED, id, &updated).await?;
        Ok(updated)
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn delete_person(&self, ctx: &TenantContext, id: PersonId) -> Result<()> {
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        let person = fetch_person(&mut tx, ctx, id).await?;
        tx.execute(
            "UPDATE people SET deleted_at = $1 WHERE org_id = $2 AND id = $3",
            args![now(), ctx.org_id(), id],
        )
        .await?;
        // A deleted person releases their addresses, so a new person may take them.
        tx.execute(
            "DELETE FROM person_contacts WHERE org_id = $1 AND person_id = $2",
            args![ctx.org_id(), id],
        )
        .await?;
        emit_and_commit(tx, ctx, types::PERSON_DELETED, id, &person).await
    }
}

async fn person_by_contact(
    store: &SqlStore,
    ctx: &TenantContext,
    kind: &str,
    value: &str,
) -> Result<Option<Person>> {
    let mut tx = store.tenant_tx(ctx, Access::Read).await?;
    let sql = format!(
        "SELECT {PERSON_COLUMNS} FROM people WHERE org_id = $1 AND deleted_at IS NULL AND id = \
         (SELECT person_id FROM person_contacts WHERE org_id = $1 AND kind = $2 AND value = $3)"
    );
    let row: Option<PersonRow> = tx
        .fetch_optional(&sql, args![ctx.org_id(), kind, value])
        .await?;
    row.map(Person::try_from).transpose()
}

#[async_trait]
impl ContactLookup for SqlStore {
    async fn person_by_email(
        &self,
        ctx: &TenantContext,
        email: &EmailAddress,
    ) -> Result<Option<Person>> {
        person_by_contact(self, ctx, "email", email.as_ref()).await
    }

    async fn person_by_phone(&self, ctx: &TenantContext, phone: &E164) -> Result<Option<Person>> {
        person_by_contact(self, ctx, "phone", phone.as_ref()).await
    }
}
