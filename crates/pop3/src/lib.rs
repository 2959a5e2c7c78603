//! The store's POP3 server (RFC 1939): download-and-delete access to a
//! user's INBOX.
//!
//! It plugs into [`mail_core::listener`] as a
//! [`Handler`](mail_core::listener::Handler) ([`Pop3Server`]) and knows
//! nothing of the store or the directory: an [`Authenticator`] checks
//! credentials and [`Maildrops`] opens a locked snapshot of INBOX (see
//! [`maildrop`] for the life of a session on these traits).
//!
//! Implemented: USER/PASS, STAT, LIST, UIDL, RETR, TOP, DELE, RSET, NOOP,
//! QUIT (RFC 1939); CAPA with TOP, UIDL, USER, SASL, RESP-CODES,
//! AUTH-RESP-CODE, PIPELINING, EXPIRE, LOGIN-DELAY, IMPLEMENTATION and
//! STLS (RFC 2449, RFC 2595); AUTH PLAIN and LOGIN with initial response
//! (RFC 5034, RFC 4616). APOP is not offered (the greeting carries no
//! timestamp). Plaintext logins are refused before STLS unless
//! configured, like IMAP's LOGINDISABLED.
//!
//! The wire format lives in [`proto`] with no I/O; the session (module
//! `session`) is an explicit state machine: AUTHORIZATION, TRANSACTION,
//! UPDATE (RFC 1939 3).
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod config;
pub mod error;
pub mod maildrop;
mod metrics;
pub mod proto;
pub mod server;
mod session;

pub use config::Pop3Config;
pub use error::Error;
pub use maildrop::{
    Account, AuthFailure, Authenticator, Maildrop, Maildrops, MessageContent, MessageInfo,
};
pub use server::Pop3Server;
