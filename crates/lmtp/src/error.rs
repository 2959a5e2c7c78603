//! The crate's error type: what can stop a listener. A session's I/O and
//! content errors are [`mail_queue::Error`]s, logged and turned into
//! replies where they happen.

use std::net::SocketAddr;

/// Why a listener could not start.
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
}
