//! `[imap]` configuration.
//!
//! ```toml
//! [imap]
//! hostname = "store1.example.org"
//! allow_plaintext_login = false
//! max_message_size = 52428800
//! auth_failure_delay = "2s"
//! quota_admins = ["postmaster"]
//! shared_owner = "shared"
//! [imap.listener]
//! listen = "0.0.0.0:143"
//! tls = "starttls"
//! [imap.implicit_tls]
//! listen = "0.0.0.0:993"
//! ```

use std::time::Duration;

use mail_core::listener::ListenerConfig;
use mail_core::{Validate, Validator};
use serde::{Deserialize, Serialize};

/// The IMAP server's settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ImapConfig {
    /// Where to listen; `tls = "starttls"` offers STARTTLS when the service
    /// has a certificate, `tls = "implicit"` is port 993.
    pub listener: ListenerConfig,
    /// A second listener that speaks TLS from the first byte (RFC 8314
    /// 3.3, port 993), beside the STARTTLS one; its `tls` key is ignored.
    /// Needs the service's certificate.
    #[serde(default)]
    pub implicit_tls: Option<ListenerConfig>,
    /// Name in the greeting.
    #[serde(default = "default_hostname")]
    pub hostname: String,
    /// Allow LOGIN and AUTHENTICATE PLAIN/LOGIN before TLS. Off by default:
    /// the server then announces LOGINDISABLED (RFC 3501 6.2.3) on a plain
    /// connection that can do STARTTLS.
    #[serde(default)]
    pub allow_plaintext_login: bool,
    /// Largest APPEND, in octets (announced as APPENDLIMIT, RFC 7889); also
    /// the largest literal accepted.
    #[serde(default = "default_max_message_size")]
    pub max_message_size: u64,
    /// Longest command line (between literals).
    #[serde(default = "default_max_line")]
    pub max_line: usize,
    /// Deepest nesting of parentheses in a command.
    #[serde(default = "default_max_depth")]
    pub max_depth: usize,
    /// Logout after this long without a command (RFC 3501 5.4: at least 30
    /// minutes).
    #[serde(default = "default_idle_timeout", with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Before the client has logged in, a shorter limit.
    #[serde(default = "default_login_timeout", with = "humantime_serde")]
    pub login_timeout: Duration,
    /// Wait this long before answering a failed login (slows guessing).
    #[serde(default = "default_auth_failure_delay", with = "humantime_serde")]
    pub auth_failure_delay: Duration,
    /// Failed logins before the connection is closed.
    #[serde(default = "default_max_auth_failures")]
    pub max_auth_failures: u32,
    /// BAD answers in a row after which the connection is closed (a
    /// command answered OK or NO starts the count again).
    #[serde(default = "default_max_bad_commands")]
    pub max_bad_commands: u32,
    /// Directory uids allowed to change quota limits with SETQUOTA (RFC
    /// 9208); everyone else gets `NO [NOPERM]`. Empty by default: limits
    /// are then changed only through `mailctl store quota set`.
    #[serde(default)]
    pub quota_admins: Vec<String>,
    /// The account whose mailboxes form the shared namespace `Shared/`
    /// (RFC 2342), access controlled by its ACLs (RFC 4314). Off when
    /// unset.
    #[serde(default)]
    pub shared_owner: Option<String>,
}

/// A directory uid as it may appear in this configuration.
fn valid_uid(uid: &str) -> bool {
    !uid.is_empty()
        && !uid
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/' || c == '"')
}

fn default_hostname() -> String {
    "localhost".into()
}
fn default_max_message_size() -> u64 {
    50 * 1024 * 1024
}
fn default_max_line() -> usize {
    64 * 1024
}
fn default_max_depth() -> usize {
    32
}
fn default_idle_timeout() -> Duration {
    Duration::from_secs(30 * 60)
}
fn default_login_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_auth_failure_delay() -> Duration {
    Duration::from_secs(2)
}
fn default_max_auth_failures() -> u32 {
    3
}
fn default_max_bad_commands() -> u32 {
    20
}

impl ImapConfig {
    /// Defaults around a listener (for tests and `mailctl up`).
    pub fn new(listener: ListenerConfig) -> Self {
        Self {
            listener,
            implicit_tls: None,
            hostname: default_hostname(),
            allow_plaintext_login: false,
            max_message_size: default_max_message_size(),
            max_line: default_max_line(),
            max_depth: default_max_depth(),
            idle_timeout: default_idle_timeout(),
            login_timeout: default_login_timeout(),
            auth_failure_delay: default_auth_failure_delay(),
            max_auth_failures: default_max_auth_failures(),
            max_bad_commands: default_max_bad_commands(),
            quota_admins: Vec::new(),
            shared_owner: None,
        }
    }
}

impl Validate for ImapConfig {
    fn validate(&self, v: &mut Validator) {
        v.nested("listener", &self.listener);
        if let Some(l) = &self.implicit_tls {
            v.nested("implicit_tls", l);
        }
        if self.hostname.is_empty()
            || self
                .hostname
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            v.error("hostname", "must be a non-empty name without white space");
        }
        if self.max_message_size < 1024 {
            v.error("max_message_size", "must be at least 1024 octets");
        }
        if self.max_line < 1024 {
            v.error(
                "max_line",
                "must be at least 1024 octets (RFC 7162 3.2.1.5 asks for 8192)",
            );
        }
        if !(4..=256).contains(&self.max_depth) {
            v.error("max_depth", "must be between 4 and 256");
        }
        if self.idle_timeout < Duration::from_secs(60) {
            v.error("idle_timeout", "must be at least one minute");
        }
        if self.login_timeout.is_zero() {
            v.error("login_timeout", "must be longer than zero");
        }
        if self.auth_failure_delay > Duration::from_secs(60) {
            v.error("auth_failure_delay", "must be at most one minute");
        }
        if self.max_auth_failures == 0 {
            v.error("max_auth_failures", "must be at least 1");
        }
        if self.max_bad_commands == 0 {
            v.error("max_bad_commands", "must be at least 1");
        }
        for (i, uid) in self.quota_admins.iter().enumerate() {
            if !valid_uid(uid) {
                v.error(
                    &format!("quota_admins[{i}]"),
                    "must be a directory uid (no white space, '/' or '\"')",
                );
            } else if self.quota_admins[..i].contains(uid) {
                v.error(&format!("quota_admins[{i}]"), "listed twice");
            }
        }
        if let Some(owner) = &self.shared_owner
            && !valid_uid(owner)
        {
            v.error(
                "shared_owner",
                "must be a directory uid (no white space, '/' or '\"')",
            );
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
        imap: ImapConfig,
    }

    impl Validate for File {
        fn validate(&self, v: &mut Validator) {
            v.nested("imap", &self.imap);
        }
    }

    fn parse(text: &str) -> Result<File, mail_core::ConfigError> {
        mail_core::config::parse(Path::new("store.toml"), text)
    }

    #[test]
    fn documented_example_loads() {
        let f = parse(
            "[imap]\nhostname = \"store1.example.org\"\nallow_plaintext_login = false\nmax_message_size = 52428800\nauth_failure_delay = \"2s\"\nquota_admins = [\"postmaster\"]\nshared_owner = \"shared\"\n[imap.listener]\nlisten = \"0.0.0.0:143\"\ntls = \"starttls\"\n",
        )
        .expect("valid");
        assert_eq!(f.imap.auth_failure_delay, Duration::from_secs(2));
        assert_eq!(f.imap.idle_timeout, Duration::from_secs(1800));
        assert_eq!(f.imap.quota_admins, vec!["postmaster".to_string()]);
        assert_eq!(f.imap.shared_owner.as_deref(), Some("shared"));
    }

    #[test]
    fn quota_admins_and_shared_owner_are_checked() {
        let err = parse(
            "[imap]\nquota_admins = [\"ok\", \"two words\", \"ok\"]\nshared_owner = \"a/b\"\n[imap.listener]\nlisten = \"127.0.0.1:0\"\n",
        )
        .expect_err("invalid");
        let text = err.to_string();
        for key in ["quota_admins[1]", "quota_admins[2]", "shared_owner"] {
            assert!(
                text.contains(&format!("imap.{key}:")),
                "{key} missing in {text}"
            );
        }
        let f = parse("[imap]\n[imap.listener]\nlisten = \"127.0.0.1:0\"\n").expect("defaults");
        assert!(f.imap.quota_admins.is_empty());
        assert!(f.imap.shared_owner.is_none());
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let err = parse(
            "[imap]\nhostname = \"\"\nmax_message_size = 1\nmax_line = 10\nmax_depth = 1\nidle_timeout = \"1s\"\nmax_auth_failures = 0\n[imap.listener]\nlisten = \"127.0.0.1:0\"\n",
        )
        .expect_err("invalid");
        let text = err.to_string();
        for key in [
            "hostname",
            "max_message_size",
            "max_line",
            "max_depth",
            "idle_timeout",
            "max_auth_failures",
        ] {
            assert!(
                text.contains(&format!("store.toml: imap.{key}:")),
                "{key} missing in {text}"
            );
        }
    }

    #[test]
    fn unknown_key_is_refused() {
        let err = parse("[imap]\nmax_lines = 5\n[imap.listener]\nlisten = \"127.0.0.1:0\"\n")
            .expect_err("unknown");
        assert!(err.to_string().contains("max_lines"), "{err}");
    }
}
