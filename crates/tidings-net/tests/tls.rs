#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use rustls::ProtocolVersion;
use tidings_net::tls::{self, CertPaths, CertResolver, ClientCertPolicy, ServerTrust};
use tidings_net::{Fingerprint, NetError, Shutdown, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;

async fn ping(client: &mut Stream, server: &mut Stream) {
    client.write_all(b"ping\r\n").await.unwrap();
    client.flush().await.unwrap();
    let mut buf = [0u8; 6];
    server.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping\r\n");
    server.write_all(b"pong\r\n").await.unwrap();
    server.flush().await.unwrap();
    client.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"pong\r\n");
}

#[test]
fn self_signed_generated_once_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("tls");
    let a = tls::ensure_self_signed(&sub, "news.example").unwrap();
    let fp_a = fingerprint_of(&a);
    let b = tls::ensure_self_signed(&sub, "news.example").unwrap();
    assert_eq!(a, b);
    assert_eq!(fingerprint_of(&b), fp_a, "reused, not regenerated");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&a.key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // No temporary files are left behind.
    let names: Vec<_> = std::fs::read_dir(&sub)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    tls::load_certified_key(&a).unwrap();
}

#[test]
fn pem_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = self_signed(dir.path(), "localhost");
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a pem file\n").unwrap();
    let missing = dir.path().join("missing.pem");

    let e = tls::load_certified_key(&CertPaths::new(&junk, &good.key)).unwrap_err();
    assert!(matches!(e, NetError::Pem { .. }), "{e}");
    assert!(e.to_string().contains("junk.pem"), "{e}");
    assert!(e.to_string().contains("no CERTIFICATE"), "{e}");

    let e = tls::load_certified_key(&CertPaths::new(&good.cert, &junk)).unwrap_err();
    assert!(e.to_string().contains("junk.pem") && e.to_string().contains("PRIVATE KEY"));

    let e = tls::load_certified_key(&CertPaths::new(&missing, &good.key)).unwrap_err();
    assert!(matches!(e, NetError::File { .. }), "{e}");
    assert!(e.to_string().contains("missing.pem"), "{e}");

    // A key that does not belong to the certificate.
    let other = self_signed(&dir.path().join("other"), "localhost");
    let e = tls::load_certified_key(&CertPaths::new(&good.cert, &other.key)).unwrap_err();
    assert!(e.to_string().contains("key.pem"), "{e}");
}

#[test]
fn only_tls12_and_tls13_configured() {
    let versions: Vec<ProtocolVersion> = tls::PROTOCOL_VERSIONS.iter().map(|v| v.version).collect();
    assert_eq!(versions.len(), 2);
    assert!(versions.contains(&ProtocolVersion::TLSv1_3));
    assert!(versions.contains(&ProtocolVersion::TLSv1_2));
    assert!(!versions.contains(&ProtocolVersion::TLSv1_1));
    assert!(!versions.contains(&ProtocolVersion::TLSv1_0));
}

#[tokio::test]
async fn implicit_tls_negotiates_13_and_12() {
    let dir = tempfile::tempdir().unwrap();
    let paths = self_signed(dir.path(), "news.example");
    let acceptor = acceptor_for(&paths, ClientCertPolicy::None);
    let trust = ServerTrust::Pinned(vec![fingerprint_of(&paths)]);

    let connector = tls::connector(&trust, None).unwrap();
    let (c, s) = tls_pair(&acceptor, &connector, "news.example").await;
    let (mut c, mut s) = (c.unwrap(), s.unwrap());
    let info = s.info().tls.clone().unwrap();
    assert_eq!(info.version, ProtocolVersion::TLSv1_3);
    assert_eq!(info.version_name(), "TLSv1.3");
    assert_eq!(info.server_name.as_deref(), Some("news.example"));
    assert_eq!(
        info.peer_fingerprint, None,
        "no client certificate was asked for"
    );
    assert_eq!(
        c.info().tls.as_ref().unwrap().peer_fingerprint,
        Some(fingerprint_of(&paths))
    );
    assert!(s.info().to_string().contains("TLSv1.3"), "{}", s.info());
    assert_eq!(
        c.info().tls.as_ref().unwrap().server_name.as_deref(),
        Some("news.example")
    );
    assert_eq!(s.info().transport, tidings_net::Transport::Tcp);
    ping(&mut c, &mut s).await;

    let only12 =
        tls::client_config_with_versions(&trust, None, &[&rustls::version::TLS12]).unwrap();
    let connector12 = TlsConnector::from(Arc::new(only12));
    let (c, s) = tls_pair(&acceptor, &connector12, "localhost").await;
    let (mut c, mut s) = (c.unwrap(), s.unwrap());
    let info = s.info().tls.clone().unwrap();
    assert_eq!(info.version, ProtocolVersion::TLSv1_2);
    assert!(
        info.cipher_name().contains("ECDHE"),
        "{}",
        info.cipher_name()
    );
    ping(&mut c, &mut s).await;
}

#[tokio::test]
async fn client_certificate_fingerprint_exposed() {
    let dir = tempfile::tempdir().unwrap();
    let server = self_signed(&dir.path().join("server"), "news.example");
    let peer = self_signed(&dir.path().join("peer"), "peer.example");
    let acceptor = acceptor_for(&server, ClientCertPolicy::Request);
    let trust = ServerTrust::Pinned(vec![fingerprint_of(&server)]);

    // With a client certificate: its fingerprint is exposed and matches.
    let connector = tls::connector(&trust, Some(&peer)).unwrap();
    let (c, s) = tls_pair(&acceptor, &connector, "news.example").await;
    let (mut c, mut s) = (c.unwrap(), s.unwrap());
    let seen = s.info().tls.as_ref().unwrap().peer_fingerprint.unwrap();
    assert_eq!(seen, fingerprint_of(&peer));
    let pinned: Fingerprint = fingerprint_of(&peer).to_string().parse().unwrap();
    assert!(seen.matches_any(&[fingerprint_of(&server), pinned]));
    let info = s.info().tls.clone().unwrap();
    assert!(info.peer_matches(&[pinned]));
    assert!(!info.peer_matches(&[fingerprint_of(&server)]));
    assert!(s.info().to_string().contains(&pinned.to_string()));
    ping(&mut c, &mut s).await;

    // Requested, not required: a client without one still gets in.
    let connector = tls::connector(&trust, None).unwrap();
    let (c, s) = tls_pair(&acceptor, &connector, "news.example").await;
    let (mut c, mut s) = (c.unwrap(), s.unwrap());
    assert_eq!(s.info().tls.as_ref().unwrap().peer_fingerprint, None);
    ping(&mut c, &mut s).await;
}

#[tokio::test]
async fn pinned_connector_accepts_right_rejects_other() {
    let dir = tempfile::tempdir().unwrap();
    let server = self_signed(&dir.path().join("a"), "news.example");
    let other = self_signed(&dir.path().join("b"), "news.example");
    let acceptor = acceptor_for(&server, ClientCertPolicy::None);

    // The name is not checked when pinning.
    let good = tls::connector(&ServerTrust::Pinned(vec![fingerprint_of(&server)]), None).unwrap();
    let (c, s) = tls_pair(&acceptor, &good, "unrelated.invalid").await;
    c.unwrap();
    s.unwrap();

    let bad = tls::connector(&ServerTrust::Pinned(vec![fingerprint_of(&other)]), None).unwrap();
    let (c, s) = tls_pair(&acceptor, &bad, "news.example").await;
    assert!(matches!(c.unwrap_err(), NetError::Handshake(_)));
    assert!(s.is_err());
}

#[tokio::test]
async fn ca_file_connector_verifies_chain_and_name() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, leaf) = ca_and_leaf(dir.path(), &["news.example", "127.0.0.1"]);
    let acceptor = acceptor_for(&leaf, ClientCertPolicy::None);
    let connector = tls::connector(&ServerTrust::CaFile(ca.clone()), None).unwrap();

    let (c, s) = tls_pair(&acceptor, &connector, "news.example").await;
    let (mut c, mut s) = (c.unwrap(), s.unwrap());
    ping(&mut c, &mut s).await;
    let (c, s) = tls_pair(&acceptor, &connector, "127.0.0.1").await;
    c.unwrap();
    s.unwrap();

    let (c, _s) = tls_pair(&acceptor, &connector, "wrong.example").await;
    let e = c.unwrap_err();
    assert!(e.to_string().to_lowercase().contains("name"), "{e}");

    // A self-signed server is not trusted by the CA file.
    let stranger = self_signed(&dir.path().join("s"), "news.example");
    let acceptor = acceptor_for(&stranger, ClientCertPolicy::None);
    let (c, _s) = tls_pair(&acceptor, &connector, "news.example").await;
    assert!(c.is_err());

    // A CA path that is not a certificate is an error naming it.
    let e = tls::connector(&ServerTrust::CaFile(leaf.key.clone()), None)
        .err()
        .unwrap();
    assert!(e.to_string().contains("leaf.key"), "{e}");
}

#[tokio::test]
async fn hot_reload_swaps_for_new_connections_only() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let first = self_signed(&live, "news.example");
    let fp1 = fingerprint_of(&first);
    let second = self_signed(&dir.path().join("next"), "news.example");
    let fp2 = fingerprint_of(&second);

    let resolver = Arc::new(CertResolver::new(first.clone()).unwrap());
    let acceptor = tls::acceptor(resolver.clone(), ClientCertPolicy::None).unwrap();
    let connector = tls::connector(&ServerTrust::Pinned(vec![fp1, fp2]), None).unwrap();

    let (c, s) = tls_pair(&acceptor, &connector, "news.example").await;
    let (mut old_c, mut old_s) = (c.unwrap(), s.unwrap());
    assert_eq!(
        old_c.info().tls.as_ref().unwrap().peer_fingerprint,
        Some(fp1)
    );

    // Nothing changed: no reload.
    assert!(!resolver.reload_if_changed().unwrap());

    // A broken certificate file keeps the old certificate and reports the error.
    std::fs::write(&first.cert, "-----BEGIN CERTIFICATE-----\nZZZ\n").unwrap();
    assert!(resolver.reload().is_err());
    assert_eq!(resolver.fingerprint(), Some(fp1));
    let (c, _) = tls_pair(&acceptor, &connector, "news.example").await;
    assert_eq!(
        c.unwrap().info().tls.as_ref().unwrap().peer_fingerprint,
        Some(fp1)
    );

    // The watcher picks up the new files.
    let shutdown = Shutdown::new();
    let watcher = resolver
        .clone()
        .spawn_watcher(Duration::from_millis(20), shutdown.signal());
    std::fs::copy(&second.key, &first.key).unwrap();
    std::fs::copy(&second.cert, &first.cert).unwrap();
    let deadline = tokio::time::Instant::now() + T;
    while resolver.fingerprint() != Some(fp2) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "watcher did not reload"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (c, s) = tls_pair(&acceptor, &connector, "news.example").await;
    let (mut new_c, mut new_s) = (c.unwrap(), s.unwrap());
    assert_eq!(
        new_c.info().tls.as_ref().unwrap().peer_fingerprint,
        Some(fp2)
    );
    ping(&mut new_c, &mut new_s).await;

    // The old connection still works.
    ping(&mut old_c, &mut old_s).await;

    shutdown.trigger();
    tokio::time::timeout(T, watcher).await.unwrap().unwrap();
}

#[tokio::test]
async fn handshake_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let paths = self_signed(dir.path(), "localhost");
    let acceptor = acceptor_for(&paths, ClientCertPolicy::None);
    let (_client, server) = tcp_pair().await;
    let started = std::time::Instant::now();
    let e = Stream::accept_tls(server, &acceptor, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(e, NetError::HandshakeTimeout), "{e}");
    assert!(started.elapsed() < T);
}
