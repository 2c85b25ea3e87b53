// The realistic article both the criterion bench (`benches/headers.rs`) and the CPU-time
// example (`examples/cpu_time.rs`) measure: a 1,219-byte header block (long Path with a
// `.POSTED` entry, folded References and Injection-Info, Cancel-Lock, Xref) and a 40-line body.
// Included with `include!` so that both measure exactly the same bytes.

fn article() -> Vec<u8> {
    let mut a = Vec::new();
    a.extend_from_slice(
        b"Path: news.tidings.example!news.hub1.example!!feeder.a.example!nntp.b.example!\
spool.c.example!news.d.example!peer.e.example!news.f.example!transit.g.example!\
news.h.example!feed.i.example!news.j.example!.POSTED.198.51.100.7!not-for-mail\r\n\
From: Jane Example <jane@example.org>\r\n\
Newsgroups: comp.lang.rust,comp.programming\r\n\
Subject: Re: Zero-copy header parsing in a news server, again\r\n\
Date: Tue, 01 Dec 2026 03:57:09 +0000\r\n\
Organization: Example Organisation for Testing Purposes\r\n\
Lines: 42\r\n\
Message-ID: <20261201035709.4f2a@news.example.org>\r\n\
References: <a1b2c3@example.com> <d4e5f6@example.net> <g7h8i9@example.org>\r\n\
\x20<j0k1l2@example.com> <m3n4o5@example.net> <p6q7r8@example.org>\r\n\
\x20<s9t0u1@example.com> <v2w3x4@example.net>\r\n\
Mime-Version: 1.0\r\n\
Content-Type: text/plain; charset=UTF-8; format=flowed\r\n\
Content-Transfer-Encoding: 8bit\r\n\
Injection-Info: news.example.org; posting-account=\"jane\";\r\n\
\tposting-host=\"198.51.100.7\"; logging-data=\"12345\"; mail-complaints-to=\"abuse@example.org\"\r\n\
Injection-Date: Tue, 01 Dec 2026 03:57:10 +0000\r\n\
User-Agent: ExampleReader/1.2.3 (Linux)\r\n\
Cancel-Lock: sha256:s/pmK/3grrz++29ce2/mQydzJuc7iqHn1nqcJiQTPMc=\r\n\
Xref: news.tidings.example comp.lang.rust:123456 comp.programming:654321\r\n\
\r\n",
    );
    for i in 0..40 {
        a.extend_from_slice(format!("Body line {i} with some text in it.\r\n").as_bytes());
    }
    a
}
