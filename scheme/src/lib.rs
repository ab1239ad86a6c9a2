//! The scheme operator's offline tool (`trustmark-scheme`, `spec/pki.md` section 10): it holds
//! the scheme root's private key, on a machine that never runs the issuer service, and does the
//! three things only the root may do:
//!
//! - [`init`]: make the root key and its self-signed certificate, with an explicit validity;
//! - [`accredit`]: issue a certifier's issuer certificate from its signing request (PKCS#10),
//!   with the scope and validity the operator decides;
//! - [`trust_list`]: sign the list of trusted issuer keys, with a sequence number that only
//!   grows (kept in the scheme directory) and an explicit validity.
//!
//! The root key is a PKCS#8 file (`root-key.pem`, mode 0600), or a key made inside a PKCS#11
//! token (`RootOptions::token`): then `root-key.token` names the token and the key's kid, and
//! the key never leaves the token (`spec/pki.md` 12.4).
//!
//! ```no_run
//! use trustmark_format::{Algorithm, UnixTime};
//! use trustmark_keys::Validity;
//! use trustmark_scheme::{init, RootOptions, SchemeDir};
//! let dir = SchemeDir::new("./scheme");
//! let root = init(&dir, &RootOptions {
//!     alg: Algorithm::EdDsa,
//!     common_name: "Example Scheme Root".into(),
//!     organization: "Example Scheme".into(),
//!     validity: Validity::days_from(UnixTime(1_796_000_000), 3650),
//!     token: None,
//! })?;
//! println!("root kid {}", hex::encode(&root.kid));
//! # Ok::<(), trustmark_scheme::SchemeError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::path::{Path, PathBuf};

use trustmark_format::{Algorithm, IssuerScope, UnixTime};
use trustmark_keys::{
    issuer_certificate, root_certificate, sign_trust_list, IssuerCertificate,
    IssuerCertificateRequest, KeyError, RootCertificate, SharedSigner, SignerProvider,
    SigningRequest, SoftwareKey, TrustListEntry, Validity,
};
use trustmark_pkcs11::{Token, TokenConfig, TokenProvider};

/// `root-key.token`: where the root key is when it is in a token (no PIN in it).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RootKeyInToken {
    /// The key's kid, hex.
    kid: String,
    /// The token.
    token: TokenConfigFile,
}

/// A token's configuration as written to `root-key.token`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenConfigFile {
    module: PathBuf,
    token_label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pin_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pin_env: Option<String>,
}

impl From<&TokenConfig> for TokenConfigFile {
    fn from(c: &TokenConfig) -> Self {
        Self {
            module: c.module.clone(),
            token_label: c.token_label.clone(),
            pin_file: c.pin_file.clone(),
            pin_env: c.pin_env.clone(),
        }
    }
}

impl From<TokenConfigFile> for TokenConfig {
    fn from(c: TokenConfigFile) -> Self {
        Self {
            module: c.module,
            token_label: c.token_label,
            pin_file: c.pin_file,
            pin_env: c.pin_env,
            sessions: Some(1),
        }
    }
}

/// Why an operation of the scheme tool failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchemeError {
    /// A key, certificate, request or trust-list operation failed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Reading or writing a file of the scheme directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The scheme directory has no root yet.
    #[error("{0} has no scheme root: run `trustmark-scheme init` first")]
    NoRoot(PathBuf),
    /// The root key does not belong to the root certificate.
    #[error("{key} does not match {certificate}")]
    KeyMismatch {
        /// The key file.
        key: PathBuf,
        /// The certificate file.
        certificate: PathBuf,
    },
    /// A trust list's sequence number must be above every earlier one.
    #[error("trust-list sequence {sequence} is not above the last one signed here ({last}): verifiers would refuse it as a rollback")]
    SequenceNotIncreasing {
        /// The sequence asked for.
        sequence: u64,
        /// The last one signed.
        last: u64,
    },
    /// The state of the scheme directory is unreadable.
    #[error("{path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An argument is out of range.
    #[error("{0}")]
    Invalid(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SchemeError + '_ {
    move |source| SchemeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The scheme operator's directory: the root key (mode 0600), the root certificate, and the
/// last trust-list sequence number signed.
#[derive(Debug, Clone)]
pub struct SchemeDir {
    dir: PathBuf,
}

impl SchemeDir {
    /// The directory at `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// `root-key.pem`: the root private key (PKCS#8).
    pub fn root_key(&self) -> PathBuf {
        self.dir.join("root-key.pem")
    }

    /// `root.pem`: the root certificate.
    pub fn root_cert(&self) -> PathBuf {
        self.dir.join("root.pem")
    }

    /// `root-key.token`: where the root key is, when it is kept in a PKCS#11 token.
    pub fn root_key_in_token(&self) -> PathBuf {
        self.dir.join("root-key.token")
    }

    /// `trust-list.sequence`: the last trust-list sequence number signed, in decimal.
    pub fn sequence(&self) -> PathBuf {
        self.dir.join("trust-list.sequence")
    }

    /// The root certificate and its key (a file, or a key in a token), checked to belong
    /// together.
    pub fn load(&self) -> Result<(RootCertificate, SharedSigner), SchemeError> {
        let cert_path = self.root_cert();
        if !cert_path.exists() {
            return Err(SchemeError::NoRoot(self.dir.clone()));
        }
        let pem = std::fs::read_to_string(&cert_path).map_err(io(&cert_path))?;
        let root = RootCertificate::from_pem(&pem)?;
        let in_token = self.root_key_in_token();
        let (key, key_path): (SharedSigner, PathBuf) = if in_token.exists() {
            (self.token_root_key(&in_token)?, in_token)
        } else {
            (
                std::sync::Arc::new(SoftwareKey::read_pem_file(&self.root_key())?),
                self.root_key(),
            )
        };
        if key.public_key() != root.public_key.as_slice() {
            return Err(SchemeError::KeyMismatch {
                key: key_path,
                certificate: cert_path,
            });
        }
        Ok((root, key))
    }

    /// The root key named by `root-key.token`, from its token.
    fn token_root_key(&self, path: &Path) -> Result<SharedSigner, SchemeError> {
        let corrupt = |reason: String| SchemeError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(io(path))?;
        let found: RootKeyInToken = toml::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        let kid = hex::decode(&found.kid)
            .map_err(|_| corrupt(format!("kid {:?} is not hex", found.kid)))?;
        let provider = TokenProvider::new(std::sync::Arc::new(Token::new(found.token.into())?));
        Ok(provider.signer(&kid)?)
    }

    /// The last trust-list sequence number signed here (0 if none).
    pub fn last_sequence(&self) -> Result<u64, SchemeError> {
        let path = self.sequence();
        match std::fs::read_to_string(&path) {
            Ok(text) => text.trim().parse().map_err(|_| SchemeError::Corrupt {
                path,
                reason: format!("not a sequence number: {:?}", text.trim()),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// Records `sequence` as the last one signed: written to a temporary file, synced, then
    /// renamed over the old one, so a crash leaves the old or the new number, never neither.
    fn record_sequence(&self, sequence: u64) -> Result<(), SchemeError> {
        use std::io::Write;
        let path = self.sequence();
        let temp = self.dir.join("trust-list.sequence.tmp");
        let mut file = std::fs::File::create(&temp).map_err(io(&temp))?;
        file.write_all(format!("{sequence}\n").as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io(&temp))?;
        std::fs::rename(&temp, &path).map_err(io(&path))?;
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))
    }
}

/// What [`init`] makes.
#[derive(Debug, Clone)]
pub struct RootOptions {
    /// Ed25519 or ES256.
    pub alg: Algorithm,
    /// The root certificate's common name.
    pub common_name: String,
    /// Its organisation: the scheme.
    pub organization: String,
    /// Its validity (explicit: there is no default).
    pub validity: Validity,
    /// Make the key inside this PKCS#11 token instead of a file.
    pub token: Option<TokenConfig>,
}

/// Makes the root key and certificate in `dir` (created if missing). Refuses if either file
/// exists: a root is made once.
pub fn init(dir: &SchemeDir, options: &RootOptions) -> Result<RootCertificate, SchemeError> {
    for existing in [dir.root_key(), dir.root_key_in_token(), dir.root_cert()] {
        if existing.exists() {
            return Err(KeyError::AlreadyExists(existing).into());
        }
    }
    std::fs::create_dir_all(&dir.dir).map_err(io(&dir.dir))?;
    let sign_with = |key: &dyn trustmark_keys::Signer| {
        root_certificate(
            key,
            &options.common_name,
            &options.organization,
            options.validity,
        )
    };
    // The key first: a certificate without its key would be a root nobody can use.
    let pem = match &options.token {
        Some(token) => {
            let provider = TokenProvider::new(std::sync::Arc::new(Token::new(token.clone())?));
            let key = provider.generate(options.alg)?;
            let pem = sign_with(key.as_ref())?;
            let record = RootKeyInToken {
                kid: hex::encode(key.kid()),
                token: token.into(),
            };
            let text = toml::to_string(&record)
                .map_err(|e| SchemeError::Invalid(format!("root-key.token: {e}")))?;
            trustmark_keys::files::write_new(&dir.root_key_in_token(), text.as_bytes(), 0o600)?;
            pem
        }
        None => {
            let key = SoftwareKey::generate(options.alg)?;
            let pem = sign_with(&key)?;
            key.write_pem_file(&dir.root_key())?;
            pem
        }
    };
    trustmark_keys::files::write_new(&dir.root_cert(), pem.as_bytes(), 0o644)?;
    Ok(RootCertificate::from_pem(&pem)?)
}

/// What [`accredit`] certifies: the operator's decision, not the requester's.
#[derive(Debug, Clone)]
pub struct Accreditation {
    /// Frameworks with their maximum class, and the assurances allowed.
    pub scope: IssuerScope,
    /// The certificate's validity; must lie within the root's.
    pub validity: Validity,
}

/// An issued issuer certificate.
#[derive(Debug, Clone)]
pub struct Accredited {
    /// The certificate, PEM.
    pub pem: String,
    /// What it says, read back and verified under the root.
    pub certificate: IssuerCertificate,
}

/// Issues the issuer certificate for a signing request (PEM): the request's signature must
/// verify under the key it carries; the subject (CN, O) comes from the request, the scope and
/// validity from `accreditation`.
pub fn accredit(
    dir: &SchemeDir,
    request_pem: &str,
    accreditation: &Accreditation,
) -> Result<Accredited, SchemeError> {
    let (root, root_key) = dir.load()?;
    let request = SigningRequest::from_pem(request_pem)?;
    let organization = request
        .organization
        .clone()
        .unwrap_or_else(|| request.common_name.clone());
    let pem = issuer_certificate(
        &IssuerCertificateRequest {
            alg: request.alg,
            public_key: &request.public_key,
            common_name: &request.common_name,
            organization: &organization,
            scope: &accreditation.scope,
            validity: accreditation.validity,
        },
        &root.to_pem(),
        root_key.as_ref(),
    )?;
    let certificate = IssuerCertificate::from_pem(&pem, &root)?;
    Ok(Accredited { pem, certificate })
}

/// One issuer key of a trust list.
#[derive(Debug, Clone)]
pub struct ListedIssuer {
    /// Its certificate, PEM; must be signed by this scheme's root.
    pub certificate_pem: String,
    /// Where it publishes its status list.
    pub status_list_uri: Option<String>,
    /// Withdraws the accreditation for the future: the entry's validity ends at this time
    /// (marks signed before stay valid). `None`: the certificate's validity.
    pub withdrawn_at: Option<UnixTime>,
}

/// What [`trust_list`] signs.
#[derive(Debug, Clone)]
pub struct TrustListOptions {
    /// The issuers.
    pub issuers: Vec<ListedIssuer>,
    /// The sequence number; `None`: one above the last signed here, and at least `issued_at`
    /// (so that lists signed elsewhere before with time-based numbers stay below).
    pub sequence: Option<u64>,
    /// When it is signed.
    pub issued_at: UnixTime,
    /// When it expires.
    pub expires_at: UnixTime,
}

/// A signed trust list.
#[derive(Debug, Clone)]
pub struct SignedTrustList {
    /// The COSE_Sign1 bytes.
    pub bytes: Vec<u8>,
    /// Its sequence number.
    pub sequence: u64,
}

/// Signs a trust list of `options.issuers` with the root key, after checking every certificate
/// under the root, and records its sequence number, which must be above the last one signed
/// here.
pub fn trust_list(
    dir: &SchemeDir,
    options: &TrustListOptions,
) -> Result<SignedTrustList, SchemeError> {
    let (root, root_key) = dir.load()?;
    if options.expires_at <= options.issued_at {
        return Err(SchemeError::Invalid(
            "a trust list must expire after it is issued".into(),
        ));
    }
    let certificates = options
        .issuers
        .iter()
        .map(|issuer| IssuerCertificate::from_pem(&issuer.certificate_pem, &root))
        .collect::<Result<Vec<_>, _>>()?;
    let last = dir.last_sequence()?;
    let sequence = options
        .sequence
        .unwrap_or_else(|| (last + 1).max(options.issued_at.0));
    if sequence <= last {
        return Err(SchemeError::SequenceNotIncreasing { sequence, last });
    }
    let entries: Vec<TrustListEntry<'_>> = certificates
        .iter()
        .zip(&options.issuers)
        .map(|(certificate, issuer)| TrustListEntry {
            certificate,
            status_list_uri: issuer.status_list_uri.clone(),
            withdrawn_at: issuer.withdrawn_at,
        })
        .collect();
    let bytes = sign_trust_list(
        root_key.as_ref(),
        &entries,
        sequence,
        options.issued_at,
        options.expires_at,
    )?;
    // Checked as a verifier would before it is recorded and handed out.
    let anchor = trustmark_verifier::TrustAnchor {
        alg: root.alg,
        public_key: root.public_key.clone(),
    };
    trustmark_verifier::TrustStore::from_signed(
        &bytes,
        &anchor,
        options.issued_at,
        &trustmark_verifier::RING,
    )
    .map_err(|e| SchemeError::Invalid(format!("the signed trust list does not verify: {e}")))?;
    dir.record_sequence(sequence)?;
    Ok(SignedTrustList { bytes, sequence })
}

#[cfg(test)]
mod tests;
