//! Status lists. Input: a two-byte little-endian entry index, then a document, which is tried
//! as each of the three forms a status list takes: a signed token
//! (`StatusListToken::parse_signed`), a token's claims (`StatusListClaims::from_cbor`,
//! `StatusListToken::from_cbor`) and a bare CBOR StatusList (`CompressedStatusList::from_cbor`,
//! `StatusList::from_cbor`, `status_list::lookup` at the index). Each layer that decodes
//! feeds the next: a token's payload is decoded as claims, the claims' list is inflated.
//!
//! Properties: nothing panics; a typed COSE_Sign1 that parses rebuilds to the input bytes;
//! claims and lists re-encode to something that decodes to the same value; inflating with a
//! small budget never returns more than the budget; and the streaming reader (`lookup`, `get`,
//! `check`) agrees with full inflation on every entry it is asked for.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trustmark_format::status_list::{
    self, lookup, CompressedStatusList, StatusList, StatusListClaims, StatusListToken,
    MAX_LIST_BYTES, MEDIA_TYPE,
};
use trustmark_format::{cose, FormatError};
use trustmark_fuzz::FUZZ_LIST_BUDGET;

fuzz_target!(|data: &[u8]| {
    let Some((index, document)) = data.split_first_chunk::<2>() else {
        return;
    };
    let index = usize::from(u16::from_le_bytes(*index));

    if let Ok(sign1) = StatusListToken::parse_signed(document) {
        let rebuilt = cose::build_typed_sign1::<FormatError>(
            sign1.algorithm(),
            sign1.kid(),
            MEDIA_TYPE,
            sign1.payload(),
            |_| Ok(sign1.signature().to_vec()),
        );
        assert_eq!(
            rebuilt.as_deref(),
            Ok(document),
            "COSE_Sign1 does not round-trip"
        );
        claims(sign1.payload(), index);
    }
    claims(document, index);
    bare_list(document, index);
});

/// The document as a token's claims.
fn claims(payload: &[u8], index: usize) {
    let Ok(claims) = StatusListClaims::from_cbor(payload) else {
        return;
    };
    // Re-encoding (claims in bytewise key order, the list as received) decodes to the same.
    let token = StatusListToken::from_cbor(payload, FUZZ_LIST_BUDGET);
    let lst = claims.list.compressed().to_vec();
    if let Ok(token) = &token {
        assert_eq!(token.uri, claims.uri);
        assert_eq!(token.issued_at, claims.issued_at);
        let encoded = token.to_cbor(|_| lst.clone());
        let encoded = match encoded {
            Ok(encoded) => encoded,
            Err(e) => panic!("a decoded token does not encode: {e:?}"),
        };
        assert_eq!(StatusListClaims::from_cbor(&encoded).as_ref(), Ok(&claims));
    }
    compressed(&claims.list, index, token.map(|t| t.list).ok());
}

/// The document as a bare StatusList `{"bits", "lst"}`.
fn bare_list(document: &[u8], index: usize) {
    let looked_up = lookup(document, index);
    let Ok(list) = CompressedStatusList::from_cbor(document) else {
        assert!(
            looked_up.is_err(),
            "lookup read a list that does not decode"
        );
        return;
    };
    assert_eq!(
        CompressedStatusList::from_cbor(&list.to_cbor()).as_ref(),
        Ok(&list),
        "StatusList does not round-trip"
    );
    let inflated = StatusList::from_cbor(document, FUZZ_LIST_BUDGET);
    assert_eq!(inflated, list.inflate(FUZZ_LIST_BUDGET));
    if let Ok(full) = &inflated {
        // The whole stream inflated within the budget, so the streaming lookup (whose budget
        // is larger) reads the same entry.
        match full.get(index) {
            Some(value) => assert_eq!(looked_up, Ok(value), "lookup disagrees at {index}"),
            None => assert!(
                matches!(looked_up, Err(FormatError::StatusIndexOutOfRange { .. })),
                "lookup past the end: {looked_up:?}"
            ),
        }
    }
    compressed(&list, index, inflated.ok());
}

/// Checks a compressed list against its full inflation (`full`, if that succeeded within
/// [`FUZZ_LIST_BUDGET`]).
fn compressed(list: &CompressedStatusList, index: usize, full: Option<StatusList>) {
    let checked = list.check(FUZZ_LIST_BUDGET);
    let Some(full) = full else {
        assert!(
            checked.is_err(),
            "check passed a list that does not inflate"
        );
        // Small budgets fail cleanly.
        let _ = list.inflate(1);
        let _ = list.get(index, 1);
        return;
    };
    assert!(full.as_bytes().len() <= FUZZ_LIST_BUDGET);
    assert_eq!(full.bits(), list.bits());
    assert_eq!(checked, Ok(full.len()));
    // With exactly the inflated size as the budget, it still inflates; with one byte less, it
    // does not.
    let size = full.as_bytes().len();
    assert_eq!(list.inflate(size).as_ref(), Ok(&full));
    if size > 0 {
        assert_eq!(
            list.inflate(size - 1),
            Err(FormatError::StatusListTooLarge { max: size - 1 })
        );
    }
    // The entry asked for, the last one and the first past the end (each read streams the
    // list from its start, so the probes are few).
    for i in [index, full.len().saturating_sub(1), full.len()] {
        match full.get(i) {
            Some(value) => assert_eq!(list.get(i, MAX_LIST_BYTES), Ok(value), "get({i})"),
            None => assert!(
                matches!(
                    list.get(i, MAX_LIST_BYTES),
                    Err(FormatError::StatusIndexOutOfRange { .. })
                ),
                "get({i}) past the end"
            ),
        }
    }
    // Re-encoding the inflated list with a stored (uncompressed) zlib stream gives a list that
    // inflates to the same bytes.
    let cbor = full.to_cbor(stored_zlib);
    assert_eq!(
        StatusList::from_cbor(&cbor, FUZZ_LIST_BUDGET).as_ref(),
        Ok(&full)
    );
    let _ = status_list::window_len(list.compressed());
}

/// A zlib stream (RFC 1950) of stored DEFLATE blocks (RFC 1951 section 3.2.4): no compressor
/// needed, and an independent encoder for the round trip.
fn stored_zlib(raw: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let mut blocks = raw.chunks(0xffff).peekable();
    if blocks.peek().is_none() {
        out.extend_from_slice(&[0x01, 0x00, 0x00, 0xff, 0xff]);
    }
    while let Some(block) = blocks.next() {
        out.push(u8::from(blocks.peek().is_none()));
        let len = block.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for byte in raw {
        a = (a + u32::from(*byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
    out
}
