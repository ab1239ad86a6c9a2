//! Signing behind a trait, so that a hardware security module or a remote signer can replace the
//! software keys without touching issuance.

use std::path::Path;

use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use trustmark_format::Algorithm;

use crate::{kid_for, KeyError};

/// A private key that signs marks, trust lists or certificates.
///
/// `sign` returns the COSE form of the signature: 64 bytes for both algorithms (ECDSA as
/// `r || s`, with `s` in its low form, see `trustmark_format::ecdsa`). Implementations must be
/// usable from several threads at once.
pub trait Signer: Send + Sync {
    /// The key's algorithm.
    fn algorithm(&self) -> Algorithm;
    /// The raw public key (32-byte Ed25519, 65-byte uncompressed P-256).
    fn public_key(&self) -> &[u8];
    /// The key's kid (see [`crate::kid_for`]).
    fn kid(&self) -> &[u8];
    /// Signs `message`.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError>;
}

enum Pair {
    Ed25519(Ed25519KeyPair),
    EcdsaP256(EcdsaKeyPair),
}

/// A key held in memory, loaded from or saved to a PKCS#8 file.
pub struct SoftwareKey {
    pair: Pair,
    kid: Vec<u8>,
    /// The PKCS#8 document, kept to save the key; `None` for keys made from a raw seed.
    pkcs8: Option<Vec<u8>>,
    rng: SystemRandom,
}

impl std::fmt::Debug for SoftwareKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("SoftwareKey")
            .field("alg", &self.algorithm())
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// ring writes Ed25519 keys as PKCS#8 v2 (RFC 5958, with the public key), which OpenSSL 3.0
/// cannot load. The key files use the v1 form of RFC 8410 section 7 instead: this fixed prefix,
/// then the 32-byte seed. ring reads both.
const ED25519_PKCS8_V1_PREFIX: &[u8] = &[
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// The start of ring's PKCS#8 v2 Ed25519 document, up to the seed.
const ED25519_PKCS8_V2_PREFIX: &[u8] = &[
    0x30, 0x51, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// The v1 form of ring's v2 Ed25519 document, or `None` if it does not have the expected layout.
fn ed25519_pkcs8_v1(v2: &[u8]) -> Option<Vec<u8>> {
    let seed = v2.strip_prefix(ED25519_PKCS8_V2_PREFIX)?.get(..32)?;
    Some([ED25519_PKCS8_V1_PREFIX, seed].concat())
}

/// PEM label of a PKCS#8 private key.
const PRIVATE_KEY_LABEL: &str = "PRIVATE KEY";

impl SoftwareKey {
    /// Generates a new key.
    pub fn generate(alg: Algorithm) -> Result<Self, KeyError> {
        let rng = SystemRandom::new();
        let pkcs8 = match alg {
            Algorithm::Es256 => {
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map(|doc| Some(doc.as_ref().to_vec()))
            }
            _ => Ed25519KeyPair::generate_pkcs8(&rng).map(|doc| ed25519_pkcs8_v1(doc.as_ref())),
        }
        .map_err(|_| KeyError::Crypto("key generation"))?
        .ok_or(KeyError::Crypto("unexpected PKCS#8 layout from ring"))?;
        Self::from_pkcs8_der(&pkcs8).ok_or(KeyError::Crypto("generated key rejected"))
    }

    /// An Ed25519 key from a 32-byte seed. Only for test vectors and tests, which need the same
    /// key on every run; real keys come from [`SoftwareKey::generate`].
    pub fn ed25519_from_seed(seed: &[u8; 32]) -> Result<Self, KeyError> {
        let pair = Ed25519KeyPair::from_seed_unchecked(seed)
            .map_err(|_| KeyError::Crypto("Ed25519 seed rejected"))?;
        let kid = kid_for(Algorithm::EdDsa, pair.public_key().as_ref());
        Ok(Self {
            pair: Pair::Ed25519(pair),
            kid,
            pkcs8: None,
            rng: SystemRandom::new(),
        })
    }

    /// Reads a PKCS#8 DER document (Ed25519 v1 or v2, or ECDSA P-256).
    pub fn from_pkcs8_der(der: &[u8]) -> Option<Self> {
        let rng = SystemRandom::new();
        let pair = match Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            Ok(pair) => Pair::Ed25519(pair),
            Err(_) => Pair::EcdsaP256(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng).ok()?,
            ),
        };
        let (alg, public) = match &pair {
            Pair::Ed25519(p) => (Algorithm::EdDsa, p.public_key().as_ref()),
            Pair::EcdsaP256(p) => (Algorithm::Es256, p.public_key().as_ref()),
        };
        let kid = kid_for(alg, public);
        Some(Self {
            pair,
            kid,
            pkcs8: Some(der.to_vec()),
            rng,
        })
    }

    /// Reads a PEM `PRIVATE KEY` (PKCS#8) file.
    pub fn read_pem_file(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(KeyError::io(path))?;
        let block = pem::parse(text).map_err(|e| KeyError::Pem(e.to_string()))?;
        if block.tag() != PRIVATE_KEY_LABEL {
            return Err(KeyError::Pem(format!(
                "{}: expected a {PRIVATE_KEY_LABEL} block, found {}",
                path.display(),
                block.tag()
            )));
        }
        Self::from_pkcs8_der(block.contents()).ok_or_else(|| KeyError::UnsupportedPrivateKey {
            path: path.to_path_buf(),
        })
    }

    /// Writes the key as a PEM PKCS#8 file readable only by its owner (mode 0600). Refuses to
    /// overwrite an existing file.
    pub fn write_pem_file(&self, path: &Path) -> Result<(), KeyError> {
        let der = self.pkcs8.as_ref().ok_or(KeyError::Crypto(
            "a key made from a raw seed has no PKCS#8 form",
        ))?;
        let text = pem::encode(&pem::Pem::new(PRIVATE_KEY_LABEL, der.clone()));
        crate::files::write_new(path, text.as_bytes(), 0o600)
    }
}

impl Signer for SoftwareKey {
    fn algorithm(&self) -> Algorithm {
        match self.pair {
            Pair::Ed25519(_) => Algorithm::EdDsa,
            Pair::EcdsaP256(_) => Algorithm::Es256,
        }
    }

    fn public_key(&self) -> &[u8] {
        match &self.pair {
            Pair::Ed25519(p) => p.public_key().as_ref(),
            Pair::EcdsaP256(p) => p.public_key().as_ref(),
        }
    }

    fn kid(&self) -> &[u8] {
        &self.kid
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.pair {
            Pair::Ed25519(p) => Ok(p.sign(message).as_ref().to_vec()),
            Pair::EcdsaP256(p) => {
                let mut signature = p
                    .sign(&self.rng, message)
                    .map_err(|_| KeyError::Crypto("ECDSA signing"))?
                    .as_ref()
                    .to_vec();
                // The profile requires low s (see trustmark_format::ecdsa).
                trustmark_format::ecdsa::normalize_s(&mut signature);
                Ok(signature)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn es256_signatures_are_low_s_and_verify() {
        let key = SoftwareKey::generate(Algorithm::Es256).unwrap_or_else(|e| panic!("{e}"));
        let public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_FIXED,
            key.public_key().to_vec(),
        );
        // About half of raw ECDSA signatures are high-s: 64 tries all but surely hit several.
        for i in 0..64u8 {
            let signature = key.sign(&[i]).unwrap_or_default();
            assert!(trustmark_format::ecdsa::is_low_s(&signature));
            assert!(public.verify(&[i], &signature).is_ok());
        }
    }

    /// OpenSSL, an independent implementation, reads our key files and derives the same public
    /// key.
    #[test]
    fn openssl_reads_the_key_files() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for alg in [Algorithm::EdDsa, Algorithm::Es256] {
            let path = dir.path().join(format!("{alg}.pem"));
            let key = SoftwareKey::generate(alg).unwrap_or_else(|e| panic!("{e}"));
            key.write_pem_file(&path).unwrap_or_else(|e| panic!("{e}"));
            let out = std::process::Command::new("openssl")
                .args(["pkey", "-pubout", "-outform", "DER", "-in"])
                .arg(&path)
                .output()
                .unwrap_or_else(|e| panic!("openssl: {e}"));
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(out.stdout, crate::spki_der(alg, key.public_key()));
        }
    }

    #[test]
    fn pkcs8_file_round_trip_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for alg in [Algorithm::EdDsa, Algorithm::Es256] {
            let path = dir.path().join(format!("{alg}.pem"));
            let key = SoftwareKey::generate(alg).unwrap_or_else(|e| panic!("{e}"));
            key.write_pem_file(&path).unwrap_or_else(|e| panic!("{e}"));
            let mode = std::fs::metadata(&path)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or(0);
            assert_eq!(mode, 0o600);
            let back = SoftwareKey::read_pem_file(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                (back.algorithm(), back.public_key()),
                (alg, key.public_key())
            );
            assert!(matches!(
                key.write_pem_file(&path),
                Err(KeyError::AlreadyExists(_))
            ));
        }
    }
}
