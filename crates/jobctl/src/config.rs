//! The `[jobctl]` configuration section.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use mail_core::{Validate, Validator};
use serde::{Deserialize, Serialize};

/// The job controller's settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JobctlConfig {
    /// gRPC listen address (`jobctl.v1`).
    pub listen: SocketAddr,
    /// Directory of the RocksDB state database.
    pub state_dir: PathBuf,
    /// The longest lease a worker may ask for.
    #[serde(default = "default_max_lease", with = "humantime_serde")]
    pub max_lease: Duration,
    /// Policy for channels not listed in `channels`.
    #[serde(default)]
    pub default_channel: ChannelPolicy,
    /// Per-channel policies by channel name (`tcp_local`, `lmtp`, ...).
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelPolicy>,
}

fn default_max_lease() -> Duration {
    Duration::from_secs(600)
}

/// How a channel's jobs are retried and how many run at once.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChannelPolicy {
    /// Waits between attempts: the n-th retry waits the n-th entry, and the
    /// last entry repeats (the classic MTA `backoff` keyword).
    #[serde(default = "default_retry", with = "humantime_list")]
    pub retry: Vec<Duration>,
    /// How long a job may stay queued before its recipients bounce.
    #[serde(default = "default_lifetime", with = "humantime_serde")]
    pub max_lifetime: Duration,
    /// After this long undelivered, the sender gets one delay notice.
    #[serde(default = "default_delay_notice", with = "humantime_serde")]
    pub delay_notice_after: Duration,
    /// Most jobs of this channel leased at once (all relays together).
    #[serde(default = "default_max_workers")]
    pub max_workers: u32,
    /// Workers each relay keeps running for this channel even when idle.
    #[serde(default = "default_min_workers")]
    pub min_workers: u32,
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

fn default_max_workers() -> u32 {
    20
}

fn default_min_workers() -> u32 {
    1
}

impl Default for ChannelPolicy {
    fn default() -> Self {
        Self {
            retry: default_retry(),
            max_lifetime: default_lifetime(),
            delay_notice_after: default_delay_notice(),
            max_workers: default_max_workers(),
            min_workers: default_min_workers(),
        }
    }
}

impl ChannelPolicy {
    /// The wait before the retry that follows `attempts` failed attempts.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let i = (attempts.max(1) as usize - 1).min(self.retry.len().saturating_sub(1));
        self.retry
            .get(i)
            .copied()
            .unwrap_or(Duration::from_secs(300))
    }
}

impl Validate for ChannelPolicy {
    fn validate(&self, v: &mut Validator) {
        if self.retry.is_empty() {
            v.error("retry", "needs at least one interval");
        }
        if self.retry.iter().any(Duration::is_zero) {
            v.error("retry", "intervals must be longer than zero");
        }
        if self.max_lifetime.is_zero() {
            v.error("max_lifetime", "must be longer than zero");
        }
        if self.delay_notice_after >= self.max_lifetime {
            v.error(
                "delay_notice_after",
                "must be shorter than max_lifetime, or no delay notice is ever sent",
            );
        }
        if self.max_workers == 0 {
            v.error("max_workers", "must be at least 1");
        }
        if self.min_workers > self.max_workers {
            v.error("min_workers", "must not exceed max_workers");
        }
    }
}

impl Validate for JobctlConfig {
    fn validate(&self, v: &mut Validator) {
        if self.max_lease < Duration::from_secs(1) {
            v.error("max_lease", "must be at least one second");
        }
        v.nested("default_channel", &self.default_channel);
        for (name, policy) in &self.channels {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                v.error(
                    &format!("channels.{name}"),
                    "channel names use letters, digits, '_' and '-'",
                );
            }
            v.nested(&format!("channels.{name}"), policy);
        }
    }
}

impl JobctlConfig {
    /// The policy for `channel`.
    pub fn policy(&self, channel: &str) -> &ChannelPolicy {
        self.channels.get(channel).unwrap_or(&self.default_channel)
    }
}

/// serde for a list of humantime durations (`["1m", "5m"]`).
mod humantime_list {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[Duration], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            v.iter()
                .map(|d| humantime_serde::re::humantime::format_duration(*d).to_string()),
        )
    }

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
    fn backoff_repeats_the_last_interval() {
        let p = ChannelPolicy {
            retry: vec![Duration::from_secs(1), Duration::from_secs(10)],
            ..ChannelPolicy::default()
        };
        assert_eq!(p.backoff(1), Duration::from_secs(1));
        assert_eq!(p.backoff(2), Duration::from_secs(10));
        assert_eq!(p.backoff(9), Duration::from_secs(10));
    }
}
