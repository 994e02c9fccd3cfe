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
