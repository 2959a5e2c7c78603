//! What an SMTP session and an LMTP session both do while a message comes
//! in, written once.
//!
//! The two protocols differ in their hello command, their recipients'
//! fate (queue or mailbox) and LMTP's reply per recipient (RFC 2033 4.2);
//! everything between a command line and a finished message body is the
//! same, and had drifted apart when each server kept its own copy (LMTP
//! had no whole-message deadline and took an oversized BDAT chunk whole
//! before refusing it). So both sessions keep their own state machine and
//! commands, and use this module for:
//!
//! - [`Wire`]: the line reader, the reply queue flushed before each read
//!   (PIPELINING, RFC 2920 3), the command, data (RFC 5321 4.5.3.2.5-7)
//!   and whole-message timeouts, the STARTTLS handshake (RFC 3207 6:
//!   input buffered before it is dropped).
//! - [`Incoming`]: one message's content in progress: the DATA or BDAT
//!   decoder, the [`MessageBuffer`](crate::MessageBuffer) (memory, then a
//!   temporary file) and the deadline the whole message must meet, so a
//!   client trickling one byte before each data timeout cannot hold a
//!   session for ever.
//! - BDAT (RFC 3030 2) with early size refusal: [`Wire::bdat_chunk`]
//!   refuses a chunk that would take the message past the size limit
//!   with `552 5.3.4` before reading it, then reads and drops its octets
//!   (they must not be taken for commands).
//! - [`answers`]: the replies to RSET, NOOP, VRFY, HELP and STARTTLS.
//!
//! Why here and not in `mail-smtp-proto`: that crate does no I/O (it is
//! fuzzed alone); this reads sockets and writes temporary files. Why not
//! a crate of its own: it is the front of the queue (content goes from
//! [`Incoming`] straight into [`Spool::enqueue`](crate::Spool::enqueue)),
//! it is small, and both servers already depend on this crate for the
//! buffer.

pub mod answers;
mod incoming;
mod wire;

pub use incoming::Incoming;
pub use wire::{Chunk, Input, Timeouts, Wire};
