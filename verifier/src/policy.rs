//! What a relying party requires of a mark beyond its being genuine and current.

use alloc::vec::Vec;

use trustmark_format::{Assurance, FrameworkId, MarkClaims, UnixTime};

use crate::{Release, VerifyError};

/// One framework requirement of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameworkRequirement {
    /// The framework the mark must claim.
    pub framework: FrameworkId,
    /// The lowest acceptable class.
    pub min_class: u8,
    /// The lowest acceptable assurance, if any.
    pub min_assurance: Option<Assurance>,
    /// The oldest acceptable framework release, if any: the claim's release (its `version`)
    /// must be a [`Release`] at least this one.
    pub min_release: Option<Release>,
}

/// A verification policy. The default accepts any genuine, current, in-scope mark; every field
/// adds a requirement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// The SHA-256 digest of the firmware the device actually runs (a gateway measures it).
    pub firmware_sha256: Option<[u8; 32]>,
    /// Frameworks the mark must claim, each with a minimum class and assurance.
    pub frameworks: Vec<FrameworkRequirement>,
    /// Refuse marks whose security-support period is over.
    pub require_support: bool,
    /// The oldest status list accepted, in seconds since its `iat`: a status list older than
    /// this at verification time fails with `status_list_stale`, whatever its `exp`. An offline
    /// gateway sets how stale its view of revocations may be here; `None` accepts any list that
    /// has not expired.
    pub max_status_age: Option<u64>,
    /// Refuse to verify a mark without a status list ([`crate::verify_with_status`] with
    /// `None`, or [`crate::verify`]): `status_missing`.
    pub require_status: bool,
}

impl Policy {
    /// Checks the claims against the policy at `now`.
    pub fn check(&self, claims: &MarkClaims, now: UnixTime) -> Result<(), VerifyError> {
        if let Some(expected) = &self.firmware_sha256 {
            // Not secret: a plain comparison is fine.
            if *expected != claims.firmware.sha256 {
                return Err(VerifyError::FirmwareMismatch);
            }
        }
        for requirement in &self.frameworks {
            let claim =
                claims
                    .framework(requirement.framework)
                    .ok_or(VerifyError::FrameworkMissing {
                        framework: requirement.framework,
                    })?;
            if claim.class < requirement.min_class {
                return Err(VerifyError::ClassTooLow {
                    framework: requirement.framework,
                    required: requirement.min_class,
                    actual: claim.class,
                });
            }
            if let Some(required) = requirement.min_assurance {
                if claim.assurance < required {
                    return Err(VerifyError::AssuranceTooLow {
                        framework: requirement.framework,
                        required,
                        actual: claim.assurance,
                    });
                }
            }
            if let Some(required) = requirement.min_release {
                let actual =
                    Release::parse(&claim.version).ok_or(VerifyError::ReleaseUnreadable {
                        framework: requirement.framework,
                    })?;
                if actual < required {
                    return Err(VerifyError::ReleaseTooOld {
                        framework: requirement.framework,
                        required,
                        actual,
                    });
                }
            }
        }
        if self.require_support && now >= claims.support_until.end() {
            return Err(VerifyError::SupportEnded {
                support_until: claims.support_until,
                now,
            });
        }
        Ok(())
    }
}
