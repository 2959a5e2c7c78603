//! Logging in: USER and PASS (RFC 1939 7), AUTH with PLAIN and LOGIN
//! (RFC 5034), the failed-login delay, LOGIN-DELAY (RFC 2449 8.1.2) and
//! opening the locked maildrop, which moves the session to TRANSACTION.
//!
//! Unknown users and wrong passwords get the same reply after the same
//! delay, and USER is always accepted, so nothing tells whether a user
//! exists.
//!
//! Trusted-proxy logins (`mail_core::trusted_proxy`): an access-tier proxy
//! sends `XCLIENT ADDR=... PORT=...` (believed only from the configured
//! networks; logs then name the real client) and `AUTH PLAIN` with the user
//! as authorization identity and its own name and secret. A proxy's name is
//! never checked against the directory, whatever the command.
//!
//! With a throttle (`Pop3Server::with_throttle`, `mail_core::login_throttle`)
//! password logins are counted per client address and name: the delay
//! grows and lockouts apply. Proxied logins are not counted here: the proxy
//! throttled them.

use std::net::{IpAddr, SocketAddr};

use mail_core::login_throttle::Verdict;

use crate::error::Error;
use crate::maildrop::{Account, AuthFailure, Authenticator, Maildrop, Maildrops};
use crate::proto::sasl::{self, Mechanism, SaslError};
use crate::proto::{RespCode, Response};

use super::{Authorization, Flow, SaslStep, Session, State, Transaction};

impl<A: Authenticator, M: Maildrops> Session<A, M> {
    /// Plaintext credentials are accepted under TLS, or everywhere when
    /// configured (IMAP's LOGINDISABLED, RFC 2595 2.1 for POP3).
    pub(super) fn auth_allowed(&self) -> bool {
        self.tls || self.shared.config.plaintext_auth_without_tls
    }

    fn auth_disallowed(&mut self) -> Flow {
        self.state = State::Authorization(Authorization::Start);
        self.bad(Response::err_code(
            RespCode::Auth,
            "TLS is required to log in: use STLS first, or the POP3S port",
        ))
    }

    pub(super) fn user(&mut self, name: String) -> Flow {
        if !self.auth_allowed() {
            return self.auth_disallowed();
        }
        // Accepted whatever the name: refusing here would reveal that the
        // user does not exist (RFC 1939 7 allows either).
        self.state = State::Authorization(Authorization::User(name));
        self.ok("Send PASS")
    }

    pub(super) async fn pass(&mut self, password: String) -> Flow {
        if !self.auth_allowed() {
            return self.auth_disallowed();
        }
        match self.take_state() {
            State::Authorization(Authorization::User(name)) => self.login(name, password).await,
            other => {
                self.state = other;
                self.bad(Response::err("Send USER first"))
            }
        }
    }

    pub(super) async fn auth(
        &mut self,
        mechanism: Option<String>,
        initial: Option<String>,
    ) -> Flow {
        if !self.auth_allowed() {
            return self.auth_disallowed();
        }
        self.state = State::Authorization(Authorization::Start);
        let Some(name) = mechanism else {
            // Bare AUTH lists the mechanisms (RFC 1734 habit many clients
            // still probe with).
            self.reply(Response::ok("Supported mechanisms follow"));
            for m in sasl::MECHANISMS {
                self.out.extend_from_slice(m.name().as_bytes());
                self.out.extend_from_slice(b"\r\n");
            }
            self.out.extend_from_slice(b".\r\n");
            return Flow::Continue;
        };
        let Some(mechanism) = Mechanism::from_name(&name) else {
            let mut shown: String = name.chars().take(20).collect();
            shown.retain(|c| !c.is_control());
            return self.bad(Response::err(format!("Unsupported mechanism {shown}")));
        };
        let initial = match initial.map(|ir| sasl::decode_response(ir.as_bytes(), true)) {
            None => None,
            Some(Ok(bytes)) => Some(bytes),
            Some(Err(e)) => return self.sasl_error(e),
        };
        match (mechanism, initial) {
            (Mechanism::Plain, Some(msg)) => self.plain(&msg).await,
            (Mechanism::Plain, None) => self.challenge(SaslStep::Plain, b""),
            (Mechanism::Login, Some(user)) => match sasl::login_text(user) {
                Ok(user) => {
                    self.challenge(SaslStep::LoginPassword(user), sasl::LOGIN_PASSWORD_PROMPT)
                }
                Err(e) => self.sasl_error(e),
            },
            (Mechanism::Login, None) => {
                self.challenge(SaslStep::LoginUser, sasl::LOGIN_USER_PROMPT)
            }
        }
    }

    fn challenge(&mut self, step: SaslStep, prompt: &[u8]) -> Flow {
        self.out.extend_from_slice(&sasl::challenge(prompt));
        self.state = State::Authorization(Authorization::Sasl(step));
        Flow::Continue
    }

    /// A line inside AUTH: the client's next SASL response.
    pub(super) async fn sasl_response(&mut self, line: &[u8]) -> Flow {
        let State::Authorization(Authorization::Sasl(step)) = self.take_state() else {
            return Flow::Close;
        };
        self.state = State::Authorization(Authorization::Start);
        let decoded = match sasl::decode_response(line, false) {
            Ok(d) => d,
            Err(e) => return self.sasl_error(e),
        };
        match step {
            SaslStep::Plain => self.plain(&decoded).await,
            SaslStep::LoginUser => match sasl::login_text(decoded) {
                Ok(user) => {
                    self.challenge(SaslStep::LoginPassword(user), sasl::LOGIN_PASSWORD_PROMPT)
                }
                Err(e) => self.sasl_error(e),
            },
            SaslStep::LoginPassword(user) => match sasl::login_text(decoded) {
                Ok(password) => self.login(user, password).await,
                Err(e) => self.sasl_error(e),
            },
        }
    }

    async fn plain(&mut self, message: &[u8]) -> Flow {
        let p = match sasl::split_plain(message) {
            Ok(p) => p,
            Err(e) => return self.sasl_error(e),
        };
        if self.shared.proxies.is_proxy(&p.authc) {
            return self.proxied(p).await;
        }
        if !p.authz.is_empty() && p.authz != p.authc {
            return self.sasl_error(SaslError::Malformed(
                "Authorization identity must be empty or the user itself",
            ));
        }
        self.login(p.authc, p.password).await
    }

    /// A trusted proxy logging in for `p.authz`: its credential and address
    /// checked here, the account by the authenticator.
    async fn proxied(&mut self, p: sasl::Plain) -> Flow {
        self.state = State::Authorization(Authorization::Start);
        let started = tokio::time::Instant::now();
        let refused = Response::err_code(RespCode::Auth, "Authentication failed");
        if let Err(why) =
            self.shared
                .proxies
                .verify(&p.authc, p.password.as_bytes(), self.peer.ip())
        {
            tracing::warn!(proxy = %p.authc, peer = %self.peer, reason = %why, "proxy login refused");
            return self
                .failed(
                    self.after_delay(started),
                    &p.authc,
                    "proxy_refused",
                    refused,
                )
                .await;
        }
        if p.authz.is_empty() {
            tracing::warn!(proxy = %p.authc, "proxy login without a user to act for");
            return self
                .failed(self.after_delay(started), &p.authc, "failed", refused)
                .await;
        }
        tracing::debug!(proxy = %p.authc, user = %p.authz, "proxied login");
        let verdict = self.shared.auth.authorize(&p.authz).await;
        self.verdict(started, p.authz, verdict, None).await
    }

    /// XCLIENT from a trusted proxy: the real client's address, for logs
    /// and limits from here on.
    pub(super) fn xclient(&mut self, attrs: &[(String, String)]) -> Flow {
        if !self.shared.proxies.is_trusted_peer(self.peer.ip()) {
            tracing::info!(peer = %self.peer, "XCLIENT from an untrusted address ignored");
            return self.bad(Response::err("XCLIENT is not allowed from your address"));
        }
        let get = |k: &str| attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let ip = get("ADDR").and_then(|a| {
            let a = a
                .strip_prefix("IPV6:")
                .or_else(|| a.strip_prefix("ipv6:"))
                .unwrap_or(a);
            a.parse::<IpAddr>().ok()
        });
        let Some(ip) = ip else {
            return self.bad(Response::err("XCLIENT needs ADDR=<IP address>"));
        };
        let port = get("PORT").and_then(|p| p.parse::<u16>().ok()).unwrap_or(0);
        self.client = SocketAddr::new(ip, port);
        let span = tracing::Span::current();
        span.record("client", tracing::field::display(self.client));
        let session: String = get("SESSION")
            .unwrap_or("")
            .chars()
            .take(64)
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        tracing::info!(client = %self.client, proxy_session = %session, "client address from proxy");
        self.ok("Client address noted")
    }

    fn sasl_error(&mut self, e: SaslError) -> Flow {
        self.state = State::Authorization(Authorization::Start);
        if e == SaslError::Cancelled {
            return self.ok_err("Authentication cancelled");
        }
        self.bad(Response::err(e.to_string()))
    }

    /// `-ERR` that is not the client's fault (does not count as an error).
    fn ok_err(&mut self, text: &str) -> Flow {
        self.reply(Response::err(text));
        Flow::Continue
    }

    /// Checks the credentials and, when they are good, opens the maildrop.
    async fn login(&mut self, login: String, password: String) -> Flow {
        self.state = State::Authorization(Authorization::Start);
        let started = tokio::time::Instant::now();
        if self.shared.proxies.is_proxy(&login) {
            // A proxy's name never reaches the directory.
            tracing::warn!(login = %login, peer = %self.peer, "proxy identity used as a user name");
            let refused = Response::err_code(RespCode::Auth, "Authentication failed");
            return self
                .failed(self.after_delay(started), &login, "proxy_refused", refused)
                .await;
        }
        let throttle = self.shared.throttle.clone();
        let ip = self.client.ip();
        if let Some(t) = &throttle
            && let Verdict::Locked { scope, remaining } = t.check(ip, &login)
        {
            // The password is not even checked; the answer is a failure's.
            tracing::warn!(%login, ?scope, ?remaining, "login refused: locked out after too many failures");
            let refused = Response::err_code(RespCode::Auth, "Authentication failed");
            return self
                .failed(started + t.locked_delay(), &login, "locked", refused)
                .await;
        }
        let verdict = self.shared.auth.authenticate(&login, &password).await;
        drop(password);
        let delay = match (&verdict, &throttle) {
            (Ok(_), Some(t)) => {
                t.succeeded(ip, &login);
                None
            }
            (Err(AuthFailure::BadCredentials), Some(t)) => Some(t.failed(ip, &login)),
            _ => None,
        };
        self.verdict(started, login, verdict, delay).await
    }

    /// When a failed login may be answered: the configured delay after the
    /// check began.
    fn after_delay(&self, started: tokio::time::Instant) -> tokio::time::Instant {
        started + self.shared.config.auth_failure_delay
    }

    /// Answers a checked login: open the maildrop, or refuse (a refusal
    /// for bad credentials after `delay` when the throttle set one).
    async fn verdict(
        &mut self,
        started: tokio::time::Instant,
        login: String,
        verdict: Result<Account, AuthFailure>,
        delay: Option<std::time::Duration>,
    ) -> Flow {
        match verdict {
            Ok(account) => self.open(account).await,
            Err(AuthFailure::BadCredentials) => {
                let until = match delay {
                    Some(d) => started + d,
                    None => self.after_delay(started),
                };
                self.failed(
                    until,
                    &login,
                    "failed",
                    Response::err_code(RespCode::Auth, "Authentication failed"),
                )
                .await
            }
            Err(AuthFailure::Inactive) => {
                self.failed(
                    self.after_delay(started),
                    &login,
                    "inactive",
                    Response::err_code(RespCode::SysPerm, "Account is disabled"),
                )
                .await
            }
            Err(AuthFailure::HomedElsewhere(host)) => {
                self.shared.metrics.login("elsewhere");
                tracing::warn!(%login, mail_host = %host, client = %self.client, "login refused: the account is homed on another store");
                self.ok_err("This account is served by another server")
            }
            Err(AuthFailure::Temporary(reason)) => {
                tracing::warn!(%login, %reason, "authentication unavailable");
                self.shared.metrics.login("temporary");
                self.ok_err_code(
                    RespCode::SysTemp,
                    "Authentication is unavailable, try again later",
                )
            }
        }
    }

    fn ok_err_code(&mut self, code: RespCode, text: &str) -> Flow {
        self.reply(Response::err_code(code, text));
        Flow::Continue
    }

    /// A refused login: counted, answered only at `until` (the delay after
    /// the check began, so a directory that is slower for existing users
    /// than for unknown ones is not a timing oracle, as long as it answers
    /// within the delay), and the connection closed after too many.
    async fn failed(
        &mut self,
        until: tokio::time::Instant,
        login: &str,
        result: &'static str,
        reply: Response,
    ) -> Flow {
        self.shared.metrics.login(result);
        self.auth_failures += 1;
        tracing::info!(%login, result, failures = self.auth_failures, client = %self.client, "login refused");
        tokio::select! {
            _ = tokio::time::sleep_until(until) => {}
            _ = self.shutdown.triggered() => {}
        }
        self.reply(reply);
        if self.auth_failures >= self.shared.config.max_auth_failures {
            self.reply(Response::err("Too many failed logins, closing connection"));
            return Flow::Close;
        }
        Flow::Continue
    }

    /// Locks and snapshots the maildrop: TRANSACTION (RFC 1939 4).
    async fn open(&mut self, account: Account) -> Flow {
        if let Some(wait) = self.shared.login_wait(&account.id) {
            self.shared.metrics.login("login_delay");
            tracing::info!(account = %account.name, "login too soon (LOGIN-DELAY)");
            return self.ok_err_code(
                RespCode::LoginDelay,
                &format!(
                    "Logged in too recently, wait {} seconds",
                    wait.as_secs().max(1)
                ),
            );
        }
        let mut slot = None;
        if let Some(limit) = &self.shared.sessions_per_user {
            match limit.acquire(account.id.clone()) {
                Some(s) => slot = Some(s),
                None => {
                    self.shared.metrics.login("session_limit");
                    tracing::warn!(account = %account.name, max = limit.max(), client = %self.client,
                        "login refused: too many sessions for this user");
                    // RFC 2449 8.1.1: IN-USE, the account is busy with
                    // other sessions.
                    return self.ok_err_code(
                        RespCode::InUse,
                        "Too many sessions for this user, close one and try again",
                    );
                }
            }
        }
        match self.shared.maildrops.open(&account).await {
            Ok(maildrop) => {
                let count = maildrop.messages().len();
                let octets: u64 = maildrop.messages().iter().map(|m| m.size).sum();
                self.shared.metrics.login("ok");
                self.shared.record_login(&account.id);
                tracing::Span::current().record("user", account.name.as_str());
                tracing::info!(messages = count, octets, client = %self.client, "logged in");
                self.reply(Response::ok(format!(
                    "Logged in, {count} messages ({octets} octets)"
                )));
                self.state = State::Transaction(Box::new(Transaction {
                    account,
                    deleted: vec![false; count],
                    maildrop,
                    _slot: slot,
                }));
                Flow::Continue
            }
            Err(Error::InUse) => {
                self.shared.metrics.login("in_use");
                tracing::info!(account = %account.name, "maildrop locked by another session");
                self.ok_err_code(
                    RespCode::InUse,
                    "Maildrop is in use by another session, try again later",
                )
            }
            Err(e) => {
                self.shared.metrics.login("unavailable");
                tracing::warn!(account = %account.name, error = %e, "maildrop unavailable");
                self.ok_err_code(
                    RespCode::SysTemp,
                    "Maildrop is unavailable, try again later",
                )
            }
        }
    }
}
