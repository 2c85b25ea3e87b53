#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use tidings_net::tls::{self, ClientCertPolicy, ServerTrust};
use tidings_net::{NetError, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Reads one CRLF line byte by byte, the way a session would keep the rest in its buffer.
async fn read_line(stream: &mut Stream, buf: &mut Vec<u8>) -> Vec<u8> {
    loop {
        if let Some(end) = buf.windows(2).position(|w| w == b"\r\n") {
            let line: Vec<u8> = buf.drain(..end + 2).collect();
            return line;
        }
        let mut chunk = [0u8; 512];
        let n = tokio::time::timeout(T, stream.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "unexpected end of stream");
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test]
async fn starttls_discards_injected_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let paths = self_signed(dir.path(), "news.example");
    let acceptor = acceptor_for(&paths, ClientCertPolicy::None);
    let connector =
        tls::connector(&ServerTrust::Pinned(vec![fingerprint_of(&paths)]), None).unwrap();

    let (c, s) = tcp_pair().await;
    let mut client = Stream::from_tcp(c);
    let mut server = Stream::from_tcp(s);
    assert!(server.can_starttls());

    // The attacker's classic: a command smuggled in the same packet as STARTTLS.
    client.write_all(b"STARTTLS\r\nINJECTED\r\n").await.unwrap();
    client.flush().await.unwrap();

    let server_task = tokio::spawn(async move {
        let mut buf = Vec::new();
        // Wait until the whole write arrived so the injected bytes sit in the buffer.
        while buf.len() < 20 {
            let mut chunk = [0u8; 64];
            let n = server.read(&mut chunk).await.unwrap();
            assert!(n > 0);
            buf.extend_from_slice(&chunk[..n]);
        }
        let line = read_line(&mut server, &mut buf).await;
        assert_eq!(line, b"STARTTLS\r\n");
        assert_eq!(buf, b"INJECTED\r\n");
        server.write_all(b"382 go\r\n").await.unwrap();
        server.flush().await.unwrap();
        let up = server.starttls_server(buf, &acceptor, T).await.unwrap();
        assert_eq!(up.discarded, 10);
        let mut server = up.stream;
        assert!(server.is_tls());
        assert!(!server.can_starttls());
        let mut buf = Vec::new();
        let line = read_line(&mut server, &mut buf).await;
        server.write_all(b"bye\r\n").await.unwrap();
        server.flush().await.unwrap();
        (line, server)
    });

    let mut cbuf = Vec::new();
    let reply = read_line(&mut client, &mut cbuf).await;
    assert_eq!(reply, b"382 go\r\n");
    let name = tls::server_name("news.example").unwrap();
    let up = client
        .starttls_client(cbuf, &connector, name, T)
        .await
        .unwrap();
    assert_eq!(up.discarded, 0);
    let mut client = up.stream;
    client.write_all(b"CAPABILITIES\r\n").await.unwrap();
    client.flush().await.unwrap();
    let mut cbuf = Vec::new();
    assert_eq!(read_line(&mut client, &mut cbuf).await, b"bye\r\n");

    let (first_tls_line, server) = tokio::time::timeout(T, server_task).await.unwrap().unwrap();
    // The first thing the TLS side sees is the client's real command, not the injection.
    assert_eq!(first_tls_line, b"CAPABILITIES\r\n");

    // STARTTLS twice is refused.
    let e = server
        .starttls_server(Vec::new(), &acceptor_for(&paths, ClientCertPolicy::None), T)
        .await
        .unwrap_err();
    assert!(matches!(e, NetError::AlreadyTls), "{e}");
}

#[tokio::test]
async fn starttls_refused_after_compress() {
    let dir = tempfile::tempdir().unwrap();
    let paths = self_signed(dir.path(), "localhost");
    let acceptor = acceptor_for(&paths, ClientCertPolicy::None);
    let (_c, s) = tcp_pair().await;
    let server = Stream::from_tcp(s).compress(Vec::new()).unwrap();
    assert!(!server.can_starttls());
    let e = server
        .starttls_server(Vec::new(), &acceptor, T)
        .await
        .unwrap_err();
    assert!(matches!(e, NetError::AlreadyCompressed), "{e}");
}
