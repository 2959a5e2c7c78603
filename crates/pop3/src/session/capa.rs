//! CAPA (RFC 2449 5) and STLS (RFC 2595 4).

use mail_core::listener::Conn;

use crate::maildrop::{Authenticator, Maildrops};
use crate::proto::Response;
use crate::proto::sasl::MECHANISMS;

use super::{Flow, Session, State};

/// The IMPLEMENTATION capability (RFC 2449 6.9).
const IMPLEMENTATION: &str = "Tiermail";

impl<A: Authenticator, M: Maildrops> Session<A, M> {
    /// Lists what this session can do now: STLS and the login methods only
    /// before login, and the login methods only where plaintext
    /// credentials are allowed.
    pub(super) fn capa(&mut self, conn: &Conn) -> Flow {
        let before_login = matches!(self.state, State::Authorization(_));
        let mut caps: Vec<String> = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"]
            .iter()
            .map(|s| (*s).to_string())
            .collect();
        caps.push(match self.shared.config.expire_days {
            Some(days) => format!("EXPIRE {days}"),
            None => "EXPIRE NEVER".into(),
        });
        if let Some(delay) = self.shared.config.login_delay {
            caps.push(format!("LOGIN-DELAY {}", delay.as_secs()));
        }
        caps.push(format!("IMPLEMENTATION {IMPLEMENTATION}"));
        if before_login {
            if conn.can_start_tls() {
                caps.push("STLS".into());
            }
            if self.auth_allowed() {
                caps.push("USER".into());
                let names: Vec<&str> = MECHANISMS.iter().map(|m| m.name()).collect();
                caps.push(format!("SASL {}", names.join(" ")));
            }
        }
        self.reply(Response::ok("Capability list follows"));
        for cap in caps {
            self.out.extend_from_slice(cap.as_bytes());
            self.out.extend_from_slice(b"\r\n");
        }
        self.out.extend_from_slice(b".\r\n");
        Flow::Continue
    }

    /// Starts TLS after `+OK`; only in AUTHORIZATION (RFC 2595 4).
    pub(super) fn stls(&mut self, conn: &Conn) -> Flow {
        if conn.is_tls() {
            return self.bad(Response::err("TLS is already active"));
        }
        if !conn.can_start_tls() {
            return self.bad(Response::err("STLS is not available on this server"));
        }
        self.reply(Response::ok("Begin TLS negotiation"));
        Flow::StartTls
    }
}
