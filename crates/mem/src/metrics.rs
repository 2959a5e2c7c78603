//! The MEM's metrics (OpenTelemetry meter `mail-mem`, served in
//! Prometheus form on the admin endpoint):
//!
//! - `mem.http.requests` (`route`, `status`): every request answered;
//! - `mem.logins` (`result`: `ok`, `ok_basic`, `failed`, `throttled`,
//!   `inactive`, `no_store`, `refused`, `error`);
//! - `mem.backend.duration` seconds (`store`, `route`, `outcome`): time
//!   until a store's response headers, per store;
//! - `mem.sessions`: live sessions.

use std::sync::{Arc, Weak};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, ObservableGauge};

use crate::session::Sessions;

/// The instruments.
pub struct Metrics {
    requests: Counter<u64>,
    logins: Counter<u64>,
    backend: Histogram<f64>,
    _sessions: ObservableGauge<u64>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Registers the instruments; `mem.sessions` reads `sessions`.
    pub fn new(sessions: &Arc<Sessions>) -> Self {
        let meter = opentelemetry::global::meter("mail-mem");
        let weak: Weak<Sessions> = Arc::downgrade(sessions);
        Self {
            requests: meter
                .u64_counter("mem.http.requests")
                .with_description("HTTP requests answered, by route and status")
                .build(),
            logins: meter
                .u64_counter("mem.logins")
                .with_description("Login attempts by result")
                .build(),
            backend: meter
                .f64_histogram("mem.backend.duration")
                .with_unit("s")
                .with_description("Time until a store's response headers, per store")
                .with_boundaries(vec![
                    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0, 30.0,
                ])
                .build(),
            _sessions: meter
                .u64_observable_gauge("mem.sessions")
                .with_description("Live login sessions")
                .with_callback(move |o| {
                    if let Some(s) = weak.upgrade() {
                        o.observe(s.len() as u64, &[]);
                    }
                })
                .build(),
        }
    }

    /// One answered request.
    pub fn request(&self, route: &'static str, status: u16) {
        self.requests.add(
            1,
            &[
                KeyValue::new("route", route),
                KeyValue::new("status", i64::from(status)),
            ],
        );
    }

    /// One login attempt.
    pub fn login(&self, result: &'static str) {
        self.logins.add(1, &[KeyValue::new("result", result)]);
    }

    /// One request to a store.
    pub fn backend(&self, store: &str, route: &'static str, took: Duration, answered: bool) {
        self.backend.record(
            took.as_secs_f64(),
            &[
                KeyValue::new("store", store.to_string()),
                KeyValue::new("route", route),
                KeyValue::new("outcome", if answered { "answered" } else { "failed" }),
            ],
        );
    }
}

/// A bounded label for a request path.
pub fn route_label(path: &str) -> &'static str {
    match path {
        "/auth/login" => "login",
        "/auth/logout" => "logout",
        "/auth/session" => "auth_session",
        "/jmap/session" | "/jmap/session/" | "/.well-known/jmap" => "jmap_session",
        p if p.starts_with("/.well-known/") => "jmap_session",
        p if p.starts_with("/jmap/api") => "jmap_api",
        p if p.starts_with("/jmap/download") => "jmap_download",
        p if p.starts_with("/jmap/upload") => "jmap_upload",
        p if p.starts_with("/jmap/eventsource") => "jmap_eventsource",
        p if p.starts_with("/jmap/") => "jmap_other",
        _ => "static",
    }
}
