//! MAIL FROM (RFC 5321 4.1.1.2) opens a transaction after LHLO.

use mail_smtp_proto::Reply;
use mail_smtp_proto::command::MailFrom;

use super::{Flow, Session, State, Transaction};
use crate::mailboxes::Mailboxes;
use crate::trace;

impl<M: Mailboxes> Session<M> {
    pub(super) fn mail(&mut self, m: MailFrom) -> Flow {
        let lhlo = match self.take_state() {
            State::Ready { lhlo } => lhlo,
            State::Greeted => return self.bad(&Reply::bad_sequence("Send LHLO first")),
            other => {
                self.state = other;
                return self.bad(&Reply::bad_sequence("Nested MAIL command"));
            }
        };
        // RFC 1870 6.1: refuse a declared size over the limit up front.
        if m.params
            .size
            .is_some_and(|s| s > self.shared.config.max_message_size)
        {
            self.state = State::Ready { lhlo };
            return self.bad(&Reply::message_too_big());
        }
        let span = trace::transaction_span(m.params.traceparent.as_deref());
        span.in_scope(|| tracing::debug!(sender = %m.sender, "MAIL FROM"));
        self.state = State::Envelope {
            lhlo,
            tx: Transaction {
                sender: m.sender,
                params: m.params,
                targets: Vec::new(),
                span,
            },
        };
        self.reply(&Reply::with_status(250, (2, 1, 0), "Sender OK"));
        Flow::Continue
    }
}
