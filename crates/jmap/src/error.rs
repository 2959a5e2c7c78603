//! The crate's error type: what can stop the JMAP service from starting.

/// Why the JMAP service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listener would not bind.
    #[error("jmap: {0}")]
    Listen(#[from] std::io::Error),
    /// A TLS file (listener or relay CA) could not be loaded.
    #[error("jmap: {0}")]
    Tls(#[from] mail_core::tls::TlsError),
    /// The relay submission secret could not be read.
    #[error("http.submission.secret_file: {0}")]
    Secret(std::io::Error),
}
