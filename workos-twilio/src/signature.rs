//! Verification of Twilio's `X-Twilio-Signature` webhook header.
//!
//! Twilio signs every webhook with `base64(HMAC-SHA1(auth_token, data))`, where `data` is
//! the full URL Twilio requested (query string included, exactly as configured) followed by
//! every POST form parameter, sorted by name (then value), as `name + value` with no
//! separators; an identical `(name, value)` pair repeated in the form is included once.
//!
//! Twilio is not consistent about whether the default port appears in the signed URL, so —
//! like Twilio's official helper libraries — [`RequestValidator::validate`] accepts a
//! signature computed over the URL as given, over the URL with the scheme's default port
//! added (`:443` for `https`, `:80` for `http`) and over the URL with that default port
//! removed. Non-default ports are never added or removed, and user info (`user:pass@`) is
//! kept as signed.
//!
//! Webhooks with a JSON body are signed over the URL alone; the URL then carries
//! `bodySHA256=<hex SHA-256 of the raw body>` ([`RequestValidator::validate_body`]).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use workos_core::crypto::constant_time_eq;

/// The HTTP header carrying Twilio's request signature.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";

/// Checks `X-Twilio-Signature` headers with an account's auth token.
///
/// The `Debug` output hides the token.
#[derive(Clone)]
pub struct RequestValidator {
    auth_token: String,
}

impl fmt::Debug for RequestValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestValidator")
            .field("auth_token", &"<redacted>")
            .finish()
    }
}

impl RequestValidator {
    /// A validator for the account (or subaccount) whose auth token is `auth_token`.
    pub fn new(auth_token: impl Into<String>) -> Self {
        Self {
            auth_token: auth_token.into(),
        }
    }

    /// The signature Twilio would send for a request to exactly `url` with form `params`.
    ///
    /// Parameters are sorted by name and, for repeated names, by value; each distinct
    /// `(name, value)` pair contributes `name + value` once (identical repeated pairs are
    /// counted once, as Twilio's official libraries do). The URL is used byte for byte (no
    /// normalisation, no port handling).
    #[must_use]
    pub fn signature(&self, url: &str, params: &[(String, String)]) -> String {
        STANDARD.encode(self.mac(url, params))
    }

    /// Whether `signature` is a valid Twilio signature for a form-encoded request to `url`
    /// carrying `params` (the decoded POST form fields; empty for GET requests, whose
    /// parameters are part of `url`).
    ///
    /// Accepts the URL as given, with the default port added, or with the default port
    /// removed. Comparisons are constant-time.
    #[must_use]
    pub fn validate(&self, url: &str, params: &[(String, String)], signature: &str) -> bool {
        // Decoded once and compared as bytes; the sorted parameters are shared by the URL
        // variants. Which variant matched is no secret, so the first match ends the check.
        let Ok(expected) = STANDARD.decode(signature) else {
            return false;
        };
        let signed_params = Self::signed_params(params);
        if constant_time_eq(&self.mac_over(url, &signed_params), &expected) {
            return true;
        }
        toggled_default_port(url).is_some_and(|candidate| {
            constant_time_eq(&self.mac_over(&candidate, &signed_params), &expected)
        })
    }

    /// Whether `signature` is a valid Twilio signature for a request with a raw (e.g. JSON)
    /// `body` to `url`.
    ///
    /// Such requests are signed over the URL alone (same port variants as
    /// [`validate`](Self::validate)), and the URL's `bodySHA256` query parameter must equal
    /// the lowercase hex SHA-256 of `body`. Returns `false` when `bodySHA256` is absent.
    #[must_use]
    pub fn validate_body(&self, url: &str, body: &[u8], signature: &str) -> bool {
        let Some(expected_hash) = query_param(url, "bodySHA256") else {
            return false;
        };
        let body_ok = constant_time_eq(sha256_hex(body).as_bytes(), expected_hash.as_bytes());
        let signature_ok = self.validate(url, &[], signature);
        body_ok & signature_ok
    }

    fn mac(&self, url: &str, params: &[(String, String)]) -> Vec<u8> {
        self.mac_over(url, &Self::signed_params(params))
    }

    /// The parameters as signed: each distinct `(name, value)` pair once (as Twilio's
    /// official validators do), sorted, concatenated as `name + value`.
    fn signed_params(params: &[(String, String)]) -> Vec<u8> {
        let mut sorted: Vec<&(String, String)> = params.iter().collect();
        sorted.sort_unstable();
        sorted.dedup();
        let mut out = Vec::with_capacity(sorted.iter().map(|(n, v)| n.len() + v.len()).sum());
        for (name, value) in sorted {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(value.as_bytes());
        }
        out
    }

    fn mac_over(&self, url: &str, signed_params: &[u8]) -> Vec<u8> {
        let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(self.auth_token.as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(url.as_bytes());
        mac.update(signed_params);
        mac.finalize().into_bytes().to_vec()
    }
}

/// Decodes an `application/x-www-form-urlencoded` body into `(name, value)` pairs, in order,
/// keeping repeated names.
#[must_use]
pub fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// Lowercase hex SHA-256 of `body`, as carried in Twilio's `bodySHA256` query parameter.
#[must_use]
pub fn sha256_hex(body: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    Sha256::digest(body)
        .iter()
        .flat_map(|b| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 0x0f)]])
        .map(char::from)
        .collect()
}

/// The first value of query parameter `name` in `url`, decoded.
fn query_param(url: &str, name: &str) -> Option<String> {
    let without_fragment = url.split_once('#').map_or(url, |(before, _)| before);
    let (_, query) = without_fragment.split_once('?')?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `url` as given, plus — for `http`/`https` URLs — the variant with the default port added
/// (when no port is present) or removed (when the default port is present).
fn toggled_default_port(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let default_port = if scheme.eq_ignore_ascii_case("https") {
        "443"
    } else if scheme.eq_ignore_ascii_case("http") {
        "80"
    } else {
        return None;
    };
    let authority_start = scheme.len() + 3;
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let host_start = authority.rfind('@').map_or(0, |at| at + 1);
    let host_port = &authority[host_start..];
    // IPv6 literals (`[::1]:443`) contain colons; the port can only follow the `]`.
    let after_host = if host_port.starts_with('[') {
        host_port.find(']')? + 1
    } else {
        host_port.find(':').unwrap_or(host_port.len())
    };
    let port_part = &host_port[after_host..];
    let authority_end = authority_start + authority_len;
    if port_part.is_empty() {
        if host_port.is_empty() {
            return None;
        }
        Some(format!(
            "{}:{default_port}{}",
            &url[..authority_end],
            &url[authority_end..]
        ))
    } else if port_part.strip_prefix(':') == Some(default_port) {
        let port_start = authority_end - port_part.len();
        Some(format!("{}{}", &url[..port_start], &url[authority_end..]))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toggles_default_ports_only() {
        let t = |u: &str| toggled_default_port(u);
        assert_eq!(t("https://a.com/x").as_deref(), Some("https://a.com:443/x"));
        assert_eq!(t("https://a.com:443/x").as_deref(), Some("https://a.com/x"));
        assert_eq!(
            t("http://a.com?q=1").as_deref(),
            Some("http://a.com:80?q=1")
        );
        assert_eq!(t("http://a.com:80").as_deref(), Some("http://a.com"));
        assert_eq!(t("HTTPS://a.com").as_deref(), Some("HTTPS://a.com:443"));
        assert_eq!(
            t("https://u:p@a.com/x").as_deref(),
            Some("https://u:p@a.com:443/x")
        );
        assert_eq!(
            t("https://u:p@a.com:443/x").as_deref(),
            Some("https://u:p@a.com/x")
        );
        assert_eq!(t("https://[::1]/x").as_deref(), Some("https://[::1]:443/x"));
        assert_eq!(t("https://[::1]:443/x").as_deref(), Some("https://[::1]/x"));
        assert_eq!(t("http://a.com:1234/x"), None);
        assert_eq!(t("https://a.com:80/x"), None);
        assert_eq!(t("ftp://a.com/x"), None);
        assert_eq!(t("not a url"), None);
        assert_eq!(t("https:///x"), None);
    }

    #[test]
    fn reads_query_param() {
        assert_eq!(
            query_param("https://a.com/x?a=1&bodySHA256=ab%63#frag", "bodySHA256").as_deref(),
            Some("abc")
        );
        assert_eq!(query_param("https://a.com/x", "bodySHA256"), None);
    }

    #[test]
    fn debug_hides_token() {
        let dbg = format!("{:?}", RequestValidator::new("super-secret"));
        assert!(!dbg.contains("super-secret"));
    }
}
