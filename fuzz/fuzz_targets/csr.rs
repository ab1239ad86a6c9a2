//! Certificate signing requests: `SigningRequest::from_pem` on fuzzed input, as the operator's
//! `trustmark-scheme accredit` reads request files it did not make. Input starting with `-----`
//! is taken as PEM text; anything else as DER, wrapped in a `CERTIFICATE REQUEST` block, so that
//! mutations reach the ASN.1 and the signature check rather than the base64.
//!
//! Properties: nothing panics; a request that passes has a key of the profile, the kid derived
//! from that key, and a non-empty common name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trustmark_keys::{kid_for, SigningRequest};

fuzz_target!(|data: &[u8]| {
    let text = if data.starts_with(b"-----") {
        match std::str::from_utf8(data) {
            Ok(text) => text.to_owned(),
            Err(_) => return,
        }
    } else {
        pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", data.to_vec()))
    };
    if let Ok(request) = SigningRequest::from_pem(&text) {
        assert_eq!(request.kid, kid_for(request.alg, &request.public_key));
        assert!(!request.common_name.trim().is_empty());
        assert!(matches!(request.public_key.len(), 32 | 65));
    }
});
