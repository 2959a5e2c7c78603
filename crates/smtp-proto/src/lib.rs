//! The SMTP and LMTP wire format shared by the inbound relay, the submission
//! relay and the store's LMTP server.
//!
//! Nothing here does I/O: the server reads bytes, hands them to a
//! [`LineReader`] (commands) or a [`DataDecoder`] (message content), parses
//! lines with [`Command::parse`] and writes [`Reply`] values back. That keeps
//! every parser fuzzable on its own (`fuzz/` at the repository root, and the
//! corpus test in `tests/corpus.rs` that CI runs).
//!
//! ```
//! use mail_smtp_proto::{Command, ParseOptions};
//!
//! let cmd = Command::parse(b"MAIL FROM:<alice@example.org> SIZE=1200\r\n", &ParseOptions::default())
//!     .expect("valid command");
//! let Command::Mail(mail) = cmd else { panic!("not MAIL") };
//! assert_eq!(mail.params.size, Some(1200));
//! ```
//!
//! Errors are [`Error`] values that know the reply they deserve
//! ([`Error::reply`]), so a server never has to invent codes for bad input.
//!
//! RFCs implemented here: RFC 5321 (SMTP), RFC 2033 (LMTP), RFC 1870 (SIZE),
//! RFC 6152 (8BITMIME), RFC 3030 (CHUNKING, BINARYMIME), RFC 6531 (SMTPUTF8),
//! RFC 3461 (DSN parameters and xtext), RFC 4954 (AUTH), RFC 3207
//! (STARTTLS), RFC 2034/3463 (enhanced status codes).
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod address;
pub mod command;
pub mod data;
pub mod error;
pub mod line;
pub mod params;
pub mod reply;
pub mod xtext;

pub use address::{Address, ReversePath};
pub use command::{Command, ParseOptions};
pub use data::{DataDecoder, DataPolicy, DataStatus, DataSummary};
pub use error::Error;
pub use line::{LineReader, LineTooLong};
pub use params::{Body, MailParams, Notify, Orcpt, RcptParams, Ret};
pub use reply::{EnhancedStatus, Reply};
