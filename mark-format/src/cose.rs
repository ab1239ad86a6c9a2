//! The COSE_Sign1 profile shared by marks and trust lists: tagged (18), protected header with
//! `alg` and `kid` only, empty unprotected header, attached payload, 64-byte signature.
//!
//! Decoding checks deterministic encoding first ([`crate::cbor_check`]), then lets `coset` read
//! the structure, then applies the profile. The protected header is kept as the bytes received,
//! so the signature is verified over exactly what was signed (never a re-encoding).

use alloc::vec::Vec;

use coset::{iana, CoseSign1, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable};

use crate::{cbor_check, Algorithm, FormatError};

/// CBOR tag of a COSE_Sign1 message.
pub const COSE_SIGN1_TAG: u64 = 18;

/// A COSE_Sign1 message that passed the profile checks, not yet verified.
///
/// Holding one proves nothing about who signed it: the verifier checks the signature.
#[derive(Debug, Clone)]
pub struct ParsedSign1 {
    sign1: CoseSign1,
    alg: Algorithm,
}

impl ParsedSign1 {
    /// Parses `bytes` as a profile COSE_Sign1 no larger than `max_len`.
    pub fn parse(bytes: &[u8], max_len: usize) -> Result<Self, FormatError> {
        if bytes.len() > max_len {
            return Err(FormatError::TooLarge {
                len: bytes.len(),
                max: max_len,
            });
        }
        cbor_check::check_deterministic(bytes)?;
        check_tag(bytes)?;
        let sign1 = CoseSign1::from_tagged_slice(bytes).map_err(|_| FormatError::Structure {
            expected: "COSE_Sign1 [protected: bstr, unprotected: map, payload: bstr, signature: bstr]",
        })?;
        // The protected bytes are themselves CBOR and covered by the signature: hold them to the
        // same deterministic rules as the outer message.
        let protected_bytes = sign1.protected.original_data.as_deref().unwrap_or_default();
        cbor_check::check_deterministic(protected_bytes)?;
        let alg = check_headers(&sign1)?;
        if sign1.payload.is_none() {
            return Err(FormatError::Structure {
                expected: "an attached payload",
            });
        }
        if sign1.signature.len() != Algorithm::SIGNATURE_LEN {
            return Err(FormatError::Structure {
                expected: "a 64-byte signature",
            });
        }
        Ok(Self { sign1, alg })
    }

    /// The signature algorithm named in the protected header.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The key identifier from the protected header (never empty).
    pub fn kid(&self) -> &[u8] {
        &self.sign1.protected.header.key_id
    }

    /// The payload bytes as received.
    pub fn payload(&self) -> &[u8] {
        self.sign1.payload.as_deref().unwrap_or_default()
    }

    /// The signature bytes as received (64 bytes).
    pub fn signature(&self) -> &[u8] {
        &self.sign1.signature
    }

    /// The COSE Sig_structure the signature is over, built from the received protected-header
    /// bytes and payload, with empty external AAD.
    pub fn to_be_signed(&self) -> Vec<u8> {
        self.sign1.tbs_data(&[])
    }
}

fn check_tag(bytes: &[u8]) -> Result<(), FormatError> {
    // Tag 18 is the one-byte head 0xd2. Any other major-6 head is another tag.
    match bytes.first() {
        Some(0xd2) => Ok(()),
        Some(b) if b >> 5 == 6 => Err(FormatError::WrongTag {
            found: Some(read_tag(bytes)),
            expected: COSE_SIGN1_TAG,
        }),
        _ => Err(FormatError::WrongTag {
            found: None,
            expected: COSE_SIGN1_TAG,
        }),
    }
}

/// Reads the tag number of a tag head already known to be well formed.
fn read_tag(bytes: &[u8]) -> u64 {
    let info = bytes.first().map_or(0, |b| b & 0x1f);
    let width = match info {
        24 => 1,
        25 => 2,
        26 => 4,
        27 => 8,
        _ => return u64::from(info),
    };
    bytes
        .iter()
        .skip(1)
        .take(width)
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

fn check_headers(sign1: &CoseSign1) -> Result<Algorithm, FormatError> {
    if !sign1.unprotected.is_empty() {
        return Err(FormatError::UnprotectedHeaderNotEmpty);
    }
    let header = &sign1.protected.header;
    let unexpected = |label: i64| Err(FormatError::UnexpectedHeaderParameter { label });
    if !header.crit.is_empty() {
        return unexpected(2);
    }
    if header.content_type.is_some() {
        return unexpected(3);
    }
    if !header.iv.is_empty() {
        return unexpected(5);
    }
    if !header.partial_iv.is_empty() {
        return unexpected(6);
    }
    if !header.counter_signatures.is_empty() {
        return unexpected(7);
    }
    if let Some((label, _)) = header.rest.first() {
        return unexpected(match label {
            coset::Label::Int(value) => *value,
            coset::Label::Text(_) => i64::MIN,
        });
    }
    let alg = match &header.alg {
        None => return Err(FormatError::MissingAlgorithm),
        Some(coset::RegisteredLabelWithPrivate::Assigned(alg)) => {
            let value = *alg as i64;
            Algorithm::from_cose_value(value).ok_or(FormatError::UnsupportedAlgorithm { alg: value })?
        }
        Some(coset::RegisteredLabelWithPrivate::PrivateUse(value)) => {
            return Err(FormatError::UnsupportedAlgorithm { alg: *value })
        }
        Some(coset::RegisteredLabelWithPrivate::Text(_)) => {
            return Err(FormatError::UnsupportedAlgorithm { alg: i64::MIN })
        }
    };
    if header.key_id.is_empty() {
        return Err(FormatError::MissingKid);
    }
    Ok(alg)
}

/// Builds a tagged profile COSE_Sign1 over `payload`, calling `sign` with the Sig_structure.
///
/// `sign` must return the 64-byte signature for `alg`; a signer that returns another length is
/// reported as an error of type `E` by the caller's conversion of [`FormatError`].
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
