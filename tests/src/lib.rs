//! The test-vector file format shared by the generator (`gen-vectors`) and the runner
//! (`tests/vectors.rs`), and helpers for the end-to-end tests.
//!
//! Vector files live in `spec/vectors/`. Each case says what input it gives and exactly what the
//! verifier must answer: `"valid"` or the error code (`VerifyError::code()`). Unknown fields fail
//! the run, so a typo in a vector cannot silently turn a case into a no-op.

use serde::{Deserialize, Serialize};

pub mod flows;
pub mod hostile;
pub mod key_store;
pub mod server;
pub mod xlsx;

/// The fixed clock of every vector: 2026-11-21T22:26:40Z.
pub const VECTOR_TIME: u64 = 1_795_300_000;

/// Root key seed of the vectors (Ed25519, deterministic).
pub const ROOT_SEED: [u8; 32] = [0x01; 32];
/// Trusted issuer key seed.
pub const ISSUER_SEED: [u8; 32] = [0x02; 32];
/// Scalar of the trusted ES256 issuer key (any value below the P-256 order).
pub const ES256_ISSUER_SCALAR: [u8; 32] = [0x04; 32];
/// A key that no trust list names.
pub const STRANGER_SEED: [u8; 32] = [0x03; 32];

/// Where the vector issuers publish their status list: their trust-list `status_list_uri`, and
/// the `sub` of `files/status-list.cwt`.
pub const STATUS_LIST_URI: &str = "https://verify.example.org/v1/status-lists/1";
/// Entries in `files/status-list.cwt` (2 bits each): 2^20, so that the typical mark's index
/// (2^20 - 1, valid) is the list's last.
pub const STATUS_LIST_ENTRIES: usize = 1 << 20;
/// The status index of `files/revoked-mark.cbor`, revoked (INVALID) in `files/status-list.cwt`.
pub const REVOKED_STATUS_INDEX: u32 = 1_000;
/// An index that `files/status-list.cwt` marks SUSPENDED.
pub const SUSPENDED_STATUS_INDEX: u32 = 1_001;
/// `iat` of `files/status-list.cwt`: six hours before the vector time.
pub const STATUS_LIST_ISSUED_AT: u64 = VECTOR_TIME - 6 * 3600;
/// `exp` of `files/status-list.cwt`: seven days after its `iat`.
pub const STATUS_LIST_EXPIRES_AT: u64 = STATUS_LIST_ISSUED_AT + 7 * 86_400;
/// `ttl` of `files/status-list.cwt`: twelve hours.
pub const STATUS_LIST_TTL: u64 = 12 * 3600;

/// The trust anchor of a vector file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AnchorVector {
    /// `EdDSA` or `ES256`.
    pub alg: String,
    /// Raw public key, hex.
    pub public_key: String,
}

/// A framework requirement of a policy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FrameworkRequirementVector {
    /// Framework short name.
    pub framework: String,
    /// Minimum class.
    pub min_class: u8,
    /// `self` or `third-party`, if required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_assurance: Option<String>,
}

/// A verification policy.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PolicyVector {
    /// Expected firmware digest, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware_sha256: Option<String>,
    /// Framework requirements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frameworks: Vec<FrameworkRequirementVector>,
    /// Refuse marks past their support period.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_support: bool,
}

/// What a case must produce.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Expect {
    /// The input verifies.
    Valid,
    /// Verification fails with this error code.
    Error(String),
}

/// One mark case.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MarkCase {
    /// Short unique name.
    pub name: String,
    /// What the case exercises, and how the input was made.
    pub description: String,
    /// The token, hex.
    pub token: String,
    /// Policy (default: none).
    #[serde(default, skip_serializing_if = "is_default")]
    pub policy: PolicyVector,
    /// Verification time, if not the file's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<u64>,
    /// The expected answer.
    pub expect: Expect,
    /// For a valid mark, the trust-list entry that must have verified it (given in
    /// `multi-key.json`, whose list has several keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<SignerVector>,
}

/// The trust-list entry whose key verified a mark.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SignerVector {
    /// Its kid, hex.
    pub kid: String,
    /// Its name (unique within the vector's trust list).
    pub name: String,
}

fn is_default(policy: &PolicyVector) -> bool {
    *policy == PolicyVector::default()
}

/// `marks.json` and `multi-key.json`: marks verified against one trust list.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MarkVectors {
    /// What the file holds.
    pub description: String,
    /// Verification time (seconds since 1970).
    pub time: u64,
    /// Trust anchor.
    pub anchor: AnchorVector,
    /// Signed trust list, hex.
    pub trust_list: String,
    /// The cases.
    pub cases: Vec<MarkCase>,
}

/// One trust-list case.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TrustListCase {
    /// Short unique name.
    pub name: String,
    /// What the case exercises.
    pub description: String,
    /// Signed trust list, hex.
    pub trust_list: String,
    /// Verification time, if not the file's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<u64>,
    /// The expected answer.
    pub expect: Expect,
}

/// `trust-lists.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TrustListVectors {
    /// What the file holds.
    pub description: String,
    /// Verification time.
    pub time: u64,
    /// Trust anchor.
    pub anchor: AnchorVector,
    /// The cases.
    pub cases: Vec<TrustListCase>,
}

/// One QR text case.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct QrTextCase {
    /// Short unique name.
    pub name: String,
    /// What the case exercises.
    pub description: String,
    /// The scanned text.
    pub text: String,
    /// The token bytes it decodes to (hex), when valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<String>,
    /// The expected answer.
    pub expect: Expect,
}

/// `qr-text.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct QrTextVectors {
    /// What the file holds.
    pub description: String,
    /// The cases.
    pub cases: Vec<QrTextCase>,
}

/// The `spec/vectors` directory of this checkout.
pub fn vectors_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors")
}
