//! What each CRM list can be sorted by, and what each sort key means: one definition, which
//! the server parses `sort` against and the store's SQL mirrors (its contract tests compare the
//! two on every backend).

use uuid::Uuid;

use super::{Company, Deal, Interaction, Lead, Person, Task};
use crate::page::{SortField, SortKey, Sortable, fold_case};

/// Implements [`Sortable`]: the listed fields, each with the expression of its key.
macro_rules! sortable {
    ($t:ty { $($field:ident => |$r:ident| $key:expr),* $(,)? }) => {
        impl Sortable for $t {
            const SORTS: &'static [SortField] = &[SortField::CreatedAt $(, SortField::$field)*];

            fn sort_id(&self) -> Uuid {
                self.id.as_uuid()
            }

            fn sort_key(&self, field: SortField) -> SortKey {
                match field {
                    $(SortField::$field => {
                        let $r = self;
                        $key
                    })*
                    _ => SortKey::Id,
                }
            }
        }
    };
}

sortable!(Person {
    UpdatedAt => |p| SortKey::Time(Some(p.updated_at)),
    Name => |p| SortKey::Text(person_name(p.first_name.as_deref(), p.last_name.as_deref())),
});
sortable!(Company {
    UpdatedAt => |c| SortKey::Time(Some(c.updated_at)),
    Name => |c| SortKey::Text(fold_case(&c.name)),
});
sortable!(Deal {
    UpdatedAt => |d| SortKey::Time(Some(d.updated_at)),
    Name => |d| SortKey::Text(fold_case(&d.name)),
});
sortable!(Task {
    UpdatedAt => |t| SortKey::Time(Some(t.updated_at)),
    DueAt => |t| SortKey::Time(t.due_at),
});
sortable!(Interaction {
    OccurredAt => |i| SortKey::Time(Some(i.occurred_at)),
});
sortable!(Lead {
    UpdatedAt => |l| SortKey::Time(Some(l.updated_at)),
});

/// A person's name key: last name, a space, first name (a missing part is empty), case-folded.
/// So "de Vries, Anna" sorts as `de vries anna`, and someone with no last name sorts before
/// every last name.
#[must_use]
pub fn person_name(first_name: Option<&str>, last_name: Option<&str>) -> String {
    fold_case(&format!(
        "{} {}",
        last_name.unwrap_or_default(),
        first_name.unwrap_or_default()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn person_name_is_last_then_first_folded() {
        assert_eq!(person_name(Some("Anna"), Some("De Vries")), "de vries anna");
        assert_eq!(person_name(Some("Émile"), None), " Émile");
        assert_eq!(person_name(None, None), " ");
    }

    #[test]
    fn created_at_is_every_list_s_first_sort() {
        for sorts in [Person::SORTS, Company::SORTS, Deal::SORTS, Task::SORTS] {
            assert_eq!(sorts[0], SortField::CreatedAt);
        }
        assert_eq!(
            Task::SORTS,
            &[SortField::CreatedAt, SortField::UpdatedAt, SortField::DueAt]
        );
        assert_eq!(
            Interaction::SORTS,
            &[SortField::CreatedAt, SortField::OccurredAt]
        );
    }
}
