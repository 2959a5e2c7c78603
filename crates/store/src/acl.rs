//! RFC 4314 access rights.
//!
//! Rights are a bit set over the letters `lrswipkxtea`. The obsolete RFC 2086
//! letters are accepted on input: `c` means `k` and `d` means `xte`
//! (RFC 4314 2.1.1). The owner of a mailbox always has every right, so a
//! user cannot lock themself out of their own tree.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};

const LETTERS: &str = "lrswipkxtea";

/// The identifier RFC 4314 uses for "every authenticated user".
pub const ANYONE: &str = "anyone";

/// A set of RFC 4314 rights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Rights(u16);

impl Rights {
    /// No right.
    pub const NONE: Rights = Rights(0);
    /// Every right (what the owner has).
    pub const ALL: Rights = Rights((1 << 11) - 1);

    /// Parses a rights string such as `lrs` (legacy `c`/`d` accepted).
    pub fn parse(s: &str) -> Result<Self> {
        let mut bits = 0u16;
        for c in s.chars() {
            match c {
                'c' => bits |= Self::bit('k'),
                'd' => bits |= Self::bit('x') | Self::bit('t') | Self::bit('e'),
                _ => match LETTERS.find(c) {
                    Some(i) => bits |= 1 << i,
                    None => return Err(StoreError::Invalid(format!("unknown right {c:?}"))),
                },
            }
        }
        Ok(Rights(bits))
    }

    fn bit(c: char) -> u16 {
        LETTERS.find(c).map_or(0, |i| 1 << i)
    }

    /// True if the right letter is granted.
    pub fn has(self, c: char) -> bool {
        let b = Self::bit(c);
        b != 0 && self.0 & b == b
    }

    /// Union.
    pub fn union(self, other: Rights) -> Rights {
        Rights(self.0 | other.0)
    }

    /// True when nothing is granted.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Rights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in LETTERS.chars().enumerate() {
            if self.0 & (1 << i) != 0 {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

impl Serialize for Rights {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Rights {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Rights::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        let r = Rights::parse("rl").unwrap();
        assert_eq!(r.to_string(), "lr");
        assert!(Rights::parse("d").unwrap().has('t'));
        assert!(Rights::parse("z").is_err());
        assert_eq!(Rights::ALL.to_string(), LETTERS);
    }
}
