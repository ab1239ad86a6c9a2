//! A gateway onboarding devices: each simulated device presents its mark and measured firmware
//! digest over TCP on loopback; the gateway decides offline with its cached trust list and status
//! list (the committed vector fixtures) and the onboarding policy.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::io::Write;
use std::net::{TcpListener, TcpStream};

use trustmark_e2e::*;
use trustmark_format::{
    mark, Algorithm, Assurance, Day, FrameworkId, MarkClaims, TrustList, UnixTime,
};
use trustmark_keys::{KeyError, Signer, SoftwareKey};
use trustmark_verifier::gateway::{admit, Admission, Presentation};
use trustmark_verifier::{
    verify_status_list, FrameworkRequirement, Policy, Release, TrustAnchor, TrustStore, RING,
};

fn file(name: &str) -> Vec<u8> {
    std::fs::read(vectors_dir().join("files").join(name)).unwrap()
}

fn anchor() -> TrustAnchor {
    TrustAnchor {
        alg: Algorithm::EdDsa,
        public_key: file("root-ed25519.pub"),
    }
}

/// The onboarding policy: IoTSF class 2 from a test lab, firmware as measured, status checked
/// and at most a day old, support period running.
fn policy() -> Policy {
    Policy {
        frameworks: vec![FrameworkRequirement {
            framework: FrameworkId::IOTSF_ICAF,
            min_class: 2,
            min_release: None,
            min_assurance: Some(Assurance::ThirdParty),
        }],
        require_support: true,
        require_status: true,
        max_status_age: Some(86_400),
        ..Policy::default()
    }
}

const FIRMWARE: [u8; 32] = [0x9f; 32];

/// Name, trust list, mark, measured firmware, policy, expected answer.
type Case<'a> = (
    &'a str,
    &'a [u8],
    &'a [u8],
    [u8; 32],
    &'a Policy,
    Result<(), &'a str>,
);

/// A mark like the typical one, changed by `edit`, signed by `key`.
fn mark_with(key: &SoftwareKey, edit: impl FnOnce(&mut MarkClaims)) -> Vec<u8> {
    let typical = file("typical-mark.cbor");
    let mut claims = MarkClaims::from_cbor(mark::parse(&typical).unwrap().payload()).unwrap();
    edit(&mut claims);
    mark::encode::<KeyError>(&claims, key.algorithm(), key.kid(), |tbs| key.sign(tbs)).unwrap()
}

/// A device on loopback sends its presentation; the gateway reads it from the connection.
fn present(token: &[u8], firmware: [u8; 32]) -> Presentation {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let text = Presentation {
        token: token.to_vec(),
        firmware_sha256: firmware,
    }
    .to_text("HTTPS://VERIFY.EXAMPLE.ORG");
    let device = std::thread::spawn(move || {
        let (mut connection, _) = listener.accept().unwrap();
        connection.write_all(text.as_bytes()).unwrap();
    });
    let presentation = Presentation::read(TcpStream::connect(address).unwrap()).unwrap();
    device.join().unwrap();
    presentation
}

/// The gateway's answer: `Ok(())` admitted, or the code of the failed check.
fn decide(
    trust_list: &[u8],
    token: &[u8],
    firmware: [u8; 32],
    policy: &Policy,
    now: UnixTime,
) -> Result<(), String> {
    let trust = TrustStore::from_signed(trust_list, &anchor(), now, &RING)
        .map_err(|e| e.code().to_owned())?;
    let status = verify_status_list(&file("status-list.cwt"), &trust, policy, now)
        .map_err(|e| e.code().to_owned())?;
    match admit(
        &present(token, firmware),
        &trust,
        Some(&status),
        policy,
        now,
    ) {
        Admission::Admit(mark) => {
            assert_eq!(mark.claims().firmware.sha256, firmware);
            Ok(())
        }
        Admission::Refuse(e) => Err(e.code().to_owned()),
    }
}

#[test]
fn gateway_onboarding_decisions() {
    let now = UnixTime(VECTOR_TIME);
    let issuer = SoftwareKey::ed25519_from_seed(&ISSUER_SEED).unwrap();
    let stranger = SoftwareKey::ed25519_from_seed(&STRANGER_SEED).unwrap();
    let trust_list = file("trust-list.cbor");
    let typical = file("typical-mark.cbor");
    let mut forged = typical.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let expired = mark_with(&issuer, |c| c.expires_at = UnixTime(VECTOR_TIME));
    let suspended = mark_with(&issuer, |c| c.status_index = SUSPENDED_STATUS_INDEX);
    let self_assessed = mark_with(&issuer, |c| {
        c.frameworks[0].assurance = Assurance::SelfAssessment
    });
    let unsupported = mark_with(&issuer, |c| {
        c.support_until = Day((VECTOR_TIME / 86_400) as u32 - 1)
    });
    let unknown_issuer = mark_with(&stranger, |_| {});
    let release_unreadable = mark_with(&issuer, |c| c.frameworks[0].version = "R3".into());
    let release_4 = Policy {
        frameworks: vec![FrameworkRequirement {
            framework: FrameworkId::IOTSF_ICAF,
            min_class: 2,
            min_release: Release::parse("4.0"),
            min_assurance: None,
        }],
        ..policy()
    };
    let stale = Policy {
        max_status_age: Some(3_600),
        ..policy()
    };
    let class_3 = Policy {
        frameworks: vec![FrameworkRequirement {
            framework: FrameworkId::IOTSF_ICAF,
            min_class: 3,
            min_release: None,
            min_assurance: None,
        }],
        ..policy()
    };
    let release_3 = Policy {
        frameworks: vec![FrameworkRequirement {
            min_release: Release::parse("3"),
            ..release_4.frameworks[0].clone()
        }],
        ..policy()
    };
    // The scheme removed the issuer: the root re-signs the list without it.
    let root = SoftwareKey::ed25519_from_seed(&ROOT_SEED).unwrap();
    let trust = TrustStore::from_signed(&trust_list, &anchor(), now, &RING).unwrap();
    let removed = TrustList {
        sequence: trust.list().sequence + 1,
        issuers: trust
            .list()
            .issuers
            .iter()
            .filter(|i| i.kid != issuer.kid())
            .cloned()
            .collect(),
        ..trust.list().clone()
    }
    .sign::<KeyError>(root.algorithm(), root.kid(), |tbs| root.sign(tbs))
    .unwrap();

    let base = policy();
    let revoked = file("revoked-mark.cbor");
    let cases: Vec<Case<'_>> = vec![
        ("genuine", &trust_list, &typical, FIRMWARE, &base, Ok(())),
        (
            "forged",
            &trust_list,
            &forged,
            FIRMWARE,
            &base,
            Err("bad_signature"),
        ),
        (
            "revoked",
            &trust_list,
            &revoked,
            FIRMWARE,
            &base,
            Err("revoked"),
        ),
        (
            "suspended",
            &trust_list,
            &suspended,
            FIRMWARE,
            &base,
            Err("suspended"),
        ),
        (
            "expired",
            &trust_list,
            &expired,
            FIRMWARE,
            &base,
            Err("expired"),
        ),
        (
            "wrong firmware",
            &trust_list,
            &typical,
            [0; 32],
            &base,
            Err("firmware_mismatch"),
        ),
        (
            "class too low",
            &trust_list,
            &typical,
            FIRMWARE,
            &class_3,
            Err("class_too_low"),
        ),
        (
            "release new enough",
            &trust_list,
            &typical,
            FIRMWARE,
            &release_3,
            Ok(()),
        ),
        (
            "release too old",
            &trust_list,
            &typical,
            FIRMWARE,
            &release_4,
            Err("release_too_old"),
        ),
        (
            "release unreadable",
            &trust_list,
            &release_unreadable,
            FIRMWARE,
            &release_4,
            Err("release_unreadable"),
        ),
        (
            "self-assessed",
            &trust_list,
            &self_assessed,
            FIRMWARE,
            &base,
            Err("assurance_too_low"),
        ),
        (
            "support over",
            &trust_list,
            &unsupported,
            FIRMWARE,
            &base,
            Err("support_ended"),
        ),
        (
            "stale status list",
            &trust_list,
            &typical,
            FIRMWARE,
            &stale,
            Err("status_list_stale"),
        ),
        (
            "unknown issuer",
            &trust_list,
            &unknown_issuer,
            FIRMWARE,
            &base,
            Err("unknown_kid"),
        ),
    ];
    let mut failures = Vec::new();
    for (name, list, token, firmware, policy, expected) in cases {
        let got = decide(list, token, firmware, policy, now);
        if got != expected.map_err(str::to_owned) {
            failures.push(format!("{name}: expected {expected:?}, got {got:?}"));
        }
    }
    // Issuer removed: its status list is no longer trusted either, so the gateway refuses before
    // reading it.
    let got = decide(&removed, &typical, FIRMWARE, &base, now);
    if got != Err("unknown_kid".to_owned()) && got != Err("status_list_issuer_mismatch".to_owned())
    {
        failures.push(format!("issuer removed: got {got:?}"));
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn malformed_presentations_are_refused() {
    for text in [
        "",
        "HELLO\n",
        "TRUSTMARK 12a\nFIRMWARE 00\n",
        "FIRMWARE zz\n",
    ] {
        assert!(Presentation::read(text.as_bytes()).is_err(), "{text:?}");
    }
    let endless = std::io::repeat(b'7');
    assert!(
        Presentation::read(endless).is_err(),
        "an endless line is cut at the bound"
    );
}
