//! The claims of a trust mark and their CBOR (CWT claims set) encoding.
//!
//! Claim keys (see `spec/token.md` for the rationale and the size measurements):
//!
//! | key | claim | type |
//! |-----|-------|------|
//! | 4 | `exp` (RFC 8392) | uint seconds |
//! | 6 | `iat` (RFC 8392) | uint seconds |
//! | -1 | vendor | tstr |
//! | -2 | model | tstr |
//! | -3 | hardware version | tstr |
//! | -4 | firmware | `[version: tstr, sha256: bstr .size 32]` |
//! | -5 | frameworks | `[+ [framework: uint, version: tstr, class: uint, assurance: uint]]` |
//! | -6 | support period end | uint days since 1970-01-01 |
//! | -7 | status-list index | uint |

use alloc::{string::String, vec, vec::Vec};

use ciborium::Value;

use crate::cbor::Reader;
use crate::value::{self, int_value, uint_value};
use crate::{Assurance, Day, FormatError, FrameworkId, UnixTime};

/// Claim keys, as in the table above.
pub mod keys {
    /// CWT `exp`.
    pub const EXP: i64 = 4;
    /// CWT `iat`.
    pub const IAT: i64 = 6;
    /// Vendor (manufacturer) name.
    pub const VENDOR: i64 = -1;
    /// Device model.
    pub const MODEL: i64 = -2;
    /// Hardware version.
    pub const HW_VERSION: i64 = -3;
    /// Firmware version and image digest.
    pub const FIRMWARE: i64 = -4;
    /// Framework claims.
    pub const FRAMEWORKS: i64 = -5;
    /// Support period end date.
    pub const SUPPORT_UNTIL: i64 = -6;
    /// Index of the mark in its issuer's status list.
    pub const STATUS_INDEX: i64 = -7;
}

/// Longest vendor, model name (bytes of UTF-8). Product names on labels are short; 64 bounds the
/// token without cutting real names.
pub const MAX_NAME_LEN: usize = 64;
/// Longest hardware or firmware version string.
pub const MAX_VERSION_LEN: usize = 32;
/// Longest framework version string ("2.1.1", "3.0").
pub const MAX_FRAMEWORK_VERSION_LEN: usize = 16;
/// Most framework claims in one mark: one per framework, and the registry has far fewer.
pub const MAX_FRAMEWORKS: usize = 8;
/// Highest class value any framework uses (IoTSF goes to 4); leaves room for others.
pub const MAX_CLASS: u8 = 15;

/// The firmware image a mark is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firmware {
    /// Firmware version as the vendor names it.
    pub version: String,
    /// SHA-256 of the firmware image.
    pub sha256: [u8; 32],
}

/// One framework claim: the class achieved under one framework and who assessed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameworkClaim {
    /// Which framework.
    pub framework: FrameworkId,
    /// The framework release assessed against.
    pub version: String,
    /// The class (compliance level) achieved.
    pub class: u8,
    /// Third-party or self-assessment.
    pub assurance: Assurance,
}

/// Everything a mark says about a device, as signed by its issuer (the issuer itself is known by
/// the token's `kid`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkClaims {
    /// Vendor (manufacturer).
    pub vendor: String,
    /// Device model.
    pub model: String,
    /// Hardware version.
    pub hw_version: String,
    /// Firmware version and image digest.
    pub firmware: Firmware,
    /// One or more framework claims, in ascending framework order, one per framework.
    pub frameworks: Vec<FrameworkClaim>,
    /// When the mark was issued.
    pub issued_at: UnixTime,
    /// When the mark stops being valid.
    pub expires_at: UnixTime,
    /// Last day of the vendor's security-update support period.
    pub support_until: Day,
    /// The mark's index in its issuer's status list.
    pub status_index: u32,
}

impl MarkClaims {
    /// Checks the rules that the encoding also enforces on decoding.
    pub fn validate(&self) -> Result<(), FormatError> {
        value::check_text("vendor", &self.vendor, MAX_NAME_LEN)?;
        value::check_text("model", &self.model, MAX_NAME_LEN)?;
        value::check_text("hw_version", &self.hw_version, MAX_VERSION_LEN)?;
        value::check_text("firmware", &self.firmware.version, MAX_VERSION_LEN)?;
        if self.frameworks.is_empty() || self.frameworks.len() > MAX_FRAMEWORKS {
            return Err(FormatError::ClaimValue {
                name: "frameworks",
                reason: "wrong number of elements",
            });
        }
        for claim in &self.frameworks {
            value::check_text("frameworks", &claim.version, MAX_FRAMEWORK_VERSION_LEN)?;
            if claim.class > MAX_CLASS {
                return Err(FormatError::ClaimValue {
                    name: "frameworks",
                    reason: "class out of range",
                });
            }
        }
        if self
            .frameworks
            .windows(2)
            .any(|pair| pair[0].framework >= pair[1].framework)
        {
            return Err(FormatError::ClaimValue {
                name: "frameworks",
                reason: "framework claims must be in ascending framework order, one per framework",
            });
        }
        if self.expires_at <= self.issued_at {
            return Err(FormatError::ClaimValue {
                name: "exp",
                reason: "must be after iat",
            });
        }
        Ok(())
    }

    /// Encodes the claims as a deterministic CBOR map (the COSE payload).
    pub fn to_cbor(&self) -> Result<Vec<u8>, FormatError> {
        self.validate()?;
        let frameworks = self
            .frameworks
            .iter()
            .map(|claim| {
                Value::Array(vec![
                    uint_value(u64::from(claim.framework.0)),
                    Value::Text(claim.version.clone()),
                    uint_value(u64::from(claim.class)),
                    uint_value(claim.assurance.cbor_value()),
                ])
            })
            .collect();
        // Keys in deterministic order: 4, 6, then -1, -2, ... (0x04 < 0x06 < 0x20 < 0x21 ...).
        let map = Value::Map(vec![
            (int_value(keys::EXP), uint_value(self.expires_at.0)),
            (int_value(keys::IAT), uint_value(self.issued_at.0)),
            (int_value(keys::VENDOR), Value::Text(self.vendor.clone())),
            (int_value(keys::MODEL), Value::Text(self.model.clone())),
            (
                int_value(keys::HW_VERSION),
                Value::Text(self.hw_version.clone()),
            ),
            (
                int_value(keys::FIRMWARE),
                Value::Array(vec![
                    Value::Text(self.firmware.version.clone()),
                    Value::Bytes(self.firmware.sha256.to_vec()),
                ]),
            ),
            (int_value(keys::FRAMEWORKS), Value::Array(frameworks)),
            (
                int_value(keys::SUPPORT_UNTIL),
                uint_value(u64::from(self.support_until.0)),
            ),
            (
                int_value(keys::STATUS_INDEX),
                uint_value(u64::from(self.status_index)),
            ),
        ]);
        value::encode(&map)
    }

    /// Decodes and validates the claims from the COSE payload bytes.
    pub fn from_cbor(payload: &[u8]) -> Result<Self, FormatError> {
        let mut exp = None;
        let mut iat = None;
        let mut vendor = None;
        let mut model = None;
        let mut hw_version = None;
        let mut firmware = None;
        let mut frameworks = None;
        let mut support_until = None;
        let mut status_index = None;
        value::read_document("claims", payload, |key, r| {
            match key {
                keys::EXP => exp = Some(UnixTime(value::uint("exp", r)?)),
                keys::IAT => iat = Some(UnixTime(value::uint("iat", r)?)),
                keys::VENDOR => vendor = Some(value::text("vendor", r, MAX_NAME_LEN)?),
                keys::MODEL => model = Some(value::text("model", r, MAX_NAME_LEN)?),
                keys::HW_VERSION => {
                    hw_version = Some(value::text("hw_version", r, MAX_VERSION_LEN)?)
                }
                keys::FIRMWARE => firmware = Some(decode_firmware(r)?),
                keys::FRAMEWORKS => frameworks = Some(decode_frameworks(r)?),
                keys::SUPPORT_UNTIL => {
                    support_until = Some(Day(value::small_uint("support_until", r)?))
                }
                keys::STATUS_INDEX => status_index = Some(value::small_uint("status_index", r)?),
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        let claims = Self {
            vendor: value::required("vendor", vendor)?,
            model: value::required("model", model)?,
            hw_version: value::required("hw_version", hw_version)?,
            firmware: value::required("firmware", firmware)?,
            frameworks: value::required("frameworks", frameworks)?,
            issued_at: value::required("iat", iat)?,
            expires_at: value::required("exp", exp)?,
            support_until: value::required("support_until", support_until)?,
            status_index: value::required("status_index", status_index)?,
        };
        claims.validate()?;
        Ok(claims)
    }

    /// The claim for `framework`, if the mark has one.
    pub fn framework(&self, framework: FrameworkId) -> Option<&FrameworkClaim> {
        self.frameworks.iter().find(|c| c.framework == framework)
    }
}

fn decode_firmware(r: &mut Reader<'_>) -> Result<Firmware, FormatError> {
    value::tuple("firmware", r, 2)?;
    let version = value::text("firmware", r, MAX_VERSION_LEN)?;
    let sha256 = <[u8; 32]>::try_from(value::bytes("firmware", r)?).map_err(|_| {
        FormatError::ClaimValue {
            name: "firmware",
            reason: "the digest must be 32 bytes (SHA-256)",
        }
    })?;
    Ok(Firmware { version, sha256 })
}

fn decode_frameworks(r: &mut Reader<'_>) -> Result<Vec<FrameworkClaim>, FormatError> {
    let count = value::array("frameworks", r, MAX_FRAMEWORKS)?;
    let mut claims = Vec::with_capacity(count);
    for _ in 0..count {
        value::tuple("frameworks", r, 4)?;
        claims.push(FrameworkClaim {
            framework: FrameworkId(value::small_uint("frameworks", r)?),
            version: value::text("frameworks", r, MAX_FRAMEWORK_VERSION_LEN)?,
            class: value::small_uint("frameworks", r)?,
            assurance: Assurance::from_cbor_value(value::uint("frameworks", r)?).ok_or(
                FormatError::ClaimValue {
                    name: "frameworks",
                    reason: "unknown assurance value",
                },
            )?,
        });
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use proptest::prelude::*;

    fn text(max: usize) -> impl Strategy<Value = String> {
        proptest::string::string_regex(&alloc::format!("[ -~\u{e9}\u{4e2d}]{{1,{max}}}"))
            .unwrap_or_else(|_| unreachable!())
            .prop_filter("within byte limit", move |s| s.len() <= max)
    }

    fn claims() -> impl Strategy<Value = MarkClaims> {
        (
            (
                text(MAX_NAME_LEN),
                text(MAX_NAME_LEN),
                text(MAX_VERSION_LEN),
                text(MAX_VERSION_LEN),
            ),
            any::<[u8; 32]>(),
            proptest::collection::btree_map(
                1u16..400,
                (text(16), 0u8..=MAX_CLASS, any::<bool>()),
                1..=MAX_FRAMEWORKS,
            ),
            (
                0u64..u64::MAX / 2,
                1u64..1 << 40,
                any::<u32>(),
                any::<u32>(),
            ),
        )
            .prop_map(
                |((vendor, model, hw, fw), sha256, frameworks, (iat, validity, day, index))| {
                    MarkClaims {
                        vendor,
                        model,
                        hw_version: hw,
                        firmware: Firmware {
                            version: fw,
                            sha256,
                        },
                        frameworks: frameworks
                            .into_iter()
                            .map(|(id, (version, class, third))| FrameworkClaim {
                                framework: FrameworkId(id),
                                version,
                                class,
                                assurance: if third {
                                    Assurance::ThirdParty
                                } else {
                                    Assurance::SelfAssessment
                                },
                            })
                            .collect(),
                        issued_at: UnixTime(iat),
                        expires_at: UnixTime(iat + validity),
                        support_until: Day(day),
                        status_index: index,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn claims_round_trip(claims in claims()) {
            let bytes = claims.to_cbor().map_err(|e| TestCaseError::fail(e.to_string()))?;
            crate::cbor::check_deterministic(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(MarkClaims::from_cbor(&bytes), Ok(claims));
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = MarkClaims::from_cbor(&bytes);
            let _ = crate::mark::parse(&bytes);
            let _ = crate::TrustList::from_cbor(&bytes);
        }

        #[test]
        fn mutated_claims_never_panic(claims in claims(), at in any::<usize>(), byte in any::<u8>()) {
            let mut bytes = claims.to_cbor().map_err(|e| TestCaseError::fail(e.to_string()))?;
            let at = at % bytes.len();
            bytes[at] = byte;
            let _ = MarkClaims::from_cbor(&bytes);
        }
    }

    #[test]
    fn rejects_out_of_order_frameworks_on_encode() {
        let mut claims = MarkClaims {
            vendor: "v".into(),
            model: "m".into(),
            hw_version: "1".into(),
            firmware: Firmware {
                version: "1".into(),
                sha256: [0; 32],
            },
            frameworks: vec![
                FrameworkClaim {
                    framework: FrameworkId(2),
                    version: "1".into(),
                    class: 1,
                    assurance: Assurance::ThirdParty,
                },
                FrameworkClaim {
                    framework: FrameworkId(1),
                    version: "1".into(),
                    class: 1,
                    assurance: Assurance::ThirdParty,
                },
            ],
            issued_at: UnixTime(1),
            expires_at: UnixTime(2),
            support_until: Day(1),
            status_index: 0,
        };
        assert!(matches!(
            claims.to_cbor(),
            Err(FormatError::ClaimValue {
                name: "frameworks",
                ..
            })
        ));
        claims.frameworks.reverse();
        assert!(claims.to_cbor().is_ok());
        claims.vendor = "a\u{7}b".into();
        assert!(matches!(
            claims.to_cbor(),
            Err(FormatError::ClaimValue { name: "vendor", .. })
        ));
    }
}
