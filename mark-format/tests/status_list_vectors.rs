//! The Token Status List draft's StatusList encoding vectors
//! (`../shared/vectors/token-status-list/`, from draft-ietf-oauth-status-list): every vector is
//! decoded, rebuilt from the statuses the draft lists, re-encoded with zlib level 9 (the C zlib,
//! as Python's `zlib` module that made them) and compared byte for byte, and every listed entry
//! is read back with the streaming lookup.
//!
//! One generic runner over the files: the short vectors give `byte_array = [...]` and the
//! encoding; the 2^20-entry ones give their set entries in `test-vectors-section.md` as
//! `status[i] = 0b...` lines under a `## N-bit Status List` heading, with the CBOR file named by
//! the section's `{::include examples/...}` line. A section the file cuts off before its list
//! ends is a known divergence and must be named in [`INCOMPLETE_SECTIONS`] (and a named section
//! that turns out complete fails the run, so that the exception is dropped when the vectors are
//! refreshed).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use trustmark_format::status_list::{lookup, CompressedStatusList, MAX_LIST_BYTES};
use trustmark_format::{FormatError, StatusList};

/// Sections of `test-vectors-section.md` whose list of statuses is cut off in our copy:
/// (bits, CBOR file, why). For these only the listed entries are checked against the decoded
/// list, and the re-encoding starts from the decoded bytes.
const INCOMPLETE_SECTIONS: &[(u8, &str, &str)] = &[(
    8,
    "status_list_encoding8_cbor.md",
    "the copy of test-vectors-section.md ends after 115 of the 8-bit section's assignments \
     (the draft assigns the values 0..=255), without its closing fence or CBOR include",
)];

/// Entries in each of the draft's long lists ("All examples are initialized with a size of
/// 2^20 entries").
const LONG_LIST_ENTRIES: usize = 1 << 20;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/token-status-list")
}

fn read(name: &str) -> String {
    let path = dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The hex digits of a vector file (or of the part after `encoded:`), whitespace removed.
fn hex_of(text: &str) -> Vec<u8> {
    let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(&digits).unwrap_or_else(|e| panic!("hex: {e}: {digits}"))
}

/// zlib at level 9 from the C library (flate2's libz-sys backend).
fn zlib9(data: &[u8]) -> Vec<u8> {
    let mut z = flate2::Compress::new(flate2::Compression::new(9), true);
    let mut out = Vec::with_capacity(data.len() + data.len() / 1000 + 64);
    match z.compress_vec(data, &mut out, flate2::FlushCompress::Finish) {
        Ok(flate2::Status::StreamEnd) => out,
        other => panic!("zlib: {other:?}"),
    }
}

/// miniz_oxide (flate2's default Rust backend) at level 9.
fn miniz9(data: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec_zlib(data, 9)
}

/// zlib-rs (flate2's `zlib-rs` backend) at level 9.
fn zlib_rs9(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; zlib_rs::compress_bound(data.len())];
    let (written, rc) = zlib_rs::compress_slice(&mut out, data, zlib_rs::DeflateConfig::new(9));
    assert_eq!(rc, zlib_rs::ReturnCode::Ok);
    written.to_vec()
}

/// The `lst` of a StatusList in CBOR.
fn lst_of(cbor: &[u8]) -> Vec<u8> {
    CompressedStatusList::from_cbor(cbor)
        .unwrap_or_else(|e| panic!("{e}"))
        .compressed()
        .to_vec()
}

/// `"bits"` and the base64url `"lst"` of a `*_json.md` vector (the long ones wrap the string
/// over several lines).
fn json_vector(name: &str) -> (u8, Vec<u8>) {
    use base64::Engine;
    let text = read(name);
    let after = |key: &str| {
        let at = text.find(key).unwrap_or_else(|| panic!("{name}: no {key}"));
        &text[at + key.len()..]
    };
    let bits_text = after("\"bits\":");
    let bits: String = bits_text
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let lst_text = after("\"lst\":").trim_start().trim_start_matches('"');
    let end = lst_text.find('"').unwrap_or_else(|| panic!("{name}: lst"));
    let b64: String = lst_text[..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let lst = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&b64)
        .unwrap_or_else(|e| panic!("{name}: base64url: {e}"));
    (
        bits.parse().unwrap_or_else(|e| panic!("{name}: bits: {e}")),
        lst,
    )
}

/// What a vector says the list holds.
enum Content {
    /// The whole byte array.
    Bytes(Vec<u8>),
    /// Entries set in a list of `len` entries; every other entry is 0. `complete` is false
    /// when the file's list of entries is cut off.
    Entries {
        len: usize,
        set: BTreeMap<usize, u8>,
        complete: bool,
    },
}

struct Vector {
    name: String,
    bits: u8,
    content: Content,
    cbor_file: String,
    json_file: String,
}

/// The short vectors: `byte_array = [0x.., ...]`, then `encoded:` and the hex.
fn short_vector(cbor_file: &str, json_file: &str) -> Vector {
    let text = read(cbor_file);
    let array = text
        .split_once('[')
        .and_then(|(_, rest)| rest.split_once(']'))
        .unwrap_or_else(|| panic!("{cbor_file}: no byte_array"))
        .0;
    let bytes = array
        .split(',')
        .map(|b| {
            let b = b.trim().trim_start_matches("0x");
            u8::from_str_radix(b, 16).unwrap_or_else(|e| panic!("{cbor_file}: {b}: {e}"))
        })
        .collect();
    let (bits, _) = json_vector(json_file);
    Vector {
        name: cbor_file.to_string(),
        bits,
        content: Content::Bytes(bytes),
        cbor_file: cbor_file.to_string(),
        json_file: json_file.to_string(),
    }
}

/// The long vectors from `test-vectors-section.md`.
fn long_vectors() -> Vec<Vector> {
    let text = read("test-vectors-section.md");
    let mut vectors = Vec::new();
    for section in text.split("\n## ").skip(1) {
        let heading = section.lines().next().unwrap_or_default();
        let bits: u8 = heading
            .split('-')
            .next()
            .and_then(|b| b.parse().ok())
            .unwrap_or_else(|| panic!("heading {heading:?}"));
        let mut set = BTreeMap::new();
        for line in section.lines().filter(|l| l.starts_with("status[")) {
            let (index, value) = line
                .strip_prefix("status[")
                .and_then(|l| l.split_once(']'))
                .map(|(i, rest)| (i, rest.trim().trim_start_matches('=').trim()))
                .unwrap_or_else(|| panic!("line {line:?}"));
            let index: usize = index.parse().unwrap_or_else(|e| panic!("{line}: {e}"));
            let value = u8::from_str_radix(value.trim_start_matches("0b"), 2)
                .unwrap_or_else(|e| panic!("{line}: {e}"));
            assert!(
                set.insert(index, value).is_none(),
                "{line}: index given twice"
            );
        }
        let include = |kind: &str| {
            section.lines().find_map(|l| {
                l.trim()
                    .strip_prefix("{::include examples/")
                    .and_then(|f| f.strip_suffix('}'))
                    .filter(|f| f.ends_with(kind))
                    .map(str::to_string)
            })
        };
        let exception = INCOMPLETE_SECTIONS.iter().find(|(b, _, _)| *b == bits);
        let (cbor_file, complete) = match (include("_cbor.md"), exception) {
            (Some(file), None) => (file, true),
            (None, Some((_, file, _))) => (file.to_string(), false),
            (Some(_), Some((_, _, why))) => panic!(
                "{bits}-bit section is complete now: drop it from INCOMPLETE_SECTIONS ({why})"
            ),
            (None, None) => panic!(
                "{bits}-bit section has no CBOR include: the file is cut off; add it to \
                 INCOMPLETE_SECTIONS if that is expected"
            ),
        };
        let json_file = cbor_file.replace("_cbor.md", "_json.md");
        vectors.push(Vector {
            name: format!("{bits}-bit 2^20 list ({cbor_file})"),
            bits,
            content: Content::Entries {
                len: LONG_LIST_ENTRIES,
                set,
                complete,
            },
            cbor_file,
            json_file,
        });
    }
    vectors
}

fn all_vectors() -> Vec<Vector> {
    let mut vectors = vec![
        short_vector(
            "status_list_encoding_cbor.md",
            "status_list_encoding_json.md",
        ),
        short_vector(
            "status_list_encoding2_cbor.md",
            "status_list_encoding2_json.md",
        ),
    ];
    vectors.extend(long_vectors());
    vectors
}

/// The expected CBOR of a vector file: the hex after `encoded:` in the short files, the whole
/// file in the long ones.
fn expected_cbor(file: &str) -> Vec<u8> {
    let text = read(file);
    match text.split_once("encoded:") {
        Some((_, hex)) => hex_of(hex),
        None => hex_of(&text),
    }
}

/// Which encoders reproduce each vector byte for byte (C zlib must; the others are recorded).
struct Reproduced {
    name: String,
    miniz: bool,
    zlib_rs: bool,
}

fn run(v: &Vector) -> Reproduced {
    let expected = expected_cbor(&v.cbor_file);
    // Decoding: the vector decodes, with our default budget, to the list it says.
    let decoded = StatusList::from_cbor(&expected, MAX_LIST_BYTES)
        .unwrap_or_else(|e| panic!("{}: decode: {e}", v.name));
    assert_eq!(decoded.bits(), v.bits, "{}: bits", v.name);
    let (json_bits, json_lst) = json_vector(&v.json_file);
    assert_eq!(json_bits, v.bits, "{}: JSON bits", v.name);
    assert_eq!(
        json_lst,
        lst_of(&expected),
        "{}: JSON and CBOR lst differ",
        v.name
    );

    let source = match &v.content {
        Content::Bytes(bytes) => {
            assert_eq!(decoded.as_bytes(), bytes.as_slice(), "{}", v.name);
            for i in 0..decoded.len() {
                assert_eq!(lookup(&expected, i).ok(), decoded.get(i), "{}[{i}]", v.name);
            }
            StatusList::from_bytes(v.bits, bytes.clone()).unwrap_or_else(|e| panic!("{e}"))
        }
        Content::Entries { len, set, complete } => {
            assert_eq!(decoded.len(), *len, "{}: entries", v.name);
            for (index, value) in set {
                assert_eq!(decoded.get(*index), Some(*value), "{}[{index}]", v.name);
                assert_eq!(lookup(&expected, *index), Ok(*value), "{}[{index}]", v.name);
            }
            let mut built = StatusList::new(v.bits, *len).unwrap_or_else(|e| panic!("{e}"));
            for (index, value) in set {
                built.set(*index, *value).unwrap_or_else(|e| panic!("{e}"));
            }
            if *complete {
                // Nothing but the listed entries is set.
                assert_eq!(decoded, built, "{}: unlisted entries set", v.name);
                built
            } else {
                let nonzero = (0..decoded.len())
                    .filter(|i| decoded.get(*i) != Some(0))
                    .count();
                println!(
                    "{}: {} entries listed in our copy, {nonzero} non-zero entries in the \
                     vector; re-encoding the decoded bytes",
                    v.name,
                    set.len()
                );
                decoded.clone()
            }
        }
    };
    assert_eq!(
        lookup(&expected, decoded.len()),
        Err(FormatError::StatusIndexOutOfRange {
            index: decoded.len() as u64,
            len: decoded.len() as u64
        }),
        "{}",
        v.name
    );
    // Encoding: byte for byte with the C zlib at level 9.
    let ours = source.to_cbor(zlib9);
    assert_eq!(
        hex::encode(&ours),
        hex::encode(&expected),
        "{}: encoding",
        v.name
    );
    Reproduced {
        name: v.name.clone(),
        miniz: source.to_cbor(miniz9) == expected,
        zlib_rs: source.to_cbor(zlib_rs9) == expected,
    }
}

#[test]
fn draft_status_list_vectors() {
    let vectors = all_vectors();
    // Two short vectors and the four 2^20-entry lists (1, 2, 4, 8 bits).
    assert_eq!(vectors.len(), 6);
    let mut bits: Vec<u8> = vectors.iter().skip(2).map(|v| v.bits).collect();
    bits.sort_unstable();
    assert_eq!(bits, [1, 2, 4, 8]);
    println!("vector: reproduced by miniz_oxide level 9 / zlib-rs level 9");
    for v in &vectors {
        let r = run(v);
        println!("{}: {} / {}", r.name, r.miniz, r.zlib_rs);
    }
}
