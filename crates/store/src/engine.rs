//! The [`Store`]: opening, recovery after a crash, and the shared state
//! every operation module uses.
//!
//! Locks are taken in one order to rule out deadlocks: the namespace lock
//! (mailbox create/rename/delete/ACL), then a user's quota record, then
//! mailbox states by ascending id. None is held across a wait for the group
//! committer except the namespace lock.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast;

use crate::commit::{Committer, Ticket};
use crate::config::StoreConfig;
use crate::db::{Cf, Db, Op, key};
use crate::error::{Result, StoreError};
use crate::fsutil;
use crate::layout;
use crate::metrics::Metrics;
use crate::records::{MailboxRecord, PendingUnlink, QuotaRecord, Reservation};
use crate::types::MailboxEvent;

/// UIDs reserved at a time; a reservation costs one synced write.
pub(crate) const RESERVE_BLOCK: u32 = 256;

/// In-memory authority for one mailbox's counters while the store runs.
pub(crate) struct MailboxState {
    pub rec: MailboxRecord,
    /// UIDs below this are covered by a durable reservation.
    pub resv_to: u32,
    /// Set when the mailbox was deleted; holders must give up.
    pub gone: bool,
}

/// The message store. Cheap to clone; every method blocks (file I/O and
/// group commit), so async callers use [`Store::run`].
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub cfg: StoreConfig,
    pub db: Arc<Db>,
    pub committer: Committer,
    pub metrics: Arc<Metrics>,
    pub mailboxes: Mutex<HashMap<u64, Arc<Mutex<MailboxState>>>>,
    pub quotas: Mutex<HashMap<String, Arc<Mutex<QuotaRecord>>>>,
    pub users: Mutex<HashMap<String, String>>,
    pub watchers: Mutex<HashMap<u64, broadcast::Sender<MailboxEvent>>>,
    pub user_watchers: Mutex<HashMap<String, tokio::sync::watch::Sender<u64>>>,
    pub ns_lock: Mutex<()>,
    pub snapshots: AtomicUsize,
    pub deferred: Mutex<Vec<(u64, PendingUnlink)>>,
    pub unlink_seq: AtomicU64,
    pub last_uidvalidity: AtomicU32,
    /// Deliveries under way by (delivery id, recipient).
    pub redeliveries: crate::redelivery::InFlight,
}

/// Locks a mutex, ignoring poisoning: state is only mutated after every
/// fallible step, so a panicking holder leaves it consistent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Store {
    /// Opens the store, creating missing directories, and recovers from a
    /// crash: empties each partition's `tmp/`, finishes pending unlinks and
    /// removes message files whose delivery never committed. Work is
    /// proportional to what was in flight, not to the store's size.
    pub fn open(cfg: StoreConfig) -> Result<Store> {
        std::fs::create_dir_all(&cfg.system_path)
            .map_err(|e| StoreError::io(&cfg.system_path, e))?;
        // RocksDB's lock comes first: a second opener (a mistaken second
        // service, an offline `mailctl store` command) must fail here,
        // before it empties the `tmp/` of deliveries in flight.
        let db = Db::open(&cfg.system_path, cfg.block_cache_size)?;
        for root in cfg.partitions.values() {
            let tmp = layout::tmp_dir(root);
            fsutil::remove_tree(&tmp)?;
            fsutil::mkdir_durable(&tmp)?;
            fsutil::mkdir_durable(&layout::users_dir(root))?;
        }
        let metrics = Metrics::new(&db);
        let committer = Committer::start(
            db.clone(),
            cfg.group_commit.window,
            cfg.group_commit.max_batch,
            metrics.clone(),
        );
        let now = u32::try_from(now_ms() / 1000).unwrap_or(u32::MAX);
        let store = Store {
            inner: Arc::new(Inner {
                cfg,
                db,
                committer,
                metrics,
                mailboxes: Mutex::default(),
                quotas: Mutex::default(),
                users: Mutex::default(),
                watchers: Mutex::default(),
                user_watchers: Mutex::default(),
                ns_lock: Mutex::default(),
                snapshots: AtomicUsize::new(0),
                deferred: Mutex::default(),
                unlink_seq: AtomicU64::new(0),
                last_uidvalidity: AtomicU32::new(now),
                redeliveries: Default::default(),
            }),
        };
        store.recover()?;
        Ok(store)
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &StoreConfig {
        &self.inner.cfg
    }

    /// Runs blocking store work from async code on tokio's blocking pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Store) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let s = self.clone();
        tokio::task::spawn_blocking(move || f(&s))
            .await
            .map_err(|e| StoreError::Commit(format!("store task failed: {e}")))?
    }

    /// Drains the committer; later writes fail. Dropping the last clone also closes.
    pub fn close(&self) {
        self.inner.committer.stop();
    }

    /// RocksDB block-cache hit ratio since open (also exported as a metric).
    pub fn block_cache_hit_ratio(&self) -> f64 {
        crate::metrics::hit_ratio(&self.inner.db)
    }

    fn recover(&self) -> Result<()> {
        let db = &self.inner.db;
        let mut ops = Vec::new();
        let mut max_seq = 0;
        for (k, v) in db.scan(Cf::Meta, b"ul/")? {
            let p: PendingUnlink = crate::db::decode(&k, &v)?;
            remove_pending(&p)?;
            max_seq = max_seq.max(key::id_suffix(&k));
            ops.push(Op::Delete(Cf::Meta, k));
        }
        self.inner.unlink_seq.store(max_seq + 1, Ordering::SeqCst);
        for (k, v) in db.scan(Cf::Meta, b"rv/")? {
            let r: Reservation = crate::db::decode(&k, &v)?;
            let id = key::id_suffix(&k);
            if let Some(rec) = db.get_json::<MailboxRecord>(Cf::Meta, &key::mailbox(id))? {
                let dir = self.folder_dir(&rec)?;
                let present: BTreeSet<u32> = db
                    .range(Cf::Index, &key::row(id, r.from), &key::row(id, r.to))?
                    .iter()
                    .map(|(k, _)| key::uid_suffix(k))
                    .collect();
                for uid in r.from..r.to {
                    if !present.contains(&uid) {
                        fsutil::remove_file(&dir.join(layout::message_rel(uid, false)))?;
                        fsutil::remove_file(&dir.join(layout::message_rel(uid, true)))?;
                    }
                }
            }
            ops.push(Op::Delete(Cf::Meta, k));
        }
        self.commit(ops, Vec::new()).wait()
    }

    pub(crate) fn commit(&self, ops: Vec<Op>, dirs: Vec<PathBuf>) -> Ticket {
        self.inner.committer.submit(ops, dirs)
    }

    pub(crate) fn partition_root(&self, name: &str) -> Result<&Path> {
        self.inner
            .cfg
            .partitions
            .get(name)
            .map(PathBuf::as_path)
            .ok_or_else(|| StoreError::UnknownPartition(name.to_string()))
    }

    /// The partition holding `user`, if the user exists.
    pub(crate) fn user_partition(&self, user: &str) -> Result<Option<String>> {
        if let Some(p) = lock(&self.inner.users).get(user) {
            return Ok(Some(p.clone()));
        }
        let rec: Option<crate::records::UserRecord> =
            self.inner.db.get_json(Cf::Meta, &key::user(user))?;
        Ok(rec.map(|r| {
            lock(&self.inner.users).insert(user.to_string(), r.partition.clone());
            r.partition
        }))
    }

    pub(crate) fn folder_dir(&self, rec: &MailboxRecord) -> Result<PathBuf> {
        let part = self
            .user_partition(&rec.owner)?
            .ok_or_else(|| StoreError::MailboxNotFound {
                owner: rec.owner.clone(),
                name: rec.name.clone(),
            })?;
        Ok(layout::folder_dir(
            self.partition_root(&part)?,
            &rec.owner,
            &rec.name,
        ))
    }

    pub(crate) fn mailbox_id(&self, owner: &str, name: &str) -> Result<Option<u64>> {
        Ok(self
            .inner
            .db
            .db
            .get_pinned_cf(
                crate::db::cf_handle(&self.inner.db.db, Cf::Meta)?,
                key::name(owner, name),
            )?
            .map(|v| key::id_prefix(&v)))
    }

    /// The in-memory state of mailbox `id`, loaded on first use.
    pub(crate) fn state(&self, id: u64) -> Result<Arc<Mutex<MailboxState>>> {
        if let Some(s) = lock(&self.inner.mailboxes).get(&id) {
            return Ok(s.clone());
        }
        let rec: MailboxRecord = self
            .inner
            .db
            .get_json(Cf::Meta, &key::mailbox(id))?
            .ok_or_else(|| StoreError::MailboxNotFound {
                owner: String::new(),
                name: format!("#{id}"),
            })?;
        let st = Arc::new(Mutex::new(MailboxState {
            resv_to: rec.uidnext,
            rec,
            gone: false,
        }));
        Ok(lock(&self.inner.mailboxes).entry(id).or_insert(st).clone())
    }

    pub(crate) fn quota_state(&self, user: &str) -> Result<Arc<Mutex<QuotaRecord>>> {
        if let Some(q) = lock(&self.inner.quotas).get(user) {
            return Ok(q.clone());
        }
        let rec: QuotaRecord = self
            .inner
            .db
            .get_json(Cf::Meta, &key::quota(user))?
            .unwrap_or_default();
        Ok(lock(&self.inner.quotas)
            .entry(user.to_string())
            .or_insert_with(|| Arc::new(Mutex::new(rec)))
            .clone())
    }

    /// Forgets cached state of a user (after reconstruct or restore).
    pub(crate) fn forget_user(&self, user: &str) {
        lock(&self.inner.quotas).remove(user);
        lock(&self.inner.users).remove(user);
        lock(&self.inner.mailboxes).retain(|_, st| lock(st).rec.owner != user);
    }

    /// A fresh UIDVALIDITY: the clock in seconds, but always increasing, so
    /// a mailbox deleted and recreated in the same second still changes it.
    pub(crate) fn next_uidvalidity(&self) -> u32 {
        let now = u32::try_from(now_ms() / 1000).unwrap_or(u32::MAX);
        let prev = self
            .inner
            .last_uidvalidity
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |p| {
                Some(p.max(now - 1) + 1)
            })
            .unwrap_or(now);
        prev.max(now - 1) + 1
    }

    /// Makes sure UIDs up to `needed` are covered by a durable reservation
    /// before any file named after them can reach the disk.
    pub(crate) fn reserve(
        &self,
        id: u64,
        st: &Arc<Mutex<MailboxState>>,
        needed: u32,
    ) -> Result<()> {
        let (ticket, to) = {
            let g = lock(st);
            if needed < g.resv_to {
                return Ok(());
            }
            // Every UID below `uidnext` is already queued, and the committer
            // applies requests in order: once this record is durable those
            // are too, so the range to check on open starts here.
            let from = g.rec.uidnext;
            let to = needed.max(g.resv_to).saturating_add(RESERVE_BLOCK);
            let r = Reservation { from, to };
            (
                self.commit(vec![Op::put_json(Cf::Meta, key::resv(id), &r)], Vec::new()),
                to,
            )
        };
        ticket.wait()?;
        let mut g = lock(st);
        g.resv_to = g.resv_to.max(to);
        Ok(())
    }

    /// Publishes an event to IDLEing sessions of mailbox `id`.
    pub(crate) fn notify(&self, id: u64, ev: MailboxEvent) {
        {
            let mut watchers = lock(&self.inner.watchers);
            if let Some(tx) = watchers.get(&id)
                && tx.send(ev).is_err()
            {
                // Every session stopped watching: drop the channel.
                watchers.remove(&id);
            }
        }
        let state = lock(&self.inner.mailboxes).get(&id).cloned();
        if let Some(st) = state {
            let owner = lock(&st).rec.owner.clone();
            self.notify_user(&owner);
        }
    }

    /// Records files to remove once their rows are committed; returns the ops
    /// to put in the same batch and the list for [`Store::unlink_after_commit`].
    pub(crate) fn pending_unlinks(
        &self,
        paths: Vec<PendingUnlink>,
    ) -> (Vec<Op>, Vec<(u64, PendingUnlink)>) {
        let mut ops = Vec::new();
        let mut list = Vec::new();
        for p in paths {
            let seq = self.inner.unlink_seq.fetch_add(1, Ordering::SeqCst);
            ops.push(Op::put_json(Cf::Meta, key::unlink(seq), &p));
            list.push((seq, p));
        }
        (ops, list)
    }

    /// Removes files whose rows are durably gone, unless a snapshot is being
    /// taken (it may still link them); then they wait for its end.
    pub(crate) fn unlink_after_commit(&self, list: Vec<(u64, PendingUnlink)>) {
        if list.is_empty() {
            return;
        }
        if self.inner.snapshots.load(Ordering::SeqCst) > 0 {
            lock(&self.inner.deferred).extend(list);
            return;
        }
        let mut ops = Vec::new();
        for (seq, p) in list {
            if remove_pending(&p).is_ok() {
                ops.push(Op::Delete(Cf::Meta, key::unlink(seq)));
            }
        }
        // Not waited on: if lost, open replays the (idempotent) unlinks.
        drop(self.commit(ops, Vec::new()));
    }

    /// A change-notification channel for mailbox `id` (IDLE). Watchers
    /// treat any event, and falling behind the queue, as "compare with the
    /// index", so a short queue loses nothing.
    pub fn watch(
        &self,
        mailbox: &crate::types::MailboxHandle,
    ) -> broadcast::Receiver<MailboxEvent> {
        lock(&self.inner.watchers)
            .entry(mailbox.id)
            .or_insert_with(|| broadcast::channel(WATCH_CAPACITY).0)
            .subscribe()
    }
}

/// Events queued per watched mailbox. Every slot is allocated when the
/// channel is made (~100 bytes each) and lives as long as the mailbox is
/// watched: 1024 slots were ~100 KiB per IDLE session on its own INBOX.
const WATCH_CAPACITY: usize = 16;

pub(crate) fn remove_pending(p: &PendingUnlink) -> Result<()> {
    if p.tree {
        fsutil::remove_tree(&p.path)
    } else {
        fsutil::remove_file(&p.path)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.committer.stop();
    }
}
