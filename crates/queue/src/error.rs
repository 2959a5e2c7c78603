//! The crate's one error type: what can fail a queue operation, or stop
//! message content from arriving whole.

use std::path::PathBuf;

/// Why the spool refused an operation, or why message content could not
/// be read from a client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading from or writing to the client failed.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// The client said nothing within the command or data timeout, or the
    /// message took longer than the whole-message deadline.
    #[error("timeout")]
    Timeout,
    /// The client closed the connection.
    #[error("connection closed by client")]
    Closed,
    /// A spool file or directory operation failed.
    #[error("spool {}: {source}", path.display())]
    Spool {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A queue file does not follow the format (see [`crate::spool`]).
    #[error("queue file {}: {why}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// The requested queue entry does not exist (already removed?).
    #[error("queue entry {channel}/{id} not found")]
    NotFound {
        /// Its channel.
        channel: String,
        /// Its queue id.
        id: String,
    },
    /// Text that is not a queue id (24 upper-case hex digits).
    #[error("invalid queue id {0:?}")]
    InvalidQueueId(String),
    /// A channel name that cannot be a directory name.
    #[error("invalid channel name {0:?}")]
    InvalidChannel(String),
    /// A recipient that is not part of the entry.
    #[error("recipient {0} is not in the queue entry")]
    UnknownRecipient(String),
    /// The group-commit thread is gone (spool closed).
    #[error("spool committer: {0}")]
    Commit(String),
}

impl Error {
    pub(crate) fn spool(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Spool {
            path: path.into(),
            source,
        }
    }
}
