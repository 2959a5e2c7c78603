//! `[spool]` configuration.

use std::path::PathBuf;
use std::time::Duration;

use mail_core::{Validate, Validator};
use serde::{Deserialize, Serialize};

/// `[spool]` settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SpoolConfig {
    /// The spool directory (created if missing). Keep it on a local file
    /// system with working fsync.
    pub dir: PathBuf,
    /// How long the committer waits for more requests before syncing a
    /// batch. Zero (the default) syncs as soon as the previous batch is
    /// done, which already groups concurrent sessions.
    #[serde(default, with = "humantime_serde")]
    pub commit_window: Duration,
    /// Most requests synced in one batch.
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
}

fn default_max_batch() -> usize {
    256
}

impl SpoolConfig {
    /// Defaults for `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            commit_window: Duration::ZERO,
            max_batch: default_max_batch(),
        }
    }
}

impl Validate for SpoolConfig {
    fn validate(&self, v: &mut Validator) {
        if self.dir.as_os_str().is_empty() {
            v.error("dir", "must be set");
        }
        if self.max_batch == 0 {
            v.error("max_batch", "must be at least 1");
        }
        if self.commit_window > Duration::from_secs(1) {
            v.error("commit_window", "must be at most 1s");
        }
    }
}
