//! Fixtures shared by the fuzz targets in `fuzz_targets/`.
//!
//! Everything comes from the committed vectors (`spec/vectors/files/`, written by
//! `gen-vectors`): the root-signed trust list, the root's public key (the trust anchor), the
//! vectors' fixed clock, the vector issuer's signed status list, the typical mark (valid, status
//! VALID) and the revoked mark. On top of those, [`AcceptAnySignature`]: a signature backend
//! that accepts every signature. The fuzzer cannot forge an Ed25519 signature, so with the real
//! backend every mutated token stops at the signature check; with this one the same input also
//! reaches every check behind it (claims, validity, scope, policy, status). It exists only in
//! this harness, which is not published and is no part of any library.
//!
//! Building the fixtures checks them (the typical mark verifies with its status, the revoked mark
//! is revoked) and panics if they do not: libFuzzer then reports a crash on the first input, so
//! a change to the vectors cannot silently turn a target into a no-op.
#![forbid(unsafe_code)]

use std::sync::LazyLock;

use trustmark_format::{Algorithm, Assurance, FrameworkId, UnixTime};
use trustmark_verifier::{
    verify_status_list, verify_with_status, FrameworkRequirement, Policy, SignatureVerifier,
    TrustAnchor, TrustStore, VerifiedStatusList, VerifyError, RING,
};

/// The vectors' signed trust list (`spec/vectors/files/trust-list.cbor`).
pub const TRUST_LIST: &[u8] = include_bytes!("../../spec/vectors/files/trust-list.cbor");
/// The vectors' root public key, Ed25519 (`spec/vectors/files/root-ed25519.pub`).
pub const ROOT_PUBLIC_KEY: &[u8] = include_bytes!("../../spec/vectors/files/root-ed25519.pub");
/// The vectors' typical mark (`spec/vectors/files/typical-mark.cbor`), valid at [`now`].
pub const TYPICAL_MARK: &[u8] = include_bytes!("../../spec/vectors/files/typical-mark.cbor");
/// The vectors' revoked mark (`spec/vectors/files/revoked-mark.cbor`): genuine, but INVALID in
/// [`STATUS_LIST`].
pub const REVOKED_MARK: &[u8] = include_bytes!("../../spec/vectors/files/revoked-mark.cbor");
/// The vector issuer's signed status list (`spec/vectors/files/status-list.cwt`): 2^20 two-bit
/// entries, the typical mark's VALID, the revoked mark's INVALID.
pub const STATUS_LIST: &[u8] = include_bytes!("../../spec/vectors/files/status-list.cwt");
/// The vectors' clock, decimal seconds (`spec/vectors/files/time.txt`).
const TIME: &str = include_str!("../../spec/vectors/files/time.txt");

/// Budget, in bytes of uncompressed status list, for lists that come from the fuzzer. Small so
/// that one input (libFuzzer's default `-max_len` is 4096 bytes, and zlib reaches about 1000:1)
/// cannot cost more than a fraction of a millisecond to inflate. The `verify` target still runs
/// `verify_status_list` with its default budget (`MAX_LIST_BYTES`, 1 MiB) under ring.
pub const FUZZ_LIST_BUDGET: usize = 64 * 1024;

/// Entries the `verify` target reads from every status list that verifies: the first entries
/// and byte boundaries at each entry size, the revoked and suspended entries of [`STATUS_LIST`],
/// and the last entry of a [`FUZZ_LIST_BUDGET`] list at 2 bits.
pub const PROBE_INDICES: [usize; 11] = [0, 1, 2, 3, 7, 8, 15, 16, 1000, 1001, 262_143];

/// A signature backend that accepts every signature: see the crate documentation.
#[derive(Debug, Clone, Copy)]
pub struct AcceptAnySignature;

impl SignatureVerifier for AcceptAnySignature {
    fn verify(&self, _: Algorithm, _: &[u8], _: &[u8], _: &[u8]) -> bool {
        true
    }
}

/// The one instance of [`AcceptAnySignature`].
pub static ACCEPT_ANY: AcceptAnySignature = AcceptAnySignature;

/// Everything the targets check input against, built once per process.
pub struct Fixtures {
    /// The vectors' clock.
    pub now: UnixTime,
    /// The vectors' trust anchor (the root key).
    pub anchor: TrustAnchor,
    /// The vector trust list under the ring backend.
    pub ring_store: TrustStore<'static>,
    /// The vector trust list under [`AcceptAnySignature`].
    pub open_store: TrustStore<'static>,
    /// [`STATUS_LIST`] verified under `ring_store`, expanded (constant-time lookups).
    pub ring_status: VerifiedStatusList,
    /// [`STATUS_LIST`] verified under `open_store`, expanded.
    pub open_status: VerifiedStatusList,
    /// Policies every token is verified under: the default, and one that sets every field.
    pub policies: [Policy; 2],
}

/// The fixtures, built on first use.
pub static FIXTURES: LazyLock<Fixtures> = LazyLock::new(build_fixtures);

/// Panics with `what` if `result` is an error: fixture construction only.
fn fixture<T, E: core::fmt::Debug>(what: &str, result: Result<T, E>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("fuzz fixture {what}: {e:?}"),
    }
}

fn build_fixtures() -> Fixtures {
    let now = UnixTime(fixture("time.txt", TIME.trim().parse::<u64>()));
    let anchor = TrustAnchor {
        alg: Algorithm::EdDsa,
        public_key: ROOT_PUBLIC_KEY.to_vec(),
    };
    let ring_store = fixture(
        "trust list (ring)",
        TrustStore::from_signed(TRUST_LIST, &anchor, now, &RING),
    );
    let open_store = fixture(
        "trust list (accept any)",
        TrustStore::from_signed(TRUST_LIST, &anchor, now, &ACCEPT_ANY),
    );
    let policies = [
        Policy::default(),
        Policy {
            firmware_sha256: Some([0x9f; 32]),
            frameworks: vec![FrameworkRequirement {
                framework: FrameworkId::IOTSF_ICAF,
                min_class: 2,
                min_release: None,
                min_assurance: Some(Assurance::ThirdParty),
            }],
            require_support: true,
            max_status_age: Some(7 * 86_400),
            require_status: true,
        },
    ];
    let verified = |store: &TrustStore<'_>, what: &str| {
        let mut list = fixture(
            what,
            verify_status_list(STATUS_LIST, store, &policies[1], now),
        );
        fixture(what, list.expand());
        list
    };
    let ring_status = verified(&ring_store, "status list (ring)");
    let open_status = verified(&open_store, "status list (accept any)");
    // The typical mark passes everything, status included, and the revoked mark fails on its
    // status alone: the targets start from tokens that reach the end of verification.
    for policy in &policies {
        fixture(
            "typical mark",
            verify_with_status(TYPICAL_MARK, &ring_store, Some(&ring_status), policy, now),
        );
        let revoked =
            verify_with_status(REVOKED_MARK, &ring_store, Some(&ring_status), policy, now);
        fixture(
            "revoked mark",
            match revoked {
                Err(VerifyError::Revoked { .. }) => Ok(()),
                other => Err(other),
            },
        );
    }
    Fixtures {
        now,
        anchor,
        ring_store,
        open_store,
        ring_status,
        open_status,
        policies,
    }
}

/// The input as text: itself if it is UTF-8, else with invalid sequences replaced.
pub fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}
