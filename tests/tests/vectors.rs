//! One generic runner over `spec/vectors/*.json`: every case must give exactly the expected
//! answer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use trustmark_e2e::*;
use trustmark_format::{qr_text, Algorithm, Assurance, FrameworkId, UnixTime};
use trustmark_verifier::{
    verify, FrameworkRequirement, Policy, TrustAnchor, TrustStore, VerifyError, RING,
};

fn read<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = vectors_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn bytes(hex_text: &str) -> Vec<u8> {
    hex::decode(hex_text).unwrap_or_else(|e| panic!("bad hex in vector: {e}"))
}

fn anchor(v: &AnchorVector) -> TrustAnchor {
    TrustAnchor {
        alg: match v.alg.as_str() {
            "EdDSA" => Algorithm::EdDsa,
            "ES256" => Algorithm::Es256,
            other => panic!("unknown anchor alg {other}"),
        },
        public_key: bytes(&v.public_key),
    }
}

fn policy(v: &PolicyVector) -> Policy {
    Policy {
        firmware_sha256: v.firmware_sha256.as_ref().map(|h| {
            bytes(h)
                .try_into()
                .unwrap_or_else(|_| panic!("digest length"))
        }),
        frameworks: v
            .frameworks
            .iter()
            .map(|f| FrameworkRequirement {
                framework: FrameworkId::from_name(&f.framework)
                    .unwrap_or_else(|| panic!("framework {}", f.framework)),
                min_class: f.min_class,
                min_assurance: f
                    .min_assurance
                    .as_ref()
                    .map(|a| Assurance::from_name(a).unwrap_or_else(|| panic!("assurance {a}"))),
            })
            .collect(),
        require_support: v.require_support,
        ..Policy::default()
    }
}

fn outcome<T>(result: Result<T, VerifyError>) -> Expect {
    match result {
        Ok(_) => Expect::Valid,
        Err(e) => Expect::Error(e.code().to_owned()),
    }
}

#[test]
fn mark_vectors() {
    let file: MarkVectors = read("marks.json");
    let anchor = anchor(&file.anchor);
    let trust_list = bytes(&file.trust_list);
    let mut failures = Vec::new();
    for case in &file.cases {
        let now = UnixTime(case.time.unwrap_or(file.time));
        let result = TrustStore::from_signed(&trust_list, &anchor, now, &RING)
            .and_then(|trust| verify(&bytes(&case.token), &trust, &policy(&case.policy), now));
        let got = outcome(result);
        if got != case.expect {
            failures.push(format!(
                "{}: expected {:?}, got {got:?}",
                case.name, case.expect
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(
        file.cases.len() >= 40,
        "the mark vectors shrank to {}",
        file.cases.len()
    );
}

#[test]
fn trust_list_vectors() {
    let file: TrustListVectors = read("trust-lists.json");
    let anchor = anchor(&file.anchor);
    let mut failures = Vec::new();
    for case in &file.cases {
        let now = UnixTime(case.time.unwrap_or(file.time));
        let got = outcome(TrustStore::from_signed(
            &bytes(&case.trust_list),
            &anchor,
            now,
            &RING,
        ));
        if got != case.expect {
            failures.push(format!(
                "{}: expected {:?}, got {got:?}",
                case.name, case.expect
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn qr_text_vectors() {
    let file: QrTextVectors = read("qr-text.json");
    let mut failures = Vec::new();
    for case in &file.cases {
        let result = qr_text::parse_scanned(&case.text);
        let got = match &result {
            Ok(_) => Expect::Valid,
            Err(e) => Expect::Error(e.code().to_owned()),
        };
        if got != case.expect {
            failures.push(format!(
                "{}: expected {:?}, got {got:?}",
                case.name, case.expect
            ));
        }
        if let (Ok(decoded), Some(expected)) = (&result, &case.bytes) {
            if *decoded != bytes(expected) {
                failures.push(format!("{}: decoded to other bytes", case.name));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Vector names are unique, so a failure report names one case.
#[test]
fn case_names_are_unique() {
    let file: MarkVectors = read("marks.json");
    let mut names: Vec<&str> = file.cases.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    assert_eq!(before, names.len());
}
