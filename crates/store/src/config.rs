//! `[store]` configuration.
//!
//! Services embed [`StoreConfig`] as their `[store]` table; it follows the
//! workspace pattern (`deny_unknown_fields`, every problem reported with its
//! key by [`Validate`]).
//!
//! ```toml
//! [store]
//! system_path = "/var/mail/system"
//! default_partition = "primary"
//! block_cache_size = 67108864
//! hash_threshold = 1000
//!
//! [store.partitions]
//! primary = "/var/mail/primary"
//! second = "/vol2/mail"
//!
//! [store.quota]
//! enforce = true
//! warn_percent = 90
//! grace_period = "2days"
//!
//! [store.group_commit]
//! window = "300us"
//! max_batch = 256
//!
//! [store.default_mailboxes]   # "" leaves one out
//! drafts = "Drafts"
//! sent = "Sent"
//! trash = "Trash"
//! junk = "Junk"
//! archive = "Archive"
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use mail_core::config::{Validate, Validator};
use serde::{Deserialize, Serialize};

use crate::types::SpecialUse;

/// Settings of one message store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Partitions by name; each is the root directory of one volume.
    pub partitions: BTreeMap<String, PathBuf>,
    /// Partition for users whose directory entry names none.
    #[serde(default = "default_partition")]
    pub default_partition: String,
    /// Directory of the system area (RocksDB). Put it on the fastest volume.
    pub system_path: PathBuf,
    /// Size of the RocksDB block cache in bytes.
    #[serde(default = "default_block_cache")]
    pub block_cache_size: u64,
    /// Number of messages in a folder after which new message files go into
    /// hash subdirectories, so no directory grows without bound.
    #[serde(default = "default_hash_threshold")]
    pub hash_threshold: u32,
    /// Quota policy (the limits themselves come from the directory).
    #[serde(default)]
    pub quota: QuotaConfig,
    /// How deliveries share one fsync / WAL sync.
    #[serde(default)]
    pub group_commit: GroupCommitConfig,
    /// Header fields kept in the cache so header searches need no message file.
    #[serde(default = "default_cached_headers")]
    pub cached_headers: Vec<String>,
    /// How long a delivery made under a relay's delivery id (LMTP
    /// `X-DELIVERY-ID`) is remembered, so that the relay's redelivery of it
    /// (after it lost the store's `250`) is answered without a second copy.
    /// `0s` forgets at once: every redelivery is stored again.
    #[serde(default = "default_redelivery_window", with = "humantime_serde")]
    pub redelivery_window: Duration,
    /// Mailboxes a new account gets beside INBOX.
    #[serde(default)]
    pub default_mailboxes: DefaultMailboxes,
}

/// The mailboxes every new account gets beside INBOX (at its first login
/// or delivery), created subscribed and with their RFC 6154 special-use
/// attribute, so that a client saving a draft or a sent message finds its
/// folder. An empty name leaves that one out.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DefaultMailboxes {
    /// `\Drafts`.
    #[serde(default = "default_drafts")]
    pub drafts: String,
    /// `\Sent`.
    #[serde(default = "default_sent")]
    pub sent: String,
    /// `\Trash`.
    #[serde(default = "default_trash")]
    pub trash: String,
    /// `\Junk`.
    #[serde(default = "default_junk")]
    pub junk: String,
    /// `\Archive`.
    #[serde(default = "default_archive")]
    pub archive: String,
}

impl DefaultMailboxes {
    /// No mailbox but INBOX.
    pub fn none() -> Self {
        Self {
            drafts: String::new(),
            sent: String::new(),
            trash: String::new(),
            junk: String::new(),
            archive: String::new(),
        }
    }

    /// (name, special-use) of each mailbox to create.
    pub fn mailboxes(&self) -> Vec<(&str, SpecialUse)> {
        [
            (self.drafts.as_str(), SpecialUse::Drafts),
            (self.sent.as_str(), SpecialUse::Sent),
            (self.trash.as_str(), SpecialUse::Trash),
            (self.junk.as_str(), SpecialUse::Junk),
            (self.archive.as_str(), SpecialUse::Archive),
        ]
        .into_iter()
        .filter(|(name, _)| !name.is_empty())
        .collect()
    }
}

impl Default for DefaultMailboxes {
    fn default() -> Self {
        Self {
            drafts: default_drafts(),
            sent: default_sent(),
            trash: default_trash(),
            junk: default_junk(),
            archive: default_archive(),
        }
    }
}

fn default_drafts() -> String {
    "Drafts".into()
}
fn default_sent() -> String {
    "Sent".into()
}
fn default_trash() -> String {
    "Trash".into()
}
fn default_junk() -> String {
    "Junk".into()
}
fn default_archive() -> String {
    "Archive".into()
}

/// Quota policy (RFC 9208 semantics, limits passed per call).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaConfig {
    /// When false, usage is still counted and warnings reported, but nothing is refused.
    #[serde(default = "yes")]
    pub enforce: bool,
    /// Percentage of a limit at which the caller is told, once per crossing, to warn the user.
    #[serde(default = "default_warn_percent")]
    pub warn_percent: u8,
    /// How long over-quota deliveries are refused temporarily before they bounce.
    #[serde(default = "default_grace", with = "humantime_serde")]
    pub grace_period: Duration,
}

/// Group commit: a committer thread gathers concurrent writes into one
/// batch, so N deliveries cost one WAL sync and one fsync per directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupCommitConfig {
    /// How long the committer waits for more writes after the first one.
    #[serde(default = "default_window", with = "humantime_serde")]
    pub window: Duration,
    /// Most writes in one batch; 1 disables grouping (for benchmarks).
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
}

fn yes() -> bool {
    true
}
fn default_partition() -> String {
    "primary".into()
}
fn default_block_cache() -> u64 {
    64 << 20
}
fn default_hash_threshold() -> u32 {
    1000
}
fn default_warn_percent() -> u8 {
    90
}
fn default_grace() -> Duration {
    Duration::from_secs(2 * 24 * 3600)
}
fn default_window() -> Duration {
    Duration::from_micros(300)
}
fn default_max_batch() -> usize {
    256
}
fn default_redelivery_window() -> Duration {
    Duration::from_secs(24 * 3600)
}
fn default_cached_headers() -> Vec<String> {
    [
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "in-reply-to",
        "references",
        "list-id",
        "content-type",
        "priority",
        "x-priority",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

impl Default for QuotaConfig {
    fn default() -> Self {
        Self {
            enforce: true,
            warn_percent: default_warn_percent(),
            grace_period: default_grace(),
        }
    }
}

impl Default for GroupCommitConfig {
    fn default() -> Self {
        Self {
            window: default_window(),
            max_batch: default_max_batch(),
        }
    }
}

impl StoreConfig {
    /// A single-partition configuration under `root` (`root/system`,
    /// `root/primary`): what `mailctl up` and tests use.
    pub fn single(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        Self {
            partitions: BTreeMap::from([("primary".to_string(), root.join("primary"))]),
            default_partition: default_partition(),
            system_path: root.join("system"),
            block_cache_size: default_block_cache(),
            hash_threshold: default_hash_threshold(),
            quota: QuotaConfig::default(),
            group_commit: GroupCommitConfig::default(),
            cached_headers: default_cached_headers(),
            redelivery_window: default_redelivery_window(),
            default_mailboxes: DefaultMailboxes::default(),
        }
    }
}

impl Validate for StoreConfig {
    fn validate(&self, v: &mut Validator) {
        if self.partitions.is_empty() {
            v.error("partitions", "at least one partition is required");
        }
        if !self.partitions.contains_key(&self.default_partition) {
            v.error(
                "default_partition",
                format!("{:?} is not one of the partitions", self.default_partition),
            );
        }
        let mut seen = BTreeMap::new();
        for (name, path) in &self.partitions {
            let key = format!("partitions.{name}");
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                v.error(&key, "partition names use letters, digits, '_' and '-'");
            }
            if path.as_os_str().is_empty() {
                v.error(&key, "path is empty");
            }
            if let Some(other) = seen.insert(path.clone(), name.clone()) {
                v.error(&key, format!("same path as partition {other:?}"));
            }
            if path == &self.system_path {
                v.error(&key, "same path as system_path");
            }
        }
        if self.system_path.as_os_str().is_empty() {
            v.error("system_path", "path is empty");
        }
        if self.block_cache_size < (1 << 20) {
            v.error("block_cache_size", "must be at least 1 MiB (1048576)");
        }
        if self.hash_threshold == 0 {
            v.error("hash_threshold", "must be at least 1");
        }
        v.section("quota", |v| {
            if !(1..=100).contains(&self.quota.warn_percent) {
                v.error("warn_percent", "must be between 1 and 100");
            }
        });
        v.section("group_commit", |v| {
            if self.group_commit.max_batch == 0 {
                v.error("max_batch", "must be at least 1");
            }
            if self.group_commit.window > Duration::from_millis(100) {
                v.error("window", "more than 100ms would make every delivery slow");
            }
        });
        v.section("default_mailboxes", |v| {
            let mut seen = std::collections::BTreeSet::new();
            for (name, su) in self.default_mailboxes.mailboxes() {
                let key = su.attribute().trim_start_matches('\\').to_ascii_lowercase();
                match crate::mailbox::normalize_name(name) {
                    Ok(n) if n == "INBOX" || n.starts_with("INBOX/") => {
                        v.error(&key, "must not be INBOX or below it")
                    }
                    Ok(n) if !seen.insert(n.clone()) => {
                        v.error(&key, format!("{n:?} is named twice"))
                    }
                    Ok(_) => {}
                    Err(_) => v.error(&key, format!("{name:?} is not a valid mailbox name")),
                }
            }
        });
        for (i, h) in self.cached_headers.iter().enumerate() {
            if h.is_empty() || !h.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
                v.error(&format!("cached_headers[{i}]"), "not a header field name");
            }
        }
    }
}
