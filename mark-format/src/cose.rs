//! The COSE_Sign1 profile shared by marks and trust lists: tagged (18), protected header with
//! `alg` and `kid` only, empty unprotected header, attached payload, 64-byte signature.
//!
//! Status list tokens use the same profile with one more protected parameter, `typ` (label 16,
//! RFC 9596), which draft-ietf-oauth-status-list requires to be `application/statuslist+cwt`:
//! [`ParsedSign1::parse_typed`] and [`build_typed_sign1`]. The mark profile does not accept
//! `typ`.
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
/// Protected header label of `typ` (RFC 9596).
const LABEL_TYP: i64 = 16;
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
        Self::parse_profile(bytes, max_len, None)
    }

    /// Parses `bytes` as a profile COSE_Sign1 no larger than `max_len` whose protected header
    /// is exactly `alg`, `kid` and `typ`, with `typ` the text `typ`.
    pub fn parse_typed(bytes: &'a [u8], max_len: usize, typ: &str) -> Result<Self, FormatError> {
        Self::parse_profile(bytes, max_len, Some(typ))
    }

    /// The shared parser: `typ` is `None` for the mark profile (no `typ` allowed).
    fn parse_profile(
        bytes: &'a [u8],
        max_len: usize,
        typ: Option<&str>,
    ) -> Result<Self, FormatError> {
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
        let (alg, kid) = parse_protected(protected, typ)?;
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

/// Reads the protected header: a map with exactly `alg` (1) and `kid` (4), and `typ` (16) equal
/// to `typ` when that is given.
fn parse_protected<'p>(
    protected: &'p [u8],
    typ: Option<&str>,
) -> Result<(Algorithm, &'p [u8]), FormatError> {
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
    let mut typ_found = false;
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
            LABEL_TYP if typ.is_some() => {
                // The media type as text; RFC 9596 also allows a CoAP content-format number,
                // which no registered number for status lists exists for.
                if r.text() != typ {
                    return Err(FormatError::WrongTyp);
                }
                typ_found = true;
            }
            _ => return Err(FormatError::UnexpectedHeaderParameter { label }),
        }
    }
    let alg = alg.ok_or(FormatError::MissingAlgorithm)?;
    if typ.is_some() && !typ_found {
        return Err(FormatError::MissingTyp);
    }
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

/// Builds a tagged COSE_Sign1 of the typed profile: protected header `{1: alg, 4: kid,
/// 16: typ}` (keys in deterministic order), empty unprotected header, `payload` attached.
/// `sign` gets the Sig_structure and must return the 64-byte signature for `alg`.
///
/// Written by hand rather than through coset so that the header bytes are exactly the
/// deterministic encoding that [`ParsedSign1::parse_typed`] checks.
pub fn build_typed_sign1<E: From<FormatError>>(
    alg: Algorithm,
    kid: &[u8],
    typ: &str,
    payload: &[u8],
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
) -> Result<Vec<u8>, E> {
    if kid.is_empty() || kid.len() > MAX_KID_LEN {
        return Err(E::from(FormatError::MissingKid));
    }
    let mut protected = Vec::with_capacity(8 + kid.len() + typ.len());
    cbor::write_head(&mut protected, 5, 3);
    cbor::write_head(&mut protected, 0, LABEL_ALG as u64);
    // The profile's algorithms are negative: major type 1 with argument -1 - value.
    let cose_alg = alg.cose_value();
    cbor::write_head(&mut protected, 1, (-1 - cose_alg) as u64);
    cbor::write_head(&mut protected, 0, LABEL_KID as u64);
    cbor::write_head(&mut protected, 2, kid.len() as u64);
    protected.extend_from_slice(kid);
    cbor::write_head(&mut protected, 0, LABEL_TYP as u64);
    cbor::write_head(&mut protected, 3, typ.len() as u64);
    protected.extend_from_slice(typ.as_bytes());
    let signature = sign(&sig_structure(&protected, payload))?;
    if signature.len() != Algorithm::SIGNATURE_LEN {
        return Err(E::from(FormatError::Structure {
            expected: "a 64-byte signature from the signer",
        }));
    }
    let mut out = Vec::with_capacity(protected.len() + payload.len() + signature.len() + 12);
    cbor::write_head(&mut out, 6, COSE_SIGN1_TAG);
    cbor::write_head(&mut out, 4, 4);
    cbor::write_head(&mut out, 2, protected.len() as u64);
    out.extend_from_slice(&protected);
    cbor::write_head(&mut out, 5, 0);
    cbor::write_head(&mut out, 2, payload.len() as u64);
    out.extend_from_slice(payload);
    cbor::write_head(&mut out, 2, signature.len() as u64);
    out.extend_from_slice(&signature);
    Ok(out)
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
        // The mark profile refuses typ, even the status list one.
        assert_eq!(
            parse("a3012704420102106474797065"),
            Err(FormatError::UnexpectedHeaderParameter { label: 16 })
        );
    }

    /// A token whose protected header is `protected_hex`, to test the typed profile.
    fn typed(protected_hex: &str) -> Result<(), FormatError> {
        let protected = hex::decode(protected_hex).unwrap_or_default();
        let mut token = alloc::vec![0xd2, 0x84];
        cbor::write_head(&mut token, 2, protected.len() as u64);
        token.extend_from_slice(&protected);
        token.extend_from_slice(&[0xa0, 0x41, 0xa0, 0x58, 0x40]);
        token.extend_from_slice(&[0; 64]);
        ParsedSign1::parse_typed(&token, 1024, "type").map(|_| ())
    }

    #[test]
    fn typed_header_errors_are_specific() {
        // {1: -8, 4: h'0102', 16: "type"}
        assert_eq!(typed("a3012704420102106474797065"), Ok(()));
        // no typ
        assert_eq!(typed("a2012704420102"), Err(FormatError::MissingTyp));
        // typ "typf"
        assert_eq!(
            typed("a3012704420102106474797066"),
            Err(FormatError::WrongTyp)
        );
        // typ as a content-format number (16: 1)
        assert_eq!(
            typed("a301270442010210 01".replace(' ', "").as_str()),
            Err(FormatError::WrongTyp)
        );
        // typ twice
        assert_eq!(
            typed("a4012704420102106474797065106474797065"),
            Err(FormatError::DuplicateMapKey { offset: 13 })
        );
        // typ but no kid
        assert_eq!(typed("a20127106474797065"), Err(FormatError::MissingKid));
        // content type (3) is still not allowed
        assert_eq!(
            typed(
                "a40127034101044201021064747970 65"
                    .replace(' ', "")
                    .as_str()
            ),
            Err(FormatError::UnexpectedHeaderParameter { label: 3 })
        );
    }

    #[test]
    fn typed_build_parses_back() {
        let token = build_typed_sign1::<FormatError>(
            Algorithm::Es256,
            b"12",
            "application/statuslist+cwt",
            &[0xa0],
            |_| Ok(alloc::vec![9; 64]),
        )
        .unwrap_or_default();
        let parsed = ParsedSign1::parse_typed(&token, 1024, "application/statuslist+cwt")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.algorithm(), Algorithm::Es256);
        assert_eq!(parsed.kid(), b"12");
        assert_eq!(parsed.payload(), &[0xa0]);
        // coset, independently, computes the same Sig_structure.
        let theirs =
            coset::CoseSign1::from_tagged_slice(&token).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(parsed.to_be_signed(), theirs.tbs_data(&[]));
        // The mark profile refuses it (typ is not a mark header).
        assert_eq!(
            ParsedSign1::parse(&token, 1024),
            Err(FormatError::UnexpectedHeaderParameter { label: 16 })
        );
        // A signer returning the wrong length is an error, not a token.
        assert!(
            build_typed_sign1::<FormatError>(Algorithm::EdDsa, b"12", "t", &[0xa0], |_| Ok(
                alloc::vec![9; 63]
            ),)
            .is_err()
        );
    }
}
