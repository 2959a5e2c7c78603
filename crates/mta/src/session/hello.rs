//! EHLO and HELO (RFC 5321 4.1.1.1): EHLO lists the extensions; either
//! drops an open transaction (RFC 5321 4.1.4).

use mail_core::listener::Conn;
use mail_smtp_proto::Reply;

use super::{Flow, Hello, Session, State};

impl Session {
    pub(super) fn hello(&mut self, name: String, esmtp: bool, conn: &Conn) -> Flow {
        self.abort_transaction("EHLO/HELO");
        tracing::Span::current().record("helo", name.as_str());
        self.client.helo = Some(name.clone());
        self.state = State::Ready {
            hello: Hello { name, esmtp },
        };
        let cfg = &self.shared.config;
        if !esmtp {
            let text = format!("{} Hello", cfg.hostname);
            self.reply(&Reply::new(250, None, &text));
            return Flow::Continue;
        }
        let mut lines = vec![
            format!("{} Hello", cfg.hostname),
            "PIPELINING".into(),                      // RFC 2920
            format!("SIZE {}", cfg.max_message_size), // RFC 1870
            "8BITMIME".into(),                        // RFC 6152
            "SMTPUTF8".into(),                        // RFC 6531
            "ENHANCEDSTATUSCODES".into(),             // RFC 2034
            "DSN".into(),                             // RFC 3461
            "CHUNKING".into(),                        // RFC 3030
        ];
        if conn.can_start_tls() {
            lines.push("STARTTLS".into()); // RFC 3207
        }
        // RFC 4954 4 and RFC 8314: passwords only over TLS.
        if self.shared.hooks.authenticator.is_some() && conn.is_tls() && self.client.auth.is_none()
        {
            lines.push("AUTH PLAIN LOGIN".into());
        }
        if cfg.accept_traceparent {
            lines.push("X-TRACEPARENT".into());
        }
        self.reply(&Reply::multiline(250, None, lines));
        Flow::Continue
    }
}
