//! What every Tiermail service stands on, kept deliberately small: typed
//! configuration with collected validation errors, `tracing` with optional
//! OpenTelemetry export, rustls configuration, the connection listener,
//! graceful shutdown and the admin HTTP endpoint (`/healthz`, `/readyz`,
//! `/metrics`), IP networks and the trusted-proxy login check the stores
//! and the access-tier proxies share, the failed-login throttle every
//! login path uses, and the control plane's authenticated gRPC ([`grpc`])
//! with its deployment CA ([`pki`]).
//!
//! Protocol code does not live here: each protocol has its own crate and
//! plugs into [`listener`] through the [`listener::Handler`] trait.
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod admin;
pub mod cidr;
pub mod config;
pub mod conn_limit;
pub mod date;
pub mod grpc;
pub mod listener;
pub mod login_throttle;
pub mod pki;
pub mod service;
pub mod shutdown;
pub mod telemetry;
pub mod tls;
pub mod trusted_proxy;

pub use config::{ConfigError, Validate, Validator};
pub use shutdown::Shutdown;
