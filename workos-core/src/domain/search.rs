//! Search across people, companies and deals: what a query matches and how results rank, the
//! same on every backend.
//!
//! A query is split into words (runs of letters and digits, lowercased). A record matches when
//! **every** word matches one of its words:
//! - **exact**: the same word (`acme` in "Acme Corp");
//! - **prefix**: the start of a word (`acm` in "Acme"), for the type-ahead box;
//! - **fuzzy**: within one typo (a letter added, dropped, changed, or two swapped) of the word
//!   or of its start, for words of three letters or more (`jhon` finds "John", `jon` finds
//!   "John", `acmr` finds "Acme").
//!
//! A person's words are those of their first and last name, every email and every phone; a
//! company's those of its name and domain; a deal's those of its name. A query that reads as a
//! phone number (digits with spaces, `+`, `-`, `.` or parentheses, at least three digits)
//! also matches a phone whose digits contain its digits, whatever the formatting on either side
//! (`555 0100` and `(555) 010-0` find `+15555550100`).
//!
//! Each query word scores by how it matched (exact 1, prefix 0.75, fuzzy 0.5), times 0.8 when
//! the word matched is in an email, phone or domain rather than a name, so an exact match
//! always ranks above a prefix one, and a prefix one above a fuzzy one. A record's score is the
//! mean over the query's words (or its phone score, 1 for the same digits and 0.75 for
//! digits contained, when higher), in `(0, 1]`. Results come best first; ties by title, then
//! id.
//!
//! Backends find candidates with an index (trigrams of the words' beginnings and, for phone
//! queries, of the digits) and rank them with [`SearchQuery::score`]: at most
//! [`SearchQuery::CANDIDATES`] candidates of each type are ranked, those sharing the most
//! trigrams with the query first.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};

/// What a search result is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SearchKind {
    /// A person.
    Person,
    /// A company.
    Company,
    /// A deal.
    Deal,
}

impl SearchKind {
    /// Every kind.
    pub const ALL: [Self; 3] = [Self::Person, Self::Company, Self::Deal];

    /// The name as shown in `type`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Person => "person",
            Self::Company => "company",
            Self::Deal => "deal",
        }
    }
}

impl fmt::Display for SearchKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SearchKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| Error::invalid("types", "must be one of: person company deal"))
    }
}

/// A validated search: the query text, the kinds of record searched and how many results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    text: String,
    words: Vec<String>,
    /// The digits of a query that reads as a phone number.
    digits: Option<String>,
    kinds: Vec<SearchKind>,
    limit: u32,
}

/// How a query word matched a record's word (the better the greater).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Fuzzy,
    Prefix,
    Exact,
}

impl Level {
    const fn value(self) -> f64 {
        match self {
            Self::Exact => 1.0,
            Self::Prefix => 0.75,
            Self::Fuzzy => 0.5,
        }
    }
}

/// The weight of a word of an email, phone or domain (a name's words weigh 1).
const CONTACT_WEIGHT: f64 = 0.8;

/// What a backend found for a candidate, as stored: the text [`SearchQuery::score`] reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct SearchFields<'a> {
    /// Name text: a person's first and last name, a company's or a deal's name.
    pub name: &'a str,
    /// Other words: emails, a company's domain (any text; only its words are read).
    pub other: &'a str,
    /// Phone numbers in any formatting, several in one text (each run of digits and `+` is
    /// one number; a JSON array of E.164 numbers reads as well).
    pub phones: &'a str,
}

impl SearchQuery {
    /// The most characters of a query (as sent, surrounding spaces included).
    pub const MAX_CHARS: usize = 200;
    /// The most results of one search.
    pub const MAX_LIMIT: u32 = 50;
    /// Results of a search that names no limit.
    pub const DEFAULT_LIMIT: u32 = 20;
    /// The most candidates of each type a backend ranks.
    pub const CANDIDATES: u32 = 500;
    /// The most query words that find candidates (all of them must still match).
    const PATTERN_WORDS: usize = 8;
    /// The most trigrams of one word that find candidates.
    const WORD_TRIGRAMS: usize = 6;

    /// A search for `q` (trimmed) over every kind, [`Self::DEFAULT_LIMIT`] results.
    ///
    /// # Errors
    /// [`Error::Validation`] on `q` when it is longer than [`Self::MAX_CHARS`], empty once
    /// trimmed, or has no letter or digit.
    pub fn new(q: &str) -> Result<Self> {
        // Counted as sent, so that the bound is the one a client sees documented.
        if q.chars().count() > Self::MAX_CHARS {
            return Err(Error::invalid("q", "must be at most 200 characters"));
        }
        let text = q.trim();
        if text.is_empty() {
            return Err(Error::invalid("q", "must not be empty"));
        }
        let words = words_of(text);
        if words.is_empty() {
            return Err(Error::invalid("q", "must contain a letter or digit"));
        }
        let phone_like = text
            .chars()
            .all(|c| c.is_ascii_digit() || " +-.()".contains(c));
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        Ok(Self {
            text: text.to_owned(),
            words,
            digits: (phone_like && digits.len() >= 3).then_some(digits),
            kinds: SearchKind::ALL.to_vec(),
            limit: Self::DEFAULT_LIMIT,
        })
    }

    /// Only these kinds of record (all when empty); duplicates are ignored.
    #[must_use]
    pub fn kinds(mut self, kinds: impl IntoIterator<Item = SearchKind>) -> Self {
        let mut kinds: Vec<SearchKind> = kinds.into_iter().collect();
        kinds.sort_unstable();
        kinds.dedup();
        if !kinds.is_empty() {
            self.kinds = kinds;
        }
        self
    }

    /// At most `limit` results.
    ///
    /// # Errors
    /// [`Error::Validation`] on `limit` outside 1 to [`Self::MAX_LIMIT`].
    pub fn limit(mut self, limit: u32) -> Result<Self> {
        if !(1..=Self::MAX_LIMIT).contains(&limit) {
            return Err(Error::invalid("limit", "must be between 1 and 50"));
        }
        self.limit = limit;
        Ok(self)
    }

    /// The query text, trimmed.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether records of `kind` are searched.
    #[must_use]
    pub fn searches(&self, kind: SearchKind) -> bool {
        self.kinds.contains(&kind)
    }

    /// The most results.
    #[must_use]
    pub const fn max_results(&self) -> u32 {
        self.limit
    }

    /// What backends look for in their index to find candidates: substrings of a record's
    /// search text (its words lowercased, each preceded by a space). Each query word gives the
    /// trigrams of itself preceded by a space (the first marks a word's beginning), so a
    /// record whose word shares one with a query word is found even with a typo elsewhere in
    /// it; a one-letter word gives a two-character pattern (a space and the letter), which
    /// trigram indexes cannot serve. A phone query also gives its digits.
    #[must_use]
    pub fn patterns(&self) -> Vec<String> {
        let mut out = Vec::new();
        for word in self.words.iter().take(Self::PATTERN_WORDS) {
            let chars: Vec<char> = std::iter::once(' ').chain(word.chars()).collect();
            if chars.len() < 3 {
                out.push(chars.iter().collect());
                continue;
            }
            out.extend(
                chars
                    .windows(3)
                    .take(Self::WORD_TRIGRAMS)
                    .map(|w| w.iter().collect::<String>()),
            );
        }
        out.extend(self.digits.clone());
        out.sort();
        out.dedup();
        out
    }

    /// How well a record with these fields matches, in `(0, 1]`, or `None` when it does not
    /// (see the module documentation).
    #[must_use]
    pub fn score(&self, fields: SearchFields<'_>) -> Option<f64> {
        let names = words_of(fields.name);
        let mut others = words_of(fields.other);
        others.extend(words_of(fields.phones));
        let mut total = 0.0;
        let mut all = true;
        for q in &self.words {
            let best = best_level(q, &names)
                .map(Level::value)
                .into_iter()
                .chain(best_level(q, &others).map(|l| l.value() * CONTACT_WEIGHT))
                .fold(None, |acc: Option<f64>, v| {
                    Some(acc.map_or(v, |a| a.max(v)))
                });
            match best {
                Some(v) => total += v,
                None => {
                    all = false;
                    break;
                }
            }
        }
        #[expect(clippy::cast_precision_loss, reason = "at most 100 words")]
        let words = all.then(|| total / self.words.len() as f64);
        let phone = self
            .digits
            .as_deref()
            .and_then(|d| phone_score(d, fields.phones));
        match (words, phone) {
            (Some(w), Some(p)) => Some(w.max(p)),
            (w, p) => w.or(p),
        }
    }
}

/// The phone score of `digits` against the numbers in `phones`.
fn phone_score(digits: &str, phones: &str) -> Option<f64> {
    phones
        .split(|c: char| !(c.is_ascii_digit() || c == '+'))
        .map(|p| p.chars().filter(char::is_ascii_digit).collect::<String>())
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            if p == digits {
                Some(Level::Exact.value())
            } else {
                p.contains(digits).then_some(Level::Prefix.value())
            }
        })
        .fold(None, |acc: Option<f64>, v| {
            Some(acc.map_or(v, |a| a.max(v)))
        })
}

/// The words of a text: runs of letters and digits, lowercased.
fn words_of(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// How well query word `q` matches the best of `words`.
fn best_level(q: &str, words: &[String]) -> Option<Level> {
    words.iter().filter_map(|w| level(q, w)).max()
}

fn level(q: &str, w: &str) -> Option<Level> {
    if q == w {
        return Some(Level::Exact);
    }
    if w.starts_with(q) {
        return Some(Level::Prefix);
    }
    // Numbers have no typos: a phone's digits either contain the query's or not.
    let q: Vec<char> = q.chars().collect();
    if q.len() < 3 || q.iter().all(char::is_ascii_digit) {
        return None;
    }
    let w: Vec<char> = w.chars().collect();
    if within_one_edit(&q, &w) {
        return Some(Level::Fuzzy);
    }
    // The start of the word, one shorter (a letter added in the query, for words of four
    // letters or more), as long, or one longer (a letter dropped).
    let shortest = if q.len() >= 4 { q.len() - 1 } else { q.len() };
    (shortest..=q.len() + 1)
        .filter(|&n| n < w.len())
        .any(|n| within_one_edit(&q, &w[..n]))
        .then_some(Level::Fuzzy)
}

/// Whether `a` and `b` are at most one edit apart: a character added, dropped, changed, or two
/// neighbours swapped (optimal string alignment distance ≤ 1).
fn within_one_edit(a: &[char], b: &[char]) -> bool {
    if a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (a, b) = (&a[prefix..], &b[prefix..]);
    match (a.len(), b.len()) {
        (0, 0) | (0, 1) | (1, 0) => true,
        (x, y) if x == y => {
            a[1..] == b[1..] || (x >= 2 && a[0] == b[1] && a[1] == b[0] && a[2..] == b[2..])
        }
        (x, y) if x > y => a[1..] == *b,
        _ => *a == b[1..],
    }
}

/// One result of a search: what a type-ahead row shows and where it leads.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchHit {
    /// What the record is.
    #[serde(rename = "type")]
    pub kind: SearchKind,
    /// The record's id (a person's, company's or deal's, as `type` says).
    pub id: Uuid,
    /// The row's main text: a person's name (their email or phone when they have none), a
    /// company's or deal's name.
    pub title: String,
    /// The row's second line: a person's email (else phone), a company's domain, a deal's
    /// stage; absent when there is none.
    pub subtitle: Option<String>,
    /// How well the record matches, in (0, 1]: 1 for every word exact in a name.
    pub score: f64,
}

/// The results of a search, best first.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchResults {
    /// The results, best first (ties by title, then id); at most the search's limit.
    pub data: Vec<SearchHit>,
}

impl SearchResults {
    /// The best `query.max_results()` of `hits`, in order.
    #[must_use]
    pub fn ranked(query: &SearchQuery, mut hits: Vec<SearchHit>) -> Self {
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.title.to_lowercase().cmp(&b.title.to_lowercase()))
                .then_with(|| a.id.cmp(&b.id))
        });
        hits.truncate(query.max_results() as usize);
        Self { data: hits }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(q: &str, name: &str, other: &str, phones: &str) -> Option<f64> {
        SearchQuery::new(q).unwrap().score(SearchFields {
            name,
            other,
            phones,
        })
    }

    #[test]
    fn queries_are_trimmed_bounded_and_need_a_word() {
        assert_eq!(SearchQuery::new("  acme ").unwrap().text(), "acme");
        for bad in ["", "   ", "!!", &"a".repeat(201)] {
            let err = SearchQuery::new(bad).unwrap_err();
            assert!(err.to_string().contains('q'), "{bad:?}: {err}");
        }
        assert!(SearchQuery::new(&"a".repeat(200)).is_ok());
        let q = SearchQuery::new("a").unwrap();
        assert!(q.clone().limit(0).is_err());
        assert!(q.clone().limit(51).is_err());
        assert_eq!(q.limit(50).unwrap().max_results(), 50);
    }

    #[test]
    fn exact_beats_prefix_beats_fuzzy() {
        let exact = score("john", "John Smith", "", "").unwrap();
        let prefix = score("joh", "John Smith", "", "").unwrap();
        let fuzzy = score("jhon", "John Smith", "", "").unwrap();
        assert!(exact > prefix && prefix > fuzzy, "{exact} {prefix} {fuzzy}");
        // Even an email's exact word beats a name's prefix.
        let email_exact = score("acme", "Jo", "jo@acme.com", "").unwrap();
        assert!(email_exact > score("acm", "Acme", "", "").unwrap());
        assert!(email_exact < score("acme", "Acme", "", "").unwrap());
    }

    #[test]
    fn typos_and_prefixes() {
        assert!(score("jon", "John", "", "").is_some());
        assert!(score("acm", "Acme Corp", "", "").is_some());
        assert!(score("jhon smith", "John Smith", "", "").is_some());
        assert!(score("jhon smiht", "John Smith", "", "").is_some());
        assert!(
            score("smithsn", "Smithson", "", "").is_some(),
            "a dropped letter"
        );
        assert!(score("johhn", "John", "", "").is_some(), "an added letter");
        assert!(score("jhn smith", "John Smith", "", "").is_some());
        // Two typos in one word, or a word that matches nothing, do not match.
        assert!(score("jnho", "John", "", "").is_none());
        assert!(score("john zed", "John Smith", "", "").is_none());
        // Short words get no typo.
        assert!(score("jx", "John", "", "").is_none());
    }

    #[test]
    fn phones_match_whatever_the_formatting() {
        let phones = "+15555550100 [\"+442071838750\"]";
        assert_eq!(score("+1 (555) 555-0100", "", "", phones), Some(1.0));
        assert_eq!(score("555 0100", "", "", phones), Some(0.75));
        assert_eq!(score("20 7183", "", "", phones), Some(0.75));
        assert_eq!(score("555 0199", "", "", phones), None);
        assert_eq!(score("15555550100", "", "", "+15555550100"), Some(1.0));
    }

    #[test]
    fn patterns_mark_word_beginnings_and_digits() {
        let q = SearchQuery::new("Jo acme 555-0100").unwrap();
        let p = q.patterns();
        assert!(p.contains(&" jo".to_owned()));
        assert!(p.contains(&" ac".to_owned()) && p.contains(&"cme".to_owned()));
        assert!(!p.contains(&"5550100".to_owned()), "not a phone query");
        let q = SearchQuery::new("555-0100").unwrap();
        assert!(q.patterns().contains(&"5550100".to_owned()));
        assert_eq!(SearchQuery::new("j").unwrap().patterns(), vec![" j"]);
    }

    #[test]
    fn one_edit() {
        let e = |a: &str, b: &str| {
            within_one_edit(
                &a.chars().collect::<Vec<_>>(),
                &b.chars().collect::<Vec<_>>(),
            )
        };
        assert!(e("jhon", "john") && e("jon", "john") && e("johnn", "john") && e("jahn", "john"));
        assert!(!e("jnho", "john") && !e("jo", "john") && !e("ab", "ba c"));
    }

    #[test]
    fn kinds_and_ranking() {
        let q = SearchQuery::new("x")
            .unwrap()
            .kinds([SearchKind::Deal, SearchKind::Deal]);
        assert!(q.searches(SearchKind::Deal) && !q.searches(SearchKind::Person));
        assert_eq!("deal".parse::<SearchKind>().unwrap(), SearchKind::Deal);
        assert!("deals".parse::<SearchKind>().is_err());
        let hit = |title: &str, score: f64| SearchHit {
            kind: SearchKind::Person,
            id: Uuid::nil(),
            title: title.into(),
            subtitle: None,
            score,
        };
        let q = q.limit(2).unwrap();
        let r = SearchResults::ranked(&q, vec![hit("b", 0.5), hit("a", 0.5), hit("c", 1.0)]);
        let titles: Vec<&str> = r.data.iter().map(|h| h.title.as_str()).collect();
        assert_eq!(titles, ["c", "a"]);
    }
}
