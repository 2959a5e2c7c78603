//! Adding messages: LMTP delivery (single copy per partition, quota) and
//! IMAP APPEND. COPY reuses [`Store::add_message`] from `messages.rs`.
//!
//! Order of durability for one message:
//! 1. the bytes go to `<partition>/tmp/`, fsynced (a crash here leaves only
//!    a temp file, removed on open);
//! 2. the UID range is covered by a durable reservation, then the file is
//!    hard-linked into each recipient's folder as `<uid>.msg` (a crash here
//!    leaves links without rows; open removes them using the reservation);
//! 3. the group committer fsyncs the folder directories and writes the
//!    index, cache, mailbox and quota rows with one WAL sync;
//! 4. only then is the delivery reported as done.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::cache::{self, CachedMessage};
use crate::commit::Ticket;
use crate::db::{Cf, Op, key};
use crate::engine::{Store, lock, now_ms};
use crate::error::{Result, StoreError};
use crate::fsutil;
use crate::layout;
use crate::quota::{QuotaLimits, decide};
use crate::records::IndexRecord;
use crate::redelivery::{self, Seen};
use crate::types::{Flags, MailboxEvent, MailboxHandle, SEEN};

/// One recipient of a delivery.
#[derive(Debug, Clone)]
pub struct Recipient {
    /// User id (the directory's `uid`).
    pub user: String,
    /// Partition from the directory; `None` uses the store default. Only
    /// used when the user is new: a user's partition never changes here.
    pub partition: Option<String>,
    /// Target folder (e.g. from a Sieve `fileinto`); `None` is INBOX.
    pub mailbox: Option<String>,
    /// The user's limits from the directory.
    pub quota: QuotaLimits,
    /// Initial flags.
    pub flags: Flags,
    /// The recipient as the relay named it (LMTP `RCPT TO`): with
    /// [`DeliverOptions::delivery_id`], the pair a redelivery is
    /// recognised by.
    pub rcpt: Option<String>,
}

impl Recipient {
    /// A recipient with no quota, delivering to INBOX on the default partition.
    pub fn new(user: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            partition: None,
            mailbox: None,
            quota: QuotaLimits::UNLIMITED,
            flags: Flags::new(),
            rcpt: None,
        }
    }
}

/// Options of one delivery.
#[derive(Debug, Clone, Default)]
pub struct DeliverOptions {
    /// INTERNALDATE; now when `None`.
    pub internal_date: Option<SystemTime>,
    /// The guaranteed-delivery path: quota is counted but never refuses.
    pub guaranteed: bool,
    /// The relay's id of this message, the same on every attempt (LMTP
    /// `X-DELIVERY-ID`): a recipient stored under it before (within
    /// `redelivery_window`) is answered without a second copy.
    pub delivery_id: Option<String>,
}

/// A successful delivery to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The mailbox name.
    pub mailbox: String,
    /// The new message's UID.
    pub uid: u32,
    /// The mailbox UIDVALIDITY (for APPENDUID).
    pub uidvalidity: u32,
    /// True exactly once per crossing of the warning threshold: the caller
    /// should now send the user an over-quota warning.
    pub quota_warning: bool,
    /// Stored before under the same delivery id: nothing was stored now
    /// (`mailbox` is empty and `uid` 0).
    pub redelivery: bool,
}

/// Where a message being added comes from.
pub(crate) struct Source<'a> {
    pub file: &'a Path,
    pub size: u64,
    pub internal_date: i64,
    pub cache: &'a CachedMessage,
}

pub(crate) struct Added {
    pub uid: u32,
    pub uidvalidity: u32,
    pub modseq: u64,
    pub quota_warning: bool,
}

fn unix_secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Store {
    /// Delivers `message` (stored byte for byte) to every recipient and
    /// returns one result per recipient, in order. Recipients on one
    /// partition share one file. Returns only when every successful
    /// delivery is durable; errors carry [`StoreError::is_temporary`] for
    /// the LMTP reply.
    pub fn deliver(
        &self,
        message: &[u8],
        recipients: &[Recipient],
        opts: &DeliverOptions,
    ) -> Vec<Result<Delivered>> {
        if message.is_empty() {
            return recipients
                .iter()
                .map(|_| Err(StoreError::Invalid("empty message".into())))
                .collect();
        }
        let mut results: Vec<Option<Result<Delivered>>> = recipients.iter().map(|_| None).collect();
        let date = opts.internal_date.unwrap_or_else(SystemTime::now);
        // A redelivery of what is stored already is answered from memory.
        let mut claims = self.claims();
        let mut remember: Vec<Option<Vec<u8>>> = recipients.iter().map(|_| None).collect();
        for (i, r) in recipients.iter().enumerate() {
            let (Some(id), Some(rcpt)) = (&opts.delivery_id, &r.rcpt) else {
                continue;
            };
            let key = redelivery::key(id, rcpt);
            match self.check_redelivery(&key, &mut claims) {
                Ok(Seen::New) => remember[i] = Some(key),
                Ok(Seen::Before) => {
                    tracing::info!(delivery_id = %id, rcpt = %rcpt, user = %r.user, "redelivery recognised: not stored again");
                    results[i] = Some(Ok(Delivered {
                        mailbox: String::new(),
                        uid: 0,
                        uidvalidity: 0,
                        quota_warning: false,
                        redelivery: true,
                    }));
                }
                Ok(Seen::Busy) => {
                    results[i] = Some(Err(StoreError::Commit(
                        "the same delivery is being stored; try again".into(),
                    )));
                }
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        let at_ms = u64::try_from(now_ms()).unwrap_or(0);
        let cache = cache::parse(message, &self.inner.cfg.cached_headers);
        let mut by_partition: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
        for (i, r) in recipients.iter().enumerate() {
            if results[i].is_some() {
                continue;
            }
            let part = self
                .ensure_user(&r.user, r.partition.as_deref())
                .and_then(|()| self.user_partition(&r.user))
                .and_then(|p| {
                    p.ok_or_else(|| StoreError::Invalid(format!("user {} vanished", r.user)))
                });
            match part {
                Ok(p) => by_partition.entry(p).or_default().push(i),
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        let mut pending: Vec<(usize, u64, String, Added, Ticket)> = Vec::new();
        for (part, idxs) in by_partition {
            let tmp = self
                .partition_root(&part)
                .and_then(|root| fsutil::write_temp(&layout::tmp_dir(root), message, date));
            let tmp = match tmp {
                Ok(t) => t,
                Err(e) => {
                    let msg = e.to_string();
                    for i in idxs {
                        results[i] = Some(Err(StoreError::Commit(msg.clone())));
                    }
                    continue;
                }
            };
            let src = Source {
                file: &tmp,
                size: message.len() as u64,
                internal_date: unix_secs(date),
                cache: &cache,
            };
            for i in idxs {
                let r = &recipients[i];
                let name = r.mailbox.as_deref().unwrap_or("INBOX");
                let res = crate::mailbox::normalize_name(name).and_then(|name| {
                    let id = self.mailbox_id(&r.user, &name)?.ok_or_else(|| {
                        StoreError::MailboxNotFound {
                            owner: r.user.clone(),
                            name: name.clone(),
                        }
                    })?;
                    let record = remember[i]
                        .as_deref()
                        .map_or_else(Vec::new, |k| redelivery::remember(k, at_ms));
                    let added = self.add_message_with(
                        &src,
                        id,
                        &r.flags,
                        Some((&r.quota, opts.guaranteed)),
                        None,
                        record,
                    )?;
                    Ok((id, name, added))
                });
                match res {
                    Ok((id, name, (added, ticket))) => pending.push((i, id, name, added, ticket)),
                    Err(e) => results[i] = Some(Err(e)),
                }
            }
            let _ = fsutil::remove_file(&tmp);
        }
        for (i, id, mailbox, added, ticket) in pending {
            results[i] = Some(ticket.wait().map(|()| {
                self.notify(
                    id,
                    MailboxEvent::Appended {
                        uid: added.uid,
                        modseq: added.modseq,
                    },
                );
                Delivered {
                    mailbox,
                    uid: added.uid,
                    uidvalidity: added.uidvalidity,
                    quota_warning: added.quota_warning,
                    redelivery: false,
                }
            }));
        }
        drop(claims);
        results
            .into_iter()
            .map(|r| {
                let r =
                    r.unwrap_or_else(|| Err(StoreError::Invalid("recipient not processed".into())));
                self.inner.metrics.delivered(match &r {
                    Ok(d) if d.redelivery => "redelivery",
                    Ok(_) => "delivered",
                    Err(e) if e.is_temporary() => "temporary",
                    Err(_) => "refused",
                });
                r
            })
            .collect()
    }

    /// IMAP APPEND (needs `i`): adds `message` with `flags` and an optional
    /// internal date; quota is enforced with the owner's `limits`.
    pub fn append(
        &self,
        mailbox: &MailboxHandle,
        message: &[u8],
        flags: &Flags,
        internal_date: Option<SystemTime>,
        limits: &QuotaLimits,
    ) -> Result<Delivered> {
        self.require(mailbox, 'i')?;
        if message.is_empty() {
            return Err(StoreError::Invalid("empty message".into()));
        }
        let part = self.user_partition(&mailbox.path.owner)?.ok_or_else(|| {
            StoreError::MailboxNotFound {
                owner: mailbox.path.owner.clone(),
                name: mailbox.path.name.clone(),
            }
        })?;
        let date = internal_date.unwrap_or_else(SystemTime::now);
        let tmp = fsutil::write_temp(&layout::tmp_dir(self.partition_root(&part)?), message, date)?;
        let cache = cache::parse(message, &self.inner.cfg.cached_headers);
        let src = Source {
            file: &tmp,
            size: message.len() as u64,
            internal_date: unix_secs(date),
            cache: &cache,
        };
        let (flags, seen_for) = self.split_seen(mailbox, flags);
        let res = self.add_message(
            &src,
            mailbox.id,
            &flags,
            Some((limits, false)),
            seen_for.as_deref(),
        );
        let _ = fsutil::remove_file(&tmp);
        let (added, ticket) = res?;
        ticket.wait()?;
        self.notify(
            mailbox.id,
            MailboxEvent::Appended {
                uid: added.uid,
                modseq: added.modseq,
            },
        );
        Ok(Delivered {
            mailbox: mailbox.path.name.clone(),
            uid: added.uid,
            uidvalidity: added.uidvalidity,
            quota_warning: added.quota_warning,
            redelivery: false,
        })
    }

    /// For a non-owner, `\Seen` is private: take it out of the shared flags
    /// and return the user to record it for (if they hold `s`).
    pub(crate) fn split_seen(
        &self,
        mailbox: &MailboxHandle,
        flags: &Flags,
    ) -> (Flags, Option<String>) {
        if mailbox.is_owner() || !flags.contains(SEEN) {
            return (flags.clone(), None);
        }
        let mut shared = flags.clone();
        shared.remove(SEEN);
        let who = mailbox.rights.has('s').then(|| mailbox.user.clone());
        (shared, who)
    }

    pub(crate) fn require(&self, mailbox: &MailboxHandle, right: char) -> Result<()> {
        if mailbox.rights.has(right) {
            Ok(())
        } else {
            Err(StoreError::PermissionDenied {
                user: mailbox.user.clone(),
                right,
                mailbox: mailbox.path.name.clone(),
            })
        }
    }

    /// Links `src` into mailbox `id` under the next UID and queues its rows.
    /// The returned ticket must be waited on before the message is reported.
    pub(crate) fn add_message(
        &self,
        src: &Source<'_>,
        id: u64,
        flags: &Flags,
        quota: Option<(&QuotaLimits, bool)>,
        seen_for: Option<&str>,
    ) -> Result<(Added, Ticket)> {
        self.add_message_with(src, id, flags, quota, seen_for, Vec::new())
    }

    /// [`Store::add_message`], committing `record` with the message's rows.
    pub(crate) fn add_message_with(
        &self,
        src: &Source<'_>,
        id: u64,
        flags: &Flags,
        quota: Option<(&QuotaLimits, bool)>,
        seen_for: Option<&str>,
        record: Vec<Op>,
    ) -> Result<(Added, Ticket)> {
        let st = self.state(id)?;
        let owner = lock(&st).rec.owner.clone();
        let q = self.quota_state(&owner)?;
        loop {
            let mut qg = lock(&q);
            let mut g = lock(&st);
            if g.gone {
                return Err(StoreError::MailboxNotFound {
                    owner,
                    name: g.rec.name.clone(),
                });
            }
            let uid = g.rec.uidnext;
            if uid >= g.resv_to {
                drop(g);
                drop(qg);
                self.reserve(id, &st, uid)?;
                continue;
            }
            let (new_quota, warn) = match quota {
                Some((limits, guaranteed)) => {
                    match decide(
                        &qg,
                        limits,
                        src.size,
                        now_ms(),
                        &self.inner.cfg.quota,
                        guaranteed,
                    ) {
                        Ok(x) => x,
                        Err(refused) => {
                            let (rec, e) = *refused;
                            self.inner
                                .metrics
                                .quota_refused(matches!(e, StoreError::OverQuotaPermanent));
                            if rec != *qg {
                                // Persist the start of the grace period; not waited on.
                                drop(self.commit(
                                    vec![Op::put_json(Cf::Meta, key::quota(&owner), &rec)],
                                    Vec::new(),
                                ));
                                *qg = rec;
                            }
                            return Err(e);
                        }
                    }
                }
                None => {
                    let mut r = qg.clone();
                    r.bytes += src.size;
                    r.messages += 1;
                    (r, false)
                }
            };
            let hashed = g.rec.hashed || g.rec.exists >= self.inner.cfg.hash_threshold;
            let rel = layout::message_rel(uid, hashed);
            let dir = self.folder_dir(&g.rec)?;
            let target = dir.join(&rel);
            let mut dirs = vec![dir.clone()];
            if let Some(parent) = target.parent().filter(|p| *p != dir) {
                if !parent.is_dir() {
                    std::fs::create_dir(parent).map_err(|e| StoreError::io(parent, e))?;
                }
                dirs.push(parent.to_path_buf());
            }
            fsutil::link(src.file, &target)?;
            let modseq = g.rec.highestmodseq + 1;
            let mut rec = g.rec.clone();
            rec.uidnext = uid + 1;
            rec.highestmodseq = modseq;
            rec.exists += 1;
            rec.bytes += src.size;
            rec.hashed = hashed;
            if flags.contains(SEEN) {
                rec.seen += 1;
            }
            let row = IndexRecord {
                file: rel,
                size: src.size,
                internal_date: src.internal_date,
                flags: flags.clone(),
                modseq,
            };
            let mut ops = vec![
                Op::put_json(Cf::Index, key::row(id, uid), &row),
                Op::put_json(Cf::Cache, key::row(id, uid), src.cache),
                Op::put_json(Cf::Meta, key::mailbox(id), &rec),
                Op::put_json(Cf::Meta, key::quota(&owner), &new_quota),
            ];
            if let Some(user) = seen_for {
                ops.push(Op::Put(Cf::Seen, key::seen(id, user, uid), Vec::new()));
            }
            ops.extend(record.iter().cloned());
            let ticket = self.commit(ops, dirs);
            let added = Added {
                uid,
                uidvalidity: rec.uidvalidity,
                modseq,
                quota_warning: warn,
            };
            g.rec = rec;
            *qg = new_quota;
            return Ok((added, ticket));
        }
    }
}
