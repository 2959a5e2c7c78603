//! Counters exported through `opentelemetry::global::meter("mail-mta")`.

use opentelemetry::KeyValue;
use opentelemetry::metrics::Counter;

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
