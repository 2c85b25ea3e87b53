//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong while configuring TLS, upgrading a stream or running a listener.
///
/// Errors from reading and writing an established [`Stream`](crate::Stream) are plain
/// [`std::io::Error`]s, as `AsyncRead`/`AsyncWrite` require.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A PEM file could be read but its contents are unusable.
    #[error("{path}: {what}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        what: String,
    },
    /// The private key does not suit the certificate, or rustls rejected the configuration.
    #[error("TLS configuration: {0}")]
    TlsConfig(String),
    /// Generating a self-signed certificate failed.
    #[error("generating a self-signed certificate: {0}")]
    CertGen(#[from] rcgen::Error),
    /// A fingerprint is not of the form `sha256:<64 hex digits>`.
    #[error("bad fingerprint {0:?}: expected sha256:<64 hex digits>")]
    BadFingerprint(String),
    /// A host name is not valid as a TLS server name.
    #[error("bad TLS server name {0:?}")]
    BadServerName(String),
    /// The TLS handshake did not finish in time.
    #[error("TLS handshake timed out")]
    HandshakeTimeout,
    /// The TLS handshake failed.
    #[error("TLS handshake: {0}")]
    Handshake(#[source] std::io::Error),
    /// The stream is already encrypted (STARTTLS twice or on an NNTPS port).
    #[error("the stream is already using TLS")]
    AlreadyTls,
    /// The stream is already compressed (RFC 8054 forbids STARTTLS and a second COMPRESS after
    /// COMPRESS).
    #[error("the stream is already compressed")]
    AlreadyCompressed,
    /// A socket operation failed.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
}

impl NetError {
    pub(crate) fn file(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::File {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn pem(path: &std::path::Path, what: impl Into<String>) -> Self {
        Self::Pem {
            path: path.to_path_buf(),
            what: what.into(),
        }
    }
}
