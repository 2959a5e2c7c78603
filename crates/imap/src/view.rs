//! A session's view of its selected mailbox: the sequence-number map
//! (message n is `uids[n-1]`), each message's last MODSEQ as this session
//! reported it, the keywords it announced in FLAGS, the UIDs whose
//! `\Recent` it holds, and the store's change channel.
//!
//! Other sessions' changes reach the view as [`MailboxEvent`]s; the view
//! treats them as "something changed" and compares itself with the
//! store's index ([`View::sync`]), which also covers events it lagged
//! behind on. Expunges are held back while a command that uses sequence
//! numbers runs (RFC 3501 7.4.1) and reported at the next allowed point.

use std::collections::BTreeMap;
use std::ops::Range;

use mail_imap_proto::SequenceSet;
use mail_imap_proto::response::{Code, FetchResponse, Status, StatusKind, flag_list, vanished};
use mail_store::{IndexEntry, MailboxEvent, MailboxHandle, Store, StoreError, UidSet};
use tokio::sync::broadcast;

/// The system flags every mailbox offers (RFC 3501 2.3.2), in FLAGS order.
pub(crate) const SYSTEM_FLAGS: [&str; 5] =
    ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"];

/// The selected mailbox as this session knows it.
pub(crate) struct View {
    pub(crate) handle: MailboxHandle,
    pub(crate) read_only: bool,
    /// UIDs by sequence number, ascending.
    pub(crate) uids: Vec<u32>,
    /// MODSEQ per message as last reported, parallel to `uids`.
    pub(crate) modseqs: Vec<u64>,
    /// UID ranges whose `\Recent` this session holds (RFC 3501 2.3.2):
    /// claimed from the store by a read-write session, so no other session
    /// sees them as recent; peeked at by a read-only one.
    pub(crate) recent: Vec<Range<u32>>,
    /// Keywords announced in the last untagged FLAGS, by lower-case name
    /// (keywords are case-insensitive): a response may use no other.
    pub(crate) keywords: BTreeMap<String, String>,
    pub(crate) watch: broadcast::Receiver<MailboxEvent>,
    /// The store changed since the last full comparison.
    pub(crate) dirty: bool,
    /// The mailbox was deleted or renamed under us.
    pub(crate) gone: bool,
}

/// How to report what changed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SyncMode {
    pub(crate) allow_expunge: bool,
    pub(crate) condstore: bool,
    pub(crate) qresync: bool,
    pub(crate) utf8: bool,
}

impl View {
    pub(crate) fn new(
        handle: MailboxHandle,
        read_only: bool,
        watch: broadcast::Receiver<MailboxEvent>,
    ) -> Self {
        Self {
            handle,
            read_only,
            uids: Vec::new(),
            modseqs: Vec::new(),
            recent: Vec::new(),
            keywords: BTreeMap::new(),
            watch,
            dirty: false,
            gone: false,
        }
    }

    pub(crate) fn load(&mut self, rows: &[IndexEntry]) {
        self.uids = rows.iter().map(|r| r.uid).collect();
        self.modseqs = rows.iter().map(|r| r.modseq).collect();
    }

    pub(crate) fn exists(&self) -> u32 {
        self.uids.len() as u32
    }

    pub(crate) fn seq_of(&self, uid: u32) -> Option<u32> {
        self.uids.binary_search(&uid).ok().map(|i| i as u32 + 1)
    }

    pub(crate) fn recent(&self) -> u32 {
        self.uids.iter().filter(|&&u| self.is_recent(u)).count() as u32
    }

    /// Records UIDs whose `\Recent` this session now holds.
    pub(crate) fn add_recent(&mut self, range: Range<u32>) {
        if range.is_empty() {
            return;
        }
        // Ranges wholly below the first message can hold no message again.
        let first = self.uids.first().copied().unwrap_or(0);
        self.recent.retain(|r| r.end > first);
        match self.recent.last_mut() {
            Some(last) if last.end >= range.start && last.start <= range.end => {
                last.start = last.start.min(range.start);
                last.end = last.end.max(range.end);
            }
            _ => self.recent.push(range),
        }
    }

    /// The untagged FLAGS and PERMANENTFLAGS for the keywords known now
    /// (RFC 3501 7.2.6, 7.1): system flags plus keywords, and `\*` (new
    /// keywords allowed) unless the mailbox is read-only.
    pub(crate) fn flags_lines(&self) -> Vec<u8> {
        let mut flags: Vec<&str> = SYSTEM_FLAGS.to_vec();
        flags.extend(self.keywords.values().map(String::as_str));
        let mut out = format!("* FLAGS {}\r\n", flag_list(&flags)).into_bytes();
        let permanent = if self.read_only {
            Vec::new()
        } else {
            flags.push("\\*");
            flags
        };
        out.extend_from_slice(
            &Status::untagged(
                StatusKind::Ok,
                Some(Code::PermanentFlags(
                    permanent.iter().map(|f| f.to_string()).collect(),
                )),
                "Flags permitted",
            )
            .to_bytes(),
        );
        out
    }

    /// Adds keywords without announcing them (SELECT announces them all).
    pub(crate) fn learn<'a>(&mut self, flags: impl IntoIterator<Item = &'a str>) -> bool {
        let mut new = false;
        for f in flags {
            if f.starts_with('\\') {
                continue;
            }
            if let std::collections::btree_map::Entry::Vacant(e) =
                self.keywords.entry(f.to_ascii_lowercase())
            {
                e.insert(f.to_string());
                new = true;
            }
        }
        new
    }

    /// Makes sure the client knows every keyword in `flags` before a
    /// response uses one: a keyword new to the mailbox, set by this session
    /// or another, first goes out in a new untagged FLAGS and PERMANENTFLAGS
    /// (RFC 3501 7.2.6, RFC 9051 7.3.5).
    pub(crate) fn announce<'a>(
        &mut self,
        flags: impl IntoIterator<Item = &'a str>,
        out: &mut Vec<u8>,
    ) {
        if self.learn(flags) {
            out.extend_from_slice(&self.flags_lines());
        }
    }

    /// UIDs a set names. Sequence numbers must exist (`Err` otherwise,
    /// which the caller answers with BAD); UIDs that do not exist are
    /// simply not matched (RFC 3501 6.4.8).
    pub(crate) fn resolve(
        &self,
        set: &SequenceSet,
        uid: bool,
        saved: &[u32],
    ) -> Result<Vec<u32>, &'static str> {
        if matches!(set, SequenceSet::Saved) {
            return Ok(saved
                .iter()
                .copied()
                .filter(|u| self.seq_of(*u).is_some())
                .collect());
        }
        let mut out = Vec::new();
        if uid {
            let largest = self.uids.last().copied().unwrap_or(0);
            for (lo, hi) in set.ranges(largest) {
                let start = self.uids.partition_point(|&u| u < lo);
                let end = self.uids.partition_point(|&u| u <= hi);
                out.extend_from_slice(&self.uids[start..end.max(start)]);
            }
        } else {
            let exists = self.exists();
            if exists == 0 {
                return Err("No messages in the mailbox, so no sequence numbers are valid");
            }
            for (lo, hi) in set.ranges(exists) {
                if lo == 0 || hi > exists {
                    return Err("Invalid message sequence number");
                }
                out.extend_from_slice(&self.uids[lo as usize - 1..hi as usize]);
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// Drains the change channel; true when something happened that the
    /// view does not show yet.
    fn drain(&mut self) -> bool {
        loop {
            match self.watch.try_recv() {
                Ok(MailboxEvent::Gone) => {
                    self.gone = true;
                    self.dirty = true;
                }
                Ok(ev) => {
                    if !self.shows(&ev) {
                        self.dirty = true;
                    }
                }
                Err(broadcast::error::TryRecvError::Lagged(_)) => self.dirty = true,
                Err(broadcast::error::TryRecvError::Empty) => return self.dirty,
                Err(broadcast::error::TryRecvError::Closed) => return self.dirty,
            }
        }
    }

    /// True when the view already holds what `ev` reports: the session's
    /// own STORE, FETCH \Seen and EXPUNGE update the view as they answer,
    /// and their events then need no comparison with the whole index.
    /// Anything else (another session's change, a UID the view does not
    /// know, a MODSEQ beyond the one reported) marks the view dirty.
    fn shows(&self, ev: &MailboxEvent) -> bool {
        match ev {
            MailboxEvent::FlagsChanged { uids, modseq, .. } => uids.iter().all(|&u| {
                self.uids
                    .binary_search(&u)
                    .is_ok_and(|i| self.modseqs[i] >= *modseq)
            }),
            MailboxEvent::Expunged { uids, .. } => uids.iter().all(|&u| self.seq_of(u).is_none()),
            MailboxEvent::Appended { uid, .. } => self.seq_of(*uid).is_some(),
            MailboxEvent::Gone => false,
        }
    }

    /// Brings the view up to date with the store, appending the untagged
    /// responses (EXPUNGE/VANISHED, EXISTS, RECENT, FETCH) to `out`.
    pub(crate) async fn sync(
        &mut self,
        store: &Store,
        mode: SyncMode,
        out: &mut Vec<u8>,
    ) -> Result<(), StoreError> {
        if !self.drain() || self.gone {
            return Ok(());
        }
        let handle = self.handle.clone();
        let last = self.uids.last().copied().unwrap_or(0);
        let read_only = self.read_only;
        let (rows, recent) = store
            .run(move |s| {
                let rows = s.fetch_index(&handle, &UidSet::all(), None)?;
                // RFC 3501 2.3.2: new messages are recent in the first
                // session told of them, and in that one alone.
                let recent = match rows.last().map(|r| r.uid) {
                    Some(newest) if newest > last && read_only => {
                        s.recent_mark(&handle)?..newest + 1
                    }
                    Some(newest) if newest > last => s.claim_recent(&handle, Some(newest + 1))?,
                    _ => 0..0,
                };
                Ok((rows, recent))
            })
            .await?;
        self.add_recent(recent);
        self.announce(rows.iter().flat_map(|r| r.flags.iter()), out);
        let live: std::collections::HashSet<u32> = rows.iter().map(|r| r.uid).collect();
        let gone: Vec<u32> = self
            .uids
            .iter()
            .copied()
            .filter(|u| !live.contains(u))
            .collect();
        let held_back = !gone.is_empty() && !mode.allow_expunge;
        let expunged_any = !gone.is_empty() && mode.allow_expunge;
        if expunged_any {
            self.remove(&gone, mode, out);
        }
        let old_exists = self.exists();
        for row in &rows {
            match self.uids.binary_search(&row.uid) {
                Ok(i) => {
                    if self.modseqs[i] != row.modseq {
                        self.modseqs[i] = row.modseq;
                        let mut f = FetchResponse::new(i as u32 + 1, mode.utf8);
                        f.uid(row.uid);
                        let flags = flag_names(row, self.is_recent(row.uid));
                        f.flags(&flags);
                        if mode.condstore {
                            f.modseq(row.modseq);
                        }
                        out.extend_from_slice(&f.finish());
                    }
                }
                Err(_) if self.uids.last().is_none_or(|&l| row.uid > l) => {
                    self.uids.push(row.uid);
                    self.modseqs.push(row.modseq);
                }
                Err(_) => {}
            }
        }
        if self.exists() != old_exists {
            out.extend_from_slice(format!("* {} EXISTS\r\n", self.exists()).as_bytes());
            if !mode.qresync {
                out.extend_from_slice(format!("* {} RECENT\r\n", self.recent()).as_bytes());
            }
        }
        self.dirty = held_back;
        Ok(())
    }

    /// Removes expunged messages from the view, reporting them.
    pub(crate) fn remove(&mut self, uids: &[u32], mode: SyncMode, out: &mut Vec<u8>) {
        let mut seqs: Vec<(u32, u32)> = uids
            .iter()
            .filter_map(|&u| self.seq_of(u).map(|s| (s, u)))
            .collect();
        if seqs.is_empty() {
            return;
        }
        seqs.sort_unstable();
        if mode.qresync {
            let set = SequenceSet::from_numbers(seqs.iter().map(|(_, u)| *u));
            out.extend_from_slice(&vanished(false, &set.to_string()));
        }
        // Highest first, so each number is still valid when sent.
        for &(seq, _) in seqs.iter().rev() {
            self.uids.remove(seq as usize - 1);
            self.modseqs.remove(seq as usize - 1);
            if !mode.qresync {
                out.extend_from_slice(format!("* {seq} EXPUNGE\r\n").as_bytes());
            }
        }
    }

    pub(crate) fn is_recent(&self, uid: u32) -> bool {
        self.recent.iter().any(|r| r.contains(&uid))
    }

    /// Records a MODSEQ this session has just reported itself.
    pub(crate) fn set_modseq(&mut self, uid: u32, modseq: u64) {
        if let Ok(i) = self.uids.binary_search(&uid) {
            self.modseqs[i] = modseq;
        }
    }
}

/// A message's flags for the wire, with `\Recent` for this session.
pub(crate) fn flag_names(row: &IndexEntry, recent: bool) -> Vec<String> {
    let mut v: Vec<String> = row.flags.iter().map(str::to_owned).collect();
    if recent {
        v.push("\\Recent".into());
    }
    v
}
