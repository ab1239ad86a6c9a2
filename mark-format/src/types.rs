//! Small value types shared by marks and trust lists.

use core::fmt;

/// A signature algorithm the profile allows, with its COSE algorithm value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// EdDSA with Ed25519 (COSE -8). The default.
    EdDsa,
    /// ECDSA with P-256 and SHA-256 (COSE -7), signature as `r || s` (64 bytes).
    Es256,
}

impl Algorithm {
    /// The COSE algorithm value (RFC 9053).
    pub const fn cose_value(self) -> i64 {
        match self {
            Self::EdDsa => -8,
            Self::Es256 => -7,
        }
    }

    /// The algorithm with the given COSE value, if the profile allows it.
    pub const fn from_cose_value(value: i64) -> Option<Self> {
        match value {
            -8 => Some(Self::EdDsa),
            -7 => Some(Self::Es256),
            _ => None,
        }
    }

    /// Length of the raw public key: 32 bytes for Ed25519, 65 (uncompressed SEC1) for P-256.
    pub const fn public_key_len(self) -> usize {
        match self {
            Self::EdDsa => 32,
            Self::Es256 => 65,
        }
    }

    /// Every signature of both algorithms is 64 bytes.
    pub const SIGNATURE_LEN: usize = 64;

    /// Short name, as in COSE and JOSE.
    pub const fn name(self) -> &'static str {
        match self {
            Self::EdDsa => "EdDSA",
            Self::Es256 => "ES256",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A security framework a mark can claim, by its number in the framework registry
/// (`spec/token.md`). Frameworks are claimed side by side, never converted into each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FrameworkId(pub u16);

impl FrameworkId {
    /// IoT Security Foundation IoT Security Assurance Framework (classes 0-4).
    pub const IOTSF_ICAF: Self = Self(1);
    /// ETSI EN 303 645.
    pub const ETSI_EN_303_645: Self = Self(2);
    /// UK PSTI (Security Requirements for Relevant Connectable Products) Regulations 2023.
    pub const UK_PSTI: Self = Self(3);
    /// NIST IR 8425, the IoT core baseline for consumer IoT products (the US Cyber Trust Mark's).
    pub const NIST_IR_8425: Self = Self(4);

    /// Short stable name of a registered framework, or `None` for an unregistered number.
    pub const fn name(self) -> Option<&'static str> {
        match self.0 {
            1 => Some("iotsf-icaf"),
            2 => Some("etsi-en-303-645"),
            3 => Some("uk-psti"),
            4 => Some("nist-ir-8425"),
            _ => None,
        }
    }

    /// The framework with the given short name.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::IOTSF_ICAF,
            Self::ETSI_EN_303_645,
            Self::UK_PSTI,
            Self::NIST_IR_8425,
        ]
        .into_iter()
        .find(|id| id.name() == Some(name))
    }
}

impl fmt::Display for FrameworkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "framework-{}", self.0),
        }
    }
}

/// Who assessed the device. Ordered: third-party assurance is stronger than self-assessment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Assurance {
    /// The manufacturer assessed its own product.
    SelfAssessment,
    /// An independent test lab assessed the product.
    ThirdParty,
}

impl Assurance {
    /// Value in CBOR: 1 self-assessment, 2 third-party.
    pub const fn cbor_value(self) -> u64 {
        match self {
            Self::SelfAssessment => 1,
            Self::ThirdParty => 2,
        }
    }

    /// The assurance with the given CBOR value.
    pub const fn from_cbor_value(value: u64) -> Option<Self> {
        match value {
            1 => Some(Self::SelfAssessment),
            2 => Some(Self::ThirdParty),
            _ => None,
        }
    }

    /// Name used in JSON and on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Self::SelfAssessment => "self",
            Self::ThirdParty => "third-party",
        }
    }

    /// The assurance with the given name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "self" => Some(Self::SelfAssessment),
            "third-party" => Some(Self::ThirdParty),
            _ => None,
        }
    }
}

impl fmt::Display for Assurance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A point in time, in whole seconds since 1970-01-01T00:00:00Z (a CWT NumericDate without
/// fractions). Verification takes it as an argument; nothing in this workspace's verification
/// path reads a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(pub u64);

/// A calendar day, as the number of days since 1970-01-01 (RFC 8943's day count, without its
/// tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub u32);

impl Day {
    /// Seconds in a day.
    pub const SECONDS: u64 = 86_400;

    /// The first second after this day ends.
    pub const fn end(self) -> UnixTime {
        UnixTime((self.0 as u64 + 1) * Self::SECONDS)
    }
}
