//! Byte-class helpers for the hot validation paths: whole-slice checks written so that
//! the compiler can vectorise them (no early exit inside a chunk), and a class table
//! for per-byte tests that would otherwise be chains of comparisons.

/// Bytes per chunk of the branch-free folds below.
const CHUNK: usize = 32;

/// Whether `ok` holds for every byte of `v`. `ok` should be branch-free (comparisons
/// combined with `&`/`|`) so that each chunk folds without branches.
#[inline(always)]
pub(crate) fn all_bytes(v: &[u8], ok: impl Fn(u8) -> bool + Copy) -> bool {
    let mut chunks = v.chunks_exact(CHUNK);
    for c in &mut chunks {
        if !c.iter().fold(true, |a, &b| a & ok(b)) {
            return false;
        }
    }
    match v.last_chunk::<CHUNK>() {
        // The tail again as one whole (overlapping) chunk.
        Some(c) => c.iter().fold(true, |a, &b| a & ok(b)),
        None => chunks.remainder().iter().fold(true, |a, &b| a & ok(b)),
    }
}

/// Whether `b` is printable US-ASCII other than space (0x21..=0x7e).
#[inline(always)]
pub(crate) fn is_vchar(b: u8) -> bool {
    b.wrapping_sub(0x21) <= 0x7e - 0x21
}

/// How many bytes of `v` equal `x`.
#[inline(always)]
pub(crate) fn count_byte(v: &[u8], x: u8) -> usize {
    v.chunks(CHUNK)
        .map(|c| usize::from(c.iter().fold(0u8, |a, &b| a + u8::from(b == x))))
        .sum()
}

/// Whether some position `i` has `a(v[i])`, `b(v[i + 1])` and `c(v[i + 2])`.
#[inline(always)]
pub(crate) fn any_triple(
    v: &[u8],
    a: impl Fn(u8) -> bool + Copy,
    b: impl Fn(u8) -> bool + Copy,
    c: impl Fn(u8) -> bool + Copy,
) -> bool {
    let mut rest = v;
    // Whole chunks: CHUNK starting positions, each with its two following bytes.
    while let Some(w) = rest.first_chunk::<{ CHUNK + 2 }>() {
        let mut hit = false;
        for k in 0..CHUNK {
            hit |= a(w[k]) & b(w[k + 1]) & c(w[k + 2]);
        }
        if hit {
            return true;
        }
        rest = &rest[CHUNK..];
    }
    if rest.len() < 3 {
        return false;
    }
    match v.last_chunk::<{ CHUNK + 2 }>() {
        // The tail again as one whole (overlapping) chunk.
        Some(w) => {
            let mut hit = false;
            for k in 0..CHUNK {
                hit |= a(w[k]) & b(w[k + 1]) & c(w[k + 2]);
            }
            hit
        }
        None => rest.windows(3).any(|w| a(w[0]) & b(w[1]) & c(w[2])),
    }
}

/// `b` in every byte of a `u128`.
const fn splat(b: u8) -> u128 {
    u128::from_le_bytes([b; 16])
}

/// High bit set in the lowest zero byte of `y` (and possibly in higher ones: only the
/// lowest flag is exact, borrows run upwards).
#[inline(always)]
fn zero_bytes(y: u128) -> u128 {
    y.wrapping_sub(splat(0x01)) & !y & splat(0x80)
}

/// Index of the first byte of the 16 little-endian bytes `x` that is `stop` or not
/// printable US-ASCII other than space (not 0x21..=0x7e), if any.
#[inline(always)]
pub(crate) fn vchar_stop(x: u128, stop: u8) -> Option<usize> {
    let hit = zero_bytes(x ^ splat(stop))
        | zero_bytes(x ^ splat(0x7f))
        | (x & splat(0x80))
        | (x.wrapping_sub(splat(0x21)) & !x & splat(0x80));
    (hit != 0).then(|| (hit.trailing_zeros() / 8) as usize)
}

/// Index of the first byte of `v` at or after `i` that is `stop` or not in
/// 0x21..=0x7e, if any.
#[inline(always)]
pub(crate) fn find_vchar_stop(v: &[u8], mut i: usize, stop: u8) -> Option<usize> {
    while let Some(c) = v.get(i..).and_then(<[u8]>::first_chunk::<16>) {
        if let Some(k) = vchar_stop(u128::from_le_bytes(*c), stop) {
            return Some(i + k);
        }
        i += 16;
    }
    v.get(i..)?
        .iter()
        .position(|&b| b == stop || !is_vchar(b))
        .map(|k| i + k)
}

/// Class bits of [`CLASS`].
pub(crate) const ALNUM: u8 = 1;
/// `+`, `-`, `_`: with [`ALNUM`], the newsgroup-component and distribution characters.
pub(crate) const PMU: u8 = 2;
/// RFC 5322 atext other than letters and digits.
pub(crate) const ATEXT_SYM: u8 = 4;
/// `+` and `/`: with [`ALNUM`], the base64 alphabet.
pub(crate) const B64_SYM: u8 = 8;
/// SP, HTAB, LF, FF, CR (`u8::is_ascii_whitespace`).
pub(crate) const WS: u8 = 16;

const fn class_table() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut c = 0;
        if b.is_ascii_alphanumeric() {
            c |= ALNUM;
        }
        if b == b'+' || b == b'-' || b == b'_' {
            c |= PMU;
        }
        if matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'/'
                | b'='
                | b'?'
                | b'^'
                | b'_'
                | b'`'
                | b'{'
                | b'|'
                | b'}'
                | b'~'
        ) {
            c |= ATEXT_SYM;
        }
        if b == b'+' || b == b'/' {
            c |= B64_SYM;
        }
        if b.is_ascii_whitespace() {
            c |= WS;
        }
        t[i] = c;
        i += 1;
    }
    t
}

/// Class bits for every byte value.
pub(crate) static CLASS: [u8; 256] = class_table();

/// Whether byte `b` has any of the class bits in `mask`.
#[inline(always)]
pub(crate) fn has_class(b: u8, mask: u8) -> bool {
    CLASS[usize::from(b)] & mask != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vchar_stop_agrees_with_byte_loop() {
        let mut x = 0x9e3779b97f4a7c15u64;
        for _ in 0..20_000 {
            let mut b = [0u8; 40];
            for v in &mut b {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *v = match x % 29 {
                    0 => b'>',
                    1 => (x >> 8) as u8,
                    2 => 0x7f,
                    3 => b' ',
                    _ => b'!' + (x >> 16) as u8 % 94,
                };
            }
            let want = b[..16].iter().position(|&c| c == b'>' || !is_vchar(c));
            let first = b.first_chunk::<16>().copied().unwrap_or_default();
            assert_eq!(vchar_stop(u128::from_le_bytes(first), b'>'), want);
            for i in [0, 3, 20, 30, 40] {
                let want = b[i..]
                    .iter()
                    .position(|&c| c == b'>' || !is_vchar(c))
                    .map(|k| i + k);
                assert_eq!(find_vchar_stop(&b, i, b'>'), want);
            }
        }
    }

    #[test]
    fn helpers_agree_with_plain_loops() {
        for b in 0..=255u8 {
            assert_eq!(is_vchar(b), (0x21..=0x7e).contains(&b));
            assert_eq!(has_class(b, WS), b.is_ascii_whitespace());
            assert_eq!(has_class(b, ALNUM), b.is_ascii_alphanumeric());
            assert_eq!(
                has_class(b, ALNUM | ATEXT_SYM),
                b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
            );
        }
        let v: Vec<u8> = (0..200u8).map(|i| i.wrapping_mul(37)).collect();
        for len in 0..v.len() {
            let s = &v[..len];
            assert_eq!(all_bytes(s, is_vchar), s.iter().all(|&b| is_vchar(b)));
            assert_eq!(count_byte(s, 37), s.iter().filter(|&&b| b == 37).count());
            let want = s
                .windows(3)
                .any(|w| w[0] > 100 && w[1] < 100 && w[2] % 2 == 0);
            assert_eq!(
                any_triple(s, |p| p > 100, |q| q < 100, |r| r % 2 == 0),
                want
            );
        }
    }
}
