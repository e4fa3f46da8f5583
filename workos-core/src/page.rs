//! Cursor pagination: a page of at most `limit` records and an opaque cursor to continue after
//! the last one. Lists are in id order (ids are UUID v7, so this is creation order) unless a
//! [`Sort`] says otherwise; a sorted list is paged on (sort key, id), so its pages neither skip
//! nor repeat a record when others are inserted meanwhile.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::Timestamp;
use crate::error::{Error, Result};

/// The largest page a caller may ask for.
pub const MAX_PAGE_SIZE: u32 = 200;
/// The page size when the caller does not say.
pub const DEFAULT_PAGE_SIZE: u32 = 50;

/// A field a list can be sorted by. Which fields a list accepts is its type's
/// [`Sortable::SORTS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SortField {
    /// Creation order. Ids are UUID v7 minted at creation, so this is id order and needs no
    /// key beyond the id (the order every list has always had).
    CreatedAt,
    /// Last change.
    UpdatedAt,
    /// The record's name, case-folded (see [`fold_case`]).
    Name,
    /// When an interaction happened.
    OccurredAt,
    /// When a task is due; tasks without one come last in both directions.
    DueAt,
}

impl SortField {
    const ALL: [Self; 5] = [
        Self::CreatedAt,
        Self::UpdatedAt,
        Self::Name,
        Self::OccurredAt,
        Self::DueAt,
    ];

    /// The name used in `sort` (`created_at`, …).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::CreatedAt => "created_at",
            Self::UpdatedAt => "updated_at",
            Self::Name => "name",
            Self::OccurredAt => "occurred_at",
            Self::DueAt => "due_at",
        }
    }

    /// The field's number in a cursor (its index in `ALL`).
    fn code(self) -> u8 {
        Self::ALL
            .iter()
            .position(|f| *f == self)
            .map_or(0, |i| i as u8)
    }
}

/// A list order in the JSON:API style: `field` ascending, `-field` descending. Rows with
/// equal keys are ordered by id in the same direction, so the order is total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sort {
    field: SortField,
    descending: bool,
}

impl Sort {
    /// `created_at` ascending: the default, and the only order of lists without `sort`.
    pub const CREATED: Self = Self::ascending(SortField::CreatedAt);

    /// `field` ascending.
    #[must_use]
    pub const fn ascending(field: SortField) -> Self {
        Self {
            field,
            descending: false,
        }
    }

    /// `field` descending (`-field`).
    #[must_use]
    pub const fn descending(field: SortField) -> Self {
        Self {
            field,
            descending: true,
        }
    }

    /// Parses `field` or `-field`, accepting only the `allowed` fields.
    ///
    /// # Errors
    /// [`Error::Validation`] on `sort`, listing the allowed values.
    pub fn parse(value: &str, allowed: &[SortField]) -> Result<Self> {
        let (name, descending) = match value.strip_prefix('-') {
            Some(name) => (name, true),
            None => (value, false),
        };
        allowed
            .iter()
            .find(|f| f.as_str() == name)
            .map(|&field| Self { field, descending })
            .ok_or_else(|| {
                Error::invalid(
                    "sort",
                    format!("must be one of {}", Self::values(allowed).join(", ")),
                )
            })
    }

    /// Every `sort` value over `allowed`: each field ascending, then descending.
    #[must_use]
    pub fn values(allowed: &[SortField]) -> Vec<String> {
        allowed
            .iter()
            .flat_map(|f| [Self::ascending(*f), Self::descending(*f)])
            .map(|s| s.to_string())
            .collect()
    }

    /// The field sorted by.
    #[must_use]
    pub const fn field(&self) -> SortField {
        self.field
    }

    /// Whether the order is descending.
    #[must_use]
    pub const fn is_descending(&self) -> bool {
        self.descending
    }

    fn code(self) -> u8 {
        self.field.code() * 2 + u8::from(self.descending)
    }

    fn from_code(code: u8) -> Option<Self> {
        let field = *SortField::ALL.get(usize::from(code / 2))?;
        Some(Self {
            field,
            descending: code % 2 == 1,
        })
    }
}

impl Default for Sort {
    fn default() -> Self {
        Self::CREATED
    }
}

impl fmt::Display for Sort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.descending {
            f.write_str("-")?;
        }
        f.write_str(self.field.as_str())
    }
}

/// The case folding of name sorts: ASCII letters lowered, everything else kept; folded keys
/// compare byte by byte (code point order). Both backends compute exactly this (SQLite's
/// `lower()` and Postgres' `lower()` under the "C" collation fold ASCII only), so a name
/// sort gives the same order on each.
#[must_use]
pub fn fold_case(s: &str) -> String {
    s.to_ascii_lowercase()
}

/// A record's value of the field a list is sorted by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SortKey {
    /// No key beyond the id (`created_at`, which is id order).
    Id,
    /// A time; `None` sorts after every time in both directions.
    Time(Option<Timestamp>),
    /// A case-folded name ([`fold_case`]).
    Text(String),
}

/// A record that can be listed in more orders than creation order.
pub trait Sortable {
    /// The fields its lists accept in `sort` (`created_at` first).
    const SORTS: &'static [SortField];

    /// The id that breaks ties.
    fn sort_id(&self) -> Uuid;

    /// Its key for `field` (one of [`Self::SORTS`]; [`SortKey::Id`] for `created_at`).
    fn sort_key(&self, field: SortField) -> SortKey;
}

/// An opaque position in a list: continue after the record it names, in the order it was
/// made for.
///
/// It encodes (URL-safe base64) the sort, the last record's key and its id; a cursor of the
/// default order is the bare id, as it has always been.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Cursor {
    sort: Sort,
    key: SortKey,
    id: Uuid,
}

impl Cursor {
    /// The cursor after the record with this id, in the default (creation) order.
    #[must_use]
    pub const fn after(id: Uuid) -> Self {
        Self {
            sort: Sort::CREATED,
            key: SortKey::Id,
            id,
        }
    }

    /// The cursor after `record` in `sort`.
    #[must_use]
    pub fn after_record<T: Sortable>(sort: Sort, record: &T) -> Self {
        Self {
            sort,
            key: record.sort_key(sort.field),
            id: record.sort_id(),
        }
    }

    /// The id of the last record already seen.
    #[must_use]
    pub const fn last_id(&self) -> Uuid {
        self.id
    }

    /// The sort key of the last record already seen.
    #[must_use]
    pub const fn last_key(&self) -> &SortKey {
        &self.key
    }

    /// The order this cursor continues.
    #[must_use]
    pub const fn sort(&self) -> Sort {
        self.sort
    }

    fn to_bytes(&self) -> Vec<u8> {
        if self.sort == Sort::CREATED {
            return self.id.as_bytes().to_vec();
        }
        let mut out = vec![self.sort.code()];
        out.extend_from_slice(self.id.as_bytes());
        match &self.key {
            SortKey::Id => {}
            SortKey::Time(None) => out.push(0),
            SortKey::Time(Some(t)) => {
                out.push(1);
                out.extend_from_slice(&t.timestamp().to_be_bytes());
                out.extend_from_slice(&t.timestamp_subsec_nanos().to_be_bytes());
            }
            SortKey::Text(s) => out.extend_from_slice(s.as_bytes()),
        }
        out
    }

    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if let Ok(id) = Uuid::from_slice(bytes) {
            return Some(Self::after(id));
        }
        let (&code, rest) = bytes.split_first()?;
        let sort = Sort::from_code(code).filter(|s| *s != Sort::CREATED)?;
        let id = Uuid::from_slice(rest.get(..16)?).ok()?;
        let rest = &rest[16..];
        let key = match sort.field {
            SortField::CreatedAt if rest.is_empty() => SortKey::Id,
            SortField::CreatedAt => return None,
            SortField::Name => SortKey::Text(String::from_utf8(rest.to_vec()).ok()?),
            SortField::UpdatedAt | SortField::OccurredAt | SortField::DueAt => match rest {
                [0] => SortKey::Time(None),
                [1, time @ ..] if time.len() == 12 => {
                    let secs = i64::from_be_bytes(time[..8].try_into().ok()?);
                    let nanos = u32::from_be_bytes(time[8..].try_into().ok()?);
                    SortKey::Time(Some(Timestamp::from_timestamp(secs, nanos)?))
                }
                _ => return None,
            },
        };
        Some(Self { sort, key, id })
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&URL_SAFE_NO_PAD.encode(self.to_bytes()))
    }
}

impl fmt::Debug for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cursor({self})")
    }
}

impl FromStr for Cursor {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        URL_SAFE_NO_PAD
            .decode(s)
            .ok()
            .and_then(|bytes| Self::from_bytes(&bytes))
            .ok_or_else(|| Error::invalid("cursor", "is not a cursor from a previous page"))
    }
}

impl Serialize for Cursor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cursor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Which page to read: a size, an order and where to continue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    limit: u32,
    sort: Sort,
    cursor: Option<Cursor>,
}

impl PageRequest {
    /// The first page of `limit` records, in creation order.
    ///
    /// # Errors
    /// [`Error::Validation`] on `limit` unless `1 <= limit <= MAX_PAGE_SIZE`.
    pub fn first(limit: u32) -> Result<Self> {
        if (1..=MAX_PAGE_SIZE).contains(&limit) {
            Ok(Self {
                limit,
                sort: Sort::CREATED,
                cursor: None,
            })
        } else {
            Err(Error::invalid(
                "limit",
                format!("must be between 1 and {MAX_PAGE_SIZE}"),
            ))
        }
    }

    /// A page of `limit` records in `sort`, continuing after `cursor`: the three list
    /// parameters, checked together.
    ///
    /// # Errors
    /// [`Error::Validation`] on `limit` as [`Self::first`], or on `cursor` when it was made
    /// for another sort.
    pub fn new(limit: u32, sort: Sort, cursor: Option<Cursor>) -> Result<Self> {
        let request = Self::first(limit)?.sorted(sort).after(cursor);
        request.check()?;
        Ok(request)
    }

    /// The same page in another order.
    #[must_use]
    pub const fn sorted(mut self, sort: Sort) -> Self {
        self.sort = sort;
        self
    }

    /// The same size of page, continuing after `cursor`.
    #[must_use]
    pub fn after(mut self, cursor: Option<Cursor>) -> Self {
        self.cursor = cursor;
        self
    }

    /// The page size.
    #[must_use]
    pub const fn limit(&self) -> u32 {
        self.limit
    }

    /// The order.
    #[must_use]
    pub const fn sort(&self) -> Sort {
        self.sort
    }

    /// Where to continue, if anywhere.
    #[must_use]
    pub const fn cursor(&self) -> Option<&Cursor> {
        self.cursor.as_ref()
    }

    /// Checks that the cursor, if any, was made for this order (a cursor holds the last key
    /// of its own order, which means nothing in another).
    ///
    /// # Errors
    /// [`Error::Validation`] on `cursor`.
    pub fn check(&self) -> Result<()> {
        match &self.cursor {
            Some(c) if c.sort != self.sort => Err(Error::invalid(
                "cursor",
                format!(
                    "was made for sort={}, not sort={}; repeat the sort of the first page",
                    c.sort, self.sort
                ),
            )),
            _ => Ok(()),
        }
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            limit: DEFAULT_PAGE_SIZE,
            sort: Sort::CREATED,
            cursor: None,
        }
    }
}

/// One page of records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    /// The records, in id order.
    pub data: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<Cursor>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows fetched in creation (id) order, ascending or
    /// descending: the extra row, when present, only proves that a next page exists.
    pub fn from_rows(rows: Vec<T>, request: &PageRequest, id: impl Fn(&T) -> Uuid) -> Self {
        Self::cut(rows, request, |r| Cursor {
            sort: request.sort,
            key: SortKey::Id,
            id: id(r),
        })
    }

    /// As [`Self::from_rows`], for rows fetched in the request's sort.
    pub fn from_sorted_rows(rows: Vec<T>, request: &PageRequest) -> Self
    where
        T: Sortable,
    {
        Self::cut(rows, request, |r| Cursor::after_record(request.sort, r))
    }

    fn cut(mut rows: Vec<T>, request: &PageRequest, cursor: impl Fn(&T) -> Cursor) -> Self {
        let limit = request.limit as usize;
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(cursor)
        } else {
            None
        };
        Self {
            data: rows,
            next_cursor,
        }
    }

    /// Maps every record, keeping the cursor.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            data: self.data.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = Cursor::after(Uuid::now_v7());
        assert_eq!(c.to_string().parse::<Cursor>().unwrap(), c);
        assert!("not-a-cursor!".parse::<Cursor>().is_err());
        assert!("AAAA".parse::<Cursor>().is_err());
    }

    #[test]
    fn limits_are_bounded() {
        assert!(PageRequest::first(0).is_err());
        assert!(PageRequest::first(MAX_PAGE_SIZE + 1).is_err());
        assert_eq!(
            PageRequest::first(MAX_PAGE_SIZE).unwrap().limit(),
            MAX_PAGE_SIZE
        );
    }

    #[test]
    fn extra_row_makes_a_cursor() {
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let req = PageRequest::first(2).unwrap();
        let page = Page::from_rows(ids.clone(), &req, |u| *u);
        assert_eq!(page.data, ids[..2]);
        assert_eq!(page.next_cursor, Some(Cursor::after(ids[1])));
        let last = Page::from_rows(ids[..2].to_vec(), &req, |u| *u);
        assert_eq!(last.next_cursor, None);
    }

    struct Task {
        id: Uuid,
        due_at: Option<Timestamp>,
        title: String,
    }

    impl Sortable for Task {
        const SORTS: &'static [SortField] =
            &[SortField::CreatedAt, SortField::Name, SortField::DueAt];

        fn sort_id(&self) -> Uuid {
            self.id
        }

        fn sort_key(&self, field: SortField) -> SortKey {
            match field {
                SortField::Name => SortKey::Text(fold_case(&self.title)),
                SortField::DueAt => SortKey::Time(self.due_at),
                _ => SortKey::Id,
            }
        }
    }

    #[test]
    fn default_cursor_is_the_bare_id_as_before() {
        let id = Uuid::now_v7();
        assert_eq!(
            Cursor::after(id).to_string(),
            URL_SAFE_NO_PAD.encode(id.as_bytes())
        );
    }

    #[test]
    fn sorted_cursors_round_trip_with_their_sort_and_key() {
        let when = Timestamp::from_timestamp(1_800_000_000, 123_456_789).unwrap();
        for (sort, task) in [
            (
                Sort::descending(SortField::DueAt),
                Task {
                    id: Uuid::now_v7(),
                    due_at: Some(when),
                    title: String::new(),
                },
            ),
            (
                Sort::ascending(SortField::DueAt),
                Task {
                    id: Uuid::now_v7(),
                    due_at: None,
                    title: String::new(),
                },
            ),
            (
                Sort::ascending(SortField::Name),
                Task {
                    id: Uuid::now_v7(),
                    due_at: None,
                    title: "Ünïcode Call".into(),
                },
            ),
            (
                Sort::descending(SortField::Name),
                Task {
                    id: Uuid::now_v7(),
                    due_at: None,
                    title: String::new(),
                },
            ),
            (
                Sort::descending(SortField::CreatedAt),
                Task {
                    id: Uuid::now_v7(),
                    due_at: None,
                    title: String::new(),
                },
            ),
        ] {
            let cursor = Cursor::after_record(sort, &task);
            let back: Cursor = cursor.to_string().parse().unwrap();
            assert_eq!(back, cursor);
            assert_eq!(back.sort(), sort);
            assert_eq!(back.last_id(), task.id);
            assert_eq!(back.last_key(), &task.sort_key(sort.field()));
        }
    }

    #[test]
    fn garbage_cursors_are_refused() {
        let id = Uuid::now_v7();
        let mut bytes = vec![200];
        bytes.extend_from_slice(id.as_bytes());
        let mut time = vec![Sort::ascending(SortField::DueAt).code()];
        time.extend_from_slice(id.as_bytes());
        time.extend_from_slice(&[1, 2, 3]);
        let mut utf8 = vec![Sort::ascending(SortField::Name).code()];
        utf8.extend_from_slice(id.as_bytes());
        utf8.extend_from_slice(&[0xff, 0xfe]);
        for bad in [
            bytes,
            time,
            utf8,
            vec![0; 16 + 2],
            id.as_bytes()[..15].to_vec(),
        ] {
            let err = URL_SAFE_NO_PAD.encode(bad).parse::<Cursor>().unwrap_err();
            assert!(
                matches!(err, Error::Validation(ref v) if v.errors[0].field == "cursor"),
                "{err:?}"
            );
        }
    }

    #[test]
    fn a_cursor_of_another_sort_is_refused() {
        let task = Task {
            id: Uuid::now_v7(),
            due_at: None,
            title: "a".into(),
        };
        let by_name = Cursor::after_record(Sort::ascending(SortField::Name), &task);
        let err = PageRequest::new(10, Sort::descending(SortField::Name), Some(by_name.clone()))
            .unwrap_err();
        assert!(
            matches!(err, Error::Validation(ref v) if v.errors[0].field == "cursor"),
            "{err:?}"
        );
        assert!(PageRequest::new(10, Sort::CREATED, Some(by_name.clone())).is_err());
        assert!(
            PageRequest::first(10)
                .unwrap()
                .after(Some(by_name.clone()))
                .check()
                .is_err()
        );
        let ok = PageRequest::new(10, Sort::ascending(SortField::Name), Some(by_name)).unwrap();
        assert_eq!(ok.sort(), Sort::ascending(SortField::Name));
    }

    #[test]
    fn sort_parses_the_allowed_fields_in_both_directions() {
        assert_eq!(
            Sort::parse("-due_at", Task::SORTS).unwrap(),
            Sort::descending(SortField::DueAt)
        );
        assert_eq!(
            Sort::parse("name", Task::SORTS).unwrap().to_string(),
            "name"
        );
        for bad in ["updated_at", "--name", "Name", "", "-"] {
            let err = Sort::parse(bad, Task::SORTS).unwrap_err();
            let Error::Validation(v) = err else {
                panic!("{bad}")
            };
            assert_eq!(v.errors[0].field, "sort");
            let message = &v.errors[0].message;
            assert!(
                message.contains("created_at, -created_at, name, -name, due_at, -due_at"),
                "{message}"
            );
        }
    }

    #[test]
    fn sorted_pages_carry_the_last_key() {
        let tasks: Vec<Task> = (0..3)
            .map(|i| Task {
                id: Uuid::now_v7(),
                due_at: None,
                title: format!("T{i}"),
            })
            .collect();
        let req = PageRequest::first(2)
            .unwrap()
            .sorted(Sort::ascending(SortField::Name));
        let page = Page::from_sorted_rows(tasks, &req);
        let cursor = page.next_cursor.unwrap();
        assert_eq!(cursor.last_key(), &SortKey::Text("t1".into()));
        assert_eq!(cursor.last_id(), page.data[1].id);
    }
}
