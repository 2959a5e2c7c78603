//! Telling the scheduler about new queue entries.
//!
//! The SMTP server calls a [`QueueNotifier`] once a message is durable
//! and the client has its `250`; the relays implement it over jobctl's
//! gRPC API (`mail-delivery`), which needs nothing of the SMTP server,
//! so the trait lives with the queue.

use async_trait::async_trait;

use crate::spool::Envelope;

/// Told about new queue entries once they are durable and the client has
/// its `250` (the relay submits them to jobctl). Failures are the
/// notifier's to handle: the entries are safe in the spool and jobctl can
/// rebuild from [`crate::Spool::scan`].
#[async_trait]
pub trait QueueNotifier: Send + Sync + 'static {
    /// `entries`: one per channel and next hop of the message.
    async fn queued(&self, entries: &[Envelope]);
}

/// Tells no one (tests; a relay without jobctl relies on the scan).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoNotifier;

#[async_trait]
impl QueueNotifier for NoNotifier {
    async fn queued(&self, _: &[Envelope]) {}
}
