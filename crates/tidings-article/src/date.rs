//! Dates: RFC 5322 date-time (with the obsolete forms seen on Usenet) to and from unix
//! seconds, and the NNTP `NEWGROUPS`/`NEWNEWS` date form (RFC 3977 §7.3).
//!
//! No clock is read: where the current time matters (two-digit NNTP years) the caller
//! passes it in. The calendar is the proleptic Gregorian one, computed here.

use std::fmt::Write as _;

/// Why a date could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    /// The value has non-ASCII bytes or an unknown word.
    #[error("unrecognised token in date")]
    BadToken,
    /// Day, month, year or time is missing.
    #[error("incomplete date (need day, month, year and time)")]
    Incomplete,
    /// A field is out of range (e.g. 31 Feb, hour 24, zone +9999).
    #[error("date field out of range")]
    OutOfRange,
    /// Unbalanced parentheses in a comment.
    #[error("unbalanced comment in date")]
    BadComment,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (any year, month 1..=12).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 }; // March = 0
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// `yyyymmddhhmmss` in UTC (the DATE reply, RFC 3977 §7.1).
#[must_use]
pub fn format_nntp_date(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// The (year, month, day) of a count of days since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]; // 1970-01-01 was a Thursday

fn month_from_name(t: &[u8]) -> Option<u32> {
    if t.len() < 3 {
        return None;
    }
    const FULL: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    FULL.iter()
        .position(|full| {
            let f = full.as_bytes();
            t.len() <= f.len()
                && t.eq_ignore_ascii_case(&f[..t.len()])
                && (t.len() == 3 || t.len() == f.len() || (t.len() == 4 && f.starts_with(b"sept")))
        })
        .map(|i| i as u32 + 1)
}

fn is_weekday_name(t: &[u8]) -> bool {
    const FULL: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    t.len() >= 3
        && FULL.iter().any(|f| {
            let f = f.as_bytes();
            t.len() <= f.len()
                && t.eq_ignore_ascii_case(&f[..t.len()])
                && (t.len() == 3 || t.len() == f.len())
        })
}

/// Offset in seconds of a named zone: the RFC 5322 §4.3 obs-zone names, the military
/// single letters (all but `J`, treated as -0000 as RFC 5322 recommends), and the
/// names INN 2.7's lax parser knows beyond RFC 5322 (seen in Usenet dates, e.g.
/// `CET`, `BST`, `JST`). `None` for any other word: [`parse_date`] takes an unknown
/// alphabetic zone as -0000 (RFC 5322 §4.3 "SHOULD be considered equivalent to
/// -0000"), but only in the zone position.
fn zone_from_name(t: &[u8]) -> Option<i64> {
    const H: i64 = 3600;
    const M: i64 = 60;
    const NAMED: &[(&str, i64)] = &[
        // RFC 5322 §4.3.
        ("UT", 0),
        ("GMT", 0),
        ("EST", -5 * H),
        ("EDT", -4 * H),
        ("CST", -6 * H),
        ("CDT", -5 * H),
        ("MST", -7 * H),
        ("MDT", -6 * H),
        ("PST", -8 * H),
        ("PDT", -7 * H),
        // INN 2.7 lax parser (lib/date.c OBS_ZONE_OFFSET) and common European
        // summer-time names.
        ("UTC", 0),
        ("CUT", 0),
        ("WET", 0),
        ("WEST", H),
        ("BST", H),
        ("NDT", -(2 * H + 30 * M)),
        ("NST", -(3 * H + 30 * M)),
        ("ADT", -3 * H),
        ("AST", -4 * H),
        ("YDT", -8 * H),
        ("YST", -9 * H),
        ("AKDT", -8 * H),
        ("AKST", -9 * H),
        ("HADT", -9 * H),
        ("HAST", -10 * H),
        ("HST", -10 * H),
        ("CET", H),
        ("MET", H),
        ("MEZ", H),
        ("CES", 2 * H),
        ("CEST", 2 * H),
        ("MEST", 2 * H),
        ("MESZ", 2 * H),
        ("MEZT", 2 * H),
        ("EET", 2 * H),
        ("EEST", 3 * H),
        ("MSK", 3 * H),
        ("MSD", 4 * H),
        ("WAST", 8 * H),
        ("WADT", 9 * H),
        ("HKT", 8 * H),
        ("CCT", 8 * H),
        ("JST", 9 * H),
        ("KST", 9 * H),
        ("KDT", 9 * H),
        ("CAST", 9 * H + 30 * M),
        ("CADT", 10 * H + 30 * M),
        ("EAST", 10 * H),
        ("EADT", 11 * H),
        ("NZST", 12 * H),
        ("NZDT", 13 * H),
    ];
    if let Some((_, off)) = NAMED
        .iter()
        .find(|(n, _)| t.eq_ignore_ascii_case(n.as_bytes()))
    {
        return Some(*off);
    }
    match t {
        [c] if c.is_ascii_alphabetic() && !c.eq_ignore_ascii_case(&b'j') => Some(0),
        _ => None,
    }
}

fn parse_num(t: &[u8]) -> Option<i64> {
    if t.is_empty() || t.len() > 9 || !t.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(t.iter().fold(0i64, |a, &b| a * 10 + i64::from(b - b'0')))
}

/// Strips RFC 5322 comments (nested parentheses, with `\` quoting) into `out`, turning
/// them into spaces.
fn strip_comments(v: &[u8], out: &mut Vec<u8>) -> Result<(), DateError> {
    let mut depth = 0u32;
    let mut i = 0;
    while i < v.len() {
        let b = v[i];
        if depth > 0 {
            match b {
                b'\\' => i += 1,
                b'(' => depth += 1,
                b')' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                out.push(b' ');
            }
        } else if b == b'(' {
            depth = 1;
        } else if b == b')' {
            return Err(DateError::BadComment);
        } else {
            out.push(b);
        }
        i += 1;
    }
    if depth > 0 {
        Err(DateError::BadComment)
    } else {
        Ok(())
    }
}

/// ASCII case folding for comparisons against lower-case letters: `b | 0x20` equals a
/// lower-case letter exactly when `b` is that letter in either case.
fn fold3(a: u8, b: u8, c: u8) -> [u8; 3] {
    [a | 0x20, b | 0x20, c | 0x20]
}

fn digit(b: u8) -> Option<i64> {
    b.is_ascii_digit().then(|| i64::from(b - b'0'))
}

/// The common RFC 5322 layout, `[Www, ]D[D] Mmm YYYY HH:MM:SS +ZZZZ`, with single spaces
/// and no comments. `None` for anything else (including out-of-range fields), which
/// [`parse_date`] then handles in full; where this returns a value it is the one the
/// general parser returns.
fn parse_date_common(v: &[u8]) -> Option<i64> {
    let mut s = v;
    if let [a, b, c, b',', b' ', rest @ ..] = s {
        if !matches!(
            &fold3(*a, *b, *c),
            b"mon" | b"tue" | b"wed" | b"thu" | b"fri" | b"sat" | b"sun"
        ) {
            return None;
        }
        s = rest;
    }
    let (day, rest) = match s {
        [d1, d2, b' ', rest @ ..] if d2.is_ascii_digit() => (digit(*d1)? * 10 + digit(*d2)?, rest),
        [d1, b' ', rest @ ..] => (digit(*d1)?, rest),
        _ => return None,
    };
    let [
        m1,
        m2,
        m3,
        b' ',
        y1,
        y2,
        y3,
        y4,
        b' ',
        h1,
        h2,
        b':',
        i1,
        i2,
        b':',
        s1,
        s2,
        b' ',
        sign @ (b'+' | b'-'),
        z1,
        z2,
        z3,
        z4,
    ] = *rest
    else {
        return None;
    };
    let month: u32 = match &fold3(m1, m2, m3) {
        b"jan" => 1,
        b"feb" => 2,
        b"mar" => 3,
        b"apr" => 4,
        b"may" => 5,
        b"jun" => 6,
        b"jul" => 7,
        b"aug" => 8,
        b"sep" => 9,
        b"oct" => 10,
        b"nov" => 11,
        b"dec" => 12,
        _ => return None,
    };
    let year = ((digit(y1)? * 10 + digit(y2)?) * 10 + digit(y3)?) * 10 + digit(y4)?;
    let hh = digit(h1)? * 10 + digit(h2)?;
    let mm = digit(i1)? * 10 + digit(i2)?;
    let ss = digit(s1)? * 10 + digit(s2)?;
    let zh = digit(z1)? * 10 + digit(z2)?;
    let zm = digit(z3)? * 10 + digit(z4)?;
    if hh > 23 || mm > 59 || ss > 60 || zm > 59 {
        return None;
    }
    if day < 1 || day > i64::from(days_in_month(year, month)) {
        return None;
    }
    let off = zh * 3600 + zm * 60;
    let zone = if sign == b'-' { -off } else { off };
    let days = days_from_civil(year, month, day as u32);
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss - zone)
}

/// Parses an RFC 5322 date-time (Date, Injection-Date, Expires) into unix seconds.
///
/// Accepted beyond the strict grammar: missing or full-length day-of-week (not checked
/// against the date), missing seconds, 2-digit years (00–49 → 20xx, 50–99 → 19xx) and
/// 3-digit years (+1900), the RFC 5322 zone names (UT, GMT, EST ... PDT) and the
/// further names INN 2.7 knows (UTC, CET, MET, CEST, MEST, BST, EET, EEST, WET, WEST,
/// JST and others, see `zone_from_name`), military one-letter zones and any other
/// alphabetic word after the time (taken as -0000, as RFC 5322 §4.3 says and INN 2.7
/// does), a second zone after the first (`+0100 CET`, `+0000 GMT`: ignored, the first
/// one counts, except that a numeric zone replaces a name before it), a missing zone
/// (taken as UTC), month and day names in any case, extra whitespace, comments in
/// parentheses, and the asctime order `Tue Dec  1 03:57:09 2026`. Leap second 60 is
/// accepted. Still refused: unknown words before the time, a second day, month, year,
/// time or numeric zone, malformed numbers and out-of-range fields.
pub fn parse_date(value: &[u8]) -> Result<i64, DateError> {
    match parse_date_common(value) {
        Some(t) => Ok(t),
        None => parse_date_general(value),
    }
}

/// [`parse_date`] for every accepted form (no fast path).
fn parse_date_general(value: &[u8]) -> Result<i64, DateError> {
    if !value.is_ascii() {
        return Err(DateError::BadToken);
    }
    let mut buf = Vec::new();
    let v: &[u8] = if value.iter().any(|&b| b == b'(' || b == b')') {
        strip_comments(value, &mut buf)?;
        &buf
    } else {
        value
    };
    let (mut day, mut month, mut year, mut time, mut zone) = (None, None, None, None, None);
    // Whether `zone` came from a numeric offset (which a zone name never overrides).
    let mut numeric_zone = false;
    for tok in v
        .split(|b| b.is_ascii_whitespace() || *b == b',')
        .filter(|t| !t.is_empty())
    {
        if tok.contains(&b':') {
            if time.is_some() {
                return Err(DateError::BadToken);
            }
            let mut parts = tok.split(|&b| b == b':');
            let hh = parts
                .next()
                .and_then(parse_num)
                .ok_or(DateError::BadToken)?;
            let mm = parts
                .next()
                .and_then(parse_num)
                .ok_or(DateError::BadToken)?;
            let ss = match parts.next() {
                Some(s) => parse_num(s).ok_or(DateError::BadToken)?,
                None => 0,
            };
            if parts.next().is_some() {
                return Err(DateError::BadToken);
            }
            if hh > 23 || mm > 59 || ss > 60 {
                return Err(DateError::OutOfRange);
            }
            time = Some(hh * 3600 + mm * 60 + ss);
        } else if let [sign @ (b'+' | b'-'), digits @ ..] = tok {
            if numeric_zone || digits.len() != 4 {
                return Err(DateError::BadToken);
            }
            let n = parse_num(digits).ok_or(DateError::BadToken)?;
            let (hh, mm) = (n / 100, n % 100);
            if mm > 59 || hh > 99 {
                return Err(DateError::OutOfRange);
            }
            let off = hh * 3600 + mm * 60;
            zone = Some(if *sign == b'-' { -off } else { off });
            numeric_zone = true;
        } else if tok[0].is_ascii_digit() {
            let n = parse_num(tok).ok_or(DateError::BadToken)?;
            if tok.len() <= 2 && day.is_none() {
                day = Some(n);
            } else if year.is_none() {
                year = Some(match tok.len() {
                    1 | 2 if n < 50 => n + 2000,
                    1 | 2 => n + 1900,
                    3 => n + 1900,
                    _ => n,
                });
            } else {
                return Err(DateError::BadToken);
            }
        } else if let Some(m) = month_from_name(tok).filter(|_| month.is_none()) {
            month = Some(m);
        } else if is_weekday_name(tok) {
            // Day-of-week is informational only.
        } else if let Some(z) = zone_from_name(tok) {
            // A second zone (`+0100 CET`, `GMT UTC`) is commentary: the first counts.
            zone.get_or_insert(z);
        } else if time.is_some() && tok.iter().all(u8::is_ascii_alphabetic) {
            // An unknown zone name after the time: -0000 (RFC 5322 §4.3), as INN does.
            zone.get_or_insert(0);
        } else {
            return Err(DateError::BadToken);
        }
    }
    let (Some(day), Some(month), Some(year), Some(time)) = (day, month, year, time) else {
        return Err(DateError::Incomplete);
    };
    if day < 1 || day > i64::from(days_in_month(year, month)) {
        return Err(DateError::OutOfRange);
    }
    let days = days_from_civil(year, month, day as u32);
    Ok(days * 86_400 + time - zone.unwrap_or(0))
}

/// Formats unix seconds as an RFC 5322 date in UTC, e.g. `Tue, 01 Dec 2026 03:57:09 +0000`
/// (for Date and Injection-Date).
pub fn format_date(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let wd = WEEKDAYS[days.rem_euclid(7) as usize];
    let mon = MONTHS[(m as usize).saturating_sub(1) % 12];
    let mut s = String::with_capacity(32);
    let _ = write!(
        s,
        "{wd}, {d:02} {mon} {y:04} {:02}:{:02}:{:02} +0000",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    );
    s
}

/// Parses the NEWGROUPS/NEWNEWS date and time arguments (RFC 3977 §7.3):
/// `yymmdd` or `yyyymmdd`, and `hhmmss`, as UTC.
///
/// With a two-digit year, the century is the current one if `yy` is not greater than
/// the current two-digit year, else the previous one; `now` (unix seconds) gives the
/// current year. Without the `GMT` argument the RFC says the time is the server's local
/// time: this crate has no notion of a local zone, so the caller subtracts its own offset
/// if it wants that behaviour.
pub fn parse_nntp_date(date: &str, time: &str, now: i64) -> Result<i64, DateError> {
    let d = date.as_bytes();
    let t = time.as_bytes();
    if t.len() != 6 || !(d.len() == 6 || d.len() == 8) {
        return Err(DateError::BadToken);
    }
    let num = |s: &[u8]| parse_num(s).ok_or(DateError::BadToken);
    let (yr, rest) = d.split_at(d.len() - 4);
    let mut year = num(yr)?;
    if yr.len() == 2 {
        let (cur, _, _) = civil_from_days(now.div_euclid(86_400));
        let century = cur.div_euclid(100) * 100;
        year += if year <= cur.rem_euclid(100) {
            century
        } else {
            century - 100
        };
    }
    let month = num(&rest[..2])?;
    let day = num(&rest[2..])?;
    let (hh, mm, ss) = (num(&t[..2])?, num(&t[2..4])?, num(&t[4..])?);
    if !(1..=12).contains(&month) || hh > 23 || mm > 59 || ss > 60 {
        return Err(DateError::OutOfRange);
    }
    let month = month as u32;
    if day < 1 || day > i64::from(days_in_month(year, month)) {
        return Err(DateError::OutOfRange);
    }
    Ok(days_from_civil(year, month, day as u32) * 86_400 + hh * 3600 + mm * 60 + ss)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Result<i64, DateError> {
        parse_date(s.as_bytes())
    }

    #[test]
    fn civil_round_trip_known() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn rfc5322_forms() {
        // RFC 5322 Appendix A.1.1 example.
        assert_eq!(p("Fri, 21 Nov 1997 09:55:06 -0600"), Ok(880_127_706));
        assert_eq!(p("21 Nov 1997 09:55:06 -0600"), Ok(880_127_706));
        assert_eq!(p("Fri, 21 Nov 1997 15:55:06 GMT"), Ok(880_127_706));
        assert_eq!(p("Friday, 21 NOV 97 15:55:06 UT"), Ok(880_127_706));
        assert_eq!(p("Fri, 21 Nov 097 10:55:06 EST"), Ok(880_127_706));
        assert_eq!(p("Fri, 21 Nov 1997 07:55:06 PST"), Ok(880_127_706));
        assert_eq!(p("Fri, 21 Nov 1997 15:55 +0000"), Ok(880_127_700));
        assert_eq!(
            p("  Fri,21 Nov   1997\r\n 15:55:06 -0000 (UTC) "),
            Ok(880_127_706)
        );
        assert_eq!(p("Fri, 21 Nov 1997 15:55:06 Z"), Ok(880_127_706));
        assert_eq!(p("Fri, 21 Nov 1997 15:55:06 A"), Ok(880_127_706));
        assert_eq!(p("Fri, 21 Nov 1997 15:55:06"), Ok(880_127_706));
        assert_eq!(p("Fri Nov 21 15:55:06 1997"), Ok(880_127_706));
        assert_eq!(
            p("Thu, 13 Feb 69 23:32:54 -0330"),
            p("Fri, 14 Feb 1969 03:02:54 +0000")
        );
        assert_eq!(p("1 Jan 49 00:00:00 +0000"), p("1 Jan 2049 00:00:00 +0000"));
        assert_eq!(p("1 Jan 70 00:00:00 GMT"), Ok(0));
        assert_eq!(p("1 Jan 1970 00:00:00 (comment (nested)) +0100"), Ok(-3600));
    }

    #[test]
    fn bad_dates() {
        assert_eq!(p(""), Err(DateError::Incomplete));
        assert_eq!(p("21 Nov 1997"), Err(DateError::Incomplete));
        assert_eq!(p("31 Feb 2020 00:00:00 +0000"), Err(DateError::OutOfRange));
        assert_eq!(p("1 Jan 2020 24:00:00 +0000"), Err(DateError::OutOfRange));
        assert_eq!(p("1 Foo 2020 00:00:00 +0000"), Err(DateError::BadToken));
        assert_eq!(p("1 Jan 2020 00:00:00 +00000"), Err(DateError::BadToken));
        assert_eq!(p("1 Jan 2020 00:00:00 (open"), Err(DateError::BadComment));
        assert_eq!(
            parse_date(b"1 Jan 2020 00:00:00 \xe9"),
            Err(DateError::BadToken)
        );
        assert_eq!(
            p("1 Jan 2020 00:00:00 +0000 +0100"),
            Err(DateError::BadToken)
        );
        assert_eq!(p("1 Jan 2020 00:00:00 +0000 x1"), Err(DateError::BadToken));
        assert_eq!(p("1 Jan 2020 Foo 00:00:00 +0000"), Err(DateError::BadToken));
        assert_eq!(p("1 Jan 2020 00:00:00 +0000 Feb"), Ok(1_577_836_800));
        assert_eq!(p("1 Jan Feb 2020 00:00:00 +0000"), Err(DateError::BadToken));
        assert!(p("29 Feb 2024 00:00:00 +0000").is_ok());
        assert_eq!(p("29 Feb 2023 00:00:00 +0000"), Err(DateError::OutOfRange));
    }

    #[test]
    fn zone_names_beyond_rfc5322() {
        // 2024-01-01 09:00:00 UTC.
        let nine = Ok(1_704_099_600);
        assert_eq!(p("Mon, 01 Jan 2024 09:00:00 +0000"), nine);
        let h = 3600;
        for (zone, off) in [
            ("CET", h),
            ("MET", h),
            ("cet", h),
            ("CEST", 2 * h),
            ("MEST", 2 * h),
            ("BST", h),
            ("JST", 9 * h),
            ("EET", 2 * h),
            ("EEST", 3 * h),
            ("WET", 0),
            ("WEST", h),
            ("NST", -(3 * h + 1800)),
            // Unknown alphabetic zones are -0000 (RFC 5322 §4.3), as is `J`.
            ("XYZT", 0),
            ("Foo", 0),
            ("J", 0),
        ] {
            let s = format!("Mon, 01 Jan 2024 10:00:00 {zone}");
            assert_eq!(p(&s), Ok(1_704_099_600 + 3600 - off), "{s}");
        }
        // A zone name or comment after the zone is ignored; the first zone counts.
        assert_eq!(p("Mon, 01 Jan 2024 09:00:00 +0000 GMT"), nine);
        assert_eq!(p("Mon, 01 Jan 2024 10:00:00 +0100 (CET)"), nine);
        assert_eq!(p("Mon, 01 Jan 2024 10:00:00 +0100 CET"), nine);
        assert_eq!(p("Mon, 01 Jan 2024 11:00:00 +0200 CET"), nine);
        assert_eq!(p("Mon, 01 Jan 2024 10:00:00 CET MET"), nine);
        // A numeric zone after a name replaces it.
        assert_eq!(p("Mon, 01 Jan 2024 11:00:00 CET +0200"), nine);
        // The fast path does not take these layouts.
        assert_eq!(
            parse_date_common(b"Mon, 01 Jan 2024 09:00:00 +0000 GMT"),
            None
        );
        assert_eq!(parse_date_common(b"Mon, 01 Jan 2024 10:00:00 CET"), None);
    }

    #[test]
    fn format() {
        assert_eq!(format_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(format_date(880_127_706), "Fri, 21 Nov 1997 15:55:06 +0000");
        assert_eq!(
            format_date(1_796_097_429),
            "Tue, 01 Dec 2026 03:57:09 +0000"
        );
        assert_eq!(format_date(-1), "Wed, 31 Dec 1969 23:59:59 +0000");
    }

    #[test]
    fn nntp_date_format() {
        assert_eq!(format_nntp_date(0), "19700101000000");
        assert_eq!(format_nntp_date(1_800_000_000), "20270115080000");
        assert_eq!(format_nntp_date(86_399), "19700101235959");
        let t = 1_764_547_199; // 2025-11-30 23:59:59
        let s = format_nntp_date(t);
        assert_eq!(parse_nntp_date(&s[..8], &s[8..], t), Ok(t));
    }

    #[test]
    fn nntp_dates() {
        let now = p("1 Jun 2026 00:00:00 +0000").unwrap();
        assert_eq!(parse_nntp_date("19970101", "000000", now), Ok(852_076_800));
        assert_eq!(parse_nntp_date("970101", "000000", now), Ok(852_076_800));
        assert_eq!(
            parse_nntp_date("260101", "120000", now),
            p("1 Jan 2026 12:00:00 +0000")
        );
        assert_eq!(
            parse_nntp_date("270101", "000000", now),
            p("1 Jan 1927 00:00:00 +0000")
        );
        assert_eq!(
            parse_nntp_date("000101", "000000", now),
            p("1 Jan 2000 00:00:00 +0000")
        );
        assert_eq!(
            parse_nntp_date("2026011", "000000", now),
            Err(DateError::BadToken)
        );
        assert_eq!(
            parse_nntp_date("20261301", "000000", now),
            Err(DateError::OutOfRange)
        );
        assert_eq!(
            parse_nntp_date("20260101", "0000x0", now),
            Err(DateError::BadToken)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn format_then_parse(t in 0i64..7_258_118_400) {
            // 1970-01-01 .. 2200-01-01
            prop_assert_eq!(parse_date(format_date(t).as_bytes()), Ok(t));
        }

        #[test]
        fn civil_inverse(d in -1_000_000i64..1_000_000) {
            let (y, m, dd) = civil_from_days(d);
            prop_assert_eq!(days_from_civil(y, m, dd), d);
        }

        #[test]
        fn never_panics(s in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse_date(&s);
        }

        #[test]
        fn common_layout_agrees_with_general(
            wd in "(Mon|tue|WED|Thu|Fri|Sat|Sun|Xyz|Mar), ", use_wd in any::<bool>(),
            day in 0u32..40, month in "(Jan|feb|MAR|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec|Mon|Foo)",
            year in 0u32..10_000, hh in 0u32..30, mm in 0u32..70, ss in 0u32..70,
            sign in "[+-]", zh in 0u32..100, zm in 0u32..100, day2 in any::<bool>(),
        ) {
            let wd = if use_wd { wd } else { String::new() };
            let day = if day2 { format!("{day:02}") } else { day.to_string() };
            let s = format!("{wd}{day} {month} {year:04} {hh:02}:{mm:02}:{ss:02} {sign}{zh:02}{zm:02}");
            let general = parse_date_general(s.as_bytes());
            if let Some(t) = parse_date_common(s.as_bytes()) {
                prop_assert_eq!(Ok(t), general.clone(), "{}", s);
            }
            prop_assert_eq!(parse_date(s.as_bytes()), general);
        }

        #[test]
        fn zone_word_or_comment_after_the_zone_is_ignored(
            t in 0i64..7_258_118_400, word in "[A-Za-z]{1,8}", comment in "[ -'*-\\[\\]-~]{0,12}",
        ) {
            let s = format_date(t);
            prop_assert_eq!(parse_date(format!("{s} {word}").as_bytes()), Ok(t));
            prop_assert_eq!(parse_date(format!("{s} ({comment})").as_bytes()), Ok(t));
            prop_assert_eq!(parse_date(format!("{s} {word} ({comment})").as_bytes()), Ok(t));
        }

        #[test]
        fn zone_word_is_known_offset_or_utc(t in 0i64..7_258_118_400, word in "[A-Za-z]{1,8}") {
            let s = format_date(t);
            let s = s.strip_suffix(" +0000").unwrap_or(&s);
            let want = t - zone_from_name(word.as_bytes()).unwrap_or(0);
            prop_assert_eq!(parse_date(format!("{s} {word}").as_bytes()), Ok(want));
        }

        #[test]
        fn never_panics_ascii(s in "[0-9A-Za-z :,+()-]{0,40}") {
            let _ = parse_date(s.as_bytes());
        }
    }
}
