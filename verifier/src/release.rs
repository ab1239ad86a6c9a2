//! Framework releases as a policy compares them (`spec/token.md` 5.7): a mark's framework claim
//! names the release it was assessed against ("3.0", "2.1.1", "2023"); a relying party may
//! require at least a given release.

use core::cmp::Ordering;
use core::fmt;

/// Most dot-separated numbers a release has.
pub const MAX_RELEASE_PARTS: usize = 4;

/// A release: 1 to [`MAX_RELEASE_PARTS`] decimal numbers separated by dots, each at most
/// 65535. Releases compare number by number, a missing number counting as 0 (`"4" == "4.0"`,
/// `"3.10" > "3.9"`).
#[derive(Debug, Clone, Copy)]
pub struct Release {
    parts: [u16; MAX_RELEASE_PARTS],
    len: u8,
}

impl Release {
    /// The release written `text`, or `None` if it is not one (empty, a letter, an empty
    /// number, a sign, more than 5 digits or 4 numbers, a number over 65535).
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = [0u16; MAX_RELEASE_PARTS];
        let mut len = 0;
        for part in text.split('.') {
            if len == MAX_RELEASE_PARTS
                || part.is_empty()
                || part.len() > 5
                || !part.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            parts[len] = part.parse().ok()?;
            len += 1;
        }
        Some(Self {
            parts,
            len: len as u8,
        })
    }

    /// The numbers.
    pub fn parts(&self) -> &[u16] {
        &self.parts[..usize::from(self.len)]
    }
}

impl PartialEq for Release {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Release {}

impl PartialOrd for Release {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Release {
    fn cmp(&self, other: &Self) -> Ordering {
        // Unused numbers are 0, so the arrays compare as the releases do.
        self.parts.cmp(&other.parts)
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, part) in self.parts().iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{part}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn release(text: &str) -> Release {
        Release::parse(text).unwrap()
    }

    #[test]
    fn releases_compare_number_by_number() {
        assert!(release("4.0") > release("3.0"));
        assert!(release("3.10") > release("3.9"));
        assert!(release("2.1.1") > release("2.1"));
        assert_eq!(release("4"), release("4.0.0"));
        assert!(release("2023") > release("4.0"));
        assert_eq!(release("03.1").to_string(), "3.1");
        assert_eq!(release("1.2.3.4").parts(), [1, 2, 3, 4]);
    }

    #[test]
    fn anything_else_is_not_a_release() {
        for text in [
            "",
            ".",
            "3.",
            ".3",
            "3..0",
            "v3",
            "3.0a",
            "-1",
            "+1",
            "1.2.3.4.5",
            "65536",
            "000001",
            "3 .0",
            "３",
        ] {
            assert!(Release::parse(text).is_none(), "{text:?}");
        }
        assert_eq!(release("65535").parts(), [65535]);
    }
}
