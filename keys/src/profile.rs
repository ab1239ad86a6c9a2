//! The trustmark X.509 profile's own identifiers and the DER of the accreditation scope.
//!
//! All trustmark OIDs live under the UUID arc `2.25.200183560391780816748756182956653863480`
//! (UUID 9699f38a-938f-43c4-a08f-46261ebee238, ITU-T X.667), which needs no registration:
//!
//! | OID | meaning |
//! |-----|---------|
//! | `<arc>.1` | extended key usage: trust-mark signing |
//! | `<arc>.2` | attribute: accreditation scope |
//!
//! rcgen (like RustCrypto's const-oid) only writes OID arcs that fit 64 (32) bits, and a UUID arc
//! has 128. So the two identifiers are written as DER by [`oid_tlv`] and placed inside standard
//! extensions whose own identifiers rcgen can write: the extended key usage extension
//! (2.5.29.37) holds the trust-mark signing purpose, and the subject directory attributes
//! extension (2.5.29.9, RFC 5280 section 4.2.1.8) holds the accreditation scope as an attribute
//! of the certified subject. See `spec/pki.md`.
//!
//! ```text
//! AccreditationScope ::= SEQUENCE {
//!     frameworks  SEQUENCE SIZE (1..16) OF FrameworkScope,
//!     assurances  SEQUENCE SIZE (1..2) OF Assurance }
//! FrameworkScope ::= SEQUENCE { framework INTEGER (0..65535), maxClass INTEGER (0..15) }
//! Assurance ::= ENUMERATED { self (1), thirdParty (2) }
//! ```

use trustmark_format::{Assurance, FrameworkId, FrameworkScope, IssuerScope};
use yasna::{ASN1Error, ASN1ErrorKind};

/// The trustmark UUID arc under 2.25.
pub const UUID_ARC: u128 = 200_183_560_391_780_816_748_756_182_956_653_863_480;
/// Dotted form of the trust-mark signing extended key usage.
pub const TRUST_MARK_SIGNING_EKU: &str = "2.25.200183560391780816748756182956653863480.1";
/// Dotted form of the accreditation-scope attribute type.
pub const ACCREDITATION_SCOPE: &str = "2.25.200183560391780816748756182956653863480.2";
/// Extended key usage extension.
pub(crate) const EXTENDED_KEY_USAGE_EXT: &[u64] = &[2, 5, 29, 37];
/// Subject directory attributes extension.
pub(crate) const SUBJECT_DIRECTORY_ATTRIBUTES_EXT: &[u64] = &[2, 5, 29, 9];

/// DER (tag, length, content) of an OBJECT IDENTIFIER with arcs of any size up to 128 bits.
pub fn oid_tlv(arcs: &[u128]) -> Vec<u8> {
    let mut content = Vec::new();
    let mut rest = arcs;
    if let [first, second, tail @ ..] = arcs {
        push_base128(&mut content, first * 40 + second);
        rest = tail;
    }
    for arc in rest {
        push_base128(&mut content, *arc);
    }
    let mut tlv = vec![0x06, content.len() as u8];
    tlv.extend_from_slice(&content);
    tlv
}

fn push_base128(out: &mut Vec<u8>, value: u128) {
    let groups = (128 - value.leading_zeros()).div_ceil(7).max(1);
    for i in (0..groups).rev() {
        let byte = ((value >> (7 * i)) & 0x7f) as u8;
        out.push(if i == 0 { byte } else { byte | 0x80 });
    }
}

/// DER of the trust-mark signing EKU OID.
pub fn trust_mark_signing_oid() -> Vec<u8> {
    oid_tlv(&[2, 25, UUID_ARC, 1])
}

/// DER of the accreditation-scope attribute type OID.
pub fn accreditation_scope_oid() -> Vec<u8> {
    oid_tlv(&[2, 25, UUID_ARC, 2])
}

/// Content of the extended key usage extension: `SEQUENCE OF KeyPurposeId` with the trust-mark
/// signing purpose only.
pub(crate) fn extended_key_usage_der() -> Vec<u8> {
    yasna::construct_der(|w| w.write_sequence(|w| w.next().write_der(&trust_mark_signing_oid())))
}

/// Content of the subject directory attributes extension carrying the scope:
/// `SEQUENCE OF Attribute { type, values SET OF AccreditationScope }`.
pub(crate) fn scope_extension_der(scope: &IssuerScope) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_sequence(|w| {
                w.next().write_der(&accreditation_scope_oid());
                w.next()
                    .write_set(|w| w.next().write_der(&scope_der(scope)));
            })
        })
    })
}

/// DER of an `AccreditationScope`.
pub fn scope_der(scope: &IssuerScope) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_sequence(|w| {
                for f in &scope.frameworks {
                    w.next().write_sequence(|w| {
                        w.next().write_u16(f.framework.0);
                        w.next().write_u8(f.max_class);
                    })
                }
            });
            w.next().write_sequence(|w| {
                for a in &scope.assurances {
                    w.next().write_enum(a.cbor_value() as i64);
                }
            });
        })
    })
}

/// Finds and parses the accreditation scope in a subject directory attributes extension's
/// content. Other attributes are skipped.
pub(crate) fn parse_scope_extension(content: &[u8]) -> Result<Option<IssuerScope>, ASN1Error> {
    let wanted = accreditation_scope_oid();
    yasna::parse_der(content, |r| {
        r.collect_sequence_of(|r| {
            r.read_sequence(|r| {
                let oid = r.next().read_der()?;
                let values = r.next().read_der()?;
                Ok((oid, values))
            })
        })
    })?
    .into_iter()
    .find(|(oid, _)| *oid == wanted)
    .map(|(_, values)| {
        yasna::parse_der(&values, |r| {
            let mut scopes = Vec::new();
            r.read_set_of(|r| {
                scopes.push(r.read_der()?);
                Ok(())
            })?;
            match scopes.as_slice() {
                [one] => parse_scope_der(one),
                _ => Err(ASN1Error::new(ASN1ErrorKind::Invalid)),
            }
        })
    })
    .transpose()
}

fn parse_scope_der(der: &[u8]) -> Result<IssuerScope, ASN1Error> {
    let invalid = || ASN1Error::new(ASN1ErrorKind::Invalid);
    yasna::parse_der(der, |r| {
        r.read_sequence(|r| {
            let frameworks = r.next().collect_sequence_of(|r| {
                r.read_sequence(|r| {
                    Ok(FrameworkScope {
                        framework: FrameworkId(r.next().read_u16()?),
                        max_class: r.next().read_u8()?,
                    })
                })
            })?;
            let assurances = r.next().collect_sequence_of(|r| {
                let value = r.read_enum()?;
                u64::try_from(value)
                    .ok()
                    .and_then(Assurance::from_cbor_value)
                    .ok_or_else(invalid)
            })?;
            if frameworks.is_empty() || frameworks.len() > 16 || assurances.is_empty() {
                return Err(invalid());
            }
            Ok(IssuerScope {
                frameworks,
                assurances,
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_encoding_matches_openssl() {
        // `openssl asn1parse -genstr OID:2.25.329800735698586629295641978511506172918` (the
        // X.667 example UUID f81d4fae-7dec-11d0-a765-00a0c91e6bf6).
        let example = oid_tlv(&[2, 25, 329_800_735_698_586_629_295_641_978_511_506_172_918]);
        assert_eq!(
            hex::encode(example),
            "06146983f09da7ebcfdee0c7a1a7b2c0948cc8f9d776"
        );
        // `openssl asn1parse -genstr OID:2.25.200183560391780816748756182956653863480.1`
        assert_eq!(
            hex::encode(trust_mark_signing_oid()),
            "06156982ad99f9e2d2b8fa8f89a0c7d1c4e1f5fbc43801"
        );
        assert_eq!(
            hex::encode(oid_tlv(&[1, 2, 840, 10045, 2, 1])),
            "06072a8648ce3d0201"
        );
    }

    #[test]
    fn scope_round_trips_through_der() {
        let scope = IssuerScope {
            frameworks: vec![
                FrameworkScope {
                    framework: FrameworkId::IOTSF_ICAF,
                    max_class: 4,
                },
                FrameworkScope {
                    framework: FrameworkId::UK_PSTI,
                    max_class: 1,
                },
            ],
            assurances: vec![Assurance::ThirdParty],
        };
        let ext = scope_extension_der(&scope);
        assert_eq!(parse_scope_extension(&ext).ok().flatten(), Some(scope));
    }
}
