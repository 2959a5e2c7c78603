//! Metrics through `opentelemetry::global::meter("mail-jmap")`: HTTP
//! requests by route and status with their latency, method calls by name
//! and result, logins by result.

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram};

#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    requests: Counter<u64>,
    latency: Histogram<f64>,
    methods: Counter<u64>,
    logins: Counter<u64>,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let meter = opentelemetry::global::meter("mail-jmap");
        Self {
            requests: meter
                .u64_counter("jmap.http.requests")
                .with_description("HTTP requests by route and status")
                .build(),
            latency: meter
                .f64_histogram("jmap.http.duration")
                .with_unit("s")
                .with_description("Time to the response head, by route")
                .build(),
            methods: meter
                .u64_counter("jmap.method_calls")
                .with_description("JMAP method calls by method and result (ok or the error type)")
                .build(),
            logins: meter
                .u64_counter("jmap.logins")
                .with_description("Authentications by kind (basic, proxy) and result")
                .build(),
        }
    }

    pub(crate) fn request(&self, route: &'static str, status: u16, seconds: f64) {
        self.requests.add(
            1,
            &[
                KeyValue::new("route", route),
                KeyValue::new("status", i64::from(status)),
            ],
        );
        self.latency
            .record(seconds, &[KeyValue::new("route", route)]);
    }

    pub(crate) fn method(&self, name: &str, result: &'static str) {
        // Only known method names become label values (bounded set).
        self.methods.add(
            1,
            &[
                KeyValue::new("method", name.to_string()),
                KeyValue::new("result", result),
            ],
        );
    }

    pub(crate) fn login(&self, kind: &'static str, result: &'static str) {
        self.logins.add(
            1,
            &[KeyValue::new("kind", kind), KeyValue::new("result", result)],
        );
    }
}
