//! Cryptography of the engine: two tools, both built on audited RustCrypto primitives.
//!
//! - [`Cipher`] encrypts secrets at rest (OAuth refresh tokens, Twilio auth tokens, webhook
//!   signing secrets, …) with AES-256-GCM. Every ciphertext carries the id of the key that
//!   sealed it, so keys can be rotated: a new primary key encrypts, old keys stay registered
//!   for decryption only, and [`Cipher::needs_rotation`] finds rows to re-encrypt. Callers pass
//!   *associated data* (a [`SealLabel`]: the org, the record, the purpose) that binds a
//!   ciphertext to its owner, so a ciphertext copied into another row or tenant fails to decrypt.
//! - [`ApiKeyHasher`] mints and checks API keys. Only a keyed hash (HMAC-SHA256 with a
//!   server-side *pepper*) of a key is stored, plus a public lookup prefix; the plaintext key is
//!   shown to the user once. [`parse_prefix`] rejects malformed keys before any database lookup,
//!   and [`ApiKeyHasher::verify`] compares hashes in constant time.
//!
//! [`hmac_sha256`] and [`constant_time_eq`] are shared helpers for signature checks (webhooks,
//! Twilio request validation).
//!
//! No error or `Debug` output of this module contains key material or plaintext.

use std::fmt;

use aes_gcm::{
    Aes256Gcm, Key,
    aead::{Aead, Generate as _, KeyInit, Payload},
};
use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use hmac::{Hmac, Mac};
use rand::{Rng as _, RngExt as _};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

type HmacSha256 = Hmac<Sha256>;
/// An AES-GCM nonce (96 bits).
type Nonce = aes_gcm::aead::Nonce<Aes256Gcm>;

/// Errors of the crypto module. Messages never include key material or plaintext.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// A configured key is not standard base64 of exactly 32 bytes.
    #[error("encryption key must be base64 of 32 bytes")]
    InvalidKey,
    /// A configured API key pepper is not standard base64 of at least [`MIN_PEPPER_BYTES`].
    #[error("API key pepper must be base64 of at least 16 bytes")]
    InvalidPepper,
    /// The ciphertext was sealed with a key id that is not registered with the [`Cipher`].
    #[error("ciphertext was encrypted with unknown key id {0}")]
    UnknownKey(u8),
    /// Authentication failed: wrong key, wrong associated data, or tampered ciphertext.
    #[error("decryption failed")]
    Decrypt,
    /// The ciphertext is truncated, has an unknown format version, or decrypts to invalid UTF-8.
    #[error("malformed ciphertext")]
    Malformed,
}

// ---------------------------------------------------------------------------------------------
// Secret keys
// ---------------------------------------------------------------------------------------------

/// A 256-bit symmetric key. Its `Debug` output is `SecretKey(..)`; the bytes are never printed.
pub struct SecretKey([u8; 32]);

impl SecretKey {
    /// Length of a key in bytes.
    pub const LEN: usize = 32;

    /// Parses a key from standard (padded) base64 of exactly 32 bytes. Surrounding whitespace,
    /// such as a trailing newline from a secrets file, is ignored.
    ///
    /// # Errors
    ///
    /// [`CryptoError::InvalidKey`] when the input is not valid base64 or does not decode to
    /// exactly 32 bytes.
    pub fn from_base64(encoded: &str) -> Result<Self, CryptoError> {
        let bytes = STANDARD
            .decode(encoded.trim())
            .map_err(|_| CryptoError::InvalidKey)?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::InvalidKey)?;
        Ok(Self(bytes))
    }

    /// Generates a fresh random key from the operating system's CSPRNG.
    #[must_use]
    pub fn generate() -> Self {
        Self(random_bytes())
    }

    /// Encodes the key as standard (padded) base64, the format [`SecretKey::from_base64`] reads.
    #[must_use]
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        // Best effort: without `zeroize` the compiler may elide this, but it costs nothing.
        self.0 = [0; 32];
    }
}

// ---------------------------------------------------------------------------------------------
// AEAD cipher
// ---------------------------------------------------------------------------------------------

const FORMAT_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 2 + NONCE_LEN;

/// AES-256-GCM encryption of secrets at rest, with key rotation.
///
/// Ciphertext format: `version (1) ‖ key id (1 byte) ‖ nonce (12 bytes) ‖ ciphertext ‖ tag (16)`.
/// The nonce is random per encryption. The associated data (`aad`) is authenticated but not
/// stored: decryption must pass the same `aad` used to encrypt, so callers bind a ciphertext to
/// its row (e.g. `org_id ‖ table ‖ column`) and a ciphertext moved elsewhere fails.
///
/// `Debug` prints only the key ids, never keys.
pub struct Cipher {
    primary_id: u8,
    /// All registered keys; the primary is the first entry.
    keys: Vec<(u8, Aes256Gcm)>,
    /// Previous keys that sealed under an id now registered to another key (a deployment that
    /// rotates its one key keeps its id): tried when the key named in a header does not open it.
    previous: Vec<Aes256Gcm>,
}

impl Cipher {
    /// Creates a cipher whose primary key (used to encrypt, and to decrypt ciphertexts tagged
    /// `key_id`) is `key`.
    #[must_use]
    pub fn new(key_id: u8, key: SecretKey) -> Self {
        Self {
            primary_id: key_id,
            keys: vec![(key_id, aead_for(&key))],
            previous: Vec::new(),
        }
    }

    /// Registers a previous key that sealed under the *same* key id as a current one (the
    /// server seals with key id 1 whatever the key): ciphertexts the key named in their header
    /// does not open are tried with it. This is `WORKOS_ENCRYPTION_KEY_PREVIOUS`: during a
    /// rotation the old key still opens everything it sealed, until [`Cipher::reseal`] has
    /// re-sealed it all with the primary.
    #[must_use]
    pub fn with_previous_key(mut self, key: SecretKey) -> Self {
        self.previous.push(aead_for(&key));
        self
    }

    /// Registers a decrypt-only key, e.g. the previous primary during a rotation.
    ///
    /// A `key_id` that is already registered (including the primary's) keeps its first key;
    /// the new one is ignored.
    #[must_use]
    pub fn with_old_key(mut self, key_id: u8, key: SecretKey) -> Self {
        if self.key(key_id).is_none() {
            self.keys.push((key_id, aead_for(&key)));
        }
        self
    }

    /// The id of the primary key, the one [`Cipher::encrypt`] uses.
    #[must_use]
    pub fn primary_key_id(&self) -> u8 {
        self.primary_id
    }

    /// Encrypts `plaintext` with the primary key under a fresh random nonce, authenticating
    /// `aad` (which is not stored in the output).
    ///
    /// # Panics
    ///
    /// Only if `plaintext` exceeds AES-GCM's limit of about 64 GiB.
    #[must_use]
    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let aead = &self.keys[0].1;
        let nonce = Nonce::generate();
        let sealed = aead
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("AES-GCM encryption fails only for plaintexts over 64 GiB");
        let mut out = Vec::with_capacity(HEADER_LEN + sealed.len());
        out.push(FORMAT_VERSION);
        out.push(self.primary_id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Decrypts data produced by [`Cipher::encrypt`] with the key named in its header.
    ///
    /// # Errors
    ///
    /// - [`CryptoError::Malformed`] when `data` is too short or has an unknown version byte;
    /// - [`CryptoError::UnknownKey`] when its key id is not registered;
    /// - [`CryptoError::Decrypt`] when `aad` differs from the one used to encrypt, the key is
    ///   wrong, or any byte was tampered with.
    pub fn decrypt(&self, data: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let (key_id, nonce, sealed) = split(data).ok_or(CryptoError::Malformed)?;
        let open = |aead: &Aes256Gcm| {
            aead.decrypt(nonce, Payload { msg: sealed, aad })
                .map_err(|_| CryptoError::Decrypt)
        };
        let named = match self.key(key_id) {
            Some(aead) => open(aead),
            None => Err(CryptoError::UnknownKey(key_id)),
        };
        if named.is_ok() || self.previous.is_empty() {
            return named;
        }
        // A wrong key fails GCM's tag check, so trying the previous keys never opens a value
        // with the wrong one.
        self.previous
            .iter()
            .find_map(|aead| open(aead).ok())
            .ok_or(CryptoError::Decrypt)
    }

    /// Re-seals `data` with the primary key, for key rotation: `None` when the primary key
    /// already sealed it under `labels[0]`; otherwise the value opened with any registered key
    /// under any of `labels` (the current label first, then older ones still accepted) and
    /// sealed anew with the primary key under `labels[0]`.
    ///
    /// # Errors
    /// As [`Cipher::decrypt`] when no key opens it under any label: the value is lost to this
    /// cipher (another deployment's key, or tampered with), and is left as it is.
    pub fn reseal(&self, data: &[u8], labels: &[&[u8]]) -> Result<Option<Vec<u8>>, CryptoError> {
        let Some(current) = labels.first() else {
            return Err(CryptoError::Decrypt);
        };
        let (key_id, nonce, sealed) = split(data).ok_or(CryptoError::Malformed)?;
        let by_primary = key_id == self.primary_id
            && self.keys[0]
                .1
                .decrypt(
                    nonce,
                    Payload {
                        msg: sealed,
                        aad: current,
                    },
                )
                .is_ok();
        if by_primary {
            return Ok(None);
        }
        let mut last = CryptoError::Decrypt;
        for label in labels {
            match self.decrypt(data, label) {
                Ok(plain) => return Ok(Some(self.encrypt(&plain, current))),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Encrypts a UTF-8 string; see [`Cipher::encrypt`].
    ///
    /// # Panics
    ///
    /// Only if `plaintext` exceeds AES-GCM's limit of about 64 GiB.
    #[must_use]
    pub fn encrypt_str(&self, plaintext: &str, aad: &[u8]) -> Vec<u8> {
        self.encrypt(plaintext.as_bytes(), aad)
    }

    /// Decrypts a string encrypted with [`Cipher::encrypt_str`].
    ///
    /// # Errors
    ///
    /// As [`Cipher::decrypt`], plus [`CryptoError::Malformed`] when the plaintext is not UTF-8.
    pub fn decrypt_str(&self, data: &[u8], aad: &[u8]) -> Result<String, CryptoError> {
        String::from_utf8(self.decrypt(data, aad)?).map_err(|_| CryptoError::Malformed)
    }

    /// Whether `data` was encrypted with a key other than the primary and should be
    /// re-encrypted. Data too short or of an unknown version to be a ciphertext returns `false`
    /// (it cannot be decrypted, so it cannot be rotated either).
    #[must_use]
    pub fn needs_rotation(&self, data: &[u8]) -> bool {
        split(data).is_some_and(|(key_id, _, _)| key_id != self.primary_id)
    }

    fn key(&self, key_id: u8) -> Option<&Aes256Gcm> {
        self.keys
            .iter()
            .find(|(id, _)| *id == key_id)
            .map(|(_, aead)| aead)
    }
}

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<u8> = self.keys.iter().map(|(id, _)| *id).collect();
        f.debug_struct("Cipher")
            .field("primary_key_id", &self.primary_id)
            .field("key_ids", &ids)
            .finish_non_exhaustive()
    }
}

/// The associated data that binds a sealed value to its owner: the one scheme every sealed
/// column uses, `org:<org id>`, then `<kind>:<id>` for each narrower owner, then the purpose
/// (`<crate or area>.<what>`), joined by NUL bytes. For example `org:…\0webhooks.secrets`, or
/// `org:…\0partner:…\0leads.signing_secret`. A value sealed for one org, owner or purpose
/// does not open for another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealLabel(Vec<u8>);

impl SealLabel {
    /// The label of an org's value for `purpose`.
    #[must_use]
    pub fn org(org: crate::ids::OrgId, purpose: &str) -> Self {
        Self(format!("org:{org}\0{purpose}").into_bytes())
    }

    /// The label of a value of the org's `kind` record `id` for `purpose`.
    #[must_use]
    pub fn org_record(
        org: crate::ids::OrgId,
        kind: &str,
        id: impl fmt::Display,
        purpose: &str,
    ) -> Self {
        Self(format!("org:{org}\0{kind}:{id}\0{purpose}").into_bytes())
    }

    /// The bytes to pass as `aad` to [`Cipher::encrypt`] and [`Cipher::decrypt`].
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

fn aead_for(key: &SecretKey) -> Aes256Gcm {
    Aes256Gcm::new(&Key::<Aes256Gcm>::from(key.0))
}

/// Splits a ciphertext into `(key id, nonce, ciphertext ‖ tag)`, or `None` when it is too short
/// or of an unknown version.
fn split(data: &[u8]) -> Option<(u8, &Nonce, &[u8])> {
    if data.len() < HEADER_LEN + TAG_LEN || data[0] != FORMAT_VERSION {
        return None;
    }
    let nonce = <&Nonce>::try_from(&data[2..HEADER_LEN]).ok()?;
    Some((data[1], nonce, &data[HEADER_LEN..]))
}

// ---------------------------------------------------------------------------------------------
// API keys
// ---------------------------------------------------------------------------------------------

const API_KEY_TAG: &str = "wos_";
const PREFIX_ID_LEN: usize = 12;
/// `wos_` + 12-char id: the stored lookup prefix.
const PREFIX_LEN: usize = API_KEY_TAG.len() + PREFIX_ID_LEN;
/// 32 random bytes in unpadded base64url.
const SECRET_PART_LEN: usize = 43;
const API_KEY_LEN: usize = PREFIX_LEN + 1 + SECRET_PART_LEN;
const PREFIX_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// A plaintext API key. Show it to the user once, then drop it; only its hash is stored.
///
/// `Debug` prints `ApiKeySecret(..)`; there is deliberately no `Display` or `Serialize`, so
/// the key is read only through [`ApiKeySecret::expose`].
pub struct ApiKeySecret(String);

impl ApiKeySecret {
    /// The plaintext key, e.g. `wos_ab12cd34ef56_…`.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKeySecret(..)")
    }
}

/// A freshly minted API key: the secret for the user, and what to store.
#[derive(Debug)]
pub struct GeneratedApiKey {
    /// The plaintext key, shown to the user once and never stored.
    pub secret: ApiKeySecret,
    /// The public lookup prefix, e.g. `wos_ab12cd34ef56`; store it (indexed) to find the row.
    pub prefix: String,
    /// HMAC-SHA256 of the full key under the pepper; store it to verify presented keys.
    pub hash: Vec<u8>,
}

/// Mints, hashes and verifies API keys with HMAC-SHA256 under a server-side pepper.
///
/// Key shape: `wos_` + 12 lowercase alphanumeric characters (the lookup id) + `_` + 32 random
/// bytes as unpadded base64url (43 characters). `Debug` hides the pepper.
#[derive(Clone)]
pub struct ApiKeyHasher {
    mac: HmacSha256,
}

/// The shortest pepper [`ApiKeyHasher::pepper_from_base64`] takes.
pub const MIN_PEPPER_BYTES: usize = 16;

impl ApiKeyHasher {
    /// Creates a hasher keyed with `pepper`, a server secret kept outside the database.
    #[must_use]
    pub fn new(pepper: &[u8]) -> Self {
        Self {
            mac: new_hmac(pepper),
        }
    }

    /// A pepper as configured (`WORKOS_API_KEY_PEPPER`): standard base64 of at least
    /// [`MIN_PEPPER_BYTES`] bytes, surrounding whitespace ignored.
    ///
    /// # Errors
    /// [`CryptoError::InvalidPepper`] when it is not base64 or is shorter.
    pub fn pepper_from_base64(encoded: &str) -> Result<Vec<u8>, CryptoError> {
        STANDARD
            .decode(encoded.trim())
            .ok()
            .filter(|bytes| bytes.len() >= MIN_PEPPER_BYTES)
            .ok_or(CryptoError::InvalidPepper)
    }

    /// Mints a new random API key.
    #[must_use]
    pub fn generate(&self) -> GeneratedApiKey {
        let mut rng = os_rng();
        let mut prefix = String::with_capacity(PREFIX_LEN);
        prefix.push_str(API_KEY_TAG);
        for _ in 0..PREFIX_ID_LEN {
            let i = rng.random_range(0..PREFIX_ALPHABET.len());
            prefix.push(char::from(PREFIX_ALPHABET[i]));
        }
        let mut random = [0u8; 32];
        rng.fill_bytes(&mut random);
        let key = format!("{prefix}_{}", URL_SAFE_NO_PAD.encode(random));
        debug_assert_eq!(key.len(), API_KEY_LEN);
        let hash = self.hash(&key);
        GeneratedApiKey {
            secret: ApiKeySecret(key),
            prefix,
            hash,
        }
    }

    /// HMAC-SHA256 of `key` under the pepper.
    #[must_use]
    pub fn hash(&self, key: &str) -> Vec<u8> {
        let mut mac = self.mac.clone();
        mac.update(key.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// Whether `key` hashes to `stored_hash`, compared in constant time.
    #[must_use]
    pub fn verify(&self, key: &str, stored_hash: &[u8]) -> bool {
        let mut mac = self.mac.clone();
        mac.update(key.as_bytes());
        mac.verify_slice(stored_hash).is_ok()
    }
}

impl fmt::Debug for ApiKeyHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKeyHasher(..)")
    }
}

/// Returns the lookup prefix (e.g. `wos_ab12cd34ef56`) of a well-formed API key, or `None` when
/// `key` does not have the shape `wos_` + 12 lowercase alphanumerics + `_` + 43 base64url
/// characters. Use it to reject malformed keys before any database lookup.
#[must_use]
pub fn parse_prefix(key: &str) -> Option<&str> {
    let bytes = key.as_bytes();
    if bytes.len() != API_KEY_LEN || !key.starts_with(API_KEY_TAG) || bytes[PREFIX_LEN] != b'_' {
        return None;
    }
    let id_ok = bytes[API_KEY_TAG.len()..PREFIX_LEN]
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let secret_ok = bytes[PREFIX_LEN + 1..]
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_');
    // All checked bytes are ASCII, so slicing at `PREFIX_LEN` is on a char boundary.
    (id_ok && secret_ok).then(|| &key[..PREFIX_LEN])
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn new_hmac(key: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// `N` random bytes from the operating system's CSPRNG (keys, secrets).
///
/// # Panics
/// When the operating system has no random source to give (as reading it always did here).
#[must_use]
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    os_rng().fill_bytes(&mut bytes);
    bytes
}

/// The operating system's random source, failing loudly rather than answering less.
fn os_rng() -> rand::rand_core::UnwrapErr<rand::rngs::SysRng> {
    rand::rand_core::UnwrapErr(rand::rngs::SysRng)
}

/// HMAC-SHA256 of `msg` under `key`.
#[must_use]
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut mac = new_hmac(key);
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// Compares two byte strings in constant time (for equal lengths; a length mismatch returns
/// `false` immediately, leaking only the length). Use it for signatures and tokens.
#[must_use]
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const AAD: &[u8] = b"org:018f\x00integrations.refresh_token";

    fn key(byte: u8) -> SecretKey {
        SecretKey::from_base64(&STANDARD.encode([byte; 32])).unwrap()
    }

    #[test]
    fn secret_key_base64_round_trip_and_validation() {
        let k = SecretKey::generate();
        let b64 = k.to_base64();
        assert_eq!(SecretKey::from_base64(&b64).unwrap().0, k.0);
        assert_eq!(SecretKey::from_base64(&format!("{b64}\n")).unwrap().0, k.0);
        assert_ne!(SecretKey::generate().0, k.0);

        for bad in [
            "",
            "not base64!",
            &STANDARD.encode([0u8; 31]),
            &STANDARD.encode([0u8; 33]),
            &URL_SAFE_NO_PAD.encode([0xffu8; 32]),
        ] {
            assert!(
                matches!(SecretKey::from_base64(bad), Err(CryptoError::InvalidKey)),
                "{bad:?} accepted"
            );
        }
        assert_eq!(
            CryptoError::InvalidKey.to_string(),
            "encryption key must be base64 of 32 bytes"
        );
    }

    #[test]
    fn round_trip_and_format() {
        let cipher = Cipher::new(7, key(1));
        let data = cipher.encrypt(b"refresh-token-123", AAD);
        assert_eq!(data[0], 1);
        assert_eq!(data[1], 7);
        assert_eq!(data.len(), 1 + 1 + 12 + b"refresh-token-123".len() + 16);
        assert_eq!(cipher.decrypt(&data, AAD).unwrap(), b"refresh-token-123");

        let empty = cipher.encrypt(b"", AAD);
        assert_eq!(cipher.decrypt(&empty, AAD).unwrap(), b"");

        let s = cipher.encrypt_str("héllo wörld", AAD);
        assert_eq!(cipher.decrypt_str(&s, AAD).unwrap(), "héllo wörld");
    }

    #[test]
    fn decrypt_str_rejects_non_utf8() {
        let cipher = Cipher::new(1, key(1));
        let data = cipher.encrypt(&[0xff, 0xfe], AAD);
        assert!(matches!(
            cipher.decrypt_str(&data, AAD),
            Err(CryptoError::Malformed)
        ));
    }

    #[test]
    fn tampering_any_byte_fails() {
        let cipher = Cipher::new(1, key(1));
        let data = cipher.encrypt(b"secret", AAD);
        for i in 0..data.len() {
            let mut tampered = data.clone();
            tampered[i] ^= 0x01;
            let err = cipher.decrypt(&tampered, AAD).unwrap_err();
            match i {
                0 => assert!(matches!(err, CryptoError::Malformed)),
                1 => assert!(matches!(err, CryptoError::UnknownKey(0))),
                _ => assert!(matches!(err, CryptoError::Decrypt), "byte {i}: {err:?}"),
            }
        }
        // Truncation, including dropping the tag, is rejected too.
        for len in 0..data.len() {
            assert!(cipher.decrypt(&data[..len], AAD).is_err(), "len {len}");
        }
        let mut extended = data.clone();
        extended.push(0);
        assert!(matches!(
            cipher.decrypt(&extended, AAD),
            Err(CryptoError::Decrypt)
        ));
    }

    #[test]
    fn seal_labels_follow_one_scheme() {
        let org = crate::ids::OrgId::new();
        assert_eq!(
            SealLabel::org(org, "webhooks.secrets").as_bytes(),
            format!("org:{org}\0webhooks.secrets").as_bytes()
        );
        assert_eq!(
            SealLabel::org_record(org, "partner", "p1", "leads.signing_secret").as_bytes(),
            format!("org:{org}\0partner:p1\0leads.signing_secret").as_bytes()
        );
        assert_ne!(
            SealLabel::org(org, "a.b"),
            SealLabel::org(crate::ids::OrgId::new(), "a.b")
        );
        assert_ne!(SealLabel::org(org, "a.b"), SealLabel::org(org, "a.c"));
    }

    #[test]
    fn wrong_aad_fails() {
        let cipher = Cipher::new(1, key(1));
        let data = cipher.encrypt(b"secret", b"org:a\x00col");
        assert!(matches!(
            cipher.decrypt(&data, b"org:b\x00col"),
            Err(CryptoError::Decrypt)
        ));
        assert!(matches!(
            cipher.decrypt(&data, b""),
            Err(CryptoError::Decrypt)
        ));
        assert_eq!(cipher.decrypt(&data, b"org:a\x00col").unwrap(), b"secret");
    }

    #[test]
    fn wrong_key_with_same_id_fails() {
        let data = Cipher::new(1, key(1)).encrypt(b"secret", AAD);
        assert!(matches!(
            Cipher::new(1, key(2)).decrypt(&data, AAD),
            Err(CryptoError::Decrypt)
        ));
    }

    #[test]
    fn rotation() {
        let old = Cipher::new(1, key(1));
        let old_data = old.encrypt(b"secret", AAD);
        assert!(!old.needs_rotation(&old_data));

        let rotated = Cipher::new(2, key(2)).with_old_key(1, key(1));
        assert_eq!(rotated.primary_key_id(), 2);
        assert!(rotated.needs_rotation(&old_data));
        assert_eq!(rotated.decrypt(&old_data, AAD).unwrap(), b"secret");

        let new_data = rotated.encrypt(b"secret", AAD);
        assert_eq!(new_data[1], 2);
        assert!(!rotated.needs_rotation(&new_data));
        assert_eq!(rotated.decrypt(&new_data, AAD).unwrap(), b"secret");

        // The old deployment cannot read data sealed with the new key.
        assert!(matches!(
            old.decrypt(&new_data, AAD),
            Err(CryptoError::UnknownKey(2))
        ));
        // Garbage is not flagged for rotation.
        assert!(!rotated.needs_rotation(&[]));
        assert!(!rotated.needs_rotation(&[1, 1, 0]));
    }

    #[test]
    fn previous_key_under_the_same_id_opens_until_resealed() {
        let old = Cipher::new(1, key(1));
        let sealed = old.encrypt(b"token", AAD);
        let current_only = Cipher::new(1, key(2));
        assert!(matches!(
            current_only.decrypt(&sealed, AAD),
            Err(CryptoError::Decrypt)
        ));
        let rotating = Cipher::new(1, key(2)).with_previous_key(key(1));
        assert_eq!(rotating.decrypt(&sealed, AAD).unwrap(), b"token");
        // Still bound to its label: the previous key does not open it elsewhere.
        assert!(rotating.decrypt(&sealed, b"org:b\x00col").is_err());

        let resealed = rotating
            .reseal(&sealed, &[AAD])
            .unwrap()
            .expect("re-sealed");
        assert_eq!(current_only.decrypt(&resealed, AAD).unwrap(), b"token");
        assert_eq!(
            rotating.reseal(&resealed, &[AAD]).unwrap(),
            None,
            "already sealed with the primary: nothing to do"
        );
        // An older label is opened and the value moves to the current one.
        let legacy = old.encrypt(b"token", b"legacy");
        let moved = rotating
            .reseal(&legacy, &[AAD, b"legacy"])
            .unwrap()
            .expect("re-sealed");
        assert_eq!(current_only.decrypt(&moved, AAD).unwrap(), b"token");
        // A value no key opens is an error, never a silent skip.
        let foreign = Cipher::new(1, key(7)).encrypt(b"x", AAD);
        assert!(rotating.reseal(&foreign, &[AAD]).is_err());
    }

    #[test]
    fn with_old_key_never_replaces_primary() {
        let cipher = Cipher::new(1, key(1)).with_old_key(1, key(9));
        let data = cipher.encrypt(b"x", AAD);
        assert_eq!(Cipher::new(1, key(1)).decrypt(&data, AAD).unwrap(), b"x");
    }

    #[test]
    fn nonces_differ() {
        let cipher = Cipher::new(1, key(1));
        let a = cipher.encrypt(b"same", AAD);
        let b = cipher.encrypt(b"same", AAD);
        assert_ne!(a[2..HEADER_LEN], b[2..HEADER_LEN]);
        assert_ne!(a, b);
    }

    /// The stored format is standard AES-256-GCM behind a 2-byte header, whatever the crate's
    /// version: the GCM specification's test case 16 (256-bit key, 96-bit IV, with AAD), put
    /// in that format, opens to its plaintext (values sealed by aes-gcm 0.10 open with 0.11).
    #[test]
    fn opens_the_gcm_specifications_test_vector() {
        fn hex(s: &str) -> Vec<u8> {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        }
        let key = hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
        let iv = hex("cafebabefacedbaddecaf888");
        let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let plaintext = hex(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
             1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        );
        let sealed = hex(
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
             8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662\
             76fc6ece0f4e1768cddf8853bb2d551b",
        );
        let cipher = Cipher::new(4, SecretKey(key.try_into().unwrap()));
        let mut data = vec![FORMAT_VERSION, 4];
        data.extend_from_slice(&iv);
        data.extend_from_slice(&sealed);
        assert_eq!(cipher.decrypt(&data, &aad).unwrap(), plaintext);
        assert!(matches!(
            cipher.decrypt(&data, b"other aad"),
            Err(CryptoError::Decrypt)
        ));
    }

    #[test]
    fn unknown_key_id() {
        let data = Cipher::new(9, key(1)).encrypt(b"secret", AAD);
        let cipher = Cipher::new(1, key(1)).with_old_key(2, key(2));
        assert!(matches!(
            cipher.decrypt(&data, AAD),
            Err(CryptoError::UnknownKey(9))
        ));
    }

    #[test]
    fn a_pepper_is_base64_of_at_least_16_bytes() {
        let pepper = ApiKeyHasher::pepper_from_base64(&format!(" {} ", STANDARD.encode([7u8; 16])));
        assert_eq!(pepper.unwrap(), [7u8; 16]);
        for bad in ["not base64!", &STANDARD.encode([7u8; 15])] {
            assert!(matches!(
                ApiKeyHasher::pepper_from_base64(bad),
                Err(CryptoError::InvalidPepper)
            ));
        }
    }

    #[test]
    fn api_key_generate_and_verify() {
        let hasher = ApiKeyHasher::new(b"pepper-1");
        let generated = hasher.generate();
        let key = generated.secret.expose();

        assert_eq!(key.len(), 60);
        assert!(key.starts_with(&format!("{}_", generated.prefix)));
        assert_eq!(generated.prefix.len(), 16);
        assert!(generated.prefix.starts_with("wos_"));
        assert!(
            generated.prefix[4..]
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        );
        assert_eq!(URL_SAFE_NO_PAD.decode(&key[17..]).unwrap().len(), 32);

        assert_eq!(generated.hash.len(), 32);
        assert_eq!(generated.hash, hasher.hash(key));
        assert_eq!(generated.hash, hmac_sha256(b"pepper-1", key.as_bytes()));
        assert!(hasher.verify(key, &generated.hash));

        // Tampered key.
        let mut tampered = key.to_owned();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(!hasher.verify(&tampered, &generated.hash));
        // Tampered or truncated hash.
        let mut bad_hash = generated.hash.clone();
        bad_hash[0] ^= 1;
        assert!(!hasher.verify(key, &bad_hash));
        assert!(!hasher.verify(key, &generated.hash[..31]));
        // Another pepper.
        assert!(!ApiKeyHasher::new(b"pepper-2").verify(key, &generated.hash));

        let other = hasher.generate();
        assert_ne!(other.secret.expose(), key);
        assert_ne!(other.prefix, generated.prefix);
    }

    #[test]
    fn parse_prefix_accepts_generated_keys() {
        let hasher = ApiKeyHasher::new(b"pepper");
        for _ in 0..64 {
            let generated = hasher.generate();
            assert_eq!(
                parse_prefix(generated.secret.expose()),
                Some(generated.prefix.as_str())
            );
        }
        let fixed = format!("wos_ab12cd34ef56_{}", URL_SAFE_NO_PAD.encode([0xfb; 32]));
        assert_eq!(parse_prefix(&fixed), Some("wos_ab12cd34ef56"));
    }

    #[test]
    fn parse_prefix_rejects_malformed_keys() {
        let secret = URL_SAFE_NO_PAD.encode([7u8; 32]);
        let good = format!("wos_ab12cd34ef56_{secret}");
        assert!(parse_prefix(&good).is_some());

        let cases = [
            String::new(),
            "wos_".to_owned(),
            format!("sk__ab12cd34ef56_{secret}"), // wrong tag
            format!("WOS_ab12cd34ef56_{secret}"), // wrong tag case
            format!("wos_ab12cd34ef5_{secret}A"), // short id
            format!("wos_ab12cd34ef567_{}", &secret[1..]), // long id
            format!("wos_AB12cd34ef56_{secret}"), // uppercase id
            format!("wos_ab12-d34ef56_{secret}"), // bad id char
            format!("wos_ab12cd34ef56-{secret}"), // wrong separator
            format!("wos_ab12cd34ef56_{}", &secret[1..]), // short secret
            format!("wos_ab12cd34ef56_{secret}A"), // long secret
            format!("wos_ab12cd34ef56_{}+", &secret[1..]), // standard-base64 char
            format!("wos_ab12cd34ef56_{}=", &secret[1..]), // padding
            format!("wos_ab12cd34ef56_{} ", &secret[1..]), // whitespace
            format!("wos_ab12cd34ef56_{}é", &secret[2..]), // non-ASCII, same byte length
            format!(" wos_ab12cd34ef56_{}", &secret[1..]), // leading space
        ];
        for case in &cases {
            assert_eq!(parse_prefix(case), None, "{case:?} accepted");
        }
    }

    #[test]
    fn debug_never_prints_key_material() {
        let key_b64 = STANDARD.encode([0x5a; 32]);
        let raw = format!("{:?}", [0x5au8; 32]);
        let secret = SecretKey::from_base64(&key_b64).unwrap();
        let dbg = format!("{secret:?}");
        assert_eq!(dbg, "SecretKey(..)");

        let cipher =
            Cipher::new(3, secret).with_old_key(1, SecretKey::from_base64(&key_b64).unwrap());
        for dbg in [format!("{cipher:?}"), format!("{cipher:#?}")] {
            assert!(!dbg.contains(&key_b64), "{dbg}");
            assert!(!dbg.contains(&raw[..20]), "{dbg}");
            assert!(!dbg.contains("90"), "{dbg}"); // 0x5a
            assert!(dbg.contains("Cipher"));
        }

        let hasher = ApiKeyHasher::new(b"super-secret-pepper");
        let hasher_dbg = format!("{hasher:?}");
        assert!(!hasher_dbg.contains("super-secret-pepper"));
        assert_eq!(hasher_dbg, "ApiKeyHasher(..)");

        let generated = hasher.generate();
        let api_key = generated.secret.expose().to_owned();
        assert_eq!(format!("{:?}", generated.secret), "ApiKeySecret(..)");
        let gen_dbg = format!("{generated:?}");
        assert!(!gen_dbg.contains(&api_key), "{gen_dbg}");
        assert!(!gen_dbg.contains(&api_key[17..]), "{gen_dbg}");
    }

    #[test]
    fn error_messages_leak_nothing() {
        let cipher = Cipher::new(1, key(1));
        let data = cipher.encrypt(b"plaintext-marker", AAD);
        let err = cipher.decrypt(&data, b"other").unwrap_err();
        assert_eq!(err.to_string(), "decryption failed");
        assert_eq!(
            CryptoError::UnknownKey(4).to_string(),
            "ciphertext was encrypted with unknown key id 4"
        );
    }

    #[test]
    fn hmac_sha256_rfc4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn constant_time_eq_behaves() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"ab", b"abc"));
    }
}
