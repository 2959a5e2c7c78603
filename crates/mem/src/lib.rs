//! The webmail multiplexor (MEM): the one web address of the access tier.
//!
//! It serves the web client's static files, logs users in against the
//! directory, pins each session to the store the user's `mailHost` names,
//! and relays the session's JMAP requests and push stream to that store
//! with the trusted-proxy assertion the store accepts only from the MEM's
//! identity and networks. It holds no mail and no state that matters:
//! lose one and users log in again through another.
//!
//! | path | what |
//! |---|---|
//! | `/`, `/css/*`, `/js/*`, ... | the web client ([`assets`]) |
//! | `POST /auth/login`, `POST /auth/logout`, `GET /auth/session` | sessions ([`auth`]) |
//! | `/jmap/session`, `/.well-known/jmap` | the store's JMAP session object, URLs rebased ([`rewrite`]) |
//! | `/jmap/*` | relayed to the user's store ([`proxy`]) |
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod app;
pub mod assets;
pub mod auth;
pub mod backend;
pub mod config;
pub mod csrf;
pub mod error;
pub mod metrics;
pub mod problem;
pub mod proxy;
pub mod rewrite;
pub mod server;
pub mod session;
pub mod stores;

pub use config::MemConfig;
pub use error::MemError;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, Response, header};
use axum::middleware::{self, Next};
use axum::routing::{any, get, post};
use mail_core::listener::Listener;
use mail_core::login_throttle::LoginThrottle;
use mail_core::service::Context;
use tracing::Instrument;

use crate::app::{App, AppRef};
use crate::server::ClientConn;

/// How long a verified Basic credential is remembered.
const BASIC_TTL: Duration = Duration::from_secs(60);

/// Opens the directory, builds the client to the stores and starts the
/// HTTP listener (published as `http` in the ports file).
pub async fn start(cfg: MemConfig, ctx: &Context) -> Result<(), MemError> {
    let tls = match &cfg.tls {
        Some(files) => Some(mail_core::tls::server_config(files)?),
        None => None,
    };
    let app = build(&cfg, ctx.shutdown.clone()).await?;
    let router = router(app.clone());
    let handler = Arc::new(server::HttpHandler::new(
        router,
        cfg.http.header_read_timeout,
    ));
    let addr = Listener::start("http", &cfg.http.listener, tls, handler, &ctx.shutdown)
        .await
        .map_err(MemError::Listen)?;
    ctx.publish_port("http", addr);
    let sweeper = app.clone();
    let stop = ctx.shutdown.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(session::SWEEP_EVERY);
        loop {
            tokio::select! {
                _ = stop.triggered() => break,
                _ = tick.tick() => { sweeper.sessions.sweep(); }
            }
        }
    });
    Ok(())
}

/// The shared state `cfg` describes.
pub async fn build(cfg: &MemConfig, shutdown: mail_core::Shutdown) -> Result<AppRef, MemError> {
    let directory = mail_directory::open(&cfg.directory).await?;
    let assets = match &cfg.web.root {
        Some(root) => assets::Assets::from_dir(root)?,
        None => assets::Assets::embedded(),
    };
    let sessions = Arc::new(session::Sessions::new(cfg.session.clone()));
    let basic = auth::BasicCache::new(BASIC_TTL)
        .map_err(|e| MemError::Web(format!("no randomness: {e}")))?;
    Ok(Arc::new(App {
        http: cfg.http.clone(),
        directory,
        metrics: metrics::Metrics::new(&sessions),
        sessions,
        stores: stores::StoreMap::new(&cfg.stores)?,
        backend: backend::Backend::new(&cfg.stores, &cfg.proxy)?,
        assets,
        throttle: LoginThrottle::new("mem", &cfg.login_throttle),
        basic,
        shutdown,
    }))
}

/// Every route, with the span, metrics and security headers around them.
pub fn router(app: AppRef) -> Router {
    Router::new()
        .route(
            "/auth/login",
            post(auth::login).layer(DefaultBodyLimit::max(16 * 1024)),
        )
        .route("/auth/logout", post(auth::logout))
        .route("/auth/session", get(auth::session_info))
        .route("/.well-known/jmap", any(proxy::jmap))
        .route("/jmap/{*rest}", any(proxy::jmap))
        .fallback(assets::handler)
        .layer(middleware::from_fn_with_state(app.clone(), observe))
        .with_state(app)
}

/// A span per request, the request counter, and the headers every
/// answer carries.
async fn observe(State(app): State<AppRef>, req: Request, next: Next) -> Response<Body> {
    let route = metrics::route_label(req.uri().path());
    let tls = req.extensions().get::<ClientConn>().is_some_and(|c| c.tls);
    let span = tracing::info_span!(
        "http.request",
        http.method = %req.method(),
        route,
        user = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    let started = Instant::now();
    let mut res = next.run(req).instrument(span.clone()).await;
    let status = res.status().as_u16();
    span.record("status", status);
    app.metrics.request(route, status);
    tracing::debug!(parent: &span, took = ?started.elapsed(), "answered");
    security_headers(&mut res, tls);
    res
}

fn security_headers(res: &mut Response<Body>, tls: bool) {
    let h = res.headers_mut();
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(assets::MAIN_CSP),
        );
    }
    if !h.contains_key(header::X_FRAME_OPTIONS) {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"),
    );
    if tls {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
}
