//! Rows of the system area (see [`crate::db`] for the keys).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::acl::Rights;
use crate::types::{Flags, SpecialUse};

/// Which partition holds a user's tree; fixed at the user's first use.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct UserRecord {
    pub partition: String,
}

/// The mailbox list entry plus the counters STATUS needs without a scan.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct MailboxRecord {
    pub id: u64,
    pub owner: String,
    pub name: String,
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub highestmodseq: u64,
    /// Message count.
    pub exists: u32,
    /// Messages carrying the owner's `\Seen`.
    pub seen: u32,
    /// Sum of sizes.
    pub bytes: u64,
    /// UIDs at or above this are `\Recent`.
    pub recent_uid: u32,
    /// New message files go to hash subdirectories once set.
    pub hashed: bool,
    pub special_use: Option<SpecialUse>,
    /// RFC 4314 ACL: identifier -> rights (the owner is implicit).
    pub acl: BTreeMap<String, Rights>,
}

/// One message of a mailbox.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct IndexRecord {
    /// File name relative to the folder directory.
    pub file: String,
    pub size: u64,
    pub internal_date: i64,
    pub flags: Flags,
    pub modseq: u64,
}

/// Quota usage and the state machine of warnings and grace.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct QuotaRecord {
    pub bytes: u64,
    pub messages: u64,
    /// A warning was reported and usage has not dropped below the threshold since.
    pub warned: bool,
    /// First refusal of the current over-quota episode (Unix ms).
    pub over_since: Option<i64>,
    /// Last limits the caller passed, so expunges can re-arm the warning.
    pub limit_bytes: Option<u64>,
    pub limit_messages: Option<u64>,
}

/// UIDs handed out but perhaps not committed; checked on open.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct Reservation {
    pub from: u32,
    pub to: u32,
}

/// A file or tree to remove once its rows are gone.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PendingUnlink {
    pub path: std::path::PathBuf,
    pub tree: bool,
}

/// What each folder keeps in the user area (`.meta`), so that
/// `reconstruct` gets back what the files alone cannot tell.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct FolderMeta {
    pub uidvalidity: u32,
    #[serde(default)]
    pub special_use: Option<SpecialUse>,
    #[serde(default)]
    pub acl: BTreeMap<String, Rights>,
}
