//! Third-party vectors from the IETF COSE working group's Examples repository
//! (`../shared/vectors/cose-wg/`): our COSE_Sign1 verification accepts every message that must
//! pass and rejects every one that must fail, and computes the same Sig_structure bytes; with
//! each crypto backend.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::Value;
use trustmark_format::Algorithm;
use trustmark_verifier::cose::{sig_structure, verify_cose_sign1};
use trustmark_verifier::{SignatureVerifier, RING, RUST_CRYPTO};

/// Every vector is checked with each crypto backend.
static BACKENDS: [(&str, &dyn SignatureVerifier); 2] =
    [("ring", &RING), ("rustcrypto", &RUST_CRYPTO)];

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/cose-wg")
}

fn load(name: &str) -> Value {
    let path = vectors().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn b64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap_or_else(|e| panic!("base64url: {e}"))
}

fn field(key: &Value, name: &str) -> Vec<u8> {
    match (key.get(name), key.get(format!("{name}_hex"))) {
        (Some(Value::String(s)), _) => b64(s),
        (_, Some(Value::String(h))) => hex::decode(h).unwrap_or_default(),
        _ => panic!("key has no {name}"),
    }
}

/// The raw public key and algorithm of a vector's JWK.
fn key(vector: &Value) -> (Algorithm, Vec<u8>) {
    let key = &vector["input"]["sign0"]["key"];
    match key["kty"].as_str() {
        Some("EC") => {
            assert_eq!(key["crv"], "P-256");
            let mut point = vec![0x04];
            point.extend(field(key, "x"));
            point.extend(field(key, "y"));
            (Algorithm::Es256, point)
        }
        Some("OKP") => {
            assert_eq!(key["crv"], "Ed25519");
            (Algorithm::EdDsa, field(key, "x"))
        }
        other => panic!("unsupported key type {other:?}"),
    }
}

fn message(vector: &Value) -> Vec<u8> {
    hex::decode(vector["output"]["cbor"].as_str().unwrap_or_default()).unwrap_or_default()
}

fn external_aad(vector: &Value) -> Vec<u8> {
    vector["input"]["sign0"]["external"]
        .as_str()
        .map(|h| hex::decode(h).unwrap_or_default())
        .unwrap_or_default()
}

fn check(name: &str, (backend, crypto): (&str, &dyn SignatureVerifier)) -> Result<(), String> {
    let vector = load(name);
    let (alg, public_key) = key(&vector);
    let message = message(&vector);
    let aad = external_aad(&vector);
    let must_fail = vector["fail"] == Value::Bool(true);
    let result = verify_cose_sign1(&message, alg, &public_key, &aad, crypto);
    match (must_fail, &result) {
        (false, Err(e)) => return Err(format!("{name} ({backend}): must verify, got {e}")),
        (true, Ok(_)) => return Err(format!("{name} ({backend}): must fail, but verified")),
        _ => {}
    }
    if !must_fail {
        // The Sig_structure we verify over is the one the vector lists.
        let tbs = sig_structure(&message, &aad).map_err(|e| format!("{name}: {e}"))?;
        let expected = vector["intermediates"]["ToBeSign_hex"]
            .as_str()
            .unwrap_or_default();
        if hex::encode_upper(tbs) != expected.to_uppercase() {
            return Err(format!("{name}: Sig_structure differs"));
        }
    }
    Ok(())
}

const VECTORS: [&str; 12] = [
    "sign1-tests/sign-pass-01.json",
    "sign1-tests/sign-pass-02.json",
    "sign1-tests/sign-pass-03.json",
    "sign1-tests/sign-fail-01.json",
    "sign1-tests/sign-fail-02.json",
    "sign1-tests/sign-fail-03.json",
    "sign1-tests/sign-fail-04.json",
    "sign1-tests/sign-fail-06.json",
    "sign1-tests/sign-fail-07.json",
    "eddsa-examples/eddsa-sig-01.json",
    "ecdsa-examples/ecdsa-sig-01.json",
    "CWT/A_3.json",
];

#[test]
fn cose_wg_sign1_vectors() {
    let failures: Vec<String> = BACKENDS
        .iter()
        .flat_map(|backend| VECTORS.iter().filter_map(|n| check(n, *backend).err()))
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Every sign1 vector in the directory is in the list above, so a new one cannot be skipped.
#[test]
fn every_sign1_vector_is_listed() {
    let dir = vectors().join("sign1-tests");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| format!("sign1-tests/{}", e.file_name().to_string_lossy()))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = VECTORS
        .iter()
        .filter(|n| n.starts_with("sign1-tests/"))
        .map(|n| n.to_string())
        .collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

/// The trust-mark profile is stricter than COSE: these valid COSE messages are not marks
/// (alg unprotected, untagged, content type in the protected header).
#[test]
fn profile_rejects_generic_cose_messages() {
    for name in [
        "sign1-tests/sign-pass-01.json",
        "sign1-tests/sign-pass-03.json",
        "eddsa-examples/eddsa-sig-01.json",
    ] {
        let message = message(&load(name));
        assert!(trustmark_format::mark::parse(&message).is_err(), "{name}");
    }
}
