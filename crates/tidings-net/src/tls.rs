//! TLS configuration with rustls and the *ring* provider, TLS 1.2 and 1.3 only.
//!
//! - [`load_certified_key`] reads a certificate chain and a private key from PEM files.
//! - [`ensure_self_signed`] makes (once) and reuses a self-signed certificate when none is
//!   configured.
//! - [`CertResolver`] holds the server's current certificate and swaps it on
//!   [`reload`](CertResolver::reload); [`CertResolver::spawn_watcher`] polls the files.
//! - [`server_config`] builds a server configuration that may *request* (never require) a client
//!   certificate and accepts any well-formed one ([`AcceptAnyClientCert`]); the application
//!   matches its [`Fingerprint`] against its pinned peers after the handshake.
//! - [`client_config`] builds a feeder's configuration that verifies the server against a CA file
//!   (webpki, with the name) or a pinned fingerprint (no name check), optionally presenting a
//!   client certificate.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ParsedCertificate, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{
    ClientConfig, DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme,
    SupportedProtocolVersion,
};
use tokio::task::JoinHandle;

use crate::{Fingerprint, NetError, ShutdownSignal};

/// The protocol versions this crate speaks: TLS 1.3 and TLS 1.2. Nothing older.
pub static PROTOCOL_VERSIONS: &[&SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// The *ring* crypto provider every configuration of this crate uses (made once, then shared).
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: std::sync::OnceLock<Arc<CryptoProvider>> = std::sync::OnceLock::new();
    Arc::clone(PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())))
}

/// Where a certificate chain and its private key live (both PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertPaths {
    /// The certificate chain, end-entity certificate first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl CertPaths {
    /// Both paths.
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        Self {
            cert: cert.into(),
            key: key.into(),
        }
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, NetError> {
    fs::read(path).map_err(|e| NetError::file(path, e))
}

/// Reads every certificate of a PEM file (other PEM sections are skipped).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, NetError> {
    let pem = read_file(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| NetError::pem(path, format!("bad PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(NetError::pem(path, "no CERTIFICATE section found"));
    }
    Ok(certs)
}

/// Reads the first private key of a PEM file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, NetError> {
    let pem = read_file(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => NetError::pem(
            path,
            "no PRIVATE KEY section found (encrypted keys are not supported)",
        ),
        e => NetError::pem(path, format!("bad PEM private key: {e}")),
    })
}

/// Reads a chain and its key and checks that they belong together.
pub fn load_certified_key(paths: &CertPaths) -> Result<CertifiedKey, NetError> {
    let certs = load_certs(&paths.cert)?;
    let key = load_key(&paths.key)?;
    ParsedCertificate::try_from(&certs[0])
        .map_err(|e| NetError::pem(&paths.cert, format!("unusable certificate: {e}")))?;
    CertifiedKey::from_der(certs, key, &provider()).map_err(|e| {
        NetError::pem(
            &paths.key,
            format!("key unusable with {}: {e}", paths.cert.display()),
        )
    })
}

/// Returns `dir/cert.pem` and `dir/key.pem`, generating a self-signed certificate there first if
/// either is missing.
///
/// The certificate names `host`, `localhost`, `127.0.0.1` and `::1`. The key file is created
/// with mode 0600. Each file is written to a temporary name, fsynced and renamed, then the
/// directory is fsynced, so a crash leaves either the old state or the complete new one.
/// An existing pair is reused as is (not validated here: loading it does that).
pub fn ensure_self_signed(dir: &Path, host: &str) -> Result<CertPaths, NetError> {
    let paths = CertPaths::new(dir.join("cert.pem"), dir.join("key.pem"));
    if paths.cert.exists() && paths.key.exists() {
        return Ok(paths);
    }
    fs::create_dir_all(dir).map_err(|e| NetError::file(dir, e))?;
    let mut names = vec![host.to_owned()];
    for n in ["localhost", "127.0.0.1", "::1"] {
        if !names.iter().any(|h| h.eq_ignore_ascii_case(n)) {
            names.push(n.to_owned());
        }
    }
    let generated = rcgen::generate_simple_self_signed(names)?;
    // Key first: a crash between the two renames leaves no certificate, so the next start
    // regenerates both rather than pairing a new certificate with an old key.
    write_atomically(
        &paths.key,
        generated.signing_key.serialize_pem().as_bytes(),
        0o600,
    )?;
    write_atomically(&paths.cert, generated.cert.pem().as_bytes(), 0o644)?;
    sync_dir(dir)?;
    Ok(paths)
}

fn write_atomically(path: &Path, data: &[u8], mode: u32) -> Result<(), NetError> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let _ = fs::remove_file(&tmp);
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let result = (|| {
        let mut f = opts.open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(NetError::file(path, e));
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), NetError> {
    #[cfg(unix)]
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| NetError::file(dir, e))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let m = fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// The server's certificate, swappable while the server runs (hot reload).
///
/// New handshakes use whatever [`current`](Self::current) is at the time; connections already
/// established keep the certificate they were made with.
#[derive(Debug)]
pub struct CertResolver {
    paths: CertPaths,
    current: RwLock<Arc<CertifiedKey>>,
    last_seen: Mutex<(Stamp, Stamp)>,
}

impl CertResolver {
    /// Loads the certificate and key.
    pub fn new(paths: CertPaths) -> Result<Self, NetError> {
        let stamps = (stamp(&paths.cert), stamp(&paths.key));
        let key = load_certified_key(&paths)?;
        Ok(Self {
            paths,
            current: RwLock::new(Arc::new(key)),
            last_seen: Mutex::new(stamps),
        })
    }

    /// The files this resolver reads.
    pub fn paths(&self) -> &CertPaths {
        &self.paths
    }

    /// The certificate new handshakes get.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The fingerprint of the current end-entity certificate.
    pub fn fingerprint(&self) -> Option<Fingerprint> {
        self.current().cert.first().map(|c| Fingerprint::of_der(c))
    }

    /// Re-reads the files and swaps the certificate in if they load. On error the old
    /// certificate stays in use and the error is returned.
    pub fn reload(&self) -> Result<(), NetError> {
        let stamps = (stamp(&self.paths.cert), stamp(&self.paths.key));
        *self
            .last_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = stamps;
        let key = Arc::new(load_certified_key(&self.paths)?);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = key;
        Ok(())
    }

    /// Reloads if either file's modification time or size changed since the last load attempt.
    /// Returns `Ok(true)` if a new certificate was swapped in. A broken file is tried once per
    /// change, not on every call.
    pub fn reload_if_changed(&self) -> Result<bool, NetError> {
        let stamps = (stamp(&self.paths.cert), stamp(&self.paths.key));
        let changed = *self
            .last_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            != stamps;
        if changed {
            self.reload()?;
        }
        Ok(changed)
    }

    /// Spawns a task that calls [`reload_if_changed`](Self::reload_if_changed) every `every`
    /// until `shutdown` fires. Failures are logged (tracing `warn`) and keep the old certificate.
    pub fn spawn_watcher(
        self: Arc<Self>,
        every: Duration,
        mut shutdown: ShutdownSignal,
    ) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = shutdown.wait() => break,
                    _ = tick.tick() => {}
                }
                let me = Arc::clone(&self);
                let result = tokio::task::spawn_blocking(move || me.reload_if_changed()).await;
                match result {
                    Ok(Ok(true)) => {
                        tracing::info!(cert = %self.paths.cert.display(), "TLS certificate reloaded");
                    }
                    Ok(Ok(false)) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "TLS certificate reload failed; keeping the old one");
                    }
                    Err(e) => tracing::warn!(error = %e, "TLS certificate reload task failed"),
                }
            }
        })
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// Whether a server asks TLS clients for a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientCertPolicy {
    /// Never ask (readers' ports).
    #[default]
    None,
    /// Ask, do not require, accept any well-formed certificate (peers' ports); the application
    /// matches [`TlsInfo::peer_fingerprint`](crate::TlsInfo::peer_fingerprint) against its pins.
    Request,
}

/// A client-certificate verifier that requests but does not require a certificate and accepts
/// any well-formed one whose handshake signature verifies. Trust is decided by the application
/// from the certificate's fingerprint, not here.
#[derive(Debug)]
pub struct AcceptAnyClientCert {
    algs: WebPkiSupportedAlgorithms,
}

impl AcceptAnyClientCert {
    /// Uses the *ring* provider's signature algorithms.
    pub fn new() -> Self {
        Self {
            algs: provider().signature_verification_algorithms,
        }
    }
}

impl Default for AcceptAnyClientCert {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientCertVerifier for AcceptAnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        ParsedCertificate::try_from(end_entity)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// A server configuration (TLS 1.2 and 1.3, *ring*) answering with `certs`' current certificate.
pub fn server_config(
    certs: Arc<dyn ResolvesServerCert>,
    client_certs: ClientCertPolicy,
) -> Result<ServerConfig, NetError> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(PROTOCOL_VERSIONS)
        .map_err(|e| NetError::TlsConfig(e.to_string()))?;
    let builder = match client_certs {
        ClientCertPolicy::None => builder.with_no_client_auth(),
        ClientCertPolicy::Request => {
            builder.with_client_cert_verifier(Arc::new(AcceptAnyClientCert::new()))
        }
    };
    Ok(builder.with_cert_resolver(certs))
}

/// A `tokio-rustls` acceptor over [`server_config`].
pub fn acceptor(
    certs: Arc<dyn ResolvesServerCert>,
    client_certs: ClientCertPolicy,
) -> Result<tokio_rustls::TlsAcceptor, NetError> {
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(server_config(
        certs,
        client_certs,
    )?)))
}

/// How a TLS client (a feeder) decides to trust the server.
#[derive(Debug, Clone)]
pub enum ServerTrust {
    /// Verify the chain against the CA certificates of this PEM file, and the name (webpki).
    CaFile(PathBuf),
    /// Accept exactly the end-entity certificates with these fingerprints; the name and the
    /// validity dates are not checked (the handshake signature still is).
    Pinned(Vec<Fingerprint>),
}

/// A server verifier that accepts certificates by SHA-256 fingerprint.
#[derive(Debug)]
pub struct PinnedServerVerifier {
    pins: Vec<Fingerprint>,
    algs: WebPkiSupportedAlgorithms,
}

impl PinnedServerVerifier {
    /// Accepts exactly these fingerprints.
    pub fn new(pins: Vec<Fingerprint>) -> Self {
        Self {
            pins,
            algs: provider().signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for PinnedServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if Fingerprint::of_der(end_entity).matches_any(&self.pins) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// A client configuration (TLS 1.2 and 1.3, *ring*).
pub fn client_config(
    trust: &ServerTrust,
    client_cert: Option<&CertPaths>,
) -> Result<ClientConfig, NetError> {
    client_config_with_versions(trust, client_cert, PROTOCOL_VERSIONS)
}

/// [`client_config`] limited to some protocol versions (e.g. only TLS 1.2 for a test or an old
/// peer).
pub fn client_config_with_versions(
    trust: &ServerTrust,
    client_cert: Option<&CertPaths>,
    versions: &[&'static SupportedProtocolVersion],
) -> Result<ClientConfig, NetError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .map_err(|e| NetError::TlsConfig(e.to_string()))?;
    let builder = match trust {
        ServerTrust::CaFile(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in load_certs(path)? {
                roots
                    .add(cert)
                    .map_err(|e| NetError::pem(path, format!("unusable CA certificate: {e}")))?;
            }
            builder.with_root_certificates(roots)
        }
        ServerTrust::Pinned(pins) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedServerVerifier::new(pins.clone()))),
    };
    match client_cert {
        None => Ok(builder.with_no_client_auth()),
        Some(paths) => {
            let certs = load_certs(&paths.cert)?;
            let key = load_key(&paths.key)?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| NetError::pem(&paths.key, format!("client key unusable: {e}")))
        }
    }
}

/// A `tokio-rustls` connector over [`client_config`].
pub fn connector(
    trust: &ServerTrust,
    client_cert: Option<&CertPaths>,
) -> Result<tokio_rustls::TlsConnector, NetError> {
    Ok(tokio_rustls::TlsConnector::from(Arc::new(client_config(
        trust,
        client_cert,
    )?)))
}

/// Parses a host name or IP address as a TLS server name.
pub fn server_name(host: &str) -> Result<ServerName<'static>, NetError> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned()).map_err(|_| NetError::BadServerName(host.to_owned()))
}
