//! JMAP on the message store (RFC 8620 core, RFC 8621 mail), over HTTPS.
//!
//! The `mailstore` service starts it from its `[http]` section
//! ([`HttpConfig`]); it serves the users whose `mailHost` names this store
//! straight from the store engine, so IMAP and JMAP see each other's
//! changes at once:
//!
//! - ids: a Mailbox id is the store's mailbox id (`m12`); an Email id is
//!   the message's content digest (`e` + 32 hex), shared by every copy of
//!   the message, so an Email may be in several mailboxes and keeps its id
//!   when moved; a Thread id is a digest of the thread's root Message-ID
//!   (first `References` entry, else `In-Reply-To`, else the message's own).
//! - states: one string per account built from each mailbox's id,
//!   HIGHESTMODSEQ, UIDNEXT and a digest of its name/role/subscription
//!   ([`state`]); `/changes` reads the rows changed since and the store's
//!   tombstones of removed messages.
//! - push: EventSource (RFC 8620 7.3) woken by the store's per-user change
//!   signal.
//! - submission: SMTP to the outbound relay with the store's proxy
//!   credential, so routing, queues and DSNs stay the MTA's.
//!
//! One file per method family: [`mailbox`], [`email`], [`thread`],
//! [`search_snippet`], [`identity`], [`submission`], [`vacation`], plus
//! [`session`], [`blob`] and [`push`]. See docs/jmap.md.
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod api;
mod auth;
pub mod blob;
pub mod config;
pub mod email;
mod error;
mod http;
pub mod identity;
mod index;
pub mod mailbox;
mod metrics;
pub mod push;
pub mod sanitize;
pub mod search_snippet;
pub mod session;
pub mod state;
pub mod submission;
pub mod thread;
pub mod vacation;

pub use config::HttpConfig;
pub use error::Error;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use mail_core::Shutdown;
use mail_core::trusted_proxy::TrustedProxies;
use mail_directory::Directory;
use mail_jmap_proto::Limits;
use mail_store::Store;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// What every request handler shares.
pub(crate) struct Shared {
    pub cfg: HttpConfig,
    pub limits: Limits,
    /// This store's name as the directory's `mailHost` gives it.
    pub host: String,
    pub store: Store,
    pub directory: Arc<dyn Directory>,
    pub proxies: TrustedProxies,
    pub metrics: metrics::Metrics,
    pub auth_cache: auth::AuthCache,
    pub index: index::Index,
    pub plaintext: bool,
    pub relay: Option<submission::Relay>,
    requests: Mutex<HashMap<String, Arc<Semaphore>>>,
    uploads: Mutex<HashMap<String, Arc<Semaphore>>>,
}

fn permit(
    map: &Mutex<HashMap<String, Arc<Semaphore>>>,
    user: &str,
    max: u64,
) -> Option<OwnedSemaphorePermit> {
    let sem = map
        .lock()
        .ok()?
        .entry(user.to_string())
        .or_insert_with(|| Arc::new(Semaphore::new(usize::try_from(max).unwrap_or(1))))
        .clone();
    sem.try_acquire_owned().ok()
}

impl Shared {
    /// One of the user's `maxConcurrentRequests` slots, if free.
    pub(crate) fn request_permit(&self, user: &str) -> Option<OwnedSemaphorePermit> {
        permit(&self.requests, user, self.limits.max_concurrent_requests)
    }

    /// One of the user's `maxConcurrentUpload` slots, if free.
    pub(crate) fn upload_permit(&self, user: &str) -> Option<OwnedSemaphorePermit> {
        permit(&self.uploads, user, self.limits.max_concurrent_upload)
    }
}

/// The JMAP service of one store.
pub struct JmapServer {
    shared: Arc<Shared>,
}

impl JmapServer {
    /// Builds the service. `host` is the store's `mailHost` name;
    /// `proxies` the loaded `[proxy]` section (the MEM's identities).
    pub fn new(
        cfg: HttpConfig,
        store: Store,
        directory: Arc<dyn Directory>,
        proxies: TrustedProxies,
        host: String,
    ) -> Result<Self, Error> {
        let relay = match &cfg.submission {
            Some(s) => Some(submission::Relay::new(s)?),
            None => None,
        };
        std::fs::create_dir_all(&cfg.state_dir)?;
        let plaintext = cfg.listener.tls == mail_core::listener::TlsMode::None;
        Ok(Self {
            shared: Arc::new(Shared {
                limits: cfg.limits.limits(),
                cfg,
                host,
                store,
                directory,
                proxies,
                metrics: metrics::Metrics::new(),
                auth_cache: auth::AuthCache::default(),
                index: index::Index::default(),
                plaintext,
                relay,
                requests: Mutex::default(),
                uploads: Mutex::default(),
            }),
        })
    }

    /// Binds the listener and serves until `shutdown`; returns the bound
    /// address (published as `http` in the ports file).
    pub async fn serve(
        &self,
        tls: Option<Arc<rustls::ServerConfig>>,
        shutdown: &Shutdown,
    ) -> Result<SocketAddr, Error> {
        let tls = tls.map(|t| {
            // HTTP/1.1 only; announce it so clients do not try h2.
            let mut c = (*t).clone();
            c.alpn_protocols = vec![b"http/1.1".to_vec()];
            Arc::new(c)
        });
        let handler = Arc::new(http::HttpHandler(self.shared.clone()));
        let addr = mail_core::listener::Listener::start(
            "http",
            &self.shared.cfg.listener,
            tls,
            handler,
            shutdown,
        )
        .await?;
        blob::start_sweeper(self.shared.clone(), shutdown);
        Ok(addr)
    }
}
