//! Why the MEM could not start. Errors while serving a request become
//! HTTP answers in [`crate::problem`], never this type.

use std::path::PathBuf;

/// Why `mem` could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MemError {
    /// The certificate or the stores' CA could not be loaded.
    #[error("TLS: {0}")]
    Tls(#[from] mail_core::tls::TlsError),
    /// The directory would not open.
    #[error("directory: {0}")]
    Directory(#[from] mail_directory::DirectoryError),
    /// The proxy secret could not be read.
    #[error("{path}: {source}")]
    Secret {
        /// The secret file.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The listener would not bind.
    #[error("{0}")]
    Listen(std::io::Error),
    /// The web client's files could not be read.
    #[error("web client: {0}")]
    Web(String),
    /// A store URL in `[stores]` is unusable.
    #[error("stores: {0}")]
    Store(String),
}
