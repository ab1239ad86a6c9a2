//! The scheme the service issues under (`spec/pki.md` 11.1): the root certificate it was
//! configured with (production: the root key stays with the operator's `trustmark-scheme`), or,
//! with none configured, a development scheme of its own in `DIR/dev-scheme/`, run with the same
//! library the operator's tool uses. Also the trust list in force: accepting an uploaded or
//! polled list, and restoring the stored one at start.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use trustmark_domain::{AcceptedTrustList, DomainError};
use trustmark_format::{TrustList, UnixTime};
use trustmark_keys::RootCertificate;
use trustmark_scheme::SchemeDir;
use trustmark_verifier::{SignatureVerifier, TrustAnchor};

use super::config::ServiceConfig;
use super::state::InForce;

/// The development scheme's directory under the data directory.
pub const DEV_SCHEME_DIR: &str = "dev-scheme";

/// How the service got its root.
#[derive(Debug)]
pub enum Mode {
    /// No root configured: a development scheme whose root key is in `DIR/dev-scheme/`. The
    /// service accredits every certifier itself and re-signs the trust list when it changes.
    Development {
        /// The scheme directory.
        dir: SchemeDir,
        /// Held while accrediting and publishing, so lists are signed one at a time.
        lock: tokio::sync::Mutex<()>,
    },
    /// A root certificate configured: the operator accredits and publishes offline.
    Operator,
}

/// The scheme root and how the service got it.
#[derive(Debug)]
pub struct Scheme {
    /// The root certificate.
    pub root: RootCertificate,
    /// The same, PEM (served at `/v1/pki/root.pem`).
    pub root_pem: String,
    /// Its trust anchor.
    pub anchor: TrustAnchor,
    /// Development or operator.
    pub mode: Mode,
}

/// Files holding a root private key that a production service must not be able to read.
fn root_key_files(data_dir: &Path, root_certificate: &Path) -> Vec<PathBuf> {
    let mut files = vec![
        data_dir.join(DEV_SCHEME_DIR).join("root-key.pem"),
        data_dir.join("pki").join("root.key.pem"),
    ];
    if let Some(dir) = root_certificate.parent() {
        files.push(dir.join("root-key.pem"));
        files.push(dir.join("root.key.pem"));
    }
    files
}

impl Scheme {
    /// The scheme of `config`: the configured root, or the development scheme (made on the
    /// first start).
    pub fn open(config: &ServiceConfig, now: UnixTime) -> anyhow::Result<Self> {
        let data_dir = &config.data_dir;
        let legacy = data_dir.join("pki");
        if legacy.join("issuer.key.pem").exists() {
            anyhow::bail!(
                "{} holds a development PKI of `trustmark-issuer init` or of an earlier service, whose one issuer key all certifiers shared; the service now gives every certifier its own key and keeps its development scheme in {}. Use another data directory for `serve` (this one stays usable by the offline commands)",
                legacy.display(),
                data_dir.join(DEV_SCHEME_DIR).display()
            );
        }
        let (root_pem, mode) = match &config.scheme.root_certificate {
            None => {
                let dir = SchemeDir::new(data_dir.join(DEV_SCHEME_DIR));
                if !dir.root_cert().exists() {
                    trustmark_scheme::init(
                        &dir,
                        &trustmark_scheme::RootOptions {
                            alg: trustmark_format::Algorithm::EdDsa,
                            common_name: "trustmark DEVELOPMENT root (not for production)".into(),
                            organization: "trustmark development scheme".into(),
                            validity: trustmark_keys::Validity::days_from(now, 3650),
                            token: None,
                        },
                    )?;
                    tracing::warn!(
                        "created a DEVELOPMENT scheme in {}: its root key is on this machine, so marks issued here prove nothing; configure scheme.root_certificate for production",
                        dir.root_cert().parent().map_or_else(String::new, |p| p.display().to_string())
                    );
                }
                let pem = std::fs::read_to_string(dir.root_cert())
                    .with_context(|| dir.root_cert().display().to_string())?;
                let lock = tokio::sync::Mutex::new(());
                (pem, Mode::Development { dir, lock })
            }
            Some(path) => {
                for file in root_key_files(data_dir, path) {
                    if std::fs::File::open(&file).is_ok() {
                        anyhow::bail!(
                            "{} is a scheme root private key this service can read; outside development mode the root key stays offline with `trustmark-scheme` (move it off this machine, or remove scheme.root_certificate to run a development scheme)",
                            file.display()
                        );
                    }
                }
                let pem = std::fs::read_to_string(path)
                    .with_context(|| format!("scheme.root_certificate {}", path.display()))?;
                (pem, Mode::Operator)
            }
        };
        let root = RootCertificate::from_pem(&root_pem).context("the scheme root certificate")?;
        let anchor = TrustAnchor {
            alg: root.alg,
            public_key: root.public_key.clone(),
        };
        Ok(Self {
            root,
            root_pem,
            anchor,
            mode,
        })
    }

    /// Whether this is a development scheme.
    pub fn is_development(&self) -> bool {
        matches!(self.mode, Mode::Development { .. })
    }

    /// Accepts `bytes` as the next trust list at `now` (`current`: the sequence in force).
    pub fn accept(
        &self,
        bytes: Vec<u8>,
        current: Option<u64>,
        now: UnixTime,
        crypto: &'static dyn SignatureVerifier,
    ) -> Result<Arc<InForce>, DomainError> {
        let (accepted, store) =
            AcceptedTrustList::accept(bytes, &self.anchor, current, now, crypto)?;
        Ok(Arc::new(InForce { accepted, store }))
    }

    /// The stored list in force, checked again under the root at start. It was current when it
    /// was accepted; if it expired since, it is still the list in force (verification then
    /// fails with `trust_list_expired` and `/healthz` says so) until a newer one arrives.
    pub fn restore(
        &self,
        bytes: Vec<u8>,
        crypto: &'static dyn SignatureVerifier,
    ) -> Result<Arc<InForce>, DomainError> {
        let issued_at = TrustList::parse_signed(&bytes)
            .and_then(|signed| TrustList::from_cbor(signed.payload()))
            .map_err(|e| DomainError::TrustList(e.to_string()))?
            .issued_at;
        let (accepted, store) =
            AcceptedTrustList::accept(bytes, &self.anchor, None, issued_at, crypto)?;
        Ok(Arc::new(InForce { accepted, store }))
    }
}
