//! The job controller's error type.

/// What can go wrong in the job controller.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The state database failed.
    #[error("state database: {0}")]
    Db(#[from] rocksdb::Error),
    /// A stored record could not be decoded (a corrupt or foreign database).
    #[error("corrupt state record {key}: {source}")]
    Decode {
        /// The record's key.
        key: String,
        /// The decoder's complaint.
        source: prost::DecodeError,
    },
    /// No job has that queue id.
    #[error("no job {0}")]
    NotFound(String),
    /// The request is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The job is leased by another worker.
    #[error("job {queue_id} is leased by {holder}")]
    Leased {
        /// The job.
        queue_id: String,
        /// The worker that holds it.
        holder: String,
    },
}

impl From<Error> for tonic::Status {
    fn from(e: Error) -> Self {
        match &e {
            Error::NotFound(_) => tonic::Status::not_found(e.to_string()),
            Error::Invalid(_) => tonic::Status::invalid_argument(e.to_string()),
            Error::Leased { .. } => tonic::Status::failed_precondition(e.to_string()),
            Error::Db(_) | Error::Decode { .. } => tonic::Status::internal(e.to_string()),
        }
    }
}
