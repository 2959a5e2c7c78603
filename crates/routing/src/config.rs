//! The routing file of one MTA: `[routing]`, the `[[channel]]` table, the
//! ordered `[[rewrite]]` rules and the `[mapping.NAME]` tables.
//!
//! Parsing reports a wrong type or an unknown key with its dotted path
//! (`channel[2].retry`); validation then collects every semantic problem,
//! each under its key (`rewrite[4].route`), before anything runs (see
//! [`crate::validate`]). The format is described key by key in
//! `docs/routing.md`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use mail_core::config::ConfigError;
use serde::Deserialize;

use crate::address::check_domain_syntax;

/// The whole routing file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingConfig {
    /// Settings of the rewrite process.
    #[serde(default)]
    pub routing: Settings,
    /// The channel table.
    #[serde(default, rename = "channel")]
    pub channels: Vec<Channel>,
    /// Rewrite rules, tried in order.
    #[serde(default, rename = "rewrite")]
    pub rewrites: Vec<RewriteRule>,
    /// Mapping tables by name.
    #[serde(default, rename = "mapping")]
    pub mappings: BTreeMap<String, BTreeMap<String, String>>,
}

/// `[routing]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// This MTA's own host name (`$L` in templates).
    #[serde(default = "default_local_host")]
    pub local_host: String,
    /// How many times one address may be rewritten and routed again
    /// before routing gives up with a loop error.
    #[serde(default = "default_max_rewrites")]
    pub max_rewrites: usize,
}

fn default_local_host() -> String {
    "localhost".into()
}

fn default_max_rewrites() -> usize {
    10
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            local_host: default_local_host(),
            max_rewrites: default_max_rewrites(),
        }
    }
}

/// What a channel's master program does with the mail routed to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// LMTP (RFC 2033) to a message store: the user's `mailHost`.
    Lmtp,
    /// SMTP to the Internet: MX lookup of the destination domain, A/AAAA
    /// fallback (RFC 5321 5.1).
    SmtpMx,
    /// SMTP to one fixed host: a smarthost or the inbound relay.
    SmtpRelay,
    /// Mail entering by submission (a slave channel only): never a routing
    /// target.
    Submit,
    /// Delivery status notifications (RFC 3464) generated here.
    Bounce,
    /// Messages that go through routing again, e.g. after group expansion.
    Reprocess,
}

impl ChannelKind {
    /// The name used in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lmtp => "lmtp",
            Self::SmtpMx => "smtp_mx",
            Self::SmtpRelay => "smtp_relay",
            Self::Submit => "submit",
            Self::Bounce => "bounce",
            Self::Reprocess => "reprocess",
        }
    }

    /// The port a destination without one uses.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Lmtp => 24,
            _ => 25,
        }
    }

    /// Whether the kind's master program connects somewhere.
    pub fn connects(self) -> bool {
        matches!(self, Self::Lmtp | Self::SmtpMx | Self::SmtpRelay)
    }
}

/// When a master channel uses TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsPolicy {
    /// Never (plain connections only).
    None,
    /// STARTTLS when the server offers it, plain otherwise (RFC 3207).
    Opportunistic,
    /// STARTTLS or no delivery (the attempt is retried).
    Required,
}

/// What `RET` a DSN uses when the sender asked for none (RFC 3461 4.3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DsnReturn {
    /// The original headers only.
    #[default]
    Headers,
    /// The whole original message.
    Full,
}

/// DSN options of a channel (RFC 3461, RFC 3464).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DsnOptions {
    /// Send one delay notice after `delay_notice_after`.
    #[serde(default = "yes")]
    pub delay_notices: bool,
    /// Honour `NOTIFY=SUCCESS` with a success DSN.
    #[serde(default = "yes")]
    pub success: bool,
    /// `RET` when the sender gave none.
    #[serde(default)]
    pub default_return: DsnReturn,
}

fn yes() -> bool {
    true
}

impl Default for DsnOptions {
    fn default() -> Self {
        Self {
            delay_notices: true,
            success: true,
            default_return: DsnReturn::Headers,
        }
    }
}

/// How much a channel logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Nothing beyond errors of the channel program itself.
    Off,
    /// Failures only.
    Error,
    /// Failures and deferrals.
    Warn,
    /// One mail-log line per message event (the default).
    #[default]
    Info,
    /// Also each protocol exchange.
    Debug,
    /// Everything, including protocol traces.
    Trace,
}

/// One `[[channel]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    /// Channel name (`lmtp`, `tcp_local`, ...), also the jobctl queue name.
    pub name: String,
    /// What the master program does.
    pub kind: ChannelKind,
    /// Official host names: a rule whose `route` produces one of these
    /// selects this channel (compared case-insensitively).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// A line for operators.
    #[serde(default)]
    pub description: Option<String>,
    /// Largest message accepted into the channel, in bytes (`"50MiB"` or a
    /// number).
    #[serde(default = "default_size", deserialize_with = "bytes::deserialize")]
    pub max_message_size: u64,
    /// Delivery workers kept running even when idle.
    #[serde(default = "default_min_workers")]
    pub min_workers: u32,
    /// Most deliveries of this channel at once.
    #[serde(default = "default_max_workers")]
    pub max_workers: u32,
    /// Most deliveries to one destination host at once.
    #[serde(default = "default_per_destination")]
    pub max_per_destination: u32,
    /// Waits between attempts; the last repeats. This and the two below
    /// travel with each job to jobctl, which schedules by them.
    #[serde(default = "default_retry", deserialize_with = "durations::deserialize")]
    pub retry: Vec<Duration>,
    /// How long a message may stay queued before it bounces.
    #[serde(default = "default_lifetime", with = "humantime_serde")]
    pub max_lifetime: Duration,
    /// After this long undelivered, one delay notice.
    #[serde(default = "default_delay_notice", with = "humantime_serde")]
    pub delay_notice_after: Duration,
    /// DSN options.
    #[serde(default)]
    pub dsn: DsnOptions,
    /// TLS policy; default `opportunistic` for SMTP kinds, `none` otherwise.
    #[serde(default)]
    pub tls: Option<TlsPolicy>,
    /// Verify the server's certificate chain and name (with `opportunistic`,
    /// a failed check falls back to plain; with `required`, it defers).
    #[serde(default)]
    pub tls_verify: bool,
    /// The fixed destination `host[:port]`: the smarthost of an
    /// `smtp_relay` channel, or one store for an `lmtp` channel.
    #[serde(default)]
    pub relay: Option<String>,
    /// Port for destinations without one (default 24 for `lmtp`, else 25).
    #[serde(default)]
    pub port: Option<u16>,
    /// How much the channel logs.
    #[serde(default)]
    pub log_level: LogLevel,
    /// `lmtp` only: deliver even past the user's quota (a guaranteed
    /// delivery channel, for notices the user must get).
    #[serde(default)]
    pub guaranteed: bool,
}

fn default_size() -> u64 {
    50 * 1024 * 1024
}
fn default_min_workers() -> u32 {
    1
}
fn default_max_workers() -> u32 {
    20
}
fn default_per_destination() -> u32 {
    4
}
fn default_retry() -> Vec<Duration> {
    [60, 300, 900, 1800, 3600, 7200, 14400]
        .into_iter()
        .map(Duration::from_secs)
        .collect()
}
fn default_lifetime() -> Duration {
    Duration::from_secs(5 * 24 * 3600)
}
fn default_delay_notice() -> Duration {
    Duration::from_secs(4 * 3600)
}

impl Channel {
    /// The effective TLS policy.
    pub fn tls_policy(&self) -> TlsPolicy {
        self.tls.unwrap_or(match self.kind {
            ChannelKind::SmtpMx | ChannelKind::SmtpRelay => TlsPolicy::Opportunistic,
            _ => TlsPolicy::None,
        })
    }

    /// The effective default port.
    pub fn default_port(&self) -> u16 {
        self.port.unwrap_or(self.kind.default_port())
    }
}

/// One `[[rewrite]]` rule.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewriteRule {
    /// Which domains: `example.com`, `*.example.com` or `$*`.
    pub domain: String,
    /// A label shown by `mailctl route test`.
    #[serde(default)]
    pub name: Option<String>,
    /// A template that must succeed (its lookups find something) for the
    /// rule to apply; its value is not used.
    #[serde(default)]
    pub when: Option<String>,
    /// The rewritten address; default `$U@$D`.
    #[serde(default)]
    pub address: Option<String>,
    /// The routing host, which selects the channel. Without it the
    /// rewritten address is routed again from the first rule.
    #[serde(default)]
    pub route: Option<String>,
    /// Where the channel delivers (`host[:port]`); default: the domain for
    /// `smtp_mx`, the channel's `relay` otherwise.
    #[serde(default)]
    pub destination: Option<String>,
    /// Refuse the address: `"5.1.1 text"` (`4.x.x` defers).
    #[serde(default)]
    pub error: Option<String>,
}

/// The default address template.
pub const DEFAULT_ADDRESS: &str = "$U@$D";

impl RoutingConfig {
    /// Reads, checks for unfilled placeholders, parses and validates `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses and validates `text`; `path` names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        if let Some((line, name)) = find_placeholder(text) {
            return Err(ConfigError::Parse {
                path: path.to_path_buf(),
                key: String::new(),
                message: format!(
                    "unfilled placeholder {{{{{name}}}}} (line {line}); fill the shipped defaults with mail_routing::fill"
                ),
            });
        }
        mail_core::config::parse(path, text)
    }

    /// The channel called `name`.
    pub fn channel(&self, name: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.name == name)
    }
}

/// The first `{{NAME}}` outside a comment line: line number and name.
pub(crate) fn find_placeholder(text: &str) -> Option<(usize, String)> {
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        if let Some(start) = line.find("{{") {
            let rest = &line[start + 2..];
            let name = rest.split("}}").next().unwrap_or(rest);
            return Some((i + 1, name.to_string()));
        }
    }
    None
}

/// Splits `host[:port]` (`[v6]:port` for IPv6) and checks the host.
pub fn parse_host_port(text: &str) -> Result<(String, Option<u16>), String> {
    let t = text.trim();
    let (host, port) = if let Some(rest) = t.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or("missing ] after an IPv6 address")?;
        h.parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("{h:?} is not an IPv6 address"))?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or("junk after ]")?),
        };
        (h.to_string(), port)
    } else {
        match t.rsplit_once(':') {
            Some((h, p)) => (h.to_ascii_lowercase(), Some(p)),
            None => (t.to_ascii_lowercase(), None),
        }
    };
    if !t.starts_with('[') && host.parse::<std::net::Ipv4Addr>().is_err() {
        check_domain_syntax(&host)?;
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(format!("{p:?} is not a port number")),
        },
    };
    Ok((host, port))
}

/// Parses an `error` text: optional RFC 3463 status, then the message.
/// Returns (reply code, status, text).
pub fn parse_error_text(text: &str) -> Result<(u16, String, String), String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("must say why the address is refused".into());
    }
    let first = t.split_whitespace().next().unwrap_or("");
    if first.starts_with(|c: char| c.is_ascii_digit()) {
        let parts: Vec<&str> = first.split('.').collect();
        let ok = parts.len() == 3
            && matches!(parts[0], "4" | "5")
            && parts[1..]
                .iter()
                .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
        if !ok {
            return Err(format!(
                "{first:?} is not an enhanced status code (4.x.x or 5.x.x)"
            ));
        }
        let message = t[first.len()..].trim();
        if message.is_empty() {
            return Err("needs a message after the status code".into());
        }
        let code = if parts[0] == "4" { 450 } else { 550 };
        Ok((code, first.to_string(), message.to_string()))
    } else {
        Ok((550, "5.1.1".to_string(), t.to_string()))
    }
}

/// serde for a byte size: a number, or a string with a unit
/// (`"512KiB"`, `"50MiB"`, `"1GiB"`, `"10MB"`; `K`/`M`/`G` alone are binary).
mod bytes {
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(u64),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(n),
            Raw::Text(s) => parse(&s).map_err(serde::de::Error::custom),
        }
    }

    pub(super) fn parse(s: &str) -> Result<u64, String> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("{s:?}: expected a number of bytes like \"50MiB\""))?;
        let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kib" => 1 << 10,
            "m" | "mib" => 1 << 20,
            "g" | "gib" => 1 << 30,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            other => {
                return Err(format!(
                    "{s:?}: unknown unit {other:?} (B, KiB, MiB, GiB, KB, MB, GB)"
                ));
            }
        };
        n.checked_mul(mult)
            .ok_or_else(|| format!("{s:?} is too large"))
    }
}

/// serde for a list of humantime durations (`["1m", "5m"]`).
mod durations {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
        let raw = Vec::<String>::deserialize(d)?;
        raw.iter()
            .map(|s| {
                humantime_serde::re::humantime::parse_duration(s)
                    .map_err(|e| serde::de::Error::custom(format!("{s:?}: {e}")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes() {
        assert_eq!(bytes::parse("50MiB"), Ok(50 << 20));
        assert_eq!(bytes::parse("10 MB"), Ok(10_000_000));
        assert_eq!(bytes::parse("1g"), Ok(1 << 30));
        assert_eq!(bytes::parse("123"), Ok(123));
        assert!(bytes::parse("12 parsecs").is_err());
        assert!(bytes::parse("MiB").is_err());
    }

    #[test]
    fn host_ports() {
        assert_eq!(
            parse_host_port("Relay.Test:2525"),
            Ok(("relay.test".into(), Some(2525)))
        );
        assert_eq!(parse_host_port("127.0.0.1"), Ok(("127.0.0.1".into(), None)));
        assert_eq!(parse_host_port("[::1]:24"), Ok(("::1".into(), Some(24))));
        assert!(parse_host_port("relay.test:0").is_err());
        assert!(parse_host_port("relay.test:x").is_err());
        assert!(parse_host_port("bad_host").is_err());
        assert!(parse_host_port("[zz]:25").is_err());
    }

    #[test]
    fn error_texts() {
        assert_eq!(
            parse_error_text("5.1.1 no such user"),
            Ok((550, "5.1.1".into(), "no such user".into()))
        );
        assert_eq!(
            parse_error_text("4.2.1 try later"),
            Ok((450, "4.2.1".into(), "try later".into()))
        );
        assert_eq!(
            parse_error_text("go away"),
            Ok((550, "5.1.1".into(), "go away".into()))
        );
        assert!(parse_error_text("2.0.0 fine").is_err());
        assert!(parse_error_text("5.1.1").is_err());
        assert!(parse_error_text(" ").is_err());
    }

    #[test]
    fn placeholders_outside_comments_are_found() {
        assert_eq!(find_placeholder("# {{X}}\na = 1\n"), None);
        assert_eq!(
            find_placeholder("a = 1\nb = \"{{DOMAIN}}\"\n"),
            Some((2, "DOMAIN".into()))
        );
    }

    #[test]
    fn channel_defaults_follow_the_kind() {
        let c: Channel = toml::from_str(
            "name = \"x\"\nkind = \"smtp_mx\"\nhosts = [\"x\"]\nretry = [\"1s\", \"10s\"]\n",
        )
        .expect("channel parses");
        assert_eq!(c.retry, [Duration::from_secs(1), Duration::from_secs(10)]);
        assert_eq!(c.tls_policy(), TlsPolicy::Opportunistic);
        assert_eq!(c.default_port(), 25);
    }
}
