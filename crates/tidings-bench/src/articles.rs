//! Deterministic text articles: the same (tag, index, epoch) always gives the same bytes.

/// splitmix64: a tiny, well-mixed deterministic generator.
pub struct Rng(u64);

impl Rng {
    /// A generator seeded from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

const WORDS: &[&str] = &[
    "news",
    "server",
    "article",
    "group",
    "thread",
    "reply",
    "posting",
    "feed",
    "peer",
    "spool",
    "history",
    "overview",
    "the",
    "a",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "it",
    "for",
    "on",
    "with",
    "as",
    "was",
    "at",
    "by",
    "this",
    "from",
    "have",
    "not",
    "but",
    "which",
    "when",
    "usenet",
    "network",
    "protocol",
    "message",
    "header",
    "body",
    "reader",
    "client",
    "batch",
    "storage",
    "index",
    "number",
    "range",
    "window",
    "latency",
    "throughput",
    "kernel",
    "socket",
];

const NAMES: &[&str] = &[
    "Alice Example",
    "Bob Tester",
    "Carol Reader",
    "Dave Poster",
    "Erin Lurker",
    "Frank Moderator",
    "Grace Hopper-Fan",
    "Heidi Newsadmin",
];

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// RFC 5322 date (UTC) for seconds since the Unix epoch.
pub fn rfc5322_date(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} +0000",
        DAYS[(days % 7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The message-id of article `i` of run `tag`.
pub fn message_id(tag: &str, i: u64) -> String {
    format!("<{tag}.{i}@bench.tidings.test>")
}

/// Article `i` of run `tag` for `group`, in stored form (CRLF line ends, not dot-stuffed),
/// 1-4 KB. With `path`, a Path header is included (transit); POST leaves it to the server.
pub fn article(tag: &str, i: u64, group: &str, epoch: u64, path: bool) -> Vec<u8> {
    let mut rng = Rng::new(i.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ fnv(tag));
    let name = NAMES[rng.below(NAMES.len() as u64) as usize];
    let user = name
        .split(' ')
        .next()
        .unwrap_or("user")
        .to_ascii_lowercase();
    let mut a = String::with_capacity(4096);
    if path {
        a.push_str("Path: bench.tidings.test!not-for-mail\r\n");
    }
    a.push_str(&format!("From: {name} <{user}@example.test>\r\n"));
    a.push_str(&format!("Newsgroups: {group}\r\n"));
    let subj_words = 3 + rng.below(6);
    let mut subject = String::new();
    if !i.is_multiple_of(3) && i > 0 {
        subject.push_str("Re: ");
    }
    for k in 0..subj_words {
        if k > 0 {
            subject.push(' ');
        }
        subject.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
    }
    a.push_str(&format!("Subject: {subject} ({tag} #{i})\r\n"));
    a.push_str(&format!(
        "Date: {}\r\n",
        rfc5322_date(epoch.saturating_sub(100_000) + i)
    ));
    a.push_str(&format!("Message-ID: {}\r\n", message_id(tag, i)));
    if i > 0 && !i.is_multiple_of(3) {
        let parent = i - 1 - rng.below(i.min(20));
        a.push_str(&format!("References: {}\r\n", message_id(tag, parent)));
    }
    a.push_str("Organization: Tidings benchmark\r\n");
    a.push_str("User-Agent: tidings-bench/0.1\r\n");
    a.push_str("MIME-Version: 1.0\r\n");
    a.push_str("Content-Type: text/plain; charset=UTF-8\r\n");
    a.push_str("Content-Transfer-Encoding: 8bit\r\n");
    a.push_str("\r\n");
    let target = 1024 + rng.below(3 * 1024) as usize;
    let mut line = String::new();
    while a.len() < target {
        line.clear();
        match rng.below(20) {
            0 => line.push_str("> "),
            // Exercise dot-stuffing now and then.
            1 => line.push_str(".."),
            _ => {}
        }
        while line.len() < 60 + rng.below(12) as usize {
            if !line.is_empty() && !line.ends_with(' ') {
                line.push(' ');
            }
            line.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
        }
        a.push_str(&line);
        a.push_str("\r\n");
    }
    a.push_str("-- \r\nsent by tidings-bench\r\n");
    a.into_bytes()
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(1_764_547_200),
            "Mon, 01 Dec 2025 00:00:00 +0000"
        );
    }

    #[test]
    fn articles_are_deterministic_and_sized() {
        for i in 0..200 {
            let a = article("t", i, "misc.test", 1_764_547_200, true);
            assert_eq!(a, article("t", i, "misc.test", 1_764_547_200, true));
            assert!((1024..=4200).contains(&a.len()), "{}", a.len());
            assert!(a.ends_with(b"\r\n"));
        }
    }
}
