//! The SMTP relays, `mta-inbound` and `mta-outbound`: the SMTP server and
//! queue of mail-mta, the channel table and rewrite rules of mail-routing,
//! the directory, and jobctl wired into one service.
//!
//! - Inbound (`[smtp]` on port 25): hosted domains only, unless the client
//!   is in `trusted_networks`; recipients checked at RCPT.
//! - Outbound (`[submission]` on 587 with STARTTLS, `[submissions]` on 465):
//!   AUTH against the directory over TLS only, the envelope sender must be
//!   one of the user's own addresses; anything may be relayed once
//!   authenticated. An outbound `[smtp]` listener serves trusted hosts.
//!
//! Every accepted message is in the spool (fsynced) before the `250`, then
//! submitted to jobctl; at start the whole spool is submitted again, so a
//! relay that crashed between the two loses nothing.
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod auth;
pub mod config;
pub mod lookup;
pub mod reprocess;

pub use config::{RelayConfig, ReprocessSettings};

use std::sync::Arc;

use mail_core::service::Context;
use mail_mta::{Hooks, RelayPolicy, SmtpServer};
use mail_queue::Spool;

/// Why the relay could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The directory would not open.
    #[error("directory: {0}")]
    Directory(#[from] mail_directory::DirectoryError),
    /// The routing file is wrong.
    #[error("routing: {0}")]
    Routing(#[from] mail_routing::Error),
    /// A listener would not start.
    #[error("{0}")]
    Mta(#[from] mail_mta::Error),
    /// The spool would not open or scan.
    #[error("{0}")]
    Queue(#[from] mail_queue::Error),
    /// TLS files could not be loaded.
    #[error("{0}")]
    Tls(#[from] mail_core::tls::TlsError),
    /// The jobctl address or the relay's certificate is unusable.
    #[error("delivery.jobctl: {0}")]
    Jobctl(#[from] mail_core::grpc::GrpcError),
    /// The delivery workers would not start.
    #[error("delivery: {0}")]
    Delivery(#[from] mail_delivery::Error),
    /// A `[proxy]` secret file could not be read.
    #[error("proxy: {0}")]
    Proxy(std::io::Error),
}

/// What a started relay shares with its delivery workers.
#[derive(Clone)]
pub struct Relay {
    /// The queue on disk.
    pub spool: Spool,
    /// The channel table and rewrite rules.
    pub router: Arc<mail_routing::Router>,
    /// The directory.
    pub directory: Arc<dyn mail_directory::Directory>,
    /// jobctl, as this relay.
    pub jobctl: mail_delivery::Jobctl,
    /// Where generated notices (DSNs) go: routed and queued like mail.
    pub dsn: Arc<dyn mail_delivery::DsnSink>,
}

/// Opens the spool, submits what it holds to jobctl and starts the SMTP
/// listeners the configuration names (published as `smtp`, `submission`,
/// `submissions`).
pub async fn start(cfg: RelayConfig, ctx: &Context) -> Result<Relay, Error> {
    let tls = match &cfg.tls {
        Some(files) => Some(mail_core::tls::server_config(files)?),
        None => None,
    };
    let directory = mail_directory::open(&cfg.directory).await?;
    let router = Arc::new(mail_routing::Router::load(&cfg.routing)?);
    let spool = Spool::open(&cfg.spool)?;
    let jobctl = mail_delivery::Jobctl::new(
        &cfg.delivery.jobctl,
        cfg.delivery.jobctl_tls.as_ref(),
        &cfg.delivery.relay,
        router.clone(),
        spool.clone(),
    )?;

    let backlog = spool.scan().await?;
    if !backlog.corrupt.is_empty() {
        tracing::error!(files = ?backlog.corrupt, "unreadable queue files moved aside");
    }
    tracing::info!(
        entries = backlog.entries.len(),
        completed = backlog.completed,
        "spool scanned"
    );
    // First void the leases of this relay's previous process (it may have
    // been killed mid-delivery): jobctl refuses a resubmission of a leased
    // job and would hold those jobs until the leases expire. This runs
    // before this process starts its own workers, whose fresh leases it
    // must not void. Without jobctl (a few seconds of tries) the old
    // leases simply run out, and a restarted jobctl holds none anyway.
    match jobctl.relay_started().await {
        Ok(released) if released > 0 => {
            tracing::info!(
                released,
                "jobs leased by this relay's previous process offered again"
            )
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %e, "jobctl not told of the restart; old leases run out on their own")
        }
    }
    let submitter = jobctl.clone();
    ctx.shutdown.spawn(async move {
        let failed = submitter.submit(&backlog.entries).await;
        if failed > 0 {
            tracing::error!(failed, "backlog not submitted to jobctl");
        }
    });

    let lookup = Arc::new(lookup::RoutingLookup::new(
        router.clone(),
        directory.clone(),
    ));
    let relay_hooks = || {
        Hooks::new(Arc::new(RelayPolicy::new(
            lookup.clone(),
            cfg.trusted_networks.clone(),
        )))
        .with_notifier(Arc::new(jobctl.clone()))
    };
    let proxies =
        mail_core::trusted_proxy::TrustedProxies::load(&cfg.proxy).map_err(Error::Proxy)?;
    // One throttle for every AUTH port of this relay.
    let throttle = Arc::new(mail_core::login_throttle::LoginThrottle::new(
        "relay",
        &cfg.login_throttle,
    ));
    let submission_hooks = || {
        relay_hooks()
            .with_authenticator(Arc::new(
                auth::DirectoryAuth::with_proxies(directory.clone(), proxies.clone())
                    .with_throttle(throttle.clone()),
            ))
            .with_senders(Arc::new(auth::DirectorySenders::new(directory.clone())))
    };
    if let Some(c) = &cfg.smtp {
        let addr = SmtpServer::new(c.clone(), spool.clone(), relay_hooks())
            .serve(tls.clone(), &ctx.shutdown)
            .await?;
        ctx.publish_port("smtp", addr);
    }
    for (name, c) in [
        ("submission", &cfg.submission),
        ("submissions", &cfg.submissions),
    ] {
        if let Some(c) = c {
            let mut c = c.clone();
            // RFC 6409 4.3: submission is for authenticated users only.
            c.require_auth = true;
            let addr = SmtpServer::new(c, spool.clone(), submission_hooks())
                .serve(tls.clone(), &ctx.shutdown)
                .await?;
            ctx.publish_port(name, addr);
        }
    }
    let stop = ctx.shutdown.clone();
    let closing = spool.clone();
    tokio::spawn(async move {
        stop.triggered().await;
        closing.close();
    });
    let dsn: Arc<dyn mail_delivery::DsnSink> = Arc::new(mail_delivery::RoutedSink::new(
        spool.clone(),
        router.clone(),
        directory.clone(),
        jobctl.clone(),
    ));
    let relay = Relay {
        spool,
        router,
        directory,
        jobctl,
        dsn,
    };
    start_workers(&relay, &cfg, ctx)?;
    Ok(relay)
}

/// The master channels: delivery workers for every channel kind
/// mail-delivery serves, and the `reprocess` workers.
fn start_workers(relay: &Relay, cfg: &RelayConfig, ctx: &Context) -> Result<(), Error> {
    let workers = mail_delivery::start(
        cfg.delivery.clone(),
        relay.router.channels(),
        relay.spool.clone(),
        relay.dsn.clone(),
        &relay.jobctl,
        &ctx.shutdown,
    )?;
    tracing::info!(channels = ?workers.per_channel, "delivery workers started");
    ctx.shutdown.spawn(workers.join());
    let hostname = cfg
        .smtp
        .iter()
        .chain(&cfg.submission)
        .chain(&cfg.submissions)
        .map(|c| c.hostname.clone())
        .next()
        .unwrap_or_else(|| "localhost".into());
    for ch in relay.router.channels() {
        if ch.kind != mail_routing::ChannelKind::Reprocess {
            continue;
        }
        reprocess::start(
            relay.clone(),
            reprocess::ReprocessConfig {
                channel: ch.name.clone(),
                workers: cfg.reprocess.workers,
                expansion: cfg.reprocess.expansion,
                vacation_period: cfg.reprocess.vacation_period,
                state_dir: cfg.spool.dir.join(".vacation"),
                hostname: hostname.clone(),
                lease: cfg.delivery.lease,
            },
            &ctx.shutdown,
        );
    }
    Ok(())
}
