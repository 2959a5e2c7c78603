//! `[pop3]` configuration.
//!
//! ```toml
//! [pop3]
//! hostname = "store1.example.org"
//! idle_timeout = "10m"
//! max_line = 1024
//! plaintext_auth_without_tls = false
//! auth_failure_delay = "2s"
//! max_auth_failures = 3
//! login_delay = "5m"
//! expire_days = 30
//! [pop3.listener]
//! listen = "0.0.0.0:110"
//! tls = "starttls"
//! [pop3.implicit_tls]
//! listen = "0.0.0.0:995"
//! ```

use std::time::Duration;

use mail_core::listener::ListenerConfig;
use mail_core::{Validate, Validator};
use serde::{Deserialize, Serialize};

/// RFC 2449 4: a command line is at most 255 octets; SASL responses may be
/// longer (RFC 5034 4), hence the larger default.
const MIN_LINE: usize = 255;

/// The POP3 server's settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Pop3Config {
    /// Where to listen; `tls = "starttls"` offers STLS when the service has
    /// a certificate, `tls = "implicit"` is POP3S (995).
    pub listener: ListenerConfig,
    /// A second listener that speaks TLS from the first byte (RFC 8314
    /// 3.3, POP3S on port 995), beside the STLS one; its `tls` key is
    /// ignored. Needs the service's certificate.
    #[serde(default)]
    pub implicit_tls: Option<ListenerConfig>,
    /// Name in the greeting.
    #[serde(default = "default_hostname")]
    pub hostname: String,
    /// Time a client may stay silent before the session is closed without
    /// deleting anything (RFC 1939 3: at least 10 minutes).
    #[serde(default = "default_idle_timeout", with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Longest command line, CRLF included; longer lines get `-ERR Line
    /// too long`. At least 255 (RFC 2449 4); SASL responses need more.
    #[serde(default = "default_max_line")]
    pub max_line: usize,
    /// Allow USER/PASS and AUTH on a connection without TLS. Off by
    /// default: before STLS they are neither advertised nor accepted.
    #[serde(default)]
    pub plaintext_auth_without_tls: bool,
    /// Wait before answering a failed login, to slow password guessing.
    #[serde(default = "default_auth_failure_delay", with = "humantime_serde")]
    pub auth_failure_delay: Duration,
    /// Failed logins on one connection before it is closed.
    #[serde(default = "default_max_auth_failures")]
    pub max_auth_failures: u32,
    /// Bad commands tolerated before the session is closed.
    #[serde(default = "default_max_errors")]
    pub max_errors: u32,
    /// Minimum time between two logins of one account, announced as
    /// `LOGIN-DELAY` and enforced with `-ERR [LOGIN-DELAY]` (RFC 2449 6.8).
    /// Unset: no limit.
    #[serde(default, with = "humantime_serde")]
    pub login_delay: Option<Duration>,
    /// Days the server keeps retrieved messages, announced as `EXPIRE`
    /// (RFC 2449 6.7). Unset: `EXPIRE NEVER`. Announcement only: expiry
    /// itself is the store's policy.
    #[serde(default)]
    pub expire_days: Option<u32>,
}

fn default_hostname() -> String {
    "localhost".into()
}
fn default_idle_timeout() -> Duration {
    Duration::from_secs(600)
}
fn default_max_line() -> usize {
    1024
}
fn default_auth_failure_delay() -> Duration {
    Duration::from_secs(2)
}
fn default_max_auth_failures() -> u32 {
    3
}
fn default_max_errors() -> u32 {
    20
}

impl Pop3Config {
    /// Defaults around a listener (for tests and `mailctl up`).
    pub fn new(listener: ListenerConfig) -> Self {
        Self {
            listener,
            implicit_tls: None,
            hostname: default_hostname(),
            idle_timeout: default_idle_timeout(),
            max_line: default_max_line(),
            plaintext_auth_without_tls: false,
            auth_failure_delay: default_auth_failure_delay(),
            max_auth_failures: default_max_auth_failures(),
            max_errors: default_max_errors(),
            login_delay: None,
            expire_days: None,
        }
    }
}

impl Validate for Pop3Config {
    fn validate(&self, v: &mut Validator) {
        v.nested("listener", &self.listener);
        if let Some(l) = &self.implicit_tls {
            v.nested("implicit_tls", l);
        }
        // No '<' either: a '<...>' in the greeting announces APOP.
        if self.hostname.is_empty()
            || self
                .hostname
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
        {
            v.error(
                "hostname",
                "must be a non-empty name without white space or angle brackets",
            );
        }
        if self.idle_timeout.is_zero() {
            v.error("idle_timeout", "must be longer than zero");
        }
        if self.max_line < MIN_LINE {
            v.error(
                "max_line",
                format!("must be at least {MIN_LINE} (RFC 2449 4)"),
            );
        }
        if self.max_line > 64 * 1024 {
            v.error("max_line", "must be at most 65536");
        }
        if self.auth_failure_delay > Duration::from_secs(60) {
            v.error("auth_failure_delay", "must be at most one minute");
        }
        if self.max_auth_failures == 0 {
            v.error("max_auth_failures", "must be at least 1");
        }
        if self.max_errors == 0 {
            v.error("max_errors", "must be at least 1");
        }
        if self.login_delay.is_some_and(|d| d.as_secs() == 0) {
            v.error("login_delay", "must be at least one second, or unset");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        pop3: Pop3Config,
    }

    impl Validate for File {
        fn validate(&self, v: &mut Validator) {
            v.nested("pop3", &self.pop3);
        }
    }

    fn parse(text: &str) -> Result<File, mail_core::ConfigError> {
        mail_core::config::parse(Path::new("store.toml"), text)
    }

    #[test]
    fn documented_example_loads() {
        let f = parse(
            "[pop3]\nhostname = \"store1.example.org\"\nidle_timeout = \"10m\"\nmax_line = 1024\nplaintext_auth_without_tls = false\nauth_failure_delay = \"2s\"\nmax_auth_failures = 3\nlogin_delay = \"5m\"\nexpire_days = 30\n[pop3.listener]\nlisten = \"0.0.0.0:110\"\ntls = \"starttls\"\n",
        )
        .expect("valid");
        assert_eq!(f.pop3.idle_timeout, Duration::from_secs(600));
        assert_eq!(f.pop3.login_delay, Some(Duration::from_secs(300)));
        assert_eq!(f.pop3.expire_days, Some(30));
    }

    #[test]
    fn minimal_file_gets_defaults() {
        let f = parse("[pop3.listener]\nlisten = \"127.0.0.1:0\"\n").expect("valid");
        assert!(!f.pop3.plaintext_auth_without_tls);
        assert_eq!(f.pop3.max_line, 1024);
        assert_eq!(f.pop3.login_delay, None);
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let err = parse(
            "[pop3]\nhostname = \"<a>\"\nidle_timeout = \"0s\"\nmax_line = 100\nauth_failure_delay = \"2h\"\nmax_auth_failures = 0\nmax_errors = 0\nlogin_delay = \"0s\"\n[pop3.listener]\nlisten = \"127.0.0.1:0\"\nmax_connections = 0\n",
        )
        .expect_err("invalid");
        let text = err.to_string();
        for key in [
            "pop3.listener.max_connections",
            "pop3.hostname",
            "pop3.idle_timeout",
            "pop3.max_line",
            "pop3.auth_failure_delay",
            "pop3.max_auth_failures",
            "pop3.max_errors",
            "pop3.login_delay",
        ] {
            assert!(
                text.contains(&format!("store.toml: {key}:")),
                "{key} missing in {text}"
            );
        }
    }

    #[test]
    fn unknown_key_is_refused() {
        let err = parse("[pop3]\nallow_plain = true\n[pop3.listener]\nlisten = \"127.0.0.1:0\"\n")
            .expect_err("unknown key");
        assert!(err.to_string().contains("allow_plain"), "{err}");
    }
}
