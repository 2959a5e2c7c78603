//! `[http]` in the `mailstore` configuration: JMAP over HTTPS.
//!
//! ```toml
//! [http]
//! state_dir = "/var/mail/jmap"        # uploads, identities, submissions
//! [http.listener]
//! listen = "0.0.0.0:8443"             # published as "http" in the ports file
//! tls = "implicit"                     # HTTPS; the service's [tls] certificate
//! [http.limits]
//! max_size_request = 10000000
//! max_calls_in_request = 16
//! [http.submission]                    # EmailSubmission through the outbound relay
//! relay = "127.0.0.3:587"
//! tls = "starttls"
//! server_name = "smtp.example.org"
//! ca_file = "/etc/tiermail/ca.pem"
//! identity = "store1"
//! secret_file = "/etc/tiermail/proxy/store1.secret"
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use mail_core::listener::{ListenerConfig, TlsMode};
use mail_core::{Validate, Validator};
use mail_jmap_proto::Limits;
use serde::{Deserialize, Serialize};

/// The JMAP service's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// The HTTPS listener (`tls = "implicit"`; `"none"` only with
    /// `allow_plaintext`).
    pub listener: ListenerConfig,
    /// Where uploads, identity settings and submission records live.
    pub state_dir: PathBuf,
    /// Serve over plain HTTP (tests behind a TLS-terminating balancer
    /// only): passwords would cross the network in the clear.
    #[serde(default)]
    pub allow_plaintext: bool,
    /// The limits announced in the session resource and enforced.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Wait this long before answering a failed login.
    #[serde(default = "default_failure_delay", with = "humantime_serde")]
    pub auth_failure_delay: Duration,
    /// Uploaded blobs nobody used are removed after this long (RFC 8620
    /// 6.1 asks for at least an hour).
    #[serde(default = "default_upload_ttl", with = "humantime_serde")]
    pub upload_ttl: Duration,
    /// How EmailSubmission reaches the outbound relay; without it
    /// EmailSubmission/set answers `forbidden`.
    #[serde(default)]
    pub submission: Option<SubmissionConfig>,
}

fn default_failure_delay() -> Duration {
    Duration::from_secs(1)
}

fn default_upload_ttl() -> Duration {
    Duration::from_secs(24 * 3600)
}

/// `[http.limits]`: RFC 8620 2 core capability values.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// `maxSizeUpload`.
    pub max_size_upload: u64,
    /// `maxConcurrentUpload`.
    pub max_concurrent_upload: u64,
    /// `maxSizeRequest`.
    pub max_size_request: u64,
    /// `maxConcurrentRequests`.
    pub max_concurrent_requests: u64,
    /// `maxCallsInRequest`.
    pub max_calls_in_request: u64,
    /// `maxObjectsInGet`.
    pub max_objects_in_get: u64,
    /// `maxObjectsInSet`.
    pub max_objects_in_set: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let l = Limits::default();
        Self {
            max_size_upload: l.max_size_upload,
            max_concurrent_upload: l.max_concurrent_upload,
            max_size_request: l.max_size_request,
            max_concurrent_requests: l.max_concurrent_requests,
            max_calls_in_request: l.max_calls_in_request,
            max_objects_in_get: l.max_objects_in_get,
            max_objects_in_set: l.max_objects_in_set,
        }
    }
}

impl LimitsConfig {
    /// The wire form.
    pub fn limits(&self) -> Limits {
        Limits {
            max_size_upload: self.max_size_upload,
            max_concurrent_upload: self.max_concurrent_upload,
            max_size_request: self.max_size_request,
            max_concurrent_requests: self.max_concurrent_requests,
            max_calls_in_request: self.max_calls_in_request,
            max_objects_in_get: self.max_objects_in_get,
            max_objects_in_set: self.max_objects_in_set,
            ..Limits::default()
        }
    }
}

/// How the relay is reached for EmailSubmission.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RelayTls {
    /// STARTTLS on a submission port (587).
    Starttls,
    /// TLS from the first byte (465).
    Implicit,
}

/// `[http.submission]`: SMTP submission to the outbound relay with the
/// store's trusted-proxy credential (AUTH PLAIN, authzid = the user).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmissionConfig {
    /// The relay's submission address, `host:port`: an IP address or a
    /// DNS name (a Kubernetes Service, whose address is not known when the
    /// file is written), resolved at each connection.
    pub relay: String,
    /// STARTTLS or implicit TLS.
    #[serde(default = "default_relay_tls")]
    pub tls: RelayTls,
    /// The name the relay's certificate must carry.
    pub server_name: String,
    /// Extra CA certificates to trust (a private CA or a development
    /// certificate).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The store's proxy identity at the relay.
    pub identity: String,
    /// The file holding that identity's secret.
    pub secret_file: PathBuf,
    /// The EHLO name.
    #[serde(default = "default_ehlo")]
    pub ehlo: String,
    /// Time allowed for each SMTP step.
    #[serde(default = "default_smtp_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

/// `host:port` as a TCP connection takes it: an IP address and port
/// (`10.0.0.3:587`, `[2001:db8::3]:587`) or a DNS name and port.
fn check_host_port(text: &str) -> Result<(), String> {
    if text.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    let bad = || format!("{text:?} must be host:port (an IP address or a DNS name, and a port)");
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    match port.parse::<u16>() {
        Ok(p) if p != 0 && host.split('.').all(label_ok) => Ok(()),
        _ => Err(bad()),
    }
}

fn default_relay_tls() -> RelayTls {
    RelayTls::Starttls
}

fn default_ehlo() -> String {
    "localhost".into()
}

fn default_smtp_timeout() -> Duration {
    Duration::from_secs(30)
}

impl Validate for HttpConfig {
    fn validate(&self, v: &mut Validator) {
        v.nested("listener", &self.listener);
        if self.listener.tls != TlsMode::Implicit && !self.allow_plaintext {
            v.error(
                "listener.tls",
                "must be \"implicit\" (HTTPS): HTTP Basic passwords are only taken over TLS",
            );
        }
        if self.listener.tls == TlsMode::Starttls {
            v.error("listener.tls", "HTTP has no STARTTLS: use \"implicit\"");
        }
        let l = &self.limits;
        for (key, val) in [
            ("limits.max_size_upload", l.max_size_upload),
            ("limits.max_concurrent_upload", l.max_concurrent_upload),
            ("limits.max_size_request", l.max_size_request),
            ("limits.max_concurrent_requests", l.max_concurrent_requests),
            ("limits.max_calls_in_request", l.max_calls_in_request),
            ("limits.max_objects_in_get", l.max_objects_in_get),
            ("limits.max_objects_in_set", l.max_objects_in_set),
        ] {
            if val == 0 {
                v.error(key, "must be at least 1");
            }
        }
        if self.upload_ttl < Duration::from_secs(3600) {
            v.error("upload_ttl", "RFC 8620 6.1: keep uploads at least one hour");
        }
        if let Some(s) = &self.submission {
            if let Err(why) = check_host_port(&s.relay) {
                v.error("submission.relay", why);
            }
            v.file_exists("submission.secret_file", &s.secret_file);
            if let Some(ca) = &s.ca_file {
                v.file_exists("submission.ca_file", ca);
            }
            if s.identity.trim().is_empty() || s.identity.contains(['\0', ':']) {
                v.error("submission.identity", "must be a name without ':' or NUL");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::check_host_port;

    #[test]
    fn relay_is_an_address_or_a_dns_name_with_a_port() {
        for ok in [
            "10.0.0.3:587",
            "[2001:db8::3]:587",
            "mta-outbound.tiermail.svc.cluster.local:587",
            "localhost:25",
        ] {
            assert_eq!(check_host_port(ok), Ok(()), "{ok}");
        }
        for bad in [
            "mta-outbound",
            "mta-outbound:",
            ":587",
            "mta-outbound:0",
            "mta-outbound:99999",
            "bad name:587",
            "2001:db8::3:587",
            "-x.example.test:25",
        ] {
            assert!(check_host_port(bad).is_err(), "{bad}");
        }
    }
}
