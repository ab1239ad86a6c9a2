//! The QR text codec: `qr_text::parse_scanned` (and `decode`) on the input as text, and
//! `encode` / `mark_url` on the input as token bytes.
//!
//! Properties: nothing panics; `decode(encode(bytes)) == bytes` and a mark URL scans back to
//! its bytes, in upper and lower case; the text of a byte string is unique, so whatever
//! `decode` accepts is exactly `encode` of what it returns.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trustmark_format::qr_text::{self, DEFAULT_BASE_URL, MAX_SCANNED_LEN};

fuzz_target!(|data: &[u8]| {
    // The input as scanned text (any UTF-8; invalid sequences replaced).
    let text = trustmark_fuzz::text(data);
    let scanned = qr_text::parse_scanned(&text);
    if let Ok(bytes) = qr_text::decode(&text) {
        assert_eq!(
            qr_text::encode(&bytes),
            text,
            "two texts for one byte string"
        );
        if text.len() <= MAX_SCANNED_LEN && !text.is_empty() {
            assert_eq!(
                scanned.as_ref(),
                Ok(&bytes),
                "bare token text scans differently"
            );
        }
    }
    if let Ok(bytes) = &scanned {
        // What a scan yields re-encodes to digits that decode to it again.
        assert_eq!(qr_text::decode(&qr_text::encode(bytes)).as_ref(), Ok(bytes));
    }

    // The input as token bytes.
    let encoded = qr_text::encode(data);
    assert!(encoded.bytes().all(|c| c.is_ascii_digit()));
    assert_eq!(
        qr_text::decode(&encoded).as_deref(),
        Ok(data),
        "encode/decode round trip"
    );
    let url = qr_text::mark_url(DEFAULT_BASE_URL, data);
    if !data.is_empty() && url.len() <= MAX_SCANNED_LEN {
        assert_eq!(qr_text::parse_scanned(&url).as_deref(), Ok(data));
        assert_eq!(
            qr_text::parse_scanned(&url.to_lowercase()).as_deref(),
            Ok(data)
        );
    }
});
