//! The `mmp` configuration file.
//!
//! ```toml
//! [service]
//! admin_listen = "0.0.0.0:9143"
//!
//! [tls]                      # the certificate clients see
//! cert = "/etc/tiermail/mail.pem"
//! key = "/etc/tiermail/mail.key"
//!
//! [directory]                # as in every service (docs/directory.md)
//! backend = "ldap"
//! url = "ldap://ldap.example.org/"
//! base_dn = "dc=example,dc=org"
//!
//! [imap]
//! hostname = "mail.example.org"
//! [imap.listener]            # 143, STARTTLS
//! listen = "0.0.0.0:143"
//! [imap.tls_listener]        # 993, implicit TLS
//! listen = "0.0.0.0:993"
//! tls = "implicit"
//!
//! [pop3]
//! [pop3.listener]
//! listen = "0.0.0.0:110"
//!
//! [backend]                  # how to reach and log in to the stores
//! identity = "mmp"
//! secret_file = "/etc/tiermail/proxy/mmp.secret"
//! tls = "starttls"
//! tls_ca = "/etc/tiermail/ca.pem"
//! [backend.dns]
//! nameservers = ["10.0.0.53:53"]
//! [backend.hosts."store1.example.org"]   # optional: overrides DNS
//! address = "10.0.1.1"
//!
//! [login_throttle]           # mail_core::login_throttle
//! failure_delay = "2s"
//!
//! [limits]
//! max_connections_per_ip = 50
//! ```

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use mail_core::config::ServiceConfig;
use mail_core::listener::{ListenerConfig, TlsMode};
use mail_core::login_throttle::LoginThrottleConfig;
use mail_core::service::ServiceSettings;
use mail_core::telemetry::TelemetryConfig;
use mail_core::tls::TlsFiles;
use mail_core::{Validate, Validator};
use mail_directory::DirectoryConfig;
use serde::Deserialize;

/// Everything `mmp --config` reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MmpConfig {
    /// Shared service settings.
    pub service: ServiceConfig,
    /// Logs, traces, metrics.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// The certificate clients see, for STARTTLS/STLS and implicit TLS.
    #[serde(default)]
    pub tls: Option<TlsFiles>,
    /// Where users and their `mailHost` are looked up, passwords checked.
    pub directory: DirectoryConfig,
    /// IMAP towards clients; off when absent.
    #[serde(default)]
    pub imap: Option<FrontConfig>,
    /// POP3 towards clients; off when absent.
    #[serde(default)]
    pub pop3: Option<FrontConfig>,
    /// How the stores are found and logged in to.
    pub backend: BackendConfig,
    /// Failed-login delays and lockouts, across connections.
    #[serde(default)]
    pub login_throttle: LoginThrottleConfig,
    /// Connection limits.
    #[serde(default)]
    pub limits: LimitsConfig,
}

/// `[imap]` or `[pop3]`: one protocol towards clients.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrontConfig {
    /// The plain listener (143 or 110), offering STARTTLS/STLS when `[tls]`
    /// is set and `tls = "starttls"` (the default).
    pub listener: ListenerConfig,
    /// An implicit-TLS listener (993 or 995); needs `[tls]`.
    #[serde(default)]
    pub tls_listener: Option<ListenerConfig>,
    /// Name in the greeting.
    #[serde(default = "default_hostname")]
    pub hostname: String,
    /// Accept passwords before TLS. Off by default: IMAP then announces
    /// LOGINDISABLED (RFC 3501 6.2.3) and POP3 refuses USER and AUTH
    /// (RFC 2595 2.1) on a plain connection.
    #[serde(default)]
    pub allow_plaintext_login: bool,
    /// Longest command line before login.
    #[serde(default = "default_max_line")]
    pub max_line: usize,
    /// Largest IMAP literal before login (a LOGIN name or password sent as
    /// a literal); larger ones are refused before a byte is read.
    #[serde(default = "default_max_literal")]
    pub max_literal: u64,
    /// Time a client has, from connecting, to log in.
    #[serde(default = "default_login_timeout", with = "humantime_serde")]
    pub login_timeout: Duration,
    /// Failed logins on one connection before it is closed.
    #[serde(default = "default_max_auth_failures")]
    pub max_auth_failures: u32,
    /// Invalid commands on one connection before it is closed.
    #[serde(default = "default_max_bad_commands")]
    pub max_bad_commands: u32,
}

fn default_hostname() -> String {
    "localhost".into()
}
fn default_max_line() -> usize {
    8192
}
fn default_max_literal() -> u64 {
    8192
}
fn default_login_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_max_auth_failures() -> u32 {
    3
}
fn default_max_bad_commands() -> u32 {
    10
}

impl FrontConfig {
    /// Defaults around a plain listener (tests and `mailctl up`).
    pub fn new(listener: ListenerConfig) -> Self {
        Self {
            listener,
            tls_listener: None,
            hostname: default_hostname(),
            allow_plaintext_login: false,
            max_line: default_max_line(),
            max_literal: default_max_literal(),
            login_timeout: default_login_timeout(),
            max_auth_failures: default_max_auth_failures(),
            max_bad_commands: default_max_bad_commands(),
        }
    }

    fn validate_with(&self, v: &mut Validator, has_tls: bool) {
        v.nested("listener", &self.listener);
        if self.listener.tls == TlsMode::Implicit && !has_tls {
            v.error("listener.tls", "implicit TLS needs a certificate in [tls]");
        }
        if self.listener.tls != TlsMode::Implicit
            && !self.allow_plaintext_login
            && (!has_tls || self.listener.tls == TlsMode::None)
        {
            v.error(
                "listener.tls",
                "clients could never log in here: set [tls] with tls = \"starttls\", or allow_plaintext_login = true",
            );
        }
        if let Some(l) = &self.tls_listener {
            v.nested("tls_listener", l);
            if l.tls != TlsMode::Implicit {
                v.error("tls_listener.tls", "must be \"implicit\"");
            }
            if !has_tls {
                v.error("tls_listener", "needs a certificate in [tls]");
            }
        }
        if self.hostname.is_empty()
            || self
                .hostname
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            v.error("hostname", "must be a non-empty name without white space");
        }
        if !(512..=1024 * 1024).contains(&self.max_line) {
            v.error("max_line", "must be between 512 and 1048576 octets");
        }
        if !(256..=1024 * 1024).contains(&self.max_literal) {
            v.error("max_literal", "must be between 256 and 1048576 octets");
        }
        if self.login_timeout < Duration::from_secs(1) {
            v.error("login_timeout", "must be at least one second");
        }
        if self.max_auth_failures == 0 {
            v.error("max_auth_failures", "must be at least 1");
        }
        if self.max_bad_commands == 0 {
            v.error("max_bad_commands", "must be at least 1");
        }
    }
}

/// TLS on the connection to a store.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BackendTls {
    /// Plain text (a private network; the stores must then allow
    /// plaintext logins).
    #[default]
    None,
    /// STARTTLS / STLS after the greeting.
    Starttls,
    /// TLS from the first byte (the stores' 993/995).
    Implicit,
}

/// `[backend]`: finding a user's store and logging in there.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    /// The proxy identity the stores list in their `[proxy]` section.
    #[serde(default = "default_identity")]
    pub identity: String,
    /// File with this proxy's secret (first line; mode 0600).
    pub secret_file: PathBuf,
    /// TLS to the stores.
    #[serde(default)]
    pub tls: BackendTls,
    /// Extra CA (PEM) the stores' certificates are checked against,
    /// besides the public roots.
    #[serde(default)]
    pub tls_ca: Option<PathBuf>,
    /// The stores' IMAP port, for hosts found by DNS.
    #[serde(default = "default_imap_port")]
    pub imap_port: u16,
    /// The stores' POP3 port, for hosts found by DNS.
    #[serde(default = "default_pop3_port")]
    pub pop3_port: u16,
    /// Limit on reaching a store (TCP connect and, with implicit TLS, the
    /// handshake), all of its addresses together. A store that is down
    /// costs a client this long at most.
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Limit on the login at the store once connected (greeting, STARTTLS,
    /// client address, authentication).
    #[serde(default = "default_backend_login_timeout", with = "humantime_serde")]
    pub login_timeout: Duration,
    /// Local address to connect from (the address the stores' `[proxy]
    /// networks` list); the system picks one when absent.
    #[serde(default)]
    pub source_address: Option<IpAddr>,
    /// The store for users whose entry has no `mailHost`; such users are
    /// refused when absent.
    #[serde(default)]
    pub default_host: Option<String>,
    /// `mailHost` names mapped to addresses; names not listed are looked
    /// up in DNS (unless `dns.enabled = false`).
    #[serde(default)]
    pub hosts: BTreeMap<String, HostEntry>,
    /// How `mailHost` names are looked up.
    #[serde(default)]
    pub dns: DnsConfig,
}

fn default_identity() -> String {
    "mmp".into()
}
fn default_imap_port() -> u16 {
    143
}
fn default_pop3_port() -> u16 {
    110
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(3)
}
fn default_backend_login_timeout() -> Duration {
    Duration::from_secs(10)
}

/// One store in `[backend.hosts]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HostEntry {
    /// The store's address.
    pub address: IpAddr,
    /// Its IMAP port; `backend.imap_port` when absent.
    #[serde(default)]
    pub imap_port: Option<u16>,
    /// Its POP3 port; `backend.pop3_port` when absent.
    #[serde(default)]
    pub pop3_port: Option<u16>,
    /// The name its certificate must carry; the `mailHost` when absent.
    #[serde(default)]
    pub tls_name: Option<String>,
}

/// `[backend.dns]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsConfig {
    /// Look `mailHost` names up in DNS when the table does not list them.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Name servers as `ip:port`; empty: the system's (`/etc/resolv.conf`).
    #[serde(default)]
    pub nameservers: Vec<SocketAddr>,
    /// Per-query timeout.
    #[serde(default = "default_dns_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Tries per query.
    #[serde(default = "default_dns_attempts")]
    pub attempts: usize,
}

fn default_true() -> bool {
    true
}
fn default_dns_timeout() -> Duration {
    Duration::from_secs(2)
}
fn default_dns_attempts() -> usize {
    2
}

impl Default for DnsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            nameservers: Vec::new(),
            timeout: default_dns_timeout(),
            attempts: default_dns_attempts(),
        }
    }
}

/// `[limits]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Connections one client address may hold at once, over every
    /// listener, before and after login; more are turned away with
    /// `* BYE [UNAVAILABLE]` / `-ERR [SYS/TEMP]`. 0: no limit.
    #[serde(default = "default_per_ip")]
    pub max_connections_per_ip: u32,
}

fn default_per_ip() -> u32 {
    50
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_connections_per_ip: default_per_ip(),
        }
    }
}

/// A DNS-style host name: letters, digits, `-`, `.`, `_`.
pub(crate) fn valid_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

impl Validate for BackendConfig {
    fn validate(&self, v: &mut Validator) {
        if self.identity.trim().is_empty() || self.identity.contains(['\0', ':']) {
            v.error("identity", "must be a non-empty name without ':' or NUL");
        }
        v.file_exists("secret_file", &self.secret_file);
        if let Some(ca) = &self.tls_ca {
            v.file_exists("tls_ca", ca);
        }
        if self.imap_port == 0 {
            v.error("imap_port", "must not be 0");
        }
        if self.pop3_port == 0 {
            v.error("pop3_port", "must not be 0");
        }
        if self.connect_timeout.is_zero() || self.connect_timeout > Duration::from_secs(60) {
            v.error("connect_timeout", "must be between 1ms and one minute");
        }
        if self.login_timeout.is_zero() || self.login_timeout > Duration::from_secs(120) {
            v.error("login_timeout", "must be between 1ms and two minutes");
        }
        if let Some(h) = &self.default_host
            && !valid_host_name(h)
        {
            v.error("default_host", "must be a host name");
        }
        let mut seen: Vec<String> = Vec::new();
        for (name, entry) in &self.hosts {
            let key = format!("hosts.\"{name}\"");
            let lower = name.to_ascii_lowercase();
            if !valid_host_name(name) {
                v.error(
                    &key,
                    "must be a host name as the directory's mailHost gives it",
                );
            }
            if seen.contains(&lower) {
                v.error(&key, "listed twice (names are compared without case)");
            }
            seen.push(lower);
            if entry.imap_port == Some(0) || entry.pop3_port == Some(0) {
                v.error(&key, "ports must not be 0");
            }
            if let Some(n) = &entry.tls_name
                && !valid_host_name(n)
            {
                v.error(&format!("{key}.tls_name"), "must be a host name");
            }
        }
        if self.dns.timeout.is_zero() {
            v.error("dns.timeout", "must be longer than zero");
        }
        if self.dns.attempts == 0 {
            v.error("dns.attempts", "must be at least 1");
        }
    }
}

impl Validate for MmpConfig {
    fn validate(&self, v: &mut Validator) {
        v.nested("service", &self.service);
        v.nested("telemetry", &self.telemetry);
        if let Some(t) = &self.tls {
            v.nested("tls", t);
        }
        v.nested("directory", &self.directory);
        let has_tls = self.tls.is_some();
        if let Some(i) = &self.imap {
            v.section("imap", |v| i.validate_with(v, has_tls));
        }
        if let Some(p) = &self.pop3 {
            v.section("pop3", |v| p.validate_with(v, has_tls));
        }
        if self.imap.is_none() && self.pop3.is_none() {
            v.error("", "configure [imap] or [pop3] (or both)");
        }
        v.nested("backend", &self.backend);
        v.nested("login_throttle", &self.login_throttle);
    }
}

impl ServiceSettings for MmpConfig {
    fn service(&self) -> &ServiceConfig {
        &self.service
    }
    fn telemetry(&self) -> &TelemetryConfig {
        &self.telemetry
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(text: &str) -> Result<MmpConfig, mail_core::ConfigError> {
        mail_core::config::parse(Path::new("mmp.toml"), text)
    }

    fn files() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        let secret = dir.path().join("mmp.secret");
        std::fs::write(&secret, "s3cret\n").expect("secret");
        let dirfile = dir.path().join("directory.toml");
        let s = format!(
            "[service]\nadmin_listen = \"127.0.0.1:0\"\n[directory]\nbackend = \"file\"\npath = {:?}\n[backend]\nsecret_file = {:?}\n",
            dirfile.display().to_string(),
            secret.display().to_string()
        );
        (dir, s)
    }

    #[test]
    fn a_minimal_file_loads_with_defaults() {
        let (_d, base) = files();
        let cfg = parse(&format!(
            "{base}[backend.hosts.\"Store1.example.test\"]\naddress = \"127.0.0.2\"\nimap_port = 1143\n[imap]\nallow_plaintext_login = true\n[imap.listener]\nlisten = \"127.0.0.1:0\"\n"
        ))
        .expect("valid");
        assert_eq!(cfg.backend.identity, "mmp");
        assert_eq!(cfg.backend.tls, BackendTls::None);
        assert_eq!(cfg.backend.connect_timeout, Duration::from_secs(3));
        assert!(cfg.backend.dns.enabled);
        assert_eq!(cfg.limits.max_connections_per_ip, 50);
        assert_eq!(cfg.login_throttle, LoginThrottleConfig::default());
        let imap = cfg.imap.expect("imap");
        assert_eq!(imap.max_literal, 8192);
        assert!(cfg.pop3.is_none());
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let (_d, base) = files();
        let err = parse(&format!(
            "{base}imap_port = 0\nconnect_timeout = \"0s\"\n[backend.hosts.\"bad name\"]\naddress = \"127.0.0.2\"\n[backend.dns]\nattempts = 0\n[imap]\nmax_line = 10\n[imap.listener]\nlisten = \"127.0.0.1:0\"\n[imap.tls_listener]\nlisten = \"127.0.0.1:0\"\n"
        ))
        .expect_err("invalid");
        let text = err.to_string();
        for key in [
            "backend.imap_port:",
            "backend.connect_timeout:",
            "backend.hosts.\"bad name\":",
            "backend.dns.attempts:",
            "imap.max_line:",
            "imap.listener.tls:",
            "imap.tls_listener.tls:",
            "imap.tls_listener:",
        ] {
            assert!(
                text.contains(&format!("mmp.toml: {key}")),
                "{key} missing in {text}"
            );
        }
    }

    #[test]
    fn a_protocol_is_required_and_unknown_keys_are_refused() {
        let (_d, base) = files();
        let err = parse(&base).expect_err("no protocol");
        assert!(err.to_string().contains("[imap] or [pop3]"), "{err}");
        let err = parse(&format!("{base}bogus = 1\n")).expect_err("unknown key");
        assert!(err.to_string().contains("bogus"), "{err}");
    }
}
