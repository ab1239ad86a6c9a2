//! A development PKI on disk: one scheme root and one issuer, for demos, tests and a first
//! start of the issuer service. Production roots are made offline by the scheme operator.
//!
//! Layout under `DIR/pki/`: `root.pem`, `root.key.pem`, `issuer.pem`, `issuer.key.pem` (private
//! keys PKCS#8 PEM, mode 0600) and `trust-list.cbor`.

use std::path::{Path, PathBuf};

use trustmark_format::{Algorithm, Assurance, FrameworkId, FrameworkScope, IssuerScope, UnixTime};

use crate::{
    files, issuer_certificate, root_certificate, sign_trust_list, IssuerCertificate,
    IssuerCertificateRequest, KeyError, RootCertificate, SoftwareKey, TrustListEntry, Validity,
};

/// Root CA lifetime in the dev PKI.
pub const ROOT_DAYS: u64 = 3650;
/// Issuer certificate lifetime in the dev PKI.
pub const ISSUER_DAYS: u64 = 1095;
/// Trust-list lifetime: verifiers refuse a list after this, so a deployment re-signs well before.
pub const TRUST_LIST_DAYS: u64 = 90;

/// The accreditation of development issuers: IoTSF up to class 4, ETSI EN 303 645 and UK PSTI
/// up to class 1, both assurances (the issuer service narrows the assurances to the
/// certifier's own).
pub fn development_scope() -> IssuerScope {
    IssuerScope {
        frameworks: vec![
            FrameworkScope {
                framework: FrameworkId::IOTSF_ICAF,
                max_class: 4,
            },
            FrameworkScope {
                framework: FrameworkId::ETSI_EN_303_645,
                max_class: 1,
            },
            FrameworkScope {
                framework: FrameworkId::UK_PSTI,
                max_class: 1,
            },
        ],
        assurances: vec![Assurance::SelfAssessment, Assurance::ThirdParty],
    }
}

/// File locations of a PKI under a data directory.
#[derive(Debug, Clone)]
pub struct PkiPaths {
    dir: PathBuf,
}

impl PkiPaths {
    /// The PKI under `data_dir/pki`.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join("pki"),
        }
    }
    /// The `pki` directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// Root certificate.
    pub fn root_cert(&self) -> PathBuf {
        self.dir.join("root.pem")
    }
    /// Root private key.
    pub fn root_key(&self) -> PathBuf {
        self.dir.join("root.key.pem")
    }
    /// Issuer certificate.
    pub fn issuer_cert(&self) -> PathBuf {
        self.dir.join("issuer.pem")
    }
    /// Issuer private key.
    pub fn issuer_key(&self) -> PathBuf {
        self.dir.join("issuer.key.pem")
    }
    /// Signed trust list.
    pub fn trust_list(&self) -> PathBuf {
        self.dir.join("trust-list.cbor")
    }
}

/// Choices for a new dev PKI.
#[derive(Debug, Clone)]
pub struct DevPkiOptions {
    /// Algorithm of both keys.
    pub alg: Algorithm,
    /// Start of validity of everything created.
    pub now: UnixTime,
    /// Issuer (certifier) name.
    pub issuer_name: String,
    /// Issuer accreditation scope.
    pub scope: IssuerScope,
    /// Where the issuer publishes status lists.
    pub status_list_uri: Option<String>,
}

impl DevPkiOptions {
    /// Ed25519, a test lab accredited for every registered framework at every class, both
    /// assurance levels.
    pub fn new(now: UnixTime) -> Self {
        Self {
            alg: Algorithm::EdDsa,
            now,
            issuer_name: "Dev Test Lab".into(),
            scope: development_scope(),
            status_list_uri: None,
        }
    }
}

/// A loaded PKI: certificates verified, keys ready to sign.
#[derive(Debug)]
pub struct DevPki {
    /// The root certificate.
    pub root: RootCertificate,
    /// The root key.
    pub root_key: SoftwareKey,
    /// The issuer certificate (verified under the root).
    pub issuer: IssuerCertificate,
    /// The issuer key.
    pub issuer_key: SoftwareKey,
}

/// Creates a dev PKI under `data_dir/pki`. Refuses if any of its files exists.
pub fn init_dev_pki(data_dir: &Path, options: &DevPkiOptions) -> Result<PkiPaths, KeyError> {
    let paths = PkiPaths::new(data_dir);
    for existing in [
        paths.root_cert(),
        paths.root_key(),
        paths.issuer_cert(),
        paths.issuer_key(),
        paths.trust_list(),
    ] {
        if existing.exists() {
            return Err(KeyError::AlreadyExists(existing));
        }
    }
    std::fs::create_dir_all(paths.dir()).map_err(KeyError::io(paths.dir()))?;

    let root_key = SoftwareKey::generate(options.alg)?;
    let root_validity = Validity::days_from(options.now, ROOT_DAYS);
    let root_pem = root_certificate(
        &root_key,
        "trustmark dev scheme root",
        "trustmark dev scheme",
        root_validity,
    )?;

    let issuer_key = SoftwareKey::generate(options.alg)?;
    let request = IssuerCertificateRequest {
        alg: options.alg,
        public_key: crate::Signer::public_key(&issuer_key),
        common_name: &options.issuer_name,
        organization: &options.issuer_name,
        scope: &options.scope,
        validity: Validity::days_from(options.now, ISSUER_DAYS),
    };
    let issuer_pem = issuer_certificate(&request, &root_pem, &root_key)?;

    // Keys first: a certificate without its key is useless, a key without a certificate is
    // harmless and `init` refuses to run again over it.
    root_key.write_pem_file(&paths.root_key())?;
    issuer_key.write_pem_file(&paths.issuer_key())?;
    files::write_new(&paths.root_cert(), root_pem.as_bytes(), 0o644)?;
    files::write_new(&paths.issuer_cert(), issuer_pem.as_bytes(), 0o644)?;

    let root = RootCertificate::from_pem(&root_pem)?;
    let issuer = IssuerCertificate::from_pem(&issuer_pem, &root)?;
    let trust_list = sign_trust_list(
        &root_key,
        &[TrustListEntry {
            certificate: &issuer,
            status_list_uri: options.status_list_uri.clone(),
            withdrawn_at: None,
        }],
        options.now.0,
        options.now,
        UnixTime(options.now.0 + TRUST_LIST_DAYS * 86_400),
    )?;
    files::write_new(&paths.trust_list(), &trust_list, 0o644)?;
    Ok(paths)
}

/// Loads the PKI under `data_dir/pki`, verifying the issuer certificate under the root and that
/// each key matches its certificate.
pub fn load_dev_pki(data_dir: &Path) -> Result<DevPki, KeyError> {
    let paths = PkiPaths::new(data_dir);
    let read = |path: PathBuf| std::fs::read_to_string(&path).map_err(KeyError::io(path));
    let root = RootCertificate::from_pem(&read(paths.root_cert())?)?;
    let issuer = IssuerCertificate::from_pem(&read(paths.issuer_cert())?, &root)?;
    let root_key = SoftwareKey::read_pem_file(&paths.root_key())?;
    let issuer_key = SoftwareKey::read_pem_file(&paths.issuer_key())?;
    if crate::Signer::public_key(&root_key) != root.public_key {
        return Err(KeyError::Profile(
            "root.key.pem does not match root.pem".into(),
        ));
    }
    if crate::Signer::public_key(&issuer_key) != issuer.info.public_key {
        return Err(KeyError::Profile(
            "issuer.key.pem does not match issuer.pem".into(),
        ));
    }
    Ok(DevPki {
        root,
        root_key,
        issuer,
        issuer_key,
    })
}
