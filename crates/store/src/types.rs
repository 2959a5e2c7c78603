//! Plain data types of the store API: flags, UID sets, special-use, rows.

use std::collections::BTreeSet;
use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use crate::acl::Rights;
use crate::cache::CachedMessage;

/// The IMAP `\Seen` flag, kept per user in shared mailboxes (RFC 4314 5.2).
pub const SEEN: &str = "\\Seen";
/// The IMAP `\Deleted` flag, which EXPUNGE acts on.
pub const DELETED: &str = "\\Deleted";

const SYSTEM_FLAGS: [&str; 5] = ["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"];

/// A message's flags: system flags in their canonical spelling plus keywords.
///
/// `\Recent` is not a stored flag: [`crate::MailboxStatus::recent`] derives it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Flags(BTreeSet<String>);

impl Flags {
    /// No flags.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one flag (canonicalising `\seen` to `\Seen`; `\Recent` is
    /// ignored; a keyword already there in another case is not added twice).
    pub fn insert(&mut self, flag: &str) {
        if flag.eq_ignore_ascii_case("\\Recent") || flag.is_empty() {
            return;
        }
        let canon = SYSTEM_FLAGS
            .iter()
            .find(|s| s.eq_ignore_ascii_case(flag))
            .map_or_else(|| flag.to_string(), |s| s.to_string());
        // Keywords are case-insensitive (RFC 3501 2.3.2): `$label1` set on
        // a message that has `$Label1` is the same keyword, kept once.
        if self.contains(&canon) {
            return;
        }
        self.0.insert(canon);
    }

    /// Removes one flag.
    pub fn remove(&mut self, flag: &str) {
        self.0.retain(|f| !f.eq_ignore_ascii_case(flag));
    }

    /// True if the flag is set.
    pub fn contains(&self, flag: &str) -> bool {
        self.0.iter().any(|f| f.eq_ignore_ascii_case(flag))
    }

    /// The flags in a stable order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Number of flags.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no flag is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Builds a set from client spellings; system flags are matched without case.
impl<S: AsRef<str>> FromIterator<S> for Flags {
    fn from_iter<I: IntoIterator<Item = S>>(it: I) -> Self {
        let mut f = Self::new();
        for s in it {
            f.insert(s.as_ref());
        }
        f
    }
}

/// How STORE changes flags (RFC 3501 6.4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    /// `+FLAGS`
    Add,
    /// `-FLAGS`
    Remove,
    /// `FLAGS`
    Replace,
}

/// A set of UIDs as inclusive ranges (`1:5,9,12:*` with `*` as `u32::MAX`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UidSet(Vec<RangeInclusive<u32>>);

impl UidSet {
    /// Every UID.
    pub fn all() -> Self {
        Self(vec![1..=u32::MAX])
    }
    /// One UID.
    pub fn single(uid: u32) -> Self {
        Self(vec![uid..=uid])
    }
    /// An inclusive range.
    pub fn range(from: u32, to: u32) -> Self {
        Self(vec![from.min(to)..=from.max(to)])
    }
    /// Exactly these UIDs.
    pub fn list(uids: &[u32]) -> Self {
        Self(uids.iter().map(|u| *u..=*u).collect())
    }
    /// Adds a range.
    pub fn push(&mut self, from: u32, to: u32) {
        self.0.push(from.min(to)..=from.max(to));
    }
    /// True if `uid` is in the set.
    pub fn contains(&self, uid: u32) -> bool {
        self.0.iter().any(|r| r.contains(&uid))
    }
    /// The ranges, merged and sorted, for range scans.
    pub(crate) fn ranges(&self) -> Vec<RangeInclusive<u32>> {
        let mut v = self.0.clone();
        v.sort_by_key(|r| *r.start());
        let mut out: Vec<RangeInclusive<u32>> = Vec::new();
        for r in v {
            match out.last_mut() {
                Some(last) if *r.start() <= last.end().saturating_add(1) => {
                    let end = (*last.end()).max(*r.end());
                    *last = *last.start()..=end;
                }
                _ => out.push(r),
            }
        }
        out
    }
}

/// RFC 6154 special-use attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SpecialUse {
    /// `\All`
    All,
    /// `\Archive`
    Archive,
    /// `\Drafts`
    Drafts,
    /// `\Flagged`
    Flagged,
    /// `\Junk`
    Junk,
    /// `\Sent`
    Sent,
    /// `\Trash`
    Trash,
}

impl SpecialUse {
    /// The IMAP attribute, e.g. `\Sent`.
    pub fn attribute(self) -> &'static str {
        match self {
            SpecialUse::All => "\\All",
            SpecialUse::Archive => "\\Archive",
            SpecialUse::Drafts => "\\Drafts",
            SpecialUse::Flagged => "\\Flagged",
            SpecialUse::Junk => "\\Junk",
            SpecialUse::Sent => "\\Sent",
            SpecialUse::Trash => "\\Trash",
        }
    }
}

/// A mailbox as seen by one user: owner plus name in the owner's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailboxPath {
    /// The user whose tree holds the mailbox.
    pub owner: String,
    /// Hierarchical name with `/` as delimiter, e.g. `INBOX` or `Work/2025`.
    pub name: String,
}

impl MailboxPath {
    /// Builds a path.
    pub fn new(owner: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            owner: owner.into(),
            name: name.into(),
        }
    }
    /// The owner's INBOX.
    pub fn inbox(owner: impl Into<String>) -> Self {
        Self::new(owner, "INBOX")
    }
}

/// An open mailbox for one acting user: what every message operation takes.
///
/// Rights are captured when the handle is made; the store checks them on
/// every call, so a handle is cheap and needs no closing.
#[derive(Debug, Clone)]
pub struct MailboxHandle {
    /// Internal mailbox id (stable across renames).
    pub id: u64,
    /// Owner and name.
    pub path: MailboxPath,
    /// The acting user.
    pub user: String,
    /// The acting user's rights on this mailbox.
    pub rights: Rights,
    /// UIDVALIDITY when opened.
    pub uidvalidity: u32,
}

impl MailboxHandle {
    /// True when the acting user owns the mailbox (and so keeps `\Seen` in the shared row).
    pub fn is_owner(&self) -> bool {
        self.user == self.path.owner
    }
}

/// One row of a mailbox index, as the acting user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// The message UID.
    pub uid: u32,
    /// Size in octets (RFC822.SIZE).
    pub size: u64,
    /// INTERNALDATE, Unix seconds.
    pub internal_date: i64,
    /// Flags, with this user's own `\Seen`.
    pub flags: Flags,
    /// MODSEQ of the last change (RFC 7162).
    pub modseq: u64,
}

/// A row plus its cache entry.
#[derive(Debug, Clone)]
pub struct CachedEntry {
    /// The index row.
    pub entry: IndexEntry,
    /// Envelope, body structure and chosen headers.
    pub cache: CachedMessage,
}

/// STATUS items (RFC 3501 6.3.10, RFC 7162 HIGHESTMODSEQ, RFC 8438 SIZE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxStatus {
    /// Number of messages.
    pub messages: u32,
    /// Messages with UIDs at or above the last claimed recent mark.
    pub recent: u32,
    /// Messages without this user's `\Seen`.
    pub unseen: u32,
    /// Next UID.
    pub uidnext: u32,
    /// UIDVALIDITY.
    pub uidvalidity: u32,
    /// Sum of message sizes.
    pub size: u64,
    /// HIGHESTMODSEQ.
    pub highestmodseq: u64,
}

/// One mailbox in a LIST answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxInfo {
    /// Owner and name.
    pub path: MailboxPath,
    /// Internal id.
    pub id: u64,
    /// RFC 6154 attribute.
    pub special_use: Option<SpecialUse>,
    /// True if the acting user subscribed to it.
    pub subscribed: bool,
    /// True if some mailbox is below it.
    pub has_children: bool,
    /// UIDVALIDITY.
    pub uidvalidity: u32,
}

/// What a change-notification subscriber learns (IDLE, NOTIFY).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxEvent {
    /// A message arrived (delivery, append, copy).
    Appended {
        /// Its UID.
        uid: u32,
        /// The mailbox MODSEQ after the change.
        modseq: u64,
    },
    /// Messages were expunged.
    Expunged {
        /// Their UIDs.
        uids: Vec<u32>,
        /// The mailbox MODSEQ after the change.
        modseq: u64,
    },
    /// Flags changed (for `user`, when it was a private `\Seen` change).
    FlagsChanged {
        /// The UIDs.
        uids: Vec<u32>,
        /// The MODSEQ of the change.
        modseq: u64,
        /// Set when only this user's view changed.
        user: Option<String>,
    },
    /// The mailbox was deleted or renamed; sessions should close it.
    Gone,
}
