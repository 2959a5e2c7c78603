//! The crate's error type. Delivery *outcomes* (a refused recipient, a
//! server that is down) are not errors: they become per-recipient results
//! reported to jobctl. These are the failures of the machinery itself.

/// What can go wrong outside a delivery attempt.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The spool could not be read or updated.
    #[error("spool: {0}")]
    Spool(#[from] mail_queue::Error),
    /// jobctl could not be reached or refused a call.
    #[error("jobctl: {0}")]
    Jobctl(String),
    /// The configuration cannot be used.
    #[error("delivery config: {0}")]
    Config(String),
    /// The DNS resolver could not be set up.
    #[error("resolver: {0}")]
    Resolver(String),
    /// TLS could not be set up.
    #[error("tls: {0}")]
    Tls(String),
    /// A DSN (or another generated message) could not be routed.
    #[error("routing {address}: {reason}")]
    Route {
        /// The recipient that could not be routed.
        address: String,
        /// Why, with the SMTP reply routing would give.
        reason: String,
    },
}

impl From<tonic::Status> for Error {
    fn from(s: tonic::Status) -> Self {
        Error::Jobctl(format!("{:?}: {}", s.code(), s.message()))
    }
}
