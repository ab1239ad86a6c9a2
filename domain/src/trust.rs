//! The trust list's lifecycle in the registry (`spec/pki.md` 11.3): a signed list is accepted
//! only if it verifies under the scheme root the service is configured with, is current, and
//! is newer than the one in force; accepting it activates the keys it lists for the first time
//! and retires the keys it drops; and issuance signs only with a key the list in force holds,
//! inside the validity and scope it states.

use trustmark_format::{TrustList, TrustedIssuer, UnixTime};
use trustmark_verifier::{SignatureVerifier, TrustAnchor, TrustStore};

use crate::key_ring::{IssuerKey, KeyRing, Kid};
use crate::{scope, CertifierId, DomainError};

/// A signed trust list that verified under the scheme root.
#[derive(Debug, Clone)]
pub struct AcceptedTrustList {
    /// The COSE_Sign1 bytes, as served to verifiers.
    pub bytes: Vec<u8>,
    /// What they say.
    pub list: TrustList,
}

impl AcceptedTrustList {
    /// Verifies `bytes` under `anchor` at `now` (root signature, issued and not expired) and,
    /// when a list is in force (`current` is its sequence), requires a higher sequence. Returns
    /// the verifier's store of it too, so the one signature check serves both.
    pub fn accept<'c>(
        bytes: Vec<u8>,
        anchor: &TrustAnchor,
        current: Option<u64>,
        now: UnixTime,
        crypto: &'c dyn SignatureVerifier,
    ) -> Result<(Self, TrustStore<'c>), DomainError> {
        let store = TrustStore::from_signed(&bytes, anchor, now, crypto)
            .map_err(|e| DomainError::TrustList(e.to_string()))?;
        let list = store.list().clone();
        if let Some(current) = current {
            if list.sequence <= current {
                return Err(DomainError::TrustListRollback {
                    current,
                    offered: list.sequence,
                });
            }
        }
        Ok((Self { bytes, list }, store))
    }

    /// The entry for `key`: same kid and same public key.
    pub fn entry(&self, key: &IssuerKey) -> Option<&TrustedIssuer> {
        self.list
            .issuers_with_kid(key.kid.as_bytes())
            .find(|e| e.public_key == key.public_key)
    }

    /// What accepting this list changes in `keys`: keys listed for the first time are
    /// activated; keys listed before and left out now are retired. A retired key stays
    /// retired even if listed again (a removed key is never trusted again by the registry).
    pub fn key_changes(&self, keys: &[IssuerKey]) -> Vec<KeyChange> {
        keys.iter()
            .filter_map(|key| {
                let listed = self.entry(key).is_some();
                match (listed, key.activated_at, key.retired_at) {
                    (true, None, None) => Some(KeyChange::Activated(key.kid.clone())),
                    (false, Some(_), None) => Some(KeyChange::Retired(key.kid.clone())),
                    _ => None,
                }
            })
            .collect()
    }

    /// How close the list is to expiry at `now`; `warn_before` seconds before, it is
    /// [`TrustListHealth::ExpiringSoon`].
    pub fn health(&self, now: UnixTime, warn_before: u64) -> TrustListHealth {
        let left = self.list.expires_at.0.saturating_sub(now.0);
        if now >= self.list.expires_at {
            TrustListHealth::Expired
        } else if left <= warn_before {
            TrustListHealth::ExpiringSoon { seconds_left: left }
        } else {
            TrustListHealth::Current { seconds_left: left }
        }
    }

    /// The key `certifier` signs with at `now`, and its entry in this list: the ring's active
    /// key, listed here, with its accreditation (the entry's validity, which a withdrawal ends
    /// early) in force at `now`.
    pub fn signing_key<'k>(
        &self,
        certifier: &CertifierId,
        ring: KeyRing<'k>,
        now: UnixTime,
    ) -> Result<(&'k IssuerKey, &TrustedIssuer), DomainError> {
        let key = ring.active().ok_or_else(|| DomainError::NoActiveKey {
            certifier: certifier.to_string(),
            hint: if ring.keys().iter().any(|k| k.activated_at.is_none()) {
                ": a key is pending; the scheme operator must accredit it and publish a trust list that holds it"
            } else {
                ": ask for a key (POST /v1/certifiers/{id}/keys) and have it accredited"
            },
        })?;
        let entry = self.entry(key).ok_or_else(|| DomainError::KeyNotListed {
            kid: key.kid.to_string(),
        })?;
        if now < entry.not_before || now >= entry.not_after {
            return Err(DomainError::AccreditationNotInForce {
                kid: key.kid.to_string(),
                not_before: entry.not_before,
                not_after: entry.not_after,
                now,
            });
        }
        Ok((key, entry))
    }

    /// [`Self::signing_key`], then every claim checked against its scope
    /// ([`scope::check_claims`]).
    pub fn authorize<'k>(
        &self,
        certifier: &CertifierId,
        ring: KeyRing<'k>,
        now: UnixTime,
        claims: impl IntoIterator<
            Item = (
                trustmark_format::FrameworkId,
                u8,
                trustmark_format::Assurance,
            ),
        >,
    ) -> Result<(&'k IssuerKey, &TrustedIssuer), DomainError> {
        let (key, entry) = self.signing_key(certifier, ring, now)?;
        scope::check_claims(key.kid.as_bytes(), &entry.scope, claims)?;
        Ok((key, entry))
    }
}

/// A change a trust list brings to a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyChange {
    /// Listed for the first time.
    Activated(Kid),
    /// Listed before, left out now.
    Retired(Kid),
}

impl KeyChange {
    /// The kids of `changes` that were activated, and those that were retired.
    pub fn split(changes: &[KeyChange]) -> (Vec<Kid>, Vec<Kid>) {
        let (activated, retired): (Vec<&KeyChange>, Vec<&KeyChange>) = changes
            .iter()
            .partition(|c| matches!(c, KeyChange::Activated(_)));
        let kids = |list: Vec<&KeyChange>| list.into_iter().map(|c| c.kid().clone()).collect();
        (kids(activated), kids(retired))
    }

    /// The key changed.
    pub fn kid(&self) -> &Kid {
        match self {
            Self::Activated(kid) | Self::Retired(kid) => kid,
        }
    }

    /// Applies the change that the list of `sequence` brings to `key` (the key with this kid)
    /// at `now`.
    pub fn apply(&self, key: &mut IssuerKey, now: u64, sequence: u64) {
        match self {
            Self::Activated(_) => {
                key.activated_at = Some(now);
                key.activated_by = Some(sequence);
            }
            Self::Retired(_) => key.retired_at = Some(now),
        }
    }
}

/// How close the trust list in force is to its expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustListHealth {
    /// More than the warning period left.
    Current {
        /// Seconds to expiry.
        seconds_left: u64,
    },
    /// Within the warning period.
    ExpiringSoon {
        /// Seconds to expiry.
        seconds_left: u64,
    },
    /// Expired: verifiers refuse it, and the service issues nothing.
    Expired,
}

#[cfg(test)]
mod tests;
