//! RSET (RFC 5321 4.1.1.5), VRFY (4.1.1.6), HELP (4.1.1.8) and STARTTLS
//! (RFC 3207); the replies are the ones SMTP gives too
//! ([`mail_queue::intake::answers`]).

use mail_core::listener::Conn;
use mail_queue::intake::answers;

use super::{Flow, Session, State};
use crate::mailboxes::Mailboxes;

impl<M: Mailboxes> Session<M> {
    pub(super) fn rset(&mut self) -> Flow {
        self.abort_transaction("RSET");
        self.state = match self.take_state() {
            State::Greeted => State::Greeted,
            State::Ready { lhlo } | State::Envelope { lhlo, .. } | State::Chunking { lhlo, .. } => {
                State::Ready { lhlo }
            }
        };
        self.reply(&answers::rset());
        Flow::Continue
    }

    pub(super) fn vrfy(&mut self) -> Flow {
        self.reply(&answers::vrfy());
        Flow::Continue
    }

    pub(super) fn help(&mut self) -> Flow {
        self.reply(&answers::help(
            "LMTP (RFC 2033)",
            &[
                "LHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "QUIT", "VRFY", "HELP",
                "STARTTLS",
            ],
        ));
        Flow::Continue
    }

    pub(super) fn starttls(&mut self, conn: &Conn) -> Flow {
        let in_transaction = matches!(self.state, State::Envelope { .. } | State::Chunking { .. });
        match answers::starttls(conn.is_tls(), conn.can_start_tls(), in_transaction) {
            Ok(go) => {
                self.reply(&go);
                Flow::StartTls
            }
            Err(refusal) => self.bad(&refusal),
        }
    }
}
