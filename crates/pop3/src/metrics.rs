//! Counters exported through `opentelemetry::global::meter("mail-pop3")`.

use opentelemetry::KeyValue;
use opentelemetry::metrics::Counter;

/// The server's counters; created once per [`crate::Pop3Server`].
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    sessions: Counter<u64>,
    logins: Counter<u64>,
    commands: Counter<u64>,
    bytes_retrieved: Counter<u64>,
    deleted: Counter<u64>,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let meter = opentelemetry::global::meter("mail-pop3");
        Self {
            sessions: meter
                .u64_counter("pop3.sessions")
                .with_description("POP3 connections served")
                .build(),
            logins: meter
                .u64_counter("pop3.logins")
                .with_description(
                    "Login attempts by result: ok, failed, inactive, temporary, in_use, login_delay, unavailable",
                )
                .build(),
            commands: meter
                .u64_counter("pop3.commands")
                .with_description("Commands by keyword (UNKNOWN for unparsable lines)")
                .build(),
            bytes_retrieved: meter
                .u64_counter("pop3.bytes_retrieved")
                .with_description("Octets of message content sent by RETR and TOP")
                .with_unit("By")
                .build(),
            deleted: meter
                .u64_counter("pop3.messages_deleted")
                .with_description("Messages removed at QUIT (UPDATE state)")
                .build(),
        }
    }

    pub(crate) fn session(&self) {
        self.sessions.add(1, &[]);
    }

    pub(crate) fn login(&self, result: &'static str) {
        self.logins.add(1, &[KeyValue::new("result", result)]);
    }

    pub(crate) fn command(&self, keyword: &'static str) {
        self.commands.add(1, &[KeyValue::new("command", keyword)]);
    }

    pub(crate) fn retrieved(&self, octets: u64) {
        self.bytes_retrieved.add(octets, &[]);
    }

    pub(crate) fn deleted(&self, n: u64) {
        self.deleted.add(n, &[]);
    }
}
