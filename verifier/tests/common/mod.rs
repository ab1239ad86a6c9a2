//! What the library tests share: both crypto backends, one clock, scheme roots that sign trust
//! lists, issuer entries, marks and status list tokens signed with real keys (ring, through
//! trustmark-keys). Each test binary uses part of it.

#![allow(dead_code)] // each test binary that includes this module uses only part of it

use trustmark_format::{
    mark, Algorithm, Assurance, Day, Firmware, FrameworkClaim, FrameworkId, FrameworkScope,
    IssuerScope, MarkClaims, Status, StatusList, StatusListToken, TrustList, TrustedIssuer,
    UnixTime,
};
use trustmark_keys::{KeyError, Signer, SoftwareKey};
use trustmark_verifier::{SignatureVerifier, TrustAnchor, TrustStore, RING, RUST_CRYPTO};

/// Every case runs with each crypto backend.
pub(crate) static BACKENDS: [(&str, &dyn SignatureVerifier); 2] =
    [("ring", &RING), ("rustcrypto", &RUST_CRYPTO)];

/// Runs `case` with each backend, naming it in the output (shown when the case fails).
pub(crate) fn for_each_backend(case: impl Fn(&'static dyn SignatureVerifier)) {
    for (name, crypto) in BACKENDS {
        println!("crypto backend: {name}");
        case(crypto);
    }
}

/// The one clock of these tests: trust lists, marks and status lists are made around `NOW`.
pub(crate) const NOW: u64 = 1_800_000_000;
pub(crate) const DAY: u64 = 86_400;

/// zlib at level 9 from the C library (flate2's libz-sys backend), as the issuer compresses.
pub(crate) fn zlib9(data: &[u8]) -> Vec<u8> {
    let mut z = flate2::Compress::new(flate2::Compression::new(9), true);
    let mut out = Vec::with_capacity(data.len() + data.len() / 1000 + 64);
    match z.compress_vec(data, &mut out, flate2::FlushCompress::Finish) {
        Ok(flate2::Status::StreamEnd) => out,
        other => panic!("zlib: {other:?}"),
    }
}

/// A deterministic Ed25519 key.
pub(crate) fn key(seed: u8) -> SoftwareKey {
    SoftwareKey::ed25519_from_seed(&[seed; 32]).unwrap()
}

/// The trust-list entry of `key`: valid a year either side of `NOW`, accredited for IoTSF class
/// 4 with third-party assurance.
pub(crate) fn entry(key: &dyn Signer, name: &str, uri: Option<&str>) -> TrustedIssuer {
    TrustedIssuer {
        kid: key.kid().to_vec(),
        alg: key.algorithm(),
        public_key: key.public_key().to_vec(),
        not_before: UnixTime(NOW - 365 * DAY),
        not_after: UnixTime(NOW + 365 * DAY),
        name: name.to_string(),
        scope: IssuerScope {
            frameworks: vec![FrameworkScope {
                framework: FrameworkId::IOTSF_ICAF,
                max_class: 4,
            }],
            assurances: vec![Assurance::ThirdParty],
        },
        status_list_uri: uri.map(str::to_string),
    }
}

/// A scheme root: its key signs the scheme's trust lists, and verifiers hold its anchor.
pub(crate) struct Root {
    pub(crate) key: SoftwareKey,
}

impl Root {
    /// The root with the Ed25519 key of `seed`.
    pub(crate) fn new(seed: u8) -> Self {
        Self { key: key(seed) }
    }

    /// What a verifier holds for this root.
    pub(crate) fn anchor(&self) -> TrustAnchor {
        TrustAnchor {
            alg: Algorithm::EdDsa,
            public_key: self.key.public_key().to_vec(),
        }
    }

    /// A list of `issuers` issued a day before `NOW`, valid for 30 days.
    pub(crate) fn list(sequence: u64, issuers: Vec<TrustedIssuer>) -> TrustList {
        TrustList {
            sequence,
            issued_at: UnixTime(NOW - DAY),
            expires_at: UnixTime(NOW + 30 * DAY),
            issuers,
        }
    }

    /// `list`, signed by this root.
    pub(crate) fn sign(&self, list: &TrustList) -> Vec<u8> {
        list.sign(Algorithm::EdDsa, self.key.kid(), |tbs| self.key.sign(tbs))
            .unwrap()
    }

    /// [`Self::list`] of `issuers`, signed by this root.
    pub(crate) fn signed_list(&self, sequence: u64, issuers: Vec<TrustedIssuer>) -> Vec<u8> {
        self.sign(&Self::list(sequence, issuers))
    }

    /// A store of [`Self::signed_list`] (sequence 1), verified under this root at `NOW`.
    pub(crate) fn store(
        &self,
        issuers: Vec<TrustedIssuer>,
        crypto: &'static dyn SignatureVerifier,
    ) -> TrustStore<'static> {
        let signed = self.signed_list(1, issuers);
        TrustStore::from_signed(&signed, &self.anchor(), UnixTime(NOW), crypto).unwrap()
    }
}

pub(crate) fn claims(status_index: u32) -> MarkClaims {
    MarkClaims {
        vendor: "Acme Devices Ltd".to_string(),
        model: "Thermostat T1000".to_string(),
        hw_version: "1.0.0".to_string(),
        firmware: Firmware {
            version: "2.4.1".to_string(),
            sha256: [0x9f; 32],
        },
        frameworks: vec![FrameworkClaim {
            framework: FrameworkId::IOTSF_ICAF,
            version: "3.0".to_string(),
            class: 2,
            assurance: Assurance::ThirdParty,
        }],
        issued_at: UnixTime(NOW - 10 * DAY),
        expires_at: UnixTime(NOW + 300 * DAY),
        support_until: Day(25_000),
        status_index,
    }
}

/// A mark of [`claims`] signed by `key`.
pub(crate) fn mark_by(key: &dyn Signer, status_index: u32) -> Vec<u8> {
    mark::encode(&claims(status_index), key.algorithm(), key.kid(), |tbs| {
        key.sign(tbs)
    })
    .unwrap()
}

/// A 2-bit list of `len` entries with the given `(index, status)` set.
pub(crate) fn entries(len: usize, set: &[(usize, Status)]) -> StatusList {
    let mut list = StatusList::new(2, len).unwrap();
    for (index, status) in set {
        list.set(*index, status.value()).unwrap();
    }
    list
}

/// A status list token signed by `key`, issued at `NOW` and valid for a day.
pub(crate) fn status_token(key: &dyn Signer, uri: &str, list: StatusList) -> Vec<u8> {
    token_with(key, uri, UnixTime(NOW), Some(UnixTime(NOW + DAY)), list)
}

pub(crate) fn token_with(
    key: &dyn Signer,
    uri: &str,
    issued_at: UnixTime,
    expires_at: Option<UnixTime>,
    list: StatusList,
) -> Vec<u8> {
    StatusListToken {
        uri: uri.to_string(),
        issued_at,
        expires_at,
        ttl: Some(43_200),
        list,
    }
    .sign::<KeyError>(key.algorithm(), key.kid(), zlib9, |tbs| key.sign(tbs))
    .unwrap()
}
