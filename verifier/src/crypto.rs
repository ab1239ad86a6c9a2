//! Signature verification, injected: the core never names a crypto library. A backend is chosen
//! by feature (`ring` today; a pure-Rust one for bare-metal targets can implement the same
//! trait) and passed in when the trust store is built.

use trustmark_format::Algorithm;

/// Verifies signatures for the profile's algorithms.
pub trait SignatureVerifier: Sync {
    /// Whether `signature` (64 bytes, ECDSA as `r || s`) is valid for `message` under the raw
    /// `public_key` with `alg`. Any malformed key or signature is simply `false`.
    fn verify(&self, alg: Algorithm, public_key: &[u8], message: &[u8], signature: &[u8]) -> bool;
}

/// The ring backend.
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
            Algorithm::EdDsa => &ED25519,
            Algorithm::Es256 => &ECDSA_P256_SHA256_FIXED,
            _ => return false,
        };
        UnparsedPublicKey::new(algorithm, public_key)
            .verify(message, signature)
            .is_ok()
    }
}
