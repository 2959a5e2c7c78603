//! RSET (RFC 5321 4.1.1.5), VRFY (4.1.1.6, answered with 252 as 3.5.3
//! allows: no address harvesting), HELP (4.1.1.8) and STARTTLS (RFC 3207).

use mail_core::listener::Conn;
use mail_smtp_proto::Reply;

use super::{Flow, Session, State};

impl Session {
    pub(super) fn rset(&mut self) -> Flow {
        self.abort_transaction("RSET");
        self.state = match self.take_state() {
            State::Greeted => State::Greeted,
            State::Ready { hello }
            | State::Envelope { hello, .. }
            | State::Chunking { hello, .. } => State::Ready { hello },
        };
        self.ok("OK")
    }

    pub(super) fn vrfy(&mut self) -> Flow {
        self.reply(&Reply::with_status(
            252,
            (2, 5, 0),
            "Cannot VRFY user, but will accept message and attempt delivery",
        ));
        Flow::Continue
    }

    pub(super) fn help(&mut self) -> Flow {
        self.reply(&Reply::with_status(
            214,
            (2, 0, 0),
            "SMTP (RFC 5321): EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH",
        ));
        Flow::Continue
    }

    pub(super) fn starttls(&mut self, conn: &Conn) -> Flow {
        if conn.is_tls() {
            return self.bad(&Reply::bad_sequence("TLS already active"));
        }
        if !conn.can_start_tls() {
            return self.bad(&Reply::not_implemented());
        }
        if matches!(self.state, State::Envelope { .. } | State::Chunking { .. }) {
            return self.bad(&Reply::bad_sequence(
                "STARTTLS not allowed in a transaction",
            ));
        }
        self.reply(&Reply::ready_for_tls());
        Flow::StartTls
    }
}
