//! Keys and certificates of the trustmark PKI.
//!
//! - [`Signer`]: signing behind a trait ([`SoftwareKey`] holds PKCS#8 keys in memory; an HSM
//!   backend implements the same trait).
//! - [`kid_for`]: the key identifier, derived from the public key.
//! - [`root_certificate`] / [`issuer_certificate`]: the X.509 profile, issued with rcgen, read
//!   back and checked with x509-parser ([`RootCertificate`], [`IssuerCertificate`]).
//! - [`certification_request`] / [`SigningRequest`]: PKCS#10 requests, made with a key and
//!   checked before a certificate is issued for it.
//! - [`sign_trust_list`]: the root-signed trust list for verifiers.
//! - [`init_dev_pki`] / [`load_dev_pki`]: a development PKI on disk.
//!
//! ```no_run
//! use trustmark_format::UnixTime;
//! use trustmark_keys::{init_dev_pki, load_dev_pki, DevPkiOptions};
//! let dir = std::path::Path::new("./data");
//! init_dev_pki(dir, &DevPkiOptions::new(UnixTime(1_790_000_000)))?;
//! let pki = load_dev_pki(dir)?;
//! println!("issuer kid {:02x?}", pki.issuer.info.kid);
//! # Ok::<(), trustmark_keys::KeyError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod csr;
mod dev_pki;
mod error;
pub mod files;
mod kid;
mod pki;
pub mod profile;
mod provider;
mod signer;
mod trust;

pub use csr::{certification_request, SigningRequest};
pub use dev_pki::{
    development_scope, init_dev_pki, load_dev_pki, DevPki, DevPkiOptions, PkiPaths, ISSUER_DAYS,
    ROOT_DAYS, TRUST_LIST_DAYS,
};
pub use error::KeyError;
pub use kid::{kid_for, spki_der, KID_LEN};
pub use pki::{
    issuer_certificate, root_certificate, CertificateInfo, IssuerCertificate,
    IssuerCertificateRequest, RootCertificate, Validity,
};
pub use provider::{KeyDirectory, LayeredProvider, SharedSigner, SignerProvider};
pub use signer::{Signer, SoftwareKey};
pub use trust::{sign_trust_list, trusted_issuer, TrustListEntry};
