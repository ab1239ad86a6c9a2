//! The two crypto backends (`RING`, `RUST_CRYPTO`) accept exactly the same signatures: property
//! tests on real signatures, mutated and random ones, random and malformed keys, for both
//! algorithms; and the edge cases where ring alone would differ (keys and `R` of small order).
//! See `spec/backends.md`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use curve25519_dalek::constants::{ED25519_BASEPOINT_COMPRESSED, EIGHT_TORSION};
use ed25519_dalek::Signer as _;
use proptest::prelude::*;
use trustmark_format::Algorithm;
use trustmark_verifier::{SignatureVerifier, RING, RUST_CRYPTO};

/// Both backends, with their names for failure messages.
static BACKENDS: [(&str, &dyn SignatureVerifier); 2] =
    [("ring", &RING), ("rustcrypto", &RUST_CRYPTO)];

/// Both backends' answers; panics if they differ.
fn agreed(alg: Algorithm, key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let [(_, ring), (_, rustcrypto)] = BACKENDS;
    let (a, b) = (
        ring.verify(alg, key, message, signature),
        rustcrypto.verify(alg, key, message, signature),
    );
    assert_eq!(
        a,
        b,
        "backends disagree ({alg:?}): ring {a}, rustcrypto {b}\n  key {}\n  message {}\n  \
         signature {}",
        hex::encode(key),
        hex::encode(message),
        hex::encode(signature)
    );
    a
}

/// The Ed25519 group order L, little-endian.
const ED25519_L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// The P-256 group order n, big-endian.
const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// Every encoding of a point of small order: the eight torsion points, each y-value also with
/// the other sign bit, and the non-canonical `p` (= 0) and `p + 1` (= 1), with both sign bits.
fn small_order_encodings() -> Vec<[u8; 32]> {
    let mut out = Vec::new();
    let mut p = [0xff; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    let mut p1 = p;
    p1[0] = 0xee;
    for encoding in EIGHT_TORSION
        .iter()
        .map(|point| point.compress().to_bytes())
        .chain([p, p1])
    {
        let mut other = encoding;
        other[31] ^= 0x80;
        out.extend([encoding, other]);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// `a + b` for 32-byte little-endian numbers, `None` on overflow.
fn add_le(a: &[u8; 32], b: &[u8; 32]) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = sum as u8;
        carry = sum >> 8;
    }
    (carry == 0).then_some(out)
}

/// `a - b` for 32-byte big-endian numbers (`a >= b`).
fn sub_be(a: &[u8; 32], b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(a[i]) - i16::from(b[i]) - borrow;
        borrow = i16::from(d < 0);
        out[i] = d.rem_euclid(256) as u8;
    }
    out
}

/// A real Ed25519 signature, changed (or not) in one way.
#[derive(Debug, Clone)]
enum EdMutation {
    None,
    FlipSignatureBit(usize),
    FlipKeyBit(usize),
    FlipMessageBit(usize),
    RandomKey([u8; 32]),
    RandomSignature(Vec<u8>),
    /// `s + L`: the same scalar, not reduced.
    NonCanonicalS,
    /// `s` replaced by these bytes (often `>= L`).
    RandomS([u8; 32]),
    SmallOrderKey(usize),
    SmallOrderR(usize),
    Truncate(usize),
    Extend(u8),
    /// Verified as ES256.
    OtherAlgorithm,
}

fn ed_mutation() -> impl Strategy<Value = EdMutation> {
    let small = small_order_encodings().len();
    prop_oneof![
        2 => Just(EdMutation::None),
        3 => (0..512usize).prop_map(EdMutation::FlipSignatureBit),
        2 => (0..256usize).prop_map(EdMutation::FlipKeyBit),
        1 => (0..64usize).prop_map(EdMutation::FlipMessageBit),
        1 => any::<[u8; 32]>().prop_map(EdMutation::RandomKey),
        1 => proptest::collection::vec(any::<u8>(), 0..=80).prop_map(EdMutation::RandomSignature),
        1 => Just(EdMutation::NonCanonicalS),
        1 => any::<[u8; 32]>().prop_map(EdMutation::RandomS),
        1 => (0..small).prop_map(EdMutation::SmallOrderKey),
        1 => (0..small).prop_map(EdMutation::SmallOrderR),
        1 => (0..64usize).prop_map(EdMutation::Truncate),
        1 => any::<u8>().prop_map(EdMutation::Extend),
        1 => Just(EdMutation::OtherAlgorithm),
    ]
}

/// A real ES256 signature, changed (or not) in one way.
#[derive(Debug, Clone)]
enum EsMutation {
    None,
    /// `(r, n - s)`: valid ECDSA; the low-s rule is the caller's, so both backends accept it.
    HighS,
    FlipSignatureBit(usize),
    FlipKeyBit(usize),
    FlipMessageBit(usize),
    /// The key in compressed SEC1 form (33 bytes): refused by both.
    CompressedKey,
    /// `0x04 || x || y` with random coordinates (almost never on the curve).
    RandomPoint([u8; 64]),
    RandomSignature(Vec<u8>),
    ZeroR,
    ZeroS,
    /// `r` replaced by `n` (out of range).
    ROrder,
    Truncate(usize),
    /// Verified as EdDSA.
    OtherAlgorithm,
}

fn es_mutation() -> impl Strategy<Value = EsMutation> {
    prop_oneof![
        2 => Just(EsMutation::None),
        1 => Just(EsMutation::HighS),
        3 => (0..512usize).prop_map(EsMutation::FlipSignatureBit),
        2 => (0..520usize).prop_map(EsMutation::FlipKeyBit),
        1 => (0..64usize).prop_map(EsMutation::FlipMessageBit),
        1 => Just(EsMutation::CompressedKey),
        1 => any::<[u8; 64]>().prop_map(EsMutation::RandomPoint),
        1 => proptest::collection::vec(any::<u8>(), 0..=80).prop_map(EsMutation::RandomSignature),
        1 => Just(EsMutation::ZeroR),
        1 => Just(EsMutation::ZeroS),
        1 => Just(EsMutation::ROrder),
        1 => (0..64usize).prop_map(EsMutation::Truncate),
        1 => Just(EsMutation::OtherAlgorithm),
    ]
}

fn flip(bytes: &mut [u8], bit: usize) {
    if !bytes.is_empty() {
        let bit = bit % (bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Ed25519: genuine signatures verify with both; every mutation gets the same answer from
    /// both.
    #[test]
    fn ed25519_backends_agree(
        seed in any::<[u8; 32]>(),
        message in proptest::collection::vec(any::<u8>(), 0..200),
        mutation in ed_mutation(),
    ) {
        let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
        let mut key = signing.verifying_key().to_bytes().to_vec();
        let mut signature = signing.sign(&message).to_bytes().to_vec();
        let mut message = message;
        let mut alg = Algorithm::EdDsa;
        let small = small_order_encodings();
        match &mutation {
            EdMutation::None => {}
            EdMutation::FlipSignatureBit(bit) => flip(&mut signature, *bit),
            EdMutation::FlipKeyBit(bit) => flip(&mut key, *bit),
            EdMutation::FlipMessageBit(bit) => {
                if message.is_empty() {
                    message.push(0);
                } else {
                    flip(&mut message, *bit);
                }
            }
            EdMutation::RandomKey(random) => key = random.to_vec(),
            EdMutation::RandomSignature(random) => signature.clone_from(random),
            EdMutation::NonCanonicalS => {
                let s: [u8; 32] = signature[32..].try_into().unwrap();
                // s < L < 2^253, so s + L < 2^254: no overflow.
                signature[32..].copy_from_slice(&add_le(&s, &ED25519_L).unwrap());
            }
            EdMutation::RandomS(s) => signature[32..].copy_from_slice(s),
            EdMutation::SmallOrderKey(i) => key = small[*i].to_vec(),
            EdMutation::SmallOrderR(i) => signature[..32].copy_from_slice(&small[*i]),
            EdMutation::Truncate(len) => signature.truncate(*len),
            EdMutation::Extend(byte) => signature.push(*byte),
            EdMutation::OtherAlgorithm => alg = Algorithm::Es256,
        }
        let accepted = agreed(alg, &key, &message, &signature);
        match mutation {
            EdMutation::None => prop_assert!(accepted),
            EdMutation::FlipSignatureBit(_)
            | EdMutation::FlipKeyBit(_)
            | EdMutation::FlipMessageBit(_)
            | EdMutation::NonCanonicalS
            | EdMutation::SmallOrderKey(_)
            | EdMutation::SmallOrderR(_)
            | EdMutation::Truncate(_)
            | EdMutation::Extend(_)
            | EdMutation::OtherAlgorithm => prop_assert!(!accepted),
            // Almost surely refused; agreement is what is asserted.
            EdMutation::RandomKey(_) | EdMutation::RandomSignature(_) | EdMutation::RandomS(_) => {}
        }
    }

    /// ES256: genuine signatures (and their high-s twins) verify with both; every mutation gets
    /// the same answer from both.
    #[test]
    fn es256_backends_agree(
        scalar in any::<[u8; 32]>(),
        message in proptest::collection::vec(any::<u8>(), 0..200),
        mutation in es_mutation(),
    ) {
        // A scalar of zero or at least n is not a key; such seeds (probability about 2^-32)
        // are skipped.
        let Ok(signing) = p256::ecdsa::SigningKey::from_slice(&scalar) else {
            return Ok(());
        };
        let mut key = signing
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec();
        let genuine: p256::ecdsa::Signature = signing.sign(&message);
        let mut signature = genuine.to_bytes().to_vec();
        let mut message = message;
        let mut alg = Algorithm::Es256;
        match &mutation {
            EsMutation::None => {}
            EsMutation::HighS => {
                let s = sub_be(&P256_N, &signature[32..]);
                signature[32..].copy_from_slice(&s);
            }
            EsMutation::FlipSignatureBit(bit) => flip(&mut signature, *bit),
            EsMutation::FlipKeyBit(bit) => flip(&mut key, *bit),
            EsMutation::FlipMessageBit(bit) => {
                if message.is_empty() {
                    message.push(0);
                } else {
                    flip(&mut message, *bit);
                }
            }
            EsMutation::CompressedKey => {
                key = signing
                    .verifying_key()
                    .to_encoded_point(true)
                    .as_bytes()
                    .to_vec();
            }
            EsMutation::RandomPoint(xy) => {
                key = [&[0x04], &xy[..]].concat();
            }
            EsMutation::RandomSignature(random) => signature.clone_from(random),
            EsMutation::ZeroR => signature[..32].fill(0),
            EsMutation::ZeroS => signature[32..].fill(0),
            EsMutation::ROrder => signature[..32].copy_from_slice(&P256_N),
            EsMutation::Truncate(len) => signature.truncate(*len),
            EsMutation::OtherAlgorithm => alg = Algorithm::EdDsa,
        }
        let accepted = agreed(alg, &key, &message, &signature);
        match mutation {
            EsMutation::None | EsMutation::HighS => prop_assert!(accepted),
            EsMutation::FlipMessageBit(_)
            | EsMutation::CompressedKey
            | EsMutation::ZeroR
            | EsMutation::ZeroS
            | EsMutation::ROrder
            | EsMutation::Truncate(_)
            | EsMutation::OtherAlgorithm => prop_assert!(!accepted),
            // A flipped key bit can land in the 0x04 prefix or make another valid point; a
            // flipped signature bit almost surely breaks it. Agreement is what is asserted.
            EsMutation::FlipSignatureBit(_)
            | EsMutation::FlipKeyBit(_)
            | EsMutation::RandomPoint(_)
            | EsMutation::RandomSignature(_) => {}
        }
    }

    /// Arbitrary bytes as key and signature, for both algorithms: never a panic, and the same
    /// answer (false, in practice) from both.
    #[test]
    fn arbitrary_bytes_agree(
        key in proptest::collection::vec(any::<u8>(), 0..=70),
        message in proptest::collection::vec(any::<u8>(), 0..32),
        signature in proptest::collection::vec(any::<u8>(), 0..=70),
    ) {
        for alg in [Algorithm::EdDsa, Algorithm::Es256] {
            agreed(alg, &key, &message, &signature);
        }
    }
}

/// The reason the ring backend checks for small order itself: under the identity as public key,
/// `R = B, s = 1` satisfies ring's cofactorless equation for every message, so ring alone
/// accepts it. Both backends refuse it, and every other small-order key and `R`.
#[test]
fn small_order_keys_and_r_are_refused_by_both() {
    let identity = EIGHT_TORSION[0].compress().to_bytes();
    assert_eq!(identity[0], 1);
    let mut forgery = ED25519_BASEPOINT_COMPRESSED.to_bytes().to_vec();
    forgery.push(1);
    forgery.extend([0; 31]);
    for message in [&b"any message"[..], b"another one", b""] {
        let raw = ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, identity);
        assert!(raw.verify(message, &forgery).is_ok(), "ring alone accepts");
        assert!(!agreed(Algorithm::EdDsa, &identity, message, &forgery));
    }
    // A genuine signature, with each small-order encoding as key or as R.
    let signing = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let key = signing.verifying_key().to_bytes();
    let signature = signing.sign(b"message").to_bytes();
    assert!(agreed(Algorithm::EdDsa, &key, b"message", &signature));
    let encodings = small_order_encodings();
    assert_eq!(
        encodings.len(),
        14,
        "5 y-values and 2 non-canonical ones, each with 2 signs"
    );
    for small in encodings {
        assert!(!agreed(Algorithm::EdDsa, &small, b"message", &signature));
        let mut with_r = signature;
        with_r[..32].copy_from_slice(&small);
        assert!(!agreed(Algorithm::EdDsa, &key, b"message", &with_r));
    }
}

/// A signature whose R is the identity, made by the key's holder (`s = k * a`, which solves the
/// equation with R = identity): valid for ring's equation, refused by both backends.
#[test]
fn identity_r_made_by_the_key_holder_is_refused() {
    use curve25519_dalek::scalar::Scalar;
    use sha2::Digest;
    let signing = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let key = signing.verifying_key().to_bytes();
    let a = signing.to_scalar();
    let r = EIGHT_TORSION[0].compress().to_bytes();
    let message = b"two verifiers, two answers";
    let k = Scalar::from_hash(
        sha2::Sha512::new()
            .chain_update(r)
            .chain_update(key)
            .chain_update(message),
    );
    let s = k * a;
    let mut signature = r.to_vec();
    signature.extend(s.to_bytes());
    let raw = ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, key);
    assert!(
        raw.verify(message, &signature).is_ok(),
        "ring alone accepts"
    );
    assert!(!agreed(Algorithm::EdDsa, &key, message, &signature));
}
