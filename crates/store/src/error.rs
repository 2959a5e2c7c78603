//! The one error type of the store library.
//!
//! Protocol servers map these to replies at the edge: LMTP turns
//! [`StoreError::OverQuotaTemporary`] into `452 4.2.2` and
//! [`StoreError::OverQuotaPermanent`] into `552 5.2.2`; IMAP turns the ACL
//! and not-found errors into `NO` responses with the matching response code.

use std::path::PathBuf;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file-system operation on the user or system area failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// RocksDB (the system area) reported an error.
    #[error("system database: {0}")]
    Db(String),
    /// A record in the system area could not be decoded; the area needs `reconstruct`.
    #[error("corrupt record {key}: {message}")]
    Corrupt {
        /// The key of the record.
        key: String,
        /// What was wrong.
        message: String,
    },
    /// The group committer stopped (the store is shutting down or a sync failed).
    #[error("commit failed: {0}")]
    Commit(String),
    /// The named partition is not configured.
    #[error("unknown partition {0:?}")]
    UnknownPartition(String),
    /// The mailbox does not exist (or the caller may not know that it does).
    #[error("mailbox {owner}:{name} does not exist")]
    MailboxNotFound {
        /// The owner of the mailbox.
        owner: String,
        /// The mailbox name.
        name: String,
    },
    /// A mailbox with that name already exists.
    #[error("mailbox {owner}:{name} already exists")]
    MailboxExists {
        /// The owner of the mailbox.
        owner: String,
        /// The mailbox name.
        name: String,
    },
    /// The mailbox name is not acceptable (empty component, too long, INBOX misuse...).
    #[error("invalid mailbox name {0:?}")]
    InvalidName(String),
    /// The mailbox has children and this store refuses to delete it (see docs/store.md).
    #[error("mailbox {0:?} has child mailboxes")]
    HasChildren(String),
    /// No message with that UID in the mailbox.
    #[error("no message with UID {0}")]
    NoSuchMessage(u32),
    /// The acting user lacks an RFC 4314 right for the operation.
    #[error("{user} lacks right {right:?} on {mailbox}")]
    PermissionDenied {
        /// Who tried.
        user: String,
        /// The missing right letter.
        right: char,
        /// The mailbox.
        mailbox: String,
    },
    /// The user is over quota and still within the grace period: retry later (LMTP 452 4.2.2).
    #[error("over quota (temporary, grace period until {until_unix_ms} ms)")]
    OverQuotaTemporary {
        /// When the grace period ends, in Unix milliseconds.
        until_unix_ms: i64,
    },
    /// The user is over quota and the grace period is over: bounce (LMTP 552 5.2.2).
    #[error("over quota (permanent)")]
    OverQuotaPermanent,
    /// An argument is out of range (empty message, bad rights string...).
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// A user export archive is truncated or malformed (see `export.rs`).
    #[error("export archive, record {record} (byte {offset}): {message}")]
    Archive {
        /// Record number: 0 is the header, then one per JSON line.
        record: u64,
        /// Bytes of the archive read before the problem.
        offset: u64,
        /// What was wrong.
        message: String,
    },
}

impl StoreError {
    /// True when the same request may succeed later, so the caller should
    /// answer with a 4xx / temporary failure rather than a bounce.
    pub fn is_temporary(&self) -> bool {
        matches!(
            self,
            StoreError::Io { .. }
                | StoreError::Db(_)
                | StoreError::Commit(_)
                | StoreError::OverQuotaTemporary { .. }
        )
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<rocksdb::Error> for StoreError {
    fn from(e: rocksdb::Error) -> Self {
        StoreError::Db(e.into_string())
    }
}

/// Shorthand used throughout the crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
