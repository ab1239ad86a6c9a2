//! The trust store: a trust list whose root signature has been checked, plus the crypto backend
//! that marks are checked with.

use alloc::vec::Vec;

use trustmark_format::{ecdsa, Algorithm, TrustList, TrustedIssuer, UnixTime};

use crate::{SignatureVerifier, VerifyError};

/// Checks a signed trust list's root signature and decodes it.
fn verify_trust_list(
    signed: &[u8],
    anchor: &TrustAnchor,
    crypto: &dyn SignatureVerifier,
) -> Result<TrustList, VerifyError> {
    let sign1 = TrustList::parse_signed(signed)?;
    if sign1.algorithm() != anchor.alg {
        return Err(VerifyError::TrustListSignature);
    }
    if anchor.alg == Algorithm::Es256 && !ecdsa::is_low_s(sign1.signature()) {
        return Err(VerifyError::NonCanonicalSignature);
    }
    if !crypto.verify(
        anchor.alg,
        &anchor.public_key,
        &sign1.to_be_signed(),
        sign1.signature(),
    ) {
        return Err(VerifyError::TrustListSignature);
    }
    Ok(TrustList::from_cbor(sign1.payload())?)
}

/// The scheme root's public key: what a verifier trusts a priori. A gateway stores these few
/// bytes; it never needs the root certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustAnchor {
    /// The root key's algorithm.
    pub alg: Algorithm,
    /// The root's raw public key.
    pub public_key: Vec<u8>,
}

/// Most trusted keys tried for one kid. Kids are 4-byte hashes: an accidental collision among a
/// scheme's keys is rare, and one certifier grinding keys to collide with another can only make
/// verifiers try its key too. Bounding the tries keeps a hostile trust list (which would need the
/// root's signature anyway) from turning one verification into many.
pub const MAX_KEYS_PER_KID: usize = 4;

/// A verified trust list with its crypto backend. Only [`TrustStore::from_signed`] makes one, so
/// holding a `TrustStore` means the root signature was checked.
pub struct TrustStore<'c> {
    list: TrustList,
    crypto: &'c dyn SignatureVerifier,
}

impl core::fmt::Debug for TrustStore<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TrustStore")
            .field("list", &self.list)
            .finish_non_exhaustive()
    }
}

impl<'c> TrustStore<'c> {
    /// Verifies a signed trust list under `anchor` at time `now` and keeps it, with `crypto`
    /// for verifying marks.
    pub fn from_signed(
        signed: &[u8],
        anchor: &TrustAnchor,
        now: UnixTime,
        crypto: &'c dyn SignatureVerifier,
    ) -> Result<Self, VerifyError> {
        let list = verify_trust_list(signed, anchor, crypto)?;
        let store = Self { list, crypto };
        store.check_current(now)?;
        Ok(store)
    }

    /// Replaces the held list with a newer signed one (as a cache refresh does). The new list
    /// must verify under `anchor`, be current at `now`, and have a higher sequence number: an
    /// older list could bring back an issuer that was removed. On error the held list stays.
    pub fn update(
        &mut self,
        signed: &[u8],
        anchor: &TrustAnchor,
        now: UnixTime,
    ) -> Result<(), VerifyError> {
        let list = verify_trust_list(signed, anchor, self.crypto)?;
        if list.sequence <= self.list.sequence {
            return Err(VerifyError::TrustListRollback {
                current: self.list.sequence,
                offered: list.sequence,
            });
        }
        let candidate = Self {
            list,
            crypto: self.crypto,
        };
        candidate.check_current(now)?;
        *self = candidate;
        Ok(())
    }

    /// Whether the list is usable at `now`: issued before it and not yet expired.
    pub fn check_current(&self, now: UnixTime) -> Result<(), VerifyError> {
        if now < self.list.issued_at {
            return Err(VerifyError::TrustListNotYetValid {
                issued_at: self.list.issued_at,
                now,
            });
        }
        if now >= self.list.expires_at {
            return Err(VerifyError::TrustListExpired {
                expires_at: self.list.expires_at,
                now,
            });
        }
        Ok(())
    }

    /// The verified list.
    pub fn list(&self) -> &TrustList {
        &self.list
    }

    /// The crypto backend.
    pub(crate) fn crypto(&self) -> &'c dyn SignatureVerifier {
        self.crypto
    }

    /// Candidate keys for a kid, at most [`MAX_KEYS_PER_KID`].
    pub(crate) fn candidates<'a, 'k>(
        &'a self,
        kid: &'k [u8],
    ) -> impl Iterator<Item = &'a TrustedIssuer> + use<'a, 'k, 'c> {
        self.list.issuers_with_kid(kid).take(MAX_KEYS_PER_KID)
    }
}
