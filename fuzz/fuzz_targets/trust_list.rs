//! The trust list: `TrustList::parse_signed` and `TrustList::from_cbor` (on the input and on
//! the payload of a COSE structure that parses), and `TrustStore::from_signed` under the vector
//! trust anchor, with the real signature backend and with one that accepts any signature (so
//! that mutated lists reach decoding and the validity checks behind the root signature).
//!
//! Properties: nothing panics; what the strict decoders accept re-encodes to the input bytes; a
//! list that verifies under ring verifies the same under the accepting backend (the two differ
//! only in the signature check); a store built from a fuzzed list verifies the vector marks
//! and status list, and `update` never replaces a list with one whose sequence is not higher.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trustmark_format::{cose, FormatError, TrustList};
use trustmark_fuzz::{ACCEPT_ANY, FIXTURES, STATUS_LIST, TYPICAL_MARK};
use trustmark_verifier::{
    verify, verify_status_list, verify_with_status, TrustStore, VerifyError, RING,
};

fuzz_target!(|data: &[u8]| {
    let f = &*FIXTURES;
    if let Ok(sign1) = TrustList::parse_signed(data) {
        let rebuilt = cose::build_sign1::<FormatError>(
            sign1.algorithm(),
            sign1.kid(),
            sign1.payload().to_vec(),
            |_| Ok(sign1.signature().to_vec()),
        );
        assert_eq!(
            rebuilt.as_deref(),
            Ok(data),
            "COSE_Sign1 does not round-trip"
        );
        list_round_trip(sign1.payload());
    }
    list_round_trip(data);

    let real = TrustStore::from_signed(data, &f.anchor, f.now, &RING);
    let open = TrustStore::from_signed(data, &f.anchor, f.now, &ACCEPT_ANY);
    match (&real, &open) {
        (Err(VerifyError::TrustListSignature), _) => {}
        (Ok(real), Ok(open)) => assert_eq!(real.list(), open.list()),
        (Err(real), Err(open)) => assert_eq!(real, open),
        (real, open) => panic!("backends disagree beyond the signature: {real:?} / {open:?}"),
    }
    if let Ok(store) = open {
        use_store(data, store);
    }
});

fn list_round_trip(payload: &[u8]) {
    if let Ok(list) = TrustList::from_cbor(payload) {
        assert_eq!(
            list.to_cbor().as_deref(),
            Ok(payload),
            "trust list does not round-trip: {list:?}"
        );
        assert!(list.expires_at > list.issued_at);
    }
}

/// Verifies the vector mark and status list against a store made from the fuzzed list
/// `signed`, and updates it with that list again (a rollback) and with the vector list.
fn use_store(signed: &[u8], mut store: TrustStore<'static>) {
    let f = &*FIXTURES;
    let _ = verify(TYPICAL_MARK, &store, &f.policies[0], f.now);
    if let Ok(list) = verify_status_list(STATUS_LIST, &store, &f.policies[1], f.now) {
        let _ = verify_with_status(TYPICAL_MARK, &store, Some(&list), &f.policies[1], f.now);
    }
    let before = store.list().clone();
    assert_eq!(
        store.update(signed, &f.anchor, f.now),
        Err(VerifyError::TrustListRollback {
            current: before.sequence,
            offered: before.sequence,
        })
    );
    assert_eq!(store.list(), &before);
    let vector = f.open_store.list().clone();
    match store.update(trustmark_fuzz::TRUST_LIST, &f.anchor, f.now) {
        Ok(()) => {
            assert!(vector.sequence > before.sequence);
            assert_eq!(store.list(), &vector);
        }
        Err(_) => assert_eq!(store.list(), &before, "a failed update changed the store"),
    }
}
