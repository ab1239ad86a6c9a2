//! Which key store the services of this test run keep certifier keys in. `scripts/test-all` runs
//! the end-to-end suite twice: with software keys (no `TRUSTMARK_PKCS11_*` variables), and with
//! a throwaway SoftHSM2 token named by `TRUSTMARK_PKCS11_MODULE`, `TRUSTMARK_PKCS11_TOKEN_LABEL`
//! and `TRUSTMARK_PKCS11_PIN_FILE` (with `SOFTHSM2_CONF`), which every service started by
//! [`crate::server::Server`] inherits.

#![allow(clippy::expect_used, clippy::panic)] // test helpers: failing loudly is the point

use std::path::Path;
use std::sync::Arc;

use trustmark_keys::SignerProvider;
use trustmark_pkcs11::{Protection, Token, TokenConfig, TokenProvider};

/// The key store of this run.
#[derive(Debug, Clone)]
pub enum KeyStore {
    /// PKCS#8 files in `DATA_DIR/keys/`.
    Software,
    /// A PKCS#11 token.
    Token(TokenConfig),
}

/// The key store the environment selects.
pub fn key_store() -> KeyStore {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    match (
        var("TRUSTMARK_PKCS11_MODULE"),
        var("TRUSTMARK_PKCS11_TOKEN_LABEL"),
    ) {
        (Some(module), Some(token_label)) => KeyStore::Token(TokenConfig {
            module: module.into(),
            token_label,
            pin_file: var("TRUSTMARK_PKCS11_PIN_FILE").map(Into::into),
            pin_env: var("TRUSTMARK_PKCS11_PIN_ENV"),
            sessions: Some(1),
        }),
        _ => KeyStore::Software,
    }
}

/// Panics unless the key with `kid` (hex) is held the way this run's store holds keys: a
/// PKCS#8 file under `data_dir/keys/`; or, in a token, a key that is sensitive, has never been
/// extractable, and has no file anywhere under `data_dir/keys/`.
pub fn assert_key_held(data_dir: &Path, kid: &str) {
    let file = data_dir.join(format!("keys/{kid}.pem"));
    match key_store() {
        KeyStore::Software => assert!(file.exists(), "no key file {}", file.display()),
        KeyStore::Token(config) => {
            assert!(!file.exists(), "a token key has a file: {}", file.display());
            let provider = TokenProvider::new(Arc::new(Token::new(config).expect("token config")));
            let kid_bytes = hex::decode(kid).expect("kid hex");
            provider
                .signer(&kid_bytes)
                .unwrap_or_else(|e| panic!("key {kid} is not in the token: {e}"));
            assert_eq!(
                provider.protection(&kid_bytes).expect("protection"),
                Protection {
                    sensitive: true,
                    extractable: false,
                    always_sensitive: true,
                    never_extractable: true
                },
                "key {kid} in the token"
            );
        }
    }
}
