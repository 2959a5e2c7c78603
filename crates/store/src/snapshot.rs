//! Snapshots and restore.
//!
//! A snapshot directory holds `db/` (a RocksDB checkpoint: consistent at
//! one instant, SST files hard-linked) and `partitions/<name>/users/...`
//! with a hard link to every message file the checkpoint's index names,
//! plus each folder's `.meta`. The store keeps serving deliveries and
//! sessions meanwhile; only namespace changes (create/rename/delete) wait,
//! and files expunged during the snapshot are unlinked after it, so every
//! file the checkpoint refers to can still be linked.
//!
//! The snapshot must be on the same file system as the partitions for the
//! links to be free; elsewhere files are copied.

use std::fs;
use std::path::Path;
use std::sync::atomic::Ordering;

use rocksdb::checkpoint::Checkpoint;

use crate::config::StoreConfig;
use crate::db::{self, Cf, Db, Op, decode, key};
use crate::engine::{Store, lock};
use crate::error::{Result, StoreError};
use crate::fsutil;
use crate::layout;
use crate::records::{IndexRecord, MailboxRecord, UserRecord};
use crate::types::MailboxEvent;

/// Ends the "snapshot in progress" state even on error.
struct SnapshotGuard<'a>(&'a Store);

impl Drop for SnapshotGuard<'_> {
    fn drop(&mut self) {
        self.0.inner.snapshots.fetch_sub(1, Ordering::SeqCst);
        let list = std::mem::take(&mut *lock(&self.0.inner.deferred));
        let mut ops = Vec::new();
        for (seq, p) in list {
            if crate::engine::remove_pending(&p).is_ok() {
                ops.push(Op::Delete(Cf::Meta, key::unlink(seq)));
            }
        }
        let _ = self.0.commit(ops, Vec::new()).wait();
    }
}

fn snapshot_users_dir(snap: &Path, part: &str) -> std::path::PathBuf {
    snap.join("partitions").join(part)
}

impl Store {
    /// Takes a consistent snapshot into `dest` (which must not exist) while
    /// the store keeps serving.
    pub fn snapshot(&self, dest: &Path) -> Result<()> {
        if dest.exists() {
            return Err(StoreError::Invalid(format!(
                "{} already exists",
                dest.display()
            )));
        }
        let _ns = lock(&self.inner.ns_lock);
        self.inner.snapshots.fetch_add(1, Ordering::SeqCst);
        let _guard = SnapshotGuard(self);
        fs::create_dir_all(dest).map_err(|e| StoreError::io(dest, e))?;
        let cp_dir = dest.join("db");
        Checkpoint::new(&self.inner.db.db)?.create_checkpoint(&cp_dir)?;
        let cp = Db::open_read_only(&cp_dir)?;
        for (k, v) in db::scan(&cp, Cf::Meta, b"mb/")? {
            let rec: MailboxRecord = decode(&k, &v)?;
            let Some(user) = db::get_json::<UserRecord>(&cp, Cf::Meta, &key::user(&rec.owner))?
            else {
                continue;
            };
            let live_root = self.partition_root(&user.partition)?;
            let src_dir = layout::folder_dir(live_root, &rec.owner, &rec.name);
            let dst_dir = layout::folder_dir(
                &snapshot_users_dir(dest, &user.partition),
                &rec.owner,
                &rec.name,
            );
            fs::create_dir_all(&dst_dir).map_err(|e| StoreError::io(&dst_dir, e))?;
            let meta = src_dir.join(".meta");
            if meta.exists() {
                fs::copy(&meta, dst_dir.join(".meta")).map_err(|e| StoreError::io(&meta, e))?;
            }
            for (k, v) in db::scan(&cp, Cf::Index, &rec.id.to_be_bytes())? {
                let row: IndexRecord = decode(&k, &v)?;
                let to = dst_dir.join(&row.file);
                if let Some(parent) = to.parent() {
                    fs::create_dir_all(parent).map_err(|e| StoreError::io(parent, e))?;
                }
                let from = src_dir.join(&row.file);
                if fs::hard_link(&from, &to).is_err() {
                    fs::copy(&from, &to).map_err(|e| StoreError::io(&from, e))?;
                }
            }
        }
        drop(cp);
        fsutil::fsync_dir(dest)
    }

    /// Replaces the whole store (system area and every partition's user
    /// area) with a snapshot. The store must be closed.
    pub fn restore(cfg: &StoreConfig, snapshot: &Path) -> Result<()> {
        let cp_dir = snapshot.join("db");
        if !cp_dir.is_dir() {
            return Err(StoreError::Invalid(format!(
                "{} is not a snapshot",
                snapshot.display()
            )));
        }
        fsutil::remove_tree(&cfg.system_path)?;
        // SST files never change and can be shared; MANIFEST and friends are appended to.
        let is_mutable = |p: &Path| p.extension().is_none_or(|e| e != "sst");
        fsutil::link_tree(&cp_dir, &cfg.system_path, &is_mutable)?;
        for (name, root) in &cfg.partitions {
            let users = layout::users_dir(root);
            fsutil::remove_tree(&users)?;
            fsutil::remove_tree(&layout::tmp_dir(root))?;
            let src = layout::users_dir(&snapshot_users_dir(snapshot, name));
            if src.is_dir() {
                fsutil::link_tree(&src, &users, &|_| false)?;
            } else {
                fsutil::mkdir_durable(&users)?;
            }
        }
        Ok(())
    }

    /// Restores one user's mailboxes, flags and quota usage from a snapshot
    /// while the store serves others. The user should be idle meanwhile.
    pub fn restore_user(&self, snapshot: &Path, user: &str) -> Result<()> {
        let _ns = lock(&self.inner.ns_lock);
        let cp = Db::open_read_only(&snapshot.join("db"))?;
        let urec: UserRecord = db::get_json(&cp, Cf::Meta, &key::user(user))?.ok_or_else(|| {
            StoreError::MailboxNotFound {
                owner: user.into(),
                name: "INBOX".into(),
            }
        })?;
        let root = self.partition_root(&urec.partition)?.to_path_buf();
        let mut ops = Vec::new();
        // Remove what the user has now.
        let mut old_ids = Vec::new();
        let mut live_recs = std::collections::HashMap::new();
        for name in self.names_of(user)? {
            if let Some(id) = self.mailbox_id(user, &name)? {
                if let Some(rec) = self
                    .inner
                    .db
                    .get_json::<MailboxRecord>(Cf::Meta, &key::mailbox(id))?
                {
                    for grantee in rec.acl.keys() {
                        ops.push(Op::Delete(Cf::Meta, key::shared(grantee, user, id)));
                    }
                    live_recs.insert(id, rec);
                }
                ops.push(Op::Delete(Cf::Meta, key::mailbox(id)));
                ops.push(Op::Delete(Cf::Meta, key::name(user, &name)));
                for cf in [Cf::Index, Cf::Cache, Cf::Seen] {
                    ops.push(Op::DeleteRange(
                        cf,
                        id.to_be_bytes().to_vec(),
                        key::rows_end(id),
                    ));
                }
                old_ids.push(id);
            }
        }
        // Copy the snapshot's rows.
        ops.push(Op::put_json(Cf::Meta, key::user(user), &urec));
        for (k, v) in db::scan(&cp, Cf::Meta, &key::names_of(user))? {
            let id = key::id_prefix(&v);
            ops.push(Op::Put(Cf::Meta, k, v));
            if let Some(mut rec) = db::get_json::<MailboxRecord>(&cp, Cf::Meta, &key::mailbox(id))?
            {
                // UIDs handed out since the snapshot are never reused.
                if let Some(live) = live_recs.get(&id) {
                    rec.uidnext = rec.uidnext.max(live.uidnext);
                    rec.highestmodseq = rec.highestmodseq.max(live.highestmodseq) + 1;
                }
                for grantee in rec.acl.keys() {
                    ops.push(Op::Put(
                        Cf::Meta,
                        key::shared(grantee, user, id),
                        Vec::new(),
                    ));
                }
                ops.push(Op::put_json(Cf::Meta, key::mailbox(id), &rec));
            }
            for cf in [Cf::Index, Cf::Cache, Cf::Seen] {
                for (k, v) in db::scan(&cp, cf, &id.to_be_bytes())? {
                    ops.push(Op::Put(cf, k, v));
                }
            }
        }
        if let Some(q) = cp.get_cf(db::cf_handle(&cp, Cf::Meta)?, key::quota(user))? {
            ops.push(Op::Put(Cf::Meta, key::quota(user), q));
        }
        drop(cp);
        // Swap the user's tree: the old one moves aside, the snapshot's is linked in.
        let live = layout::user_dir(&root, user);
        let aside = layout::tmp_dir(&root).join(format!("restore-{}", layout::encode(user)));
        fsutil::remove_tree(&aside)?;
        if live.is_dir() {
            fs::rename(&live, &aside).map_err(|e| StoreError::io(&live, e))?;
        }
        let src = layout::user_dir(&snapshot_users_dir(snapshot, &urec.partition), user);
        if src.is_dir() {
            fsutil::link_tree(&src, &live, &|p| {
                p.file_name().is_some_and(|n| n == ".meta")
            })?;
        }
        let dirs = live
            .parent()
            .map(|p| vec![p.to_path_buf()])
            .unwrap_or_default();
        self.commit(ops, dirs).wait()?;
        fsutil::remove_tree(&aside)?;
        self.forget_user(user);
        for id in old_ids {
            lock(&self.inner.mailboxes).remove(&id);
            self.notify(id, MailboxEvent::Gone);
        }
        Ok(())
    }
}
