//! What a client resynchronising by state needs beyond the index (JMAP
//! `/changes`, RFC 8620 5.2): tombstones of removed messages, a change
//! signal per user, and mailbox counters read without a scan.
//!
//! A tombstone is written in the same batch as the expunge (or the mailbox
//! delete) it records, under `xp/<mailbox id><modseq>`, with the UIDs and
//! content digests that went. Tombstones of a deleted mailbox stay, so a
//! client that knew the mailbox learns which messages went with it.
//! Tombstones are kept (about 50 bytes per removed message); pruning them
//! with a floor MODSEQ is future work (docs/store.md).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::cache::CachedMessage;
use crate::db::{Cf, Op, decode, key};
use crate::engine::{Store, lock};
use crate::error::Result;
use crate::types::{MailboxInfo, MailboxPath};

/// `xp/` rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TombstoneRecord {
    owner: String,
    gone: Vec<(u32, String)>,
}

/// One removed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expunged {
    /// The mailbox MODSEQ of the removal.
    pub modseq: u64,
    /// Its UID.
    pub uid: u32,
    /// Its content digest ([`crate::CachedMessage::digest`]).
    pub digest: String,
}

/// A mailbox of the user's own tree with the counters a client shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxCounters {
    /// Name, id, special-use, subscription.
    pub info: MailboxInfo,
    /// Messages.
    pub exists: u32,
    /// Messages without the owner's `\Seen`.
    pub unseen: u32,
    /// Next UID.
    pub uidnext: u32,
    /// HIGHESTMODSEQ.
    pub highestmodseq: u64,
    /// Sum of message sizes.
    pub bytes: u64,
}

fn tombstone_key(id: u64, modseq: u64) -> Vec<u8> {
    [b"xp/".as_slice(), &id.to_be_bytes(), &modseq.to_be_bytes()].concat()
}

impl Store {
    /// The batch op recording that `gone` (UID, digest) left mailbox `id`
    /// of `owner` at `modseq`.
    pub(crate) fn tombstone_op(
        &self,
        id: u64,
        owner: &str,
        modseq: u64,
        gone: Vec<(u32, String)>,
    ) -> Op {
        Op::put_json(
            Cf::Meta,
            tombstone_key(id, modseq),
            &TombstoneRecord {
                owner: owner.to_string(),
                gone,
            },
        )
    }

    /// The digest of a row about to go: from its cache row, or from the
    /// file for rows cached before digests existed.
    pub(crate) fn row_digest(&self, id: u64, uid: u32, file: &std::path::Path) -> String {
        let cached: Option<CachedMessage> = self
            .inner
            .db
            .get_json(Cf::Cache, &key::row(id, uid))
            .ok()
            .flatten();
        match cached {
            Some(c) if !c.digest.is_empty() => c.digest,
            _ => std::fs::read(file)
                .map(|b| crate::cache::digest(&b))
                .unwrap_or_default(),
        }
    }

    /// Messages removed from mailbox `id` (owned by `owner`) after
    /// `modseq`, oldest first. Works for mailboxes deleted since.
    pub fn expunged_since(&self, owner: &str, id: u64, modseq: u64) -> Result<Vec<Expunged>> {
        let from = tombstone_key(id, modseq.saturating_add(1));
        let to = [b"xp/".as_slice(), &id.to_be_bytes(), &[0xff; 9]].concat();
        let mut out = Vec::new();
        for (k, v) in self.inner.db.range(Cf::Meta, &from, &to)? {
            let rec: TombstoneRecord = decode(&k, &v)?;
            if rec.owner != owner {
                continue;
            }
            let m = key::id_suffix(&k);
            out.extend(rec.gone.into_iter().map(|(uid, digest)| Expunged {
                modseq: m,
                uid,
                digest,
            }));
        }
        Ok(out)
    }

    /// The user's own mailboxes with their counters, from the committed
    /// mailbox records (no row scan). Not from memory: the in-memory
    /// counters move when a change is queued, before its rows are
    /// committed, and a reader must never see a MODSEQ whose rows it
    /// cannot read yet.
    pub fn mailbox_counters(&self, user: &str) -> Result<Vec<MailboxCounters>> {
        let subs: BTreeSet<MailboxPath> = self.subscriptions(user)?.into_iter().collect();
        let names = self.names_of(user)?;
        let mut out = Vec::with_capacity(names.len());
        for n in &names {
            let Some(id) = self.mailbox_id(user, n)? else {
                continue;
            };
            let rec: Option<crate::records::MailboxRecord> =
                self.inner.db.get_json(Cf::Meta, &key::mailbox(id))?;
            if let Some(rec) = rec {
                out.push(MailboxCounters {
                    info: crate::mailbox::info(&rec, &names, &subs),
                    exists: rec.exists,
                    unseen: rec.exists.saturating_sub(rec.seen),
                    uidnext: rec.uidnext,
                    highestmodseq: rec.highestmodseq,
                    bytes: rec.bytes,
                });
            }
        }
        Ok(out)
    }

    /// A signal that changes whenever anything in `user`'s own mailboxes
    /// changes (messages, flags, names, subscriptions): JMAP push waits on
    /// it and then compares states.
    pub fn watch_user(&self, user: &str) -> watch::Receiver<u64> {
        lock(&self.inner.user_watchers)
            .entry(user.to_string())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Wakes `user`'s watchers; forgets channels nobody watches.
    pub(crate) fn notify_user(&self, user: &str) {
        let mut w = lock(&self.inner.user_watchers);
        if let Some(tx) = w.get(user) {
            if tx.receiver_count() == 0 {
                w.remove(user);
            } else {
                tx.send_modify(|n| *n += 1);
            }
        }
    }
}
