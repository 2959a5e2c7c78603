//! The crate's error type: what stops a listener, ends a session early, or
//! what a [`Maildrops`](crate::Maildrops) implementation reports.

use std::net::SocketAddr;

/// Why a listener could not start, a session ended early, or a maildrop
/// could not be opened, read or committed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listening socket could not be bound.
    #[error("POP3 listener on {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Another session holds the maildrop lock: `-ERR [IN-USE]`
    /// (RFC 2449 8.1.1).
    #[error("maildrop in use by another session")]
    InUse,
    /// The store cannot serve the maildrop right now (disk, index, lock
    /// service...): `-ERR [SYS/TEMP]`. The reason is logged, not sent.
    #[error("maildrop unavailable: {0}")]
    Unavailable(String),
    /// A message of the snapshot is gone or unreadable: `-ERR` for that
    /// command only, the session goes on.
    #[error("message {uid} cannot be read: {reason}")]
    Message {
        /// Its UIDL.
        uid: String,
        /// Why.
        reason: String,
    },
    /// Reading from or writing to the client (or a message stream) failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The client said nothing within the idle timeout.
    #[error("timeout")]
    Timeout,
    /// The STLS handshake failed.
    #[error("TLS handshake: {0}")]
    Tls(std::io::Error),
}
