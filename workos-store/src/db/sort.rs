//! Keyset paging in any of a list's sorts: the one place a [`Sort`] becomes SQL.

use workos_core::page::{PageRequest, Sort, SortField, SortKey};
use workos_core::{Error, Result};

use super::{Arg, Sql};

impl Sql {
    /// Appends the page condition, order and limit (one extra row to detect a next page) of a
    /// list sorted by `page.sort()`: keyset paging on (key, id), ties broken by id in the same
    /// direction, so concurrent inserts never make a page skip or repeat a record. `keys` says
    /// what each field other than `created_at` (always `id_column`) means in this table;
    /// `postgres` picks the dialect of folded text keys.
    ///
    /// # Errors
    /// [`Error::Validation`] on `cursor` when it was made for another sort, or on `sort` when
    /// the table has no key for the field.
    pub(crate) fn sorted_page(
        &mut self,
        id_column: &'static str,
        keys: &[(SortField, SortExpr)],
        page: &PageRequest,
        postgres: bool,
    ) -> Result<&mut Self> {
        page.check()?;
        let sort = page.sort();
        let (op, dir) = if sort.is_descending() {
            ("<", " DESC")
        } else {
            (">", "")
        };
        let key = match sort.field() {
            SortField::CreatedAt => None,
            field => Some(
                keys.iter()
                    .find(|(f, _)| *f == field)
                    .map(|(_, e)| (e.sql(postgres), e.nullable()))
                    .ok_or_else(|| {
                        let fields: Vec<SortField> = std::iter::once(SortField::CreatedAt)
                            .chain(keys.iter().map(|(f, _)| *f))
                            .collect();
                        Error::invalid(
                            "sort",
                            format!("must be one of {}", Sort::values(&fields).join(", ")),
                        )
                    })?,
            ),
        };
        match (&key, page.cursor()) {
            (_, None) => {}
            (None, Some(c)) => {
                self.push(" AND ")
                    .push(id_column)
                    .push(&format!(" {op} "))
                    .bind(c.last_id());
            }
            (Some((key, nullable)), Some(c)) => match c.last_key() {
                // Past the last key, or in the trailing NULLs (which come last either way).
                SortKey::Time(None) => {
                    self.push(&format!(" AND {key} IS NULL AND {id_column} {op} "))
                        .bind(c.last_id());
                }
                last => {
                    let arg = match last {
                        SortKey::Text(t) => Arg::from(t.as_str()),
                        SortKey::Time(t) => Arg::from(*t),
                        SortKey::Id => {
                            return Err(Error::invalid("cursor", "has no key for its sort"));
                        }
                    };
                    self.push(&format!(" AND (({key}, {id_column}) {op} ("))
                        .bind(arg)
                        .push(", ")
                        .bind(c.last_id())
                        .push(")");
                    if *nullable {
                        self.push(&format!(" OR {key} IS NULL"));
                    }
                    self.push(")");
                }
            },
        }
        self.push(" ORDER BY ");
        if let Some((key, nullable)) = &key {
            self.push(key).push(dir);
            if *nullable {
                self.push(" NULLS LAST");
            }
            self.push(", ");
        }
        self.push(id_column).push(dir).push(" LIMIT ");
        Ok(self.bind(i64::from(page.limit()) + 1))
    }
}

/// What a sort field means in one table: the SQL expression of its key.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SortExpr {
    /// A time column that is never NULL.
    Time(&'static str),
    /// A time column that may be NULL; NULLs sort last in both directions.
    NullableTime(&'static str),
    /// A text expression (never NULL) compared case-folded, byte by byte: `lower()` folds
    /// ASCII only on SQLite, and on Postgres under the "C" collation, which also compares
    /// bytes, so both order as [`workos_core::page::fold_case`] does. Indexes on it must use
    /// the same expression (see the sort-index migration).
    Folded(&'static str),
}

impl SortExpr {
    fn sql(self, postgres: bool) -> String {
        match self {
            Self::Time(c) | Self::NullableTime(c) => c.to_owned(),
            Self::Folded(e) if postgres => format!("lower(({e}) COLLATE \"C\")"),
            Self::Folded(e) => format!("lower({e})"),
        }
    }

    const fn nullable(self) -> bool {
        matches!(self, Self::NullableTime(_))
    }
}
