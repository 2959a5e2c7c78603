//! Generated gRPC clients and servers for Tiermail's APIs. Each package is
//! versioned (`jobctl.v1`); a breaking change makes a new version beside the
//! old one rather than changing it.
#![allow(missing_docs, clippy::all)]

/// The job controller (`proto/jobctl/v1/jobctl.proto`).
pub mod jobctl {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("jobctl.v1");
    }
}

/// The message store (`proto/store/admin/v1/admin.proto`).
pub mod store {
    /// Administration.
    pub mod admin {
        /// Version 1.
        pub mod v1 {
            tonic::include_proto!("store.admin.v1");
        }
    }
}
