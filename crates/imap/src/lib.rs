//! The store's IMAP server (RFC 3501 IMAP4rev1, RFC 9051 IMAP4rev2 and
//! extensions, see `docs/imap.md`).
//!
//! [`ImapServer`] is a [`mail_core::listener::Handler`]: the listener does
//! accept, TLS and limits; each connection becomes a [`session`] — an
//! explicit state machine (not authenticated, authenticated, selected,
//! logout) fed with commands parsed by `mail-imap-proto`. Commands live in
//! one file each under [`command`]; they talk to the message store
//! (`mail-store`) on tokio's blocking pool and authenticate through the
//! directory (`mail-directory`).
//!
//! Sessions on the same mailbox see each other's changes through the
//! store's change notifications ([`mail_store::Store::watch`]): new mail
//! becomes `EXISTS`, flag changes `FETCH`, expunges `EXPUNGE` (or
//! `VANISHED` with QRESYNC), sent at the points RFC 3501 7 allows and at
//! once during IDLE.
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod command;
mod compress;
pub mod config;
mod convert;
pub mod error;
mod metrics;
mod server;
pub mod session;
pub(crate) mod thread;
mod view;

pub use config::ImapConfig;
pub use error::Error;
pub use server::{ImapServer, LoginPolicy};
