//! The Postgres fast path of people: a new person and their contact index written in one
//! statement (with the transaction's events), where the portable code in the parent module runs
//! one per row. Taken only on a single Postgres node (`Tx::fast_path`); SQLite and Citus run the
//! portable code. The items are also part of routing's one-statement write
//! (`routing::postgres`). The parity test below runs both paths on one database and compares
//! the rows.

use workos_core::domain::Person;
use workos_core::{Error, Result};

use super::{INSERT_PERSON, contacts, person_args};
use crate::db::{PgArgs, Tx};

/// [`super::write_new_person`] on one node: one statement. A contact held by another person
/// is a conflict named after its field, with the rows written left for the caller to remove.
pub(super) async fn write_new_person(tx: &mut Tx, p: &Person) -> Result<()> {
    let mut args = PgArgs::default();
    let (ctes, contacts) = new_person_ctes(&mut args, p)?;
    let (taken,): (Vec<String>,) = tx
        .fetch_with_events(&ctes, "ARRAY(SELECT taken FROM workos_contacts)", args)
        .await?;
    contact_conflict(contacts, &taken).map_or(Ok(()), Err)
}

/// A new person's contacts as written: kind, value, and the field that carries it.
pub(crate) type NewContacts<'a> = Vec<(&'static str, &'a str, String)>;

/// Postgres: the `WITH` items that insert the person `p` (`workos_person`) and their contact
/// rows (`workos_contacts`, answering the rows written), with their arguments added to `args`,
/// and the contacts they write. A contact another person holds is skipped (`ON CONFLICT`
/// waits for a concurrent writer of the same value): see [`contact_conflict`].
pub(crate) fn new_person_ctes<'p>(
    args: &mut PgArgs,
    p: &'p Person,
) -> Result<([String; 2], NewContacts<'p>)> {
    let contacts = contacts(p);
    let org = args.bind(p.org_id.as_uuid())?;
    let id = args.bind(p.id.as_uuid())?;
    let insert = args.append(INSERT_PERSON, person_args(p))?;
    let kinds = args.bind(contacts.iter().map(|c| c.0).collect::<Vec<_>>())?;
    let values = args.bind(contacts.iter().map(|c| c.1.to_owned()).collect::<Vec<_>>())?;
    // The person row is in place for the contacts' foreign key, which is checked at the end
    // of the statement.
    let ctes = [
        format!("workos_person AS ({insert})"),
        format!(
            "workos_contacts AS (INSERT INTO person_contacts (org_id, kind, value, person_id)
             SELECT {org}, k, v, {id} FROM unnest({kinds}::text[], {values}::text[]) AS c(k, v)
             ON CONFLICT DO NOTHING RETURNING kind || ':' || value AS taken)"
        ),
    ];
    Ok((ctes, contacts))
}

/// The conflict of the first of `contacts` missing from `taken` (the `workos_contacts` rows
/// [`new_person_ctes`] wrote), named after its field.
pub(crate) fn contact_conflict(contacts: NewContacts<'_>, taken: &[String]) -> Option<Error> {
    contacts
        .into_iter()
        .find(|(kind, value, _)| !taken.contains(&format!("{kind}:{value}")))
        .map(|(kind, _, field)| {
            Error::conflict(field, format!("another person already has this {kind}"))
        })
}

#[cfg(test)]
mod parity {
    use workos_core::Error;
    use workos_core::domain::{E164, EmailAddress, NewPerson};
    use workos_core::repo::PersonRepo;

    use crate::repos::parity::Twins;

    fn email(s: &str) -> EmailAddress {
        EmailAddress::parse(s).expect("email")
    }

    fn phone(s: &str) -> E164 {
        E164::parse(s).expect("phone")
    }

    /// A person with several contacts, then one whose contacts another person holds: both
    /// paths store the same person, contact index and events, and refuse the second alike.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn new_people_are_stored_alike_by_both_paths() {
        let Some(twins) = Twins::new("workos_parity_people").await else {
            return;
        };
        for (store, ctx) in [
            (&twins.fast, &twins.fast_ctx),
            (&twins.portable, &twins.portable_ctx),
        ] {
            let ada = NewPerson {
                first_name: Some(" Ada ".into()),
                last_name: Some("Lovelace".into()),
                email: Some(email("ada@example.com")),
                additional_emails: vec![email("countess@example.com")],
                phone: Some(phone("+14155550100")),
                additional_phones: vec![phone("+14155550101")],
                title: Some("Analyst".into()),
                ..NewPerson::default()
            };
            store.create_person(ctx, ada).await.expect("create");
            let taken = NewPerson {
                first_name: Some("Grace".into()),
                email: Some(email("grace@example.com")),
                phone: Some(phone("+14155550101")),
                ..NewPerson::default()
            };
            let err = store.create_person(ctx, taken).await.expect_err("taken");
            assert!(
                matches!(&err, Error::Conflict { field, .. } if field == "phone"),
                "{err:?}"
            );
        }
        twins
            .assert_same(&["people", "person_contacts", "domain_events"])
            .await;
    }
}
