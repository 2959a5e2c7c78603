//! The admin HTTP endpoint every service serves: `/healthz` (the process is
//! alive), `/readyz` (it is ready for traffic; a load balancer or Kubernetes
//! uses this) and `/metrics` (Prometheus text format).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tracing::Instrument;

use crate::shutdown::Shutdown;

/// Whether the service should receive traffic, and if not, why.
#[derive(Clone, Debug)]
pub struct Readiness(Arc<Mutex<Result<(), String>>>);

impl Default for Readiness {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(Err("starting".to_string()))))
    }
}

impl Readiness {
    /// Marks the service ready.
    pub fn set_ready(&self) {
        if let Ok(mut g) = self.0.lock() {
            *g = Ok(());
        }
    }

    /// Marks the service not ready, with the reason `/readyz` shows.
    pub fn set_not_ready(&self, reason: impl Into<String>) {
        if let Ok(mut g) = self.0.lock() {
            *g = Err(reason.into());
        }
    }

    /// The current state.
    pub fn get(&self) -> Result<(), String> {
        self.0
            .lock()
            .map(|g| g.clone())
            .unwrap_or_else(|_| Err("readiness lock poisoned".into()))
    }
}

/// Produces the `/metrics` body.
pub type MetricsFn = Arc<dyn Fn() -> String + Send + Sync>;

#[derive(Clone)]
struct AdminState {
    service: String,
    ready: Readiness,
    metrics: MetricsFn,
}

/// Binds the admin endpoint and serves it until `shutdown`.
pub async fn serve(
    addr: SocketAddr,
    service: &str,
    ready: Readiness,
    metrics: MetricsFn,
    shutdown: Shutdown,
) -> std::io::Result<SocketAddr> {
    let state = AdminState {
        service: service.to_string(),
        ready,
        metrics,
    };
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_handler))
        .layer(middleware::from_fn(trace_request))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("admin: bind {addr}: {e}")))?;
    let bound = listener.local_addr()?;
    let token = shutdown.token().clone();
    // Not tracked by `shutdown`: the admin endpoint keeps answering (with
    // /readyz = 503) while sessions drain, and stops with the process.
    tokio::spawn(async move {
        let result = axum::serve(listener, app)
            .with_graceful_shutdown(async move { token.cancelled().await })
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "admin endpoint failed");
        }
    });
    Ok(bound)
}

fn requests_counter() -> &'static opentelemetry::metrics::Counter<u64> {
    static C: std::sync::OnceLock<opentelemetry::metrics::Counter<u64>> =
        std::sync::OnceLock::new();
    C.get_or_init(|| {
        opentelemetry::global::meter("mail-core")
            .u64_counter("admin_http_requests")
            .with_description("Requests served by the admin endpoint")
            .build()
    })
}

async fn trace_request(req: Request, next: Next) -> Response {
    requests_counter().add(
        1,
        &[opentelemetry::KeyValue::new(
            "path",
            req.uri().path().to_string(),
        )],
    );
    let span = tracing::info_span!(
        "http.request",
        http.method = %req.method(),
        http.path = %req.uri().path(),
    );
    async move {
        let res = next.run(req).await;
        tracing::debug!(status = res.status().as_u16(), "served");
        res
    }
    .instrument(span)
    .await
}

async fn healthz(State(s): State<AdminState>) -> impl IntoResponse {
    (StatusCode::OK, format!("ok {}\n", s.service))
}

async fn readyz(State(s): State<AdminState>) -> impl IntoResponse {
    match s.ready.get() {
        Ok(()) => (StatusCode::OK, "ready\n".to_string()),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        ),
    }
}

async fn metrics_handler(State(s): State<AdminState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        (s.metrics)(),
    )
}
