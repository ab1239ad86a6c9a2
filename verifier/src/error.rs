//! The one error type of the verifier.

use alloc::{string::String, vec::Vec};
use core::fmt;

use trustmark_format::{Algorithm, Assurance, Day, FormatError, FrameworkId, UnixTime};

/// Why a mark (or the trust list or status list it is checked against) did not verify. Each
/// variant names the one check that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// The input is not a well-formed mark or trust list.
    Format(FormatError),
    /// The trust list's signature does not verify under the trust anchor.
    TrustListSignature,
    /// The trust list has expired: fetch a new one.
    TrustListExpired {
        /// The list's expiry.
        expires_at: UnixTime,
        /// The verification time.
        now: UnixTime,
    },
    /// The trust list was issued after the verification time.
    TrustListNotYetValid {
        /// When the list was issued.
        issued_at: UnixTime,
        /// The verification time.
        now: UnixTime,
    },
    /// No trusted issuer key has the mark's kid (unknown issuer, or one removed from the trust
    /// list, which is how an issuer is revoked).
    UnknownKid {
        /// The kid in the mark.
        kid: Vec<u8>,
    },
    /// The trusted key(s) with this kid use another algorithm than the mark's header names.
    AlgorithmMismatch {
        /// The algorithm in the mark.
        header: Algorithm,
        /// The trusted key's algorithm.
        key: Algorithm,
    },
    /// The signature does not verify under any trusted key with the mark's kid.
    BadSignature,
    /// An ES256 signature in its high-s form. It may be mathematically valid, but the profile
    /// allows only the low-s form, so that no one can make a second token from a mark.
    NonCanonicalSignature,
    /// A trust list older than (or as old as) the one already held: accepting it could undo the
    /// removal of an issuer.
    TrustListRollback {
        /// Sequence number of the list held.
        current: u64,
        /// Sequence number of the list offered.
        offered: u64,
    },
    /// [`crate::TrustStores::add`] was offered a scheme whose root key is already held: a newer
    /// list of a held scheme is an update ([`crate::TrustStores::update`], with a higher
    /// sequence), and one root key cannot stand for two schemes.
    TrustAnchorHeld {
        /// Sequence number of the list held under that key.
        sequence: u64,
    },
    /// [`crate::TrustStores::update`] was given the anchor of no held scheme: add it first.
    UnknownTrustAnchor,
    /// The mark was issued outside its key's validity period.
    IssuedOutsideKeyValidity {
        /// The mark's `iat`.
        iat: UnixTime,
        /// Start of the key's validity.
        not_before: UnixTime,
        /// End of the key's validity.
        not_after: UnixTime,
    },
    /// The mark's issue time is after the verification time.
    NotYetValid {
        /// The mark's `iat`.
        iat: UnixTime,
        /// The verification time.
        now: UnixTime,
    },
    /// The mark has expired.
    Expired {
        /// The mark's `exp`.
        exp: UnixTime,
        /// The verification time.
        now: UnixTime,
    },
    /// A framework claim is outside the issuer's accreditation scope.
    OutsideScope {
        /// The framework claimed.
        framework: FrameworkId,
        /// The class claimed.
        class: u8,
        /// The assurance claimed.
        assurance: Assurance,
    },
    /// The device's firmware digest is not the one the mark is for.
    FirmwareMismatch,
    /// The policy requires a framework the mark does not claim.
    FrameworkMissing {
        /// The framework required.
        framework: FrameworkId,
    },
    /// The mark's class under a framework is below the policy's minimum.
    ClassTooLow {
        /// The framework.
        framework: FrameworkId,
        /// The minimum class.
        required: u8,
        /// The class in the mark.
        actual: u8,
    },
    /// The mark's assurance under a framework is below the policy's requirement.
    AssuranceTooLow {
        /// The framework.
        framework: FrameworkId,
        /// The assurance required.
        required: Assurance,
        /// The assurance in the mark.
        actual: Assurance,
    },
    /// The claim's framework release is older than the policy's minimum.
    ReleaseTooOld {
        /// The framework.
        framework: FrameworkId,
        /// The oldest release accepted.
        required: crate::Release,
        /// The release in the mark.
        actual: crate::Release,
    },
    /// The policy asks for a minimum release, and the claim's release is not one
    /// (`spec/token.md` 5.7).
    ReleaseUnreadable {
        /// The framework.
        framework: FrameworkId,
    },
    /// The vendor's security-support period is over.
    SupportEnded {
        /// The last day of support.
        support_until: Day,
        /// The verification time.
        now: UnixTime,
    },
    /// A status list token's signature does not verify under any trusted key with its kid.
    StatusListSignature,
    /// A status list token's `sub` is not the `status_list_uri` of the trust-list entry whose
    /// key signed it: an issuer signs only the list it publishes.
    StatusListUriMismatch {
        /// The signer's `status_list_uri` in the trust list.
        expected: String,
        /// The token's `sub`.
        found: String,
    },
    /// A status list was issued outside its signing key's validity period.
    StatusListOutsideKeyValidity {
        /// The list's `iat`.
        iat: UnixTime,
        /// Start of the key's validity.
        not_before: UnixTime,
        /// End of the key's validity.
        not_after: UnixTime,
    },
    /// A status list was issued after the verification time.
    StatusListNotYetValid {
        /// The list's `iat`.
        issued_at: UnixTime,
        /// The verification time.
        now: UnixTime,
    },
    /// A status list has expired (its `exp`): fetch a current one.
    StatusListExpired {
        /// The list's `exp`.
        expires_at: UnixTime,
        /// The verification time.
        now: UnixTime,
    },
    /// A status list is older than the policy's `max_status_age`: fetch a current one.
    StatusListStale {
        /// The list's `iat`.
        issued_at: UnixTime,
        /// The policy's maximum age, in seconds.
        max_age: u64,
        /// The verification time.
        now: UnixTime,
    },
    /// The status list given is not the one for the mark's issuer: it is neither signed by the
    /// mark's key nor published at the mark issuer's `status_list_uri` by a key listed with
    /// that URI, or its signer is no longer in the trust list.
    StatusListIssuerMismatch,
    /// The mark's status index is past the end of its issuer's status list.
    StatusIndexOutOfRange {
        /// The mark's status index.
        index: u32,
        /// The number of entries in the list.
        len: usize,
    },
    /// The mark is revoked: its status list entry is INVALID (1), or a value this profile does
    /// not assign (application-specific 3, or anything above 2 in wider lists), which is
    /// treated as invalid.
    Revoked {
        /// The mark's status index.
        index: u32,
        /// The entry's value.
        status: u8,
    },
    /// The mark is suspended (its status list entry is SUSPENDED, 2); it may be reinstated.
    Suspended {
        /// The mark's status index.
        index: u32,
    },
    /// The policy requires a status list and none was given.
    StatusMissing,
}

impl VerifyError {
    /// A stable, machine-readable name for the failed check.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Format(e) => e.code(),
            Self::TrustListSignature => "trust_list_signature",
            Self::TrustListExpired { .. } => "trust_list_expired",
            Self::TrustListNotYetValid { .. } => "trust_list_not_yet_valid",
            Self::UnknownKid { .. } => "unknown_kid",
            Self::AlgorithmMismatch { .. } => "algorithm_mismatch",
            Self::BadSignature => "bad_signature",
            Self::NonCanonicalSignature => "non_canonical_signature",
            Self::TrustListRollback { .. } => "trust_list_rollback",
            Self::TrustAnchorHeld { .. } => "trust_anchor_held",
            Self::UnknownTrustAnchor => "unknown_trust_anchor",
            Self::IssuedOutsideKeyValidity { .. } => "issued_outside_key_validity",
            Self::NotYetValid { .. } => "not_yet_valid",
            Self::Expired { .. } => "expired",
            Self::OutsideScope { .. } => "outside_scope",
            Self::FirmwareMismatch => "firmware_mismatch",
            Self::FrameworkMissing { .. } => "framework_missing",
            Self::ClassTooLow { .. } => "class_too_low",
            Self::AssuranceTooLow { .. } => "assurance_too_low",
            Self::ReleaseTooOld { .. } => "release_too_old",
            Self::ReleaseUnreadable { .. } => "release_unreadable",
            Self::SupportEnded { .. } => "support_ended",
            Self::StatusListSignature => "status_list_signature",
            Self::StatusListUriMismatch { .. } => "status_list_uri_mismatch",
            Self::StatusListOutsideKeyValidity { .. } => "status_list_outside_key_validity",
            Self::StatusListNotYetValid { .. } => "status_list_not_yet_valid",
            Self::StatusListExpired { .. } => "status_list_expired",
            Self::StatusListStale { .. } => "status_list_stale",
            Self::StatusListIssuerMismatch => "status_list_issuer_mismatch",
            Self::StatusIndexOutOfRange { .. } => "status_index_out_of_range",
            Self::Revoked { .. } => "revoked",
            Self::Suspended { .. } => "suspended",
            Self::StatusMissing => "status_missing",
        }
    }
}

impl From<FormatError> for VerifyError {
    fn from(e: FormatError) -> Self {
        Self::Format(e)
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Format(e) => write!(f, "malformed: {e}"),
            Self::TrustListSignature => f.write_str("the trust list is not signed by the trust anchor"),
            Self::TrustListExpired { expires_at, now } => write!(
                f,
                "the trust list expired at {} (now {}); fetch a current one",
                expires_at.0, now.0
            ),
            Self::TrustListNotYetValid { issued_at, now } => write!(
                f,
                "the trust list was issued at {}, after the verification time {}",
                issued_at.0, now.0
            ),
            Self::UnknownKid { kid } => {
                f.write_str("no trusted issuer has key id ")?;
                for b in kid {
                    write!(f, "{b:02x}")?;
                }
                f.write_str(" (unknown issuer, or removed from the trust list)")
            }
            Self::AlgorithmMismatch { header, key } => write!(
                f,
                "the mark says {header} but the trusted key is {key}"
            ),
            Self::BadSignature => f.write_str("the signature is not valid: the mark is forged or was altered"),
            Self::NonCanonicalSignature => f.write_str("the ES256 signature is not in its low-s form"),
            Self::TrustListRollback { current, offered } => write!(
                f,
                "trust list sequence {offered} is not newer than the one held ({current})"
            ),
            Self::TrustAnchorHeld { sequence } => write!(
                f,
                "a trust list under this root key is already held (sequence {sequence}); a newer one is an update"
            ),
            Self::UnknownTrustAnchor => f.write_str("no trust list is held under this trust anchor"),
            Self::IssuedOutsideKeyValidity { iat, not_before, not_after } => write!(
                f,
                "issued at {} outside its key's validity {}..{}",
                iat.0, not_before.0, not_after.0
            ),
            Self::NotYetValid { iat, now } => write!(f, "issued at {}, after the verification time {}", iat.0, now.0),
            Self::Expired { exp, now } => write!(f, "expired at {} (now {})", exp.0, now.0),
            Self::OutsideScope { framework, class, assurance } => write!(
                f,
                "the issuer is not accredited for {framework} class {class} with {assurance} assurance"
            ),
            Self::FirmwareMismatch => f.write_str("the device's firmware digest differs from the one the mark is for"),
            Self::FrameworkMissing { framework } => write!(f, "the mark makes no {framework} claim"),
            Self::ClassTooLow { framework, required, actual } => write!(
                f,
                "{framework} class {actual} is below the required class {required}"
            ),
            Self::AssuranceTooLow { framework, required, actual } => write!(
                f,
                "{framework} claim has {actual} assurance where {required} is required"
            ),
            Self::ReleaseTooOld { framework, required, actual } => write!(
                f,
                "{framework} claim was assessed against release {actual}, older than the required release {required}"
            ),
            Self::ReleaseUnreadable { framework } => write!(
                f,
                "{framework} claim names a release that is not dot-separated numbers, and the policy requires a minimum release"
            ),
            Self::SupportEnded { support_until, now } => write!(
                f,
                "the security support period ended (day {} since 1970; now {})",
                support_until.0, now.0
            ),
            Self::StatusListSignature => f.write_str(
                "the status list's signature is not valid under the trusted key with its kid"
            ),
            Self::StatusListUriMismatch { expected, found } => write!(
                f,
                "the status list is for {found}, but its signer publishes {expected}"
            ),
            Self::StatusListOutsideKeyValidity { iat, not_before, not_after } => write!(
                f,
                "the status list was issued at {} outside its key's validity {}..{}",
                iat.0, not_before.0, not_after.0
            ),
            Self::StatusListNotYetValid { issued_at, now } => write!(
                f,
                "the status list was issued at {}, after the verification time {}",
                issued_at.0, now.0
            ),
            Self::StatusListExpired { expires_at, now } => write!(
                f,
                "the status list expired at {} (now {}); fetch a current one",
                expires_at.0, now.0
            ),
            Self::StatusListStale { issued_at, max_age, now } => write!(
                f,
                "the status list was issued at {} (now {}), more than the {max_age} s the policy accepts; fetch a current one",
                issued_at.0, now.0
            ),
            Self::StatusListIssuerMismatch => f.write_str(
                "the status list is not the one for the mark's issuer"
            ),
            Self::StatusIndexOutOfRange { index, len } => write!(
                f,
                "the mark's status index {index} is past the end of its status list ({len} entries)"
            ),
            Self::Revoked { index, status } => write!(
                f,
                "the mark is revoked (status list entry {index} is {status})"
            ),
            Self::Suspended { index } => write!(
                f,
                "the mark is suspended (status list entry {index})"
            ),
            Self::StatusMissing => f.write_str("the policy requires a status list and none was given"),
        }
    }
}

impl core::error::Error for VerifyError {}
