//! Plain COSE_Sign1 verification (RFC 9052) with a caller-given key, for interoperability checks
//! against third-party messages. It accepts what RFC 9052 accepts (untagged messages, `alg` in the
//! unprotected header, external AAD); trust marks are held to the stricter profile in
//! [`crate::verify`].

use alloc::vec::Vec;

use coset::{CborSerializable, CoseSign1, TaggedCborSerializable};
use trustmark_format::{Algorithm, FormatError};

use crate::{SignatureVerifier, VerifyError};

/// Parses a COSE_Sign1 message, tagged (18) or untagged.
fn parse(message: &[u8]) -> Result<CoseSign1, VerifyError> {
    CoseSign1::from_tagged_slice(message)
        // Untagged is allowed; any other tag is not (from_slice rejects a tagged item).
        .or_else(|_| CoseSign1::from_slice(message))
        .map_err(|_| {
            VerifyError::Format(FormatError::Structure {
                expected: "a COSE_Sign1 message",
            })
        })
}

/// The Sig_structure of a parsed message. The received protected-header bytes are used as they
/// are, except that a protected header with no attributes is a zero-length byte string
/// (RFC 9052 section 4.4: "If there are no protected attributes, a zero-length byte string is
/// used"), even when the sender wrote an empty map (`h'a0'`).
fn to_be_signed(sign1: &CoseSign1, external_aad: &[u8]) -> Vec<u8> {
    if sign1.protected.header.is_empty() && sign1.protected.original_data.is_some() {
        let mut normalized = sign1.clone();
        normalized.protected.original_data = None;
        return normalized.tbs_data(external_aad);
    }
    sign1.tbs_data(external_aad)
}

/// The Sig_structure bytes that a signature over `message` must cover.
pub fn sig_structure(message: &[u8], external_aad: &[u8]) -> Result<Vec<u8>, VerifyError> {
    Ok(to_be_signed(&parse(message)?, external_aad))
}

/// Verifies a COSE_Sign1 message under `public_key` with `alg` and returns its payload.
///
/// The message's `alg` (protected, or else unprotected) must be present and equal `alg`.
pub fn verify_cose_sign1(
    message: &[u8],
    alg: Algorithm,
    public_key: &[u8],
    external_aad: &[u8],
    crypto: &dyn SignatureVerifier,
) -> Result<Vec<u8>, VerifyError> {
    let sign1 = parse(message)?;
    let header_alg = sign1
        .protected
        .header
        .alg
        .as_ref()
        .or(sign1.unprotected.alg.as_ref())
        .ok_or(VerifyError::Format(FormatError::MissingAlgorithm))?;
    let value = match header_alg {
        coset::RegisteredLabelWithPrivate::Assigned(a) => *a as i64,
        coset::RegisteredLabelWithPrivate::PrivateUse(v) => *v,
        coset::RegisteredLabelWithPrivate::Text(_) => i64::MIN,
    };
    let named = Algorithm::from_cose_value(value).ok_or(VerifyError::Format(
        FormatError::UnsupportedAlgorithm { alg: value },
    ))?;
    if named != alg {
        return Err(VerifyError::AlgorithmMismatch {
            header: named,
            key: alg,
        });
    }
    let payload = sign1
        .payload
        .clone()
        .ok_or(VerifyError::Format(FormatError::Structure {
            expected: "an attached payload",
        }))?;
    let tbs = to_be_signed(&sign1, external_aad);
    if !crypto.verify(alg, public_key, &tbs, &sign1.signature) {
        return Err(VerifyError::BadSignature);
    }
    Ok(payload)
}
