//! Typed reads of claims from checked CBOR (with the error each claim reports), and writes
//! through `ciborium` values.

use alloc::{string::String, vec::Vec};

use ciborium::Value;

use crate::cbor::{self, Reader};
use crate::FormatError;

/// Encodes a value. ciborium writes definite lengths and shortest-form heads; callers build maps
/// with keys already in deterministic order.
pub(crate) fn encode(value: &Value) -> Result<Vec<u8>, FormatError> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).map_err(|_| FormatError::Structure {
        expected: "an encodable value",
    })?;
    Ok(out)
}

pub(crate) fn int_value(value: i64) -> Value {
    Value::Integer(value.into())
}

pub(crate) fn uint_value(value: u64) -> Value {
    Value::Integer(value.into())
}

fn type_error(name: &'static str, expected: &'static str) -> FormatError {
    FormatError::ClaimType { name, expected }
}

fn wrong_count(name: &'static str) -> FormatError {
    FormatError::ClaimValue {
        name,
        reason: "wrong number of elements",
    }
}

/// Reads the fields of an integer-keyed map (the whole document `bytes`, checked first):
/// `read(key, reader)` reads the value of each entry and returns `false` for a key it does not
/// know, which is an error.
pub(crate) fn read_document(
    name: &'static str,
    bytes: &[u8],
    read: impl FnMut(i64, &mut Reader<'_>) -> Result<bool, FormatError>,
) -> Result<(), FormatError> {
    cbor::check_deterministic(bytes)?;
    read_map(name, &mut Reader::new(bytes), read)
}

/// Reads the fields of an integer-keyed map at the reader's position.
pub(crate) fn read_map<'a>(
    name: &'static str,
    r: &mut Reader<'a>,
    mut read: impl FnMut(i64, &mut Reader<'a>) -> Result<bool, FormatError>,
) -> Result<(), FormatError> {
    let entries = r.map().ok_or(type_error(name, "a map"))?;
    for _ in 0..entries {
        let key = r.int().ok_or(type_error(name, "a map with integer keys"))?;
        if !read(key, r)? {
            return Err(FormatError::UnknownClaim { key });
        }
    }
    Ok(())
}

pub(crate) fn uint(name: &'static str, r: &mut Reader<'_>) -> Result<u64, FormatError> {
    r.uint().ok_or(type_error(name, "an unsigned integer"))
}

/// An unsigned integer that must fit `T` (for example a `u8` class).
pub(crate) fn small_uint<T: TryFrom<u64>>(
    name: &'static str,
    r: &mut Reader<'_>,
) -> Result<T, FormatError> {
    T::try_from(uint(name, r)?).map_err(|_| FormatError::ClaimValue {
        name,
        reason: "number out of range",
    })
}

pub(crate) fn int(name: &'static str, r: &mut Reader<'_>) -> Result<i64, FormatError> {
    r.int().ok_or(type_error(name, "an integer"))
}

/// A text string of 1 to `max` bytes without control characters.
pub(crate) fn text(
    name: &'static str,
    r: &mut Reader<'_>,
    max: usize,
) -> Result<String, FormatError> {
    let text = r.text().ok_or(type_error(name, "a text string"))?;
    check_text(name, text, max)?;
    Ok(String::from(text))
}

/// The rules every text claim follows, checked when encoding too.
pub(crate) fn check_text(name: &'static str, text: &str, max: usize) -> Result<(), FormatError> {
    if text.is_empty() {
        return Err(FormatError::ClaimValue {
            name,
            reason: "must not be empty",
        });
    }
    if text.len() > max {
        return Err(FormatError::ClaimValue {
            name,
            reason: "too long",
        });
    }
    if text.chars().any(char::is_control) {
        return Err(FormatError::ClaimValue {
            name,
            reason: "control characters are not allowed",
        });
    }
    Ok(())
}

pub(crate) fn bytes<'a>(name: &'static str, r: &mut Reader<'a>) -> Result<&'a [u8], FormatError> {
    r.bytes().ok_or(type_error(name, "a byte string"))
}

/// The length of an array of 1 to `max` elements.
pub(crate) fn array(
    name: &'static str,
    r: &mut Reader<'_>,
    max: usize,
) -> Result<usize, FormatError> {
    let len = r.array().ok_or(type_error(name, "an array"))?;
    usize::try_from(len)
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or(wrong_count(name))
}

/// The start of an array of exactly `n` elements.
pub(crate) fn tuple(name: &'static str, r: &mut Reader<'_>, n: u64) -> Result<(), FormatError> {
    match r.array() {
        Some(len) if len == n => Ok(()),
        Some(_) => Err(wrong_count(name)),
        None => Err(type_error(name, "an array")),
    }
}

/// `Some(value)` or the missing-claim error.
pub(crate) fn required<T>(name: &'static str, value: Option<T>) -> Result<T, FormatError> {
    value.ok_or(FormatError::MissingClaim { name })
}
