//! The IMAP wire format (RFC 3501 IMAP4rev1, RFC 9051 IMAP4rev2 and the
//! extensions the store's IMAP server offers), with no I/O.
//!
//! The server appends bytes it read to a buffer and calls
//! [`parse_command`]. The answer says whether a whole command is there
//! ([`Parsed::Complete`]), more bytes are needed ([`Parsed::Incomplete`]),
//! or the client announced a literal ([`Parsed::NeedLiteral`]) — so the
//! server can send `+ Ready` for a synchronizing literal, and refuse one
//! larger than [`ParseOptions::max_literal`] before a byte of it is read.
//! Errors carry the tag when one could be read, so the answer can be
//! `TAG BAD <text>`.
//!
//! ```
//! use mail_imap_proto::{parse_command, CommandBody, ParseOptions, Parsed};
//!
//! let opts = ParseOptions::default();
//! let Parsed::Complete { command, consumed } =
//!     parse_command(b"a1 SELECT INBOX (CONDSTORE)\r\n", &opts).expect("valid")
//! else { panic!("incomplete") };
//! assert_eq!(command.tag, "a1");
//! assert_eq!(consumed, 29);
//! assert!(matches!(command.body, CommandBody::Select { .. }));
//! ```
//!
//! Responses are built with the helpers in [`response`], which pick quoted
//! strings or literals safely ([`response::write_string`]).
//!
//! Bounds: a line without CRLF is at most [`ParseOptions::max_line`] bytes,
//! parentheses nest at most [`ParseOptions::max_depth`] deep (the parser is
//! recursive only up to that depth), and a literal is at most
//! [`ParseOptions::max_literal`] bytes.
//!
//! RFCs: 3501, 9051, 2177 (IDLE), 2342 (NAMESPACE), 2971 (ID), 3348/9051
//! (CHILDREN), 3516 (BINARY), 4314 (ACL), 4315 (UIDPLUS), 4731 (ESEARCH),
//! 4959 (SASL-IR), 4978 (COMPRESS), 5161 (ENABLE), 5182 (SEARCHRES), 5256
//! (SORT, THREAD), 5258 (LIST-EXTENDED), 5819 (LIST-STATUS), 6154
//! (SPECIAL-USE), 6851 (MOVE), 7162 (CONDSTORE, QRESYNC), 7888 (LITERAL+),
//! 7889 (APPENDLIMIT), 8438 (STATUS=SIZE), 9208 (QUOTA), 3502 (MULTIAPPEND).
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod command;
mod cursor;
pub mod date;
pub mod error;
mod frame;
pub mod mailbox;
pub mod response;
pub mod sequence;

pub use command::{
    AppendMessage, Command, CommandBody, FetchAttr, FetchItems, FetchModifiers, ListCommand,
    ListReturn, SearchKey, SearchReturn, Section, SectionText, SelectParams, SortCriterion,
    SortKey, StatusItem, StoreMode, ThreadAlgorithm,
};
pub use date::{Date, DateTime};
pub use error::{ErrorKind, ParseError};
pub use frame::{ParseOptions, Parsed, parse_command, parse_line};
pub use mailbox::{MailboxName, decode_mailbox, encode_mailbox, mutf7_decode, mutf7_encode};
pub use sequence::{SeqNum, SeqRange, SequenceSet};
