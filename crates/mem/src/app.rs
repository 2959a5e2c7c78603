//! The state every request handler shares, and what a handler needs to
//! know about the request's origin: the real client address (believing
//! `X-Forwarded-For` only from configured load balancers) and the public
//! origin of the web client (for CSRF checks and the session object).

use std::net::IpAddr;
use std::sync::Arc;

use axum::http::HeaderMap;
use mail_core::Shutdown;
use mail_core::cidr::Cidr;
use mail_core::login_throttle::LoginThrottle;
use mail_directory::Directory;

use crate::assets::Assets;
use crate::auth::BasicCache;
use crate::backend::Backend;
use crate::config::HttpConfig;
use crate::metrics::Metrics;
use crate::server::ClientConn;
use crate::session::Sessions;
use crate::stores::StoreMap;

/// Shared by every request.
pub struct App {
    /// `[http]`.
    pub http: HttpConfig,
    /// Logins and `mailHost`.
    pub directory: Arc<dyn Directory>,
    /// Live sessions.
    pub sessions: Arc<Sessions>,
    /// `mailHost` -> store.
    pub stores: StoreMap,
    /// The client to the stores.
    pub backend: Backend,
    /// The web client's files.
    pub assets: Assets,
    /// Failed logins per address and user.
    pub throttle: LoginThrottle,
    /// Recently verified API-client credentials.
    pub basic: BasicCache,
    /// Counters and histograms.
    pub metrics: Metrics,
    /// Process shutdown (push streams end on it).
    pub shutdown: Shutdown,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("sessions", &self.sessions)
            .finish_non_exhaustive()
    }
}

/// Handlers' view of [`App`].
pub type AppRef = Arc<App>;

impl App {
    /// The user's address: the TCP peer, or, when the peer is a trusted
    /// load balancer, the last address it added to `X-Forwarded-For`
    /// that is not itself a trusted forwarder.
    pub fn client_ip(&self, conn: &ClientConn, headers: &HeaderMap) -> IpAddr {
        let peer = conn.peer.ip();
        let trusted = &self.http.trusted_forwarders;
        if !Cidr::any_contains(trusted, peer) {
            return peer;
        }
        // The rightmost address is the one the outermost trusted hop saw;
        // walk back over our own forwarders.
        let hops: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|h| h.trim().parse().ok())
            .collect();
        hops.into_iter()
            .rev()
            .find(|ip| !Cidr::any_contains(trusted, *ip))
            .unwrap_or(peer)
    }

    /// The origin the web client runs at (`https://mail.example.test`).
    pub fn origin(&self, conn: &ClientConn, headers: &HeaderMap) -> String {
        if let Some(u) = &self.http.public_url {
            return u.trim_end_matches('/').to_string();
        }
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| !h.is_empty() && !h.contains(['/', ' ', '@']))
            .map(str::to_string)
            .unwrap_or_else(|| conn.peer.to_string());
        let forwarded_https = Cidr::any_contains(&self.http.trusted_forwarders, conn.peer.ip())
            && headers
                .get("x-forwarded-proto")
                .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"));
        let scheme = if conn.tls || forwarded_https {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{host}")
    }
}
