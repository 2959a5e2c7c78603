//! The POP3 wire format, with no I/O: command lines in, response bytes out.
//!
//! - [`LineReader`] splits input into lines with a hard length limit, so a
//!   client cannot make the server buffer more than one line.
//! - [`Command::parse`] turns a line into a typed command (RFC 1939 3,
//!   keywords case-insensitive, arguments separated by single spaces).
//! - [`Response`] renders `+OK` / `-ERR` lines with RFC 2449 8 response
//!   codes (`[IN-USE]`, `[LOGIN-DELAY]`, `[SYS/TEMP]`, `[AUTH]`...).
//! - [`MultiLine`] encodes message content for RETR and TOP: bare LF
//!   becomes CRLF, lines starting with `.` are byte-stuffed (RFC 1939 3),
//!   TOP stops after the header and n body lines, and the terminating
//!   `.` line is added.
//! - [`sasl`] decodes the AUTH PLAIN and LOGIN exchanges (RFC 5034,
//!   RFC 4616).
//!
//! Everything here can be fed arbitrary bytes without panicking.

mod command;
mod line;
mod multiline;
mod response;
pub mod sasl;

pub use command::{Command, ParseError};
pub use line::{LineReader, LineTooLong};
pub use multiline::MultiLine;
pub use response::{RespCode, Response};
