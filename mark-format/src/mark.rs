//! A whole trust mark: the claims, signed as a tagged COSE_Sign1.

use alloc::vec::Vec;

use crate::{cose, Algorithm, FormatError, MarkClaims, ParsedSign1};

/// Largest mark accepted, in bytes. A mark at every field's maximum (two 64-byte names, two
/// 32-byte versions, eight framework claims) is about 540 bytes; a typical one is under 200.
pub const MAX_MARK_LEN: usize = 1024;

/// Encodes and signs a mark: `sign` gets the COSE Sig_structure and returns the signature.
pub fn encode<E: From<FormatError>>(
    claims: &MarkClaims,
    alg: Algorithm,
    kid: &[u8],
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
) -> Result<Vec<u8>, E> {
    let payload = claims.to_cbor()?;
    cose::build_sign1(alg, kid, payload, sign)
}

/// Parses a mark's COSE structure under the profile, without verifying it.
pub fn parse(bytes: &[u8]) -> Result<ParsedSign1<'_>, FormatError> {
    ParsedSign1::parse(bytes, MAX_MARK_LEN)
}
