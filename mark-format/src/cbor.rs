//! Strict CBOR: a check that bytes are exactly one well-formed item in RFC 8949 core
//! deterministic encoding (section 4.2.1), a borrowing reader for bytes that passed it, and the
//! head writer used to assemble the COSE Sig_structure.
//!
//! `ciborium` (and so `coset`) accepts indefinite lengths, non-shortest integers, unsorted and
//! duplicate map keys. A signed format must not: two encodings of the same claims would let an
//! attacker change bytes without changing meaning, and a decoder that keeps the last of two
//! duplicate keys would disagree with one that keeps the first. So every signed input is walked
//! once by this checker before it is decoded.
//!
//! The walk does no allocation and is linear in the input length. Decoding then reads the checked
//! bytes with a `Reader`, which borrows strings and byte strings instead of building a value tree:
//! verification is dominated by one signature check, and a value tree with its allocations would
//! cost more than the 5% of it that the whole rest of the path may take.

use crate::FormatError;

/// Maximum nesting depth of any of our documents. The deepest path in a mark is
/// tag / COSE array / ... and inside the payload map / frameworks array / claim array (3 levels);
/// a trust list reaches map / issuers array / issuer map / scope map / frameworks array / pair
/// array (6 levels). 8 leaves headroom without letting a hostile input recurse deeply.
pub const MAX_DEPTH: usize = 8;

/// Checks that `input` is exactly one deterministic CBOR item, with nothing after it.
pub fn check_deterministic(input: &[u8]) -> Result<(), FormatError> {
    check(input, KeyOrder::Sorted)
}

/// Most entries in one map checked by [`check_unique_keys`]. Without sorted keys, finding a
/// duplicate means comparing each key with every earlier one, so the map size is bounded to
/// keep that quadratic walk small. The largest map it is used for is a status list token's
/// claims set (5 entries: sub, exp, iat, status_list, ttl); 16 leaves room for issuers that add
/// a few claims of their own, which decoding then rejects by name.
pub const MAX_UNORDERED_MAP_ENTRIES: usize = 16;

/// Checks that `input` is exactly one well-formed CBOR item with definite lengths, shortest-form
/// heads and no duplicate map keys, **in any key order**, with nothing after it.
///
/// This is RFC 8949 core deterministic encoding minus the key-order rule, and it exists for one
/// reason: the Token Status List draft's own test vectors write the StatusList map as
/// `{"bits": .., "lst": ..}`, but bytewise order puts `"lst"` (`0x63...`) before `"bits"`
/// (`0x64...`). Our encoder writes what the vectors write, so a strict reader would refuse our
/// own output. It is used only for status lists (see `spec/status-list.md`); marks and trust
/// lists keep [`check_deterministic`]. Maps are limited to [`MAX_UNORDERED_MAP_ENTRIES`]
/// entries.
pub fn check_unique_keys(input: &[u8]) -> Result<(), FormatError> {
    check(input, KeyOrder::Unique)
}

/// What a map's keys must satisfy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyOrder {
    /// Strictly increasing in bytewise order of their encodings (RFC 8949 section 4.2.1).
    Sorted,
    /// Pairwise distinct, in any order.
    Unique,
}

fn check(input: &[u8], order: KeyOrder) -> Result<(), FormatError> {
    let end = item(input, 0, 0, order)?;
    if end != input.len() {
        return Err(FormatError::TrailingBytes { offset: end });
    }
    Ok(())
}

/// The head of a CBOR item: major type, argument and where the content starts.
struct Head {
    major: u8,
    /// Additional information (the low five bits of the initial byte).
    info: u8,
    arg: u64,
    content: usize,
}

fn head(input: &[u8], pos: usize) -> Result<Head, FormatError> {
    let truncated = FormatError::Truncated { offset: pos };
    let initial = *input.get(pos).ok_or(truncated.clone())?;
    let major = initial >> 5;
    let info = initial & 0x1f;
    let (arg, len) = match info {
        0..=23 => (u64::from(info), 0),
        24 => (u64::from(*input.get(pos + 1).ok_or(truncated.clone())?), 1),
        25 => (read_be(input, pos + 1, 2).ok_or(truncated.clone())?, 2),
        26 => (read_be(input, pos + 1, 4).ok_or(truncated.clone())?, 4),
        27 => (read_be(input, pos + 1, 8).ok_or(truncated)?, 8),
        31 => return Err(FormatError::IndefiniteLength { offset: pos }),
        _ => return Err(FormatError::UnsupportedCborItem { offset: pos }),
    };
    // Shortest form: each width is only allowed for values the next smaller one cannot hold.
    let minimal = match len {
        0 => true,
        1 => arg >= 24,
        2 => arg > 0xff,
        4 => arg > 0xffff,
        _ => arg > 0xffff_ffff,
    };
    // Major type 7 uses the 1-byte form for simple values 32..255 and the wider ones for floats;
    // we reject both below, so only check minimality for the other major types.
    if major != 7 && !minimal {
        return Err(FormatError::NonMinimalEncoding { offset: pos });
    }
    Ok(Head {
        major,
        info,
        arg,
        content: pos + 1 + len,
    })
}

fn read_be(input: &[u8], start: usize, len: usize) -> Option<u64> {
    let bytes = input.get(start..start.checked_add(len)?)?;
    Some(bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

/// Checks the item at `pos` and returns the offset just after it.
fn item(input: &[u8], pos: usize, depth: usize, order: KeyOrder) -> Result<usize, FormatError> {
    if depth > MAX_DEPTH {
        return Err(FormatError::NestingTooDeep { offset: pos });
    }
    let h = head(input, pos)?;
    match h.major {
        0 | 1 => Ok(h.content),
        2 | 3 => {
            let end = usize::try_from(h.arg)
                .ok()
                .and_then(|len| h.content.checked_add(len))
                .filter(|end| *end <= input.len())
                .ok_or(FormatError::Truncated { offset: pos })?;
            if h.major == 3 && core::str::from_utf8(&input[h.content..end]).is_err() {
                return Err(FormatError::InvalidUtf8 { offset: pos });
            }
            Ok(end)
        }
        4 => {
            let count = bounded_count(input, pos, h.arg, 1)?;
            let mut next = h.content;
            for _ in 0..count {
                next = item(input, next, depth + 1, order)?;
            }
            Ok(next)
        }
        5 if order == KeyOrder::Unique => unique_key_map(input, pos, h.arg, h.content, depth),
        5 => {
            let count = bounded_count(input, pos, h.arg, 2)?;
            let mut next = h.content;
            let mut previous_key: Option<&[u8]> = None;
            for _ in 0..count {
                let key_start = next;
                let key_end = item(input, key_start, depth + 1, order)?;
                let key = &input[key_start..key_end];
                if let Some(previous) = previous_key {
                    match previous.cmp(key) {
                        core::cmp::Ordering::Less => {}
                        core::cmp::Ordering::Equal => {
                            return Err(FormatError::DuplicateMapKey { offset: key_start })
                        }
                        core::cmp::Ordering::Greater => {
                            return Err(FormatError::UnsortedMapKeys { offset: key_start })
                        }
                    }
                }
                previous_key = Some(key);
                next = item(input, key_end, depth + 1, order)?;
            }
            Ok(next)
        }
        6 => item(input, h.content, depth + 1, order),
        // Major type 7: only false, true and null (info 20..=22) appear in our formats.
        _ => match h.info {
            20..=22 => Ok(h.content),
            _ => Err(FormatError::UnsupportedCborItem { offset: pos }),
        },
    }
}

/// The entries of a map whose keys must be distinct but may come in any order; `content` is
/// where the first key starts. Keys are compared as encoded bytes, which for the shortest-form
/// items that [`head`] accepts is the same as comparing values. No allocation: the key spans sit
/// in a fixed array of [`MAX_UNORDERED_MAP_ENTRIES`].
fn unique_key_map(
    input: &[u8],
    pos: usize,
    count: u64,
    content: usize,
    depth: usize,
) -> Result<usize, FormatError> {
    let count = bounded_count(input, pos, count, 2)?;
    if count > MAX_UNORDERED_MAP_ENTRIES {
        return Err(FormatError::TooManyMapEntries {
            offset: pos,
            max: MAX_UNORDERED_MAP_ENTRIES,
        });
    }
    let mut keys = [(0usize, 0usize); MAX_UNORDERED_MAP_ENTRIES];
    let mut next = content;
    for i in 0..count {
        let key_start = next;
        let key_end = item(input, key_start, depth + 1, KeyOrder::Unique)?;
        let key = &input[key_start..key_end];
        if keys[..i]
            .iter()
            .any(|(start, end)| &input[*start..*end] == key)
        {
            return Err(FormatError::DuplicateMapKey { offset: key_start });
        }
        keys[i] = (key_start, key_end);
        next = item(input, key_end, depth + 1, KeyOrder::Unique)?;
    }
    Ok(next)
}

/// An array or map announces `count` elements; each needs at least one byte per item, so a count
/// larger than the remaining input is truncated input, found before looping over it.
fn bounded_count(
    input: &[u8],
    pos: usize,
    count: u64,
    items_per_element: usize,
) -> Result<usize, FormatError> {
    let remaining = input.len().saturating_sub(pos);
    usize::try_from(count)
        .ok()
        .filter(|n| n.saturating_mul(items_per_element) <= remaining)
        .ok_or(FormatError::Truncated { offset: pos })
}

/// Reads items, in order, from bytes that passed [`check_deterministic`]. Each method returns
/// `None` if the next item is not of the asked type; callers turn that into the specific claim
/// error. Strings and byte strings are borrowed from the input.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of checked bytes.
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Self { input, pos: 0 }
    }

    /// The offset of the next item in the input.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// The head of the next item if it has major type `major`; advances past the head.
    fn expect(&mut self, major: u8) -> Option<u64> {
        let h = head(self.input, self.pos).ok()?;
        if h.major != major {
            return None;
        }
        self.pos = h.content;
        Some(h.arg)
    }

    /// The content of a string item of length `len` starting at the current position.
    fn take(&mut self, len: u64) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(usize::try_from(len).ok()?)?;
        let bytes = self.input.get(self.pos..end)?;
        self.pos = end;
        Some(bytes)
    }

    /// An unsigned integer.
    pub(crate) fn uint(&mut self) -> Option<u64> {
        self.expect(0)
    }

    /// An integer that fits `i64`.
    pub(crate) fn int(&mut self) -> Option<i64> {
        let h = head(self.input, self.pos).ok()?;
        let value = match h.major {
            0 => i64::try_from(h.arg).ok()?,
            1 => -1 - i64::try_from(h.arg).ok()?,
            _ => return None,
        };
        self.pos = h.content;
        Some(value)
    }

    /// A byte string.
    pub(crate) fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = self.expect(2)?;
        self.take(len)
    }

    /// A text string (UTF-8 was checked with the rest of the input).
    pub(crate) fn text(&mut self) -> Option<&'a str> {
        let len = self.expect(3)?;
        core::str::from_utf8(self.take(len)?).ok()
    }

    /// The length of an array.
    pub(crate) fn array(&mut self) -> Option<u64> {
        self.expect(4)
    }

    /// The number of entries of a map.
    pub(crate) fn map(&mut self) -> Option<u64> {
        self.expect(5)
    }

    /// A tag number (the tagged item follows).
    pub(crate) fn tag(&mut self) -> Option<u64> {
        self.expect(6)
    }

    /// Whether the next item is `null` (consumed if so).
    pub(crate) fn null(&mut self) -> bool {
        let is_null = self.input.get(self.pos) == Some(&0xf6);
        if is_null {
            self.pos += 1;
        }
        is_null
    }
}

/// Appends the shortest-form head of major type `major` with argument `arg`.
pub(crate) fn write_head(out: &mut alloc::vec::Vec<u8>, major: u8, arg: u64) {
    let m = major << 5;
    match arg {
        0..=23 => out.push(m | arg as u8),
        24..=0xff => out.extend_from_slice(&[m | 24, arg as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend_from_slice(&(arg as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(m | 26);
            out.extend_from_slice(&(arg as u32).to_be_bytes());
        }
        _ => {
            out.push(m | 27);
            out.extend_from_slice(&arg.to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn check(hex_input: &str) -> Result<(), FormatError> {
        check_deterministic(&hex::decode(hex_input).unwrap_or_default())
    }

    #[test]
    fn accepts_deterministic_items() {
        assert_eq!(check("00"), Ok(()));
        assert_eq!(check("1818"), Ok(())); // 24 needs the 1-byte form
        assert_eq!(check("a20102206161"), Ok(())); // {1: 2, -1: "a"}
        assert_eq!(check("d28440a0f6f6"), Ok(())); // 18([h'', {}, null, null])
    }

    #[test]
    fn rejects_each_rule() {
        // 23 in the 1-byte form
        assert_eq!(
            check("1817"),
            Err(FormatError::NonMinimalEncoding { offset: 0 })
        );
        // 255 in the 2-byte form
        assert_eq!(
            check("1900ff"),
            Err(FormatError::NonMinimalEncoding { offset: 0 })
        );
        // indefinite-length array [_ 1]
        assert_eq!(
            check("9f01ff"),
            Err(FormatError::IndefiniteLength { offset: 0 })
        );
        // {1: 1, 1: 2}
        assert_eq!(
            check("a201010102"),
            Err(FormatError::DuplicateMapKey { offset: 3 })
        );
        // {2: 1, 1: 2}
        assert_eq!(
            check("a202010102"),
            Err(FormatError::UnsortedMapKeys { offset: 3 })
        );
        // {-1: 1, 1: 2}: 0x20 sorts after 0x01
        assert_eq!(
            check("a220010102"),
            Err(FormatError::UnsortedMapKeys { offset: 3 })
        );
        // two items
        assert_eq!(check("0000"), Err(FormatError::TrailingBytes { offset: 1 }));
        // byte string of 5 with 2 bytes
        assert_eq!(check("450102"), Err(FormatError::Truncated { offset: 0 }));
        // array announcing 2^32 elements
        assert_eq!(
            check("9b0000000100000000"),
            Err(FormatError::Truncated { offset: 0 })
        );
        // half float
        assert_eq!(
            check("f93c00"),
            Err(FormatError::UnsupportedCborItem { offset: 0 })
        );
        // invalid UTF-8 text
        assert_eq!(check("61ff"), Err(FormatError::InvalidUtf8 { offset: 0 }));
        // reserved additional information 28
        assert_eq!(
            check("1c"),
            Err(FormatError::UnsupportedCborItem { offset: 0 })
        );
        assert_eq!(check(""), Err(FormatError::Truncated { offset: 0 }));
    }

    #[test]
    fn unique_keys_mode_drops_only_the_order_rule() {
        let unique = |hex_input: &str| {
            check_unique_keys(&hex::decode(hex_input.replace(' ', "")).unwrap_or_default())
        };
        // {2: 1, 1: 2}: unsorted, accepted here, refused by the deterministic check.
        assert_eq!(unique("a2 0201 0102"), Ok(()));
        assert_eq!(
            check("a202010102"),
            Err(FormatError::UnsortedMapKeys { offset: 3 })
        );
        // {2: 1, 1: 2, 2: 3}: a duplicate that is not adjacent to its twin.
        assert_eq!(
            unique("a3 0201 0102 0203"),
            Err(FormatError::DuplicateMapKey { offset: 5 })
        );
        // Nested maps follow the same rule: {1: {"b": 1, "a": 2, "b": 3}}.
        assert_eq!(
            unique("a1 01 a3 616201 616102 616203"),
            Err(FormatError::DuplicateMapKey { offset: 9 })
        );
        // Every other rule still holds.
        assert_eq!(
            unique("a2 1802 01 0102"),
            Err(FormatError::NonMinimalEncoding { offset: 1 })
        );
        assert_eq!(
            unique("bf 0201 ff"),
            Err(FormatError::IndefiniteLength { offset: 0 })
        );
        assert_eq!(
            unique("a1 0201 00"),
            Err(FormatError::TrailingBytes { offset: 3 })
        );
        assert_eq!(unique("a2 0201"), Err(FormatError::Truncated { offset: 0 }));
        // At most MAX_UNORDERED_MAP_ENTRIES entries.
        let mut map = vec![0xa0 | MAX_UNORDERED_MAP_ENTRIES as u8];
        for k in 0..MAX_UNORDERED_MAP_ENTRIES as u8 {
            map.extend_from_slice(&[k, 0]);
        }
        assert_eq!(check_unique_keys(&map), Ok(()));
        map[0] += 1;
        map.extend_from_slice(&[MAX_UNORDERED_MAP_ENTRIES as u8, 0]);
        assert_eq!(
            check_unique_keys(&map),
            Err(FormatError::TooManyMapEntries {
                offset: 0,
                max: MAX_UNORDERED_MAP_ENTRIES
            })
        );
        // The deterministic check has no such limit (its keys are sorted: linear).
        assert_eq!(check_deterministic(&map), Ok(()));
    }

    #[test]
    fn reader_reads_checked_items() {
        // {1: -8, 4: h'0102', -1: "ab", -2: [null]}
        let input = hex::decode("a4012704420102206261622181f6").unwrap_or_default();
        assert_eq!(check_deterministic(&input), Ok(()));
        let mut r = Reader::new(&input);
        assert_eq!(r.map(), Some(4));
        assert_eq!((r.int(), r.int()), (Some(1), Some(-8)));
        assert_eq!((r.uint(), r.bytes()), (Some(4), Some(&[1u8, 2][..])));
        assert_eq!((r.int(), r.text()), (Some(-1), Some("ab")));
        assert_eq!(r.uint(), None); // -2 is not unsigned
        assert_eq!((r.int(), r.array(), r.null()), (Some(-2), Some(1), true));
    }

    #[test]
    fn heads_are_shortest_form() {
        for (value, encoded) in [
            (0u64, "00"),
            (23, "17"),
            (24, "1818"),
            (255, "18ff"),
            (256, "190100"),
            (65_536, "1a00010000"),
            (1 << 32, "1b0000000100000000"),
        ] {
            let mut out = alloc::vec::Vec::new();
            write_head(&mut out, 0, value);
            assert_eq!(hex::encode(&out), encoded);
            assert_eq!(check_deterministic(&out), Ok(()));
        }
    }

    #[test]
    fn rejects_deep_nesting() {
        let deep = [0x81u8; 20];
        let mut input = deep.to_vec();
        input.push(0);
        assert_eq!(
            check_deterministic(&input),
            Err(FormatError::NestingTooDeep {
                offset: MAX_DEPTH + 1
            })
        );
    }
}
