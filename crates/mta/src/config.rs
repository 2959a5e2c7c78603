//! `[smtp]` configuration of one SMTP listener.
//!
//! ```toml
//! [smtp]
//! hostname = "mx1.example.org"
//! max_message_size = 52428800
//! max_recipients = 1000
//! command_timeout = "5m"
//! data_timeout = "3m"
//! message_timeout = "10m"
//! require_auth = false
//! eight_bit_without_8bitmime = "accept"
//! max_connections_per_ip = 50
//! connections_per_minute = 600
//! messages_per_minute = 1200
//! rate_limit_exempt = ["127.0.0.1/32", "10.0.0.0/8"]
//! [smtp.listener]
//! listen = "0.0.0.0:25"
//! tls = "starttls"
//! max_connections = 1024
//! ```

use std::time::Duration;

use mail_core::listener::ListenerConfig;
use mail_core::{Validate, Validator};
use serde::{Deserialize, Serialize};

use mail_core::cidr::Cidr;

/// What to do with 8-bit content from a client that did not declare
/// `BODY=8BITMIME` (RFC 6152).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EightBitPolicy {
    /// Accept it and record `BODY=8BITMIME` in the envelope, so delivery
    /// knows the content is 8-bit (what deployed MTAs do: much legacy
    /// software sends 8-bit text without declaring it).
    #[default]
    Accept,
    /// Refuse with `554 5.6.1` (strict RFC 6152).
    Reject,
}

/// One SMTP server's settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Where to listen; `tls = "starttls"` offers STARTTLS when the service
    /// has a certificate, `"implicit"` is submission on 465.
    pub listener: ListenerConfig,
    /// Name in the greeting, EHLO reply and Received header.
    #[serde(default = "default_hostname")]
    pub hostname: String,
    /// Largest message accepted, in octets (announced as SIZE, RFC 1870).
    #[serde(default = "default_max_message_size")]
    pub max_message_size: u64,
    /// Recipients per transaction; more get `452 4.5.3` (RFC 5321
    /// 4.5.3.1.10 asks for at least 100).
    #[serde(default = "default_max_recipients")]
    pub max_recipients: usize,
    /// Wait for the next command (RFC 5321 4.5.3.2.7: 5 minutes).
    #[serde(default = "default_command_timeout", with = "humantime_serde")]
    pub command_timeout: Duration,
    /// Wait for each piece of content (RFC 5321 4.5.3.2.5-6: 3 minutes).
    #[serde(default = "default_data_timeout", with = "humantime_serde")]
    pub data_timeout: Duration,
    /// Longest time one message's content may take in total, against
    /// clients that trickle a byte just before each data timeout.
    #[serde(default = "default_message_timeout", with = "humantime_serde")]
    pub message_timeout: Duration,
    /// Bad commands (and refused recipients) tolerated before `421`.
    #[serde(default = "default_max_errors")]
    pub max_errors: u32,
    /// Failed AUTH attempts tolerated before `421 4.7.0`.
    #[serde(default = "default_max_auth_failures")]
    pub max_auth_failures: u32,
    /// MAIL FROM needs a successful AUTH (`530 5.7.0`): submission.
    #[serde(default)]
    pub require_auth: bool,
    /// 8-bit content without BODY=8BITMIME.
    #[serde(default)]
    pub eight_bit_without_8bitmime: EightBitPolicy,
    /// Accept lines over 998 octets instead of `554 5.6.0`.
    #[serde(default)]
    pub accept_long_lines: bool,
    /// Messages up to this size stay in memory while received.
    #[serde(default = "default_memory_threshold")]
    pub memory_threshold: usize,
    /// Concurrent connections per client address (0: no limit); more get
    /// `421 4.7.0`.
    #[serde(default = "default_max_connections_per_ip")]
    pub max_connections_per_ip: usize,
    /// New connections per client address and minute (0: no limit); more
    /// get `421 4.7.0`.
    #[serde(default)]
    pub connections_per_minute: u32,
    /// Messages (MAIL FROM) per client address and minute (0: no limit);
    /// more get `451 4.7.1`.
    #[serde(default)]
    pub messages_per_minute: u32,
    /// Client networks the per-address limits do not apply to.
    #[serde(default)]
    pub rate_limit_exempt: Vec<Cidr>,
    /// Drop clients that pipeline where RFC 2920 forbids it (commands
    /// before the EHLO reply, content before the `354`) with
    /// `554 5.5.0`, as Postfix's `smtpd_forbid_unauth_pipelining`.
    #[serde(default = "default_true")]
    pub forbid_unauth_pipelining: bool,
    /// Accept `MAIL FROM:... X-TRACEPARENT=` (announced in EHLO) so the
    /// relay-to-relay hop continues the sender's trace. Only for internal
    /// listeners.
    #[serde(default)]
    pub accept_traceparent: bool,
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
fn default_max_auth_failures() -> u32 {
    3
}
fn default_memory_threshold() -> usize {
    1024 * 1024
}
fn default_max_connections_per_ip() -> usize {
    50
}
fn default_true() -> bool {
    true
}

impl SmtpConfig {
    /// Defaults around a listener (tests, `mailctl up`).
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
            max_auth_failures: default_max_auth_failures(),
            require_auth: false,
            eight_bit_without_8bitmime: EightBitPolicy::Accept,
            accept_long_lines: false,
            memory_threshold: default_memory_threshold(),
            max_connections_per_ip: default_max_connections_per_ip(),
            connections_per_minute: 0,
            messages_per_minute: 0,
            rate_limit_exempt: Vec::new(),
            forbid_unauth_pipelining: true,
            accept_traceparent: false,
        }
    }
}

impl Validate for SmtpConfig {
    fn validate(&self, v: &mut Validator) {
        v.nested("listener", &self.listener);
        if self.hostname.is_empty()
            || !self
                .hostname
                .chars()
                .all(|c| c.is_ascii_graphic() && c != '(' && c != ')')
        {
            v.error(
                "hostname",
                "must be a non-empty ASCII name without white space",
            );
        }
        if self.max_message_size < 1024 {
            v.error("max_message_size", "must be at least 1024 octets");
        }
        if self.max_recipients == 0 {
            v.error("max_recipients", "must be at least 1");
        }
        for (key, d) in [
            ("command_timeout", self.command_timeout),
            ("data_timeout", self.data_timeout),
            ("message_timeout", self.message_timeout),
        ] {
            if d.is_zero() {
                v.error(key, "must be longer than zero");
            }
        }
        if self.max_errors == 0 {
            v.error("max_errors", "must be at least 1");
        }
        if self.max_auth_failures == 0 {
            v.error("max_auth_failures", "must be at least 1");
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
        smtp: SmtpConfig,
        spool: mail_queue::SpoolConfig,
    }

    impl Validate for File {
        fn validate(&self, v: &mut Validator) {
            v.nested("smtp", &self.smtp);
            v.nested("spool", &self.spool);
        }
    }

    fn parse(text: &str) -> Result<File, mail_core::ConfigError> {
        mail_core::config::parse(Path::new("mta.toml"), text)
    }

    #[test]
    fn documented_example_loads() {
        let doc = include_str!("config.rs");
        let example: String = doc
            .lines()
            .skip_while(|l| !l.starts_with("//! ```toml"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| format!("{}\n", l.trim_start_matches("//!").trim_start()))
            .collect();
        let f = parse(&format!(
            "{example}[spool]\ndir = \"/var/spool/tiermail\"\n"
        ))
        .expect("valid");
        assert_eq!(f.smtp.rate_limit_exempt.len(), 2);
        assert_eq!(f.smtp.message_timeout, Duration::from_secs(600));
        assert_eq!(f.smtp.eight_bit_without_8bitmime, EightBitPolicy::Accept);
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let err = parse(
            "[smtp]\nhostname = \"a b\"\nmax_message_size = 10\nmax_recipients = 0\ncommand_timeout = \"0s\"\n[smtp.listener]\nlisten = \"127.0.0.1:0\"\n[spool]\ndir = \"/x\"\nmax_batch = 0\n",
        )
        .expect_err("invalid");
        let text = err.to_string();
        for key in [
            "smtp.hostname",
            "smtp.max_message_size",
            "smtp.max_recipients",
            "smtp.command_timeout",
            "spool.max_batch",
        ] {
            assert!(
                text.contains(&format!("mta.toml: {key}:")),
                "{key} missing in {text}"
            );
        }
        let err = parse("[smtp]\nrate_limit_exempt = [\"10.0.0.0/99\"]\n[smtp.listener]\nlisten = \"127.0.0.1:0\"\n[spool]\ndir = \"/x\"\n")
            .expect_err("bad cidr");
        assert!(err.to_string().contains("rate_limit_exempt"), "{err}");
    }
}
