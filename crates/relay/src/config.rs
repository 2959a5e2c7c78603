//! The relay configuration file (`mta-inbound` and `mta-outbound` share
//! it; which listeners a file enables makes the role).

use std::path::PathBuf;

use mail_core::config::ServiceConfig;
use mail_core::service::ServiceSettings;
use mail_core::telemetry::TelemetryConfig;
use mail_core::tls::TlsFiles;
use mail_core::{Validate, Validator};
use mail_directory::DirectoryConfig;
use mail_mta::{Cidr, SmtpConfig};
use mail_queue::SpoolConfig;
use serde::Deserialize;

/// Everything `mta-inbound --config` / `mta-outbound --config` reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayConfig {
    /// Shared service settings.
    pub service: ServiceConfig,
    /// Logs, traces, metrics.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// Certificate for STARTTLS and implicit TLS.
    #[serde(default)]
    pub tls: Option<TlsFiles>,
    /// Where users, groups and domains are looked up.
    pub directory: DirectoryConfig,
    /// The channel table and rewrite rules (docs/routing.md).
    pub routing: PathBuf,
    /// The queue on disk.
    pub spool: SpoolConfig,
    /// The master channels: jobctl, this relay's name in it, DNS, timeouts.
    pub delivery: mail_delivery::DeliveryConfig,
    /// Group expansion, forwarding and vacation notices.
    #[serde(default)]
    pub reprocess: ReprocessSettings,
    /// Clients allowed to relay without AUTH (the outbound relay's own
    /// networks, the inbound relay's outbound peers).
    #[serde(default)]
    pub trusted_networks: Vec<Cidr>,
    /// SMTP on port 25 (the inbound relay; the outbound relay's relay
    /// port for trusted hosts).
    #[serde(default)]
    pub smtp: Option<SmtpConfig>,
    /// Message submission on 587 with STARTTLS (RFC 6409): AUTH required,
    /// the sender must be the user's own address.
    #[serde(default)]
    pub submission: Option<SmtpConfig>,
    /// Message submission over implicit TLS on 465 (RFC 8314).
    #[serde(default)]
    pub submissions: Option<SmtpConfig>,
    /// Stores allowed to submit for their users (JMAP EmailSubmission):
    /// AUTH PLAIN with the user as authorization identity and the store's
    /// proxy name and secret (docs/relays.md).
    #[serde(default)]
    pub proxy: mail_core::trusted_proxy::TrustedProxyConfig,
    /// Failed AUTH throttling across connections, per client address and
    /// per name (mail_core::login_throttle; on with its defaults).
    #[serde(default)]
    pub login_throttle: mail_core::login_throttle::LoginThrottleConfig,
}

/// `[reprocess]`: the channel that expands groups, forwards and answers
/// for users on vacation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReprocessSettings {
    /// Concurrent workers.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// One vacation notice per sender and user within this period
    /// (RFC 3834 5.1 suggests 7 days).
    #[serde(default = "default_vacation_period", with = "humantime_serde")]
    pub vacation_period: std::time::Duration,
    /// Nesting and size limits of group expansion.
    #[serde(default)]
    pub expansion: mail_directory::ExpansionConfig,
}

fn default_workers() -> usize {
    2
}

fn default_vacation_period() -> std::time::Duration {
    std::time::Duration::from_secs(7 * 24 * 3600)
}

impl Default for ReprocessSettings {
    fn default() -> Self {
        Self {
            workers: default_workers(),
            vacation_period: default_vacation_period(),
            expansion: mail_directory::ExpansionConfig::default(),
        }
    }
}

impl Validate for ReprocessSettings {
    fn validate(&self, v: &mut Validator) {
        if self.workers == 0 || self.workers > 64 {
            v.error("workers", "must be between 1 and 64");
        }
    }
}

impl Validate for RelayConfig {
    fn validate(&self, v: &mut Validator) {
        v.nested("service", &self.service);
        v.nested("telemetry", &self.telemetry);
        if let Some(t) = &self.tls {
            v.nested("tls", t);
        }
        v.nested("directory", &self.directory);
        v.file_exists("routing", &self.routing);
        v.nested("spool", &self.spool);
        v.nested("delivery", &self.delivery);
        v.nested("reprocess", &self.reprocess);
        v.nested("proxy", &self.proxy);
        v.nested("login_throttle", &self.login_throttle);
        let listeners = [
            ("smtp", &self.smtp),
            ("submission", &self.submission),
            ("submissions", &self.submissions),
        ];
        if listeners.iter().all(|(_, l)| l.is_none()) {
            v.error(
                "smtp",
                "a relay needs at least one of [smtp], [submission], [submissions]",
            );
        }
        for (key, l) in listeners {
            if let Some(l) = l {
                v.nested(key, l);
            }
        }
        for (key, l) in [
            ("submission", &self.submission),
            ("submissions", &self.submissions),
        ] {
            if l.is_some() && self.tls.is_none() {
                v.error(
                    key,
                    "submission needs [tls]: passwords are only taken over TLS",
                );
            }
        }
    }
}

impl ServiceSettings for RelayConfig {
    fn service(&self) -> &ServiceConfig {
        &self.service
    }
    fn telemetry(&self) -> &TelemetryConfig {
        &self.telemetry
    }
}
