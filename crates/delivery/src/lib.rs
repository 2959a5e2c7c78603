//! The master channel programs of Tiermail's relays: the delivery side.
//!
//! A relay receives mail into its spool (`mail-queue`) and tells jobctl; the
//! workers started by [`start`] lease jobs from jobctl over gRPC (one
//! channel each), read the message and envelope from the spool, deliver,
//! record each recipient's state in the queue file durably, report to
//! jobctl, remove the file once nobody is left, and send RFC 3464 DSNs for
//! failures, delays (and successes when asked).
//!
//! Channels by [`mail_routing::ChannelKind`]:
//! - `lmtp`: LMTP (RFC 2033) to the user's store (`mailHost`), a result per
//!   recipient, PIPELINING, the trace context in `X-TRACEPARENT`;
//! - `smtp_mx`: SMTP to the Internet by MX (hickory-resolver), A/AAAA
//!   fallback, equal preferences shuffled, STARTTLS per the channel's
//!   policy, ESMTP parameters passed on;
//! - `smtp_relay`: the same SMTP client to one fixed host;
//! - `bounce`: mail routed here is returned to its sender.
//!
//! Connections are reused per destination and limited per destination
//! ([`pool`]). Every message event is a `mail_log` tracing line
//! ([`maillog`]). `docs/delivery.md` is the operator's description.
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod config;
pub mod conn;
pub mod deliver;
pub mod dns;
pub mod dsn;
pub mod error;
pub mod jobctl;
pub mod maillog;
mod metrics;
pub mod pool;
pub mod reply;
pub mod sink;
pub mod tls;
pub mod worker;

pub use config::DeliveryConfig;
pub use deliver::{AttemptResult, ChannelRuntime, Outcome, RcptResult, destination, host_for};
pub use dns::{DnsConfig, MxResolver};
pub use dsn::{Action, Dsn, DsnRecipient, DsnRequest};
pub use error::Error;
pub use jobctl::Jobctl;
pub use sink::{
    DsnSink, NewMessage, RoutedSink, channel_policy, enqueue_message, job_for, retry_policy,
    submit_job,
};
pub use worker::{Workers, delivers, start};
