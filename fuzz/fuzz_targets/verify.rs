//! Full verification against the committed vectors (`spec/vectors/files/`: the trust list
//! verified under the root key `root-ed25519.pub` at the time in `time.txt`): the input as a
//! mark for `verify_with_status`, with the vector issuer's signed status list
//! (`status-list.cwt`) and without, and as a status list token for `verify_status_list`.
//!
//! Each runs twice: with the ring backend, and with a backend that accepts any signature so
//! that mutated input also reaches the checks behind the signature (see `src/lib.rs`).
//!
//! Properties: nothing panics; the two backends give the same answer except where ring refuses
//! the signature; a status list that verifies answers the same for every entry whether read
//! from the compressed stream or expanded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trustmark_format::FormatError;
use trustmark_fuzz::{FIXTURES, FUZZ_LIST_BUDGET, PROBE_INDICES, REVOKED_MARK, TYPICAL_MARK};
use trustmark_verifier::{
    verify, verify_status_list, verify_status_list_with_budget, verify_with_status,
    VerifiedStatusList, VerifyError,
};

fuzz_target!(|data: &[u8]| {
    let f = &*FIXTURES;
    let now = f.now;

    // The input as a mark: with ring once (the strict policy, with the status list), and with
    // the accepting backend under each policy, with and without the status list.
    let real = verify_with_status(
        data,
        &f.ring_store,
        Some(&f.ring_status),
        &f.policies[1],
        now,
    );
    for (p, policy) in f.policies.iter().enumerate() {
        for with_status in [false, true] {
            let list = with_status.then_some(&f.open_status);
            let open = verify_with_status(data, &f.open_store, list, policy, now);
            if p == 1 && with_status && real != Err(VerifyError::BadSignature) {
                assert_eq!(real, open, "backends disagree beyond the signature");
            }
            if !with_status {
                assert_eq!(verify(data, &f.open_store, policy, now), open);
            }
            if let Ok(mark) = &open {
                assert_eq!(mark.status_as_of().is_some(), with_status);
                assert!(mark.claims().issued_at <= now && now < mark.claims().expires_at);
            }
        }
    }

    // The input as a status list token: with ring (the default budget), and with the accepting
    // backend (a small budget, so that a fuzzed list costs little to inflate).
    let policy = &f.policies[1];
    let real = verify_status_list(data, &f.ring_store, policy, now);
    let open = verify_status_list_with_budget(data, &f.open_store, policy, now, FUZZ_LIST_BUDGET);
    match &real {
        // Past the signature, only the budgets differ.
        Err(VerifyError::StatusListSignature) | Ok(_) => {}
        Err(VerifyError::Format(
            FormatError::Decompression { .. } | FormatError::StatusListTooLarge { .. },
        )) => assert!(open.is_err()),
        Err(_) => assert_eq!(real, open, "backends disagree beyond the signature"),
    }
    if let Ok(list) = open {
        use_list(list);
    }
});

/// Reads a verified (fuzzed) status list every way there is, and checks the vector marks
/// against it.
fn use_list(mut list: VerifiedStatusList) {
    let f = &*FIXTURES;
    let compressed = list.clone();
    let expanded = list.expand();
    let mut indices: Vec<u32> = PROBE_INDICES.iter().map(|i| *i as u32).collect();
    indices.extend([
        list.len() as u32,
        list.len().saturating_sub(1) as u32,
        u32::MAX,
    ]);
    for i in indices {
        let streamed = compressed.status(i);
        if expanded.is_ok() {
            assert_eq!(
                streamed,
                list.status(i),
                "compressed and expanded differ at {i}"
            );
        }
        if (i as usize) < compressed.len() {
            assert!(
                streamed.is_ok(),
                "entry {i} of a verified list: {streamed:?}"
            );
        }
    }
    assert!(
        expanded.is_ok(),
        "a verified list does not expand: {expanded:?}"
    );
    let _ = list.refresh_due(f.now);
    let _ = list.check_current(&f.policies[1], f.now);
    for policy in &f.policies {
        for mark in [TYPICAL_MARK, REVOKED_MARK] {
            let _ = verify_with_status(mark, &f.open_store, Some(&list), policy, f.now);
        }
    }
}
