//! The directory's one error type.
//!
//! The distinction that matters to callers is [`DirectoryError::is_temporary`]:
//! an MTA must answer `4xx` (and an IMAP server `NO [UNAVAILABLE]`) when the
//! directory cannot be asked, never a permanent `5xx`, or mail is bounced
//! because a server was slow.

use std::time::Duration;

/// Result of a directory operation.
pub type Result<T, E = DirectoryError> = std::result::Result<T, E>;

/// Why a directory operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryError {
    /// The directory server could not be reached or the connection broke.
    #[error("directory server {server} unreachable: {reason}")]
    Unavailable {
        /// The server URL or file path.
        server: String,
        /// What went wrong, for the log.
        reason: String,
    },
    /// An operation did not finish within the configured timeout.
    #[error("directory {operation} timed out after {after:?}")]
    Timeout {
        /// What was being done (`search`, `bind`, `connect`…).
        operation: &'static str,
        /// The timeout that expired.
        after: Duration,
    },
    /// The server answered an operation with an error result.
    #[error("directory server refused {operation}: LDAP result {code} {message}")]
    Server {
        /// What was being done.
        operation: &'static str,
        /// The LDAP result code (RFC 4511 4.1.9).
        code: u32,
        /// The server's diagnostic text.
        message: String,
    },
    /// The input cannot be looked up or stored (malformed address, bad value).
    #[error("invalid {what}: {reason}")]
    InvalidInput {
        /// Which input (`address`, `uid`…).
        what: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// An entry to modify or delete does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// An entry to add exists already, or an address is taken.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// A group nests deeper than the configured limit.
    #[error("group {group} nests deeper than {limit} levels")]
    ExpansionTooDeep {
        /// The group whose expansion was stopped.
        group: String,
        /// The configured limit.
        limit: usize,
    },
    /// The file backend's data file could not be read, parsed or written.
    #[error("directory file {path}: {reason}")]
    File {
        /// The data file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The directory configuration cannot work (bad TLS files, bad password file).
    #[error("directory configuration: {0}")]
    Config(String),
}

impl DirectoryError {
    /// Whether trying again later may succeed: the caller should answer with
    /// a temporary failure (`4xx`, `NO [UNAVAILABLE]`) rather than a permanent one.
    ///
    /// Configuration and file problems count as temporary too: an operator
    /// can fix them, and bouncing mail meanwhile would lose it.
    pub fn is_temporary(&self) -> bool {
        match self {
            Self::Unavailable { .. }
            | Self::Timeout { .. }
            | Self::File { .. }
            | Self::Config(_) => true,
            // RFC 4511 4.1.9: busy (51), unavailable (52), unwillingToPerform (53),
            // adminLimitExceeded (11), timeLimitExceeded (3), other (80).
            Self::Server { code, .. } => matches!(code, 3 | 11 | 51 | 52 | 53 | 80),
            Self::InvalidInput { .. }
            | Self::NotFound(_)
            | Self::AlreadyExists(_)
            | Self::ExpansionTooDeep { .. } => false,
        }
    }

    /// The SMTP reply a relay should give when a lookup fails with this error
    /// (RFC 3463 X.4.3: directory server failure).
    pub fn smtp_reply(&self) -> (u16, &'static str) {
        if self.is_temporary() {
            (451, "4.4.3")
        } else {
            (550, "5.1.0")
        }
    }
}
