//! What IMAP and POP3 logins share once the client has sent its name and
//! password: the throttle, the directory's password check, the route to
//! the user's store by `mailHost`, and the proxied login there.
//!
//! Failures are answered after the throttle's delay, measured from when
//! the check began, and are the same for an unknown user and a wrong
//! password (and for a locked-out name or address). Trouble on the
//! server's side (directory down, no route, store down) is answered at
//! once: the client should retry, not wait.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use mail_core::Shutdown;
use mail_core::login_throttle::{LoginThrottle, Verdict};
use mail_directory::{AuthResult, Directory};
use tokio::time::Instant;

use crate::backend::{self, Backend, ClientInfo, Established};
use crate::metrics::Metrics;
use crate::route::{Protocol, Router};
use mail_core::conn_limit::ConnLimit;

/// What every session of the process shares.
pub(crate) struct Shared {
    pub(crate) directory: Arc<dyn Directory>,
    pub(crate) router: Router,
    pub(crate) backend: Backend,
    pub(crate) throttle: LoginThrottle,
    pub(crate) metrics: Metrics,
    pub(crate) per_ip: Arc<ConnLimit<std::net::IpAddr>>,
}

/// Why a login did not reach a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Unknown user, wrong password or a lockout: the delay has passed;
    /// answer `NO [AUTHENTICATIONFAILED]` / `-ERR [AUTH]`.
    Credentials,
    /// Right password, account disabled: `NO [CONTACTADMIN]` /
    /// `-ERR [SYS/PERM]`.
    Inactive,
    /// The directory, the route or the store failed: `NO [UNAVAILABLE]` /
    /// `-ERR [SYS/TEMP]`, at once.
    Unavailable,
    /// The store refused the user for a limit of theirs (too many
    /// sessions, POP maildrop in use): `NO [LIMIT]` / `-ERR [IN-USE]` with
    /// the store's text.
    Busy(String),
}

/// A session logged in at its store.
pub(crate) struct LoggedIn {
    /// The directory uid.
    pub(crate) uid: String,
    /// The store's name (`mailHost`).
    pub(crate) store: String,
    /// The store connection and its answer.
    pub(crate) backend: Established,
}

/// A fresh id for a session, shown in the MMP's log and sent to the store
/// so the two logs can be joined. Unique within the process and unlikely
/// to repeat across restarts; not a secret.
pub(crate) fn session_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let seed = *SEED.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        h.finish()
    });
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{:08x}{:06x}", (seed >> 32) as u32, n & 0xff_ffff)
}

/// The store's text for a [`Failure::Busy`], as the client will see it:
/// bounded, printable, never empty.
pub(crate) fn busy_text(store_text: &str) -> &str {
    let t = store_text.trim();
    if t.is_empty() || t.len() > 200 || t.chars().any(|c| c.is_control()) {
        "Too many sessions for this user; close one and try again"
    } else {
        t
    }
}

/// A login name shown in logs: bounded, without control characters.
pub(crate) fn shown(login: &str) -> String {
    login
        .chars()
        .take(64)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

async fn wait_until(deadline: Instant, shutdown: &Shutdown) {
    tokio::select! {
        _ = tokio::time::sleep_until(deadline) => {}
        _ = shutdown.triggered() => {}
    }
}

impl Shared {
    /// Checks `login`/`password` and logs in at the user's store.
    pub(crate) async fn login(
        &self,
        protocol: Protocol,
        client: &ClientInfo,
        login: &str,
        password: &str,
        shutdown: &Shutdown,
    ) -> Result<LoggedIn, Failure> {
        let started = Instant::now();
        let ip: IpAddr = client.peer.ip();
        let name = shown(login);
        if let Verdict::Locked { scope, remaining } = self.throttle.check(ip, login) {
            self.metrics.login(protocol, "locked");
            tracing::warn!(login = %name, ?scope, remaining = ?remaining, "login refused: locked out after too many failures");
            wait_until(started + self.throttle.locked_delay(), shutdown).await;
            return Err(Failure::Credentials);
        }
        let user = match self.directory.authenticate(login, password).await {
            Ok(AuthResult::Authenticated(user)) => user,
            Ok(AuthResult::Inactive(_)) => {
                self.metrics.login(protocol, "inactive");
                tracing::info!(login = %name, "login refused: account inactive");
                wait_until(started + self.throttle.config().failure_delay, shutdown).await;
                return Err(Failure::Inactive);
            }
            Err(e) if e.is_temporary() => {
                self.metrics.login(protocol, "directory_unavailable");
                tracing::warn!(login = %name, error = %e, "directory unavailable for login");
                return Err(Failure::Unavailable);
            }
            // Unknown, deleted, wrong password, or a login the directory
            // cannot even parse: all the same to the client.
            other => {
                if let Err(e) = other {
                    tracing::debug!(error = %e, "login not understood by the directory");
                }
                let delay = self.throttle.failed(ip, login);
                self.metrics.login(protocol, "failure");
                tracing::info!(login = %name, delay = ?delay, "login failed");
                wait_until(started + delay, shutdown).await;
                return Err(Failure::Credentials);
            }
        };
        self.throttle.succeeded(ip, login);
        let span = tracing::Span::current();
        span.record("user", user.uid.as_str());
        let route = match self.router.route(user.mail_host.as_deref(), protocol).await {
            Ok(r) => r,
            Err(e) => {
                self.metrics.login(protocol, "no_route");
                tracing::error!(user = %user.uid, error = %e, "no route to the user's store");
                return Err(Failure::Unavailable);
            }
        };
        span.record("store", route.host.as_str());
        let t0 = Instant::now();
        let established = self.connect(protocol, &route, &user.uid, client).await;
        let took = t0.elapsed();
        match established {
            Ok(backend) => {
                self.metrics.backend(&route.host, "ok", took);
                self.metrics.login(protocol, "success");
                tracing::info!(user = %user.uid, store = %route.host, took = ?took, "logged in; relaying");
                Ok(LoggedIn {
                    uid: user.uid,
                    store: route.host,
                    backend,
                })
            }
            Err(backend::BackendError::Busy(text)) => {
                self.metrics.backend(&route.host, "ok", took);
                self.metrics.login(protocol, "store_busy");
                tracing::info!(user = %user.uid, store = %route.host, reply = %text, "the store refused the user: busy");
                Err(Failure::Busy(text))
            }
            Err(e) => {
                self.metrics.backend(&route.host, e.kind(), took);
                self.metrics.login(protocol, "store_unavailable");
                tracing::warn!(user = %user.uid, store = %route.host, error = %e, took = ?took, "store unavailable");
                Err(Failure::Unavailable)
            }
        }
    }

    async fn connect(
        &self,
        protocol: Protocol,
        route: &crate::route::Route,
        uid: &str,
        client: &ClientInfo,
    ) -> Result<Established, backend::BackendError> {
        let (stream, addr) = self.backend.connect(route).await?;
        tracing::debug!(%addr, "connected to the store");
        let login = async {
            match protocol {
                Protocol::Imap => {
                    backend::imap::login(&self.backend, route, stream, uid, client).await
                }
                Protocol::Pop3 => {
                    backend::pop3::login(&self.backend, route, stream, uid, client).await
                }
            }
        };
        tokio::time::timeout(self.backend.login_timeout, login)
            .await
            .map_err(|_| backend::BackendError::Timeout("logging in at the store"))?
    }
}

/// How long a pre-login read may wait: until the login deadline.
pub(crate) fn left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}
