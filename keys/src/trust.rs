//! Building and signing the trust list from issuer certificates.

use trustmark_format::{TrustList, TrustedIssuer, UnixTime};

use crate::{IssuerCertificate, KeyError, Signer};

/// An issuer certificate as listed in a trust list.
#[derive(Debug, Clone)]
pub struct TrustListEntry<'a> {
    /// The verified issuer certificate.
    pub certificate: &'a IssuerCertificate,
    /// Where the issuer publishes status lists.
    pub status_list_uri: Option<String>,
    /// The accreditation withdrawn for the future: the entry's validity ends at this time
    /// instead of the certificate's `notAfter` (`spec/pki.md` 6.4). Marks signed before it stay
    /// valid; marks signed at or after it are refused by verifiers. `None`: the certificate's.
    pub withdrawn_at: Option<UnixTime>,
}

/// The trust-list entry for an issuer certificate: key, validity and scope come from the
/// certificate, so the trust list never says more than the PKI does (a withdrawal can only
/// shorten the validity, never extend it).
pub fn trusted_issuer(entry: &TrustListEntry<'_>) -> TrustedIssuer {
    let info = &entry.certificate.info;
    TrustedIssuer {
        kid: info.kid.clone(),
        alg: info.alg,
        public_key: info.public_key.clone(),
        not_before: info.validity.not_before,
        not_after: entry.withdrawn_at.map_or(info.validity.not_after, |at| {
            at.max(info.validity.not_before)
                .min(info.validity.not_after)
        }),
        name: info.common_name.clone(),
        scope: entry.certificate.scope.clone(),
        status_list_uri: entry.status_list_uri.clone(),
    }
}

/// Builds and signs a trust list with the root key.
pub fn sign_trust_list(
    root_key: &dyn Signer,
    entries: &[TrustListEntry<'_>],
    sequence: u64,
    issued_at: UnixTime,
    expires_at: UnixTime,
) -> Result<Vec<u8>, KeyError> {
    let list = TrustList {
        sequence,
        issued_at,
        expires_at,
        issuers: entries.iter().map(trusted_issuer).collect(),
    };
    list.sign(root_key.algorithm(), root_key.kid(), |tbs| {
        root_key.sign(tbs)
    })
}
