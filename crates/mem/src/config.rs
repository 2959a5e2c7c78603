//! The `mem` configuration file (docs/webmail.md lists every key).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use mail_core::cidr::Cidr;
use mail_core::config::ServiceConfig;
use mail_core::listener::{ListenerConfig, TlsMode};
use mail_core::login_throttle::LoginThrottleConfig;
use mail_core::service::ServiceSettings;
use mail_core::telemetry::TelemetryConfig;
use mail_core::tls::TlsFiles;
use mail_core::{Validate, Validator};
use mail_directory::DirectoryConfig;
use serde::Deserialize;

/// Everything `mem --config` reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemConfig {
    /// Shared service settings.
    pub service: ServiceConfig,
    /// Logs, traces, metrics.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// Certificate for HTTPS; required unless `http.listener.tls = "none"`.
    #[serde(default)]
    pub tls: Option<TlsFiles>,
    /// The web address users open.
    pub http: HttpConfig,
    /// Where users log in and where their `mailHost` is found.
    pub directory: DirectoryConfig,
    /// The identity the MEM presents to the stores.
    pub proxy: ProxyCredentialConfig,
    /// How a `mailHost` becomes a store's JMAP address.
    #[serde(default)]
    pub stores: StoresConfig,
    /// Login sessions.
    #[serde(default)]
    pub session: SessionConfig,
    /// Failed-login throttling per client address and per user.
    #[serde(default)]
    pub login_throttle: LoginThrottleConfig,
    /// The web client's files.
    #[serde(default)]
    pub web: WebConfig,
}

/// `[http]`: the listener users reach (usually through a load balancer).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// The socket; `tls` is `implicit` (HTTPS) or `none` (TLS ends at a
    /// load balancer in front).
    pub listener: ListenerConfig,
    /// The address users open, e.g. `https://mail.example.test`. The
    /// session object's URLs point here and state-changing requests must
    /// come from this origin. When absent, `https://` plus the request's
    /// `Host` header.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Load balancers whose `X-Forwarded-For` names the real client (for
    /// login throttling, logs and the `Forwarded` header to the store).
    #[serde(default)]
    pub trusted_forwarders: Vec<Cidr>,
    /// The largest request body relayed to a store (uploads included).
    #[serde(default = "default_max_body")]
    pub max_request_size: u64,
    /// Time a client has to send a request's headers.
    #[serde(default = "default_header_timeout", with = "humantime_serde")]
    pub header_read_timeout: Duration,
}

fn default_max_body() -> u64 {
    50 * 1024 * 1024
}

fn default_header_timeout() -> Duration {
    Duration::from_secs(30)
}

/// `[proxy]`: the credential of CONTRACTS' trusted-proxy HTTP login.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyCredentialConfig {
    /// The proxy identity the stores list in their `[proxy]` (e.g. `mem`).
    pub name: String,
    /// A file holding the secret on its first line (mode 0600).
    pub secret_file: PathBuf,
}

/// `[stores]`: where each store's JMAP service is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoresConfig {
    /// `mailHost` value -> the store's JMAP base URL
    /// (`https://store1.internal:8443`). A `mailHost` not listed is
    /// reached by its DNS name with `scheme` and `port`.
    #[serde(default)]
    pub hosts: BTreeMap<String, String>,
    /// The store of users without a `mailHost` (one-store sites).
    #[serde(default)]
    pub default_url: Option<String>,
    /// Scheme for stores found by DNS.
    #[serde(default = "default_scheme")]
    pub scheme: String,
    /// Port for stores found by DNS.
    #[serde(default = "default_port")]
    pub port: u16,
    /// PEM file with the CA (or self-signed certificate) the stores'
    /// certificates chain to, besides the public roots.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// Time to connect (TCP and TLS) to a store: a store that is down
    /// gives the user an error page this fast.
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Time for a store to start answering a request (not the push
    /// stream, which stays open).
    #[serde(default = "default_response_timeout", with = "humantime_serde")]
    pub response_timeout: Duration,
    /// The store's JMAP session resource (RFC 8620 section 2.2).
    #[serde(default = "default_session_path")]
    pub session_path: String,
    /// Idle connections kept per store.
    #[serde(default = "default_idle")]
    pub max_idle_per_store: usize,
}

fn default_scheme() -> String {
    "https".into()
}
fn default_port() -> u16 {
    443
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(3)
}
fn default_response_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_session_path() -> String {
    "/.well-known/jmap".into()
}
fn default_idle() -> usize {
    64
}

impl Default for StoresConfig {
    fn default() -> Self {
        Self {
            hosts: BTreeMap::new(),
            default_url: None,
            scheme: default_scheme(),
            port: default_port(),
            ca: None,
            connect_timeout: default_connect_timeout(),
            response_timeout: default_response_timeout(),
            session_path: default_session_path(),
            max_idle_per_store: default_idle(),
        }
    }
}

/// `[session]`: login sessions (server-side; the cookie holds only a
/// random 256-bit token).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// A session unused this long ends.
    #[serde(default = "default_idle_timeout", with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// A session ends this long after login, used or not.
    #[serde(default = "default_absolute_timeout", with = "humantime_serde")]
    pub absolute_timeout: Duration,
    /// Sessions held at most; a login beyond it ends the stalest.
    #[serde(default = "default_max_sessions")]
    pub max_sessions: usize,
}

fn default_idle_timeout() -> Duration {
    Duration::from_secs(30 * 60)
}
fn default_absolute_timeout() -> Duration {
    Duration::from_secs(12 * 3600)
}
fn default_max_sessions() -> usize {
    100_000
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle_timeout: default_idle_timeout(),
            absolute_timeout: default_absolute_timeout(),
            max_sessions: default_max_sessions(),
        }
    }
}

/// `[web]`: the web client.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// Serve the client from this directory instead of the copy built into
    /// the binary (to restyle it, or while working on it).
    #[serde(default)]
    pub root: Option<PathBuf>,
}

/// Checks a store or public base URL: `http(s)://authority` with no path.
pub(crate) fn check_base_url(v: &mut Validator, key: &str, url: &str) {
    match url.parse::<hyper::Uri>() {
        Ok(u)
            if matches!(u.scheme_str(), Some("http" | "https"))
                && u.authority().is_some()
                && matches!(u.path(), "" | "/")
                && u.query().is_none() => {}
        _ => v.error(
            key,
            format!("{url:?} must be http(s)://host[:port] with no path"),
        ),
    }
}

impl Validate for MemConfig {
    fn validate(&self, v: &mut Validator) {
        v.nested("service", &self.service);
        v.nested("telemetry", &self.telemetry);
        if let Some(t) = &self.tls {
            v.nested("tls", t);
        }
        v.section("http", |v| {
            v.nested("listener", &self.http.listener);
            match self.http.listener.tls {
                TlsMode::Implicit if self.tls.is_none() => v.error(
                    "listener.tls",
                    "HTTPS needs a certificate: add [tls] cert and key",
                ),
                TlsMode::Starttls => v.error(
                    "listener.tls",
                    "HTTP has no STARTTLS: use \"implicit\" (HTTPS) or \"none\" (TLS at the load balancer)",
                ),
                _ => {}
            }
            if let Some(u) = &self.http.public_url {
                check_base_url(v, "public_url", u);
            }
            if self.http.max_request_size < 1024 {
                v.error("max_request_size", "must be at least 1024 bytes");
            }
            if self.http.header_read_timeout.is_zero() {
                v.error("header_read_timeout", "must be longer than zero");
            }
        });
        v.nested("directory", &self.directory);
        v.section("proxy", |v| {
            if self.proxy.name.trim().is_empty() || self.proxy.name.contains([':', '\0']) {
                v.error("name", "must be a non-empty name without ':'");
            }
            v.file_exists("secret_file", &self.proxy.secret_file);
        });
        v.section("stores", |v| {
            let s = &self.stores;
            for (host, url) in &s.hosts {
                check_base_url(v, &format!("hosts.{host:?}"), url);
            }
            if let Some(u) = &s.default_url {
                check_base_url(v, "default_url", u);
            }
            if !matches!(s.scheme.as_str(), "http" | "https") {
                v.error("scheme", "must be \"https\" or \"http\"");
            }
            if s.port == 0 {
                v.error("port", "must not be 0");
            }
            if let Some(ca) = &s.ca {
                v.file_exists("ca", ca);
            }
            if s.connect_timeout.is_zero() {
                v.error("connect_timeout", "must be longer than zero");
            }
            if s.response_timeout.is_zero() {
                v.error("response_timeout", "must be longer than zero");
            }
            if !s.session_path.starts_with('/') {
                v.error("session_path", "must start with /");
            }
        });
        v.section("session", |v| {
            let s = &self.session;
            if s.idle_timeout.is_zero() {
                v.error("idle_timeout", "must be longer than zero");
            }
            if s.absolute_timeout < s.idle_timeout {
                v.error("absolute_timeout", "must be at least idle_timeout");
            }
            if s.max_sessions == 0 {
                v.error("max_sessions", "must be at least 1");
            }
        });
        v.nested("login_throttle", &self.login_throttle);
        if let Some(root) = &self.web.root
            && !root.join("index.html").is_file()
        {
            v.error(
                "web.root",
                format!("{} holds no index.html", root.display()),
            );
        }
    }
}

impl ServiceSettings for MemConfig {
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

    fn parse(text: &str) -> Result<MemConfig, mail_core::ConfigError> {
        mail_core::config::parse(Path::new("/etc/mem.toml"), text)
    }

    #[test]
    fn problems_are_collected_with_their_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let secret = dir.path().join("mem.secret");
        std::fs::write(&secret, "s\n").expect("write");
        let text = format!(
            "[service]\nadmin_listen = \"127.0.0.1:0\"\n\
             [http.listener]\nlisten = \"127.0.0.1:0\"\ntls = \"starttls\"\n\
             [http]\npublic_url = \"https://mail.example.test/webmail\"\n\
             [directory]\nbackend = \"file\"\npath = \"/nonexistent/dir.toml\"\n\
             [proxy]\nname = \"mem\"\nsecret_file = {secret:?}\n\
             [stores]\nscheme = \"ftp\"\n[stores.hosts]\n\"store1\" = \"https://10.0.0.1:8443/x\"\n\
             [session]\nidle_timeout = \"2h\"\nabsolute_timeout = \"1h\"\n",
            secret = secret.display().to_string()
        );
        let err = parse(&text).expect_err("invalid").to_string();
        for key in [
            "http.listener.tls",
            "http.public_url",
            "stores.hosts.\"store1\"",
            "stores.scheme",
            "session.absolute_timeout",
        ] {
            assert!(
                err.contains(&format!("/etc/mem.toml: {key}:")),
                "{key}: {err}"
            );
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = parse("[service]\nadmin_listen = \"127.0.0.1:0\"\n[stores]\nbogus = 1\n")
            .expect_err("unknown key")
            .to_string();
        assert!(err.contains("bogus"), "{err}");
    }
}
