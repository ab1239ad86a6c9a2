//! Signing marks.

use std::borrow::Cow;

use trustmark_format::{mark, qr_text, MarkClaims, TrustedIssuer, UnixTime};
use trustmark_keys::{trusted_issuer, IssuerCertificate, Signer, TrustListEntry};

use crate::IssueError;

/// A signed mark, ready to store and print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedMark {
    /// Stable identifier: hex of the first 16 bytes of SHA-256 over the token.
    pub mark_id: trustmark_domain::MarkId,
    /// The COSE bytes.
    pub token: Vec<u8>,
    /// The QR text (URL).
    pub url: String,
    /// The signed claims.
    pub claims: MarkClaims,
}

/// An issuer key with its accreditation (as a trust list states it): signs marks inside its
/// scope and validity.
pub struct MarkIssuer<'k> {
    key: &'k dyn Signer,
    accreditation: Cow<'k, TrustedIssuer>,
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
        let entry = trusted_issuer(&TrustListEntry {
            certificate,
            status_list_uri: None,
            withdrawn_at: None,
        });
        Self::with_accreditation(key, Cow::Owned(entry), base_url)
    }

    /// An issuer that signs with `key` under its trust-list entry `accreditation` (the
    /// service's: the list in force is what verifiers check).
    pub fn with_accreditation(
        key: &'k dyn Signer,
        accreditation: Cow<'k, TrustedIssuer>,
        base_url: &str,
    ) -> Result<Self, IssueError> {
        if key.public_key() != accreditation.public_key {
            return Err(IssueError::Key(trustmark_keys::KeyError::Profile(
                "the signing key does not match its accreditation".into(),
            )));
        }
        Ok(Self {
            key,
            accreditation,
            base_url: base_url.to_owned(),
        })
    }

    /// Signs `claims`. Refuses what a verifier would reject: claims outside the accreditation
    /// scope, or an issue time outside the certificate's validity.
    pub fn issue(&self, claims: MarkClaims) -> Result<IssuedMark, IssueError> {
        let entry = self.accreditation.as_ref();
        let now: UnixTime = claims.issued_at;
        if now < entry.not_before || now >= entry.not_after {
            return Err(IssueError::IssuerNotValid {
                not_before: entry.not_before.0,
                not_after: entry.not_after.0,
                now: now.0,
            });
        }
        for claim in &claims.frameworks {
            if !entry
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
pub fn mark_id(token: &[u8]) -> trustmark_domain::MarkId {
    trustmark_domain::MarkId::of_token(token)
}
