//! Tiermail's queue: where a message waits between the relay that
//! accepted it and the delivery worker that sends it on, and how its
//! content gets there.
//!
//! - [`spool`]: the durable on-disk queue. One file per message and
//!   channel, envelope first ([`spool::envelope`] has the format),
//!   fsynced and renamed into place, the directory fsynced (grouped
//!   across sessions) before [`Spool::enqueue`] returns, so a `250` sent
//!   after it is never lost to a crash; recipient states updated in
//!   place; [`Spool::scan`] rebuilds the backlog at startup.
//! - [`buffer`]: a message while it is received, in memory and then in a
//!   temporary file ([`MessageBuffer`], [`MessageBody`]).
//! - [`intake`]: what SMTP and LMTP sessions share while content comes
//!   in: the line reader and reply queue, the data and whole-message
//!   deadlines, BDAT with early size refusal, the common replies.
//! - [`QueueNotifier`]: how the SMTP server tells jobctl of new entries.
//!
//! The SMTP server (`mail-mta`) writes into the spool; the relays
//! (`mail-relay`) open and scan it; the delivery workers
//! (`mail-delivery`) read, mark and remove entries; the LMTP server
//! (`mail-lmtp`) uses the buffer and the intake. None of them needs
//! another's crate for the queue.
//!
//! ```no_run
//! use mail_queue::{Content, Envelope, QueuedRecipient, Spool, SpoolConfig};
//!
//! # async fn run() -> Result<(), mail_queue::Error> {
//! let spool = Spool::open(&SpoolConfig::new("/var/spool/tiermail/inbound"))?;
//! let backlog = spool.scan().await?.entries; // submit these to jobctl
//! let env = Envelope::new(
//!     spool.next_id(),
//!     "lmtp",
//!     "store1.example.org",
//!     "bob@example.net",
//!     vec![QueuedRecipient::new("alice@example.org")],
//! );
//! let queued = spool
//!     .enqueue(vec![env], b"Received: ...\r\n".to_vec(), Content::Bytes(b"Subject: hi\r\n\r\nhi\r\n".to_vec()))
//!     .await?; // durable now
//! # let _ = (backlog, queued); Ok(()) }
//! ```
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod buffer;
pub mod error;
pub mod intake;
mod metrics;
mod notify;
pub mod spool;

pub use buffer::{ContentRef, MessageBody, MessageBuffer};
pub use error::Error;
pub use notify::{NoNotifier, QueueNotifier};
pub use spool::{
    ClientRecord, Content, Entry, Envelope, MarkOutcome, QueueId, QueuedRecipient, RcptState,
    ScanReport, Spool, SpoolConfig, valid_channel,
};
