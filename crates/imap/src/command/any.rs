//! CAPABILITY, LOGOUT, ID (RFC 2971), ENABLE (RFC 5161); NAMESPACE lives
//! in `namespace.rs`. NOOP and CHECK are answered in the dispatcher: the
//! mailbox updates they exist for are sent before every command anyway.

use mail_imap_proto::response::{Code, capability_line};

use crate::session::{Flow, Session};

impl Session {
    pub(crate) fn capability(&mut self, tag: &str) -> Flow {
        let caps = self.capabilities();
        self.push(&capability_line(&caps));
        self.ok(tag, None, "CAPABILITY completed")
    }

    pub(crate) fn logout(&mut self, tag: &str) -> Flow {
        self.bye("Logging out");
        self.ok(tag, None, "LOGOUT completed");
        self.state = crate::session::State::Logout;
        Flow::Close
    }

    /// RFC 2971. Two fields mean something here: `x-originating-ip` (and
    /// `x-originating-port`, `x-session-id`) from a trusted proxy names the
    /// real client for logs and limits (ignored from anyone else), and
    /// `x-login-referrals` says the client follows RFC 2221 login
    /// referrals (RFC 2221 has no way for a client to say so; see
    /// docs/imap.md).
    pub(crate) fn id(&mut self, tag: &str, fields: Option<&[(String, Option<String>)]>) -> Flow {
        let get = |k: &str| {
            fields?
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(k))
                .and_then(|(_, v)| v.as_deref())
        };
        if let Some(v) = get("x-login-referrals") {
            self.referrals = !matches!(v.trim(), "" | "0" | "no" | "false");
        }
        if let Some(ip) = get("x-originating-ip") {
            let trusted = self
                .peer
                .is_some_and(|p| self.shared.policy.proxies.is_trusted_peer(p.ip()));
            match ip.trim().parse::<std::net::IpAddr>() {
                Ok(ip) if trusted => {
                    let port = get("x-originating-port")
                        .and_then(|p| p.trim().parse::<u16>().ok())
                        .unwrap_or(0);
                    let client = std::net::SocketAddr::new(ip, port);
                    self.client = Some(client);
                    tracing::Span::current().record("client", tracing::field::display(client));
                    let session: String = get("x-session-id")
                        .unwrap_or("")
                        .chars()
                        .take(64)
                        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                        .collect();
                    tracing::info!(%client, proxy_session = %session, "client address from proxy");
                }
                Ok(_) => {
                    tracing::info!(peer = ?self.peer, "x-originating-ip from an untrusted address ignored");
                }
                Err(_) => tracing::debug!("x-originating-ip is not an address"),
            }
        }
        let version = env!("CARGO_PKG_VERSION");
        self.push(format!("* ID (\"name\" \"Tiermail\" \"version\" \"{version}\")\r\n").as_bytes());
        self.ok(tag, None, "ID completed")
    }

    pub(crate) async fn enable(&mut self, tag: &str, caps: &[String]) -> Flow {
        let mut enabled = Vec::new();
        let mut highestmodseq = Vec::new();
        for c in caps {
            let on = match c.as_str() {
                "CONDSTORE" => {
                    self.enable_condstore_into(&mut highestmodseq).await;
                    true
                }
                "QRESYNC" => {
                    self.enabled.qresync = true;
                    self.enable_condstore_into(&mut highestmodseq).await;
                    true
                }
                "UTF8=ACCEPT" => {
                    self.enabled.utf8 = true;
                    true
                }
                "IMAP4REV2" => {
                    self.enabled.rev2 = true;
                    true
                }
                _ => false,
            };
            if on {
                enabled.push(if c == "IMAP4REV2" {
                    "IMAP4rev2"
                } else {
                    c.as_str()
                });
            }
        }
        let mut line = String::from("* ENABLED");
        for c in enabled {
            line.push(' ');
            line.push_str(c);
        }
        line.push_str("\r\n");
        self.push(line.as_bytes());
        // After the ENABLED line that says CONDSTORE is on (RFC 7162 3.1).
        self.push(&highestmodseq);
        self.ok(tag, None, "ENABLE completed")
    }

    /// [`Session::enable_condstore`] with its untagged OK kept apart.
    async fn enable_condstore_into(&mut self, out: &mut Vec<u8>) {
        let mark = self.out.len();
        self.enable_condstore().await;
        out.extend(self.out.drain(mark..));
    }

    /// Tagged OK after login, with the new capabilities (RFC 3501 6.2.3).
    pub(crate) fn login_ok(&mut self, tag: &str) -> Flow {
        let caps = self.capabilities();
        self.ok(tag, Some(Code::Capability(caps)), "Logged in")
    }
}
