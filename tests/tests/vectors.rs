//! One generic runner over `spec/vectors/*.json`: every case must give exactly the expected
//! answer, with each crypto backend. Also the raw status list fixtures of `spec/vectors/files/`
//! (the no_std proof's gateway decision).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use trustmark_e2e::*;
use trustmark_format::{qr_text, Algorithm, Assurance, FrameworkId, UnixTime};
use trustmark_verifier::{
    verify, verify_status_list, verify_with_status, FrameworkRequirement, Policy,
    SignatureVerifier, TrustAnchor, TrustStore, VerifyError, RING, RUST_CRYPTO,
};

/// Every case runs with each crypto backend; a failure names the backend.
static BACKENDS: [(&str, &dyn SignatureVerifier); 2] =
    [("ring", &RING), ("rustcrypto", &RUST_CRYPTO)];

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
                min_release: None,
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

/// Runs every case of a mark file with each backend: the answer must be the expected one, and
/// for a case that names its signer, the verifying entry's kid and name too. The file must hold
/// at least `min_cases` cases, so that it cannot silently shrink. Returns the file.
fn check_mark_file(name: &str, min_cases: usize) -> MarkVectors {
    let file: MarkVectors = read(name);
    let anchor = anchor(&file.anchor);
    let trust_list = bytes(&file.trust_list);
    let mut failures = Vec::new();
    for (backend, crypto) in BACKENDS {
        for case in &file.cases {
            let now = UnixTime(case.time.unwrap_or(file.time));
            let result = TrustStore::from_signed(&trust_list, &anchor, now, crypto)
                .and_then(|trust| verify(&bytes(&case.token), &trust, &policy(&case.policy), now));
            let signer = result.as_ref().ok().map(|mark| SignerVector {
                kid: hex::encode(mark.kid()),
                name: mark.issuer().name.clone(),
            });
            let got = outcome(result);
            if got != case.expect {
                failures.push(format!(
                    "{} ({backend}): expected {:?}, got {got:?}",
                    case.name, case.expect
                ));
            } else if case.signer.is_some() && signer != case.signer {
                failures.push(format!(
                    "{} ({backend}): expected signer {:?}, got {signer:?}",
                    case.name, case.signer
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{name}: {failures:#?}");
    assert!(
        file.cases.len() >= min_cases,
        "{name} shrank to {} cases",
        file.cases.len()
    );
    file
}

#[test]
fn mark_vectors() {
    check_mark_file("marks.json", 40);
}

/// The trust list of several keys: each valid case names its signer, and every kind of case
/// (valid, scope, withdrawal, removal, wrong key) stays in the file.
#[test]
fn multi_key_vectors() {
    let file = check_mark_file("multi-key.json", 14);
    let count = |expect: Expect| file.cases.iter().filter(|c| c.expect == expect).count();
    assert!(count(Expect::Valid) >= 6, "valid cases");
    for code in [
        "outside_scope",
        "issued_outside_key_validity",
        "unknown_kid",
        "bad_signature",
        "algorithm_mismatch",
    ] {
        assert!(count(Expect::Error(code.into())) >= 1, "no {code} case");
    }
    for case in &file.cases {
        assert_eq!(
            case.signer.is_some(),
            case.expect == Expect::Valid,
            "{}: a signer is named exactly for a valid case",
            case.name
        );
    }
}

#[test]
fn trust_list_vectors() {
    let file: TrustListVectors = read("trust-lists.json");
    let anchor = anchor(&file.anchor);
    let mut failures = Vec::new();
    for (backend, crypto) in BACKENDS {
        for case in &file.cases {
            let now = UnixTime(case.time.unwrap_or(file.time));
            let got = outcome(TrustStore::from_signed(
                &bytes(&case.trust_list),
                &anchor,
                now,
                crypto,
            ));
            if got != case.expect {
                failures.push(format!(
                    "{} ({backend}): expected {:?}, got {got:?}",
                    case.name, case.expect
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

fn file(name: &str) -> Vec<u8> {
    let path = vectors_dir().join("files").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The raw fixtures the no_std proof runs its gateway decision on: the root key, the trust
/// list, the issuer's status list, the typical mark (valid in the list) and the revoked mark,
/// at the vector time, under a gateway policy (firmware digest, minimum class, a status list
/// required and at most a day old).
#[test]
fn status_list_fixture() {
    let now = UnixTime(VECTOR_TIME);
    let anchor = TrustAnchor {
        alg: Algorithm::EdDsa,
        public_key: file("root-ed25519.pub"),
    };
    let policy = Policy {
        firmware_sha256: Some([0x9f; 32]),
        frameworks: vec![FrameworkRequirement {
            framework: FrameworkId::IOTSF_ICAF,
            min_class: 2,
            min_release: None,
            min_assurance: None,
        }],
        require_status: true,
        max_status_age: Some(86_400),
        ..Policy::default()
    };
    let (trust_list, status_list) = (file("trust-list.cbor"), file("status-list.cwt"));
    let (typical, revoked) = (file("typical-mark.cbor"), file("revoked-mark.cbor"));
    for (backend, crypto) in BACKENDS {
        let trust = TrustStore::from_signed(&trust_list, &anchor, now, crypto).unwrap();
        let list = verify_status_list(&status_list, &trust, &policy, now)
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(list.uri(), STATUS_LIST_URI);
        assert_eq!(list.issued_at(), UnixTime(STATUS_LIST_ISSUED_AT));
        assert_eq!(list.expires_at(), Some(UnixTime(STATUS_LIST_EXPIRES_AT)));
        assert_eq!(list.ttl(), Some(STATUS_LIST_TTL));
        assert_eq!((list.len(), list.bits()), (STATUS_LIST_ENTRIES, 2));
        let mark = verify_with_status(&typical, &trust, Some(&list), &policy, now)
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(mark.claims().status_index, (STATUS_LIST_ENTRIES - 1) as u32);
        assert_eq!(mark.status_as_of(), Some(list.issued_at()));
        assert_eq!(
            verify_with_status(&revoked, &trust, Some(&list), &policy, now).map(|_| ()),
            Err(VerifyError::Revoked {
                index: REVOKED_STATUS_INDEX,
                status: 1
            })
        );
        assert_eq!(
            list.status(SUSPENDED_STATUS_INDEX),
            Ok(trustmark_format::Status::Suspended)
        );
        // The list goes stale a day after its iat; the mark is then refused.
        let stale = UnixTime(STATUS_LIST_ISSUED_AT + 86_400 + 1);
        assert_eq!(
            verify_with_status(&typical, &trust, Some(&list), &policy, stale).map_err(|e| e.code()),
            Err("status_list_stale")
        );
    }
    // The streaming reader's window is the 4 KiB (windowBits 12) the generator asked for.
    let lst = trustmark_format::StatusListClaims::from_cbor(
        trustmark_format::StatusListToken::parse_signed(&status_list)
            .unwrap()
            .payload(),
    )
    .unwrap()
    .list;
    assert_eq!(
        trustmark_format::status_list::window_len(lst.compressed()),
        Some(4096)
    );
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

/// Vector names are unique within a file, so a failure report names one case.
#[test]
fn case_names_are_unique() {
    for name in ["marks.json", "multi-key.json"] {
        let file: MarkVectors = read(name);
        let mut names: Vec<&str> = file.cases.iter().map(|c| c.name.as_str()).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "{name}");
    }
}
