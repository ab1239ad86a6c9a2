//! The COSE_Sign1 profile shared by marks and trust lists: tagged (18), protected header with
//! `alg` and `kid` only, empty unprotected header, attached payload, 64-byte signature.
//!
//! Decoding checks deterministic encoding first ([`crate::cbor`]) and then reads the structure
//! without copying: the protected header and payload are kept as the bytes received, so the
//! signature is verified over exactly what was signed (never a re-encoding). Encoding uses coset.

use alloc::vec::Vec;

use coset::{iana, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable};

use crate::cbor::{self, Reader};
use crate::{Algorithm, FormatError};

/// CBOR tag of a COSE_Sign1 message.
pub const COSE_SIGN1_TAG: u64 = 18;
/// Protected header label of `alg`.
const LABEL_ALG: i64 = 1;
/// Protected header label of `kid`.
const LABEL_KID: i64 = 4;
/// Longest kid accepted. Ours are 4 bytes; 32 leaves room for other derivations.
pub const MAX_KID_LEN: usize = 32;

/// A COSE_Sign1 message that passed the profile checks, not yet verified. It borrows the
/// message it was parsed from.
///
/// Holding one proves nothing about who signed it: the verifier checks the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedSign1<'a> {
    protected: &'a [u8],
    alg: Algorithm,
    kid: &'a [u8],
    payload: &'a [u8],
    signature: &'a [u8],
}

const SIGN1_SHAPE: FormatError = FormatError::Structure {
    expected: "COSE_Sign1 [protected: bstr, unprotected: map, payload: bstr, signature: bstr]",
};

impl<'a> ParsedSign1<'a> {
    /// Parses `bytes` as a profile COSE_Sign1 no larger than `max_len`.
    pub fn parse(bytes: &'a [u8], max_len: usize) -> Result<Self, FormatError> {
        if bytes.len() > max_len {
            return Err(FormatError::TooLarge {
                len: bytes.len(),
                max: max_len,
            });
        }
        cbor::check_deterministic(bytes)?;
        let mut r = Reader::new(bytes);
        match r.tag() {
            Some(COSE_SIGN1_TAG) => {}
            found => {
                return Err(FormatError::WrongTag {
                    found,
                    expected: COSE_SIGN1_TAG,
                })
            }
        }
        if r.array() != Some(4) {
            return Err(SIGN1_SHAPE);
        }
        let protected = r.bytes().ok_or(SIGN1_SHAPE)?;
        match r.map() {
            Some(0) => {}
            Some(_) => return Err(FormatError::UnprotectedHeaderNotEmpty),
            None => return Err(SIGN1_SHAPE),
        }
        let payload = match r.bytes() {
            Some(payload) => payload,
            None if r.null() => {
                return Err(FormatError::Structure {
                    expected: "an attached payload",
                })
            }
            None => return Err(SIGN1_SHAPE),
        };
        let signature = r.bytes().ok_or(SIGN1_SHAPE)?;
        if signature.len() != Algorithm::SIGNATURE_LEN {
            return Err(FormatError::Structure {
                expected: "a 64-byte signature",
            });
        }
        let (alg, kid) = parse_protected(protected)?;
        Ok(Self {
            protected,
            alg,
            kid,
            payload,
            signature,
        })
    }

    /// The signature algorithm named in the protected header.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The key identifier from the protected header (never empty).
    pub fn kid(&self) -> &'a [u8] {
        self.kid
    }

    /// The payload bytes as received.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// The signature bytes as received (64 bytes).
    pub fn signature(&self) -> &'a [u8] {
        self.signature
    }

    /// The COSE Sig_structure the signature is over (RFC 9052 section 4.4):
    /// `["Signature1", protected, external_aad = h'', payload]`, built from the received
    /// protected-header bytes and payload.
    pub fn to_be_signed(&self) -> Vec<u8> {
        sig_structure(self.protected, self.payload)
    }
}

/// `["Signature1", protected, h'', payload]` in deterministic CBOR.
fn sig_structure(protected: &[u8], payload: &[u8]) -> Vec<u8> {
    const CONTEXT: &[u8] = b"Signature1";
    let mut out = Vec::with_capacity(protected.len() + payload.len() + 24);
    cbor::write_head(&mut out, 4, 4);
    cbor::write_head(&mut out, 3, CONTEXT.len() as u64);
    out.extend_from_slice(CONTEXT);
    cbor::write_head(&mut out, 2, protected.len() as u64);
    out.extend_from_slice(protected);
    cbor::write_head(&mut out, 2, 0);
    cbor::write_head(&mut out, 2, payload.len() as u64);
    out.extend_from_slice(payload);
    out
}

/// Reads the protected header: a map with exactly `alg` (1) and `kid` (4).
fn parse_protected(protected: &[u8]) -> Result<(Algorithm, &[u8]), FormatError> {
    if protected.is_empty() {
        return Err(FormatError::MissingAlgorithm);
    }
    cbor::check_deterministic(protected)?;
    let mut r = Reader::new(protected);
    let entries = r.map().ok_or(FormatError::Structure {
        expected: "the protected header to be a map",
    })?;
    let mut alg = None;
    let mut kid = None;
    for _ in 0..entries {
        // Text labels are reported as i64::MIN.
        let label = r.int().unwrap_or(i64::MIN);
        match label {
            LABEL_ALG => {
                let value = r
                    .int()
                    .ok_or(FormatError::UnsupportedAlgorithm { alg: i64::MIN })?;
                alg = Some(
                    Algorithm::from_cose_value(value)
                        .ok_or(FormatError::UnsupportedAlgorithm { alg: value })?,
                );
            }
            LABEL_KID => kid = Some(r.bytes().ok_or(FormatError::MissingKid)?),
            _ => return Err(FormatError::UnexpectedHeaderParameter { label }),
        }
    }
    let alg = alg.ok_or(FormatError::MissingAlgorithm)?;
    match kid {
        Some(kid) if !kid.is_empty() && kid.len() <= MAX_KID_LEN => Ok((alg, kid)),
        _ => Err(FormatError::MissingKid),
    }
}

/// Builds a tagged profile COSE_Sign1 over `payload`, calling `sign` with the Sig_structure.
///
/// `sign` must return the 64-byte signature for `alg`; any other length is an error.
pub fn build_sign1<E: From<FormatError>>(
    alg: Algorithm,
    kid: &[u8],
    payload: Vec<u8>,
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
) -> Result<Vec<u8>, E> {
    let cose_alg = match alg {
        Algorithm::EdDsa => iana::Algorithm::EdDSA,
        Algorithm::Es256 => iana::Algorithm::ES256,
    };
    let protected = HeaderBuilder::new()
        .algorithm(cose_alg)
        .key_id(kid.to_vec())
        .build();
    let sign1 = CoseSign1Builder::new()
        .protected(protected)
        .payload(payload)
        .try_create_signature(&[], |tbs| sign(tbs))?
        .build();
    if sign1.signature.len() != Algorithm::SIGNATURE_LEN {
        return Err(E::from(FormatError::Structure {
            expected: "a 64-byte signature from the signer",
        }));
    }
    sign1.to_tagged_vec().map_err(|_| {
        E::from(FormatError::Structure {
            expected: "an encodable COSE_Sign1",
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use coset::CborSerializable;

    /// coset, an independent implementation, reads what we build and computes the same
    /// Sig_structure as our borrowed parser.
    #[test]
    fn agrees_with_coset() {
        let payload = alloc::vec![0xa1, 0x01, 0x02];
        let token =
            build_sign1::<FormatError>(Algorithm::EdDsa, &[1, 2, 3, 4], payload.clone(), |_| {
                Ok(alloc::vec![7; 64])
            })
            .unwrap_or_default();
        let ours = ParsedSign1::parse(&token, 1024).unwrap_or_else(|e| panic!("{e}"));
        let theirs =
            coset::CoseSign1::from_tagged_slice(&token).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(ours.to_be_signed(), theirs.tbs_data(&[]));
        assert_eq!(ours.payload(), payload.as_slice());
        assert_eq!(ours.kid(), &[1, 2, 3, 4]);
        assert_eq!(ours.signature(), &[7; 64]);
        assert_eq!(ours.algorithm(), Algorithm::EdDsa);
        // The untagged form is the same array.
        let untagged = theirs.to_vec().unwrap_or_default();
        assert_eq!(&token[1..], untagged.as_slice());
    }

    #[test]
    fn header_errors_are_specific() {
        let parse = |protected_hex: &str| {
            let protected = hex::decode(protected_hex).unwrap_or_default();
            let mut token = alloc::vec![0xd2, 0x84];
            cbor::write_head(&mut token, 2, protected.len() as u64);
            token.extend_from_slice(&protected);
            token.extend_from_slice(&[0xa0, 0x41, 0xa0, 0x58, 0x40]);
            token.extend_from_slice(&[0; 64]);
            ParsedSign1::parse(&token, 1024).map(|_| ())
        };
        assert_eq!(parse("a2012704420102"), Ok(()));
        assert_eq!(parse(""), Err(FormatError::MissingAlgorithm));
        assert_eq!(parse("a10127"), Err(FormatError::MissingKid));
        assert_eq!(
            parse("a2012704 40".replace(' ', "").as_str()),
            Err(FormatError::MissingKid)
        );
        assert_eq!(parse("a1044101"), Err(FormatError::MissingAlgorithm));
        assert_eq!(
            parse("a201260127"),
            Err(FormatError::DuplicateMapKey { offset: 3 })
        );
        assert_eq!(
            parse("a20127036474657874"),
            Err(FormatError::UnexpectedHeaderParameter { label: 3 })
        );
        assert_eq!(
            parse("a20138220441 01".replace(' ', "").as_str()),
            Err(FormatError::UnsupportedAlgorithm { alg: -35 })
        );
        assert_eq!(
            parse("a20127616101"),
            Err(FormatError::UnexpectedHeaderParameter { label: i64::MIN })
        );
    }
}
