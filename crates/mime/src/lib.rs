//! Tiermail's one MIME parser.
//!
//! `mail-parser` reads each message once, at delivery or APPEND (and again
//! only for cache rows written before offsets were kept). What it finds is
//! kept in the store's cache as a [`CachedMessage`]: envelope, body
//! structure, and for every part the byte offsets of its header, body and
//! end ([`PartOffsets`]). Everything that needs MIME structure uses that:
//! BODYSTRUCTURE, the part numbers of `BODY[1.2.MIME]` and
//! `BINARY[3]` ([`section_range`], [`binary_range`]), which are then byte
//! ranges read from the message file, and [`decode`] for BINARY. So the
//! numbering a client sees in BODYSTRUCTURE is the one FETCH serves, even
//! on malformed mail. No I/O here, and no input panics: the crate is fuzzed
//! (`fuzz/fuzz_targets/fetch_sections.rs`).
//!
//! ```
//! use mail_mime::{Kind, parse, section_range};
//! let raw = b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\nhello\r\n--x--\r\n";
//! let c = parse(raw, &[]);
//! let root = c.body.as_ref().unwrap();
//! let r = section_range(root, raw.len() as u64, &[1], Kind::Whole).unwrap();
//! assert_eq!(&raw[r.start as usize..r.end as usize], b"hello");
//! ```
#![warn(missing_docs)]

mod decode;
mod error;
mod headers;
mod section;
mod structure;

pub use decode::decode;
pub use error::MimeError;
pub use headers::{fields, select_fields, values};
pub use section::{Cte, Kind, binary_range, locate, section_range};
pub use structure::{
    AddressGroup, BodyPart, CachedMessage, Envelope, EnvelopeAddress, PartOffsets, digest, parse,
};
