#!/usr/bin/env python3
"""Drives a running Tidings server with Python's nntplib (stdlib up to Python 3.12).

usage: reader.py HOST PLAIN_PORT NNTPS_PORT USER PASSWORD

Plain (on a STARTTLS port): capabilities, list, group, post, over, article; then STARTTLS and
login; then the same reads over NNTPS. Prints "ok" and exits 0 when every check passed.
"""
import io
import ssl
import sys
import warnings

warnings.simplefilter("ignore")
import nntplib  # noqa: E402


def check(cond, what):
    if not cond:
        print("FAILED:", what, file=sys.stderr)
        sys.exit(1)


def unverified():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def reads(s, mid, subject):
    resp, count, first, last, name = s.group("local.test")
    check(resp.startswith("211") and count >= 1, "group: " + resp)
    resp, overviews = s.over((first, last))
    check(any(ov.get("subject") == subject for _, ov in overviews), "over: %r" % overviews)
    resp, info = s.article(mid)
    check(resp.startswith("220"), "article: " + resp)
    text = b"\n".join(info.lines)
    check(b"Subject: " + subject.encode() in text, "article text")
    check(b"Body line one." in text, "article body")


def main():
    host, plain, tls, user, password = sys.argv[1:6]
    plain, tls = int(plain), int(tls)
    mid = "<nntplib.1@example.org>"
    subject = "nntplib test"

    s = nntplib.NNTP(host, plain, readermode=False, timeout=20)
    check(s.getwelcome().startswith("200"), "welcome")
    caps = s.getcapabilities()
    check("STARTTLS" in caps and "READER" in caps, "capabilities %r" % caps)
    resp, groups = s.list()
    names = [g.group for g in groups]
    check("local.test" in names and "local.general" in names, "list %r" % names)
    article = (
        "From: Py <py@example.org>\r\n"
        "Newsgroups: local.test\r\n"
        "Subject: " + subject + "\r\n"
        "Message-ID: " + mid + "\r\n"
        "\r\n"
        "Body line one.\r\n"
        ".A line starting with a dot.\r\n"
    ).encode()
    resp = s.post(io.BytesIO(article))
    check(resp.startswith("240"), "post: " + resp)
    reads(s, mid, subject)
    resp, info = s.body(mid)
    check(b".A line starting with a dot." in info.lines, "dot-stuffing: %r" % info.lines)

    s.starttls(unverified())
    s.login(user, password, usenetrc=False)  # raises unless 281
    check("AUTHINFO" not in s.getcapabilities(), "AUTHINFO still offered after login")
    reads(s, mid, subject)
    s.quit()

    t = nntplib.NNTP_SSL(host, tls, ssl_context=unverified(), readermode=False, timeout=20)
    check(t.getwelcome().startswith("200"), "NNTPS welcome")
    reads(t, mid, subject)
    t.login(user, password, usenetrc=False)
    t.quit()
    print("ok")


if __name__ == "__main__":
    main()
