//! [`LmtpServer`]: the [`Handler`] the listener calls for each connection.

use std::net::SocketAddr;
use std::sync::Arc;

use mail_core::Shutdown;
use mail_core::listener::{Conn, Handler, Listener};
use rustls::ServerConfig;
use tracing::Instrument;

use crate::config::LmtpConfig;
use crate::error::Error;
use crate::mailboxes::Mailboxes;
use crate::metrics::Metrics;
use crate::session::Session;

/// What every session of one server shares.
pub(crate) struct Shared<M> {
    pub(crate) config: LmtpConfig,
    pub(crate) mailboxes: Arc<M>,
    pub(crate) metrics: Metrics,
}

/// The LMTP protocol handler, generic over the store behind it.
pub struct LmtpServer<M> {
    shared: Arc<Shared<M>>,
}

impl<M> std::fmt::Debug for LmtpServer<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LmtpServer")
            .field("config", &self.shared.config)
            .finish()
    }
}

impl<M: Mailboxes> LmtpServer<M> {
    /// A server with `config` delivering through `mailboxes`.
    pub fn new(config: LmtpConfig, mailboxes: Arc<M>) -> Self {
        Self {
            shared: Arc::new(Shared {
                config,
                mailboxes,
                metrics: Metrics::new(),
            }),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &LmtpConfig {
        &self.shared.config
    }

    /// Binds the configured listener and serves until `shutdown`; returns
    /// the bound address (useful with port 0). `tls` enables STARTTLS (or
    /// implicit TLS, if so configured).
    pub async fn serve(
        self,
        tls: Option<Arc<ServerConfig>>,
        shutdown: &Shutdown,
    ) -> Result<SocketAddr, Error> {
        let addr = self.shared.config.listener.listen;
        let config = self.shared.config.listener.clone();
        Listener::start("lmtp", &config, tls, Arc::new(self), shutdown)
            .await
            .map_err(|source| Error::Bind { addr, source })
    }
}

impl<M: Mailboxes> Handler for LmtpServer<M> {
    fn handle(&self, conn: Conn, shutdown: Shutdown) -> impl Future<Output = ()> + Send {
        let span = tracing::info_span!(
            "lmtp.session",
            peer = %conn.peer,
            tls = conn.is_tls(),
            lhlo = tracing::field::Empty,
        );
        self.shared.metrics.session();
        let session = Session::new(self.shared.clone(), conn.peer);
        session.run(conn, shutdown).instrument(span)
    }

    fn busy_reply(&self) -> &'static [u8] {
        b"421 4.3.2 Too many connections, try again later\r\n"
    }
}
