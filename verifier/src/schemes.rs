//! Several schemes at once (mutual recognition): one verified trust list per scheme root, each
//! checked under its own trust anchor, looked up together.

use alloc::vec::Vec;

use trustmark_format::UnixTime;

use crate::{SignatureVerifier, TrustAnchor, TrustStore, TrustedSchemes, VerifyError};

/// The trust lists of several schemes, each verified under its own [`TrustAnchor`]: a verifier
/// that recognises the marks of more than one scheme root.
///
/// [`crate::verify`] looks a mark's kid up in every held scheme, in the order they were added,
/// tries at most [`crate::MAX_KEYS_PER_KID`] keys in all, and says which scheme's key verified
/// the mark ([`crate::VerifiedMark::anchor`]). A key vouched for by one root never speaks for
/// another: each scheme's list is checked under its own anchor, and a status list must be signed
/// by a key of the mark's own scheme.
///
/// No two held schemes share a root key. A newer list of a held scheme replaces the old one only
/// through [`TrustStores::update`], with a higher sequence, as [`TrustStore::update`] does.
pub struct TrustStores<'c> {
    schemes: Vec<TrustStore<'c>>,
    crypto: &'c dyn SignatureVerifier,
}

impl core::fmt::Debug for TrustStores<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TrustStores")
            .field("schemes", &self.schemes)
            .finish_non_exhaustive()
    }
}

impl<'c> TrustStores<'c> {
    /// No schemes yet (every mark fails with `unknown_kid`); `crypto` checks the trust lists
    /// added and the marks verified.
    pub fn new(crypto: &'c dyn SignatureVerifier) -> Self {
        Self {
            schemes: Vec::new(),
            crypto,
        }
    }

    /// Adds a scheme: verifies `signed` under `anchor` at `now` exactly as
    /// [`TrustStore::from_signed`] does, and holds it after the schemes already held.
    ///
    /// Refuses, before any other check, an anchor whose root key is already held
    /// ([`VerifyError::TrustAnchorHeld`]): a newer list of a held scheme goes through
    /// [`Self::update`], and one root key cannot stand for two schemes. On error nothing changes.
    pub fn add(
        &mut self,
        signed: &[u8],
        anchor: &TrustAnchor,
        now: UnixTime,
    ) -> Result<(), VerifyError> {
        if let Some(held) = self
            .schemes
            .iter()
            .find(|s| s.anchor().public_key == anchor.public_key)
        {
            return Err(VerifyError::TrustAnchorHeld {
                sequence: held.list().sequence,
            });
        }
        let store = TrustStore::from_signed(signed, anchor, now, self.crypto)?;
        self.schemes.push(store);
        Ok(())
    }

    /// Replaces the list of the scheme held under `anchor` with a newer one, by the rules of
    /// [`TrustStore::update`]: it must verify under `anchor`, have a higher sequence than the
    /// held list (`trust_list_rollback`) and be current at `now`. An anchor of no held scheme is
    /// [`VerifyError::UnknownTrustAnchor`]. On error the held list stays.
    pub fn update(
        &mut self,
        signed: &[u8],
        anchor: &TrustAnchor,
        now: UnixTime,
    ) -> Result<(), VerifyError> {
        self.schemes
            .iter_mut()
            .find(|s| s.anchor() == anchor)
            .ok_or(VerifyError::UnknownTrustAnchor)?
            .update(signed, anchor, now)
    }

    /// Stops recognising the scheme held under `anchor`, returning its store (`None` if no
    /// scheme is held under it). The others keep their order.
    pub fn remove(&mut self, anchor: &TrustAnchor) -> Option<TrustStore<'c>> {
        let index = self.schemes.iter().position(|s| s.anchor() == anchor)?;
        Some(self.schemes.remove(index))
    }

    /// The store of the scheme held under `anchor`.
    pub fn get(&self, anchor: &TrustAnchor) -> Option<&TrustStore<'c>> {
        self.schemes.iter().find(|s| s.anchor() == anchor)
    }

    /// The held schemes, in lookup order.
    pub fn iter(&self) -> core::slice::Iter<'_, TrustStore<'c>> {
        self.schemes.iter()
    }

    /// How many schemes are held.
    pub fn len(&self) -> usize {
        self.schemes.len()
    }

    /// Whether no scheme is held.
    pub fn is_empty(&self) -> bool {
        self.schemes.is_empty()
    }
}

impl<'a, 'c> IntoIterator for &'a TrustStores<'c> {
    type Item = &'a TrustStore<'c>;
    type IntoIter = core::slice::Iter<'a, TrustStore<'c>>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl crate::trust::sealed::Sealed for TrustStores<'_> {}

impl TrustedSchemes for TrustStores<'_> {
    fn schemes(&self) -> &[TrustStore<'_>] {
        &self.schemes
    }
}
