//! The one error type of this crate.

use std::path::PathBuf;

/// Why a key, certificate or trust-list operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Reading or writing a key or certificate file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file that must not be overwritten already exists.
    #[error("{0} already exists; refusing to overwrite it")]
    AlreadyExists(PathBuf),
    /// A private key file is not a PKCS#8 Ed25519 or P-256 key.
    #[error("{path}: not a PKCS#8 Ed25519 or ECDSA P-256 private key")]
    UnsupportedPrivateKey {
        /// The file.
        path: PathBuf,
    },
    /// The PEM text is malformed or has the wrong label.
    #[error("malformed PEM: {0}")]
    Pem(String),
    /// Key generation or signing failed in the crypto library.
    #[error("cryptographic operation failed: {0}")]
    Crypto(&'static str),
    /// rcgen could not build a certificate.
    #[error("certificate generation failed: {0}")]
    Certificate(#[from] rcgen::Error),
    /// A certificate could not be parsed or does not follow the trustmark profile.
    #[error("certificate does not follow the trustmark profile: {0}")]
    Profile(String),
    /// A certificate's signature does not verify under the root.
    #[error("certificate is not signed by the given root")]
    NotSignedByRoot,
    /// A certificate signing request is malformed or outside the profile.
    #[error("certificate signing request: {0}")]
    Csr(String),
    /// A certificate signing request's signature does not verify under the key it carries.
    #[error("certificate signing request: the signature does not verify under the key it carries (the requester has not shown it holds the private key)")]
    CsrSignature,
    /// No key with this kid (hex) is held.
    #[error("no signing key with kid {0} is held here")]
    UnknownKid(String),
    /// A time is outside what certificates can carry.
    #[error("time {0} is out of range")]
    TimeOutOfRange(u64),
    /// The key store (a PKCS#11 token) is missing, logged out or failing; nothing was signed.
    /// Worth retrying later: the store reconnects by itself.
    #[error("signing key store unavailable: {0}")]
    Unavailable(String),
    /// The key store refused an operation, or its configuration is wrong.
    #[error("signing key store: {0}")]
    Store(String),
    /// Encoding a format failed.
    #[error(transparent)]
    Format(#[from] trustmark_format::FormatError),
}

impl KeyError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
