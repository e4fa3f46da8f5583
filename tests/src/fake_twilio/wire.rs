//! Twilio's wire conventions the fake follows: the API version, SIDs, dates, ordered form
//! parameters and country codes.

pub(super) const API_VERSION: &str = "2010-04-01";
/// The `Timestamp`/date format Twilio uses (RFC 2822).
pub(super) const DATE_FORMAT: &str = "%a, %d %b %Y %H:%M:%S %z";

/// Ordered form parameters under construction.
#[derive(Default)]
pub(super) struct Params(pub(super) Vec<(String, String)>);

impl Params {
    pub(super) fn add(&mut self, name: &str, value: &str) -> &mut Self {
        self.0.push((name.to_owned(), value.to_owned()));
        self
    }
}

pub(super) fn new_sid(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

pub(super) fn now() -> String {
    chrono::Utc::now().format(DATE_FORMAT).to_string()
}

/// The ISO country of a few common calling codes, empty otherwise (as Twilio sends for
/// unknown locations).
pub(super) fn country(number: &str) -> &'static str {
    let n = number.strip_prefix("whatsapp:").unwrap_or(number);
    if n.starts_with("+1") {
        "US"
    } else if n.starts_with("+44") {
        "GB"
    } else if n.starts_with("+49") {
        "DE"
    } else if n.starts_with("+33") {
        "FR"
    } else {
        ""
    }
}
