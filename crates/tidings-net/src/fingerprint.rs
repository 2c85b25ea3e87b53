//! SHA-256 certificate fingerprints, written `sha256:<64 lowercase hex digits>`.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::NetError;

/// The SHA-256 digest of a DER-encoded end-entity certificate, used to pin peers.
///
/// Equality is constant-time, so comparing a presented certificate against a pinned one leaks
/// no timing about how many leading bytes matched.
#[derive(Clone, Copy)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of a DER-encoded certificate.
    pub fn of_der(der: &[u8]) -> Self {
        Self(Sha256::digest(der).into())
    }

    /// Wraps a raw 32-byte digest.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw digest.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Constant-time comparison.
    pub fn ct_eq(&self, other: &Self) -> bool {
        let mut diff = 0u8;
        for (a, b) in self.0.iter().zip(other.0.iter()) {
            diff |= a ^ b;
        }
        std::hint::black_box(diff) == 0
    }

    /// True if `self` equals any of `pinned` (each compared in constant time, all compared).
    pub fn matches_any(&self, pinned: &[Fingerprint]) -> bool {
        pinned.iter().fold(false, |found, p| found | self.ct_eq(p))
    }
}

impl PartialEq for Fingerprint {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other)
    }
}

impl Eq for Fingerprint {}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sha256:")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl FromStr for Fingerprint {
    type Err = NetError;

    /// Parses `sha256:<64 hex digits>`; the prefix is case-insensitive, the digits may be upper
    /// or lower case. Colons between digit pairs (`AB:CD:...`, as `openssl x509 -fingerprint`
    /// prints them) are accepted too.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || NetError::BadFingerprint(s.to_owned());
        let trimmed = s.trim();
        let (prefix, hex) = trimmed.split_at_checked(7).ok_or_else(bad)?;
        if !prefix.eq_ignore_ascii_case("sha256:") {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        let mut digits = hex.bytes().filter(|&c| c != b':');
        for byte in &mut out {
            let hi = digits.next().and_then(hex_val).ok_or_else(bad)?;
            let lo = digits.next().and_then(hex_val).ok_or_else(bad)?;
            *byte = hi << 4 | lo;
        }
        if digits.next().is_some() {
            return Err(bad());
        }
        Ok(Self(out))
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let fp = Fingerprint::of_der(b"hello");
        let s = fp.to_string();
        assert_eq!(s.len(), 7 + 64);
        assert!(s.starts_with("sha256:2cf24dba"));
        assert_eq!(s.parse::<Fingerprint>().unwrap(), fp);
        assert_eq!(s.to_uppercase().parse::<Fingerprint>().unwrap(), fp);
    }

    #[test]
    fn colons_accepted() {
        let fp = Fingerprint::of_der(b"x");
        let hex = &fp.to_string()[7..];
        let colon: Vec<String> = hex
            .as_bytes()
            .chunks(2)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        let s = format!("SHA256:{}", colon.join(":"));
        assert_eq!(s.parse::<Fingerprint>().unwrap(), fp);
    }

    #[test]
    fn rejects_bad() {
        for s in [
            "",
            "sha256:",
            "sha1:00",
            "sha256:00",
            &format!("sha256:{}", "0".repeat(63)),
            &format!("sha256:{}", "0".repeat(65)),
            &format!("sha256:{}g", "0".repeat(63)),
            "sha256é:00",
        ] {
            assert!(s.parse::<Fingerprint>().is_err(), "{s:?}");
        }
    }

    #[test]
    fn matching() {
        let a = Fingerprint::of_der(b"a");
        let b = Fingerprint::of_der(b"b");
        assert!(a.ct_eq(&a));
        assert!(!a.ct_eq(&b));
        assert!(a.matches_any(&[b, a]));
        assert!(!a.matches_any(&[b]));
        assert!(!a.matches_any(&[]));
    }
}
