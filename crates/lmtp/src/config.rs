//! `[lmtp]` configuration.
//!
//! ```toml
//! [lmtp]
//! hostname = "store1.example.org"
//! max_message_size = 52428800
//! max_recipients = 1000
//! command_timeout = "5m"
//! data_timeout = "3m"
//! message_timeout = "10m"
//! [lmtp.listener]
//! listen = "0.0.0.0:24"
//! tls = "starttls"
//! ```

use std::path::PathBuf;
use std::time::Duration;

use mail_core::listener::ListenerConfig;
use mail_core::{Validate, Validator};
use serde::{Deserialize, Serialize};

/// The LMTP server's settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LmtpConfig {
    /// Where to listen; `tls = "starttls"` offers STARTTLS when the service
    /// has a certificate.
    pub listener: ListenerConfig,
    /// Name in the greeting and the LHLO reply.
    #[serde(default = "default_hostname")]
    pub hostname: String,
    /// Largest message accepted, in octets (announced as SIZE, RFC 1870).
    #[serde(default = "default_max_message_size")]
    pub max_message_size: u64,
    /// Recipients per transaction; more get `452 4.5.3` (RFC 5321
    /// 4.5.3.1.10, which asks for at least 100).
    #[serde(default = "default_max_recipients")]
    pub max_recipients: usize,
    /// Wait for the next command (RFC 5321 4.5.3.2.7 suggests 5 minutes).
    #[serde(default = "default_command_timeout", with = "humantime_serde")]
    pub command_timeout: Duration,
    /// Wait for each piece of message content (RFC 5321 4.5.3.2.5-6).
    #[serde(default = "default_data_timeout", with = "humantime_serde")]
    pub data_timeout: Duration,
    /// Longest time one message's content may take in total (DATA, or
    /// every BDAT chunk from the first to the last), against clients that
    /// trickle a byte just before each data timeout; `421 4.4.2` then.
    #[serde(default = "default_message_timeout", with = "humantime_serde")]
    pub message_timeout: Duration,
    /// Bad commands tolerated before the session is closed with `421`.
    #[serde(default = "default_max_errors")]
    pub max_errors: u32,
    /// Messages up to this size stay in memory; larger ones are spooled to
    /// a temporary file.
    #[serde(default = "default_spool_threshold")]
    pub spool_threshold: usize,
    /// Directory for spooled messages (the system's temporary directory
    /// when unset). Put it on the store's volume so delivery can link.
    #[serde(default)]
    pub spool_dir: Option<PathBuf>,
    /// Separates user and detail (`alice+lists`); none disables
    /// subaddressing.
    #[serde(default = "default_delimiter")]
    pub recipient_delimiter: Option<char>,
    /// Accept lines over 998 octets instead of `554 5.6.0`.
    #[serde(default)]
    pub accept_long_lines: bool,
}

fn default_hostname() -> String {
    "localhost".into()
}
fn default_max_message_size() -> u64 {
    50 * 1024 * 1024
}
fn default_max_recipients() -> usize {
    1000
}
fn default_command_timeout() -> Duration {
    Duration::from_secs(300)
}
fn default_data_timeout() -> Duration {
    Duration::from_secs(180)
}
fn default_message_timeout() -> Duration {
    Duration::from_secs(600)
}
fn default_max_errors() -> u32 {
    20
}
fn default_spool_threshold() -> usize {
    1024 * 1024
}
fn default_delimiter() -> Option<char> {
    Some('+')
}

impl LmtpConfig {
    /// Defaults around a listener (for tests and `mailctl up`).
    pub fn new(listener: ListenerConfig) -> Self {
        Self {
            listener,
            hostname: default_hostname(),
            max_message_size: default_max_message_size(),
            max_recipients: default_max_recipients(),
            command_timeout: default_command_timeout(),
            data_timeout: default_data_timeout(),
            message_timeout: default_message_timeout(),
            max_errors: default_max_errors(),
            spool_threshold: default_spool_threshold(),
            spool_dir: None,
            recipient_delimiter: default_delimiter(),
            accept_long_lines: false,
        }
    }
}

impl Validate for LmtpConfig {
    fn validate(&self, v: &mut Validator) {
        v.nested("listener", &self.listener);
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
        if self.max_recipients == 0 {
            v.error("max_recipients", "must be at least 1");
        }
        if self.command_timeout.is_zero() {
            v.error("command_timeout", "must be longer than zero");
        }
        if self.data_timeout.is_zero() {
            v.error("data_timeout", "must be longer than zero");
        }
        if self.message_timeout.is_zero() {
            v.error("message_timeout", "must be longer than zero");
        }
        if self.max_errors == 0 {
            v.error("max_errors", "must be at least 1");
        }
        if let Some(dir) = &self.spool_dir
            && !dir.is_dir()
        {
            v.error("spool_dir", format!("{} is not a directory", dir.display()));
        }
        if let Some(c) = self.recipient_delimiter
            && (c.is_whitespace() || c == '@' || c == '"' || c.is_control())
        {
            v.error(
                "recipient_delimiter",
                "must be a printable character other than @ and \"",
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
        lmtp: LmtpConfig,
    }

    impl Validate for File {
        fn validate(&self, v: &mut Validator) {
            v.nested("lmtp", &self.lmtp);
        }
    }

    fn parse(text: &str) -> Result<File, mail_core::ConfigError> {
        mail_core::config::parse(Path::new("store.toml"), text)
    }

    #[test]
    fn documented_example_loads() {
        let f = parse(
            "[lmtp]\nhostname = \"store1.example.org\"\nmax_message_size = 52428800\nmax_recipients = 1000\ncommand_timeout = \"5m\"\ndata_timeout = \"3m\"\nmessage_timeout = \"10m\"\n[lmtp.listener]\nlisten = \"0.0.0.0:24\"\ntls = \"starttls\"\n",
        )
        .expect("valid");
        assert_eq!(f.lmtp.command_timeout, Duration::from_secs(300));
        assert_eq!(f.lmtp.message_timeout, Duration::from_secs(600));
        assert_eq!(f.lmtp.recipient_delimiter, Some('+'));
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let err = parse(
            "[lmtp]\nhostname = \"a b\"\nmax_message_size = 10\nmax_recipients = 0\ncommand_timeout = \"0s\"\nmessage_timeout = \"0s\"\nrecipient_delimiter = \"@\"\n[lmtp.listener]\nlisten = \"127.0.0.1:0\"\nmax_connections = 0\n",
        )
        .expect_err("invalid");
        let text = err.to_string();
        for key in [
            "lmtp.listener.max_connections",
            "lmtp.hostname",
            "lmtp.max_message_size",
            "lmtp.max_recipients",
            "lmtp.command_timeout",
            "lmtp.message_timeout",
            "lmtp.recipient_delimiter",
        ] {
            assert!(
                text.contains(&format!("store.toml: {key}:")),
                "{key} missing in {text}"
            );
        }
    }

    #[test]
    fn unknown_key_is_refused() {
        let err = parse("[lmtp]\nmax_rcpts = 5\n[lmtp.listener]\nlisten = \"127.0.0.1:0\"\n")
            .expect_err("unknown key");
        assert!(err.to_string().contains("max_rcpts"), "{err}");
    }
}
