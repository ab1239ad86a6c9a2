//! Key identifiers, derived from the public key (never from a certificate), so that a key can be
//! re-certified without invalidating the marks it signed.
//!
//! `kid = SHA-256(SubjectPublicKeyInfo DER)[0..4]`. Hashing the SPKI binds the algorithm as well as
//! the key. Four bytes keep a typical mark within 200 bytes (see `spec/token.md`); a kid is a
//! hint, not an identity: verifiers try every trusted key with the kid, so a collision costs one
//! extra signature check and never lets a mark verify under the wrong key.

use trustmark_format::Algorithm;

/// Length of a kid in bytes.
pub const KID_LEN: usize = 4;

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410), before the 32-byte key.
const ED25519_SPKI_PREFIX: &[u8] = &[
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
/// DER prefix of a P-256 SubjectPublicKeyInfo (RFC 5480), before the 65-byte point.
const P256_SPKI_PREFIX: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The SubjectPublicKeyInfo DER of a raw public key.
pub fn spki_der(alg: Algorithm, public_key: &[u8]) -> Vec<u8> {
    let prefix = match alg {
        Algorithm::Es256 => P256_SPKI_PREFIX,
        _ => ED25519_SPKI_PREFIX,
    };
    [prefix, public_key].concat()
}

/// The kid of a raw public key.
pub fn kid_for(alg: Algorithm, public_key: &[u8]) -> Vec<u8> {
    let digest = ring::digest::digest(&ring::digest::SHA256, &spki_der(alg, public_key));
    digest.as_ref()[..KID_LEN].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spki_prefixes_match_rcgen() {
        for (alg, rcgen_alg) in [
            (Algorithm::EdDsa, &rcgen::PKCS_ED25519),
            (Algorithm::Es256, &rcgen::PKCS_ECDSA_P256_SHA256),
        ] {
            let pair = rcgen::KeyPair::generate_for(rcgen_alg).unwrap();
            assert_eq!(
                spki_der(alg, pair.public_key_raw()),
                rcgen::PublicKeyData::subject_public_key_info(&pair)
            );
        }
    }

    #[test]
    fn kid_is_four_bytes_of_the_spki_hash() {
        // SHA-256 of the Ed25519 SPKI of the all-zero key.
        let kid = kid_for(Algorithm::EdDsa, &[0u8; 32]);
        assert_eq!(kid.len(), KID_LEN);
        let full =
            ring::digest::digest(&ring::digest::SHA256, &spki_der(Algorithm::EdDsa, &[0; 32]));
        assert_eq!(kid, full.as_ref()[..4]);
    }
}
