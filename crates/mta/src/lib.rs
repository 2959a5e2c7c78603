//! The MTA library both SMTP relays use: the receiving side (an RFC 5321
//! server) and the queue on disk.
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod error;
mod metrics;
pub mod spool;

pub use error::Error;
