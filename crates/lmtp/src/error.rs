//! The crate's error type: what can end a session or stop a listener.

use std::net::SocketAddr;

/// Why a listener could not start or a session ended early.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listening socket could not be bound.
    #[error("LMTP listener on {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Reading from or writing to the client failed.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// The client said nothing within the command or data timeout.
    #[error("timeout")]
    Timeout,
    /// The client closed the connection.
    #[error("connection closed by client")]
    Closed,
    /// The STARTTLS handshake failed.
    #[error("TLS handshake: {0}")]
    Tls(std::io::Error),
}
