//! Signing marks.

use trustmark_format::{mark, qr_text, MarkClaims, UnixTime};
use trustmark_keys::{IssuerCertificate, Signer};

use crate::IssueError;

/// A signed mark, ready to store and print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedMark {
    /// Stable identifier: hex of the first 16 bytes of SHA-256 over the token.
    pub mark_id: String,
    /// The COSE bytes.
    pub token: Vec<u8>,
    /// The QR text (URL).
    pub url: String,
    /// The signed claims.
    pub claims: MarkClaims,
}

/// An issuer key with its certificate: signs marks inside the certificate's scope and validity.
pub struct MarkIssuer<'k> {
    key: &'k dyn Signer,
    certificate: &'k IssuerCertificate,
    base_url: String,
}

impl<'k> MarkIssuer<'k> {
    /// An issuer that signs with `key` (which must match `certificate`) and links marks to
    /// `base_url`.
    pub fn new(
        key: &'k dyn Signer,
        certificate: &'k IssuerCertificate,
        base_url: &str,
    ) -> Result<Self, IssueError> {
        if key.public_key() != certificate.info.public_key {
            return Err(IssueError::Key(trustmark_keys::KeyError::Profile(
                "the signing key does not match the issuer certificate".into(),
            )));
        }
        Ok(Self {
            key,
            certificate,
            base_url: base_url.to_owned(),
        })
    }

    /// Signs `claims`. Refuses what a verifier would reject: claims outside the accreditation
    /// scope, or an issue time outside the certificate's validity.
    pub fn issue(&self, claims: MarkClaims) -> Result<IssuedMark, IssueError> {
        let validity = self.certificate.info.validity;
        let now: UnixTime = claims.issued_at;
        if now < validity.not_before || now > validity.not_after {
            return Err(IssueError::IssuerNotValid {
                not_before: validity.not_before.0,
                not_after: validity.not_after.0,
                now: now.0,
            });
        }
        for claim in &claims.frameworks {
            if !self
                .certificate
                .scope
                .allows(claim.framework, claim.class, claim.assurance)
            {
                return Err(IssueError::OutsideScope {
                    framework: claim.framework.to_string(),
                    class: claim.class,
                    assurance: claim.assurance.to_string(),
                });
            }
        }
        let token = mark::encode(&claims, self.key.algorithm(), self.key.kid(), |tbs| {
            self.key.sign(tbs)
        })?;
        Ok(IssuedMark {
            mark_id: mark_id(&token),
            url: qr_text::mark_url(&self.base_url, &token),
            token,
            claims,
        })
    }
}

/// The mark id of a token.
pub fn mark_id(token: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, token);
    hex::encode(&digest.as_ref()[..16])
}
