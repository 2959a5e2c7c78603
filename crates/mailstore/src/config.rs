//! The `mailstore` configuration file.

use mail_core::config::ServiceConfig;
use mail_core::service::ServiceSettings;
use mail_core::telemetry::TelemetryConfig;
use mail_core::tls::TlsFiles;
use mail_core::{Validate, Validator};
use mail_directory::DirectoryConfig;
use mail_lmtp::LmtpConfig;
use mail_store::StoreConfig;
use serde::Deserialize;

/// Everything `mailstore --config` reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailstoreConfig {
    /// Shared service settings.
    pub service: ServiceConfig,
    /// Logs, traces, metrics.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// This store's name as the directory's `mailHost` gives it. Users
    /// whose `mailHost` is another name are not delivered here; users with
    /// no `mailHost` are.
    pub host: String,
    /// Certificate for STARTTLS.
    #[serde(default)]
    pub tls: Option<TlsFiles>,
    /// The store engine.
    pub store: StoreConfig,
    /// Where users are looked up.
    pub directory: DirectoryConfig,
    /// The LMTP listener the relays deliver to.
    pub lmtp: LmtpConfig,
    /// A second LMTP listener whose deliveries ignore quota: the guaranteed
    /// delivery channel (postmaster notices, quota warnings, recalls).
    #[serde(default)]
    pub guaranteed_lmtp: Option<LmtpConfig>,
    /// IMAP4rev1/rev2 on the store; off when absent.
    #[serde(default)]
    pub imap: Option<mail_imap::ImapConfig>,
    /// POP3 (RFC 1939) on users' INBOXes; off when absent.
    #[serde(default)]
    pub pop3: Option<mail_pop3::Pop3Config>,
    /// The gRPC admin API (`store.admin.v1`); off when absent. Mutual TLS
    /// with the deployment CA, operators only; plaintext on loopback only.
    #[serde(default)]
    pub admin: Option<crate::admin::AdminConfig>,
    /// JMAP (RFC 8620/8621) over HTTPS; off when absent (docs/jmap.md).
    #[serde(default)]
    pub http: Option<mail_jmap::HttpConfig>,
    /// Access-tier proxies (MMP, MEM) allowed to log in for a user.
    #[serde(default)]
    pub proxy: mail_core::trusted_proxy::TrustedProxyConfig,
    /// Failed-login throttling for IMAP and POP3 password logins, across
    /// connections and both protocols (`mail_core::login_throttle`; on
    /// with its defaults, as on the relays and the MMP: a per-connection
    /// delay alone does not stop a guesser who opens many connections).
    #[serde(default)]
    pub login_throttle: mail_core::login_throttle::LoginThrottleConfig,
    /// Logged-in IMAP and POP3 sessions one user may hold at once, across
    /// every listener of this store (direct and through the MMP alike); a
    /// login beyond it is refused (`NO [LIMIT]`, `-ERR [IN-USE]`). A sync
    /// client opens a few per device; a stolen password used from many
    /// places, or a runaway client, opens many. 0: no limit.
    #[serde(default = "default_max_sessions_per_user")]
    pub max_sessions_per_user: u32,
}

fn default_max_sessions_per_user() -> u32 {
    50
}

impl Validate for MailstoreConfig {
    fn validate(&self, v: &mut Validator) {
        v.nested("service", &self.service);
        v.nested("telemetry", &self.telemetry);
        if self.host.trim().is_empty() {
            v.error(
                "host",
                "must name this store as the directory's mailHost does",
            );
        }
        if let Some(t) = &self.tls {
            v.nested("tls", t);
        }
        v.nested("store", &self.store);
        v.nested("directory", &self.directory);
        v.nested("lmtp", &self.lmtp);
        if let Some(i) = &self.imap {
            v.nested("imap", i);
            if i.implicit_tls.is_some() && self.tls.is_none() {
                v.error("imap.implicit_tls", "needs the [tls] certificate");
            }
        }
        if let Some(p) = &self.pop3 {
            v.nested("pop3", p);
            if p.implicit_tls.is_some() && self.tls.is_none() {
                v.error("pop3.implicit_tls", "needs the [tls] certificate");
            }
        }
        if let Some(a) = &self.admin {
            v.nested("admin", a);
        }
        if let Some(h) = &self.http {
            v.nested("http", h);
            if h.listener.tls == mail_core::listener::TlsMode::Implicit && self.tls.is_none() {
                v.error(
                    "http.listener.tls",
                    "HTTPS needs the service's [tls] certificate",
                );
            }
        }
        v.nested("proxy", &self.proxy);
        v.nested("login_throttle", &self.login_throttle);
        for (i, id) in self.proxy.identities.iter().enumerate() {
            v.file_exists(
                &format!("proxy.identities[{i}].secret_file"),
                &id.secret_file,
            );
        }
        if let Some(g) = &self.guaranteed_lmtp {
            v.nested("guaranteed_lmtp", g);
            if g.listener.listen == self.lmtp.listener.listen && g.listener.listen.port() != 0 {
                v.error(
                    "guaranteed_lmtp.listener.listen",
                    "must differ from lmtp.listener.listen",
                );
            }
        }
    }
}

impl ServiceSettings for MailstoreConfig {
    fn service(&self) -> &ServiceConfig {
        &self.service
    }
    fn telemetry(&self) -> &TelemetryConfig {
        &self.telemetry
    }
}
