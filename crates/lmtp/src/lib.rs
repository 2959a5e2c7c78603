//! The store's LMTP server (RFC 2033): the last hop of every message, from
//! the relays into a user's mailbox.
//!
//! It plugs into [`mail_core::listener`] as a [`Handler`](mail_core::listener::Handler)
//! ([`LmtpServer`]) and knows nothing of the store or the directory: it
//! asks a [`Mailboxes`] implementation whether a recipient lives here and
//! hands it each message with the list of accepted recipients. After the
//! final dot it sends one reply per accepted recipient, in RCPT order
//! (RFC 2033 4.2), so one full mailbox never bounces the others.
//!
//! Extensions: PIPELINING (RFC 2920), ENHANCEDSTATUSCODES (RFC 2034),
//! 8BITMIME (RFC 6152), SIZE (RFC 1870), SMTPUTF8 (RFC 6531), DSN
//! parameters carried through (RFC 3461), CHUNKING and BINARYMIME
//! (RFC 3030), STARTTLS (RFC 3207) when the listener has a certificate, and
//! `X-TRACEPARENT`: a `MAIL FROM` parameter with a W3C `traceparent` so the
//! transaction's span joins the relay's trace (see [`session`]), and
//! `X-DELIVERY-ID`: a `MAIL FROM` parameter naming the relay's queued
//! message, the same on every attempt, by which the store recognises a
//! redelivery ([`DeliveryResult::AlreadyDelivered`]). Both are ours, so a
//! relay sends them only to a server that announces them in LHLO.
//!
//! Content policy (see [`mail_smtp_proto::data`]): bare CR/LF is refused
//! with `554 5.6.11` (SMTP smuggling), NUL and lines over 998 octets with
//! `554 5.6.0`, all after the final dot, for every recipient.
//!
//! Content arrives through [`mail_queue::intake`], the code the SMTP
//! server uses too: the data timeout per read, a whole-message deadline
//! (`message_timeout`, `421 4.4.2` when it passes), BDAT chunks refused
//! with `552 5.3.4` before they are read when they would exceed
//! `max_message_size`, and the memory-then-tempfile buffer.
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod config;
pub mod error;
pub mod mailboxes;
mod metrics;
pub mod server;
pub mod session;
mod trace;

pub use config::LmtpConfig;
pub use error::Error;
pub use mailboxes::{
    DeliveryResult, Envelope, IncomingMessage, Mailboxes, MessageBody, RcptVerdict, Recipient,
    Target,
};
pub use server::LmtpServer;
