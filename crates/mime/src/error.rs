//! The crate's error type.

/// Why a part cannot be served.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum MimeError {
    /// BINARY of a part whose Content-Transfer-Encoding this server cannot
    /// decode (RFC 3516 4.3: `NO [UNKNOWN-CTE]`).
    #[error("unknown Content-Transfer-Encoding {0:?}")]
    UnknownCte(String),
}
