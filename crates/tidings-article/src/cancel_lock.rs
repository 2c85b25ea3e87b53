//! Cancel-Lock and Cancel-Key (RFC 8315).
//!
//! A Cancel-Lock header lists `scheme:c-lock-string` elements; a Cancel-Key header lists
//! `scheme:c-key-string` elements. A key matches a lock of the same scheme when
//! `c-lock-string = base64(hash(c-key-string))`, the hash being taken over the
//! base64 text of the key as it appears in the header (RFC 8315 §2.2). The key itself is
//! usually derived as `base64(HMAC(secret, uid + message-id))` (RFC 8315 §4), which
//! [`make_key`] does.
//!
//! Supported schemes: `sha256` (mandatory), `sha512`, `sha224`, `sha384`, and `sha1` (for
//! verifying old articles). Unknown schemes are parsed but never match.

use crate::ascii::{ALNUM, B64_SYM, WS, has_class};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Digest;

/// A Cancel-Lock hash scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `sha1` (obsolete; verify only).
    Sha1,
    /// `sha224`.
    Sha224,
    /// `sha256` (mandatory to implement).
    Sha256,
    /// `sha384`.
    Sha384,
    /// `sha512`.
    Sha512,
}

impl Scheme {
    /// Looks a scheme up by its name (case-insensitive).
    pub fn from_name(name: &[u8]) -> Option<Self> {
        [
            Scheme::Sha1,
            Scheme::Sha224,
            Scheme::Sha256,
            Scheme::Sha384,
            Scheme::Sha512,
        ]
        .into_iter()
        .find(|s| s.name().as_bytes().eq_ignore_ascii_case(name))
    }

    /// The scheme's name as used in the headers.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Sha1 => "sha1",
            Scheme::Sha224 => "sha224",
            Scheme::Sha256 => "sha256",
            Scheme::Sha384 => "sha384",
            Scheme::Sha512 => "sha512",
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            Scheme::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Scheme::Sha224 => sha2::Sha224::digest(data).to_vec(),
            Scheme::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Scheme::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Scheme::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }

    fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
            // HMAC accepts keys of any length, so this never fails.
            let Ok(mut m) = <M as hmac::digest::KeyInit>::new_from_slice(key) else {
                return Vec::new();
            };
            for p in parts {
                m.update(p);
            }
            m.finalize().into_bytes().to_vec()
        }
        match self {
            Scheme::Sha1 => run::<Hmac<sha1::Sha1>>(key, parts),
            Scheme::Sha224 => run::<Hmac<sha2::Sha224>>(key, parts),
            Scheme::Sha256 => run::<Hmac<sha2::Sha256>>(key, parts),
            Scheme::Sha384 => run::<Hmac<sha2::Sha384>>(key, parts),
            Scheme::Sha512 => run::<Hmac<sha2::Sha512>>(key, parts),
        }
    }
}

/// Why a Cancel-Lock or Cancel-Key value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CancelLockError {
    /// The header has no element.
    #[error("no element")]
    Empty,
    /// An element is not `scheme:base64`.
    #[error("element is not scheme:base64")]
    BadElement,
    /// The base64 part does not decode.
    #[error("invalid base64 in element")]
    BadBase64,
}

/// One `scheme:string` element of a Cancel-Lock or Cancel-Key header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// The scheme name as written (lowercased).
    pub scheme_name: String,
    /// The scheme, if this crate knows it.
    pub scheme: Option<Scheme>,
    /// The base64 string (a c-lock-string or c-key-string).
    pub value: String,
}

impl std::fmt::Display for Element {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.scheme_name, self.value)
    }
}

fn is_b64_char(b: u8) -> bool {
    has_class(b, ALNUM | B64_SYM)
}

/// Checks standard padded base64 syntax without decoding.
fn check_b64(v: &[u8]) -> bool {
    if v.is_empty() || !v.len().is_multiple_of(4) {
        return false;
    }
    let pad = v.iter().rev().take_while(|&&b| b == b'=').count();
    pad <= 2 && v[..v.len() - pad].iter().all(|&b| is_b64_char(b))
}

/// [`check_elements`] for values that pass: `Some(count)` only where it returns
/// `Ok(count)`; `None` sends the caller to the full check.
fn check_elements_fast(v: &[u8]) -> Option<usize> {
    let mut n = 0;
    let mut i = 0;
    loop {
        while v.get(i).is_some_and(|&b| has_class(b, WS)) {
            i += 1;
        }
        if i == v.len() {
            return (n > 0).then_some(n);
        }
        let name = i;
        while v.get(i).is_some_and(|&b| has_class(b, ALNUM) || b == b'-') {
            i += 1;
        }
        if i == name || v.get(i) != Some(&b':') {
            return None;
        }
        i += 1;
        let val = i;
        while v.get(i).is_some_and(|&b| is_b64_char(b)) {
            i += 1;
        }
        let pad = i;
        while v.get(i) == Some(&b'=') {
            i += 1;
        }
        let len = i - val;
        if len == 0
            || !len.is_multiple_of(4)
            || i - pad > 2
            || v.get(i).is_some_and(|&b| !has_class(b, WS))
        {
            return None;
        }
        n += 1;
    }
}

/// Checks a Cancel-Lock or Cancel-Key value without allocating (same rules as
/// [`parse_elements`]); returns the number of elements, counting those that
/// [`parse_elements`] skips because their base64 does not decode.
pub fn check_elements(value: &[u8]) -> Result<usize, CancelLockError> {
    match check_elements_fast(value) {
        Some(n) => Ok(n),
        None => check_elements_general(value),
    }
}

/// [`check_elements`] without the fast path.
fn check_elements_general(value: &[u8]) -> Result<usize, CancelLockError> {
    if value.contains(&b'(') {
        return parse_all(value).map(|(_, n)| n);
    }
    let mut n = 0;
    for tok in value.split(|&b| has_class(b, WS)).filter(|t| !t.is_empty()) {
        let colon = tok
            .iter()
            .position(|&b| b == b':')
            .ok_or(CancelLockError::BadElement)?;
        let (name, val) = (&tok[..colon], &tok[colon + 1..]);
        if name.is_empty()
            || val.is_empty()
            || !name.iter().all(|&b| has_class(b, ALNUM) || b == b'-')
        {
            return Err(CancelLockError::BadElement);
        }
        if !check_b64(val) {
            return Err(CancelLockError::BadBase64);
        }
        n += 1;
    }
    if n == 0 {
        Err(CancelLockError::Empty)
    } else {
        Ok(n)
    }
}

/// Parses a Cancel-Lock or Cancel-Key value: whitespace-separated `scheme:base64`
/// elements (comments in parentheses are skipped).
///
/// An element with the shape of padded base64 that still does not decode (non-zero
/// trailing bits, e.g. `x-new:AB==`) is skipped, as RFC 8315 has receivers skip elements
/// they cannot use, so that it does not hide a valid element next to it; the result may
/// then be empty. Anything else that is not `scheme:base64` makes the whole value
/// malformed, as [`check_elements`] says.
pub fn parse_elements(value: &[u8]) -> Result<Vec<Element>, CancelLockError> {
    parse_all(value).map(|(out, _)| out)
}

/// [`parse_elements`], and the number of elements including the skipped ones.
fn parse_all(value: &[u8]) -> Result<(Vec<Element>, usize), CancelLockError> {
    let mut out = Vec::new();
    let mut n = 0;
    let mut depth = 0u32;
    let mut cleaned = Vec::with_capacity(value.len());
    for &b in value {
        match b {
            b'(' => depth += 1,
            b')' if depth > 0 => depth -= 1,
            _ if depth > 0 => {}
            _ => cleaned.push(b),
        }
    }
    for tok in cleaned
        .split(|b| b.is_ascii_whitespace())
        .filter(|t| !t.is_empty())
    {
        let colon = tok
            .iter()
            .position(|&b| b == b':')
            .ok_or(CancelLockError::BadElement)?;
        let (name, val) = (&tok[..colon], &tok[colon + 1..]);
        if name.is_empty()
            || val.is_empty()
            || !name.iter().all(|&b| has_class(b, ALNUM) || b == b'-')
        {
            return Err(CancelLockError::BadElement);
        }
        if !check_b64(val) {
            return Err(CancelLockError::BadBase64);
        }
        n += 1;
        if B64.decode(val).is_err() {
            continue;
        }
        let value = std::str::from_utf8(val)
            .map_err(|_| CancelLockError::BadBase64)?
            .to_owned();
        out.push(Element {
            scheme_name: String::from_utf8_lossy(name).to_ascii_lowercase(),
            scheme: Scheme::from_name(name),
            value,
        });
    }
    if n == 0 {
        return Err(CancelLockError::Empty);
    }
    Ok((out, n))
}

/// The c-key-string for a target article: `base64(HMAC(secret, uid + message_id))`, the
/// HMAC keyed with `secret` over `uid` followed by the message-id (RFC 8315 §4; the same
/// order as libcanlock's `cl_get_key`). `uid` may be empty; `message_id` includes its angle brackets.
pub fn make_key(scheme: Scheme, secret: &[u8], uid: &[u8], message_id: &str) -> String {
    B64.encode(scheme.hmac(secret, &[uid, message_id.as_bytes()]))
}

/// The c-lock-string for a c-key-string: `base64(hash(key))`.
pub fn lock_from_key(scheme: Scheme, key: &str) -> String {
    B64.encode(scheme.hash(key.as_bytes()))
}

/// The Cancel-Lock element (`scheme:c-lock-string`) matching a c-key-string.
pub fn lock_element_for_key(scheme: Scheme, key: &str) -> String {
    format!("{}:{}", scheme.name(), lock_from_key(scheme, key))
}

/// A full Cancel-Lock element (`sha256:...`) for an article we inject.
pub fn make_lock_element(scheme: Scheme, secret: &[u8], uid: &[u8], message_id: &str) -> String {
    format!(
        "{}:{}",
        scheme.name(),
        lock_from_key(scheme, &make_key(scheme, secret, uid, message_id))
    )
}

/// A full Cancel-Key element (`sha256:...`) for cancelling / superseding `message_id`.
pub fn make_key_element(scheme: Scheme, secret: &[u8], uid: &[u8], message_id: &str) -> String {
    format!(
        "{}:{}",
        scheme.name(),
        make_key(scheme, secret, uid, message_id)
    )
}

/// Whether some element of the Cancel-Key header matches some element of the
/// Cancel-Lock header (same known scheme and `base64(hash(key)) == lock`). Malformed
/// headers never verify; elements that do not decode are skipped ([`parse_elements`]).
pub fn verify(cancel_lock: &[u8], cancel_key: &[u8]) -> bool {
    let (Ok(locks), Ok(keys)) = (parse_elements(cancel_lock), parse_elements(cancel_key)) else {
        return false;
    };
    keys.iter().any(|k| {
        let Some(scheme) = k.scheme else { return false };
        let h = scheme.hash(k.value.as_bytes());
        locks.iter().any(|l| {
            l.scheme == Some(scheme) && B64.decode(l.value.as_bytes()).is_ok_and(|v| v == h)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8315_example() {
        // RFC 8315 §2.2 / §3 example pair (sha256).
        let key = "qv1VXHYiCGjkX/N1nhfYKcAeUn8bCVhrWhoKuBSnpMA=";
        assert_eq!(
            lock_from_key(Scheme::Sha256, key),
            "s/pmK/3grrz++29ce2/mQydzJuc7iqHn1nqcJiQTPMc="
        );
        assert!(verify(
            b"sha256:s/pmK/3grrz++29ce2/mQydzJuc7iqHn1nqcJiQTPMc=",
            format!("sha256:{key}").as_bytes()
        ));
        assert!(verify(
            b"sha1:bNXHc6ohSmeHaRHHW56BIWZJt+4= sha256:s/pmK/3grrz++29ce2/mQydzJuc7iqHn1nqcJiQTPMc=",
            format!(" SHA256:{key} (comment)").as_bytes()
        ));
        assert!(!verify(
            b"sha512:s/pmK/3grrz++29ce2/mQydzJuc7iqHn1nqcJiQTPMc=",
            format!("sha256:{key}").as_bytes()
        ));
    }

    #[test]
    fn hmac_key_matches_reference() {
        // Reference values computed with openssl:
        // printf '%s' '<12345@example.net>' | openssl dgst -sha256 -hmac 'secret' -binary | base64
        let k = make_key(Scheme::Sha256, b"secret", b"", "<12345@example.net>");
        assert_eq!(k, "hQtLL50pG51P5d5s9smZ8twu4XPEPcPyZFv4MNidlWE=");
        assert_eq!(
            lock_element_for_key(
                Scheme::Sha256,
                "qv1VXHYiCGjkX/N1nhfYKcAeUn8bCVhrWhoKuBSnpMA="
            ),
            "sha256:s/pmK/3grrz++29ce2/mQydzJuc7iqHn1nqcJiQTPMc="
        );
        let lock = make_lock_element(Scheme::Sha256, b"secret", b"", "<12345@example.net>");
        let key = make_key_element(Scheme::Sha256, b"secret", b"", "<12345@example.net>");
        assert!(verify(lock.as_bytes(), key.as_bytes()));
        let other = make_key_element(Scheme::Sha256, b"secret", b"", "<other@example.net>");
        assert!(!verify(lock.as_bytes(), other.as_bytes()));
        for s in [Scheme::Sha1, Scheme::Sha224, Scheme::Sha384, Scheme::Sha512] {
            let lock = make_lock_element(s, b"k", b"user", "<a@b>");
            let key = make_key_element(s, b"k", b"user", "<a@b>");
            assert!(verify(lock.as_bytes(), key.as_bytes()), "{s:?}");
            assert!(lock.starts_with(s.name()));
        }
    }

    #[test]
    fn parsing() {
        let e = parse_elements(b"sha256:AAAA x-new:BBBB").unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].scheme, Some(Scheme::Sha256));
        assert_eq!(e[1].scheme, None);
        assert_eq!(e[1].to_string(), "x-new:BBBB");
        assert_eq!(parse_elements(b"  "), Err(CancelLockError::Empty));
        assert_eq!(parse_elements(b"sha256"), Err(CancelLockError::BadElement));
        assert_eq!(parse_elements(b"sha256:"), Err(CancelLockError::BadElement));
        assert_eq!(
            parse_elements(b"sha256:@@@"),
            Err(CancelLockError::BadBase64)
        );
        assert!(!verify(b"garbage", b"sha256:AAAA"));
        assert_eq!(check_elements(b"sha256:AAAA x:AB== y:ABC="), Ok(3));
        assert_eq!(
            check_elements(b"sha256:AAA"),
            Err(CancelLockError::BadBase64)
        );
        assert_eq!(
            check_elements(b"sha256:A=AA"),
            Err(CancelLockError::BadBase64)
        );
        assert_eq!(
            check_elements(b"sha256:A==="),
            Err(CancelLockError::BadBase64)
        );
        assert_eq!(check_elements(b"(c) sha256:AAAA"), Ok(1));
        assert_eq!(check_elements(b""), Err(CancelLockError::Empty));
        assert_eq!(
            parse_elements(b"sha256:AA=A"),
            Err(CancelLockError::BadBase64)
        );
    }

    #[test]
    fn undecodable_elements_are_skipped() {
        // `AB==` has the shape of padded base64 but non-zero trailing bits: STANDARD
        // decoding refuses it. The header is still well-formed (check_elements) and the
        // element is skipped, so the valid sha256 element next to it verifies.
        assert!(B64.decode("AB==").is_err());
        let lock = b"sha256:s/pmK/3grrz++29ce2/mQydzJuc7iqHn1nqcJiQTPMc= x-new:AB==";
        let key = b"sha256:qv1VXHYiCGjkX/N1nhfYKcAeUn8bCVhrWhoKuBSnpMA=";
        assert_eq!(check_elements(lock), Ok(2));
        let e = parse_elements(lock).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].scheme, Some(Scheme::Sha256));
        assert!(verify(lock, key));
        assert!(verify(
            b"x-new:AB== sha256:s/pmK/3grrz++29ce2/mQydzJuc7iqHn1nqcJiQTPMc=",
            b"sha256:AB== sha256:qv1VXHYiCGjkX/N1nhfYKcAeUn8bCVhrWhoKuBSnpMA="
        ));
        // Only undecodable elements: well-formed, nothing to match.
        assert_eq!(parse_elements(b"x-new:AB== (c)"), Ok(Vec::new()));
        assert_eq!(check_elements(b"x-new:AB== (c)"), Ok(1));
        assert!(!verify(b"sha256:AB==", b"sha256:AB=="));
    }
}

#[cfg(test)]
mod fast_path_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn fast_check_agrees(v in "[aZ9:=+/( \\t\\r\\n-]{0,20}") {
            let slow = check_elements_general(v.as_bytes());
            if let Some(n) = check_elements_fast(v.as_bytes()) {
                prop_assert_eq!(Ok(n), slow.clone(), "{:?}", v);
            }
            prop_assert_eq!(check_elements(v.as_bytes()), slow);
        }

        #[test]
        fn fast_check_agrees_on_elements(v in "( ?[a-z0-9-]{0,3}:[A-Za-z0-9+/]{0,9}={0,3}){1,3} ?") {
            let slow = check_elements_general(v.as_bytes());
            prop_assert_eq!(check_elements_fast(v.as_bytes()).ok_or(()), slow.clone().map_err(|_| ()), "{:?}", v);
            prop_assert_eq!(check_elements(v.as_bytes()), slow);
        }
    }
}
