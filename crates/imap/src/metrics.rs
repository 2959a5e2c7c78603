//! Counters exported through `opentelemetry::global::meter("mail-imap")`.

use opentelemetry::KeyValue;
use opentelemetry::metrics::Counter;

/// The server's counters; created once per [`crate::ImapServer`].
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    sessions: Counter<u64>,
    commands: Counter<u64>,
    logins: Counter<u64>,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let meter = opentelemetry::global::meter("mail-imap");
        Self {
            sessions: meter.u64_counter("imap.sessions").with_description("IMAP connections served").build(),
            commands: meter
                .u64_counter("imap.commands")
                .with_description("Commands by name and result (ok, no, bad)")
                .build(),
            logins: meter
                .u64_counter("imap.logins")
                .with_description("Login attempts by result: success, failure (same for unknown user and wrong password), inactive")
                .build(),
        }
    }

    pub(crate) fn session(&self) {
        self.sessions.add(1, &[]);
    }

    pub(crate) fn command(&self, name: &'static str, result: &'static str) {
        self.commands.add(
            1,
            &[
                KeyValue::new("command", name),
                KeyValue::new("result", result),
            ],
        );
    }

    pub(crate) fn login(&self, result: &'static str) {
        self.logins.add(1, &[KeyValue::new("result", result)]);
    }
}
