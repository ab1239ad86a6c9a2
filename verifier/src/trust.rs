//! The trust store: a trust list whose root signature has been checked, plus the crypto backend
//! that marks are checked with.

use alloc::vec::Vec;

use trustmark_format::{Algorithm, TrustList, TrustedIssuer, UnixTime};

use crate::{SignatureVerifier, VerifyError};

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
        f.debug_struct("TrustStore").field("list", &self.list).finish_non_exhaustive()
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
        let sign1 = TrustList::parse_signed(signed)?;
        if sign1.algorithm() != anchor.alg
            || !crypto.verify(anchor.alg, &anchor.public_key, &sign1.to_be_signed(), sign1.signature())
        {
            return Err(VerifyError::TrustListSignature);
        }
        let list = TrustList::from_cbor(sign1.payload())?;
        let store = Self { list, crypto };
        store.check_current(now)?;
        Ok(store)
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
