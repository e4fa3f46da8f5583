//! Integration tests for `workos-twilio`: signature vectors, webhook models and the REST
//! client against the fake Twilio API of `workos-tests`.

mod client;
mod models;
mod signature;

/// Owned `(name, value)` pairs from string literals.
fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(k, val)| ((*k).to_owned(), (*val).to_owned()))
        .collect()
}
