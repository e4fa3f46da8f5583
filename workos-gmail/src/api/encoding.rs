//! The encodings of the API: Gmail's base64url and ids as URL path segments.

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use workos_core::Result;

use super::errors::provider_error;

/// Base64url that accepts Google's padded or unpadded output.
const LENIENT_URL_SAFE: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes Gmail's base64url (padded or not).
///
/// # Errors
/// [`Error::Provider`](workos_core::Error::Provider) when `raw` is not base64url.
pub fn decode_base64url(raw: &str) -> Result<Vec<u8>> {
    LENIENT_URL_SAFE
        .decode(raw.trim())
        .map_err(|e| provider_error(None, Some("bad_raw"), format!("raw is not base64url: {e}")))
}

/// Encodes a message for `messages.send` (base64url without padding).
#[must_use]
pub fn encode_base64url(raw: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(raw)
}

/// A message or thread id as one URL path segment.
pub(super) fn path_segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_round_trips_padded_or_not() {
        let raw = b"Subject: hi\r\n\r\n\xff\xfe?>";
        let encoded = encode_base64url(raw);
        assert!(!encoded.contains('='));
        assert_eq!(decode_base64url(&encoded).unwrap(), raw);
        let padded = base64::engine::general_purpose::URL_SAFE.encode(raw);
        assert_eq!(decode_base64url(&padded).unwrap(), raw);
        assert!(decode_base64url("*not*").is_err());
    }

    #[test]
    fn ids_are_one_path_segment() {
        assert_eq!(path_segment("18c1f0e2a3b4c5d6"), "18c1f0e2a3b4c5d6");
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
    }
}
