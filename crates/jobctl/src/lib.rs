//! The job controller (source document: "The Job Controller").
//!
//! Relays spool each accepted message to disk and tell `jobctl` about it
//! (`Submit`). Delivery workers, the master channel programs inside the
//! relays, lease jobs for their channel and report a result per recipient.
//! `jobctl` keeps what a queue manager needs and nothing more: which jobs
//! wait on which channel, in what order (priority first, new mail ahead of
//! the deferred backlog), when each deferred job is due again (the channel's
//! retry schedule, which each job carries from the relay), how long a job may live before its recipients bounce,
//! the attempt history, and which workers are busy or idle since when.
//!
//! The message files stay with the relay that accepted them; `jobctl` holds
//! only envelopes. Its state is in RocksDB and the in-memory schedule is
//! rebuilt from it on start, so a restart loses nothing: leases that were
//! out when it stopped simply become ready again (a worker that was midway
//! reports to a job that is ready, which is accepted).
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod config;
pub mod error;
pub mod retry;
pub mod schedule;
pub mod server;
pub mod state;

pub use config::{ChannelPolicy, JobctlConfig};
pub use error::Error;
pub use retry::Retry;
pub use server::JobController;
