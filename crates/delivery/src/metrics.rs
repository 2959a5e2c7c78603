//! The delivery side's metrics, meter `mail-delivery` (Prometheus names in
//! docs/delivery.md). They count what the mail log records, so a dashboard
//! and the log agree: per-recipient results by the log's event names, the
//! time a message spent between acceptance and its delivery, how long one
//! attempt took, and the DSNs sent.
//!
//! One set per process: every worker of every channel shares it.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram};

struct Metrics {
    recipients: Counter<u64>,
    latency: Histogram<f64>,
    attempt: Histogram<f64>,
    dsns: Counter<u64>,
}

/// Seconds from well under a second (LMTP on one host) to the days a
/// deferred message may wait.
const LATENCY_BOUNDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
    3600.0, 14400.0, 86400.0,
];

/// One attempt is bounded by the client's timeouts (minutes at most).
const ATTEMPT_BOUNDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

fn metrics() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(|| {
        let meter = opentelemetry::global::meter("mail-delivery");
        Metrics {
            recipients: meter
                .u64_counter("delivery.recipients")
                .with_description(
                    "Recipient results by channel and outcome: delivered, deferred, bounced, expired",
                )
                .build(),
            latency: meter
                .f64_histogram("delivery.latency")
                .with_unit("s")
                .with_description("From acceptance by the relay to delivery, per delivered recipient, by channel")
                .with_boundaries(LATENCY_BOUNDS.to_vec())
                .build(),
            attempt: meter
                .f64_histogram("delivery.attempt.duration")
                .with_unit("s")
                .with_description("One delivery attempt (connect, transaction), by channel")
                .with_boundaries(ATTEMPT_BOUNDS.to_vec())
                .build(),
            dsns: meter
                .u64_counter("delivery.dsns")
                .with_description("DSNs queued by channel and action: failure, delay, success")
                .build(),
        }
    })
}

/// One recipient's result; `outcome` is the mail log's event name.
pub(crate) fn recipient(channel: &str, outcome: &'static str) {
    metrics().recipients.add(
        1,
        &[
            KeyValue::new("channel", channel.to_string()),
            KeyValue::new("outcome", outcome),
        ],
    );
}

/// A recipient delivered: the time since the relay accepted the message.
pub(crate) fn delivered(channel: &str, received_at: SystemTime) {
    let waited = SystemTime::now()
        .duration_since(received_at)
        .unwrap_or(Duration::ZERO);
    metrics().latency.record(
        waited.as_secs_f64(),
        &[KeyValue::new("channel", channel.to_string())],
    );
}

/// One attempt that tried at least one recipient.
pub(crate) fn attempt(channel: &str, took: Duration) {
    metrics().attempt.record(
        took.as_secs_f64(),
        &[KeyValue::new("channel", channel.to_string())],
    );
}

/// A DSN was queued.
pub(crate) fn dsn(channel: &str, action: &'static str) {
    metrics().dsns.add(
        1,
        &[
            KeyValue::new("channel", channel.to_string()),
            KeyValue::new("action", action),
        ],
    );
}
