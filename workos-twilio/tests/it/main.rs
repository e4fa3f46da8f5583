//! Integration tests for `workos-twilio`: signature vectors and webhook models.

mod models;
mod signature;

/// Owned `(name, value)` pairs from string literals.
fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(k, val)| ((*k).to_owned(), (*val).to_owned()))
        .collect()
}
