//! A certifier's issuer keys (`spec/pki.md` 11.2). The registry stores, per key, when it was
//! made, when its certificate was installed, when a trust list first listed it and when one
//! dropped it; the state follows from those facts:
//!
//! | state | stored facts |
//! | --- | --- |
//! | pending | never listed (a certificate may be installed) |
//! | active | listed and not dropped, and the most recently activated such key of its certifier |
//! | retiring | listed and not dropped, with a newer active key: signs no mark, keeps its status list, its marks stay verifiable and revocable |
//! | retired | dropped from a trust list: removed by the operator, signs nothing |
//!
//! So a certifier has at most one active key, and rotating is: ask for a key, have it
//! accredited, publish a trust list that holds it.

use serde::{Deserialize, Serialize};
use trustmark_format::Algorithm;
use trustmark_keys::{IssuerCertificate, KeyError, RootCertificate};

use crate::{CertifierId, DomainError};

/// A key identifier (`spec/pki.md` section 4), stored and shown as hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Kid(Vec<u8>);

impl Kid {
    /// The kid of these bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Reads hex (as in URLs and stored records).
    pub fn from_hex(text: &str) -> Option<Self> {
        (text.len() == 2 * trustmark_keys::KID_LEN)
            .then(|| hex::decode(text).ok())
            .flatten()
            .map(Self)
    }
}

/// A kid is looked up by its bytes (its `Hash` is that of the bytes, as `[u8]`'s).
impl std::borrow::Borrow<[u8]> for Kid {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Display for Kid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(&self.0))
    }
}

impl TryFrom<String> for Kid {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        Self::from_hex(&text).ok_or_else(|| format!("not a kid: {text:?}"))
    }
}

impl From<Kid> for String {
    fn from(kid: Kid) -> Self {
        kid.to_string()
    }
}

/// A key's algorithm as stored: `ed25519` or `es256`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyAlgorithm {
    /// Ed25519.
    Ed25519,
    /// ECDSA P-256 with SHA-256.
    Es256,
}

impl KeyAlgorithm {
    /// The format crate's algorithm.
    pub fn algorithm(self) -> Algorithm {
        match self {
            Self::Ed25519 => Algorithm::EdDsa,
            Self::Es256 => Algorithm::Es256,
        }
    }

    /// The stored form of `alg` (`None`: an algorithm this profile does not sign with).
    pub fn of(alg: Algorithm) -> Option<Self> {
        match alg {
            Algorithm::EdDsa => Some(Self::Ed25519),
            Algorithm::Es256 => Some(Self::Es256),
            _ => None,
        }
    }
}

/// The state of a key (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Made, not yet in a trust list.
    Pending,
    /// The one key its certifier signs with.
    Active,
    /// Replaced by a newer key; still listed, signs nothing new.
    Retiring,
    /// Dropped from the trust list.
    Retired,
}

/// An issuer key as the registry keeps it. The private key is the signer provider's; the record
/// holds the public key and the facts its state follows from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerKey {
    /// Its kid.
    pub kid: Kid,
    /// The certifier it belongs to.
    pub certifier_id: CertifierId,
    /// Its algorithm.
    pub alg: KeyAlgorithm,
    /// The raw public key, hex.
    #[serde(with = "hex_bytes")]
    pub public_key: Vec<u8>,
    /// The status list its marks are in (one list per key).
    pub status_list: u32,
    /// Made at (Unix seconds).
    pub created_at: u64,
    /// Its issuer certificate (PEM), once installed.
    pub certificate: Option<String>,
    /// When a trust list first listed it.
    pub activated_at: Option<u64>,
    /// The sequence number of that list (orders activations within one second).
    pub activated_by: Option<u64>,
    /// When a trust list first left it out after listing it.
    pub retired_at: Option<u64>,
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        hex::decode(&text).map_err(serde::de::Error::custom)
    }
}

impl IssuerKey {
    /// A new pending key of `certifier_id`.
    pub fn pending(
        certifier_id: &CertifierId,
        alg: Algorithm,
        public_key: &[u8],
        kid: &[u8],
        status_list: u32,
        now: u64,
    ) -> Result<Self, DomainError> {
        let alg = KeyAlgorithm::of(alg).ok_or_else(|| {
            DomainError::Key(KeyError::Profile(format!("{alg:?} keys cannot sign marks")))
        })?;
        Ok(Self {
            kid: Kid::new(kid),
            certifier_id: certifier_id.clone(),
            alg,
            public_key: public_key.to_vec(),
            status_list,
            created_at: now,
            certificate: None,
            activated_at: None,
            activated_by: None,
            retired_at: None,
        })
    }

    /// Checks `pem` as this key's issuer certificate: signed by `root` and within the profile
    /// (`IssuerCertificate::from_pem`), for this very key. A retired key takes none. Installing
    /// again (a re-certification: new validity or scope for the same key) is allowed in every
    /// other state; the kid, and so every mark, stays the same.
    pub fn check_certificate(
        &self,
        pem: &str,
        root: &RootCertificate,
    ) -> Result<IssuerCertificate, DomainError> {
        if self.retired_at.is_some() {
            return Err(DomainError::KeyRetired {
                kid: self.kid.to_string(),
            });
        }
        let certificate = IssuerCertificate::from_pem(pem, root).map_err(|e| match e {
            KeyError::NotSignedByRoot => DomainError::CertificateForeignRoot {
                root: root.common_name.clone(),
            },
            other => DomainError::Key(other),
        })?;
        if certificate.info.public_key != self.public_key {
            return Err(DomainError::CertificateKeyMismatch {
                kid: self.kid.to_string(),
                certificate_kid: hex::encode(&certificate.info.kid),
            });
        }
        Ok(certificate)
    }
}

/// The keys of one certifier.
#[derive(Debug, Clone, Copy)]
pub struct KeyRing<'a> {
    keys: &'a [IssuerKey],
}

impl<'a> KeyRing<'a> {
    /// The ring of `keys`, all of one certifier.
    pub fn new(keys: &'a [IssuerKey]) -> Self {
        Self { keys }
    }

    /// The keys.
    pub fn keys(&self) -> &'a [IssuerKey] {
        self.keys
    }

    /// The key with `kid`.
    pub fn get(&self, kid: &Kid) -> Option<&'a IssuerKey> {
        self.keys.iter().find(|k| k.kid == *kid)
    }

    /// The active key: of the keys listed and not retired, the one activated by the latest
    /// trust list (ties, two keys first listed by one list: the one made last, then the
    /// greater kid).
    pub fn active(&self) -> Option<&'a IssuerKey> {
        self.keys
            .iter()
            .filter(|k| k.activated_at.is_some() && k.retired_at.is_none())
            .max_by_key(|k| (k.activated_by, k.activated_at, k.created_at, k.kid.clone()))
    }

    /// The state of `key` within this ring.
    pub fn state(&self, key: &IssuerKey) -> KeyState {
        if key.retired_at.is_some() {
            KeyState::Retired
        } else if key.activated_at.is_none() {
            KeyState::Pending
        } else if self.active().is_some_and(|a| a.kid == key.kid) {
            KeyState::Active
        } else {
            KeyState::Retiring
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code
    use super::*;

    fn key(n: u8, activated_at: Option<u64>, retired_at: Option<u64>) -> IssuerKey {
        IssuerKey {
            activated_at,
            activated_by: activated_at,
            retired_at,
            ..IssuerKey::pending(
                &CertifierId::from_bytes([0xc1; 16]),
                Algorithm::EdDsa,
                &[n; 32],
                &[n; 4],
                n.into(),
                100,
            )
            .unwrap()
        }
    }

    #[test]
    fn one_active_key_the_latest_activated() {
        let keys = [
            key(1, Some(200), None),
            key(2, Some(300), None),
            key(3, None, None),
            key(4, Some(150), Some(250)),
        ];
        let ring = KeyRing::new(&keys);
        assert_eq!(ring.active().map(|k| k.status_list), Some(2));
        let states: Vec<KeyState> = keys.iter().map(|k| ring.state(k)).collect();
        assert_eq!(
            states,
            [
                KeyState::Retiring,
                KeyState::Active,
                KeyState::Pending,
                KeyState::Retired
            ]
        );
        assert_eq!(KeyRing::new(&keys[2..]).active(), None);
    }

    #[test]
    fn records_round_trip_and_refuse_what_they_do_not_know() {
        let record = key(7, Some(1), None);
        let json = serde_json::to_string(&record).unwrap();
        assert!(json.contains(r#""kid":"07070707""#), "{json}");
        assert!(json.contains(r#""alg":"ed25519""#), "{json}");
        assert_eq!(serde_json::from_str::<IssuerKey>(&json).unwrap(), record);
        for broken in [
            json.replace(r#""alg":"ed25519""#, r#""alg":"rsa""#),
            json.replace(r#""kid":"07070707""#, r#""kid":"0707""#),
            json.replace('}', r#","extra":1}"#),
        ] {
            assert!(
                serde_json::from_str::<IssuerKey>(&broken).is_err(),
                "{broken}"
            );
        }
    }
}
