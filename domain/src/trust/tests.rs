//! A scheme root, certificates for keys of a ring, and trust lists signed over them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use trustmark_format::{Algorithm, Assurance, FrameworkId, FrameworkScope, IssuerScope};
use trustmark_keys::{
    issuer_certificate, root_certificate, sign_trust_list, IssuerCertificate,
    IssuerCertificateRequest, RootCertificate, Signer, SoftwareKey, TrustListEntry, Validity,
};
use trustmark_verifier::RING;

use super::*;
use crate::{KeyState, ScopeLimit};

const NOW: UnixTime = UnixTime(1_796_000_000);

struct Scheme {
    key: SoftwareKey,
    root: RootCertificate,
}

impl Scheme {
    fn new() -> Self {
        let key = SoftwareKey::generate(Algorithm::EdDsa).unwrap();
        let pem = root_certificate(&key, "Root", "Scheme", Validity::days_from(NOW, 3650)).unwrap();
        Self {
            root: RootCertificate::from_pem(&pem).unwrap(),
            key,
        }
    }

    fn anchor(&self) -> TrustAnchor {
        TrustAnchor {
            alg: self.root.alg,
            public_key: self.root.public_key.clone(),
        }
    }

    fn certificate(&self, key: &IssuerKey, max_class: u8) -> String {
        issuer_certificate(
            &IssuerCertificateRequest {
                alg: key.alg.algorithm(),
                public_key: &key.public_key,
                common_name: "Lab",
                organization: "Lab Ltd",
                scope: &IssuerScope {
                    frameworks: vec![FrameworkScope {
                        framework: FrameworkId::IOTSF_ICAF,
                        max_class,
                    }],
                    assurances: vec![Assurance::ThirdParty],
                },
                validity: Validity::days_from(NOW, 365),
            },
            &self.root.to_pem(),
            &self.key,
        )
        .unwrap()
    }

    /// A list of `keys` (each with its withdrawal time), signed with `sequence`.
    fn list(&self, keys: &[(&IssuerKey, Option<UnixTime>)], sequence: u64) -> Vec<u8> {
        let certificates: Vec<IssuerCertificate> = keys
            .iter()
            .map(|(k, _)| IssuerCertificate::from_pem(&self.certificate(k, 2), &self.root).unwrap())
            .collect();
        let entries: Vec<TrustListEntry<'_>> = certificates
            .iter()
            .zip(keys)
            .map(|(certificate, (_, withdrawn_at))| TrustListEntry {
                certificate,
                status_list_uri: None,
                withdrawn_at: *withdrawn_at,
            })
            .collect();
        sign_trust_list(
            &self.key,
            &entries,
            sequence,
            NOW,
            UnixTime(NOW.0 + 30 * 86_400),
        )
        .unwrap()
    }

    fn accept(
        &self,
        bytes: Vec<u8>,
        current: Option<u64>,
    ) -> Result<AcceptedTrustList, DomainError> {
        AcceptedTrustList::accept(bytes, &self.anchor(), current, NOW, &RING).map(|(list, _)| list)
    }
}

fn new_key(list: u32) -> IssuerKey {
    let signer = SoftwareKey::generate(Algorithm::EdDsa).unwrap();
    IssuerKey::pending(
        &c1(),
        signer.algorithm(),
        signer.public_key(),
        signer.kid(),
        list,
        NOW.0,
    )
    .unwrap()
}

fn claim(class: u8) -> [(FrameworkId, u8, Assurance); 1] {
    [(FrameworkId::IOTSF_ICAF, class, Assurance::ThirdParty)]
}

#[test]
fn rotation_activates_the_new_key_and_keeps_the_old_one_listed_as_retiring() {
    let scheme = Scheme::new();
    let mut keys = vec![new_key(1)];
    // Pending: nothing signs yet.
    let first = scheme.accept(scheme.list(&[], 1), None).unwrap();
    assert!(matches!(
        first.signing_key(&c1(), KeyRing::new(&keys), NOW),
        Err(DomainError::NoActiveKey { hint, .. }) if hint.contains("pending")
    ));
    // A list that holds it activates it.
    let second = scheme
        .accept(scheme.list(&[(&keys[0], None)], 2), Some(1))
        .unwrap();
    let changes = second.key_changes(&keys);
    assert_eq!(changes, [KeyChange::Activated(keys[0].kid.clone())]);
    changes[0].apply(&mut keys[0], NOW.0, 2);
    let (signing, _) = second
        .authorize(&c1(), KeyRing::new(&keys), NOW, claim(2))
        .unwrap();
    assert_eq!(signing.kid, keys[0].kid);
    // A new key, listed beside the old one: the new one signs, the old one is retiring.
    keys.push(new_key(2));
    let third = scheme
        .accept(
            scheme.list(&[(&keys[0], None), (&keys[1], None)], 3),
            Some(2),
        )
        .unwrap();
    for change in third.key_changes(&keys) {
        let at = keys.iter().position(|k| k.kid == *change.kid()).unwrap();
        change.apply(&mut keys[at], NOW.0, 3);
    }
    let ring = KeyRing::new(&keys);
    assert_eq!(
        third.signing_key(&c1(), ring, NOW).unwrap().0.kid,
        keys[1].kid
    );
    assert_eq!(
        keys.iter().map(|k| ring.state(k)).collect::<Vec<_>>(),
        [KeyState::Retiring, KeyState::Active]
    );
}

#[test]
fn a_withdrawal_stops_issuance_and_a_removal_retires_the_key() {
    let scheme = Scheme::new();
    let mut keys = vec![new_key(1)];
    keys[0].activated_at = Some(NOW.0);
    let withdrawn = scheme
        .accept(
            scheme.list(&[(&keys[0], Some(UnixTime(NOW.0 + 10)))], 2),
            None,
        )
        .unwrap();
    assert!(withdrawn.key_changes(&keys).is_empty());
    assert!(withdrawn
        .signing_key(&c1(), KeyRing::new(&keys), UnixTime(NOW.0 + 9))
        .is_ok());
    assert!(matches!(
        withdrawn.signing_key(&c1(), KeyRing::new(&keys), UnixTime(NOW.0 + 10)),
        Err(DomainError::AccreditationNotInForce { not_after, .. }) if not_after.0 == NOW.0 + 10
    ));
    let removed = scheme.accept(scheme.list(&[], 3), Some(2)).unwrap();
    assert_eq!(
        removed.key_changes(&keys),
        [KeyChange::Retired(keys[0].kid.clone())]
    );
    removed.key_changes(&keys)[0].apply(&mut keys[0], NOW.0, 3);
    // Listed again later: the registry does not bring a removed key back.
    let relisted = scheme
        .accept(scheme.list(&[(&keys[0], None)], 4), Some(3))
        .unwrap();
    assert!(relisted.key_changes(&keys).is_empty());
    assert!(matches!(
        relisted.signing_key(&c1(), KeyRing::new(&keys), NOW),
        Err(DomainError::NoActiveKey { .. })
    ));
}

#[test]
fn out_of_scope_claims_rollbacks_and_foreign_roots_are_refused() {
    let scheme = Scheme::new();
    let mut keys = vec![new_key(1)];
    keys[0].activated_at = Some(NOW.0);
    let accepted = scheme
        .accept(scheme.list(&[(&keys[0], None)], 5), None)
        .unwrap();
    assert!(matches!(
        accepted.authorize(&c1(), KeyRing::new(&keys), NOW, claim(3)),
        Err(DomainError::OutsideScope {
            limit: ScopeLimit::ClassAbove { max_class: 2 },
            ..
        })
    ));
    assert!(matches!(
        scheme.accept(scheme.list(&[(&keys[0], None)], 5), Some(5)),
        Err(DomainError::TrustListRollback {
            current: 5,
            offered: 5
        })
    ));
    let other = Scheme::new();
    assert!(matches!(
        other.accept(scheme.list(&[], 9), None),
        Err(DomainError::TrustList(_))
    ));
    // A certificate of the other root, or for another key, does not install.
    assert!(matches!(
        keys[0].check_certificate(&other.certificate(&keys[0], 1), &scheme.root),
        Err(DomainError::CertificateForeignRoot { .. })
    ));
    let someone_else = new_key(2);
    assert!(matches!(
        keys[0].check_certificate(&scheme.certificate(&someone_else, 1), &scheme.root),
        Err(DomainError::CertificateKeyMismatch { .. })
    ));
    assert!(keys[0]
        .check_certificate(&scheme.certificate(&keys[0], 1), &scheme.root)
        .is_ok());
}

#[test]
fn expiry_is_reported_before_it_happens() {
    let scheme = Scheme::new();
    let accepted = scheme.accept(scheme.list(&[], 1), None).unwrap();
    let expires = accepted.list.expires_at.0;
    assert_eq!(
        accepted.health(UnixTime(expires - 20 * 86_400), 14 * 86_400),
        TrustListHealth::Current {
            seconds_left: 20 * 86_400
        }
    );
    assert_eq!(
        accepted.health(UnixTime(expires - 60), 14 * 86_400),
        TrustListHealth::ExpiringSoon { seconds_left: 60 }
    );
    assert_eq!(
        accepted.health(UnixTime(expires), 14 * 86_400),
        TrustListHealth::Expired
    );
}

/// The certifier of the tests.
fn c1() -> crate::CertifierId {
    crate::CertifierId::from_bytes([0xc1; 16])
}
