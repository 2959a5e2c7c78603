//! [`Pop3Server`]: the [`Handler`] the listener calls for each connection.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mail_core::Shutdown;
use mail_core::conn_limit::ConnLimit;
use mail_core::listener::{Conn, Handler, Listener};
use mail_core::trusted_proxy::TrustedProxies;
use rustls::ServerConfig;
use tracing::Instrument;

use crate::config::Pop3Config;
use crate::error::Error;
use crate::maildrop::{Authenticator, Maildrops};
use crate::metrics::Metrics;
use crate::session::Session;

/// Entries kept for LOGIN-DELAY before old ones are pruned.
const LOGIN_TIMES_PRUNE_AT: usize = 10_000;

/// What every session of one server shares.
pub(crate) struct Shared<A, M> {
    pub(crate) config: Pop3Config,
    pub(crate) auth: Arc<A>,
    pub(crate) maildrops: Arc<M>,
    pub(crate) metrics: Metrics,
    /// Access-tier proxies allowed to log in for a user and to pass the
    /// client's address (XCLIENT); none by default.
    pub(crate) proxies: TrustedProxies,
    /// Failed-login throttling across connections; none by default.
    pub(crate) throttle: Option<Arc<mail_core::login_throttle::LoginThrottle>>,
    /// Logged-in sessions per account, shared with the process's other
    /// listeners (IMAP included); none by default.
    pub(crate) sessions_per_user: Option<Arc<ConnLimit<String>>>,
    /// Last successful login per account id, for LOGIN-DELAY.
    login_times: Mutex<HashMap<String, Instant>>,
}

impl<A, M> Shared<A, M> {
    /// How long `account` must still wait before it may log in again
    /// (RFC 2449 8.1.2), if at all.
    pub(crate) fn login_wait(&self, account: &str) -> Option<Duration> {
        let delay = self.config.login_delay?;
        let times = self
            .login_times
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let since = Instant::now().duration_since(*times.get(account)?);
        (since < delay).then(|| delay - since)
    }

    /// Remembers a successful login for LOGIN-DELAY.
    pub(crate) fn record_login(&self, account: &str) {
        let Some(delay) = self.config.login_delay else {
            return;
        };
        let now = Instant::now();
        let mut times = self
            .login_times
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if times.len() >= LOGIN_TIMES_PRUNE_AT {
            times.retain(|_, t| now.duration_since(*t) < delay);
        }
        times.insert(account.to_string(), now);
    }
}

/// The POP3 protocol handler, generic over the directory and the store.
pub struct Pop3Server<A, M> {
    shared: Arc<Shared<A, M>>,
}

impl<A, M> std::fmt::Debug for Pop3Server<A, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pop3Server")
            .field("config", &self.shared.config)
            .finish()
    }
}

impl<A: Authenticator, M: Maildrops> Pop3Server<A, M> {
    /// A server with `config` checking logins with `auth` and serving
    /// maildrops from `maildrops`.
    pub fn new(config: Pop3Config, auth: Arc<A>, maildrops: Arc<M>) -> Self {
        Self {
            shared: Arc::new(Shared {
                config,
                auth,
                maildrops,
                metrics: Metrics::new(),
                proxies: TrustedProxies::default(),
                throttle: None,
                sessions_per_user: None,
                login_times: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Counts failed password logins in `throttle` (shared with the
    /// process's other login paths): growing delays and lockouts instead of
    /// the fixed `auth_failure_delay`.
    pub fn with_throttle(
        mut self,
        throttle: Arc<mail_core::login_throttle::LoginThrottle>,
    ) -> Self {
        match Arc::get_mut(&mut self.shared) {
            Some(shared) => shared.throttle = Some(throttle),
            None => tracing::error!("POP3 throttle not applied: server already shared"),
        }
        self
    }

    /// Counts logged-in sessions per account in `limit` (shared with the
    /// store's IMAP): a login beyond it gets `-ERR [IN-USE]`.
    pub fn with_sessions_per_user(mut self, limit: Arc<ConnLimit<String>>) -> Self {
        match Arc::get_mut(&mut self.shared) {
            Some(shared) => shared.sessions_per_user = Some(limit),
            None => tracing::error!("POP3 session limit not applied: server already shared"),
        }
        self
    }

    /// Accepts trusted-proxy logins (AUTH PLAIN with a proxy's identity
    /// acting for a user, see `mail_core::trusted_proxy`) and XCLIENT
    /// from `proxies`.
    pub fn with_proxies(mut self, proxies: TrustedProxies) -> Self {
        match Arc::get_mut(&mut self.shared) {
            Some(shared) => shared.proxies = proxies,
            // Only reachable if the server were cloned before this call,
            // which its API does not allow.
            None => tracing::error!("POP3 proxies not applied: server already shared"),
        }
        self
    }

    /// The configuration in use.
    pub fn config(&self) -> &Pop3Config {
        &self.shared.config
    }

    /// Binds the configured listener and serves until `shutdown`; returns
    /// the bound address (useful with port 0). `tls` enables STLS (or
    /// implicit TLS, if so configured).
    pub async fn serve(
        self,
        tls: Option<Arc<ServerConfig>>,
        shutdown: &Shutdown,
    ) -> Result<SocketAddr, Error> {
        let addr = self.shared.config.listener.listen;
        let config = self.shared.config.listener.clone();
        Listener::start("pop3", &config, tls, Arc::new(self), shutdown)
            .await
            .map_err(|source| Error::Bind { addr, source })
    }
}

impl<A: Authenticator, M: Maildrops> Handler for Pop3Server<A, M> {
    fn handle(&self, conn: Conn, shutdown: Shutdown) -> impl Future<Output = ()> + Send {
        let span = tracing::info_span!(
            "pop3.session",
            peer = %conn.peer,
            tls = conn.is_tls(),
            client = tracing::field::Empty,
            user = tracing::field::Empty,
        );
        self.shared.metrics.session();
        let session = Session::new(self.shared.clone(), shutdown);
        session.run(conn).instrument(span)
    }

    fn busy_reply(&self) -> &'static [u8] {
        b"-ERR [SYS/TEMP] Too many connections, try again later\r\n"
    }
}
