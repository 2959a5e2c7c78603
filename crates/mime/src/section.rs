//! FETCH sections as byte ranges of the message file (RFC 3501 and RFC
//! 9051 6.4.5), from the part offsets the cache keeps, so the numbering
//! is the one BODYSTRUCTURE shows.
//!
//! Part numbers: the parts of a multipart are numbered from 1; a message
//! that is not multipart has one part, 1, its body; a `message/rfc822`
//! part's sub-numbers (and its HEADER, TEXT and HEADER.FIELDS) refer to
//! the message it encapsulates, while its MIME refers to its own header.

use std::ops::Range;

use crate::structure::{BodyPart, PartOffsets};

/// What a section asks for once its part is found (the section-text of
/// RFC 3501 6.4.5; HEADER.FIELDS reads [`Kind::Header`] and filters it
/// with [`crate::select_fields`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// No section-text: the whole message, or the body of a part.
    Whole,
    /// `MIME`: the part's own header.
    Mime,
    /// `HEADER` (and `HEADER.FIELDS`): the header of the message (or of
    /// the message a `message/rfc822` part holds).
    Header,
    /// `TEXT`: the body of that message.
    Text,
}

/// The part a part path names, or `None` when there is no such part.
/// The empty path names the root.
pub fn locate<'a>(root: &'a BodyPart, path: &[u32]) -> Option<&'a BodyPart> {
    // `msg` is the message whose parts the next number counts: the top
    // level, then the message inside each message/rfc822 part walked into.
    let mut msg = Some(root);
    let mut cur = root;
    for &n in path {
        let idx = (n as usize).checked_sub(1)?;
        let container = msg.unwrap_or(cur);
        cur = if container.media_type == "multipart" {
            container.parts.get(idx)?
        } else if msg.is_some() && idx == 0 {
            container
        } else {
            return None;
        };
        msg = cur.message.as_ref().map(|m| &m.1);
    }
    Some(cur)
}

fn range(a: u64, b: u64) -> Range<u64> {
    a..b.max(a)
}

/// The byte range of `BODY[path.kind]` in a message of `len` bytes whose
/// structure is `root` (with offsets), or `None` when the section does not
/// exist (a part number too high, HEADER of a part that is no message).
pub fn section_range(root: &BodyPart, len: u64, path: &[u32], kind: Kind) -> Option<Range<u64>> {
    let clamp = |r: Range<u64>| r.start.min(len)..r.end.min(len);
    if path.is_empty() {
        let o = root.offsets?;
        return Some(clamp(match kind {
            Kind::Whole => 0..len,
            Kind::Header | Kind::Mime => range(0, o.body),
            Kind::Text => range(o.body, len),
        }));
    }
    let part = locate(root, path)?;
    let own: PartOffsets = part.offsets?;
    let inner = || part.message.as_ref().and_then(|m| m.1.offsets);
    Some(clamp(match kind {
        Kind::Whole => range(own.body, own.end),
        Kind::Mime => range(own.header, own.body),
        Kind::Header => {
            let i = inner()?;
            range(i.header, i.body)
        }
        Kind::Text => {
            let i = inner()?;
            range(i.body, own.end)
        }
    }))
}

/// A Content-Transfer-Encoding as BINARY decodes it (RFC 3516 4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cte {
    /// `7bit`, `8bit`, `binary` (or none): the bytes as they are.
    Identity,
    /// `base64`.
    Base64,
    /// `quoted-printable`.
    QuotedPrintable,
    /// Anything else: `NO [UNKNOWN-CTE]`.
    Unknown(String),
}

impl Cte {
    /// From the lower-case name [`BodyPart::encoding`] keeps.
    pub fn of(name: &str) -> Cte {
        match name.trim().to_ascii_lowercase().as_str() {
            "" | "7bit" | "8bit" | "binary" => Cte::Identity,
            "base64" => Cte::Base64,
            "quoted-printable" => Cte::QuotedPrintable,
            other => Cte::Unknown(other.to_string()),
        }
    }
}

/// Where `BINARY[path]` reads and how it decodes; `None` when the part
/// does not exist. `BINARY[]` is the whole message, undecoded.
pub fn binary_range(root: &BodyPart, len: u64, path: &[u32]) -> Option<(Range<u64>, Cte)> {
    if path.is_empty() {
        return Some((0..len, Cte::Identity));
    }
    let part = locate(root, path)?;
    // A multipart has no transfer encoding of its own (RFC 2045 6.4).
    let cte = if part.media_type == "multipart" {
        Cte::Identity
    } else {
        Cte::of(&part.encoding)
    };
    Some((section_range(root, len, path, Kind::Whole)?, cte))
}
