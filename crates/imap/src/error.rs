//! The crate's error type: what can stop a listener. Errors inside a
//! session become `NO`/`BAD`/`BYE` responses instead (see
//! [`crate::command::store_error`]).

use std::net::SocketAddr;

/// Why the IMAP listener could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listening socket could not be bound.
    #[error("IMAP listener on {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// The underlying error.
        source: std::io::Error,
    },
}
