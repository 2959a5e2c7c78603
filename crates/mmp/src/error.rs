//! The one error type of this crate: why the service could not start.
//! Failures while serving a client become protocol replies and log lines
//! where they happen ([`crate::backend::BackendError`], [`crate::route::RouteError`]).

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the MMP could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The directory would not open.
    #[error("directory: {0}")]
    Directory(#[from] mail_directory::DirectoryError),
    /// TLS files could not be loaded.
    #[error("{0}")]
    Tls(#[from] mail_core::tls::TlsError),
    /// The proxy secret could not be read.
    #[error("backend.secret_file {path}: {source}")]
    Secret {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The DNS resolver could not be built.
    #[error("backend.dns: {0}")]
    Resolver(String),
    /// A listener would not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}
