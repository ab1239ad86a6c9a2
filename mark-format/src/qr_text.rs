//! The token text carried in a QR code URL: decimal digits, seven bytes per 17-digit group.
//!
//! Why digits: a QR code packs digits in numeric mode at 10 bits per 3 digits (3.33 bits per
//! digit), so 7 bytes (56 bits) cost 17 digits = 56.7 bits, 1.2% over the raw bits. Base45 in
//! alphanumeric mode costs 5.5 bits per character and 1.03 times the raw bits, and its space,
//! `%` and `+` are not safe in a URL path; base64url needs byte mode (8 bits per character, 1.33
//! times the raw bits). Digits also survive every case change and URL normalisation a scanner or
//! browser applies. The URL prefix (`HTTPS://HOST/V/`) is upper case, so that it too fits the
//! QR alphanumeric mode; the QR encoder switches modes between prefix and token text.
//!
//! Encoding: the token is split into 7-byte chunks (the last may be shorter); each chunk, read
//! as a big-endian unsigned integer, is written as a zero-padded decimal number of the width
//! [`DIGITS_FOR_BYTES`] gives for its length (17 digits for 7 bytes). Decoding rejects widths
//! that no chunk length produces and groups whose value does not fit their byte count, so every
//! byte string has exactly one text.

use alloc::{string::String, vec::Vec};
use core::fmt::Write;

use crate::FormatError;

/// Bytes per full chunk.
const CHUNK: usize = 7;
/// Digits needed for a chunk of `n` bytes: the least `d` with `10^d >= 256^n`.
pub const DIGITS_FOR_BYTES: [usize; CHUNK + 1] = [0, 3, 5, 8, 10, 13, 15, 17];
/// Path segment between the base URL and the token text.
pub const URL_PATH: &str = "/V/";
/// The default base URL: upper case so the QR encoder can use alphanumeric mode.
pub const DEFAULT_BASE_URL: &str = "HTTPS://VERIFY.EXAMPLE.ORG";
/// Longest scanned text accepted (a maximal mark is 1024 bytes, about 2,500 digits, plus URL).
pub const MAX_SCANNED_LEN: usize = 4096;

/// Encodes token bytes as digit text.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() / CHUNK * 17 + 17);
    for chunk in bytes.chunks(CHUNK) {
        let value = chunk.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let width = DIGITS_FOR_BYTES[chunk.len()];
        // Writing to a String cannot fail.
        let _ = write!(out, "{value:0width$}");
    }
    out
}

/// Decodes digit text back to token bytes.
pub fn decode(text: &str) -> Result<Vec<u8>, FormatError> {
    let digits = text.as_bytes();
    if let Some(position) = digits.iter().position(|c| !c.is_ascii_digit()) {
        return Err(FormatError::InvalidCharacter { position });
    }
    let tail_digits = digits.len() % 17;
    let tail_bytes = DIGITS_FOR_BYTES
        .iter()
        .position(|d| *d == tail_digits)
        .ok_or(FormatError::InvalidTextLength { len: digits.len() })?;
    let mut out = Vec::with_capacity(digits.len() / 17 * CHUNK + tail_bytes);
    let mut position = 0;
    while position < digits.len() {
        let (width, bytes) = if digits.len() - position >= 17 {
            (17, CHUNK)
        } else {
            (tail_digits, tail_bytes)
        };
        let value = digits[position..position + width]
            .iter()
            .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
        // 17 digits can exceed 2^56 (and 10^17 < 2^64, so `value` did not overflow).
        if bytes < 8 && value >> (8 * bytes) != 0 {
            return Err(FormatError::DigitGroupOverflow { position });
        }
        out.extend_from_slice(&value.to_be_bytes()[8 - bytes..]);
        position += width;
    }
    Ok(out)
}

/// The URL to print in a QR code: `base` (without trailing `/`), `/V/`, then the token text.
pub fn mark_url(base: &str, token: &[u8]) -> String {
    let mut url = String::from(base.trim_end_matches('/'));
    url.push_str(URL_PATH);
    url.push_str(&encode(token));
    url
}

/// Extracts the token from what a scanner or a person returns: a mark URL in any letter case,
/// possibly percent-encoded, with a query or fragment appended, or the bare token text.
/// Surrounding white space is ignored.
pub fn parse_scanned(scanned: &str) -> Result<Vec<u8>, FormatError> {
    if scanned.len() > MAX_SCANNED_LEN {
        return Err(FormatError::TooLarge {
            len: scanned.len(),
            max: MAX_SCANNED_LEN,
        });
    }
    let text = scanned.trim();
    if text.is_empty() {
        return Err(FormatError::NotAMarkUrl);
    }
    let token_text = if text.contains('/') {
        token_segment(text)?
    } else {
        text
    };
    let decoded = percent_decode(token_text)?;
    decode(&decoded)
}

/// The path segment after the last `/V/` (any case) of a URL, without query or fragment.
fn token_segment(url: &str) -> Result<&str, FormatError> {
    let without_fragment = url.split('#').next().unwrap_or_default();
    let without_query = without_fragment.split('?').next().unwrap_or_default();
    let path = without_query.trim_end_matches('/');
    let (before, segment) = path.rsplit_once('/').ok_or(FormatError::NotAMarkUrl)?;
    let marker = before.rsplit('/').next().unwrap_or_default();
    if !marker.eq_ignore_ascii_case("v") || segment.is_empty() {
        return Err(FormatError::NotAMarkUrl);
    }
    Ok(segment)
}

/// Percent-decodes the token text. The token text is digits only, so a `%` escape must stand for
/// a digit; anything else cannot be a mark.
fn percent_decode(text: &str) -> Result<String, FormatError> {
    if !text.contains('%') {
        return Ok(String::from(text));
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices();
    while let Some((position, c)) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let high = chars.next().and_then(|(_, h)| h.to_digit(16));
        let low = chars.next().and_then(|(_, l)| l.to_digit(16));
        match (high, low) {
            (Some(h), Some(l)) if (0x30..=0x39).contains(&(h * 16 + l)) => {
                out.push(char::from(b'0' + (h * 16 + l - 0x30) as u8));
            }
            _ => return Err(FormatError::InvalidCharacter { position }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    #[test]
    fn digit_widths_are_minimal() {
        for (bytes, digits) in DIGITS_FOR_BYTES.iter().enumerate().skip(1) {
            let max = 256f64.powi(bytes as i32);
            assert!(10f64.powi(*digits as i32) >= max);
            assert!(10f64.powi(*digits as i32 - 1) < max);
        }
    }

    #[test]
    fn known_encodings() {
        assert_eq!(encode(&[]), "");
        assert_eq!(encode(&[0]), "000");
        assert_eq!(encode(&[0xff]), "255");
        assert_eq!(encode(&[0xff; 7]), "72057594037927935");
        assert_eq!(encode(&[0, 0, 0, 0, 0, 0, 0, 1]), "00000000000000000001");
    }

    #[test]
    fn rejects_bad_text() {
        assert_eq!(
            decode("12a"),
            Err(FormatError::InvalidCharacter { position: 2 })
        );
        assert_eq!(
            decode("1234"),
            Err(FormatError::InvalidTextLength { len: 4 })
        );
        assert_eq!(
            decode("256"),
            Err(FormatError::DigitGroupOverflow { position: 0 })
        );
        assert_eq!(
            decode("72057594037927936"),
            Err(FormatError::DigitGroupOverflow { position: 0 })
        );
        assert_eq!(
            decode("99999999999999999"),
            Err(FormatError::DigitGroupOverflow { position: 0 })
        );
    }

    #[test]
    fn scanner_variants_decode() {
        let token = vec![0xd2, 0x84, 0x43, 0xa1, 0x01, 0x27, 0xa0, 0x58];
        let url = mark_url(DEFAULT_BASE_URL, &token);
        let text = encode(&token);
        let variants = [
            url.clone(),
            url.to_lowercase(),
            alloc::format!("  {url}\n"),
            alloc::format!("{url}?src=qr#top"),
            alloc::format!(
                "https://verify.example.org/v/%3{}{}",
                &text[..1],
                &text[1..]
            ),
            alloc::format!("https://verify.example.org/prefix/V/{text}/"),
            text.clone(),
        ];
        for variant in variants {
            assert_eq!(parse_scanned(&variant), Ok(token.clone()), "{variant}");
        }
        assert_eq!(
            parse_scanned("https://verify.example.org/x/123"),
            Err(FormatError::NotAMarkUrl)
        );
        assert_eq!(
            parse_scanned("https://verify.example.org/v/%41"),
            Err(FormatError::InvalidCharacter { position: 0 })
        );
    }

    proptest! {
        #[test]
        fn round_trip(bytes in proptest::collection::vec(any::<u8>(), 1..600)) {
            let text = encode(&bytes);
            prop_assert!(text.bytes().all(|c| c.is_ascii_digit()));
            prop_assert_eq!(decode(&text), Ok(bytes.clone()));
            prop_assert_eq!(parse_scanned(&mark_url("https://a.example", &bytes)), Ok(bytes));
        }

        #[test]
        fn decode_never_panics(text in "[0-9a%/:.V]{0,80}") {
            let _ = parse_scanned(&text);
        }
    }
}
