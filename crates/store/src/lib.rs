//! The Tiermail message store engine.
//!
//! The storage the LMTP, IMAP and POP servers sit on, after the classic
//! two-area design:
//!
//! - the **user area**: per partition (one per volume), each user's folder
//!   tree under a two-level hash of the user id, each message a plain RFC
//!   5322 file, stored once per partition however many users receive it
//!   (hard links are the reference count) — see [`layout`](crate) docs in
//!   `docs/store.md`;
//! - the **system area**: RocksDB with the mailbox list, each mailbox's
//!   index (UID, size, internal date, flags, MODSEQ) and cache (envelope,
//!   body structure, chosen headers), so listing and common searches never
//!   open message files. It can be rebuilt from the user area
//!   ([`Store::reconstruct`]), snapshotted and restored.
//!
//! Deliveries are acknowledged only once durable; concurrent deliveries
//! share fsyncs through a group committer. Quotas (RFC 9208), ACLs (RFC
//! 4314, per-user `\Seen`), CONDSTORE MODSEQs and change notifications for
//! IDLE are built in.
//!
//! ```no_run
//! use mail_store::{DeliverOptions, MailboxPath, Recipient, Store, StoreConfig, UidSet};
//! # fn main() -> Result<(), mail_store::StoreError> {
//! let store = Store::open(StoreConfig::single("/var/mail"))?;
//! let results = store.deliver(b"Subject: hi\r\n\r\nhello\r\n", &[Recipient::new("alice")], &DeliverOptions::default());
//! assert!(results[0].is_ok());
//! let inbox = store.open_mailbox("alice", &MailboxPath::inbox("alice"))?;
//! let rows = store.fetch_index(&inbox, &UidSet::all(), None)?;
//! let bytes = store.read_message(&inbox, rows[0].uid)?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod acl;
mod cache;
mod changes;
mod commit;
mod config;
mod db;
mod deliver;
mod engine;
mod error;
mod export;
mod fsutil;
mod layout;
mod mailbox;
mod messages;
mod metrics;
mod quota;
mod reconstruct;
mod records;
mod redelivery;
mod sections;
mod snapshot;
mod types;

pub use acl::{ANYONE, Rights};
pub use cache::{
    AddressGroup, BodyPart, CachedMessage, Envelope, EnvelopeAddress, PartOffsets, digest,
};
pub use changes::{Expunged, MailboxCounters};
pub use config::{DefaultMailboxes, GroupCommitConfig, QuotaConfig, StoreConfig};
pub use deliver::{DeliverOptions, Delivered, Recipient};
pub use engine::Store;
pub use error::{Result, StoreError};
pub use export::{EXPORT_MAGIC, EXPORT_VERSION, ExportReport, ImportReport, parse_special_use};
pub use messages::StoreResult;
pub use quota::{QuotaLimits, QuotaUsage};
pub use reconstruct::{ReconstructReport, Scope};
pub use types::{
    CachedEntry, DELETED, FlagOp, Flags, IndexEntry, MailboxEvent, MailboxHandle, MailboxInfo,
    MailboxPath, MailboxStatus, SEEN, SpecialUse, UidSet,
};
