//! LHLO (RFC 2033 4.1): like EHLO, lists the extensions; any open
//! transaction is dropped (RFC 5321 4.1.4).

use mail_smtp_proto::Reply;

use super::{Flow, Session, State};
use crate::mailboxes::Mailboxes;

impl<M: Mailboxes> Session<M> {
    pub(super) fn lhlo(&mut self, name: String, can_start_tls: bool) -> Flow {
        self.abort_transaction("LHLO");
        tracing::Span::current().record("lhlo", name.as_str());
        let cfg = &self.shared.config;
        let mut lines = vec![
            cfg.hostname.clone(),
            "PIPELINING".into(),                      // RFC 2920
            "ENHANCEDSTATUSCODES".into(),             // RFC 2034
            "8BITMIME".into(),                        // RFC 6152
            format!("SIZE {}", cfg.max_message_size), // RFC 1870
            "SMTPUTF8".into(),                        // RFC 6531
            "DSN".into(),                             // RFC 3461, parameters carried to the store
            "CHUNKING".into(),                        // RFC 3030
            "BINARYMIME".into(),                      // RFC 3030
            "X-TRACEPARENT".into(),                   // ours: MAIL FROM trace context
            "X-DELIVERY-ID".into(), // ours: MAIL FROM id that makes a redelivery harmless
        ];
        if can_start_tls {
            lines.push("STARTTLS".into()); // RFC 3207
        }
        self.state = State::Ready { lhlo: name };
        self.reply(&Reply::multiline(250, None, lines));
        Flow::Continue
    }
}
