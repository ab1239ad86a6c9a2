//! Signature verification, injected: the core never names a crypto library. A backend is chosen
//! by feature and passed in when the trust store is built:
//!
//! - `ring` ([`RingVerifier`], [`RING`]): ring's C and assembly code;
//! - `rustcrypto` ([`RustCryptoVerifier`], [`RUST_CRYPTO`]): pure Rust (ed25519-dalek, p256),
//!   for bare-metal targets where ring's C code and getrandom do not build.
//!
//! Both may be enabled together. They accept exactly the same signatures, so which one a build
//! uses never changes a decision (`spec/backends.md`): Ed25519 is verified strictly (RFC 8032
//! cofactorless equation, `s < L`, and no public key or `R` of small order) and ECDSA P-256 over
//! SHA-256 with a fixed-size `r || s` signature and an uncompressed SEC1 public key. The ES256
//! low-s rule is the caller's (`trustmark_format::ecdsa::is_low_s`, checked before a backend is
//! asked), so both backends accept a high-s signature here.

use trustmark_format::Algorithm;

/// Verifies signatures for the profile's algorithms.
pub trait SignatureVerifier: Sync {
    /// Whether `signature` (64 bytes, ECDSA as `r || s`) is valid for `message` under the raw
    /// `public_key` with `alg`. Any malformed key or signature is simply `false`.
    fn verify(&self, alg: Algorithm, public_key: &[u8], message: &[u8], signature: &[u8]) -> bool;
}

/// Ed25519 encodings of the points of small order (orders 1, 2, 4 and 8), as their
/// y-coordinate with the sign bit of x (bit 255) cleared: compare with [`has_small_order`].
///
/// The eight such points have five y-coordinates: 1 (the identity), p − 1 (order 2), 0 (the two
/// points of order 4) and ±y₈ (the four points of order 8). Two of them also have an encoding
/// `y + p` below 2^255, which decoders accept: p (for 0) and p + 1 (for 1). Seven encodings in
/// all; each also appears with bit 255 set (for x = 0 that bit says "−0", which decoders accept
/// too), hence the mask. The same list as libsodium's `has_small_order`; the tests below derive
/// it from curve25519-dalek's `EIGHT_TORSION`, and `tests/backends.rs` checks the ring backend
/// against ed25519-dalek's `verify_strict` with every such encoding as key and as `R`.
#[cfg(feature = "ring")]
const ED25519_SMALL_ORDER: [[u8; 32]; 7] = [
    // 0 (order 4)
    [0; 32],
    // 1 (order 1: the identity)
    [
        0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0,
    ],
    // y₈ (order 8)
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    // p − y₈ (order 8)
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
    // p − 1 (order 2)
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    // p, a non-canonical 0 (order 4)
    [
        0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    // p + 1, a non-canonical 1 (order 1)
    [
        0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
];

/// Whether a 32-byte Ed25519 point encoding decodes to a point of small order (see
/// [`ED25519_SMALL_ORDER`]). Not constant time: public keys and signatures are public.
#[cfg(feature = "ring")]
fn has_small_order(encoding: &[u8]) -> bool {
    let Ok(encoding) = <[u8; 32]>::try_from(encoding) else {
        return false;
    };
    let mut y = encoding;
    y[31] &= 0x7f;
    ED25519_SMALL_ORDER.contains(&y)
}

/// The ring backend.
///
/// For Ed25519 it adds one rule to ring's verification (which checks `s < L` and compares the
/// recomputed `R` with the signature's bytes): a public key or an `R` of small order is refused,
/// as ed25519-dalek's `verify_strict` refuses it, so that both backends accept the same
/// signatures. ring alone accepts, for example, the identity as a public key, under which
/// `R = [s]B` verifies for every message.
#[cfg(feature = "ring")]
#[derive(Debug, Clone, Copy, Default)]
pub struct RingVerifier;

/// A ready instance of the ring backend.
#[cfg(feature = "ring")]
pub static RING: RingVerifier = RingVerifier;

#[cfg(feature = "ring")]
impl SignatureVerifier for RingVerifier {
    fn verify(&self, alg: Algorithm, public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
        use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, ED25519};
        let algorithm: &dyn ring::signature::VerificationAlgorithm = match alg {
            Algorithm::EdDsa => {
                // `R` is the signature's first 32 bytes; a signature of another length is
                // refused by ring below.
                let r = signature.get(..32).unwrap_or_default();
                if has_small_order(public_key) || has_small_order(r) {
                    return false;
                }
                &ED25519
            }
            Algorithm::Es256 => &ECDSA_P256_SHA256_FIXED,
            _ => return false,
        };
        UnparsedPublicKey::new(algorithm, public_key)
            .verify(message, signature)
            .is_ok()
    }
}

/// The pure-Rust backend: ed25519-dalek and p256 (RustCrypto), no std, no allocation, no
/// randomness, no C code.
///
/// Ed25519 uses `VerifyingKey::verify_strict`, not `verify`: both check the cofactorless
/// equation, `s < L` and `R` byte for byte, but only `verify_strict` also refuses a public key
/// of small order (a "weak" key: under the identity, `R = [s]B` is valid for every message, so
/// anyone can forge) and an `R` of small order (which lets the key's holder make signatures
/// that some verifiers accept and others refuse). The ring backend applies the same two rules,
/// so the backends agree. ES256 takes only the uncompressed SEC1 key (65 bytes, `0x04 || x ||
/// y`), as ring does, and a 64-byte `r || s` with `0 < r, s < n`.
#[cfg(feature = "rustcrypto")]
#[derive(Debug, Clone, Copy, Default)]
pub struct RustCryptoVerifier;

/// A ready instance of the pure-Rust backend.
#[cfg(feature = "rustcrypto")]
pub static RUST_CRYPTO: RustCryptoVerifier = RustCryptoVerifier;

#[cfg(feature = "rustcrypto")]
impl SignatureVerifier for RustCryptoVerifier {
    fn verify(&self, alg: Algorithm, public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
        match alg {
            Algorithm::EdDsa => {
                let (Ok(public_key), Ok(signature)) = (
                    <&[u8; 32]>::try_from(public_key),
                    <&[u8; 64]>::try_from(signature),
                ) else {
                    return false;
                };
                let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(public_key) else {
                    return false;
                };
                key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(signature))
                    .is_ok()
            }
            Algorithm::Es256 => {
                use p256::ecdsa::signature::Verifier;
                use p256::ecdsa::{Signature, VerifyingKey};
                // Uncompressed only: `from_sec1_bytes` would also take the compressed form,
                // which ring (and the trust list format) does not.
                if public_key.len() != 65 || public_key.first() != Some(&0x04) {
                    return false;
                }
                let (Ok(key), Ok(signature)) = (
                    VerifyingKey::from_sec1_bytes(public_key),
                    Signature::from_slice(signature),
                ) else {
                    return false;
                };
                key.verify(message, &signature).is_ok()
            }
            _ => false,
        }
    }
}

#[cfg(all(test, feature = "ring"))]
mod tests {
    use alloc::vec::Vec;

    use curve25519_dalek::constants::EIGHT_TORSION;
    use curve25519_dalek::edwards::CompressedEdwardsY;

    use super::{has_small_order, ED25519_SMALL_ORDER};

    /// p = 2^255 - 19, little-endian.
    const P: [u8; 32] = {
        let mut p = [0xff; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        p
    };

    fn masked(mut encoding: [u8; 32]) -> [u8; 32] {
        encoding[31] &= 0x7f;
        encoding
    }

    /// The list is every 255-bit y-value that decodes to a point of small order: the canonical
    /// encodings of curve25519-dalek's eight torsion points, and the non-canonical `y + p`
    /// (possible only for `y <= 18`) that decode to one of them.
    #[test]
    fn small_order_list_is_the_eight_torsion_points() {
        let mut expected: Vec<[u8; 32]> = EIGHT_TORSION
            .iter()
            .map(|point| masked(point.compress().to_bytes()))
            .collect();
        for y in 0..=18u8 {
            let mut non_canonical = P;
            non_canonical[0] += y;
            if CompressedEdwardsY(non_canonical)
                .decompress()
                .is_some_and(|point| point.is_small_order())
            {
                expected.push(non_canonical);
            }
        }
        expected.sort_unstable();
        expected.dedup();
        let mut listed = ED25519_SMALL_ORDER.to_vec();
        listed.sort_unstable();
        assert_eq!(listed, expected);
    }

    #[test]
    fn small_order_check_ignores_the_sign_bit_only() {
        for small in ED25519_SMALL_ORDER {
            let mut negative = small;
            negative[31] |= 0x80;
            assert!(has_small_order(&small) && has_small_order(&negative));
            // Every listed encoding that decodes at all decodes to a point of small order.
            for encoding in [small, negative] {
                if let Some(point) = CompressedEdwardsY(encoding).decompress() {
                    assert!(point.is_small_order(), "{encoding:02x?}");
                }
            }
            assert!(!has_small_order(&small[..31]));
        }
        let basepoint = curve25519_dalek::constants::ED25519_BASEPOINT_COMPRESSED.to_bytes();
        assert!(!has_small_order(&basepoint));
        assert!(!has_small_order(&[]));
    }
}
