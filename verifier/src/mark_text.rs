//! Reading a mark from a text a person or a scanner gives: a mark URL, token digits, or a
//! base64url token (`spec/token.md` section 9.6). `trustmark-verify` reads its INPUT and the text
//! of a `--qr` image this way, and the issuer service its `POST /v1/verify`.
//!
//! The kinds are tried in a fixed order and the first that fits decides: a text recognised as a
//! URL, digits or base64url is decoded as that kind only, never re-read as another, so that a
//! failure names what is wrong with the text (`invalid_text_length`, `invalid_character`, ...).
//! INPUT that names an existing file is read between the digits and the base64url rules
//! (`token_from_input` in the binary): digits and URLs are never file names, while a word such
//! as `mark` is both a file name and base64url.

use alloc::string::String;
use alloc::vec::Vec;

use base64::{DecodeError, Engine};
use trustmark_format::{qr_text, FormatError};

/// The most bytes of text, or of a file, read as a mark: the scanned-text limit of
/// `qr_text::parse_scanned`, well above the largest mark (1024 COSE bytes, 1366 base64url
/// characters, 2,500 digits plus the URL).
pub const MAX_LEN: usize = qr_text::MAX_SCANNED_LEN;

/// The first byte of every mark: CBOR tag 18 (COSE_Sign1).
const COSE_SIGN1_TAG: u8 = 0xd2;

/// The kinds of mark text, in the order they are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A mark URL as a scanner returns it: contains `://`, or starts with `/V/` (any case).
    Url,
    /// Token text (`qr_text`): ASCII digits only.
    Digits,
    /// A base64url token without padding (`A`-`Z`, `a`-`z`, `0`-`9`, `-`, `_` only), as
    /// `trustmark-issuer issue` prints it.
    Base64url,
}

/// The kind of `text`, surrounding white space ignored; `None` if it is none of them (an empty
/// text is none).
pub fn kind(text: &str) -> Option<Kind> {
    let text = text.trim();
    let path_only_url = text.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("/v/"));
    if text.contains("://") || path_only_url {
        Some(Kind::Url)
    } else if text.is_empty() {
        None
    } else if text.bytes().all(|c| c.is_ascii_digit()) {
        Some(Kind::Digits)
    } else if text
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    {
        Some(Kind::Base64url)
    } else {
        None
    }
}

/// The token bytes of a mark text: a URL or digits decoded by `qr_text::parse_scanned`, a
/// base64url token decoded; `unrecognised_input` for a text of no kind.
pub fn token_from_text(text: &str) -> Result<Vec<u8>, FormatError> {
    if text.len() > MAX_LEN {
        return Err(FormatError::TooLarge {
            len: text.len(),
            max: MAX_LEN,
        });
    }
    match kind(text) {
        Some(Kind::Url | Kind::Digits) => qr_text::parse_scanned(text),
        Some(Kind::Base64url) => decode_base64url(text.trim()),
        None => Err(FormatError::UnrecognisedInput),
    }
}

/// The token bytes of a mark file's contents (at most [`MAX_LEN`] bytes): COSE bytes as they
/// are, else UTF-8 text read by [`token_from_text`].
pub fn token_from_file(bytes: Vec<u8>) -> Result<Vec<u8>, FormatError> {
    if bytes.first() == Some(&COSE_SIGN1_TAG) {
        return Ok(bytes);
    }
    match String::from_utf8(bytes) {
        Ok(text) => token_from_text(&text),
        Err(_) => Err(FormatError::UnrecognisedInput),
    }
}

/// Decodes unpadded, canonical base64url (RFC 4648 section 5). Its failures take the token-text
/// codes: a length no byte string encodes to, or a character that cannot stand where it is (a
/// last character with unused bits set).
fn decode_base64url(text: &str) -> Result<Vec<u8>, FormatError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|e| match e {
            DecodeError::InvalidByte(position, _) | DecodeError::InvalidLastSymbol(position, _) => {
                FormatError::InvalidCharacter { position }
            }
            // `InvalidPadding` needs a `=`, which `kind` does not let through.
            DecodeError::InvalidLength(_) | DecodeError::InvalidPadding => {
                FormatError::InvalidTextLength { len: text.len() }
            }
        })
}

#[cfg(test)]
mod tests {
    use alloc::{format, vec};

    use super::*;

    /// `[0xd2, 0x84, 0x43]` in each text form.
    const BYTES: [u8; 3] = [0xd2, 0x84, 0x43];
    const DIGITS: &str = "13796419";
    const BASE64URL: &str = "0oRD";

    #[test]
    fn kinds_in_order() {
        let cases = [
            ("HTTPS://VERIFY.EXAMPLE.ORG/V/13796419", Some(Kind::Url)),
            ("http://x/v/123", Some(Kind::Url)),
            ("mailto://anything at all", Some(Kind::Url)),
            ("/V/13796419", Some(Kind::Url)),
            ("/v/abc", Some(Kind::Url)),
            (" 13796419\n", Some(Kind::Digits)),
            ("1234", Some(Kind::Digits)),
            ("0oRD", Some(Kind::Base64url)),
            ("mark-file_name", Some(Kind::Base64url)),
            ("mark.cbor", None),
            ("verify.example.org/V/123", None),
            ("0oRD==", None),
            ("not a mark", None),
            ("", None),
            (" \n", None),
        ];
        for (text, expected) in cases {
            assert_eq!(kind(text), expected, "{text:?}");
        }
    }

    #[test]
    fn each_kind_decodes() {
        for text in [
            format!("HTTPS://VERIFY.EXAMPLE.ORG/V/{DIGITS}"),
            format!("/v/{DIGITS}?src=qr"),
            format!("{DIGITS}\n"),
            format!(" {BASE64URL} "),
        ] {
            assert_eq!(token_from_text(&text), Ok(BYTES.to_vec()), "{text:?}");
        }
    }

    /// Once a kind is recognised its decoder's error is the answer: no second reading.
    #[test]
    fn no_fall_through() {
        let cases = [
            // Digits of a length no byte string has (before, re-read as base64url).
            ("1234", FormatError::InvalidTextLength { len: 4 }),
            ("HTTP://X/V/1234", FormatError::InvalidTextLength { len: 4 }),
            (
                "https://x/v/12a",
                FormatError::InvalidCharacter { position: 2 },
            ),
            (
                "https://x/v/999",
                FormatError::DigitGroupOverflow { position: 0 },
            ),
            ("https://x/w/123", FormatError::NotAMarkUrl),
            ("/V/", FormatError::NotAMarkUrl),
            // Base64url: 5 characters (5 mod 4 = 1), and a last character with unused bits set.
            ("0oRDa", FormatError::InvalidTextLength { len: 5 }),
            ("0oR", FormatError::InvalidCharacter { position: 2 }),
            ("not a mark", FormatError::UnrecognisedInput),
            ("", FormatError::UnrecognisedInput),
        ];
        for (text, expected) in cases {
            assert_eq!(token_from_text(text), Err(expected), "{text:?}");
        }
    }

    #[test]
    fn too_long_texts_are_too_large() {
        let text = "1".repeat(MAX_LEN + 1);
        assert_eq!(
            token_from_text(&text),
            Err(FormatError::TooLarge {
                len: MAX_LEN + 1,
                max: MAX_LEN
            })
        );
    }

    #[test]
    fn files_hold_cose_or_text() {
        assert_eq!(token_from_file(BYTES.to_vec()), Ok(BYTES.to_vec()));
        let url = format!("HTTPS://VERIFY.EXAMPLE.ORG/V/{DIGITS}\n");
        assert_eq!(token_from_file(url.into_bytes()), Ok(BYTES.to_vec()));
        assert_eq!(
            token_from_file(format!("{BASE64URL}\n").into_bytes()),
            Ok(BYTES.to_vec())
        );
        assert_eq!(
            token_from_file(b"1234\n".to_vec()),
            Err(FormatError::InvalidTextLength { len: 4 })
        );
        // Neither COSE nor UTF-8, and a file name inside a file (files are not followed).
        assert_eq!(
            token_from_file(vec![0xff, 0xfe]),
            Err(FormatError::UnrecognisedInput)
        );
        assert_eq!(
            token_from_file(b"other.cbor".to_vec()),
            Err(FormatError::UnrecognisedInput)
        );
    }
}
