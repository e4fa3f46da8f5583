//! [Standard Webhooks](https://www.standardwebhooks.com) signing and verification.
//!
//! A message is signed with HMAC-SHA256 over `"{msg_id}.{timestamp}.{payload}"` under the
//! subscriber's secret and sent with three headers:
//!
//! | header              | value                                              |
//! |---------------------|----------------------------------------------------|
//! | `webhook-id`        | the message id, stable across retries              |
//! | `webhook-timestamp` | Unix seconds of this attempt                        |
//! | `webhook-signature` | space-separated `v1,<base64 signature>` entries     |
//!
//! Senders use [`sign`], [`signature_header`] or [`WebhookHeaders::new`]; receivers use
//! [`verify`] (or [`verify_now`]), which accepts a message when any `v1` entry matches and its
//! timestamp lies within [`TOLERANCE_SECS`] of the clock.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use workos_core::crypto::{constant_time_eq, hmac_sha256, random_bytes};

/// The prefix of an encoded [`WebhookSecret`].
pub const SECRET_PREFIX: &str = "whsec_";
/// Fewest key bytes a [`WebhookSecret`] may hold.
pub const MIN_SECRET_BYTES: usize = 24;
/// Most key bytes a [`WebhookSecret`] may hold.
pub const MAX_SECRET_BYTES: usize = 64;
/// Key bytes of a secret made by [`WebhookSecret::generate`].
pub const GENERATED_SECRET_BYTES: usize = 32;
/// How far, in seconds, a message timestamp may lie from the receiver's clock either way.
pub const TOLERANCE_SECS: i64 = 300;

/// Name of the header carrying the message id.
pub const HEADER_ID: &str = "webhook-id";
/// Name of the header carrying the attempt's Unix timestamp in seconds.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// Name of the header carrying the space-separated signatures.
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// The only signature scheme this module produces and accepts.
const SIGNATURE_VERSION: &str = "v1";

/// Standard alphabet, padding optional, trailing bits must be zero (one encoding per key).
const LENIENT_STANDARD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A webhook signing secret: `whsec_` followed by the standard base64 of 24 to 64 key bytes.
///
/// `Debug` prints `WebhookSecret(..)`; there is no `Display` or `Serialize`, so the secret is
/// read only through [`WebhookSecret::expose`].
#[derive(Clone)]
pub struct WebhookSecret {
    key: Vec<u8>,
    encoded: String,
}

impl WebhookSecret {
    /// Mints a new secret of [`GENERATED_SECRET_BYTES`] random bytes from the OS RNG.
    #[must_use]
    pub fn generate() -> Self {
        Self::from_key(random_bytes::<GENERATED_SECRET_BYTES>().to_vec())
    }

    /// Parses a secret, with or without the `whsec_` prefix, in standard base64 with or without
    /// `=` padding.
    ///
    /// The secret is stored in canonical form, so [`WebhookSecret::expose`] always returns
    /// `whsec_` + padded base64 even when the input omitted the prefix or the padding.
    ///
    /// # Errors
    ///
    /// [`SigningError::InvalidBase64`] when the text is not standard base64 (including
    /// non-zero trailing bits), and [`SigningError::InvalidLength`] when it decodes to fewer than
    /// [`MIN_SECRET_BYTES`] or more than [`MAX_SECRET_BYTES`] bytes.
    pub fn parse(secret: &str) -> Result<Self, SigningError> {
        let body = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
        let key = LENIENT_STANDARD
            .decode(body)
            .map_err(|_| SigningError::InvalidBase64)?;
        if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&key.len()) {
            return Err(SigningError::InvalidLength { len: key.len() });
        }
        Ok(Self::from_key(key))
    }

    /// The secret as `whsec_<padded base64>`, for storing and for showing to the subscriber.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.encoded
    }

    fn from_key(key: Vec<u8>) -> Self {
        let encoded = format!("{SECRET_PREFIX}{}", STANDARD.encode(&key));
        Self { key, encoded }
    }

    fn mac(&self, msg_id: &str, timestamp: i64, payload: &[u8]) -> [u8; 32] {
        let timestamp = timestamp.to_string();
        let mut msg = Vec::with_capacity(msg_id.len() + timestamp.len() + payload.len() + 2);
        msg.extend_from_slice(msg_id.as_bytes());
        msg.push(b'.');
        msg.extend_from_slice(timestamp.as_bytes());
        msg.push(b'.');
        msg.extend_from_slice(payload);
        hmac_sha256(&self.key, &msg)
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

/// Why a [`WebhookSecret`] could not be parsed. Messages never include the secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SigningError {
    /// The secret is not standard base64.
    #[error("webhook secret is not valid base64")]
    InvalidBase64,
    /// The secret decodes to a key of the wrong length.
    #[error(
        "webhook secret decodes to {len} bytes; expected {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES}"
    )]
    InvalidLength {
        /// The decoded key length in bytes.
        len: usize,
    },
}

/// Signs one message: returns `v1,<base64 HMAC-SHA256(key, "{msg_id}.{timestamp}.{payload}")>`.
#[must_use]
pub fn sign(secret: &WebhookSecret, msg_id: &str, timestamp: i64, payload: &[u8]) -> String {
    let mac = secret.mac(msg_id, timestamp, payload);
    format!("{SIGNATURE_VERSION},{}", STANDARD.encode(mac))
}

/// The `webhook-signature` header value: one space-separated [`sign`] entry per secret.
///
/// During a rotation pass every still-valid secret, so receivers holding either the old or the
/// new secret accept the message. An empty `secrets` slice yields an empty string.
#[must_use]
pub fn signature_header(
    secrets: &[&WebhookSecret],
    msg_id: &str,
    timestamp: i64,
    payload: &[u8],
) -> String {
    secrets
        .iter()
        .map(|secret| sign(secret, msg_id, timestamp, payload))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The three Standard Webhooks headers of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookHeaders {
    /// The message id (`webhook-id`), stable across retries so receivers can deduplicate.
    pub id: String,
    /// The attempt's Unix timestamp in seconds (`webhook-timestamp`).
    pub timestamp: i64,
    /// The space-separated signatures (`webhook-signature`).
    pub signature: String,
}

impl WebhookHeaders {
    /// Signs `payload` under every secret in `secrets` (see [`signature_header`]).
    #[must_use]
    pub fn new(secrets: &[&WebhookSecret], msg_id: &str, timestamp: i64, payload: &[u8]) -> Self {
        Self {
            id: msg_id.to_owned(),
            timestamp,
            signature: signature_header(secrets, msg_id, timestamp, payload),
        }
    }

    /// The headers as `(name, value)` pairs: `webhook-id`, `webhook-timestamp`,
    /// `webhook-signature`, in that order.
    #[must_use]
    pub fn pairs(&self) -> [(&'static str, String); 3] {
        [
            (HEADER_ID, self.id.clone()),
            (HEADER_TIMESTAMP, self.timestamp.to_string()),
            (HEADER_SIGNATURE, self.signature.clone()),
        ]
    }
}

/// Why a received webhook was rejected. Messages never include secrets or signatures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A required header is missing or empty.
    #[error("missing or empty {name} header")]
    MissingHeader {
        /// The header name, e.g. `webhook-id`.
        name: &'static str,
    },
    /// The `webhook-timestamp` header is not an integer number of seconds.
    #[error("webhook-timestamp is not an integer number of seconds")]
    InvalidTimestamp,
    /// The timestamp is more than [`TOLERANCE_SECS`] in the past.
    #[error("webhook-timestamp is too old")]
    TimestampTooOld,
    /// The timestamp is more than [`TOLERANCE_SECS`] in the future.
    #[error("webhook-timestamp is too far in the future")]
    TimestampTooNew,
    /// The `webhook-signature` header holds no `version,signature` entry.
    #[error("webhook-signature header is malformed")]
    MalformedSignatureHeader,
    /// No `v1` entry of the `webhook-signature` header matches the message.
    #[error("no matching webhook signature")]
    NoMatchingSignature,
}

/// Verifies a received webhook against `secret` at Unix time `now_unix_secs`.
///
/// `msg_id`, `timestamp` and `signature_header` are the raw values of the `webhook-id`,
/// `webhook-timestamp` and `webhook-signature` headers; `payload` is the raw request body, byte
/// for byte as received. The message is accepted when its timestamp lies within
/// [`TOLERANCE_SECS`] of `now_unix_secs` and any `v1,` entry of the signature header matches;
/// entries of other versions are ignored. Signatures are compared in constant time.
///
/// # Errors
///
/// [`VerifyError::MissingHeader`] when a header value is empty,
/// [`VerifyError::InvalidTimestamp`] when the timestamp is not an integer,
/// [`VerifyError::TimestampTooOld`] / [`VerifyError::TimestampTooNew`] when it is outside the
/// tolerance, [`VerifyError::MalformedSignatureHeader`] when the signature header holds no
/// `version,signature` entry, and [`VerifyError::NoMatchingSignature`] when no `v1` entry
/// matches.
pub fn verify(
    secret: &WebhookSecret,
    msg_id: &str,
    timestamp: &str,
    signature_header: &str,
    payload: &[u8],
    now_unix_secs: i64,
) -> Result<(), VerifyError> {
    if msg_id.is_empty() {
        return Err(VerifyError::MissingHeader { name: HEADER_ID });
    }
    let timestamp = timestamp.trim();
    if timestamp.is_empty() {
        return Err(VerifyError::MissingHeader {
            name: HEADER_TIMESTAMP,
        });
    }
    if signature_header.trim().is_empty() {
        return Err(VerifyError::MissingHeader {
            name: HEADER_SIGNATURE,
        });
    }
    let ts = parse_timestamp(timestamp)?;
    // i128 so extreme values on either side cannot overflow.
    let age = i128::from(now_unix_secs) - i128::from(ts);
    if age > i128::from(TOLERANCE_SECS) {
        return Err(VerifyError::TimestampTooOld);
    }
    if age < -i128::from(TOLERANCE_SECS) {
        return Err(VerifyError::TimestampTooNew);
    }

    let expected = secret.mac(msg_id, ts, payload);
    let mut well_formed = false;
    let mut matched = false;
    for entry in signature_header.split_ascii_whitespace() {
        let Some((version, signature)) = entry.split_once(',') else {
            continue;
        };
        well_formed = true;
        if version != SIGNATURE_VERSION {
            continue;
        }
        // Undecodable entries simply do not match. Keep scanning after a match so the work done
        // does not depend on which entry matched.
        if let Ok(candidate) = STANDARD.decode(signature) {
            matched |= constant_time_eq(&candidate, &expected);
        }
    }
    if !well_formed {
        return Err(VerifyError::MalformedSignatureHeader);
    }
    if matched {
        Ok(())
    } else {
        Err(VerifyError::NoMatchingSignature)
    }
}

/// [`verify`] against the system clock.
///
/// # Errors
///
/// As [`verify`].
pub fn verify_now(
    secret: &WebhookSecret,
    msg_id: &str,
    timestamp: &str,
    signature_header: &str,
    payload: &[u8],
) -> Result<(), VerifyError> {
    verify(
        secret,
        msg_id,
        timestamp,
        signature_header,
        payload,
        unix_now(),
    )
}

/// The system clock in Unix seconds (negative before 1970, saturating at the `i64` range).
#[must_use]
pub fn unix_now() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// Parses a decimal integer timestamp: an optional `-` then ASCII digits only (no `+`, no
/// inner whitespace, no fraction or exponent).
fn parse_timestamp(timestamp: &str) -> Result<i64, VerifyError> {
    let digits = timestamp.strip_prefix('-').unwrap_or(timestamp);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::InvalidTimestamp);
    }
    timestamp.parse().map_err(|_| VerifyError::InvalidTimestamp)
}
