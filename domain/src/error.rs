//! The domain's one error type.

use trustmark_format::{Assurance, FrameworkId, UnixTime};
use trustmark_keys::KeyError;

/// The accreditation limit a claim goes past (`spec/pki.md` 11.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeLimit {
    /// The key is not accredited for the framework at all.
    FrameworkNotAccredited {
        /// The frameworks it is accredited for.
        accredited: Vec<FrameworkId>,
    },
    /// The class is above the key's maximum for the framework.
    ClassAbove {
        /// The maximum.
        max_class: u8,
    },
    /// The key may not sign this assurance.
    AssuranceNotAllowed {
        /// The assurances it may sign.
        allowed: Vec<Assurance>,
    },
}

impl std::fmt::Display for ScopeLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn list<T: std::fmt::Display>(items: &[T]) -> String {
            if items.is_empty() {
                return "none".into();
            }
            items
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        }
        match self {
            Self::FrameworkNotAccredited { accredited } => write!(
                f,
                "the key is not accredited for this framework (accredited: {})",
                list(accredited)
            ),
            Self::ClassAbove { max_class } => {
                write!(f, "the key's maximum class for it is {max_class}")
            }
            Self::AssuranceNotAllowed { allowed } => {
                write!(f, "the key may sign {} assurance only", list(allowed))
            }
        }
    }
}

/// Why the domain refuses.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DomainError {
    /// The certifier has no active key: none was accredited and published yet, or all were
    /// retired.
    #[error("certifier {certifier} has no active signing key{hint}")]
    NoActiveKey {
        /// The certifier.
        certifier: String,
        /// What to do next.
        hint: &'static str,
    },
    /// No key with this kid in the certifier's ring.
    #[error("certifier {certifier} has no key {kid}")]
    UnknownKey {
        /// The certifier.
        certifier: String,
        /// The kid (hex).
        kid: String,
    },
    /// The key was removed from the trust list or retired: it takes no certificate and signs
    /// nothing.
    #[error("key {kid} is retired")]
    KeyRetired {
        /// The kid (hex).
        kid: String,
    },
    /// A certificate for another key than the one it is installed on.
    #[error("the certificate is for key {certificate_kid}, not for key {kid}")]
    CertificateKeyMismatch {
        /// The key it was installed on.
        kid: String,
        /// The key it certifies.
        certificate_kid: String,
    },
    /// A certificate that does not chain to the scheme root the service is configured with.
    #[error("the certificate is not signed by this scheme's root ({root})")]
    CertificateForeignRoot {
        /// The root's common name.
        root: String,
    },
    /// A certificate, request or key that is not in the profile.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A trust list whose root signature does not verify, or which is not current.
    #[error("trust list refused: {0}")]
    TrustList(String),
    /// A trust list not newer than the one in force.
    #[error("trust list sequence {offered} is not above the one in force ({current}): a rollback")]
    TrustListRollback {
        /// In force.
        current: u64,
        /// Offered.
        offered: u64,
    },
    /// No trust list is in force.
    #[error(
        "no trust list is in force: the scheme operator has not published one to this service yet"
    )]
    NoTrustList,
    /// The active key is not in the trust list in force.
    #[error("key {kid} is not in the trust list in force")]
    KeyNotListed {
        /// The kid (hex).
        kid: String,
    },
    /// The key's accreditation, as the trust list states it, does not cover `now`: withdrawn,
    /// expired, or not yet started.
    #[error("the accreditation of key {kid} is not in force at {}: it runs from {} to {} (Unix seconds; a withdrawal ends it early)", .now.0, .not_before.0, .not_after.0)]
    AccreditationNotInForce {
        /// The kid (hex).
        kid: String,
        /// Its start.
        not_before: UnixTime,
        /// Its end (a withdrawal ends it early).
        not_after: UnixTime,
        /// The time asked about.
        now: UnixTime,
    },
    /// A claim outside the key's accreditation scope.
    #[error("{framework} class {class} ({assurance}) is outside the accreditation of key {kid}: {limit}")]
    OutsideScope {
        /// The key.
        kid: String,
        /// The framework claimed.
        framework: FrameworkId,
        /// The class claimed.
        class: u8,
        /// The assurance claimed.
        assurance: Assurance,
        /// The limit passed.
        limit: ScopeLimit,
    },
}
