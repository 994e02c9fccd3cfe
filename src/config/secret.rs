//! Passwords, tokens and keys: kept out of logs and `Debug` output, compared in constant time.

use std::fmt;

use super::InvalidValue;

/// A password, token or key: never printed (`Debug` redacts it), compared in constant time.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Secret {
        Secret(bytes.into())
    }

    /// The secret's bytes, for comparison and key derivation only.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Compares with `other` in time independent of where they differ.
    pub fn matches(&self, other: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        // Lengths may leak; contents do not.
        self.0.len() == other.len() && bool::from(self.0.ct_eq(other))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A secret kept in a file: its content without the trailing line break, never empty.
pub(super) fn read_secret_file(path: &str) -> Result<Option<Secret>, InvalidValue> {
    let bytes =
        std::fs::read(path).map_err(|e| InvalidValue(format!("cannot read '{path}': {e}")))?;
    let mut s = bytes.as_slice();
    while let [rest @ .., b'\n' | b'\r'] = s {
        s = rest;
    }
    if s.is_empty() {
        return Err(InvalidValue(format!("'{path}' is empty")));
    }
    Ok(Some(Secret::new(s)))
}

/// A named HTTP token with its scope; the configuration holds only its SHA-256.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpToken {
    pub name: String,
    pub scope: super::TokenScope,
    pub sha256: [u8; 32],
}

impl HttpToken {
    /// The SHA-256 of a token a request gave: computed once, then compared with each
    /// configured token by [`HttpToken::is`].
    pub fn digest(given: &[u8]) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(given).into()
    }

    /// Whether `digest` is this token's (compared in constant time).
    pub fn is(&self, digest: &[u8; 32]) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(digest.ct_eq(&self.sha256))
    }
}

impl fmt::Debug for HttpToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HttpToken({}, {})", self.name, self.scope)
    }
}

/// A token's SHA-256 as the configuration writes it: 64 hex digits.
pub fn parse_sha256(s: &str) -> Result<[u8; 32], InvalidValue> {
    crate::util::hex::unhex(s.trim().as_bytes())
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| InvalidValue("must be 64 hex digits (the token's SHA-256)".into()))
}

/// The hex SHA-256 of a token (`hypercache hash-token`).
pub fn sha256_hex(token: &[u8]) -> String {
    crate::util::hex::hex(&HttpToken::digest(token))
}
