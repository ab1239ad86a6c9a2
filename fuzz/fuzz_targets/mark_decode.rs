//! A mark's COSE structure (`mark::parse`) and its claims (`MarkClaims::from_cbor`), on the
//! input and on the payload of a COSE structure that parses.
//!
//! Properties: neither panics; both decoders accept only deterministic CBOR, so whatever they
//! accept is the one encoding of what they return: rebuilding the COSE_Sign1 from its parts,
//! and re-encoding the claims, give back the input bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trustmark_format::{cose, mark, FormatError, MarkClaims};

fuzz_target!(|data: &[u8]| {
    if let Ok(sign1) = mark::parse(data) {
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
        assert!(!sign1.kid().is_empty());
        // The Sig_structure is built from the received bytes, so it contains them.
        let tbs = sign1.to_be_signed();
        assert!(tbs.ends_with(sign1.payload()));
        claims_round_trip(sign1.payload());
    }
    claims_round_trip(data);
});

fn claims_round_trip(payload: &[u8]) {
    if let Ok(claims) = MarkClaims::from_cbor(payload) {
        assert_eq!(
            claims.to_cbor().as_deref(),
            Ok(payload),
            "claims do not round-trip: {claims:?}"
        );
    }
}
