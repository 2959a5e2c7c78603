//! Metrics, meter `mail-mmp` (Prometheus names in docs/mmp.md):
//!
//! - `mmp.connections` (counter; `protocol`): connections accepted.
//! - `mmp.connections.active` (up-down counter; `protocol`): open now,
//!   before and after login.
//! - `mmp.connections.refused` (counter; `protocol`, `reason`): turned
//!   away by the per-address limit.
//! - `mmp.logins` (counter; `protocol`, `result`): `success`, `failure`
//!   (unknown user and wrong password alike), `locked` (throttle lockout),
//!   `inactive`, `directory_unavailable`, `no_route`, `store_unavailable`,
//!   `store_busy` (the store refused the user for a limit: `NO [LIMIT]`,
//!   `-ERR [IN-USE]`).
//! - `mmp.backend.connect.duration` (histogram, seconds; `store`,
//!   `result`): reaching a store and logging in there.
//! - `mmp.relayed` (counter, bytes; `protocol`, `direction` `to_store` or
//!   `to_client`): bytes relayed after login.

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, UpDownCounter};

use crate::route::Protocol;

/// The MMP's instruments; one set per process, shared by every session.
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    connections: Counter<u64>,
    active: UpDownCounter<i64>,
    refused: Counter<u64>,
    logins: Counter<u64>,
    backend: Histogram<f64>,
    relayed: Counter<u64>,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let meter = opentelemetry::global::meter("mail-mmp");
        Self {
            connections: meter
                .u64_counter("mmp.connections")
                .with_description("Client connections accepted")
                .build(),
            active: meter
                .i64_up_down_counter("mmp.connections.active")
                .with_description("Client connections open now, before and after login")
                .build(),
            refused: meter
                .u64_counter("mmp.connections.refused")
                .with_description("Client connections turned away (reason: per_ip_limit)")
                .build(),
            logins: meter
                .u64_counter("mmp.logins")
                .with_description("Logins by result: success, failure, locked, inactive, directory_unavailable, no_route, store_unavailable, store_busy")
                .build(),
            backend: meter
                .f64_histogram("mmp.backend.connect.duration")
                .with_unit("s")
                .with_description("Reaching a store and logging in there, by store and result")
                .with_boundaries(vec![
                    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0,
                ])
                .build(),
            relayed: meter
                .u64_counter("mmp.relayed")
                .with_unit("By")
                .with_description("Bytes relayed after login, by direction (to_store, to_client)")
                .build(),
        }
    }

    pub(crate) fn opened(&self, protocol: Protocol) {
        let p = [KeyValue::new("protocol", protocol.as_str())];
        self.connections.add(1, &p);
        self.active.add(1, &p);
    }

    pub(crate) fn closed(&self, protocol: Protocol) {
        self.active
            .add(-1, &[KeyValue::new("protocol", protocol.as_str())]);
    }

    pub(crate) fn refused(&self, protocol: Protocol, reason: &'static str) {
        self.refused.add(
            1,
            &[
                KeyValue::new("protocol", protocol.as_str()),
                KeyValue::new("reason", reason),
            ],
        );
    }

    pub(crate) fn login(&self, protocol: Protocol, result: &'static str) {
        self.logins.add(
            1,
            &[
                KeyValue::new("protocol", protocol.as_str()),
                KeyValue::new("result", result),
            ],
        );
    }

    pub(crate) fn backend(&self, store: &str, result: &'static str, took: Duration) {
        self.backend.record(
            took.as_secs_f64(),
            &[
                KeyValue::new("store", store.to_string()),
                KeyValue::new("result", result),
            ],
        );
    }

    pub(crate) fn relayed(&self, protocol: Protocol, direction: &'static str, bytes: u64) {
        self.relayed.add(
            bytes,
            &[
                KeyValue::new("protocol", protocol.as_str()),
                KeyValue::new("direction", direction),
            ],
        );
    }
}
