//! Typed reads from and writes to `ciborium` values, with the error each claim reports.

use alloc::{string::String, vec::Vec};

use ciborium::Value;

use crate::FormatError;

/// Decodes a deterministic CBOR document (checked first) into a value.
pub(crate) fn decode(bytes: &[u8]) -> Result<Value, FormatError> {
    crate::cbor_check::check_deterministic(bytes)?;
    ciborium::from_reader(bytes).map_err(|_| FormatError::Structure {
        expected: "a CBOR document",
    })
}

/// Encodes a value. ciborium writes definite lengths and shortest-form heads; callers build maps
/// with keys already in deterministic order.
pub(crate) fn encode(value: &Value) -> Result<Vec<u8>, FormatError> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).map_err(|_| FormatError::Structure {
        expected: "an encodable value",
    })?;
    Ok(out)
}

/// The entries of a map whose keys are all integers, as `(key, value)`.
pub(crate) fn int_map(name: &'static str, value: Value) -> Result<Vec<(i64, Value)>, FormatError> {
    let Value::Map(entries) = value else {
        return Err(FormatError::ClaimType {
            name,
            expected: "a map",
        });
    };
    entries
        .into_iter()
        .map(|(key, value)| {
            let key = key
                .as_integer()
                .and_then(|i| i64::try_from(i).ok())
                .ok_or(FormatError::ClaimType {
                    name,
                    expected: "a map with integer keys",
                })?;
            Ok((key, value))
        })
        .collect()
}

pub(crate) fn uint(name: &'static str, value: &Value) -> Result<u64, FormatError> {
    value
        .as_integer()
        .and_then(|i| u64::try_from(i).ok())
        .ok_or(FormatError::ClaimType {
            name,
            expected: "an unsigned integer",
        })
}

/// An unsigned integer that must fit `T` (for example a `u8` class).
pub(crate) fn small_uint<T: TryFrom<u64>>(name: &'static str, value: &Value) -> Result<T, FormatError> {
    T::try_from(uint(name, value)?).map_err(|_| FormatError::ClaimValue {
        name,
        reason: "number out of range",
    })
}

pub(crate) fn int(name: &'static str, value: &Value) -> Result<i64, FormatError> {
    value
        .as_integer()
        .and_then(|i| i64::try_from(i).ok())
        .ok_or(FormatError::ClaimType {
            name,
            expected: "an integer",
        })
}

/// A text string of 1 to `max` bytes without control characters.
pub(crate) fn text(name: &'static str, value: Value, max: usize) -> Result<String, FormatError> {
    let Value::Text(text) = value else {
        return Err(FormatError::ClaimType {
            name,
            expected: "a text string",
        });
    };
    check_text(name, &text, max)?;
    Ok(text)
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

pub(crate) fn bytes(name: &'static str, value: Value) -> Result<Vec<u8>, FormatError> {
    match value {
        Value::Bytes(bytes) => Ok(bytes),
        _ => Err(FormatError::ClaimType {
            name,
            expected: "a byte string",
        }),
    }
}

/// An array of 1 to `max` elements.
pub(crate) fn array(name: &'static str, value: Value, max: usize) -> Result<Vec<Value>, FormatError> {
    let Value::Array(items) = value else {
        return Err(FormatError::ClaimType {
            name,
            expected: "an array",
        });
    };
    if items.is_empty() || items.len() > max {
        return Err(FormatError::ClaimValue {
            name,
            reason: "wrong number of elements",
        });
    }
    Ok(items)
}

/// An array of exactly `N` elements.
pub(crate) fn tuple<const N: usize>(name: &'static str, value: Value) -> Result<[Value; N], FormatError> {
    let Value::Array(items) = value else {
        return Err(FormatError::ClaimType {
            name,
            expected: "an array",
        });
    };
    <[Value; N]>::try_from(items).map_err(|_| FormatError::ClaimValue {
        name,
        reason: "wrong number of elements",
    })
}

pub(crate) fn int_value(value: i64) -> Value {
    Value::Integer(value.into())
}

pub(crate) fn uint_value(value: u64) -> Value {
    Value::Integer(value.into())
}

/// Reads the fields of an integer-keyed map in order: `read(key, value)` is called for each
/// entry and returns `false` for a key it does not know, which is an error.
pub(crate) fn for_each_field(
    name: &'static str,
    value: Value,
    mut read: impl FnMut(i64, Value) -> Result<bool, FormatError>,
) -> Result<(), FormatError> {
    for (key, value) in int_map(name, value)? {
        if !read(key, value)? {
            return Err(FormatError::UnknownClaim { key });
        }
    }
    Ok(())
}

/// `Some(value)` or the missing-claim error.
pub(crate) fn required<T>(name: &'static str, value: Option<T>) -> Result<T, FormatError> {
    value.ok_or(FormatError::MissingClaim { name })
}
