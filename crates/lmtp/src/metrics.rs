//! Counters exported through `opentelemetry::global::meter("mail-lmtp")`.

use opentelemetry::KeyValue;
use opentelemetry::metrics::Counter;

/// The server's counters; created once per [`crate::LmtpServer`].
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    sessions: Counter<u64>,
    messages: Counter<u64>,
    recipients: Counter<u64>,
    deliveries: Counter<u64>,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let meter = opentelemetry::global::meter("mail-lmtp");
        Self {
            sessions: meter
                .u64_counter("lmtp.sessions")
                .with_description("LMTP connections served")
                .build(),
            messages: meter
                .u64_counter("lmtp.messages")
                .with_description("Messages by outcome: delivered (to at least one recipient), rejected, aborted")
                .build(),
            recipients: meter
                .u64_counter("lmtp.recipients")
                .with_description("RCPT TO by verdict: accepted, unknown, elsewhere, inactive, tempfail, too_many")
                .build(),
            deliveries: meter
                .u64_counter("lmtp.deliveries")
                .with_description("Per-recipient delivery results: delivered, tempfail, permfail")
                .build(),
        }
    }

    pub(crate) fn session(&self) {
        self.sessions.add(1, &[]);
    }

    pub(crate) fn message(&self, result: &'static str) {
        self.messages.add(1, &[KeyValue::new("result", result)]);
    }

    pub(crate) fn recipient(&self, result: &'static str) {
        self.recipients.add(1, &[KeyValue::new("result", result)]);
    }

    pub(crate) fn delivery(&self, result: &'static str) {
        self.deliveries.add(1, &[KeyValue::new("result", result)]);
    }
}
