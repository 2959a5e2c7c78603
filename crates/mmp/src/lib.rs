//! The MMP (messaging multiplexor): one IMAP and POP3 address for every
//! store. It holds no mail and no state that matters.
//!
//! For each client connection ([`mail_core::listener`] does accept, TLS
//! and the connection limit):
//!
//! 1. Before login, a small state machine answers CAPABILITY, ID, NOOP,
//!    STARTTLS and LOGOUT (POP3: CAPA, STLS, QUIT) itself, parsing with the
//!    wire crates (`mail-imap-proto`, `mail-pop3`'s `proto`).
//! 2. LOGIN / AUTHENTICATE PLAIN (POP3: USER/PASS, AUTH PLAIN): the
//!    password is checked against the directory through the failed-login
//!    throttle ([`mail_core::login_throttle`]); the user's `mailHost` is
//!    mapped to a store address ([`route`]: a table, else DNS); the store
//!    is reached within a bounded time and logged in to with the
//!    trusted-proxy login ([`backend`], `mail_core::trusted_proxy`),
//!    passing the client's address.
//! 3. The client gets the store's post-login answer, and bytes are relayed
//!    both ways with back-pressure until either side closes
//!    ([`relay`]).
//!
//! `docs/mmp.md` describes the behaviour, the configuration and the
//! metrics.
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod backend;
pub mod config;
pub mod error;
mod imap;
mod login;
mod metrics;
mod pop3;
pub(crate) mod relay;
pub mod route;

use std::sync::Arc;

use mail_core::listener::{Handler, Listener, ListenerConfig};
use mail_core::login_throttle::LoginThrottle;
use mail_core::service::Context;

pub use config::MmpConfig;
pub use error::Error;

use crate::login::Shared;

async fn listen<H: Handler>(
    name: &'static str,
    config: &ListenerConfig,
    tls: Option<Arc<rustls::ServerConfig>>,
    handler: Arc<H>,
    ctx: &Context,
) -> Result<(), Error> {
    let addr = Listener::start(name, config, tls, handler, &ctx.shutdown)
        .await
        .map_err(|source| Error::Bind {
            addr: config.listen,
            source,
        })?;
    ctx.publish_port(name, addr);
    Ok(())
}

/// Opens the directory, reads the proxy secret, builds the router and
/// starts the configured listeners; returns once they are bound (ports
/// `imap`, `imaps`, `pop3`, `pop3s` in the ports file).
pub async fn start(cfg: MmpConfig, ctx: &Context) -> Result<(), Error> {
    let tls = match &cfg.tls {
        Some(files) => Some(mail_core::tls::server_config(files)?),
        None => None,
    };
    let shared = Arc::new(Shared {
        directory: mail_directory::open(&cfg.directory).await?,
        router: route::Router::new(&cfg.backend)?,
        backend: backend::Backend::new(&cfg.backend)?,
        throttle: LoginThrottle::new("mmp", &cfg.login_throttle),
        metrics: metrics::Metrics::new(),
        per_ip: mail_core::conn_limit::ConnLimit::new(cfg.limits.max_connections_per_ip),
    });
    if let Some(front) = cfg.imap {
        let front = Arc::new(front);
        let handler = Arc::new(imap::ImapFront {
            shared: shared.clone(),
            config: front.clone(),
        });
        listen("imap", &front.listener, tls.clone(), handler.clone(), ctx).await?;
        if let Some(l) = &front.tls_listener {
            listen("imaps", l, tls.clone(), handler, ctx).await?;
        }
    }
    if let Some(front) = cfg.pop3 {
        let front = Arc::new(front);
        let handler = Arc::new(pop3::Pop3Front {
            shared: shared.clone(),
            config: front.clone(),
        });
        listen("pop3", &front.listener, tls.clone(), handler.clone(), ctx).await?;
        if let Some(l) = &front.tls_listener {
            listen("pop3s", l, tls, handler, ctx).await?;
        }
    }
    tracing::info!(
        identity = %cfg.backend.identity,
        backend_tls = ?cfg.backend.tls,
        hosts = cfg.backend.hosts.len(),
        dns = cfg.backend.dns.enabled,
        "MMP ready"
    );
    Ok(())
}
