//! The spool's counters, exported through
//! `opentelemetry::global::meter("mail-queue")`.

use opentelemetry::metrics::{Counter, Histogram};

/// The spool's counters; created once per [`crate::Spool`].
#[derive(Debug, Clone)]
pub(crate) struct SpoolMetrics {
    enqueued: Counter<u64>,
    batch: Histogram<u64>,
    dir_syncs: Counter<u64>,
}

impl SpoolMetrics {
    pub(crate) fn new() -> Self {
        let meter = opentelemetry::global::meter("mail-queue");
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
