//! Signers found by kid: the issuer service asks a [`SignerProvider`] for a certifier's key and
//! never holds key material itself. [`KeyDirectory`] keeps software keys as PKCS#8 files, one per
//! kid; a PKCS#11 token implements the same trait.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use trustmark_format::Algorithm;

use crate::{KeyError, Signer, SoftwareKey};

/// A shared signer.
pub type SharedSigner = Arc<dyn Signer>;

/// Makes keys and finds them again by kid.
pub trait SignerProvider: Send + Sync + std::fmt::Debug {
    /// Makes a new key, kept by the provider under its kid.
    fn generate(&self, alg: Algorithm) -> Result<SharedSigner, KeyError>;
    /// The key with `kid`, or `KeyError::UnknownKid`.
    fn signer(&self, kid: &[u8]) -> Result<SharedSigner, KeyError>;
    /// What keeps the keys (`"software"`, `"pkcs11"`), for health reports.
    fn kind(&self) -> &'static str {
        "software"
    }
    /// Whether the keys can be used now, as last seen (no probe): `Err` with the reason when
    /// the store is known to be unavailable.
    fn status(&self) -> Result<(), String> {
        Ok(())
    }
    /// Whether generating or signing may wait on a device (then callers keep it off their
    /// async workers).
    fn may_block(&self) -> bool {
        false
    }
}

/// Software keys in a directory: `<dir>/<kid hex>.pem`, PKCS#8, mode 0600, never overwritten.
/// Keys are loaded once and kept in memory.
pub struct KeyDirectory {
    dir: PathBuf,
    loaded: RwLock<HashMap<Vec<u8>, SharedSigner>>,
}

impl std::fmt::Debug for KeyDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyDirectory")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl KeyDirectory {
    /// The directory `dir` (created, mode 0700, when the first key is made).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            loaded: RwLock::default(),
        }
    }

    /// Where the key with `kid` is kept.
    pub fn path(&self, kid: &[u8]) -> PathBuf {
        self.dir.join(format!("{}.pem", hex::encode(kid)))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn remember(&self, key: SharedSigner) -> SharedSigner {
        self.loaded
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.kid().to_vec(), key.clone());
        key
    }
}

impl SignerProvider for KeyDirectory {
    fn generate(&self, alg: Algorithm) -> Result<SharedSigner, KeyError> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(KeyError::io(&self.dir))?;
        let key = SoftwareKey::generate(alg)?;
        key.write_pem_file(&self.path(key.kid()))?;
        Ok(self.remember(Arc::new(key)))
    }

    fn signer(&self, kid: &[u8]) -> Result<SharedSigner, KeyError> {
        if let Some(key) = self
            .loaded
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(kid)
        {
            return Ok(key.clone());
        }
        let path = self.path(kid);
        if !path.exists() {
            return Err(KeyError::UnknownKid(hex::encode(kid)));
        }
        let key = SoftwareKey::read_pem_file(&path)?;
        if key.kid() != kid {
            return Err(KeyError::Profile(format!(
                "{} holds the key {}, not {}",
                path.display(),
                hex::encode(key.kid()),
                hex::encode(kid)
            )));
        }
        Ok(self.remember(Arc::new(key)))
    }
}

/// Keys in two stores: new keys are made in the first (a token), and a kid the first does not
/// hold is looked up in the second (the software keys made before the token was configured), so
/// a certifier keeps signing with its old key while it is migrated or rotated to the token.
#[derive(Debug)]
pub struct LayeredProvider {
    primary: Arc<dyn SignerProvider>,
    fallback: Arc<dyn SignerProvider>,
}

impl LayeredProvider {
    /// `primary` makes new keys and is asked first; `fallback` holds older keys.
    pub fn new(primary: Arc<dyn SignerProvider>, fallback: Arc<dyn SignerProvider>) -> Self {
        Self { primary, fallback }
    }
}

impl SignerProvider for LayeredProvider {
    fn generate(&self, alg: Algorithm) -> Result<SharedSigner, KeyError> {
        self.primary.generate(alg)
    }

    /// The primary's key; else the fallback's. When the primary is unavailable, a key the
    /// fallback holds still signs, and any other kid answers the primary's error.
    fn signer(&self, kid: &[u8]) -> Result<SharedSigner, KeyError> {
        match self.primary.signer(kid) {
            Ok(key) => Ok(key),
            Err(KeyError::UnknownKid(_)) => self.fallback.signer(kid),
            Err(e) => self.fallback.signer(kid).map_err(|_| e),
        }
    }

    fn kind(&self) -> &'static str {
        self.primary.kind()
    }

    fn status(&self) -> Result<(), String> {
        self.primary.status()
    }

    fn may_block(&self) -> bool {
        self.primary.may_block() || self.fallback.may_block()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_found_again_by_kid_after_a_restart() -> Result<(), KeyError> {
        let temp = tempfile::tempdir().map_err(|e| KeyError::io(PathBuf::new())(e))?;
        let first = KeyDirectory::new(temp.path().join("keys"));
        let made = first.generate(Algorithm::Es256)?;
        let again = KeyDirectory::new(temp.path().join("keys"));
        let found = again.signer(made.kid())?;
        assert_eq!(found.public_key(), made.public_key());
        assert!(matches!(
            again.signer(&[0; 4]),
            Err(KeyError::UnknownKid(kid)) if kid == "00000000"
        ));
        // A file under the wrong name is refused, not used.
        std::fs::rename(first.path(made.kid()), again.path(&[1, 2, 3, 4]))
            .map_err(|e| KeyError::io(PathBuf::new())(e))?;
        assert!(matches!(
            KeyDirectory::new(temp.path().join("keys")).signer(&[1, 2, 3, 4]),
            Err(KeyError::Profile(_))
        ));
        Ok(())
    }

    /// New keys go to the first store; old kids are found in the second.
    #[test]
    fn a_layered_provider_makes_keys_in_the_first_store_and_finds_old_ones_in_the_second(
    ) -> Result<(), KeyError> {
        let temp = tempfile::tempdir().map_err(|e| KeyError::io(PathBuf::new())(e))?;
        let old = Arc::new(KeyDirectory::new(temp.path().join("old")));
        let old_key = old.generate(Algorithm::EdDsa)?;
        let new = Arc::new(KeyDirectory::new(temp.path().join("new")));
        let layered = LayeredProvider::new(new.clone(), old);
        let made = layered.generate(Algorithm::Es256)?;
        assert!(new.path(made.kid()).exists());
        assert_eq!(layered.signer(made.kid())?.public_key(), made.public_key());
        assert_eq!(
            layered.signer(old_key.kid())?.public_key(),
            old_key.public_key()
        );
        assert!(matches!(
            layered.signer(&[9; 4]),
            Err(KeyError::UnknownKid(_))
        ));
        Ok(())
    }
}
