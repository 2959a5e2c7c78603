//! [`SmtpServer`]: the [`Handler`] the listener calls for each connection.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use mail_core::Shutdown;
use mail_core::listener::{Conn, Handler, Listener};
use rustls::ServerConfig;
use tokio::io::AsyncWriteExt;
use tracing::Instrument;

use crate::config::SmtpConfig;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::policy::Hooks;
use crate::ratelimit::{Limits, RateLimiter, Refused};
use crate::session::Session;
use mail_queue::Spool;

/// What every session of one server shares.
pub(crate) struct Shared {
    pub(crate) config: SmtpConfig,
    pub(crate) spool: Spool,
    pub(crate) hooks: Hooks,
    pub(crate) metrics: Metrics,
    pub(crate) limiter: Arc<RateLimiter>,
    /// Where content over the memory threshold is written while received.
    pub(crate) temp_dir: PathBuf,
}

/// The SMTP protocol handler: receives mail into the [`Spool`], asking the
/// [`Hooks`] for every decision.
pub struct SmtpServer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SmtpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpServer")
            .field("config", &self.shared.config)
            .field("spool", &self.shared.spool)
            .finish()
    }
}

impl SmtpServer {
    /// A server with `config` queueing into `spool`.
    pub fn new(config: SmtpConfig, spool: Spool, hooks: Hooks) -> Self {
        let limiter = RateLimiter::new(Limits {
            max_connections_per_ip: config.max_connections_per_ip,
            connections_per_minute: config.connections_per_minute,
            messages_per_minute: config.messages_per_minute,
            exempt: config.rate_limit_exempt.clone(),
        });
        let temp_dir = spool.root().join(".tmp");
        Self {
            shared: Arc::new(Shared {
                config,
                spool,
                hooks,
                metrics: Metrics::new(),
                limiter,
                temp_dir,
            }),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &SmtpConfig {
        &self.shared.config
    }

    /// Binds the configured listener and serves until `shutdown`; returns
    /// the bound address (useful with port 0). `tls` enables STARTTLS (or
    /// implicit TLS, if so configured) and with it AUTH.
    pub async fn serve(
        self,
        tls: Option<Arc<ServerConfig>>,
        shutdown: &Shutdown,
    ) -> Result<SocketAddr, Error> {
        let addr = self.shared.config.listener.listen;
        let config = self.shared.config.listener.clone();
        Listener::start("smtp", &config, tls, Arc::new(self), shutdown)
            .await
            .map_err(|source| Error::Bind { addr, source })
    }
}

impl Handler for SmtpServer {
    fn handle(&self, conn: Conn, shutdown: Shutdown) -> impl Future<Output = ()> + Send {
        let span = tracing::info_span!(
            "smtp.session",
            peer = %conn.peer,
            tls = conn.is_tls(),
            helo = tracing::field::Empty,
            auth = tracing::field::Empty,
        );
        let shared = self.shared.clone();
        async move {
            let mut conn = conn;
            let guard = match shared.limiter.connect(conn.peer.ip()) {
                Ok(g) => g,
                Err(why) => {
                    shared.metrics.session("rate_limited");
                    let text = match why {
                        Refused::TooManyConnections => {
                            "421 4.7.0 Too many connections from your address, try again later\r\n"
                        }
                        Refused::ConnectionRate => {
                            "421 4.7.0 Connection rate limit exceeded, try again later\r\n"
                        }
                    };
                    tracing::info!(?why, "connection refused by rate limit");
                    let _ = conn.stream.write_all(text.as_bytes()).await;
                    let _ = conn.stream.shutdown().await;
                    return;
                }
            };
            shared.metrics.session("served");
            Session::new(shared, &conn).run(conn, shutdown).await;
            drop(guard);
        }
        .instrument(span)
    }

    fn busy_reply(&self) -> &'static [u8] {
        b"421 4.3.2 Too many connections, try again later\r\n"
    }
}
