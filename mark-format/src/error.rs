//! The one error type of this crate.

use core::fmt;

/// Why bytes or text could not be decoded (or values could not be encoded) as a trust-mark
/// format.
///
/// Every variant is returned for attacker-controlled input; none of them is a bug in the caller.
/// Offsets are byte offsets into the input that was being decoded (for nested CBOR, into the
/// nested byte string).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatError {
    /// The input is larger than the format allows.
    TooLarge {
        /// Length of the input.
        len: usize,
        /// The limit for this kind of input.
        max: usize,
    },
    /// The input ended in the middle of a CBOR item.
    Truncated {
        /// Where the unfinished item starts.
        offset: usize,
    },
    /// There are bytes after the single CBOR item that the input must consist of.
    TrailingBytes {
        /// Offset of the first extra byte.
        offset: usize,
    },
    /// A CBOR item uses an indefinite length, which deterministic encoding forbids.
    IndefiniteLength {
        /// Offset of the item.
        offset: usize,
    },
    /// A CBOR integer, length or tag is not in its shortest form.
    NonMinimalEncoding {
        /// Offset of the item.
        offset: usize,
    },
    /// A CBOR map has the same key twice.
    DuplicateMapKey {
        /// Offset of the second occurrence.
        offset: usize,
    },
    /// CBOR map keys are not in the bytewise order that deterministic encoding requires.
    UnsortedMapKeys {
        /// Offset of the key that is out of order.
        offset: usize,
    },
    /// CBOR nesting is deeper than the format allows.
    NestingTooDeep {
        /// Offset of the item that went too deep.
        offset: usize,
    },
    /// A CBOR major type or simple value that the format never uses (floats, undefined, ...).
    UnsupportedCborItem {
        /// Offset of the item.
        offset: usize,
    },
    /// A CBOR text string is not valid UTF-8.
    InvalidUtf8 {
        /// Offset of the string.
        offset: usize,
    },
    /// The outer CBOR tag is missing or is not the expected one.
    WrongTag {
        /// The tag found (`None` when the item is untagged).
        found: Option<u64>,
        /// The tag required.
        expected: u64,
    },
    /// The CBOR structure is not the expected shape (for example not a 4-element COSE_Sign1
    /// array).
    Structure {
        /// What was expected, in words.
        expected: &'static str,
    },
    /// The unprotected header is not empty (the profile puts nothing there; an algorithm there
    /// could be changed without breaking the signature).
    UnprotectedHeaderNotEmpty,
    /// The protected header carries a parameter the profile does not allow (marks and trust
    /// lists: only `alg` and `kid`; status list tokens: `alg`, `kid` and `typ`).
    UnexpectedHeaderParameter {
        /// The header label (text labels are reported as `i64::MIN`).
        label: i64,
    },
    /// The protected header has no `alg`.
    MissingAlgorithm,
    /// The protected header has no `kid`, or an empty one.
    MissingKid,
    /// The algorithm is not one the profile allows (EdDSA and ES256).
    UnsupportedAlgorithm {
        /// The COSE algorithm value found.
        alg: i64,
    },
    /// A claim key that this format version does not define.
    UnknownClaim {
        /// The claim key.
        key: i64,
    },
    /// A required claim is absent.
    MissingClaim {
        /// The claim's name.
        name: &'static str,
    },
    /// A claim has the wrong CBOR type.
    ClaimType {
        /// The claim's name.
        name: &'static str,
        /// The type it must have.
        expected: &'static str,
    },
    /// A claim value is outside what the format allows.
    ClaimValue {
        /// The claim's name.
        name: &'static str,
        /// Why it is not allowed.
        reason: &'static str,
    },
    /// The QR/URL text has a character that the text encoding never produces.
    InvalidCharacter {
        /// Character offset in the token text.
        position: usize,
    },
    /// The QR/URL token text has a length that no byte string encodes to.
    InvalidTextLength {
        /// The text length.
        len: usize,
    },
    /// A digit group of the QR/URL token text is larger than its bytes can hold.
    DigitGroupOverflow {
        /// Character offset of the group.
        position: usize,
    },
    /// The scanned text is not a trust-mark URL or token text.
    NotAMarkUrl,
    /// The input is none of the forms a mark is given in: not a mark URL, token text or
    /// base64url token, nor (as the contents of a file) COSE bytes. The `trustmark-verify` tool
    /// classifies its input this way (`spec/token.md` section 9.6).
    UnrecognisedInput,
    /// A CBOR map in a status list has more entries than that format's checker allows (see
    /// `cbor::MAX_UNORDERED_MAP_ENTRIES`).
    TooManyMapEntries {
        /// Offset of the map.
        offset: usize,
        /// The most entries allowed.
        max: usize,
    },
    /// The protected header of a status list token has no `typ` (label 16).
    MissingTyp,
    /// The protected header's `typ` is not the media type the document must have (for a status
    /// list token, the text `application/statuslist+cwt`).
    WrongTyp,
    /// A status list's `bits` is not 1, 2, 4 or 8.
    StatusListBits {
        /// The value found.
        bits: u64,
    },
    /// A status list map has a key other than `bits` and `lst` (text keys; this profile does
    /// not support the draft's optional `aggregation_uri`).
    UnknownStatusListKey {
        /// Offset of the key in the CBOR being decoded.
        offset: usize,
    },
    /// A status list's `lst` is not a valid zlib (RFC 1950) stream of DEFLATE (RFC 1951) data.
    Decompression {
        /// What is wrong with the stream.
        reason: &'static str,
    },
    /// A status list holds (or would decompress to) more bytes than the budget allows.
    StatusListTooLarge {
        /// The budget, in bytes of the uncompressed list.
        max: usize,
    },
    /// A status index past the end of the status list.
    StatusIndexOutOfRange {
        /// The index asked for.
        index: u64,
        /// The number of entries in the list.
        len: u64,
    },
    /// A status value that does not fit the list's entry size.
    StatusValueOutOfRange {
        /// The value.
        value: u8,
        /// The bits per entry.
        bits: u8,
    },
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { len, max } => {
                write!(f, "input is {len} bytes, more than the {max} allowed")
            }
            Self::Truncated { offset } => {
                write!(f, "input ends inside the CBOR item at offset {offset}")
            }
            Self::TrailingBytes { offset } => write!(
                f,
                "unexpected bytes after the CBOR item, at offset {offset}"
            ),
            Self::IndefiniteLength { offset } => {
                write!(f, "indefinite-length CBOR item at offset {offset}")
            }
            Self::NonMinimalEncoding { offset } => write!(
                f,
                "CBOR item at offset {offset} is not in its shortest form"
            ),
            Self::DuplicateMapKey { offset } => {
                write!(f, "duplicate CBOR map key at offset {offset}")
            }
            Self::UnsortedMapKeys { offset } => write!(
                f,
                "CBOR map key at offset {offset} is out of deterministic order"
            ),
            Self::NestingTooDeep { offset } => {
                write!(f, "CBOR nesting too deep at offset {offset}")
            }
            Self::UnsupportedCborItem { offset } => write!(
                f,
                "unsupported CBOR item (float or simple value) at offset {offset}"
            ),
            Self::InvalidUtf8 { offset } => {
                write!(f, "CBOR text string at offset {offset} is not UTF-8")
            }
            Self::WrongTag {
                found: Some(tag),
                expected,
            } => write!(f, "CBOR tag {tag} where tag {expected} is required"),
            Self::WrongTag {
                found: None,
                expected,
            } => write!(f, "untagged item where CBOR tag {expected} is required"),
            Self::Structure { expected } => write!(f, "malformed structure: expected {expected}"),
            Self::UnprotectedHeaderNotEmpty => write!(f, "the unprotected header must be empty"),
            Self::UnexpectedHeaderParameter { label } => write!(
                f,
                "protected header parameter {label} is not allowed (only alg and kid, and typ in a status list token)"
            ),
            Self::MissingAlgorithm => write!(f, "the protected header has no alg"),
            Self::MissingKid => write!(f, "the protected header has no kid"),
            Self::UnsupportedAlgorithm { alg } => write!(
                f,
                "COSE algorithm {alg} is not allowed (EdDSA -8 and ES256 -7 are)"
            ),
            Self::UnknownClaim { key } => write!(f, "unknown claim key {key}"),
            Self::MissingClaim { name } => write!(f, "required claim {name} is missing"),
            Self::ClaimType { name, expected } => write!(f, "claim {name} must be {expected}"),
            Self::ClaimValue { name, reason } => write!(f, "claim {name}: {reason}"),
            Self::InvalidCharacter { position } => write!(
                f,
                "invalid character at position {position} of the token text"
            ),
            Self::InvalidTextLength { len } => {
                write!(f, "token text length {len} is not a valid encoding")
            }
            Self::DigitGroupOverflow { position } => {
                write!(f, "digit group at position {position} is out of range")
            }
            Self::NotAMarkUrl => write!(f, "not a trust-mark URL or token text"),
            Self::UnrecognisedInput => write!(
                f,
                "not a mark URL, token text, base64url token or COSE bytes"
            ),
            Self::TooManyMapEntries { offset, max } => write!(
                f,
                "CBOR map at offset {offset} has more than the {max} entries allowed"
            ),
            Self::MissingTyp => write!(f, "the protected header has no typ"),
            Self::WrongTyp => write!(f, "the protected header's typ is not the required type"),
            Self::StatusListBits { bits } => write!(
                f,
                "status list bits is {bits}; it must be 1, 2, 4 or 8"
            ),
            Self::UnknownStatusListKey { offset } => write!(
                f,
                "unknown status list key at offset {offset} (only bits and lst are allowed)"
            ),
            Self::Decompression { reason } => {
                write!(f, "status list lst is not a valid zlib stream: {reason}")
            }
            Self::StatusListTooLarge { max } => write!(
                f,
                "status list is larger than the {max}-byte budget"
            ),
            Self::StatusIndexOutOfRange { index, len } => write!(
                f,
                "status index {index} is out of range (the list has {len} entries)"
            ),
            Self::StatusValueOutOfRange { value, bits } => write!(
                f,
                "status value {value} does not fit in {bits} bits"
            ),
        }
    }
}

impl core::error::Error for FormatError {}

impl FormatError {
    /// A stable, machine-readable name for the error kind (used in JSON output and in the test
    /// vectors' expected errors).
    pub const fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "too_large",
            Self::Truncated { .. } => "truncated",
            Self::TrailingBytes { .. } => "trailing_bytes",
            Self::IndefiniteLength { .. } => "indefinite_length",
            Self::NonMinimalEncoding { .. } => "non_minimal_encoding",
            Self::DuplicateMapKey { .. } => "duplicate_map_key",
            Self::UnsortedMapKeys { .. } => "unsorted_map_keys",
            Self::NestingTooDeep { .. } => "nesting_too_deep",
            Self::UnsupportedCborItem { .. } => "unsupported_cbor_item",
            Self::InvalidUtf8 { .. } => "invalid_utf8",
            Self::WrongTag { .. } => "wrong_tag",
            Self::Structure { .. } => "structure",
            Self::UnprotectedHeaderNotEmpty => "unprotected_header_not_empty",
            Self::UnexpectedHeaderParameter { .. } => "unexpected_header_parameter",
            Self::MissingAlgorithm => "missing_algorithm",
            Self::MissingKid => "missing_kid",
            Self::UnsupportedAlgorithm { .. } => "unsupported_algorithm",
            Self::UnknownClaim { .. } => "unknown_claim",
            Self::MissingClaim { .. } => "missing_claim",
            Self::ClaimType { .. } => "claim_type",
            Self::ClaimValue { .. } => "claim_value",
            Self::InvalidCharacter { .. } => "invalid_character",
            Self::InvalidTextLength { .. } => "invalid_text_length",
            Self::DigitGroupOverflow { .. } => "digit_group_overflow",
            Self::NotAMarkUrl => "not_a_mark_url",
            Self::UnrecognisedInput => "unrecognised_input",
            Self::TooManyMapEntries { .. } => "too_many_map_entries",
            Self::MissingTyp => "missing_typ",
            Self::WrongTyp => "wrong_typ",
            Self::StatusListBits { .. } => "status_list_bits",
            Self::UnknownStatusListKey { .. } => "unknown_status_list_key",
            Self::Decompression { .. } => "decompression",
            Self::StatusListTooLarge { .. } => "status_list_too_large",
            Self::StatusIndexOutOfRange { .. } => "status_index_out_of_range",
            Self::StatusValueOutOfRange { .. } => "status_value_out_of_range",
        }
    }
}
