//! The MTA library both SMTP relays use: the receiving side (an RFC 5321
//! server) writing into the queue of [`mail_queue`].
//!
//! - [`SmtpServer`] plugs into [`mail_core::listener`] as a
//!   [`Handler`](mail_core::listener::Handler). It speaks SMTP with
//!   PIPELINING (RFC 2920), SIZE (RFC 1870), 8BITMIME (RFC 6152),
//!   SMTPUTF8 (RFC 6531), ENHANCEDSTATUSCODES (RFC 2034), DSN (RFC 3461),
//!   CHUNKING (RFC 3030), STARTTLS (RFC 3207) and AUTH PLAIN/LOGIN
//!   (RFC 4954, over TLS only), with timeouts (RFC 5321 4.5.3.2),
//!   per-address connection and message rate limits, and the content
//!   rules of [`mail_smtp_proto::data`] (bare LF: `554 5.6.11`).
//! - Every decision is a hook in [`policy`] that the relays implement:
//!   recipients (anti-relay, directory), sender ownership, AUTH, content
//!   filtering, and telling jobctl about new entries.
//! - Accepted mail goes into the [`mail_queue::Spool`]: one file per
//!   message and channel, fsynced and renamed into place, directory
//!   fsynced (grouped across sessions) before the `250`. Content arrives
//!   through [`mail_queue::intake`], which the LMTP server shares.
//!
//! `docs/mta-smtp.md` describes limits, hooks and the spool format for
//! operators.
//!
//! Wiring a relay:
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use async_trait::async_trait;
//! use mail_mta::{Hooks, Lookup, RecipientLookup, RelayPolicy, Route, SmtpConfig, SmtpServer};
//! use mail_queue::{Spool, SpoolConfig};
//! use mail_smtp_proto::Address;
//!
//! struct Directory;
//! #[async_trait]
//! impl RecipientLookup for Directory {
//!     async fn lookup(&self, rcpt: &Address) -> Lookup {
//!         // Ask routing and the directory; a failure is Lookup::TempFail.
//!         Lookup::Hosted(Route::new("lmtp", "store1.example.org"))
//!     }
//! }
//!
//! # async fn run(cfg: SmtpConfig, tls: Option<Arc<rustls::ServerConfig>>) -> Result<(), mail_mta::Error> {
//! let spool = Spool::open(&SpoolConfig::new("/var/spool/tiermail/inbound"))?;
//! let backlog = spool.scan().await?.entries; // submit these to jobctl
//! let policy = RelayPolicy::new(Arc::new(Directory), vec!["10.0.0.0/8".parse().unwrap()]);
//! let hooks = Hooks::new(Arc::new(policy)); // .with_notifier(jobctl), .with_authenticator(...)
//! let shutdown = mail_core::Shutdown::new();
//! let addr = SmtpServer::new(cfg, spool, hooks).serve(tls, &shutdown).await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod config;
pub mod error;
mod metrics;
pub mod policy;
mod ratelimit;
mod received;
pub mod server;
mod session;
mod trace;

pub use config::{EightBitPolicy, SmtpConfig};
pub use error::Error;
pub use mail_core::cidr::Cidr;
pub use policy::{
    AnySender, AuthVerdict, Authenticator, ClientInfo, ContentFilter, ContentRef, Credentials,
    FilterInput, FilterVerdict, Hooks, Lookup, NoFilter, NoNotifier, OwnAddressOnly, QueueNotifier,
    RcptVerdict, RecipientLookup, RecipientPolicy, RelayPolicy, Route, SenderPolicy, SenderVerdict,
};
pub use server::SmtpServer;
