//! Per-mark revocation status: the IETF Token Status List (draft-ietf-oauth-status-list), CWT
//! form. See `spec/status-list.md` for the format, the budgets and the measurements.
//!
//! A [`StatusList`] is a packed array of `bits`-bit entries (1, 2, 4 or 8), entry `i` at bit
//! `i * bits` counted from the least significant bit of byte 0 ("LSB first"). Its CBOR form is
//! the map `{"bits": uint, "lst": bstr}` with `lst` the zlib (RFC 1950) compressed bytes. A
//! [`StatusListToken`] signs one list as a CWT in a tagged COSE_Sign1 whose protected header is
//! `{1: alg, 4: kid, 16: "application/statuslist+cwt"}`.
//!
//! Compression is injected ([`StatusList::to_cbor`] takes a closure): the issuer uses zlib level
//! 9, which is what the draft's test vectors were made with. Decompression is built in
//! (`miniz_oxide`, no_std, no allocation beyond the stream's DEFLATE window, at most 32 KiB,
//! and the decompressor's state, about 10 KiB) and always bounded: a budget, in bytes of the uncompressed list, that defaults to
//! [`MAX_LIST_BYTES`]. Reading one entry need not inflate the whole list
//! ([`lookup`], [`CompressedStatusList::get`]): the decompressor streams through the window and
//! stops at the byte that holds the entry.
//!
//! ```
//! use trustmark_format::status_list::{lookup, Status, StatusList};
//! let mut list = StatusList::new(2, 16)?;
//! list.set(5, Status::Suspended.value())?;
//! assert_eq!(list.get(5), Some(2));
//! // Stored compression (no real compressor in a doc test): a zlib stream of one stored block.
//! let cbor = list.to_cbor(|raw| {
//!     let mut z = vec![0x78, 0x01, 0x01, raw.len() as u8, 0, !(raw.len() as u8), 0xff];
//!     z.extend_from_slice(raw);
//!     let (mut a, mut b) = (1u32, 0u32);
//!     for byte in raw { a = (a + u32::from(*byte)) % 65521; b = (b + a) % 65521; }
//!     z.extend_from_slice(&((b << 16) | a).to_be_bytes());
//!     z
//! });
//! assert_eq!(lookup(&cbor, 5)?, 2);
//! assert_eq!(StatusList::from_cbor(&cbor, 1024)?, list);
//! # Ok::<(), trustmark_format::FormatError>(())
//! ```

use alloc::{boxed::Box, string::String, vec, vec::Vec};
use core::ops::ControlFlow;

use miniz_oxide::inflate::core::{decompress, inflate_flags, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;

use crate::cbor::{self, Reader};
use crate::trust_list::MAX_URI_LEN;
use crate::{cose, value, Algorithm, FormatError, ParsedSign1, UnixTime};

/// The `typ` of a status list token (draft-ietf-oauth-status-list, "Status List Token in CWT
/// Format"): the media type `application/statuslist+cwt`.
pub const MEDIA_TYPE: &str = "application/statuslist+cwt";

/// The largest uncompressed status list, in bytes, that this crate writes and, by default,
/// reads: 2^20 entries at 8 bits (or 2^22 at our 2 bits). Decoding takes the budget as an
/// argument, so a constrained verifier can pass less; this is the default.
pub const MAX_LIST_BYTES: usize = 1 << 20;

/// Largest signed status list token accepted. A list of [`MAX_LIST_BYTES`] that does not
/// compress at all is stored by zlib in 65,535-byte blocks with 5 bytes of overhead each
/// (17 blocks: 85 bytes) plus 6 bytes of zlib header and checksum; the claims add at most a
/// [`MAX_URI_LEN`]-byte URI and about 40 bytes of keys and numbers, the COSE structure the
/// protected header (at most 69 bytes with a 32-byte kid, with its head) and the 66-byte
/// signature with its head. 4 KiB covers all of that with room to spare.
pub const MAX_TOKEN_LEN: usize = MAX_LIST_BYTES + 4096;

/// The largest DEFLATE window (RFC 1951 section 2: back-references reach at most 32,768
/// bytes), and so the most decompressor output kept while streaming. A stream is inflated
/// through a window of the size its zlib header declares ([`window_len`]): 32 KiB for zlib's
/// default `windowBits` of 15 (the draft's vectors), 4 KiB for `windowBits` 12.
pub const MAX_INFLATE_WINDOW_LEN: usize = miniz_oxide::inflate::core::TINFL_LZ_DICT_SIZE;

/// The window a zlib stream declares in its header (RFC 1950 section 2.2: `CINFO`, the base-2
/// logarithm of the window size minus 8), from 256 bytes to [`MAX_INFLATE_WINDOW_LEN`]; `None`
/// for a stream too short to have a header or declaring a larger window. Streaming through it
/// costs this many bytes of heap besides the decompressor state.
pub fn window_len(lst: &[u8]) -> Option<usize> {
    let cinfo = lst.first()? >> 4;
    (cinfo <= 7).then(|| 1usize << (cinfo + 8))
}

/// Claim keys of a status list token (draft-ietf-oauth-status-list and RFC 8392).
pub mod keys {
    /// CWT `sub`: the URI the status list is published at.
    pub const SUB: i64 = 2;
    /// CWT `exp`.
    pub const EXP: i64 = 4;
    /// CWT `iat`.
    pub const IAT: i64 = 6;
    /// `status_list` (the StatusList map).
    pub const STATUS_LIST: i64 = 65533;
    /// `ttl`: seconds a relying party may cache the token before fetching a fresh one.
    pub const TTL: i64 = 65534;
}

/// A status value (draft-ietf-oauth-status-list, "Status Types").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// `0x00` VALID: the mark stands.
    Valid,
    /// `0x01` INVALID: the mark is revoked, for good.
    Invalid,
    /// `0x02` SUSPENDED: the mark is invalid for now and may be reinstated.
    Suspended,
    /// `0x03` or `0x0C`..=`0x0F`: the draft leaves these to applications. This profile assigns
    /// none of them, so a verifier treats them as invalid.
    ApplicationSpecific(u8),
    /// Any other value (possible only in 4- and 8-bit lists): not assigned by the draft;
    /// treated as invalid.
    Unassigned(u8),
}

impl Status {
    /// The status of an entry's value.
    pub const fn from_value(value: u8) -> Self {
        match value {
            0 => Self::Valid,
            1 => Self::Invalid,
            2 => Self::Suspended,
            3 | 0x0c..=0x0f => Self::ApplicationSpecific(value),
            _ => Self::Unassigned(value),
        }
    }

    /// The entry value of this status.
    pub const fn value(self) -> u8 {
        match self {
            Self::Valid => 0,
            Self::Invalid => 1,
            Self::Suspended => 2,
            Self::ApplicationSpecific(value) | Self::Unassigned(value) => value,
        }
    }

    /// Short name: `valid`, `invalid`, `suspended`, `application_specific`, `unassigned`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Invalid => "invalid",
            Self::Suspended => "suspended",
            Self::ApplicationSpecific(_) => "application_specific",
            Self::Unassigned(_) => "unassigned",
        }
    }
}

/// `bits` if it is an allowed entry size (1, 2, 4 or 8).
fn check_bits(bits: u64) -> Result<u8, FormatError> {
    match bits {
        1 | 2 | 4 | 8 => Ok(bits as u8),
        _ => Err(FormatError::StatusListBits { bits }),
    }
}

/// The byte holding entry `index` and the entry's shift inside it, for `bits` per entry.
fn locate(index: usize, bits: u8) -> Option<(usize, u32)> {
    let bit = index.checked_mul(usize::from(bits))?;
    Some((bit / 8, (bit % 8) as u32))
}

/// Entry value in `byte` at `shift`, `bits` wide.
fn extract(byte: u8, shift: u32, bits: u8) -> u8 {
    let mask = ((1u16 << bits) - 1) as u8;
    (byte >> shift) & mask
}

/// An uncompressed status list: `bits`-bit entries packed LSB first, zero (valid) by default.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StatusList {
    bits: u8,
    bytes: Vec<u8>,
}

impl StatusList {
    /// A list with room for at least `len` entries of `bits` bits, all valid (0). The byte
    /// array is rounded up to whole bytes, so [`Self::len`] may exceed `len` by up to
    /// `8 / bits - 1` (the draft pads with zeros the same way).
    pub fn new(bits: u8, len: usize) -> Result<Self, FormatError> {
        let bits = check_bits(u64::from(bits))?;
        let too_large = FormatError::StatusListTooLarge {
            max: MAX_LIST_BYTES,
        };
        let byte_len = len
            .checked_mul(usize::from(bits))
            .map(|b| b.div_ceil(8))
            .filter(|n| *n <= MAX_LIST_BYTES)
            .ok_or(too_large)?;
        Ok(Self {
            bits,
            bytes: vec![0; byte_len],
        })
    }

    /// A list over already packed bytes (at most [`MAX_LIST_BYTES`]).
    pub fn from_bytes(bits: u8, bytes: Vec<u8>) -> Result<Self, FormatError> {
        let bits = check_bits(u64::from(bits))?;
        if bytes.len() > MAX_LIST_BYTES {
            return Err(FormatError::StatusListTooLarge {
                max: MAX_LIST_BYTES,
            });
        }
        Ok(Self { bits, bytes })
    }

    /// Bits per entry.
    pub fn bits(&self) -> u8 {
        self.bits
    }

    /// The packed bytes (what `lst` compresses).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Number of entries: every whole entry the bytes hold.
    pub fn len(&self) -> usize {
        self.bytes.len() * 8 / usize::from(self.bits)
    }

    /// Whether the list has no entries.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The value of entry `index`, or `None` past the end.
    pub fn get(&self, index: usize) -> Option<u8> {
        let (byte, shift) = locate(index, self.bits)?;
        Some(extract(*self.bytes.get(byte)?, shift, self.bits))
    }

    /// Sets entry `index` to `value`, which must fit in `bits` bits.
    pub fn set(&mut self, index: usize, value: u8) -> Result<(), FormatError> {
        let bits = self.bits;
        if u16::from(value) >= 1u16 << bits {
            return Err(FormatError::StatusValueOutOfRange { value, bits });
        }
        let len = self.len() as u64;
        let out_of_range = FormatError::StatusIndexOutOfRange {
            index: index as u64,
            len,
        };
        let (byte, shift) = locate(index, bits).ok_or(out_of_range.clone())?;
        let slot = self.bytes.get_mut(byte).ok_or(out_of_range)?;
        let mask = (((1u16 << bits) - 1) as u8) << shift;
        *slot = (*slot & !mask) | (value << shift);
        Ok(())
    }

    /// The CBOR StatusList `{"bits": bits, "lst": compress(bytes)}`.
    ///
    /// The keys are written `"bits"` first, as in the draft's test vectors, which is not RFC
    /// 8949 bytewise order (`"lst"`, `0x63...`, would come first): the vectors are what other
    /// implementations compare against. `compress` must return a zlib stream (RFC 1950);
    /// the draft's vectors were made with zlib at level 9.
    pub fn to_cbor(&self, compress: impl FnOnce(&[u8]) -> Vec<u8>) -> Vec<u8> {
        let lst = compress(&self.bytes);
        let mut out = Vec::with_capacity(lst.len() + 16);
        write_status_list(&mut out, self.bits, &lst);
        out
    }

    /// Decodes a CBOR StatusList and inflates it, refusing more than `max_bytes` of
    /// uncompressed list.
    pub fn from_cbor(bytes: &[u8], max_bytes: usize) -> Result<Self, FormatError> {
        let (bits, lst) = parse_status_list_document(bytes)?;
        inflate_all(bits, lst, max_bytes)
    }
}

/// Writes `{"bits": bits, "lst": lst}` in the draft's key order.
fn write_status_list(out: &mut Vec<u8>, bits: u8, lst: &[u8]) {
    cbor::write_head(out, 5, 2);
    cbor::write_head(out, 3, 4);
    out.extend_from_slice(b"bits");
    cbor::write_head(out, 0, u64::from(bits));
    cbor::write_head(out, 3, 3);
    out.extend_from_slice(b"lst");
    cbor::write_head(out, 2, lst.len() as u64);
    out.extend_from_slice(lst);
}

/// Checks a standalone CBOR StatusList and reads its fields.
fn parse_status_list_document(bytes: &[u8]) -> Result<(u8, &[u8]), FormatError> {
    cbor::check_unique_keys(bytes)?;
    read_status_list(&mut Reader::new(bytes))
}

/// Reads the StatusList map at the reader (checked by [`cbor::check_unique_keys`], so keys
/// are distinct; they may come in either order).
fn read_status_list<'a>(r: &mut Reader<'a>) -> Result<(u8, &'a [u8]), FormatError> {
    let entries = r.map().ok_or(FormatError::ClaimType {
        name: "status_list",
        expected: "a map",
    })?;
    let mut bits = None;
    let mut lst = None;
    for _ in 0..entries {
        let offset = r.position();
        match r.text() {
            Some("bits") => bits = Some(check_bits(value::uint("bits", r)?)?),
            Some("lst") => lst = Some(value::bytes("lst", r)?),
            Some(_) => return Err(FormatError::UnknownStatusListKey { offset }),
            None => {
                return Err(FormatError::ClaimType {
                    name: "status_list",
                    expected: "a map with text keys",
                })
            }
        }
    }
    Ok((value::required("bits", bits)?, value::required("lst", lst)?))
}

/// How a streaming inflate ended.
enum Inflated {
    /// The stream ended (checksum checked, nothing after it), with this many bytes of output.
    Complete(usize),
    /// The sink had what it needed; the rest of the stream was not read.
    Stopped,
}

/// Checks the two-byte zlib header (RFC 1950 section 2.2) for a specific error (the
/// decompressor checks it too, but only says "failed") and returns the window it declares.
fn check_zlib_header(lst: &[u8]) -> Result<usize, FormatError> {
    let [cmf, flg, ..] = *lst else {
        return Err(FormatError::Decompression {
            reason: "truncated zlib stream",
        });
    };
    let window = window_len(lst).filter(|_| cmf & 0x0f == 8);
    let Some(window) = window.filter(|_| (u16::from(cmf) * 256 + u16::from(flg)) % 31 == 0) else {
        return Err(FormatError::Decompression {
            reason: "bad zlib header (RFC 1950 section 2.2)",
        });
    };
    if flg & 0x20 != 0 {
        return Err(FormatError::Decompression {
            reason: "zlib preset dictionaries are not allowed",
        });
    }
    Ok(window)
}

/// Inflates the zlib stream `lst` through a window of the size its header declares, handing
/// each piece of output to `sink` with its offset in the uncompressed list, until the stream
/// ends or the sink breaks. More than `max_bytes` of output is an error.
///
/// Heap: the window and the boxed decompressor state, whatever the list's size; nothing else.
///
/// The window is written as a ring (miniz_oxide's "wrapping" mode), which on its own would
/// let a back-reference that reaches before the start of the output read the window's initial
/// zeros where zlib refuses the stream ("invalid distance too far back"). So until the window
/// has been filled once the decompressor runs in its non-wrapping mode, which checks that;
/// after that every distance up to the window size is real history, and longer ones fail.
/// The window is the one the header declares, as RFC 1950 reads it: a stream whose
/// back-references reach past its declared window is refused (zlib accepts one unless built
/// with `INFLATE_STRICT`; no conforming encoder writes one).
fn inflate_with(
    lst: &[u8],
    max_bytes: usize,
    mut sink: impl FnMut(usize, &[u8]) -> ControlFlow<()>,
) -> Result<Inflated, FormatError> {
    let window_len = check_zlib_header(lst)?;
    let mut state = Box::<DecompressorOxide>::default();
    let mut window = vec![0u8; window_len];
    let mut input = lst;
    // Where the decompressor writes next in the window, and the output so far.
    let mut at = 0usize;
    let mut total = 0usize;
    loop {
        let first_fill = if total < window_len {
            inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF
        } else {
            0
        };
        let (status, consumed, written) = decompress(
            &mut state,
            input,
            &mut window,
            at,
            inflate_flags::TINFL_FLAG_PARSE_ZLIB_HEADER | first_fill,
        );
        let failure = |reason| Err(FormatError::Decompression { reason });
        match status {
            TINFLStatus::Done | TINFLStatus::HasMoreOutput => {}
            TINFLStatus::FailedCannotMakeProgress | TINFLStatus::NeedsMoreInput => {
                return failure("truncated zlib stream")
            }
            TINFLStatus::Adler32Mismatch => return failure("Adler-32 checksum mismatch"),
            _ => return failure("invalid DEFLATE data"),
        }
        input = input.get(consumed..).unwrap_or_default();
        // The decompressor writes one contiguous run from `at` and stops at the window's end.
        // The sink sees no byte past the budget (`total <= max_bytes` holds throughout).
        let allowed = written.min(max_bytes - total);
        let Some(chunk) = window.get(at..at + allowed) else {
            return failure("decompressor output outside its window");
        };
        if sink(total, chunk).is_break() {
            return Ok(Inflated::Stopped);
        }
        if written > allowed {
            return Err(FormatError::StatusListTooLarge { max: max_bytes });
        }
        total += written;
        at = (at + written) % window_len;
        if status == TINFLStatus::Done {
            return if input.is_empty() {
                Ok(Inflated::Complete(total))
            } else {
                failure("bytes after the end of the zlib stream")
            };
        }
        if written == 0 && consumed == 0 {
            // HasMoreOutput with no progress cannot happen with a window of free space; refuse
            // rather than loop.
            return failure("the decompressor made no progress");
        }
    }
}

/// Inflates the whole list (at most `max_bytes`).
fn inflate_all(bits: u8, lst: &[u8], max_bytes: usize) -> Result<StatusList, FormatError> {
    let mut bytes = Vec::new();
    inflate_with(lst, max_bytes, |_, chunk| {
        bytes.extend_from_slice(chunk);
        ControlFlow::Continue(())
    })?;
    Ok(StatusList { bits, bytes })
}

/// Reads entry `index` by inflating only up to the byte that holds it.
fn inflate_get(bits: u8, lst: &[u8], index: usize, max_bytes: usize) -> Result<u8, FormatError> {
    let mut found = None;
    let outcome = match locate(index, bits) {
        Some((byte, shift)) => inflate_with(lst, max_bytes, |offset, chunk| {
            match byte.checked_sub(offset).and_then(|i| chunk.get(i)) {
                Some(value) => {
                    found = Some(extract(*value, shift, bits));
                    ControlFlow::Break(())
                }
                None => ControlFlow::Continue(()),
            }
        })?,
        // An index whose bit position overflows is out of range of any list; inflate to the
        // end anyway, to report the length (and to refuse a broken stream the same way).
        None => inflate_with(lst, max_bytes, |_, _| ControlFlow::Continue(()))?,
    };
    match (found, outcome) {
        (Some(value), _) => Ok(value),
        (None, Inflated::Complete(byte_len)) => Err(FormatError::StatusIndexOutOfRange {
            index: index as u64,
            len: (byte_len * 8 / usize::from(bits)) as u64,
        }),
        (None, Inflated::Stopped) => Err(FormatError::Decompression {
            reason: "stopped before the entry was read",
        }),
    }
}

/// Reads entry `index` of a CBOR StatusList (`{"bits", "lst"}`), inflating only up to the byte
/// that holds it, with the [`MAX_LIST_BYTES`] budget.
///
/// Heap: the stream's window ([`window_len`]: 32 KiB for zlib's default, 4 KiB for
/// `windowBits` 12) and the decompressor state (about 10 KiB), whatever the list's size or the
/// index (measured in `spec/status-list.md`); the list is never held uncompressed. Time:
/// proportional to the index.
///
/// It stops at the entry, so it does not check the rest of the stream (nor its Adler-32
/// checksum): a list corrupted after the entry still answers. Check a list once with
/// [`CompressedStatusList::check`] before trusting lookups in it (the verifier does).
pub fn lookup(cbor_status_list: &[u8], index: usize) -> Result<u8, FormatError> {
    let (bits, lst) = parse_status_list_document(cbor_status_list)?;
    inflate_get(bits, lst, index, MAX_LIST_BYTES)
}

/// A status list as it travels: entry size and the zlib-compressed bytes, not inflated.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CompressedStatusList {
    bits: u8,
    lst: Vec<u8>,
}

impl CompressedStatusList {
    /// Decodes a CBOR StatusList without inflating it. Its keys may come in either order.
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, FormatError> {
        let (bits, lst) = parse_status_list_document(bytes)?;
        Ok(Self {
            bits,
            lst: lst.to_vec(),
        })
    }

    /// Bits per entry.
    pub fn bits(&self) -> u8 {
        self.bits
    }

    /// The zlib stream (`lst`).
    pub fn compressed(&self) -> &[u8] {
        &self.lst
    }

    /// The CBOR StatusList, in the draft's key order.
    pub fn to_cbor(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.lst.len() + 16);
        write_status_list(&mut out, self.bits, &self.lst);
        out
    }

    /// Inflates the whole stream without keeping it and returns the number of entries: checks
    /// that `lst` is one complete zlib stream (header, DEFLATE data, Adler-32 checksum) with
    /// nothing after it and at most `max_bytes` of output. Heap as for [`lookup`].
    pub fn check(&self, max_bytes: usize) -> Result<usize, FormatError> {
        match inflate_with(&self.lst, max_bytes, |_, _| ControlFlow::Continue(()))? {
            Inflated::Complete(byte_len) => Ok(byte_len * 8 / usize::from(self.bits)),
            Inflated::Stopped => Err(FormatError::Decompression {
                reason: "stopped before the end of the stream",
            }),
        }
    }

    /// Inflates the whole list (at most `max_bytes` uncompressed).
    pub fn inflate(&self, max_bytes: usize) -> Result<StatusList, FormatError> {
        inflate_all(self.bits, &self.lst, max_bytes)
    }

    /// Reads entry `index`, inflating only up to the byte that holds it (see [`lookup`] for
    /// the cost and for why a list should be [`check`](Self::check)ed first).
    pub fn get(&self, index: usize, max_bytes: usize) -> Result<u8, FormatError> {
        inflate_get(self.bits, &self.lst, index, max_bytes)
    }
}

/// A status list token's claims, for signing: the list uncompressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusListToken {
    /// `sub`: the URI the list is published at (the issuer's `status_list_uri` in the trust
    /// list).
    pub uri: String,
    /// `iat`: when the list was signed.
    pub issued_at: UnixTime,
    /// `exp`: when the list stops being valid, if it does.
    pub expires_at: Option<UnixTime>,
    /// `ttl`: seconds a relying party may cache the token before fetching a fresh one.
    pub ttl: Option<u64>,
    /// The statuses.
    pub list: StatusList,
}

/// Checks the claims that the encoding also checks on decoding.
fn validate_claims(
    uri: &str,
    issued_at: UnixTime,
    expires_at: Option<UnixTime>,
) -> Result<(), FormatError> {
    value::check_text("sub", uri, MAX_URI_LEN)?;
    if expires_at.is_some_and(|exp| exp <= issued_at) {
        return Err(FormatError::ClaimValue {
            name: "exp",
            reason: "must be after iat",
        });
    }
    Ok(())
}

impl StatusListToken {
    /// Encodes the claims (the COSE payload), compressing the list with `compress` (a zlib
    /// stream; see [`StatusList::to_cbor`]). Keys are in RFC 8949 bytewise order (2, 4, 6,
    /// 65533, 65534); the nested StatusList keeps the draft's `"bits"`, `"lst"` order.
    pub fn to_cbor(&self, compress: impl FnOnce(&[u8]) -> Vec<u8>) -> Result<Vec<u8>, FormatError> {
        validate_claims(&self.uri, self.issued_at, self.expires_at)?;
        let list = self.list.to_cbor(compress);
        let entries = 3 + u64::from(self.expires_at.is_some()) + u64::from(self.ttl.is_some());
        let mut out = Vec::with_capacity(list.len() + self.uri.len() + 40);
        cbor::write_head(&mut out, 5, entries);
        cbor::write_head(&mut out, 0, keys::SUB as u64);
        cbor::write_head(&mut out, 3, self.uri.len() as u64);
        out.extend_from_slice(self.uri.as_bytes());
        if let Some(exp) = self.expires_at {
            cbor::write_head(&mut out, 0, keys::EXP as u64);
            cbor::write_head(&mut out, 0, exp.0);
        }
        cbor::write_head(&mut out, 0, keys::IAT as u64);
        cbor::write_head(&mut out, 0, self.issued_at.0);
        cbor::write_head(&mut out, 0, keys::STATUS_LIST as u64);
        out.extend_from_slice(&list);
        if let Some(ttl) = self.ttl {
            cbor::write_head(&mut out, 0, keys::TTL as u64);
            cbor::write_head(&mut out, 0, ttl);
        }
        Ok(out)
    }

    /// Encodes and signs the token: a tagged COSE_Sign1 with protected header `{1: alg,
    /// 4: kid, 16: "application/statuslist+cwt"}`. `sign` gets the Sig_structure and returns
    /// the 64-byte signature (ES256 low-s, as for marks).
    pub fn sign<E: From<FormatError>>(
        &self,
        alg: Algorithm,
        kid: &[u8],
        compress: impl FnOnce(&[u8]) -> Vec<u8>,
        sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
    ) -> Result<Vec<u8>, E> {
        let payload = self.to_cbor(compress)?;
        cose::build_typed_sign1(alg, kid, MEDIA_TYPE, &payload, sign)
    }

    /// Parses a signed status list token's COSE structure under the profile (tag 18,
    /// protected `alg`, `kid` and `typ`, empty unprotected header), without verifying it.
    pub fn parse_signed(bytes: &[u8]) -> Result<ParsedSign1<'_>, FormatError> {
        ParsedSign1::parse_typed(bytes, MAX_TOKEN_LEN, MEDIA_TYPE)
    }

    /// Decodes the claims (the COSE payload) and inflates the list, refusing more than
    /// `max_bytes` of uncompressed list.
    pub fn from_cbor(payload: &[u8], max_bytes: usize) -> Result<Self, FormatError> {
        let claims = StatusListClaims::from_cbor(payload)?;
        Ok(Self {
            list: claims.list.inflate(max_bytes)?,
            uri: claims.uri,
            issued_at: claims.issued_at,
            expires_at: claims.expires_at,
            ttl: claims.ttl,
        })
    }
}

/// A status list token's claims as decoded, the list still compressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusListClaims {
    /// `sub`: the URI the list is published at.
    pub uri: String,
    /// `iat`: when the list was signed.
    pub issued_at: UnixTime,
    /// `exp`, if present.
    pub expires_at: Option<UnixTime>,
    /// `ttl`, if present.
    pub ttl: Option<u64>,
    /// The list, not inflated.
    pub list: CompressedStatusList,
}

impl StatusListClaims {
    /// Decodes a status list token's payload.
    ///
    /// The payload must be well-formed CBOR with definite lengths, shortest-form heads and
    /// unique keys ([`cbor::check_unique_keys`]), in any key order (the draft's own example
    /// token orders its claims 2, 6, 4, 65534, 65533). Claims other than `sub`, `exp`, `iat`,
    /// `status_list` and `ttl` are refused, as is `exp` not after `iat`.
    pub fn from_cbor(payload: &[u8]) -> Result<Self, FormatError> {
        cbor::check_unique_keys(payload)?;
        let mut uri = None;
        let mut issued_at = None;
        let mut expires_at = None;
        let mut ttl = None;
        let mut list = None;
        value::read_map("status_list_token", &mut Reader::new(payload), |key, r| {
            match key {
                keys::SUB => uri = Some(value::text("sub", r, MAX_URI_LEN)?),
                keys::EXP => expires_at = Some(UnixTime(value::uint("exp", r)?)),
                keys::IAT => issued_at = Some(UnixTime(value::uint("iat", r)?)),
                keys::STATUS_LIST => list = Some(read_status_list(r)?),
                keys::TTL => ttl = Some(value::uint("ttl", r)?),
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        let uri = value::required("sub", uri)?;
        let issued_at = value::required("iat", issued_at)?;
        let (bits, lst) = value::required("status_list", list)?;
        validate_claims(&uri, issued_at, expires_at)?;
        Ok(Self {
            uri,
            issued_at,
            expires_at,
            ttl,
            list: CompressedStatusList {
                bits,
                lst: lst.to_vec(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::ToString;
    use proptest::prelude::*;

    /// zlib at level 9 from the C library (flate2's libz-sys backend), as the issuer uses.
    fn zlib9(data: &[u8]) -> Vec<u8> {
        let mut z = flate2::Compress::new(flate2::Compression::new(9), true);
        let mut out = Vec::with_capacity(data.len() + data.len() / 1000 + 64);
        match z.compress_vec(data, &mut out, flate2::FlushCompress::Finish) {
            Ok(flate2::Status::StreamEnd) => out,
            other => panic!("zlib: {other:?}"),
        }
    }

    fn h(text: &str) -> Vec<u8> {
        hex::decode(text.replace(' ', "")).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    /// The draft's two worked examples ("Status List" section): the statuses and the bytes
    /// they pack to, LSB first.
    #[test]
    fn packs_like_the_draft_examples() {
        let one_bit = [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1];
        let two_bit = [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3];
        for (bits, statuses, bytes) in [
            (1, &one_bit[..], &[0xb9, 0xa3][..]),
            (2, &two_bit[..], &[0xc9, 0x44, 0xf9][..]),
        ] {
            let mut list = StatusList::new(bits, statuses.len()).unwrap_or_else(|e| panic!("{e}"));
            for (i, s) in statuses.iter().enumerate() {
                list.set(i, *s).unwrap_or_else(|e| panic!("{e}"));
            }
            assert_eq!(list.as_bytes(), bytes);
            assert_eq!(list.len(), statuses.len());
            for (i, s) in statuses.iter().enumerate() {
                assert_eq!(list.get(i), Some(*s));
            }
            assert_eq!(list.get(statuses.len()), None);
        }
    }

    #[test]
    fn new_rounds_up_to_whole_bytes_and_checks_limits() {
        let list = StatusList::new(2, 5).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((list.as_bytes().len(), list.len()), (2, 8));
        assert_eq!(StatusList::new(1, 0).map(|l| l.is_empty()), Ok(true));
        for bits in [0, 3, 5, 16] {
            assert_eq!(
                StatusList::new(bits, 8),
                Err(FormatError::StatusListBits {
                    bits: u64::from(bits)
                })
            );
        }
        assert!(StatusList::new(8, MAX_LIST_BYTES).is_ok());
        let too_large = Err(FormatError::StatusListTooLarge {
            max: MAX_LIST_BYTES,
        });
        assert_eq!(StatusList::new(8, MAX_LIST_BYTES + 1), too_large);
        assert_eq!(StatusList::new(8, usize::MAX), too_large);
        assert_eq!(
            StatusList::from_bytes(1, vec![0; MAX_LIST_BYTES + 1]),
            too_large
        );
    }

    #[test]
    fn set_refuses_out_of_range() {
        let mut list = StatusList::new(2, 8).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            list.set(0, 4),
            Err(FormatError::StatusValueOutOfRange { value: 4, bits: 2 })
        );
        assert_eq!(
            list.set(8, 1),
            Err(FormatError::StatusIndexOutOfRange { index: 8, len: 8 })
        );
        assert_eq!(
            list.set(usize::MAX, 1),
            Err(FormatError::StatusIndexOutOfRange {
                index: usize::MAX as u64,
                len: 8
            })
        );
        assert_eq!(list.get(usize::MAX), None);
        // Setting one entry leaves its neighbours alone, also when lowering a value.
        list.set(1, 3).unwrap_or_else(|e| panic!("{e}"));
        list.set(2, 3).unwrap_or_else(|e| panic!("{e}"));
        list.set(1, 2).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(list.as_bytes(), &[0b0011_1000, 0]);
    }

    #[test]
    fn status_values() {
        for (value, status) in [
            (0, Status::Valid),
            (1, Status::Invalid),
            (2, Status::Suspended),
            (3, Status::ApplicationSpecific(3)),
            (4, Status::Unassigned(4)),
            (0x0c, Status::ApplicationSpecific(0x0c)),
            (0x0f, Status::ApplicationSpecific(0x0f)),
            (0x10, Status::Unassigned(0x10)),
            (0xff, Status::Unassigned(0xff)),
        ] {
            assert_eq!(Status::from_value(value), status);
            assert_eq!(status.value(), value);
        }
    }

    #[test]
    fn cbor_keys_may_come_in_either_order() {
        // {"bits": 1, "lst": zlib([b9, a3])}, the draft's vector, and the same with "lst" first.
        let draft = h("a2 64 62697473 01 63 6c7374 4a 78dadbb918000217015d");
        let swapped = h("a2 63 6c7374 4a 78dadbb918000217015d 64 62697473 01");
        for cbor in [&draft, &swapped] {
            let list =
                StatusList::from_cbor(cbor, MAX_LIST_BYTES).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!((list.bits(), list.as_bytes()), (1, &[0xb9, 0xa3][..]));
            assert_eq!(lookup(cbor, 15), Ok(1));
        }
        // Our encoder writes the draft's order.
        let compressed =
            CompressedStatusList::from_cbor(&swapped).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(compressed.to_cbor(), draft);
    }

    /// Each way a StatusList can be wrong, with the exact error. `lst` is the draft's
    /// 2-byte 1-bit list unless the case is about `lst`.
    #[test]
    fn status_list_errors_are_specific() {
        let cases: &[(&str, &str, FormatError)] = &[
            (
                "bits 3",
                "a2 64 62697473 03 63 6c7374 4a 78dadbb918000217015d",
                FormatError::StatusListBits { bits: 3 },
            ),
            (
                "bits 0",
                "a2 64 62697473 00 63 6c7374 4a 78dadbb918000217015d",
                FormatError::StatusListBits { bits: 0 },
            ),
            (
                "bits as text",
                "a2 64 62697473 61 31 63 6c7374 4a 78dadbb918000217015d",
                FormatError::ClaimType { name: "bits", expected: "an unsigned integer" },
            ),
            (
                "no bits",
                "a1 63 6c7374 4a 78dadbb918000217015d",
                FormatError::MissingClaim { name: "bits" },
            ),
            (
                "no lst",
                "a1 64 62697473 01",
                FormatError::MissingClaim { name: "lst" },
            ),
            (
                "lst as text",
                "a2 64 62697473 01 63 6c7374 61 78",
                FormatError::ClaimType { name: "lst", expected: "a byte string" },
            ),
            (
                "aggregation_uri (offset of the key)",
                "a3 64 62697473 01 63 6c7374 4a 78dadbb918000217015d 6f 6167677265676174696f6e5f757269 60",
                FormatError::UnknownStatusListKey { offset: 22 },
            ),
            (
                "integer key",
                "a2 01 01 63 6c7374 4a 78dadbb918000217015d",
                FormatError::ClaimType { name: "status_list", expected: "a map with text keys" },
            ),
            (
                "not a map",
                "82 01 02",
                FormatError::ClaimType { name: "status_list", expected: "a map" },
            ),
            (
                "bits twice",
                "a3 64 62697473 01 63 6c7374 4a 78dadbb918000217015d 64 62697473 01",
                FormatError::DuplicateMapKey { offset: 22 },
            ),
            (
                "indefinite-length map",
                "bf 64 62697473 01 63 6c7374 4a 78dadbb918000217015d ff",
                FormatError::IndefiniteLength { offset: 0 },
            ),
            (
                "bits in a 1-byte head",
                "a2 64 62697473 1801 63 6c7374 4a 78dadbb918000217015d",
                FormatError::NonMinimalEncoding { offset: 6 },
            ),
            (
                "a second item after the map",
                "a2 64 62697473 01 63 6c7374 4a 78dadbb918000217015d 00",
                FormatError::TrailingBytes { offset: 22 },
            ),
            (
                "empty lst",
                "a2 64 62697473 01 63 6c7374 40",
                FormatError::Decompression { reason: "truncated zlib stream" },
            ),
            (
                "zlib header checksum wrong (78 db)",
                "a2 64 62697473 01 63 6c7374 4a 78dbdbb918000217015d",
                FormatError::Decompression { reason: "bad zlib header (RFC 1950 section 2.2)" },
            ),
            (
                "not DEFLATE (method 7)",
                "a2 64 62697473 01 63 6c7374 4a 77dedbb918000217015d",
                FormatError::Decompression { reason: "bad zlib header (RFC 1950 section 2.2)" },
            ),
            (
                "preset dictionary (78 f9)",
                "a2 64 62697473 01 63 6c7374 4a 78f9dbb918000217015d",
                FormatError::Decompression { reason: "zlib preset dictionaries are not allowed" },
            ),
            (
                "stream cut inside the checksum",
                "a2 64 62697473 01 63 6c7374 48 78dadbb918000217",
                FormatError::Decompression { reason: "truncated zlib stream" },
            ),
            (
                "checksum changed",
                "a2 64 62697473 01 63 6c7374 4a 78dadbb918000217015e",
                FormatError::Decompression { reason: "Adler-32 checksum mismatch" },
            ),
            (
                "reserved block type 3 (first byte 0x07)",
                "a2 64 62697473 01 63 6c7374 4a 78da07b918000217015d",
                FormatError::Decompression { reason: "invalid DEFLATE data" },
            ),
            (
                "a byte after the zlib stream",
                "a2 64 62697473 01 63 6c7374 4b 78dadbb918000217015d00",
                FormatError::Decompression { reason: "bytes after the end of the zlib stream" },
            ),
        ];
        for (what, cbor, expected) in cases {
            let cbor = h(cbor);
            assert_eq!(
                StatusList::from_cbor(&cbor, MAX_LIST_BYTES).as_ref(),
                Err(expected),
                "{what}"
            );
            // The compressed form only checks the map; the stream is checked on use.
            let compressed = CompressedStatusList::from_cbor(&cbor)
                .and_then(|c| c.check(MAX_LIST_BYTES).map(|_| ()));
            assert_eq!(compressed.as_ref(), Err(expected), "{what} (check)");
        }
    }

    #[test]
    fn budget_is_enforced() {
        let list = StatusList::from_bytes(8, vec![7; 5000]).unwrap_or_else(|e| panic!("{e}"));
        let cbor = list.to_cbor(zlib9);
        assert_eq!(StatusList::from_cbor(&cbor, 5000).as_ref(), Ok(&list));
        let over = Err(FormatError::StatusListTooLarge { max: 4999 });
        assert_eq!(StatusList::from_cbor(&cbor, 4999), over);
        let compressed = CompressedStatusList::from_cbor(&cbor).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            compressed.check(4999),
            Err(FormatError::StatusListTooLarge { max: 4999 })
        );
        assert_eq!(compressed.check(5000), Ok(5000));
        // A lookup within the budget still answers; past it, it fails rather than reading on.
        assert_eq!(compressed.get(4998, 4999), Ok(7));
        assert_eq!(
            compressed.get(4999, 4999),
            Err(FormatError::StatusListTooLarge { max: 4999 })
        );
        // A highly compressible list: 1 MiB of zeros is about 1 KiB compressed, and one byte
        // over the budget is refused.
        let zeros = zlib9(&vec![0; MAX_LIST_BYTES + 1]);
        let mut bomb = Vec::new();
        write_status_list(&mut bomb, 8, &zeros);
        assert!(bomb.len() < 1100, "{}", bomb.len());
        assert_eq!(
            StatusList::from_cbor(&bomb, MAX_LIST_BYTES),
            Err(FormatError::StatusListTooLarge {
                max: MAX_LIST_BYTES
            })
        );
        assert_eq!(
            lookup(&bomb, MAX_LIST_BYTES + 5),
            Err(FormatError::StatusListTooLarge {
                max: MAX_LIST_BYTES
            })
        );
    }

    #[test]
    fn lookup_reports_the_length_when_out_of_range() {
        let cbor = h("a2 64 62697473 01 63 6c7374 4a 78dadbb918000217015d");
        assert_eq!(
            lookup(&cbor, 16),
            Err(FormatError::StatusIndexOutOfRange { index: 16, len: 16 })
        );
        assert_eq!(
            lookup(&cbor, usize::MAX),
            Err(FormatError::StatusIndexOutOfRange {
                index: usize::MAX as u64,
                len: 16
            })
        );
    }

    /// `lookup` stops at the entry: a stream broken after it still answers for the entries
    /// before the break, while `check` (what the verifier runs first) refuses it.
    #[test]
    fn lookup_stops_early_and_check_does_not() {
        let mut list = StatusList::new(8, 100_000).unwrap_or_else(|e| panic!("{e}"));
        // Incompressible-ish content so that the stream has many blocks.
        let mut x = 1u32;
        for i in 0..list.len() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            list.set(i, x as u8).unwrap_or_else(|e| panic!("{e}"));
        }
        let mut compressed =
            CompressedStatusList::from_cbor(&list.to_cbor(zlib9)).unwrap_or_else(|e| panic!("{e}"));
        let n = compressed.lst.len();
        compressed.lst[n - 1] ^= 1; // the checksum's last byte
        assert_eq!(
            compressed.get(0, MAX_LIST_BYTES),
            Ok(list.get(0).unwrap_or(0))
        );
        assert_eq!(
            compressed.check(MAX_LIST_BYTES),
            Err(FormatError::Decompression {
                reason: "Adler-32 checksum mismatch"
            })
        );
    }

    /// zlib at level 9 with a `window_bits` window (9 to 15).
    fn zlib9_window(data: &[u8], window_bits: u8) -> Vec<u8> {
        let mut z =
            flate2::Compress::new_with_window_bits(flate2::Compression::new(9), true, window_bits);
        let mut out = Vec::with_capacity(data.len() + data.len() / 1000 + 64);
        match z.compress_vec(data, &mut out, flate2::FlushCompress::Finish) {
            Ok(flate2::Status::StreamEnd) => out,
            other => panic!("zlib: {other:?}"),
        }
    }

    /// The C zlib's verdict on a stream: its output, or `None` if it refuses it (including
    /// bytes after the end, and more than `max` bytes of output). zlib (unless built with
    /// `INFLATE_STRICT`) does not hold a stream to the window its header declares: see
    /// [`uses_the_declared_window`].
    fn reference_inflate(lst: &[u8], max: usize) -> Option<Vec<u8>> {
        inflate_with_zlib(flate2::Decompress::new(true), lst, max)
    }

    /// `lst` with its header saying `cinfo` (and FCHECK fixed to match).
    fn relabel(lst: &[u8], cinfo: u8) -> Vec<u8> {
        let mut lst = lst.to_vec();
        if lst.len() >= 2 {
            lst[0] = (cinfo << 4) | 8;
            let flg_high = lst[1] & 0xe0;
            let rest = (u16::from(lst[0]) * 256 + u16::from(flg_high)) % 31;
            lst[1] = flg_high | ((31 - rest) % 31) as u8;
        }
        lst
    }

    fn inflate_with_zlib(mut z: flate2::Decompress, lst: &[u8], max: usize) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(max + 1);
        match z.decompress_vec(lst, &mut out, flate2::FlushDecompress::Finish) {
            Ok(flate2::Status::StreamEnd) if z.total_in() == lst.len() as u64 => Some(out),
            _ => None,
        }
    }

    fn with_lst(bits: u8, lst: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_status_list(&mut out, bits, lst);
        out
    }

    /// A back-reference before the start of the output: zlib says "invalid distance too far
    /// back", and so must we, though the ring window would hold zeros there.
    #[test]
    fn refuses_distances_before_the_start() {
        // Fixed-Huffman block: match (length 3, distance 1) as the first symbol, end of block.
        let far = h("78 01 03 02 00 00 03 00 01");
        assert_eq!(reference_inflate(&far, 100), None);
        assert_eq!(
            StatusList::from_cbor(&with_lst(8, &far), 100),
            Err(FormatError::Decompression {
                reason: "invalid DEFLATE data"
            })
        );
        // The same after one literal is fine: four zero bytes.
        let near = h("78 01 63 00 02 00 00 04 00 01");
        assert_eq!(reference_inflate(&near, 100), Some(vec![0; 4]));
        assert_eq!(
            StatusList::from_cbor(&with_lst(8, &near), 100).map(|l| l.as_bytes().to_vec()),
            Ok(vec![0; 4])
        );
    }

    /// A stream is inflated through the window its header declares; one that declares a
    /// smaller window than its back-references need is refused, as zlib refuses it.
    #[test]
    fn uses_the_declared_window() {
        let mut list = StatusList::new(8, 3000).unwrap_or_else(|e| panic!("{e}"));
        let mut x = 7u32;
        for i in 0..1000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let v = (x >> 16) as u8;
            // The same 1000 bytes three times: matches at distance 1000.
            for copy in 0..3 {
                list.set(i + 1000 * copy, v)
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        }
        for window_bits in 9..=15u8 {
            let lst = zlib9_window(list.as_bytes(), window_bits);
            assert_eq!(window_len(&lst), Some(1 << window_bits));
            let cbor = with_lst(8, &lst);
            assert_eq!(
                StatusList::from_cbor(&cbor, MAX_LIST_BYTES).as_ref(),
                Ok(&list)
            );
            assert_eq!(lookup(&cbor, 2999).ok(), list.get(2999));
        }
        // Compressed with a 32 KiB window, relabelled as 512 bytes (CINFO 1): RFC 1950 says
        // the window is 512 bytes, so distances of 1000 are refused. This is the one place
        // where we are stricter than zlib as usually built (without `INFLATE_STRICT`), which
        // inflates it anyway; zlib's own encoder never writes such a stream.
        let lst = relabel(&zlib9_window(list.as_bytes(), 15), 1);
        assert_eq!(window_len(&lst), Some(512));
        assert_eq!(
            reference_inflate(&lst, MAX_LIST_BYTES).as_deref(),
            Some(list.as_bytes())
        );
        assert_eq!(
            StatusList::from_cbor(&with_lst(8, &lst), MAX_LIST_BYTES),
            Err(FormatError::Decompression {
                reason: "invalid DEFLATE data"
            })
        );
        assert_eq!(
            StatusList::from_cbor(&with_lst(8, &relabel(&lst, 7)), MAX_LIST_BYTES).as_ref(),
            Ok(&list)
        );
        // CINFO 8 (a 64 KiB window) is not zlib.
        assert_eq!(window_len(&[0x88, 0x1c]), None);
        assert_eq!(
            StatusList::from_cbor(&with_lst(8, &h("881c 03000000000001")), 100),
            Err(FormatError::Decompression {
                reason: "bad zlib header (RFC 1950 section 2.2)"
            })
        );
    }

    fn token(list: StatusList) -> StatusListToken {
        StatusListToken {
            uri: "https://status.example.org/1".to_string(),
            issued_at: UnixTime(1_700_000_000),
            expires_at: Some(UnixTime(1_700_086_400)),
            ttl: Some(43_200),
            list,
        }
    }

    #[test]
    fn token_claims_are_in_bytewise_order() {
        let t =
            token(StatusList::from_bytes(1, vec![0xb9, 0xa3]).unwrap_or_else(|e| panic!("{e}")));
        let payload = t.to_cbor(zlib9).unwrap_or_else(|e| panic!("{e}"));
        let expected = h(concat!(
            "a5",
            "02 78 1c 68747470733a2f2f7374617475732e6578616d706c652e6f72672f31", // sub
            "04 1a 65554280",                                                    // exp
            "06 1a 6553f100",                                                    // iat
            "19fffd a2 64 62697473 01 63 6c7374 4a 78dadbb918000217015d",        // status_list
            "19fffe 19 a8c0",                                                    // ttl 43200
        ));
        assert_eq!(hex::encode(&payload), hex::encode(&expected));
        assert_eq!(
            StatusListToken::from_cbor(&payload, MAX_LIST_BYTES),
            Ok(t.clone())
        );
        // Without the optional claims.
        let bare = StatusListToken {
            expires_at: None,
            ttl: None,
            ..t
        };
        let payload = bare.to_cbor(zlib9).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(payload[0], 0xa3);
        assert_eq!(
            StatusListToken::from_cbor(&payload, MAX_LIST_BYTES),
            Ok(bare)
        );
    }

    #[test]
    fn token_claim_errors_are_specific() {
        let list = "19fffd a2 64 62697473 01 63 6c7374 4a 78dadbb918000217015d";
        let cases: &[(&str, String, FormatError)] = &[
            (
                "no sub",
                format!("a2 06 01 {list}"),
                FormatError::MissingClaim { name: "sub" },
            ),
            (
                "no iat",
                format!("a2 02 61 75 {list}"),
                FormatError::MissingClaim { name: "iat" },
            ),
            (
                "no status_list",
                "a2 02 61 75 06 01".to_string(),
                FormatError::MissingClaim {
                    name: "status_list",
                },
            ),
            (
                "iss (1) is not in the profile",
                format!("a4 01 61 69 02 61 75 06 01 {list}"),
                FormatError::UnknownClaim { key: 1 },
            ),
            (
                "empty sub",
                format!("a3 02 60 06 01 {list}"),
                FormatError::ClaimValue {
                    name: "sub",
                    reason: "must not be empty",
                },
            ),
            (
                "exp not after iat",
                format!("a4 02 61 75 04 05 06 05 {list}"),
                FormatError::ClaimValue {
                    name: "exp",
                    reason: "must be after iat",
                },
            ),
            (
                "ttl negative",
                format!("a4 02 61 75 06 01 {list} 19fffe 20"),
                FormatError::ClaimType {
                    name: "ttl",
                    expected: "an unsigned integer",
                },
            ),
            (
                "iat twice",
                format!("a4 02 61 75 06 01 06 01 {list}"),
                FormatError::DuplicateMapKey { offset: 6 },
            ),
            (
                "text claim key",
                format!("a3 63 737562 61 75 06 01 {list}"),
                FormatError::ClaimType {
                    name: "status_list_token",
                    expected: "a map with integer keys",
                },
            ),
        ];
        for (what, payload, expected) in cases {
            assert_eq!(
                StatusListClaims::from_cbor(&h(payload)).as_ref(),
                Err(expected),
                "{what}"
            );
        }
        // Claims in any order are accepted (the draft's example orders them 2, 6, 4, ...).
        let unordered = h(&format!("a3 {list} 06 01 02 61 75"));
        let claims = StatusListClaims::from_cbor(&unordered).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((claims.uri.as_str(), claims.issued_at), ("u", UnixTime(1)));
        // Encoding refuses what decoding would.
        let mut t = token(StatusList::new(2, 4).unwrap_or_else(|e| panic!("{e}")));
        t.expires_at = Some(t.issued_at);
        assert_eq!(
            t.to_cbor(zlib9),
            Err(FormatError::ClaimValue {
                name: "exp",
                reason: "must be after iat"
            })
        );
        t.expires_at = None;
        t.uri = "https://a\nb".to_string();
        assert!(matches!(
            t.to_cbor(zlib9),
            Err(FormatError::ClaimValue { name: "sub", .. })
        ));
    }

    #[test]
    fn signed_token_parses_under_the_typed_profile() {
        let t = token(StatusList::new(2, 1000).unwrap_or_else(|e| panic!("{e}")));
        let signed = t
            .sign::<FormatError>(Algorithm::EdDsa, &[1, 2, 3, 4], zlib9, |_| Ok(vec![5; 64]))
            .unwrap_or_else(|e| panic!("{e}"));
        let parsed = StatusListToken::parse_signed(&signed).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.kid(), &[1, 2, 3, 4]);
        assert_eq!(
            StatusListToken::from_cbor(parsed.payload(), MAX_LIST_BYTES),
            Ok(t)
        );
        // 18([h'{1: -8, 4: h'01020304', 16: "application/statuslist+cwt"}', {}, ...
        let expected = h(concat!(
            "d2 84 58 26",
            "a3 01 27 04 44 01020304 10 78 1a",
            "6170706c69636174696f6e2f7374617475736c6973742b637774",
            "a0",
        ));
        assert_eq!(
            hex::encode(&signed[..expected.len()]),
            hex::encode(&expected)
        );
        // A mark parser refuses a status list token, and the other way round.
        assert_eq!(
            crate::mark::parse(&signed),
            Err(FormatError::UnexpectedHeaderParameter { label: 16 })
        );
    }

    fn model_list() -> impl Strategy<Value = (u8, Vec<u8>)> {
        prop_oneof![Just(1u8), Just(2u8), Just(4u8), Just(8u8)].prop_flat_map(|bits| {
            let max = ((1u16 << bits) - 1) as u8;
            (Just(bits), proptest::collection::vec(0..=max, 0..600))
        })
    }

    proptest! {
        /// get and set agree with a plain array of values, and the packing is the draft's
        /// (entry i at bit i * bits of the little end).
        #[test]
        fn get_set_match_a_model((bits, values) in model_list()) {
            let mut list = StatusList::new(bits, values.len()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            for (i, v) in values.iter().enumerate() {
                list.set(i, *v).map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            for (i, v) in values.iter().enumerate() {
                prop_assert_eq!(list.get(i), Some(*v));
                let bit = i * usize::from(bits);
                prop_assert_eq!((list.as_bytes()[bit / 8] >> (bit % 8)) & (((1u16 << bits) - 1) as u8), *v);
            }
            // Padding entries are zero.
            for i in values.len()..list.len() {
                prop_assert_eq!(list.get(i), Some(0));
            }
            prop_assert_eq!(list.get(list.len()), None);
        }

        /// Encoding then decoding gives the list back, by every route.
        #[test]
        fn cbor_round_trip((bits, values) in model_list(), sparse in any::<bool>()) {
            let mut list = StatusList::new(bits, values.len()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            for (i, v) in values.iter().enumerate() {
                // Sparse lists compress into matches, dense ones into literals.
                let v = if sparse && i % 7 != 0 { 0 } else { *v };
                list.set(i, v).map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            let cbor = list.to_cbor(zlib9);
            prop_assert_eq!(StatusList::from_cbor(&cbor, MAX_LIST_BYTES), Ok(list.clone()));
            let compressed = CompressedStatusList::from_cbor(&cbor).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(compressed.check(MAX_LIST_BYTES), Ok(list.len()));
            for i in 0..list.len() {
                prop_assert_eq!(lookup(&cbor, i).ok(), list.get(i));
            }
            prop_assert_eq!(
                lookup(&cbor, list.len()),
                Err(FormatError::StatusIndexOutOfRange { index: list.len() as u64, len: list.len() as u64 })
            );
        }

        /// No input makes the decoders panic.
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200), index in 0usize..2000) {
            let _ = StatusList::from_cbor(&bytes, 4096);
            let _ = lookup(&bytes, index);
            let _ = StatusListClaims::from_cbor(&bytes);
            let _ = StatusListToken::parse_signed(&bytes);
        }

        /// Our inflater and the C zlib agree on every stream: a valid one with a byte changed
        /// (or cut short) is accepted by both with the same output, or refused by both, but
        /// for the one known difference: a back-reference past the window the header declares,
        /// which zlib accepts and we refuse (then the same stream labelled with a 32 KiB window
        /// must give zlib's output). Lists of up to 3 KiB through windows of 512 bytes to
        /// 32 KiB, so that the ring wraps.
        #[test]
        fn inflate_agrees_with_zlib(
            values in proptest::collection::vec(0u8..4, 0..3000),
            window_bits in 9u8..=15,
            at in any::<usize>(),
            byte in any::<u8>(),
            cut in any::<bool>(),
        ) {
            let mut lst = zlib9_window(&values, window_bits);
            let at = at % lst.len();
            if cut {
                lst.truncate(at);
            } else {
                lst[at] = byte;
            }
            let max = 4096;
            let ours = StatusList::from_cbor(&with_lst(8, &lst), max).map(|l| l.as_bytes().to_vec());
            let decode = |lst: &[u8]| {
                StatusList::from_cbor(&with_lst(8, lst), max).map(|l| l.as_bytes().to_vec())
            };
            match (ours, reference_inflate(&lst, max)) {
                (Ok(ours), Some(zlib)) => prop_assert_eq!(ours, zlib),
                (Err(_), None) => {}
                (Err(FormatError::Decompression { reason: "invalid DEFLATE data" }), Some(zlib))
                    if window_len(&lst).is_some_and(|w| w < MAX_INFLATE_WINDOW_LEN) =>
                {
                    prop_assert_eq!(decode(&relabel(&lst, 7)), Ok(zlib));
                }
                (ours, zlib) => prop_assert!(false, "ours {:?}, zlib {:?}", ours, zlib),
            }
        }

        /// Nor does a valid list with one byte changed.
        #[test]
        fn mutated_lists_never_panic((bits, values) in model_list(), at in any::<usize>(), byte in any::<u8>(), index in 0usize..5000) {
            let list = StatusList::from_bytes(bits, values).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut cbor = list.to_cbor(zlib9);
            let at = at % cbor.len();
            cbor[at] = byte;
            let _ = StatusList::from_cbor(&cbor, 4096);
            let _ = lookup(&cbor, index);
        }
    }
}
