//! `[delivery]`: how a relay's master channel programs reach jobctl, DNS
//! and the servers they deliver to. The channels themselves (kinds, TLS
//! policy, concurrency, DSN options) come from the routing file.

use std::path::PathBuf;
use std::time::Duration;

use mail_core::{Validate, Validator};
use serde::{Deserialize, Serialize};

use crate::dns::DnsConfig;

/// The delivery settings of one relay.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// jobctl's gRPC address: `https://host:port` with `jobctl_tls`,
    /// `http://host:port` for a plaintext jobctl on loopback.
    pub jobctl: String,
    /// This relay's certificate for jobctl's mutual TLS (role `relay`).
    #[serde(default)]
    pub jobctl_tls: Option<mail_core::grpc::ClientTls>,
    /// This relay's name in jobctl (the spool owner; jobs of this relay
    /// only are leased).
    pub relay: String,
    /// Name used in EHLO/LHLO, `Reporting-MTA` and DSN addresses.
    pub hostname: String,
    /// Channels to run workers for; empty runs every channel of the
    /// routing file that has a master program here (`lmtp`, `smtp_mx`,
    /// `smtp_relay`, `bounce`).
    #[serde(default)]
    pub channels: Vec<String>,
    /// DNS servers for MX and host lookups.
    #[serde(default)]
    pub dns: DnsConfig,
    /// How long a worker holds a leased job before jobctl offers it again
    /// (a crashed worker's jobs come back after this).
    #[serde(default = "d_lease", with = "humantime_serde")]
    pub lease: Duration,
    /// How long one Lease call waits for work.
    #[serde(default = "d_wait", with = "humantime_serde")]
    pub lease_wait: Duration,
    /// TCP connect timeout.
    #[serde(default = "d_connect", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Wait for each command reply (RFC 5321 4.5.3.2: 5 minutes).
    #[serde(default = "d_command", with = "humantime_serde")]
    pub command_timeout: Duration,
    /// Wait for sending the data and the final reply (RFC 5321: 10 minutes).
    #[serde(default = "d_data", with = "humantime_serde")]
    pub data_timeout: Duration,
    /// How long an idle connection is kept for reuse (0: no reuse).
    #[serde(default = "d_idle", with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Transactions per connection before it is closed.
    #[serde(default = "d_max_tx")]
    pub max_messages_per_connection: u32,
    /// A CA certificate (PEM) trusted besides the public roots when a
    /// channel has `tls_verify = true`.
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
}

fn d_lease() -> Duration {
    Duration::from_secs(600)
}
fn d_wait() -> Duration {
    Duration::from_secs(30)
}
fn d_connect() -> Duration {
    Duration::from_secs(30)
}
fn d_command() -> Duration {
    Duration::from_secs(300)
}
fn d_data() -> Duration {
    Duration::from_secs(600)
}
fn d_idle() -> Duration {
    Duration::from_secs(30)
}
fn d_max_tx() -> u32 {
    100
}

impl DeliveryConfig {
    /// Defaults for everything but the three required keys.
    pub fn new(
        jobctl: impl Into<String>,
        relay: impl Into<String>,
        hostname: impl Into<String>,
    ) -> Self {
        Self {
            jobctl: jobctl.into(),
            jobctl_tls: None,
            relay: relay.into(),
            hostname: hostname.into(),
            channels: Vec::new(),
            dns: DnsConfig::default(),
            lease: d_lease(),
            lease_wait: d_wait(),
            connect_timeout: d_connect(),
            command_timeout: d_command(),
            data_timeout: d_data(),
            idle_timeout: d_idle(),
            max_messages_per_connection: d_max_tx(),
            tls_ca_file: None,
        }
    }
}

impl Validate for DeliveryConfig {
    fn validate(&self, v: &mut Validator) {
        match (&self.jobctl_tls, self.jobctl.split_once("://")) {
            (Some(t), Some(("https", _))) => v.nested("jobctl_tls", t),
            (None, Some(("https", _))) => v.error(
                "jobctl_tls",
                "an https:// jobctl needs this relay's certificate (ca, cert, key)",
            ),
            (Some(_), Some(("http", _))) => {
                v.error("jobctl", "with jobctl_tls, jobctl is an https:// URL")
            }
            (None, Some(("http", _))) => {}
            _ => v.error("jobctl", "must be an http:// or https:// URL"),
        }
        if self.relay.is_empty() {
            v.error("relay", "must be set");
        }
        if self.hostname.is_empty() {
            v.error("hostname", "must be set");
        }
        if self.lease < Duration::from_secs(1) {
            v.error("lease", "must be at least 1s");
        }
        if self.lease_wait.is_zero() {
            v.error("lease_wait", "must be more than 0");
        }
        if self.dns.attempts == 0 {
            v.error("dns.attempts", "must be at least 1");
        }
    }
}
