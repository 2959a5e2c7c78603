//! STARTTLS (RFC 3501 6.2.1), LOGIN (6.2.3), AUTHENTICATE PLAIN/LOGIN
//! (RFC 4616, SASL-IR RFC 4959) through the directory.
//!
//! A failed login is answered only after `auth_failure_delay`, counted in
//! the `imap.logins{result=failure}` metric, and gets the same answer
//! whether the user exists or not.
//!
//! Trusted-proxy logins (`mail_core::trusted_proxy`): AUTHENTICATE PLAIN
//! whose authentication identity is a configured proxy is checked against
//! the proxy's secret and networks, never the directory, and then acts for
//! the authorization identity. A user whose `mailHost` names another store
//! is refused after the credentials were verified (direct or proxied):
//! `NO [REFERRAL imap://user;AUTH=*@host/]` (RFC 2221) when the client
//! asked for referrals, a plain `NO` otherwise, and a log line; never an
//! empty mailbox.
//!
//! With a throttle in the policy (`mail_core::login_throttle`), password
//! logins are counted per client address (the one a trusted proxy passed,
//! else the peer's) and name: the delay grows and lockouts apply. Proxied
//! logins are not counted here: the proxy throttled them.

use mail_core::Shutdown;
use mail_core::listener::Conn;
use mail_core::login_throttle::Verdict;
use mail_directory::{AccountStatus, AuthResult, User as DirectoryUser};
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
                let authc_text = String::from_utf8_lossy(authc);
                if self.shared.policy.proxies.is_proxy(&authc_text) {
                    let authz = String::from_utf8_lossy(authz).into_owned();
                    let authc = authc_text.into_owned();
                    return self.proxied(tag, &authz, &authc, pass).await;
                }
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
        if self.shared.policy.proxies.is_proxy(login) {
            // A proxy's name never reaches the directory.
            tracing::warn!(login = %shown(login), peer = ?self.peer, "proxy identity used as a user name");
            return self.login_failed(tag, login).await;
        }
        let started = tokio::time::Instant::now();
        let client_ip = self.client.or(self.peer).map(|a| a.ip());
        if let (Some(t), Some(ip)) = (&self.shared.policy.throttle, client_ip)
            && let Verdict::Locked { scope, remaining } = t.check(ip, login)
        {
            // The password is not even checked; the answer is a failure's.
            self.shared.metrics.login("locked");
            tracing::warn!(login = %shown(login), ?scope, ?remaining, "login refused: locked out after too many failures");
            tokio::time::sleep_until(started + t.locked_delay()).await;
            return self.refuse(tag);
        }
        let result = self.shared.directory.authenticate(login, password).await;
        let user = match result {
            Ok(AuthResult::Authenticated(user)) => {
                if let (Some(t), Some(ip)) = (&self.shared.policy.throttle, client_ip) {
                    t.succeeded(ip, login);
                }
                user
            }
            Ok(AuthResult::Failed | AuthResult::Deleted | AuthResult::Inactive(_)) => {
                if let (Some(t), Some(ip)) = (&self.shared.policy.throttle, client_ip) {
                    let delay = t.failed(ip, login);
                    self.shared.metrics.login("failure");
                    tracing::info!(login = %shown(login), client = ?self.client.or(self.peer), ?delay, "login failed");
                    tokio::time::sleep_until(started + delay).await;
                    return self.refuse(tag);
                }
                return self.login_failed(tag, login).await;
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
        self.admit(tag, login, *user).await
    }

    /// A refused login: counted, answered after the delay, the same for
    /// every reason.
    async fn login_failed(&mut self, tag: &str, login: &str) -> Flow {
        self.shared.metrics.login("failure");
        tracing::info!(login = %shown(login), client = ?self.client.or(self.peer), "login failed");
        tokio::time::sleep(self.shared.config.auth_failure_delay).await;
        self.refuse(tag)
    }

    /// The answer to a failed login, once its delay has passed; too many
    /// on one connection close it.
    fn refuse(&mut self, tag: &str) -> Flow {
        self.auth_failures += 1;
        self.no(
            tag,
            Some(Code::AuthenticationFailed),
            "Authentication failed",
        );
        if self.auth_failures >= self.shared.config.max_auth_failures {
            self.bye("Too many failed logins");
            return Flow::Close;
        }
        Flow::Continue
    }

    /// A trusted proxy logging in for `authz` with its own credential.
    async fn proxied(&mut self, tag: &str, authz: &str, proxy: &str, secret: &[u8]) -> Flow {
        let Some(peer) = self.peer else {
            return self.login_failed(tag, proxy).await;
        };
        if let Err(why) = self.shared.policy.proxies.verify(proxy, secret, peer.ip()) {
            tracing::warn!(proxy = %shown(proxy), %peer, reason = %why, "proxy login refused");
            return self.login_failed(tag, proxy).await;
        }
        if authz.is_empty() {
            tracing::warn!(proxy = %shown(proxy), "proxy login without a user to act for");
            return self.login_failed(tag, proxy).await;
        }
        match mail_directory::user_by_login(self.shared.directory.as_ref(), authz).await {
            Ok(Some(user)) if user.status == AccountStatus::Active => {
                tracing::debug!(proxy = %shown(proxy), user = %user.uid, "proxied login");
                self.admit(tag, authz, user).await
            }
            Ok(_) => self.login_failed(tag, authz).await,
            Err(e) if e.is_temporary() => {
                tracing::warn!(error = %e, "directory unavailable for a proxied login");
                self.shared.metrics.login("unavailable");
                self.no(
                    tag,
                    Some(Code::Unavailable),
                    "Authentication service unavailable, try later",
                )
            }
            Err(_) => self.login_failed(tag, authz).await,
        }
    }

    /// The `mailHost` of a user homed on another store.
    fn homed_elsewhere<'u>(&self, user: &'u DirectoryUser) -> Option<&'u str> {
        let here = self.shared.policy.host.as_deref()?;
        let host = user.mail_host.as_deref()?;
        (!host.eq_ignore_ascii_case(here)).then_some(host)
    }

    /// Credentials verified: the user logs in here, or is sent to their
    /// own store.
    async fn admit(&mut self, tag: &str, login: &str, user: DirectoryUser) -> Flow {
        if let Some(host) = self.homed_elsewhere(&user) {
            self.shared.metrics.login("elsewhere");
            tracing::warn!(
                user = %user.uid,
                mail_host = %host,
                client = ?self.client.or(self.peer),
                referral = self.referrals,
                "login refused: the account is homed on another store"
            );
            let text = "This account is served by another server";
            return match referral_url(login, host) {
                Some(url) if self.referrals => {
                    self.no(tag, Some(Code::Other(format!("REFERRAL {url}"))), text)
                }
                _ => self.no(tag, None, text),
            };
        }
        let mut slot = None;
        if let Some(limit) = &self.shared.policy.sessions_per_user {
            match limit.acquire(user.uid.clone()) {
                Some(s) => slot = Some(s),
                None => {
                    self.shared.metrics.login("session_limit");
                    tracing::warn!(user = %user.uid, client = ?self.client.or(self.peer), max = limit.max(),
                        "login refused: too many sessions for this user");
                    // RFC 5530 3: LIMIT, an operation that ran into a limit.
                    return self.no(
                        tag,
                        Some(Code::Limit),
                        "Too many sessions for this user; close one and try again",
                    );
                }
            }
        }
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
        self.user_slot = slot;
        self.shared.metrics.login("success");
        tracing::info!(user = %uid, client = ?self.client.or(self.peer), "logged in");
        let quota = QuotaLimits {
            bytes: user.quota.bytes,
            messages: user.quota.messages,
        };
        self.state = State::Authenticated(User { uid, quota });
        self.login_ok(tag)
    }
}

/// A login name shown in logs: bounded, no control characters.
fn shown(login: &str) -> String {
    login
        .chars()
        .take(64)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The RFC 2221 login referral for `login` at `host`, an IMAP URL
/// (RFC 5092 3: `imap://enc-user;AUTH=*@host/`); `None` when `host` is not
/// a plain host name.
pub(crate) fn referral_url(login: &str, host: &str) -> Option<String> {
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'));
    if !host_ok {
        return None;
    }
    let mut user = String::with_capacity(login.len());
    for b in login.bytes() {
        // RFC 5092 achar: unreserved, sub-delims-sh, "&", "="; the rest
        // percent-encoded (";" and "@" above all).
        if b.is_ascii_alphanumeric() || b"-._~!$'()*+,&=".contains(&b) {
            user.push(char::from(b));
        } else {
            user.push_str(&format!("%{b:02X}"));
        }
    }
    Some(format!("imap://{user};AUTH=*@{host}/"))
}

#[cfg(test)]
mod tests {
    use super::referral_url;

    #[test]
    fn referral_urls_encode_the_user() {
        assert_eq!(
            referral_url("bob@example.test", "store2.example.test").as_deref(),
            Some("imap://bob%40example.test;AUTH=*@store2.example.test/")
        );
        assert_eq!(
            referral_url("a;b c", "s2").as_deref(),
            Some("imap://a%3Bb%20c;AUTH=*@s2/")
        );
        assert_eq!(referral_url("bob", "bad host/"), None);
    }
}
