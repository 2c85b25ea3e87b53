//! Helpers shared by the integration tests: certificates and loopback TLS pairs.
#![allow(dead_code, clippy::unwrap_used, missing_docs)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use tidings_net::tls::{self, CertPaths, CertResolver, ClientCertPolicy};
use tidings_net::{Fingerprint, Stream};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

pub const T: Duration = Duration::from_secs(5);

/// A self-signed certificate for `name` (plus localhost and the loopback addresses) in `dir`.
pub fn self_signed(dir: &Path, name: &str) -> CertPaths {
    tls::ensure_self_signed(dir, name).unwrap()
}

pub fn fingerprint_of(paths: &CertPaths) -> Fingerprint {
    let certs = tls::load_certs(&paths.cert).unwrap();
    Fingerprint::of_der(&certs[0])
}

/// A test CA (its PEM written to `dir/ca.pem`) and a leaf for `names` signed by it.
pub fn ca_and_leaf(dir: &Path, names: &[&str]) -> (std::path::PathBuf, CertPaths) {
    std::fs::create_dir_all(dir).unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "Tidings Test CA");
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let leaf = CertificateParams::new(names)
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, ca.pem()).unwrap();
    let paths = CertPaths::new(dir.join("leaf.pem"), dir.join("leaf.key"));
    std::fs::write(&paths.cert, leaf.pem()).unwrap();
    std::fs::write(&paths.key, leaf_key.serialize_pem()).unwrap();
    (ca_path, paths)
}

pub fn acceptor_for(paths: &CertPaths, policy: ClientCertPolicy) -> TlsAcceptor {
    let resolver = Arc::new(CertResolver::new(paths.clone()).unwrap());
    tls::acceptor(resolver, policy).unwrap()
}

/// A connected loopback TCP pair (client, server).
pub async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, server) = tokio::join!(TcpStream::connect(addr), listener.accept());
    (client.unwrap(), server.unwrap().0)
}

/// Implicit TLS over loopback: (client result, server result).
pub async fn tls_pair(
    acceptor: &TlsAcceptor,
    connector: &TlsConnector,
    name: &str,
) -> (
    Result<Stream, tidings_net::NetError>,
    Result<Stream, tidings_net::NetError>,
) {
    let (c, s) = tcp_pair().await;
    let name = tls::server_name(name).unwrap();
    tokio::join!(
        Stream::connect_tls(c, connector, name, T),
        Stream::accept_tls(s, acceptor, T)
    )
}
