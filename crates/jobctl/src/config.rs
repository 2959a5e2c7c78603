//! The `[jobctl]` configuration section.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use mail_core::grpc::{Role, ServerTls};
use mail_core::{Validate, Validator};
use serde::{Deserialize, Serialize};

/// The job controller's settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JobctlConfig {
    /// gRPC listen address (`jobctl.v1`). Without `tls`, loopback only.
    pub listen: SocketAddr,
    /// Mutual TLS with the deployment CA and who may call (relays submit,
    /// lease and report; operators steer the queue). Without it the API
    /// is plaintext and unauthenticated.
    #[serde(default)]
    pub tls: Option<ServerTls>,
    /// Serve plaintext on a non-loopback `listen` anyway: only where the
    /// network authenticates callers itself (a service mesh's mutual TLS).
    #[serde(default)]
    pub insecure_plaintext: bool,
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
    /// How long a job an operator deleted is remembered when its relay
    /// never confirms removing the queue file (a relay taken out of
    /// service). A relay that comes back later would queue it again.
    #[serde(default = "default_forget_deleted", with = "humantime_serde")]
    pub forget_deleted_after: Duration,
}

fn default_max_lease() -> Duration {
    Duration::from_secs(600)
}

fn default_forget_deleted() -> Duration {
    Duration::from_secs(30 * 24 * 3600)
}

impl JobctlConfig {
    /// Defaults for everything but the listen address and state directory.
    pub fn new(listen: SocketAddr, state_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen,
            tls: None,
            insecure_plaintext: false,
            state_dir: state_dir.into(),
            max_lease: default_max_lease(),
            default_channel: ChannelPolicy::default(),
            channels: BTreeMap::new(),
            forget_deleted_after: default_forget_deleted(),
        }
    }
}

/// jobctl's own limit for one channel. The retry schedule, queue lifetime
/// and delay notice are not here: they are channel keywords of the relays'
/// routing files and travel with each job ([`crate::retry`]), so an
/// operator sets them in one place.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChannelPolicy {
    /// Most jobs of this channel leased at once, all relays together (the
    /// job controller's pool limit; each relay's `max_workers` bounds its
    /// own share).
    #[serde(default = "default_max_workers")]
    pub max_workers: u32,
}

fn default_max_workers() -> u32 {
    20
}

impl Default for ChannelPolicy {
    fn default() -> Self {
        Self {
            max_workers: default_max_workers(),
        }
    }
}

impl Validate for ChannelPolicy {
    fn validate(&self, v: &mut Validator) {
        if self.max_workers == 0 {
            v.error("max_workers", "must be at least 1");
        }
    }
}

/// The roles `jobctl.v1` serves.
pub const ROLES: &[Role] = &[Role::Relay, Role::Operator];

impl Validate for JobctlConfig {
    fn validate(&self, v: &mut Validator) {
        mail_core::grpc::check_listen(v, &self.listen, self.tls.as_ref(), self.insecure_plaintext);
        if let Some(t) = &self.tls {
            v.section("tls", |v| t.check(v, ROLES));
        }
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
