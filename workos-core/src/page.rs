//! Cursor pagination: a page of at most `limit` records in id order (ids are UUID v7, so this
//! is creation order), and an opaque cursor to continue after the last one.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};

/// The largest page a caller may ask for.
pub const MAX_PAGE_SIZE: u32 = 200;
/// The page size when the caller does not say.
pub const DEFAULT_PAGE_SIZE: u32 = 50;

/// An opaque position in a list: continue after the record it names.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cursor(Uuid);

impl Cursor {
    /// The cursor after the record with this id.
    #[must_use]
    pub const fn after(id: Uuid) -> Self {
        Self(id)
    }

    /// The id of the last record already seen.
    #[must_use]
    pub const fn last_id(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&URL_SAFE_NO_PAD.encode(self.0.as_bytes()))
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
        let bytes = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| Error::invalid("cursor", "is not a cursor from a previous page"))?;
        Uuid::from_slice(&bytes)
            .map(Self)
            .map_err(|_| Error::invalid("cursor", "is not a cursor from a previous page"))
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

/// Which page to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    limit: u32,
    cursor: Option<Cursor>,
}

impl PageRequest {
    /// The first page of `limit` records.
    ///
    /// # Errors
    /// [`Error::Validation`] on `limit` unless `1 <= limit <= MAX_PAGE_SIZE`.
    pub fn first(limit: u32) -> Result<Self> {
        if (1..=MAX_PAGE_SIZE).contains(&limit) {
            Ok(Self {
                limit,
                cursor: None,
            })
        } else {
            Err(Error::invalid(
                "limit",
                format!("must be between 1 and {MAX_PAGE_SIZE}"),
            ))
        }
    }

    /// The same size of page, continuing after `cursor`.
    #[must_use]
    pub const fn after(mut self, cursor: Option<Cursor>) -> Self {
        self.cursor = cursor;
        self
    }

    /// The page size.
    #[must_use]
    pub const fn limit(&self) -> u32 {
        self.limit
    }

    /// Where to continue, if anywhere.
    #[must_use]
    pub const fn cursor(&self) -> Option<Cursor> {
        self.cursor
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            limit: DEFAULT_PAGE_SIZE,
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
    /// Builds a page from up to `limit + 1` rows fetched in id order: the extra row, when
    /// present, only proves that a next page exists.
    pub fn from_rows(mut rows: Vec<T>, request: PageRequest, id: impl Fn(&T) -> Uuid) -> Self {
        let limit = request.limit as usize;
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|r| Cursor::after(id(r)))
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
        let page = Page::from_rows(ids.clone(), req, |u| *u);
        assert_eq!(page.data, ids[..2]);
        assert_eq!(page.next_cursor, Some(Cursor::after(ids[1])));
        let last = Page::from_rows(ids[..2].to_vec(), req, |u| *u);
        assert_eq!(last.next_cursor, None);
    }
}
