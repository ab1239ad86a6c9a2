//! Several schemes at once (`TrustStores`, mutual recognition): each scheme's trust list is
//! verified under its own root; a mark's kid is looked up in every scheme, with at most
//! `MAX_KEYS_PER_KID` keys tried in all; the result names the scheme that verified it; adding and
//! updating refuse what a single store refuses, and a second list for a held root key. Exact
//! errors throughout, with each crypto backend.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod common;

use std::rc::Rc;
use std::sync::Arc;

use trustmark_format::{Algorithm, Status, TrustedIssuer, UnixTime};
use trustmark_keys::{Signer, SoftwareKey};
use trustmark_verifier::{
    verify, verify_status_list, verify_with_status, Policy, SignatureVerifier, TrustAnchor,
    TrustStore, TrustStores, TrustedSchemes, VerifiedMark, VerifyError, MAX_KEYS_PER_KID,
};

use common::{entries, entry, for_each_backend, key, mark_by, status_token, Root, DAY, NOW};

const URI_A: &str = "https://status.lab-a.example/v1/lists/1";

/// Two schemes: root A accredits lab `a`, root B accredits lab `b`; `stranger` is in neither.
struct TwoSchemes {
    root_a: Root,
    root_b: Root,
    a: SoftwareKey,
    b: SoftwareKey,
    stranger: SoftwareKey,
}

impl TwoSchemes {
    fn new() -> Self {
        Self {
            root_a: Root::new(11),
            root_b: Root::new(21),
            a: key(12),
            b: key(22),
            stranger: key(99),
        }
    }

    fn list_a(&self, sequence: u64) -> Vec<u8> {
        self.root_a
            .signed_list(sequence, vec![entry(&self.a, "Lab A", Some(URI_A))])
    }

    fn list_b(&self, sequence: u64) -> Vec<u8> {
        self.root_b.signed_list(sequence, vec![self.entry_b()])
    }

    /// Lab B's entry in scheme B's list.
    fn entry_b(&self) -> TrustedIssuer {
        entry(&self.b, "Lab B", None)
    }

    /// A store of scheme B alone.
    fn only_b(&self, crypto: &'static dyn SignatureVerifier) -> TrustStore<'static> {
        self.root_b.store(vec![self.entry_b()], crypto)
    }

    /// What a mark of lab A verifies as: scheme A's anchor and lab A's entry.
    fn via_a(&self) -> Verified {
        Ok((self.root_a.anchor(), "Lab A".to_string()))
    }

    /// What a mark of lab B verifies as: scheme B's anchor and lab B's entry.
    fn via_b(&self) -> Verified {
        Ok((self.root_b.anchor(), "Lab B".to_string()))
    }

    /// A verifier holding scheme A, then scheme B (both lists sequence 1).
    fn stores(&self, crypto: &'static dyn SignatureVerifier) -> TrustStores<'static> {
        let mut stores = TrustStores::new(crypto);
        let now = UnixTime(NOW);
        stores
            .add(&self.list_a(1), &self.root_a.anchor(), now)
            .unwrap();
        stores
            .add(&self.list_b(1), &self.root_b.anchor(), now)
            .unwrap();
        stores
    }
}

fn check(token: &[u8], trust: &impl TrustedSchemes) -> Result<VerifiedMark, VerifyError> {
    verify(token, trust, &Policy::default(), UnixTime(NOW))
}

/// The anchor of the scheme and the name of the issuer that verified a mark, or the error.
type Verified = Result<(TrustAnchor, String), VerifyError>;

/// How `token` verifies: [`Verified`].
fn verified_by(token: &[u8], trust: &impl TrustedSchemes) -> Verified {
    check(token, trust).map(|mark| (mark.anchor().clone(), mark.issuer().name.clone()))
}

#[test]
fn marks_of_each_scheme_verify_and_name_their_scheme() {
    for_each_backend(|crypto| {
        let s = TwoSchemes::new();
        let stores = s.stores(crypto);
        assert_eq!(stores.len(), 2);
        assert_eq!(verified_by(&mark_by(&s.a, 1), &stores), s.via_a());
        assert_eq!(verified_by(&mark_by(&s.b, 1), &stores), s.via_b());
        // A single scheme's store names its anchor too.
        assert_eq!(verified_by(&mark_by(&s.b, 1), &s.only_b(crypto)), s.via_b());
    });
}

/// A kid listed only in scheme A verifies through A, whichever order the schemes were added in,
/// and is unknown to a verifier holding only B.
#[test]
fn a_kid_only_in_one_scheme_verifies_through_it() {
    for_each_backend(|crypto| {
        let s = TwoSchemes::new();
        let now = UnixTime(NOW);
        let mut b_first = TrustStores::new(crypto);
        b_first.add(&s.list_b(1), &s.root_b.anchor(), now).unwrap();
        let mark_a = mark_by(&s.a, 1);
        assert_eq!(
            check(&mark_a, &b_first),
            Err(VerifyError::UnknownKid {
                kid: s.a.kid().to_vec()
            })
        );
        b_first.add(&s.list_a(1), &s.root_a.anchor(), now).unwrap();
        assert_eq!(verified_by(&mark_a, &b_first), s.via_a());
        let order: Vec<TrustAnchor> = b_first.iter().map(|t| t.anchor().clone()).collect();
        assert_eq!(order, [s.root_b.anchor(), s.root_a.anchor()]);
    });
}

#[test]
fn an_unknown_kid_is_unknown_in_every_scheme() {
    for_each_backend(|crypto| {
        let s = TwoSchemes::new();
        let stores = s.stores(crypto);
        assert_eq!(
            check(&mark_by(&s.stranger, 1), &stores),
            Err(VerifyError::UnknownKid {
                kid: s.stranger.kid().to_vec()
            })
        );
        assert_eq!(
            check(&mark_by(&s.a, 1), &TrustStores::new(crypto)),
            Err(VerifyError::UnknownKid {
                kid: s.a.kid().to_vec()
            })
        );
    });
}

/// Each list is checked under its own anchor: root B's list offered as scheme A's is refused,
/// when added and as an update, and the held list stays.
#[test]
fn a_list_signed_by_another_root_is_refused() {
    for_each_backend(|crypto| {
        let s = TwoSchemes::new();
        let now = UnixTime(NOW);
        let mut stores = TrustStores::new(crypto);
        assert_eq!(
            stores.add(&s.list_b(1), &s.root_a.anchor(), now),
            Err(VerifyError::TrustListSignature)
        );
        assert!(stores.is_empty());
        stores.add(&s.list_a(1), &s.root_a.anchor(), now).unwrap();
        assert_eq!(
            stores.update(&s.list_b(2), &s.root_a.anchor(), now),
            Err(VerifyError::TrustListSignature)
        );
        let held = stores.get(&s.root_a.anchor()).unwrap();
        assert_eq!(held.list().sequence, 1);
        assert_eq!(verified_by(&mark_by(&s.a, 1), &stores), s.via_a());
    });
}

/// A held scheme takes a newer list only as an update with a higher sequence; a second `add`
/// under its root key, or under the same key with another algorithm, is refused.
#[test]
fn a_held_scheme_changes_only_by_a_newer_list() {
    for_each_backend(|crypto| {
        let s = TwoSchemes::new();
        let now = UnixTime(NOW);
        let mut stores = s.stores(crypto);
        let anchor_a = s.root_a.anchor();
        assert_eq!(
            stores.add(&s.list_a(2), &anchor_a, now),
            Err(VerifyError::TrustAnchorHeld { sequence: 1 })
        );
        let same_key = TrustAnchor {
            alg: Algorithm::Es256,
            ..anchor_a.clone()
        };
        assert_eq!(
            stores.add(&s.list_a(2), &same_key, now),
            Err(VerifyError::TrustAnchorHeld { sequence: 1 })
        );
        assert_eq!(
            stores.update(&s.list_a(2), &same_key, now),
            Err(VerifyError::UnknownTrustAnchor)
        );
        let root_c = Root::new(31);
        assert_eq!(
            stores.update(&root_c.signed_list(2, Vec::new()), &root_c.anchor(), now),
            Err(VerifyError::UnknownTrustAnchor)
        );
        // Rollback: an equal or lower sequence is refused, and the held list stays.
        stores.update(&s.list_a(3), &anchor_a, now).unwrap();
        for (offered, sequence) in [(3, 3), (2, 2)] {
            assert_eq!(
                stores.update(&s.list_a(sequence), &anchor_a, now),
                Err(VerifyError::TrustListRollback {
                    current: 3,
                    offered
                })
            );
        }
        // A newer list without lab A revokes it in scheme A only; B is untouched.
        let empty = s.root_a.signed_list(4, Vec::new());
        stores.update(&empty, &anchor_a, now).unwrap();
        assert_eq!(stores.get(&anchor_a).unwrap().list().sequence, 4);
        assert_eq!(
            check(&mark_by(&s.a, 1), &stores),
            Err(VerifyError::UnknownKid {
                kid: s.a.kid().to_vec()
            })
        );
        assert!(check(&mark_by(&s.b, 1), &stores).is_ok());
        // Removed, the scheme can be added again.
        assert!(stores.remove(&anchor_a).is_some());
        assert!(stores.remove(&anchor_a).is_none());
        stores.add(&s.list_a(1), &anchor_a, now).unwrap();
        assert!(check(&mark_by(&s.a, 1), &stores).is_ok());
    });
}

/// At most `MAX_KEYS_PER_KID` keys are tried over all the schemes, in the order they were
/// added: scheme A listing that many other keys under lab B's kid hides lab B's key in scheme B
/// (a denial that needs root A's signature, never a forgery); one fewer does not.
#[test]
fn the_kid_bound_covers_all_schemes() {
    for_each_backend(|crypto| {
        let s = TwoSchemes::new();
        let now = UnixTime(NOW);
        let decoys = |n: u8| -> Vec<TrustedIssuer> {
            (0..n)
                .map(|i| TrustedIssuer {
                    kid: s.b.kid().to_vec(),
                    ..entry(&key(40 + i), "Decoy", None)
                })
                .collect()
        };
        let mark_b = mark_by(&s.b, 1);
        let max = u8::try_from(MAX_KEYS_PER_KID).unwrap();
        for (n, expected) in [(max - 1, s.via_b()), (max, Err(VerifyError::BadSignature))] {
            let mut stores = TrustStores::new(crypto);
            let list = s.root_a.signed_list(1, decoys(n));
            stores.add(&list, &s.root_a.anchor(), now).unwrap();
            stores.add(&s.list_b(1), &s.root_b.anchor(), now).unwrap();
            assert_eq!(verified_by(&mark_b, &stores), expected, "{n} decoys");
        }
    });
}

/// A scheme whose list has expired fails its own marks (`trust_list_expired`), not the other
/// scheme's.
#[test]
fn currency_is_checked_per_scheme() {
    for_each_backend(|crypto| {
        let s = TwoSchemes::new();
        let now = UnixTime(NOW);
        let mut short = Root::list(1, vec![entry(&s.a, "Lab A", Some(URI_A))]);
        short.expires_at = UnixTime(NOW + DAY);
        let mut stores = TrustStores::new(crypto);
        stores
            .add(&s.root_a.sign(&short), &s.root_a.anchor(), now)
            .unwrap();
        stores.add(&s.list_b(1), &s.root_b.anchor(), now).unwrap();
        let later = UnixTime(NOW + 2 * DAY);
        assert_eq!(
            verify(&mark_by(&s.a, 1), &stores, &Policy::default(), later),
            Err(VerifyError::TrustListExpired {
                expires_at: UnixTime(NOW + DAY),
                now: later
            })
        );
        assert!(verify(&mark_by(&s.b, 1), &stores, &Policy::default(), later).is_ok());
    });
}

/// A status list speaks for a mark only if its signer is listed in the mark's own scheme: a key
/// that root B lists with lab A's status list URI does not speak for lab A's marks in scheme A.
#[test]
fn a_status_list_binds_to_the_marks_scheme() {
    for_each_backend(|crypto| {
        let s = TwoSchemes::new();
        let now = UnixTime(NOW);
        let impostor = key(23);
        let mut stores = TrustStores::new(crypto);
        stores.add(&s.list_a(1), &s.root_a.anchor(), now).unwrap();
        let list_b = s.root_b.signed_list(
            1,
            vec![
                s.entry_b(),
                entry(&impostor, "Lab B, publishing as lab A", Some(URI_A)),
            ],
        );
        stores.add(&list_b, &s.root_b.anchor(), now).unwrap();
        let policy = Policy::default();
        let mark_a = mark_by(&s.a, 5);
        let revoking = entries(100, &[(5, Status::Invalid)]);
        let foreign = verify_status_list(
            &status_token(&impostor, URI_A, revoking.clone()),
            &stores,
            &policy,
            now,
        )
        .unwrap();
        assert_eq!(
            verify_with_status(&mark_a, &stores, Some(&foreign), &policy, now),
            Err(VerifyError::StatusListIssuerMismatch)
        );
        let own = verify_status_list(&status_token(&s.a, URI_A, revoking), &stores, &policy, now)
            .unwrap();
        assert_eq!(
            verify_with_status(&mark_a, &stores, Some(&own), &policy, now),
            Err(VerifyError::Revoked {
                index: 5,
                status: 1
            })
        );
    });
}

/// Whatever holds the schemes: a reference, a trait object, `Box`, `Rc` and `Arc` (as the
/// service shares its store) verify alike.
#[test]
fn any_holder_of_the_schemes_verifies() {
    for_each_backend(|crypto| {
        let s = TwoSchemes::new();
        let mark_b = mark_by(&s.b, 1);
        let expected = s.via_b();
        let stores = s.stores(crypto);
        let dynamic: &dyn TrustedSchemes = &stores;
        assert_eq!(verified_by(&mark_b, &dynamic), expected);
        assert_eq!(verified_by(&mark_b, &&stores), expected);
        let boxed: Box<dyn TrustedSchemes> = Box::new(s.stores(crypto));
        assert_eq!(verified_by(&mark_b, &boxed), expected);
        assert_eq!(verified_by(&mark_b, &Rc::new(s.stores(crypto))), expected);
        let single = Arc::new(s.only_b(crypto));
        assert_eq!(verified_by(&mark_b, &single), expected);
    });
}

/// `authenticate` checks the signature and nothing else: an expired mark authenticates (its
/// claims can be shown) while `verify` refuses it; an unknown kid and a tampered mark fail with
/// the errors `verify` gives.
#[test]
fn authenticate_checks_the_signature_only() {
    for_each_backend(|crypto| {
        let s = TwoSchemes::new();
        let stores = s.stores(crypto);
        let mark = mark_by(&s.b, 7);
        let later = UnixTime(NOW + 3650 * DAY);
        assert!(matches!(
            verify(&mark, &stores, &Policy::default(), later),
            Err(VerifyError::Expired { .. } | VerifyError::TrustListExpired { .. })
        ));
        let authentic = trustmark_verifier::authenticate(&mark, &stores).unwrap();
        assert_eq!(authentic.claims().status_index, 7);
        assert_eq!(authentic.anchor(), &s.root_b.anchor());
        assert_eq!(authentic.issuer().name, "Lab B");
        assert_eq!(
            trustmark_verifier::authenticate(&mark_by(&s.stranger, 1), &stores).err(),
            Some(VerifyError::UnknownKid {
                kid: s.stranger.kid().to_vec()
            })
        );
        let mut tampered = mark.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(
            trustmark_verifier::authenticate(&tampered, &stores).err(),
            Some(VerifyError::BadSignature)
        );
    });
}
