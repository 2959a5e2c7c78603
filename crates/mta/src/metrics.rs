//! Counters exported through `opentelemetry::global::meter("mail-mta")`.

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram};

/// The SMTP server's counters; created once per [`crate::SmtpServer`].
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    sessions: Counter<u64>,
    messages: Counter<u64>,
    recipients: Counter<u64>,
    auth: Counter<u64>,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let meter = opentelemetry::global::meter("mail-mta");
        Self {
            sessions: meter
                .u64_counter("smtp.sessions")
                .with_description("SMTP connections by outcome: served, rate_limited")
                .build(),
            messages: meter
                .u64_counter("smtp.messages")
                .with_description("Messages by outcome: queued, rejected, tempfail, aborted")
                .build(),
            recipients: meter
                .u64_counter("smtp.recipients")
                .with_description("RCPT TO by verdict: accepted, unknown, relay_denied, tempfail, rejected, too_many")
                .build(),
            auth: meter
                .u64_counter("smtp.auth")
                .with_description("AUTH attempts by outcome: success, failure, tempfail")
                .build(),
        }
    }

    pub(crate) fn session(&self, result: &'static str) {
        self.sessions.add(1, &[KeyValue::new("result", result)]);
    }

    pub(crate) fn message(&self, result: &'static str) {
        self.messages.add(1, &[KeyValue::new("result", result)]);
    }

    pub(crate) fn recipient(&self, result: &'static str) {
        self.recipients.add(1, &[KeyValue::new("result", result)]);
    }

    pub(crate) fn auth(&self, result: &'static str) {
        self.auth.add(1, &[KeyValue::new("result", result)]);
    }
}

/// The spool's counters.
#[derive(Debug, Clone)]
pub(crate) struct SpoolMetrics {
    enqueued: Counter<u64>,
    batch: Histogram<u64>,
    dir_syncs: Counter<u64>,
}

impl SpoolMetrics {
    pub(crate) fn new() -> Self {
        let meter = opentelemetry::global::meter("mail-mta");
        Self {
            enqueued: meter
                .u64_counter("spool.enqueued")
                .with_description("Queue files made durable")
                .build(),
            batch: meter
                .u64_histogram("spool.commit_batch")
                .with_description("Requests per group commit")
                .build(),
            dir_syncs: meter
                .u64_counter("spool.dir_fsyncs")
                .with_description("Directory fsyncs done by the committer")
                .build(),
        }
    }

    pub(crate) fn enqueued(&self, n: u64) {
        self.enqueued.add(n, &[]);
    }

    pub(crate) fn batch(&self, requests: u64, dirs: u64) {
        self.batch.record(requests, &[]);
        self.dir_syncs.add(dirs, &[]);
    }
}
