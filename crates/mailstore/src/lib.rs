//! The `mailstore` service: one message store (data tier) with its LMTP
//! listeners. Recipients, partitions and quotas come from the directory;
//! a recipient whose `mailHost` names another store is refused with a
//! temporary error so the relay's stale routing shows in its log instead of
//! mail landing on the wrong store. IMAP and POP3 logins of such users are
//! refused the same way (an IMAP referral where the client asked for one),
//! and the `[proxy]` section lets the access tier (MMP, MEM) log in for a
//! user.
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod admin;
pub mod config;
pub mod lmtp;
pub mod pop3;

pub use config::MailstoreConfig;
pub use lmtp::StoreMailboxes;

use std::sync::Arc;

use mail_core::service::Context;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store engine would not open.
    #[error("store: {0}")]
    Store(#[from] mail_store::StoreError),
    /// The directory would not open.
    #[error("directory: {0}")]
    Directory(#[from] mail_directory::DirectoryError),
    /// A listener would not start.
    #[error("{0}")]
    Lmtp(#[from] mail_lmtp::Error),
    /// The IMAP listener would not start.
    #[error("{0}")]
    Imap(#[from] mail_imap::Error),
    /// The POP3 listener would not start.
    #[error("{0}")]
    Pop3(#[from] mail_pop3::Error),
    /// TLS files could not be loaded.
    #[error("{0}")]
    Tls(#[from] mail_core::tls::TlsError),
    /// The admin API could not start (its address, its TLS files).
    #[error("{0}")]
    Admin(#[from] mail_core::grpc::GrpcError),
    /// JMAP would not start.
    #[error("{0}")]
    Jmap(#[from] mail_jmap::Error),
    /// A `[proxy]` secret file could not be read.
    #[error("proxy: {0}")]
    Proxy(std::io::Error),
}

/// An `implicit_tls` listener as configured, with TLS from the first byte
/// whatever its `tls` key says.
fn implicit(
    listener: &Option<mail_core::listener::ListenerConfig>,
) -> Option<mail_core::listener::ListenerConfig> {
    listener.clone().map(|mut l| {
        l.tls = mail_core::listener::TlsMode::Implicit;
        l
    })
}

/// Opens the store and directory and starts the listeners; returns once
/// they are bound (each address published in the ports file).
pub async fn start(cfg: MailstoreConfig, ctx: &Context) -> Result<(), Error> {
    let tls = match &cfg.tls {
        Some(files) => Some(mail_core::tls::server_config(files)?),
        None => None,
    };
    let directory = mail_directory::open(&cfg.directory).await?;
    let proxies =
        mail_core::trusted_proxy::TrustedProxies::load(&cfg.proxy).map_err(Error::Proxy)?;
    // One throttle for both protocols: a guesser switching from IMAP to
    // POP3 keeps its count.
    let throttle = Arc::new(mail_core::login_throttle::LoginThrottle::new(
        "store",
        &cfg.login_throttle,
    ));
    // One count for IMAP, IMAPS, POP3 and POP3S: a user's sessions are
    // theirs whichever port they came in on.
    let sessions_per_user = (cfg.max_sessions_per_user > 0)
        .then(|| mail_core::conn_limit::ConnLimit::new(cfg.max_sessions_per_user));
    let store_cfg = cfg.store.clone();
    let store = tokio::task::spawn_blocking(move || mail_store::Store::open(store_cfg))
        .await
        .map_err(|e| mail_store::StoreError::Commit(format!("open task failed: {e}")))??;
    tracing::info!(host = %cfg.host, "store open");
    let mailboxes = |guaranteed| {
        Arc::new(StoreMailboxes::new(
            store.clone(),
            directory.clone(),
            cfg.host.clone(),
            guaranteed,
        ))
    };
    let server = mail_lmtp::LmtpServer::new(cfg.lmtp.clone(), mailboxes(false));
    let addr = server.serve(tls.clone(), &ctx.shutdown).await?;
    ctx.publish_port("lmtp", addr);
    if let Some(i) = &cfg.imap {
        let server = mail_imap::ImapServer::new(i.clone(), store.clone(), directory.clone())
            .with_policy(mail_imap::LoginPolicy {
                host: Some(cfg.host.clone()),
                proxies: proxies.clone(),
                throttle: Some(throttle.clone()),
                sessions_per_user: sessions_per_user.clone(),
            });
        let addr = server.serve(tls.clone(), &ctx.shutdown).await?;
        ctx.publish_port("imap", addr);
        // RFC 8314 3.3: the same server behind a TLS-from-the-start port.
        if let Some(listener) = implicit(&i.implicit_tls) {
            let mut c = i.clone();
            c.listener = listener;
            let server = mail_imap::ImapServer::new(c, store.clone(), directory.clone())
                .with_policy(mail_imap::LoginPolicy {
                    host: Some(cfg.host.clone()),
                    proxies: proxies.clone(),
                    throttle: Some(throttle.clone()),
                    sessions_per_user: sessions_per_user.clone(),
                });
            let addr = server.serve(tls.clone(), &ctx.shutdown).await?;
            ctx.publish_port("imaps", addr);
        }
    }
    if let Some(p) = &cfg.pop3 {
        let auth = Arc::new(pop3::DirectoryAuth::new(directory.clone()).homed_at(&cfg.host));
        // One lock table for both ports: RFC 1939 8 allows one session
        // per maildrop, whichever port it came in on.
        let maildrops = Arc::new(pop3::StoreMaildrops::new(store.clone(), directory.clone()));
        let server = mail_pop3::Pop3Server::new(p.clone(), auth.clone(), maildrops.clone())
            .with_proxies(proxies.clone());
        let server = match &sessions_per_user {
            Some(l) => server.with_sessions_per_user(l.clone()),
            None => server,
        };
        let server = server.with_throttle(throttle.clone());
        let addr = server.serve(tls.clone(), &ctx.shutdown).await?;
        ctx.publish_port("pop3", addr);
        if let Some(listener) = implicit(&p.implicit_tls) {
            let mut c = p.clone();
            c.listener = listener;
            let server =
                mail_pop3::Pop3Server::new(c, auth, maildrops).with_proxies(proxies.clone());
            let server = match &sessions_per_user {
                Some(l) => server.with_sessions_per_user(l.clone()),
                None => server,
            };
            let server = server.with_throttle(throttle.clone());
            let addr = server.serve(tls.clone(), &ctx.shutdown).await?;
            ctx.publish_port("pop3s", addr);
        }
    }
    if let Some(g) = &cfg.guaranteed_lmtp {
        let server = mail_lmtp::LmtpServer::new(g.clone(), mailboxes(true));
        let addr = server.serve(tls.clone(), &ctx.shutdown).await?;
        ctx.publish_port("lmtp_guaranteed", addr);
    }
    if let Some(h) = &cfg.http {
        let server = mail_jmap::JmapServer::new(
            h.clone(),
            store.clone(),
            directory.clone(),
            proxies.clone(),
            cfg.host.clone(),
        )?;
        let addr = server.serve(tls.clone(), &ctx.shutdown).await?;
        ctx.publish_port("http", addr);
    }
    if let Some(a) = &cfg.admin {
        let admin = admin::AdminService::new(store.clone(), directory.clone());
        let addr = admin.serve(a, &ctx.shutdown).await?;
        ctx.publish_port("admin_grpc", addr);
    }
    spawn_forgetting(&store, &ctx.shutdown);
    // Close the committer cleanly once sessions have drained.
    let stop = ctx.shutdown.clone();
    tokio::spawn(async move {
        stop.triggered().await;
        store.close();
    });
    Ok(())
}

/// Forgets, every ten minutes, the deliveries remembered longer than
/// `store.redelivery_window` (see `X-DELIVERY-ID` in docs/store.md).
fn spawn_forgetting(store: &mail_store::Store, shutdown: &mail_core::Shutdown) {
    let (store, stop) = (store.clone(), shutdown.clone());
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(600));
        loop {
            tokio::select! {
                _ = stop.triggered() => return,
                _ = every.tick() => {}
            }
            match store.run(|s| s.forget_old_deliveries()).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(forgotten = n, "old delivery ids forgotten"),
                Err(e) => tracing::warn!(error = %e, "cannot forget old delivery ids"),
            }
        }
    });
}
