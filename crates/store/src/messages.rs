//! Message operations for IMAP and POP sessions: fetch index rows and
//! cache entries, read message files, STORE flags (CONDSTORE), EXPUNGE,
//! COPY/MOVE, STATUS and header search. Nothing here opens a message file
//! except [`Store::read_message`] and cross-partition copies.

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::PathBuf;

use crate::cache::CachedMessage;
use crate::db::{Cf, Op, decode, key};
use crate::deliver::Source;
use crate::engine::{Store, lock};
use crate::error::{Result, StoreError};
use crate::fsutil;
use crate::layout;
use crate::quota::{QuotaLimits, rearm_warning};
use crate::records::{IndexRecord, MailboxRecord, PendingUnlink};
use crate::types::{
    CachedEntry, DELETED, FlagOp, Flags, IndexEntry, MailboxEvent, MailboxHandle, MailboxStatus,
    SEEN, UidSet,
};

/// Result of a STORE.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreResult {
    /// Rows changed, as the acting user now sees them.
    pub updated: Vec<IndexEntry>,
    /// UIDs skipped because their MODSEQ exceeded UNCHANGEDSINCE (RFC 7162 MODIFIED).
    pub modified: Vec<u32>,
}

fn row_bounds(id: u64, from: u32, to: u32) -> (Vec<u8>, Vec<u8>) {
    let end = if to == u32::MAX {
        key::rows_end(id)
    } else {
        key::row(id, to + 1)
    };
    (key::row(id, from), end)
}

impl Store {
    fn rows(&self, id: u64, uids: &UidSet) -> Result<Vec<(u32, IndexRecord)>> {
        let bounds: Vec<_> = uids
            .ranges()
            .iter()
            .map(|r| row_bounds(id, *r.start(), *r.end()))
            .collect();
        let mut out = Vec::new();
        for (k, v) in self.inner.db.ranges(Cf::Index, &bounds)? {
            out.push((key::uid_suffix(&k), decode(&k, &v)?));
        }
        Ok(out)
    }

    fn seen_set(&self, mailbox: &MailboxHandle) -> Result<Option<BTreeSet<u32>>> {
        if mailbox.is_owner() {
            return Ok(None);
        }
        let rows = self
            .inner
            .db
            .scan(Cf::Seen, &key::seen_of(mailbox.id, &mailbox.user))?;
        Ok(Some(rows.iter().map(|(k, _)| key::uid_suffix(k)).collect()))
    }

    fn view(uid: u32, row: &IndexRecord, seen: &Option<BTreeSet<u32>>) -> IndexEntry {
        let mut flags = row.flags.clone();
        if let Some(s) = seen {
            flags.remove(SEEN);
            if s.contains(&uid) {
                flags.insert(SEEN);
            }
        }
        IndexEntry {
            uid,
            size: row.size,
            internal_date: row.internal_date,
            flags,
            modseq: row.modseq,
        }
    }

    /// Index rows for `uids` (optionally only those changed after
    /// `changed_since`, RFC 7162 CHANGEDSINCE), with the user's own `\Seen`.
    pub fn fetch_index(
        &self,
        mailbox: &MailboxHandle,
        uids: &UidSet,
        changed_since: Option<u64>,
    ) -> Result<Vec<IndexEntry>> {
        self.require(mailbox, 'r')?;
        let seen = self.seen_set(mailbox)?;
        Ok(self
            .rows(mailbox.id, uids)?
            .into_iter()
            .filter(|(_, r)| changed_since.is_none_or(|m| r.modseq > m))
            .map(|(uid, r)| Self::view(uid, &r, &seen))
            .collect())
    }

    /// Index rows plus cached envelope, body structure and headers.
    pub fn fetch_cached(&self, mailbox: &MailboxHandle, uids: &UidSet) -> Result<Vec<CachedEntry>> {
        let entries = self.fetch_index(mailbox, uids, None)?;
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            let k = key::row(mailbox.id, entry.uid);
            let cache: CachedMessage = self.inner.db.get_json(Cf::Cache, &k)?.unwrap_or_default();
            out.push(CachedEntry { entry, cache });
        }
        Ok(out)
    }

    /// UIDs whose cached header `field` contains `needle` (ASCII case-insensitive).
    pub fn search_header(
        &self,
        mailbox: &MailboxHandle,
        field: &str,
        needle: &str,
    ) -> Result<Vec<u32>> {
        self.require(mailbox, 'r')?;
        let needle = needle.to_ascii_lowercase();
        let (a, b) = row_bounds(mailbox.id, 1, u32::MAX);
        let mut out = Vec::new();
        for (k, v) in self.inner.db.range(Cf::Cache, &a, &b)? {
            let c: CachedMessage = decode(&k, &v)?;
            if c.headers.iter().any(|(n, val)| {
                n.eq_ignore_ascii_case(field) && val.to_ascii_lowercase().contains(&needle)
            }) {
                out.push(key::uid_suffix(&k));
            }
        }
        Ok(out)
    }

    fn record_of(&self, id: u64) -> Result<MailboxRecord> {
        let st = self.state(id)?;
        let rec = lock(&st).rec.clone();
        Ok(rec)
    }

    /// Path of a message file, for streaming large bodies.
    pub fn message_path(&self, mailbox: &MailboxHandle, uid: u32) -> Result<PathBuf> {
        self.require(mailbox, 'r')?;
        let row: IndexRecord = self
            .inner
            .db
            .get_json(Cf::Index, &key::row(mailbox.id, uid))?
            .ok_or(StoreError::NoSuchMessage(uid))?;
        Ok(self
            .folder_dir(&self.record_of(mailbox.id)?)?
            .join(row.file))
    }

    /// The exact bytes that were delivered.
    pub fn read_message(&self, mailbox: &MailboxHandle, uid: u32) -> Result<Vec<u8>> {
        let p = self.message_path(mailbox, uid)?;
        std::fs::read(&p).map_err(|e| StoreError::io(p, e))
    }

    /// STATUS, from committed rows and counters.
    pub fn status(&self, mailbox: &MailboxHandle) -> Result<MailboxStatus> {
        self.require(mailbox, 'r')?;
        let rec: MailboxRecord = self
            .inner
            .db
            .get_json(Cf::Meta, &key::mailbox(mailbox.id))?
            .ok_or_else(|| StoreError::MailboxNotFound {
                owner: mailbox.path.owner.clone(),
                name: mailbox.path.name.clone(),
            })?;
        let seen = match self.seen_set(mailbox)? {
            Some(s) => s.len() as u32,
            None => rec.seen,
        };
        let (a, b) = row_bounds(mailbox.id, rec.recent_uid.max(1), u32::MAX);
        let recent = self.inner.db.range(Cf::Index, &a, &b)?.len() as u32;
        Ok(MailboxStatus {
            messages: rec.exists,
            recent,
            unseen: rec.exists.saturating_sub(seen),
            uidnext: rec.uidnext,
            uidvalidity: rec.uidvalidity,
            size: rec.bytes,
            highestmodseq: rec.highestmodseq,
        })
    }

    /// Claims `\Recent` for one read-write session (RFC 3501 2.3.2): the
    /// UIDs from the mailbox's recent mark up to `upto` (exclusive; the
    /// next UID when `None`, as SELECT wants) become recent for the caller
    /// alone, and the mark moves past them so no later session, and no
    /// STATUS, counts them again. Returns the claimed range, empty when
    /// another session was first. UIDs handed out but not committed yet
    /// fall in the range too: the claimer reports them recent on arrival.
    pub fn claim_recent(&self, mailbox: &MailboxHandle, upto: Option<u32>) -> Result<Range<u32>> {
        self.require(mailbox, 'r')?;
        let st = self.state(mailbox.id)?;
        let mut g = lock(&st);
        let first = g.rec.recent_uid;
        let to = upto.map_or(g.rec.uidnext, |u| u.min(g.rec.uidnext));
        if to <= first {
            // Nothing arrived since the last claim: no record to rewrite,
            // so no WAL sync.
            return Ok(first..first);
        }
        let mut rec = g.rec.clone();
        rec.recent_uid = to;
        let t = self.commit(
            vec![Op::put_json(Cf::Meta, key::mailbox(mailbox.id), &rec)],
            Vec::new(),
        );
        g.rec = rec;
        drop(g);
        t.wait()?;
        Ok(first..to)
    }

    /// The recent mark without claiming anything: UIDs at or above it are
    /// recent for nobody yet. EXAMINE shows them as `\Recent` but must not
    /// take the flag away from the next read-write session (RFC 3501 6.3.2).
    pub fn recent_mark(&self, mailbox: &MailboxHandle) -> Result<u32> {
        self.require(mailbox, 'r')?;
        let st = self.state(mailbox.id)?;
        Ok(lock(&st).rec.recent_uid)
    }

    /// STORE / UID STORE with optional UNCHANGEDSINCE. Flags the user has
    /// no right to change are ignored (RFC 4314 4): `\Seen` needs `s`,
    /// `\Deleted` needs `t`, others `w`. A non-owner's `\Seen` is private.
    pub fn store_flags(
        &self,
        mailbox: &MailboxHandle,
        uids: &UidSet,
        op: FlagOp,
        flags: &Flags,
        unchanged_since: Option<u64>,
    ) -> Result<StoreResult> {
        self.require(mailbox, 'r')?;
        let allowed = |f: &str| {
            let right = if f.eq_ignore_ascii_case(SEEN) {
                's'
            } else if f.eq_ignore_ascii_case(DELETED) {
                't'
            } else {
                'w'
            };
            mailbox.rights.has(right)
        };
        let st = self.state(mailbox.id)?;
        // Held until the commit is durable: the rows are read-modify-written.
        let mut g = lock(&st);
        let seen_set = self.seen_set(mailbox)?;
        let mut rec = g.rec.clone();
        let modseq = rec.highestmodseq + 1;
        let mut result = StoreResult::default();
        let mut ops = Vec::new();
        for (uid, mut row) in self.rows(mailbox.id, uids)? {
            if unchanged_since.is_some_and(|m| row.modseq > m) {
                result.modified.push(uid);
                continue;
            }
            let before = Self::view(uid, &row, &seen_set);
            let mut after = before.flags.clone();
            match op {
                FlagOp::Add => flags.iter().for_each(|f| after.insert(f)),
                FlagOp::Remove => flags.iter().for_each(|f| after.remove(f)),
                FlagOp::Replace => after = flags.clone(),
            }
            // Keep what the user may not change as it was.
            let mut merged = Flags::new();
            for f in before.flags.iter().chain(after.iter()) {
                let keep = if allowed(f) {
                    after.contains(f)
                } else {
                    before.flags.contains(f)
                };
                if keep {
                    merged.insert(f);
                }
            }
            if merged == before.flags {
                continue;
            }
            let seen_before = before.flags.contains(SEEN);
            let seen_after = merged.contains(SEEN);
            if mailbox.is_owner() {
                if seen_before != seen_after {
                    rec.seen = if seen_after {
                        rec.seen + 1
                    } else {
                        rec.seen.saturating_sub(1)
                    };
                }
                row.flags = merged;
            } else {
                if seen_before != seen_after {
                    let k = key::seen(mailbox.id, &mailbox.user, uid);
                    ops.push(if seen_after {
                        Op::Put(Cf::Seen, k, Vec::new())
                    } else {
                        Op::Delete(Cf::Seen, k)
                    });
                }
                let owner_seen = row.flags.contains(SEEN);
                row.flags = merged;
                row.flags.remove(SEEN);
                if owner_seen {
                    row.flags.insert(SEEN);
                }
            }
            row.modseq = modseq;
            ops.push(Op::put_json(Cf::Index, key::row(mailbox.id, uid), &row));
            let mut shown = Self::view(uid, &row, &seen_set);
            if !mailbox.is_owner() {
                shown.flags.remove(SEEN);
                if seen_after {
                    shown.flags.insert(SEEN);
                }
            }
            result.updated.push(shown);
        }
        if result.updated.is_empty() {
            return Ok(result);
        }
        rec.highestmodseq = modseq;
        ops.push(Op::put_json(Cf::Meta, key::mailbox(mailbox.id), &rec));
        self.commit(ops, Vec::new()).wait()?;
        g.rec = rec;
        drop(g);
        self.notify(
            mailbox.id,
            MailboxEvent::FlagsChanged {
                uids: result.updated.iter().map(|e| e.uid).collect(),
                modseq,
                user: (!mailbox.is_owner()).then(|| mailbox.user.clone()),
            },
        );
        Ok(result)
    }

    /// EXPUNGE (or UID EXPUNGE with `uids`): removes `\Deleted` messages
    /// (needs `e`); returns their UIDs. A message file goes when its last
    /// link (in any mailbox of any user) goes.
    pub fn expunge(&self, mailbox: &MailboxHandle, uids: Option<&UidSet>) -> Result<Vec<u32>> {
        self.require(mailbox, 'e')?;
        let all = UidSet::all();
        self.remove_messages(mailbox, uids.unwrap_or(&all), true)
    }

    fn remove_messages(
        &self,
        mailbox: &MailboxHandle,
        uids: &UidSet,
        only_deleted: bool,
    ) -> Result<Vec<u32>> {
        let st = self.state(mailbox.id)?;
        let owner = lock(&st).rec.owner.clone();
        let q = self.quota_state(&owner)?;
        let mut qg = lock(&q);
        let mut g = lock(&st);
        let dir = self.folder_dir(&g.rec)?;
        let mut rec = g.rec.clone();
        let mut quota = qg.clone();
        let mut ops = Vec::new();
        let mut files = Vec::new();
        let mut gone = Vec::new();
        let mut digests = Vec::new();
        for (uid, row) in self.rows(mailbox.id, uids)? {
            if only_deleted && !row.flags.contains(DELETED) {
                continue;
            }
            digests.push((uid, self.row_digest(mailbox.id, uid, &dir.join(&row.file))));
            ops.push(Op::Delete(Cf::Index, key::row(mailbox.id, uid)));
            ops.push(Op::Delete(Cf::Cache, key::row(mailbox.id, uid)));
            rec.exists = rec.exists.saturating_sub(1);
            rec.bytes = rec.bytes.saturating_sub(row.size);
            if row.flags.contains(SEEN) {
                rec.seen = rec.seen.saturating_sub(1);
            }
            quota.bytes = quota.bytes.saturating_sub(row.size);
            quota.messages = quota.messages.saturating_sub(1);
            files.push(PendingUnlink {
                path: dir.join(&row.file),
                tree: false,
            });
            gone.push(uid);
        }
        if gone.is_empty() {
            return Ok(gone);
        }
        let gone_set: BTreeSet<u32> = gone.iter().copied().collect();
        let (a, b) = (mailbox.id.to_be_bytes().to_vec(), key::rows_end(mailbox.id));
        for (k, _) in self.inner.db.range(Cf::Seen, &a, &b)? {
            if gone_set.contains(&key::uid_suffix(&k)) {
                ops.push(Op::Delete(Cf::Seen, k));
            }
        }
        rec.highestmodseq += 1;
        ops.push(self.tombstone_op(mailbox.id, &owner, rec.highestmodseq, digests));
        rearm_warning(&mut quota, self.inner.cfg.quota.warn_percent);
        ops.push(Op::put_json(Cf::Meta, key::mailbox(mailbox.id), &rec));
        ops.push(Op::put_json(Cf::Meta, key::quota(&owner), &quota));
        let (uops, list) = self.pending_unlinks(files);
        ops.extend(uops);
        self.commit(ops, Vec::new()).wait()?;
        let modseq = rec.highestmodseq;
        g.rec = rec;
        *qg = quota;
        drop(g);
        drop(qg);
        self.unlink_after_commit(list);
        self.notify(
            mailbox.id,
            MailboxEvent::Expunged {
                uids: gone.clone(),
                modseq,
            },
        );
        Ok(gone)
    }

    /// COPY (needs `r` on the source, `i` on the target): returns
    /// (source UID, new UID) pairs for COPYUID. Within a partition the
    /// copy is another hard link; across partitions the bytes are copied.
    pub fn copy(
        &self,
        from: &MailboxHandle,
        uids: &UidSet,
        to: &MailboxHandle,
        limits: &QuotaLimits,
    ) -> Result<Vec<(u32, u32)>> {
        self.copy_inner(from, uids, to, limits, false)
    }

    /// `within_owner`: a MOVE inside one user's tree does not change usage
    /// in the end, so it is not refused for being briefly over.
    fn copy_inner(
        &self,
        from: &MailboxHandle,
        uids: &UidSet,
        to: &MailboxHandle,
        limits: &QuotaLimits,
        within_owner: bool,
    ) -> Result<Vec<(u32, u32)>> {
        self.require(from, 'r')?;
        self.require(to, 'i')?;
        let src_rec = self.record_of(from.id)?;
        let src_dir = self.folder_dir(&src_rec)?;
        let src_part = self.user_partition(&src_rec.owner)?;
        let dst_part = self.user_partition(&to.path.owner)?;
        let seen = self.seen_set(from)?;
        let mut pending = Vec::new();
        let mut result = Ok(());
        for (uid, row) in self.rows(from.id, uids)? {
            let view = Self::view(uid, &row, &seen);
            let cache: CachedMessage = self
                .inner
                .db
                .get_json(Cf::Cache, &key::row(from.id, uid))?
                .unwrap_or_default();
            let mut file = src_dir.join(&row.file);
            let mut tmp = None;
            if src_part != dst_part {
                let part = dst_part.clone().unwrap_or_default();
                let data = std::fs::read(&file).map_err(|e| StoreError::io(&file, e))?;
                let date = std::time::UNIX_EPOCH
                    + std::time::Duration::from_secs(row.internal_date.max(0) as u64);
                let t =
                    fsutil::write_temp(&layout::tmp_dir(self.partition_root(&part)?), &data, date)?;
                file = t.clone();
                tmp = Some(t);
            }
            let src = Source {
                file: &file,
                size: row.size,
                internal_date: row.internal_date,
                cache: &cache,
            };
            let (flags, seen_for) = self.split_seen(to, &view.flags);
            let added = self.add_message(
                &src,
                to.id,
                &flags,
                Some((limits, within_owner)),
                seen_for.as_deref(),
            );
            if let Some(t) = tmp {
                let _ = fsutil::remove_file(&t);
            }
            match added {
                Ok((a, ticket)) => pending.push((uid, a, ticket)),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        let mut map = Vec::new();
        for (uid, added, ticket) in pending {
            ticket.wait()?;
            self.notify(
                to.id,
                MailboxEvent::Appended {
                    uid: added.uid,
                    modseq: added.modseq,
                },
            );
            map.push((uid, added.uid));
        }
        result.map(|()| map)
    }

    /// MOVE (RFC 6851): copy, then remove the originals; needs `t` and `e`
    /// on the source. A crash between the two leaves the message in both
    /// mailboxes, never in neither.
    pub fn move_messages(
        &self,
        from: &MailboxHandle,
        uids: &UidSet,
        to: &MailboxHandle,
        limits: &QuotaLimits,
    ) -> Result<Vec<(u32, u32)>> {
        self.require(from, 't')?;
        self.require(from, 'e')?;
        let same_owner = from.path.owner == to.path.owner;
        let map = self.copy_inner(from, uids, to, limits, same_owner)?;
        let moved: Vec<u32> = map.iter().map(|(s, _)| *s).collect();
        self.remove_messages(from, &UidSet::list(&moved), false)?;
        Ok(map)
    }
}
