//! The registry's typed ids. Each is 16 bytes written as 32 lowercase hex digits: random for
//! certifiers and assessments, the first 16 bytes of SHA-256 over the token for marks
//! (`spec/api.md` 3). An id is checked where it enters (a URL path, a stored record): a string
//! of any other form is never looked up or stored, and one kind of id cannot be passed where
//! another is expected.

use core::fmt;

/// Why a string is not an id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} id {text:?}: not 32 lowercase hex digits")]
pub struct IdError {
    /// Which kind of id.
    pub what: &'static str,
    /// The text (cut to 64 characters).
    pub text: String,
}

/// Whether `text` is 32 lowercase hex digits.
fn is_id(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

macro_rules! registry_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The id written as `text`, if it is 32 lowercase hex digits.
            pub fn parse(text: &str) -> Result<Self, IdError> {
                if is_id(text) {
                    Ok(Self(text.to_owned()))
                } else {
                    Err(IdError {
                        what: $what,
                        text: text.chars().take(64).collect(),
                    })
                }
            }

            /// The id of 16 bytes.
            pub fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(hex::encode(bytes))
            }

            /// The 32 hex digits.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;

            fn try_from(text: String) -> Result<Self, IdError> {
                if is_id(&text) {
                    Ok(Self(text))
                } else {
                    Self::parse(&text)
                }
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
    };
}

registry_id!(
    /// A certifier (a test lab, or a manufacturer assessing itself).
    CertifierId,
    "certifier"
);
registry_id!(
    /// A stored assessment.
    AssessmentId,
    "assessment"
);
registry_id!(
    /// An issued mark: the first 16 bytes of SHA-256 over its token.
    MarkId,
    "mark"
);

impl MarkId {
    /// The id of the mark whose token is `token`.
    pub fn of_token(token: &[u8]) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, token);
        let mut bytes = [0; 16];
        bytes.copy_from_slice(&digest.as_ref()[..16]);
        Self::from_bytes(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_32_lowercase_hex_digits_where_they_enter() {
        let text = "0123456789abcdef0123456789abcdef";
        assert_eq!(MarkId::parse(text).unwrap().as_str(), text);
        for bad in [
            "",
            "0123456789ABCDEF0123456789ABCDEF",
            "0123456789abcdef0123456789abcde",
            "0123456789abcdef0123456789abcdef0",
            "../../../../../../../../etc/pass",
        ] {
            assert_eq!(
                CertifierId::parse(bad).unwrap_err().to_string(),
                format!("certifier id {bad:?}: not 32 lowercase hex digits")
            );
        }
        // Stored records fail closed on an id of another form.
        let stored: Result<AssessmentId, _> = serde_json::from_str(r#""c1""#);
        assert_eq!(
            stored.unwrap_err().to_string(),
            r#"assessment id "c1": not 32 lowercase hex digits"#
        );
        let id = CertifierId::from_bytes([0xab; 16]);
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            format!("\"{}\"", "ab".repeat(16))
        );
        assert_eq!(
            serde_json::from_str::<CertifierId>(&serde_json::to_string(&id).unwrap()).unwrap(),
            id
        );
    }

    #[test]
    fn a_mark_id_is_the_head_of_the_token_hash() {
        // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
        assert_eq!(
            MarkId::of_token(b"abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223"
        );
    }
}
