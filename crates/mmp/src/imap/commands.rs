//! The commands answered before login: CAPABILITY, NOOP, LOGOUT (RFC 3501
//! 6.1), ID (RFC 2971), STARTTLS (6.2.1), LOGIN (6.2.3) and AUTHENTICATE
//! PLAIN (6.2.2, RFC 4616, SASL-IR RFC 4959). Everything else needs a
//! login first and is BAD here.

use mail_core::Shutdown;
use mail_core::listener::Conn;
use mail_imap_proto::command::decode_sasl;
use mail_imap_proto::response::{Code, capability_line, continuation};
use mail_imap_proto::{Command, CommandBody};

use super::{Flow, ReadEnd, Session};
use crate::login::{Failure, busy_text, shown};
use crate::route::Protocol;

impl Session {
    pub(super) async fn command(
        &mut self,
        cmd: Command,
        conn: &mut Conn,
        shutdown: &Shutdown,
    ) -> Flow {
        let Command { tag, body } = cmd;
        match body {
            CommandBody::Capability => {
                let caps = self.capabilities();
                self.push(&capability_line(&caps));
                self.ok(&tag, None, "CAPABILITY completed")
            }
            CommandBody::Noop => self.ok(&tag, None, "NOOP completed"),
            CommandBody::Logout => {
                self.bye(None, "Logging out");
                self.ok(&tag, None, "LOGOUT completed");
                Flow::Close
            }
            CommandBody::Id(fields) => self.id(&tag, fields.as_deref()),
            CommandBody::StartTls => {
                if !self.can_start_tls {
                    return self.no(&tag, None, "STARTTLS is not available on this connection");
                }
                self.ok(&tag, None, "Begin TLS negotiation now");
                Flow::StartTls
            }
            CommandBody::Login { username, password } => {
                if !self.login_allowed() {
                    return self.no(
                        &tag,
                        Some(Code::PrivacyRequired),
                        "Use STARTTLS before logging in",
                    );
                }
                self.login(&tag, &username, &password, shutdown).await
            }
            CommandBody::Authenticate { mechanism, initial } => {
                self.authenticate(&tag, &mechanism, initial, conn, shutdown)
                    .await
            }
            _ => self.bad(&tag, "Log in first"),
        }
    }

    /// RFC 2971: our identity. The client's fields are logged, never
    /// believed (only a store believes an address, and only from a proxy).
    fn id(&mut self, tag: &str, fields: Option<&[(String, Option<String>)]>) -> Flow {
        if let Some(fields) = fields {
            let get = |k: &str| {
                fields
                    .iter()
                    .find(|(key, _)| key.eq_ignore_ascii_case(k))
                    .and_then(|(_, v)| v.as_deref())
                    .map(shown)
            };
            tracing::debug!(name = ?get("name"), version = ?get("version"), "client ID");
        }
        let version = env!("CARGO_PKG_VERSION");
        self.push(
            format!("* ID (\"name\" \"Tiermail MMP\" \"version\" \"{version}\")\r\n").as_bytes(),
        );
        self.ok(tag, None, "ID completed")
    }

    async fn authenticate(
        &mut self,
        tag: &str,
        mechanism: &str,
        initial: Option<Vec<u8>>,
        conn: &mut Conn,
        shutdown: &Shutdown,
    ) -> Flow {
        if !self.login_allowed() {
            return self.no(
                tag,
                Some(Code::PrivacyRequired),
                "Use STARTTLS before logging in",
            );
        }
        if mechanism != "PLAIN" {
            return self.no(
                tag,
                Some(Code::Cannot),
                "Unsupported authentication mechanism",
            );
        }
        let data = match initial {
            Some(d) => d,
            None => {
                // RFC 3501 6.2.2: an empty challenge for PLAIN.
                self.push(&continuation(""));
                let line = match self.read_line(conn, shutdown).await {
                    Ok(Some(l)) => l,
                    Ok(None) => return self.bad(tag, "SASL response too long"),
                    Err(ReadEnd::Closed) => return Flow::Close,
                    Err(ReadEnd::Timeout | ReadEnd::Shutdown) => {
                        self.bye(None, "Autologout; no login in time");
                        return Flow::Close;
                    }
                };
                if line == b"*" {
                    // RFC 3501 6.2.2: a cancelled exchange is answered BAD.
                    return self.bad(tag, "Authentication cancelled");
                }
                match decode_sasl(&line) {
                    Ok(d) => d,
                    Err(_) => return self.bad(tag, "Invalid base64 in SASL response"),
                }
            }
        };
        let mut parts = data.split(|&b| b == 0);
        let (Some(authz), Some(authc), Some(pass), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return self.bad(tag, "Malformed PLAIN response");
        };
        let (Ok(authz), Ok(authc), Ok(pass)) = (
            std::str::from_utf8(authz),
            std::str::from_utf8(authc),
            std::str::from_utf8(pass),
        ) else {
            return self.bad(tag, "PLAIN response is not UTF-8");
        };
        if !authz.is_empty() && authz != authc {
            return self.no(
                tag,
                Some(Code::AuthorizationFailed),
                "Cannot act as another user",
            );
        }
        let (authc, pass) = (authc.to_string(), pass.to_string());
        self.login(tag, &authc, &pass, shutdown).await
    }

    async fn login(&mut self, tag: &str, login: &str, password: &str, shutdown: &Shutdown) -> Flow {
        let client = self.client.clone();
        let result = self
            .shared
            .login(Protocol::Imap, &client, login, password, shutdown)
            .await;
        match result {
            Ok(logged_in) => {
                let caps = logged_in.backend.greeting.clone();
                self.ok(tag, Some(Code::Capability(caps)), "Logged in");
                Flow::Relay(Box::new(logged_in))
            }
            Err(Failure::Credentials) => {
                self.auth_failures += 1;
                self.no(
                    tag,
                    Some(Code::AuthenticationFailed),
                    "Authentication failed",
                );
                if self.auth_failures >= self.config.max_auth_failures {
                    self.bye(None, "Too many failed logins");
                    return Flow::Close;
                }
                Flow::Continue
            }
            Err(Failure::Inactive) => self.no(tag, Some(Code::ContactAdmin), "Account disabled"),
            Err(Failure::Unavailable) => self.no(
                tag,
                Some(Code::Unavailable),
                "Mail service temporarily unavailable, try again later",
            ),
            Err(Failure::Busy(text)) => self.no(tag, Some(Code::Limit), busy_text(&text)),
        }
    }
}
