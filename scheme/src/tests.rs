//! The operations against a scheme directory in a temporary directory.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use trustmark_format::{Assurance, FrameworkId, FrameworkScope, TrustList};
use trustmark_keys::{certification_request, Signer};

use super::*;

const NOW: UnixTime = UnixTime(1_796_000_000);

fn root_options(alg: Algorithm) -> RootOptions {
    RootOptions {
        alg,
        common_name: "Example Scheme Root".into(),
        organization: "Example Scheme".into(),
        validity: Validity::days_from(NOW, 3650),
        token: None,
    }
}

fn accreditation() -> Accreditation {
    Accreditation {
        scope: IssuerScope {
            frameworks: vec![FrameworkScope {
                framework: FrameworkId::UK_PSTI,
                max_class: 1,
            }],
            assurances: vec![Assurance::ThirdParty],
        },
        validity: Validity::days_from(NOW, 365),
    }
}

fn scheme(alg: Algorithm) -> (tempfile::TempDir, SchemeDir) {
    let temp = tempfile::tempdir().unwrap();
    let dir = SchemeDir::new(temp.path().join("scheme"));
    init(&dir, &root_options(alg)).unwrap();
    (temp, dir)
}

#[test]
fn a_root_is_made_once() {
    let (_temp, dir) = scheme(Algorithm::EdDsa);
    assert!(matches!(
        init(&dir, &root_options(Algorithm::EdDsa)),
        Err(SchemeError::Key(KeyError::AlreadyExists(_)))
    ));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.root_key())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "the root key is readable by its owner only"
    );
}

#[test]
fn a_request_becomes_an_issuer_certificate_with_the_operators_scope() {
    for alg in [Algorithm::EdDsa, Algorithm::Es256] {
        let (_temp, dir) = scheme(alg);
        let key = SoftwareKey::generate(alg).unwrap();
        let request = certification_request(&key, "Acme Test Lab", "Acme Ltd").unwrap();
        let accredited = accredit(&dir, &request, &accreditation()).unwrap();
        let certificate = &accredited.certificate;
        assert_eq!(certificate.info.kid, key.kid());
        assert_eq!(certificate.info.common_name, "Acme Test Lab");
        assert_eq!(certificate.scope, accreditation().scope);
        assert_eq!(certificate.info.validity, accreditation().validity);
    }
}

#[test]
fn a_request_that_does_not_verify_is_refused() {
    let (_temp, dir) = scheme(Algorithm::EdDsa);
    let key = SoftwareKey::generate(Algorithm::EdDsa).unwrap();
    let other = SoftwareKey::generate(Algorithm::EdDsa).unwrap();
    // The request of one key with the public key of another spliced in.
    let request = certification_request(&key, "Lab", "Lab Ltd").unwrap();
    let block = pem_block(&request);
    let at = block
        .windows(32)
        .position(|w| w == key.public_key())
        .unwrap();
    let mut spliced = block.clone();
    spliced[at..at + 32].copy_from_slice(other.public_key());
    let spliced = pem_text("CERTIFICATE REQUEST", spliced);
    assert!(matches!(
        accredit(&dir, &spliced, &accreditation()),
        Err(SchemeError::Key(KeyError::CsrSignature))
    ));
}

fn pem_block(text: &str) -> Vec<u8> {
    pem::parse(text).unwrap().into_contents()
}

fn pem_text(label: &str, der: Vec<u8>) -> String {
    pem::encode(&pem::Pem::new(label, der))
}

#[test]
fn trust_lists_carry_growing_sequences_and_only_this_roots_issuers() {
    let (_temp, dir) = scheme(Algorithm::EdDsa);
    let key = SoftwareKey::generate(Algorithm::EdDsa).unwrap();
    let request = certification_request(&key, "Lab", "Lab Ltd").unwrap();
    let accredited = accredit(&dir, &request, &accreditation()).unwrap();
    let options = |sequence| TrustListOptions {
        issuers: vec![ListedIssuer {
            certificate_pem: accredited.pem.clone(),
            status_list_uri: Some("https://registry.example/v1/status-lists/1".into()),
            withdrawn_at: None,
        }],
        sequence,
        issued_at: NOW,
        expires_at: UnixTime(NOW.0 + 30 * 86_400),
    };
    let first = trust_list(&dir, &options(None)).unwrap();
    assert_eq!(first.sequence, NOW.0, "at least the signing time");
    let signed = TrustList::parse_signed(&first.bytes).unwrap();
    let list = TrustList::from_cbor(signed.payload()).unwrap();
    assert_eq!(list.issuers.len(), 1);
    assert_eq!(list.issuers[0].kid, key.kid());
    let second = trust_list(&dir, &options(None)).unwrap();
    assert_eq!(second.sequence, NOW.0 + 1);
    assert!(matches!(
        trust_list(&dir, &options(Some(NOW.0 + 1))),
        Err(SchemeError::SequenceNotIncreasing { sequence, last }) if sequence == NOW.0 + 1 && last == NOW.0 + 1
    ));
    assert_eq!(dir.last_sequence().unwrap(), NOW.0 + 1);
    // A certificate of another scheme is not listed.
    let (_other_temp, other) = scheme(Algorithm::EdDsa);
    let foreign = accredit(&other, &request, &accreditation()).unwrap();
    let mut with_foreign = options(None);
    with_foreign.issuers.push(ListedIssuer {
        certificate_pem: foreign.pem,
        status_list_uri: None,
        withdrawn_at: None,
    });
    assert!(matches!(
        trust_list(&dir, &with_foreign),
        Err(SchemeError::Key(KeyError::NotSignedByRoot))
    ));
    assert_eq!(dir.last_sequence().unwrap(), NOW.0 + 1, "nothing recorded");
}

#[test]
fn a_root_key_of_another_certificate_is_refused() {
    let (_temp, dir) = scheme(Algorithm::EdDsa);
    std::fs::remove_file(dir.root_key()).unwrap();
    SoftwareKey::generate(Algorithm::EdDsa)
        .unwrap()
        .write_pem_file(&dir.root_key())
        .unwrap();
    assert!(matches!(dir.load(), Err(SchemeError::KeyMismatch { .. })));
}

#[test]
fn a_withdrawal_ends_the_entry_now_and_never_extends_it() {
    let (_temp, dir) = scheme(Algorithm::EdDsa);
    let key = SoftwareKey::generate(Algorithm::EdDsa).unwrap();
    let request = certification_request(&key, "Lab", "Lab Ltd").unwrap();
    let accredited = accredit(&dir, &request, &accreditation()).unwrap();
    let not_after = accredited.certificate.info.validity.not_after;
    for (withdrawn_at, expected) in [
        (Some(UnixTime(NOW.0 + 10)), UnixTime(NOW.0 + 10)),
        (Some(UnixTime(not_after.0 + 10_000)), not_after),
        (None, not_after),
    ] {
        let signed = trust_list(
            &dir,
            &TrustListOptions {
                issuers: vec![ListedIssuer {
                    certificate_pem: accredited.pem.clone(),
                    status_list_uri: None,
                    withdrawn_at,
                }],
                sequence: None,
                issued_at: NOW,
                expires_at: UnixTime(NOW.0 + 86_400),
            },
        )
        .unwrap();
        let parsed = TrustList::parse_signed(&signed.bytes).unwrap();
        let list = TrustList::from_cbor(parsed.payload()).unwrap();
        assert_eq!(list.issuers[0].not_after, expected, "{withdrawn_at:?}");
    }
}
