//! The PKCS#11 signer against a real token: SoftHSM2 (Debian's `softhsm2`, which
//! `scripts/test-all` installs), one throwaway token directory per test process.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, ED25519};
use trustmark_format::Algorithm;
use trustmark_keys::{kid_for, KeyError, Signer, SignerProvider, SoftwareKey};
use trustmark_pkcs11::softhsm::SoftHsm;
use trustmark_pkcs11::{Imported, Protection, Token, TokenConfig, TokenProvider, RETRY_AFTER};

struct Setup {
    _dir: tempfile::TempDir,
    #[allow(dead_code)]
    hsm: SoftHsm,
    root: PathBuf,
}

/// The tokens of this test process, one per test, all made before any test loads the module
/// (SoftHSM2 reads its token directory when it is initialised; the tests share one module).
const TOKENS: [&str; 6] = ["keys", "csr", "pool", "pin", "present", "import"];
const PIN: &str = "1234";

/// The SoftHSM2 set-up of this test process (`SOFTHSM2_CONF` is set before any module loads).
fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let hsm = SoftHsm::create(dir.path()).unwrap();
        std::env::set_var("SOFTHSM2_CONF", &hsm.conf);
        let root = dir.path().to_owned();
        for label in TOKENS {
            hsm.init_token(label, PIN, &root.join(format!("{label}.pin")))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        Setup {
            _dir: dir,
            hsm,
            root,
        }
    })
}

/// The configuration of the token labelled `label`.
fn token(label: &str) -> TokenConfig {
    let setup = setup();
    TokenConfig {
        module: trustmark_pkcs11::softhsm::module(),
        token_label: label.into(),
        pin_file: Some(setup.root.join(format!("{label}.pin"))),
        pin_env: None,
        sessions: None,
    }
}

/// The error of a call that must fail.
fn error<T>(result: Result<T, KeyError>) -> KeyError {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

fn verify(alg: Algorithm, public_key: &[u8], message: &[u8], signature: &[u8]) {
    let algorithm: &dyn ring::signature::VerificationAlgorithm = match alg {
        Algorithm::EdDsa => &ED25519,
        _ => &ECDSA_P256_SHA256_FIXED,
    };
    UnparsedPublicKey::new(algorithm, public_key)
        .verify(message, signature)
        .unwrap_or_else(|_| panic!("{alg:?} signature from the token does not verify"));
}

#[test]
fn keys_made_in_the_token_sign_and_are_found_again_by_kid() {
    let config = token("keys");
    let provider = TokenProvider::new(Arc::new(Token::new(config.clone()).unwrap()));
    for alg in [Algorithm::EdDsa, Algorithm::Es256] {
        let key = provider.generate(alg).unwrap();
        assert_eq!(key.algorithm(), alg);
        assert_eq!(key.kid(), kid_for(alg, key.public_key()).as_slice());
        for n in 0..20u8 {
            let message = [b'm', n];
            let signature = key.sign(&message).unwrap();
            assert_eq!(signature.len(), 64);
            verify(alg, key.public_key(), &message, &signature);
            if alg == Algorithm::Es256 {
                assert!(trustmark_format::ecdsa::is_low_s(&signature));
            }
        }
        // Made inside the token: sensitive, never extractable.
        assert_eq!(
            provider.protection(key.kid()).unwrap(),
            Protection {
                sensitive: true,
                extractable: false,
                always_sensitive: true,
                never_extractable: true
            }
        );
        // Another process (a new connection) finds it by kid.
        let again = TokenProvider::new(Arc::new(Token::new(config.clone()).unwrap()));
        let found = again.signer(key.kid()).unwrap();
        assert_eq!(
            (found.algorithm(), found.public_key()),
            (alg, key.public_key())
        );
        verify(
            alg,
            found.public_key(),
            b"again",
            &found.sign(b"again").unwrap(),
        );
    }
    assert!(matches!(
        provider.signer(&[7; 16]),
        Err(KeyError::UnknownKid(kid)) if kid == "07".repeat(16)
    ));
}

#[test]
fn a_signing_request_made_through_the_token_verifies() {
    let provider = TokenProvider::new(Arc::new(Token::new(token("csr")).unwrap()));
    for alg in [Algorithm::EdDsa, Algorithm::Es256] {
        let key = provider.generate(alg).unwrap();
        let pem =
            trustmark_keys::certification_request(&*key, "Token Lab", "Token Lab Ltd").unwrap();
        let request = trustmark_keys::SigningRequest::from_pem(&pem).unwrap();
        assert_eq!(request.kid, key.kid());
        // And OpenSSL agrees.
        let path = setup().root.join(format!("csr-{alg:?}.pem"));
        std::fs::write(&path, &pem).unwrap();
        let out = std::process::Command::new("openssl")
            .args(["req", "-verify", "-noout", "-in"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl req -verify: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Signing from several threads at once uses several sessions and every signature verifies.
#[test]
fn concurrent_signing_uses_the_session_pool() {
    let config = TokenConfig {
        sessions: Some(4),
        ..token("pool")
    };
    let provider = TokenProvider::new(Arc::new(Token::new(config).unwrap()));
    let key = provider.generate(Algorithm::Es256).unwrap();
    std::thread::scope(|scope| {
        for t in 0..4u8 {
            let key = &key;
            scope.spawn(move || {
                for n in 0..25u8 {
                    let message = [t, n];
                    verify(
                        Algorithm::Es256,
                        key.public_key(),
                        &message,
                        &key.sign(&message).unwrap(),
                    );
                }
            });
        }
    });
}

/// A refused PIN makes the token unavailable, is not tried again, and a corrected PIN file
/// brings the token back without a restart.
#[test]
fn a_wrong_pin_is_unavailable_not_retried_and_recovers_when_corrected() {
    let config = token("pin");
    let pin_file = config.pin_file.clone().unwrap();
    trustmark_pkcs11::softhsm::write_private(&pin_file, "9999").unwrap();
    let provider = TokenProvider::new(Arc::new(Token::new(config).unwrap()));
    let refused = error(provider.generate(Algorithm::EdDsa));
    assert!(
        matches!(&refused, KeyError::Unavailable(m) if m.contains("login refused")),
        "{refused}"
    );
    std::thread::sleep(RETRY_AFTER);
    let again = error(provider.generate(Algorithm::EdDsa));
    assert!(
        again
            .to_string()
            .contains("not tried again until the PIN file or variable changes"),
        "{again}"
    );
    trustmark_pkcs11::softhsm::write_private(&pin_file, "1234").unwrap();
    std::thread::sleep(RETRY_AFTER);
    let key = provider.generate(Algorithm::EdDsa).unwrap();
    verify(
        Algorithm::EdDsa,
        key.public_key(),
        b"back",
        &key.sign(b"back").unwrap(),
    );
}

/// A token that is not there answers Unavailable, naming it, and never panics.
#[test]
fn a_missing_token_or_module_is_unavailable() {
    let config = token("present");
    let missing = TokenConfig {
        token_label: "nowhere".into(),
        ..config.clone()
    };
    let error = self::error(
        TokenProvider::new(Arc::new(Token::new(missing).unwrap())).generate(Algorithm::EdDsa),
    );
    assert!(
        matches!(&error, KeyError::Unavailable(m) if m.contains("no token labelled \"nowhere\"")),
        "{error}"
    );
    let no_module = TokenConfig {
        module: "/nonexistent/libpkcs11.so".into(),
        ..config
    };
    let error =
        self::error(TokenProvider::new(Arc::new(Token::new(no_module).unwrap())).signer(&[1; 16]));
    assert!(
        matches!(&error, KeyError::Unavailable(m) if m.contains("cannot load PKCS#11 module /nonexistent/libpkcs11.so")),
        "{error}"
    );
}

/// A software key file moves into the token: same kid and public key, sensitive and not
/// extractable from now on (but not "always sensitive": it was once a file); a second run finds
/// it there.
#[test]
fn a_software_key_file_is_imported_under_its_kid() {
    let provider = TokenProvider::new(Arc::new(Token::new(token("import")).unwrap()));
    for alg in [Algorithm::EdDsa, Algorithm::Es256] {
        let software = SoftwareKey::generate(alg).unwrap();
        let file = setup()
            .root
            .join(format!("{}.pem", hex::encode(software.kid())));
        software.write_pem_file(&file).unwrap();
        assert_eq!(
            provider.import_key_file(&file).unwrap(),
            Imported::Created(software.kid().to_vec())
        );
        let held = provider.signer(software.kid()).unwrap();
        assert_eq!(held.public_key(), software.public_key());
        verify(
            alg,
            software.public_key(),
            b"moved",
            &held.sign(b"moved").unwrap(),
        );
        assert_eq!(
            provider.protection(software.kid()).unwrap(),
            Protection {
                sensitive: true,
                extractable: false,
                always_sensitive: false,
                never_extractable: false
            }
        );
        assert_eq!(
            provider.import_key_file(&file).unwrap(),
            Imported::AlreadyThere(software.kid().to_vec())
        );
    }
    let not_a_key = setup().root.join("not-a-key.pem");
    std::fs::write(
        &not_a_key,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let refused = error(provider.import_key_file(&not_a_key).map(|_| ()));
    assert!(
        refused
            .to_string()
            .contains("not a PKCS#8 PRIVATE KEY block"),
        "{refused}"
    );
}
