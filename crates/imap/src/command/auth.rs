//! STARTTLS (RFC 3501 6.2.1), LOGIN (6.2.3), AUTHENTICATE PLAIN/LOGIN
//! (RFC 4616, SASL-IR RFC 4959) through the directory.
//!
//! A failed login is answered only after `auth_failure_delay`, counted in
//! the `imap.logins{result=failure}` metric, and gets the same answer
//! whether the user exists or not.

use mail_core::Shutdown;
use mail_core::listener::Conn;
use mail_directory::AuthResult;
use mail_imap_proto::command::decode_sasl;
use mail_imap_proto::response::{Code, continuation};
use mail_store::QuotaLimits;

use crate::session::{Flow, ReadEnd, Session, State, User};

/// The answer to a login without TLS where TLS is required (RFC 3501
/// 6.2.3, RFC 8314 3): says what to do, not only that it failed.
const TLS_REQUIRED: &str =
    "TLS is required to log in: use STARTTLS first, or the implicit-TLS port";

impl Session {
    pub(crate) fn starttls(&mut self, tag: &str) -> Flow {
        if !self.can_start_tls {
            return self.no(tag, None, "STARTTLS is not available on this connection");
        }
        self.ok(tag, None, "Begin TLS negotiation now");
        Flow::StartTls
    }

    pub(crate) async fn login(&mut self, tag: &str, username: &str, password: &str) -> Flow {
        if !self.login_allowed() {
            return self.no(tag, Some(Code::PrivacyRequired), TLS_REQUIRED);
        }
        self.check_password(tag, username, password).await
    }

    pub(crate) async fn authenticate(
        &mut self,
        tag: &str,
        mechanism: &str,
        initial: Option<Vec<u8>>,
        conn: &mut Conn,
        shutdown: &Shutdown,
    ) -> Flow {
        if !self.login_allowed() {
            return self.no(tag, Some(Code::PrivacyRequired), TLS_REQUIRED);
        }
        let timeout = self.shared.config.login_timeout;
        let (user, pass) = match mechanism {
            "PLAIN" => {
                let data = match initial {
                    Some(d) => d,
                    None => match self.sasl_step(tag, "", conn, shutdown, timeout).await {
                        Ok(d) => d,
                        Err(flow) => return flow,
                    },
                };
                let mut parts = data.split(|&b| b == 0);
                let (Some(authz), Some(authc), Some(pass), None) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    return self.bad(tag, "Malformed PLAIN response");
                };
                if !authz.is_empty() && authz != authc {
                    return self.no(
                        tag,
                        Some(Code::AuthorizationFailed),
                        "Cannot act as another user",
                    );
                }
                (
                    String::from_utf8_lossy(authc).into_owned(),
                    String::from_utf8_lossy(pass).into_owned(),
                )
            }
            "LOGIN" => {
                let user = match initial {
                    Some(d) => d,
                    None => match self
                        .sasl_step(tag, "VXNlcm5hbWU6", conn, shutdown, timeout)
                        .await
                    {
                        Ok(d) => d,
                        Err(flow) => return flow,
                    },
                };
                let pass = match self
                    .sasl_step(tag, "UGFzc3dvcmQ6", conn, shutdown, timeout)
                    .await
                {
                    Ok(d) => d,
                    Err(flow) => return flow,
                };
                (
                    String::from_utf8_lossy(&user).into_owned(),
                    String::from_utf8_lossy(&pass).into_owned(),
                )
            }
            _ => {
                return self.no(
                    tag,
                    Some(Code::Cannot),
                    "Unsupported authentication mechanism",
                );
            }
        };
        self.check_password(tag, &user, &pass).await
    }

    /// Sends a `+` challenge and reads the client's base64 answer.
    async fn sasl_step(
        &mut self,
        tag: &str,
        challenge: &str,
        conn: &mut Conn,
        shutdown: &Shutdown,
        timeout: std::time::Duration,
    ) -> Result<Vec<u8>, Flow> {
        self.push(&continuation(challenge));
        let line = match self.read_line(conn, shutdown, timeout).await {
            Ok(l) => l,
            Err(ReadEnd::TooLong) => return Err(self.bad(tag, "SASL response too long")),
            Err(_) => return Err(Flow::Close),
        };
        if line == b"*" {
            return Err(self.bad(tag, "Authentication cancelled"));
        }
        decode_sasl(&line).map_err(|_| self.bad(tag, "Invalid base64 in SASL response"))
    }

    async fn check_password(&mut self, tag: &str, login: &str, password: &str) -> Flow {
        let result = self.shared.directory.authenticate(login, password).await;
        let user = match result {
            Ok(AuthResult::Authenticated(user)) => user,
            Ok(AuthResult::Failed | AuthResult::Deleted | AuthResult::Inactive(_)) => {
                self.shared.metrics.login("failure");
                self.auth_failures += 1;
                tracing::info!(login = %login.chars().take(64).collect::<String>(), "login failed");
                tokio::time::sleep(self.shared.config.auth_failure_delay).await;
                self.no(
                    tag,
                    Some(Code::AuthenticationFailed),
                    "Authentication failed",
                );
                if self.auth_failures >= self.shared.config.max_auth_failures {
                    self.bye("Too many failed logins");
                    return Flow::Close;
                }
                return Flow::Continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "directory unavailable for login");
                self.shared.metrics.login("unavailable");
                return self.no(
                    tag,
                    Some(Code::Unavailable),
                    "Authentication service unavailable, try later",
                );
            }
        };
        let uid = user.uid.clone();
        let partition = user.partition.clone();
        let ensure_uid = uid.clone();
        if let Err(e) = self
            .shared
            .store
            .run(move |s| s.ensure_user(&ensure_uid, partition.as_deref()))
            .await
        {
            return self.store_no(tag, &e, false);
        }
        self.shared.metrics.login("success");
        tracing::info!(user = %uid, "logged in");
        let quota = QuotaLimits {
            bytes: user.quota.bytes,
            messages: user.quota.messages,
        };
        self.state = State::Authenticated(User { uid, quota });
        self.login_ok(tag)
    }
}
