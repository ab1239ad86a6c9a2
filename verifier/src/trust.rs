//! The trust store: a trust list whose root signature has been checked, plus the crypto backend
//! that marks are checked with; and [`TrustedSchemes`], the lookup that verification goes
//! through, for one scheme ([`TrustStore`]) or several ([`crate::TrustStores`]).

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

/// Most trusted keys tried for one kid, over all the schemes a verifier holds. Kids are 4-byte
/// hashes: an accidental collision among a scheme's keys is rare, and one certifier grinding keys
/// to collide with another can only make verifiers try its key too. Bounding the tries keeps a
/// hostile trust list (which would need the root's signature anyway) from turning one
/// verification into many, however many schemes are held.
pub const MAX_KEYS_PER_KID: usize = 4;

/// A verified trust list with its crypto backend. Only [`TrustStore::from_signed`] makes one, so
/// holding a `TrustStore` means the root signature was checked.
pub struct TrustStore<'c> {
    anchor: TrustAnchor,
    list: TrustList,
    /// Positions of `list.issuers` sorted by kid (stable: list order among equal kids), so a
    /// large scheme's kid lookup is a binary search; empty for lists of at most
    /// [`INDEX_FROM`] issuers, which are scanned (no allocation for a gateway's small list).
    by_kid: Vec<u32>,
    crypto: &'c dyn SignatureVerifier,
}

/// Lists with more issuers than this get a kid index.
const INDEX_FROM: usize = 16;

/// The entries of one list with a kid, in list order.
enum WithKid<'a, 'k> {
    Scan(core::slice::Iter<'a, TrustedIssuer>, &'k [u8]),
    Indexed(core::slice::Iter<'a, u32>, &'a [TrustedIssuer]),
}

impl<'a> Iterator for WithKid<'a, '_> {
    type Item = &'a TrustedIssuer;

    fn next(&mut self) -> Option<&'a TrustedIssuer> {
        match self {
            Self::Scan(issuers, kid) => issuers.find(|i| i.kid == *kid),
            Self::Indexed(positions, issuers) => {
                positions.next().and_then(|&at| issuers.get(at as usize))
            }
        }
    }
}

impl core::fmt::Debug for TrustStore<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TrustStore")
            .field("anchor", &self.anchor)
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
        let store = Self::new(anchor, list, crypto);
        store.check_current(now)?;
        Ok(store)
    }

    /// A store of a verified `list`, with its kid index.
    fn new(anchor: &TrustAnchor, list: TrustList, crypto: &'c dyn SignatureVerifier) -> Self {
        let mut by_kid = Vec::new();
        // At most MAX_ISSUERS (1,000) entries: positions fit a u32.
        if list.issuers.len() > INDEX_FROM {
            by_kid = (0..list.issuers.len() as u32).collect();
            by_kid.sort_by(|&a, &b| {
                list.issuers[a as usize]
                    .kid
                    .cmp(&list.issuers[b as usize].kid)
            });
        }
        Self {
            anchor: anchor.clone(),
            list,
            by_kid,
            crypto,
        }
    }

    /// The entries with `kid`, in list order.
    fn with_kid<'a, 'k>(&'a self, kid: &'k [u8]) -> WithKid<'a, 'k> {
        if self.by_kid.is_empty() {
            return WithKid::Scan(self.list.issuers.iter(), kid);
        }
        let issuers = self.list.issuers.as_slice();
        let key = |at: &u32| issuers.get(*at as usize).map(|i| i.kid.as_slice());
        let start = self.by_kid.partition_point(|at| key(at) < Some(kid));
        let len = self.by_kid[start..].partition_point(|at| key(at) == Some(kid));
        WithKid::Indexed(self.by_kid[start..start + len].iter(), issuers)
    }

    /// Replaces the held list with a newer signed one (as a cache refresh does). The new list
    /// must verify under `anchor`, be current at `now`, and have a higher sequence number: an
    /// older list could bring back an issuer that was removed. On error the held list stays; on
    /// success the store's anchor is `anchor` (normally the one it already had).
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
        let candidate = Self::new(anchor, list, self.crypto);
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

    /// The trust anchor the list was verified under: the scheme's root.
    pub fn anchor(&self) -> &TrustAnchor {
        &self.anchor
    }

    /// The crypto backend.
    pub(crate) fn crypto(&self) -> &'c dyn SignatureVerifier {
        self.crypto
    }
}

/// What marks and status lists are verified against: the verified trust lists of one scheme (a
/// [`TrustStore`]) or of several at once (a [`crate::TrustStores`], for mutual recognition).
///
/// Verification looks a kid up in every held scheme, in order, and tries at most
/// [`MAX_KEYS_PER_KID`] keys overall (`spec/pki.md` section 6.3). The trait is sealed: only this
/// crate's stores implement it (and references and smart pointers to them), so every key a mark
/// is checked with comes from a list whose root signature was checked.
pub trait TrustedSchemes: sealed::Sealed {
    /// The held schemes, in lookup order.
    fn schemes(&self) -> &[TrustStore<'_>];
}

pub(crate) mod sealed {
    /// Keeps [`super::TrustedSchemes`] to this crate's types.
    #[allow(unreachable_pub)] // the sealed-trait pattern: public, but not nameable outside
    pub trait Sealed {}
}

impl sealed::Sealed for TrustStore<'_> {}

impl TrustedSchemes for TrustStore<'_> {
    fn schemes(&self) -> &[TrustStore<'_>] {
        core::slice::from_ref(self)
    }
}

impl<T: TrustedSchemes + ?Sized> sealed::Sealed for &T {}

impl<T: TrustedSchemes + ?Sized> TrustedSchemes for &T {
    fn schemes(&self) -> &[TrustStore<'_>] {
        (**self).schemes()
    }
}

impl<T: TrustedSchemes + ?Sized> sealed::Sealed for alloc::boxed::Box<T> {}

impl<T: TrustedSchemes + ?Sized> TrustedSchemes for alloc::boxed::Box<T> {
    fn schemes(&self) -> &[TrustStore<'_>] {
        (**self).schemes()
    }
}

impl<T: TrustedSchemes + ?Sized> sealed::Sealed for alloc::rc::Rc<T> {}

impl<T: TrustedSchemes + ?Sized> TrustedSchemes for alloc::rc::Rc<T> {
    fn schemes(&self) -> &[TrustStore<'_>] {
        (**self).schemes()
    }
}

#[cfg(target_has_atomic = "ptr")]
impl<T: TrustedSchemes + ?Sized> sealed::Sealed for alloc::sync::Arc<T> {}

#[cfg(target_has_atomic = "ptr")]
impl<T: TrustedSchemes + ?Sized> TrustedSchemes for alloc::sync::Arc<T> {
    fn schemes(&self) -> &[TrustStore<'_>] {
        (**self).schemes()
    }
}

/// Candidate keys for a kid across `schemes`: each scheme's entries with that kid in list order,
/// the schemes in order, at most [`MAX_KEYS_PER_KID`] in all; each with the scheme that lists it.
pub(crate) fn candidates<'a, 'c, 'k>(
    schemes: &'a [TrustStore<'c>],
    kid: &'k [u8],
) -> impl Iterator<Item = (&'a TrustStore<'c>, &'a TrustedIssuer)> + use<'a, 'c, 'k> {
    schemes
        .iter()
        .flat_map(move |scheme| scheme.with_kid(kid).map(move |i| (scheme, i)))
        .take(MAX_KEYS_PER_KID)
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use trustmark_format::{Algorithm, IssuerScope};

    use super::*;

    /// A list of `n` issuers whose kids cycle through 7 values, so that kids repeat.
    fn list(n: u8) -> TrustList {
        TrustList {
            sequence: 1,
            issued_at: UnixTime(0),
            expires_at: UnixTime(1),
            issuers: (0..n)
                .map(|i| TrustedIssuer {
                    kid: vec![i % 7, 0xab],
                    alg: Algorithm::EdDsa,
                    public_key: vec![i; 32],
                    not_before: UnixTime(0),
                    not_after: UnixTime(1),
                    name: alloc::format!("issuer {i}"),
                    scope: IssuerScope {
                        frameworks: vec![],
                        assurances: vec![],
                    },
                    status_list_uri: None,
                })
                .collect(),
        }
    }

    #[test]
    fn the_kid_index_finds_what_a_scan_finds_in_list_order() {
        let anchor = TrustAnchor {
            alg: Algorithm::EdDsa,
            public_key: vec![0; 32],
        };
        for n in [0, 1, 16, 17, 100] {
            let store = TrustStore::new(&anchor, list(n), &crate::RING);
            assert_eq!(store.by_kid.is_empty(), usize::from(n) <= INDEX_FROM);
            for kid in (0..9).map(|k| vec![k, 0xab]).chain([vec![], vec![3]]) {
                let found: Vec<&[u8]> = store.with_kid(&kid).map(|i| &i.public_key[..]).collect();
                let scanned: Vec<&[u8]> = store
                    .list
                    .issuers_with_kid(&kid)
                    .map(|i| &i.public_key[..])
                    .collect();
                assert_eq!(found, scanned, "{n} issuers, kid {kid:?}");
            }
        }
    }
}
