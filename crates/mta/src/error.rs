//! The crate's one error type: what can stop a listener. A session's
//! I/O, content and queueing errors are [`mail_queue::Error`]s, logged and
//! turned into replies where they happen.

use std::net::SocketAddr;

/// Why a listener could not start (or a spool it needs could not open).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listening socket could not be bound.
    #[error("SMTP listener on {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A queue operation failed (see [`mail_queue::Error`]).
    #[error(transparent)]
    Queue(#[from] mail_queue::Error),
}
