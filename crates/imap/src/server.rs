//! [`ImapServer`]: the [`Handler`] the listener calls for each connection.

use std::net::SocketAddr;
use std::sync::Arc;

use mail_core::Shutdown;
use mail_core::listener::{Conn, Handler, Listener};
use mail_core::trusted_proxy::TrustedProxies;
use mail_directory::Directory;
use mail_store::Store;
use rustls::ServerConfig;
use tracing::Instrument;

use crate::config::ImapConfig;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::session::Session;

/// Which users this store serves, and who may log in for them.
#[derive(Debug, Clone, Default)]
pub struct LoginPolicy {
    /// This store's name as the directory's `mailHost` gives it: a user
    /// whose `mailHost` names another store is refused, with an RFC 2221
    /// referral to that store when the client asked for referrals. `None`
    /// serves every user (one store, tests).
    pub host: Option<String>,
    /// Access-tier proxies allowed to log in for a user and to pass the
    /// client's address with ID (`mail_core::trusted_proxy`).
    pub proxies: TrustedProxies,
    /// Failed-login throttling across connections (per client address and
    /// name); without it, each failure waits `auth_failure_delay`.
    pub throttle: Option<Arc<mail_core::login_throttle::LoginThrottle>>,
    /// Sessions per user, shared with the store's other IMAP and POP3
    /// listeners: a login beyond the limit gets `NO [LIMIT]`. `None`: no
    /// limit.
    pub sessions_per_user: Option<Arc<mail_core::conn_limit::ConnLimit<String>>>,
}

/// What every session of one server shares.
pub(crate) struct Shared {
    pub(crate) config: ImapConfig,
    pub(crate) store: Store,
    pub(crate) directory: Arc<dyn Directory>,
    pub(crate) metrics: Metrics,
    pub(crate) policy: LoginPolicy,
}

/// The IMAP protocol handler over a store and a directory.
pub struct ImapServer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ImapServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapServer")
            .field("config", &self.shared.config)
            .finish()
    }
}

impl ImapServer {
    /// A server with `config` over `store`, authenticating through
    /// `directory` (store user = directory uid).
    pub fn new(config: ImapConfig, store: Store, directory: Arc<dyn Directory>) -> Self {
        Self {
            shared: Arc::new(Shared {
                config,
                store,
                directory,
                metrics: Metrics::new(),
                policy: LoginPolicy::default(),
            }),
        }
    }

    /// Serves only the users homed here and accepts the given proxies (see
    /// [`LoginPolicy`]).
    pub fn with_policy(mut self, policy: LoginPolicy) -> Self {
        match Arc::get_mut(&mut self.shared) {
            Some(shared) => shared.policy = policy,
            // Only reachable if the server were shared before this call,
            // which its API does not allow.
            None => tracing::error!("IMAP login policy not applied: server already shared"),
        }
        self
    }

    /// The configuration in use.
    pub fn config(&self) -> &ImapConfig {
        &self.shared.config
    }

    /// Binds the configured listener and serves until `shutdown`; returns
    /// the bound address (useful with port 0). `tls` enables STARTTLS (or
    /// implicit TLS when the listener says `tls = "implicit"`).
    pub async fn serve(
        self,
        tls: Option<Arc<ServerConfig>>,
        shutdown: &Shutdown,
    ) -> Result<SocketAddr, Error> {
        let addr = self.shared.config.listener.listen;
        let config = self.shared.config.listener.clone();
        Listener::start("imap", &config, tls, Arc::new(self), shutdown)
            .await
            .map_err(|source| Error::Bind { addr, source })
    }
}

impl Handler for ImapServer {
    fn handle(&self, conn: Conn, shutdown: Shutdown) -> impl Future<Output = ()> + Send {
        let span = tracing::info_span!(
            "imap.session",
            peer = %conn.peer,
            tls = conn.is_tls(),
            client = tracing::field::Empty,
            user = tracing::field::Empty,
        );
        self.shared.metrics.session();
        let session = Session::new(self.shared.clone());
        session.run(conn, shutdown).instrument(span)
    }

    fn busy_reply(&self) -> &'static [u8] {
        b"* BYE [UNAVAILABLE] Too many connections, try again later\r\n"
    }
}
