//! Mailbox namespace: users, create/delete/rename, LIST, subscriptions,
//! special-use, ACLs (RFC 4314) and opening a mailbox for a session.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::acl::{ANYONE, Rights};
use crate::db::{Cf, Op, key};
use crate::engine::{Store, lock};
use crate::error::{Result, StoreError};
use crate::fsutil;
use crate::records::{FolderMeta, MailboxRecord, PendingUnlink, UserRecord};
use crate::types::{MailboxEvent, MailboxHandle, MailboxInfo, MailboxPath, SpecialUse};

/// Checks a mailbox name and canonicalises `inbox` to `INBOX`.
pub(crate) fn normalize_name(name: &str) -> Result<String> {
    let bad = name.is_empty()
        || name.len() > 1000
        || name.split('/').any(str::is_empty)
        || name.chars().any(|c| c.is_control());
    if bad {
        return Err(StoreError::InvalidName(name.to_string()));
    }
    match name.split_once('/') {
        Some((first, rest)) if first.eq_ignore_ascii_case("INBOX") => Ok(format!("INBOX/{rest}")),
        None if name.eq_ignore_ascii_case("INBOX") => Ok("INBOX".into()),
        _ => Ok(name.to_string()),
    }
}

/// The rights `user` has on a mailbox: everything for the owner, else the
/// union of the user's own entry and `anyone`.
pub(crate) fn rights_of(rec: &MailboxRecord, user: &str) -> Rights {
    if rec.owner == user {
        return Rights::ALL;
    }
    let own = rec.acl.get(user).copied().unwrap_or_default();
    own.union(rec.acl.get(ANYONE).copied().unwrap_or_default())
}

fn not_found(path: &MailboxPath) -> StoreError {
    StoreError::MailboxNotFound {
        owner: path.owner.clone(),
        name: path.name.clone(),
    }
}

impl Store {
    /// Makes sure `user` exists, on `partition` (from the directory) or the
    /// default one, with an INBOX. A user's partition is fixed at first use.
    pub fn ensure_user(&self, user: &str, partition: Option<&str>) -> Result<()> {
        if user.is_empty() || user.contains('\0') {
            return Err(StoreError::Invalid(format!("bad user id {user:?}")));
        }
        // Checked under the lock only: the user is listed (below) before
        // the INBOX is committed, so an unlocked check could let a
        // concurrent first delivery find the user but not its INBOX.
        let _ns = lock(&self.inner.ns_lock);
        if self.user_partition(user)?.is_some() {
            return Ok(());
        }
        let part = partition
            .unwrap_or(&self.inner.cfg.default_partition)
            .to_string();
        self.partition_root(&part)?;
        let mut ops = vec![Op::put_json(
            Cf::Meta,
            key::user(user),
            &UserRecord {
                partition: part.clone(),
            },
        )];
        lock(&self.inner.users).insert(user.to_string(), part);
        let (_, more) = self.create_locked(user, "INBOX", None)?;
        ops.extend(more);
        let res = self.commit(ops, Vec::new()).wait();
        if res.is_err() {
            lock(&self.inner.users).remove(user);
        }
        res
    }

    /// Creates the folder directory and returns the rows of a new mailbox.
    /// Caller holds the namespace lock and commits the ops.
    fn create_locked(
        &self,
        owner: &str,
        name: &str,
        special_use: Option<SpecialUse>,
    ) -> Result<(u64, Vec<Op>)> {
        let last: u64 = self
            .inner
            .db
            .get_json(Cf::Meta, key::MAILBOX_COUNTER)?
            .unwrap_or(0);
        let id = last + 1;
        let uidvalidity = self.next_uidvalidity();
        let rec = MailboxRecord {
            id,
            owner: owner.to_string(),
            name: name.to_string(),
            uidvalidity,
            uidnext: 1,
            highestmodseq: 1,
            exists: 0,
            seen: 0,
            bytes: 0,
            recent_uid: 1,
            hashed: false,
            special_use,
            acl: BTreeMap::new(),
        };
        let dir = self.folder_dir(&rec)?;
        fsutil::mkdir_durable(&dir)?;
        self.write_meta(&rec)?;
        // The counter is written now (not in the batch) so a second create
        // under the same lock, before the commit, gets a new id.
        self.inner.db.db.put_cf(
            crate::db::cf_handle(&self.inner.db.db, Cf::Meta)?,
            key::MAILBOX_COUNTER,
            id.to_string(),
        )?;
        let ops = vec![
            Op::put_json(Cf::Meta, key::mailbox(id), &rec),
            Op::Put(Cf::Meta, key::name(owner, name), id.to_be_bytes().to_vec()),
            Op::Put(
                Cf::Meta,
                key::MAILBOX_COUNTER.to_vec(),
                id.to_string().into_bytes(),
            ),
        ];
        Ok((id, ops))
    }

    /// Writes the folder's `.meta` so reconstruct keeps UIDVALIDITY, special-use and ACL.
    pub(crate) fn write_meta(&self, rec: &MailboxRecord) -> Result<()> {
        let meta = FolderMeta {
            uidvalidity: rec.uidvalidity,
            special_use: rec.special_use,
            acl: rec.acl.clone(),
        };
        let data = serde_json::to_vec(&meta).map_err(|e| StoreError::Invalid(e.to_string()))?;
        fsutil::write_atomic(&self.folder_dir(rec)?.join(".meta"), &data)
    }

    /// Creates a mailbox (and missing parents) in the acting user's own tree.
    pub fn create_mailbox(
        &self,
        user: &str,
        name: &str,
        special_use: Option<SpecialUse>,
    ) -> Result<()> {
        let name = normalize_name(name)?;
        self.ensure_user(user, None)?;
        let _ns = lock(&self.inner.ns_lock);
        if self.mailbox_id(user, &name)?.is_some() {
            return Err(StoreError::MailboxExists {
                owner: user.to_string(),
                name,
            });
        }
        self.create_with_parents(user, &name, special_use)
    }

    fn create_with_parents(
        &self,
        owner: &str,
        name: &str,
        special_use: Option<SpecialUse>,
    ) -> Result<()> {
        let comps: Vec<&str> = name.split('/').collect();
        for i in 1..comps.len() {
            let parent = comps[..i].join("/");
            if self.mailbox_id(owner, &parent)?.is_none() {
                let (_, ops) = self.create_locked(owner, &parent, None)?;
                self.commit(ops, Vec::new()).wait()?;
            }
        }
        let (_, ops) = self.create_locked(owner, name, special_use)?;
        self.commit(ops, Vec::new()).wait()?;
        self.notify_user(owner);
        Ok(())
    }

    /// Deletes a mailbox, its rows and its files. INBOX and mailboxes with
    /// children are refused (see docs/store.md).
    pub fn delete_mailbox(&self, user: &str, path: &MailboxPath) -> Result<()> {
        let name = normalize_name(&path.name)?;
        if name == "INBOX" {
            return Err(StoreError::InvalidName(name));
        }
        let _ns = lock(&self.inner.ns_lock);
        let id = self
            .mailbox_id(&path.owner, &name)?
            .ok_or_else(|| not_found(path))?;
        let st = self.state(id)?;
        let rec = lock(&st).rec.clone();
        let rights = rights_of(&rec, user);
        if !rights.has('x') {
            return Err(if rights.has('l') {
                StoreError::PermissionDenied {
                    user: user.into(),
                    right: 'x',
                    mailbox: name,
                }
            } else {
                not_found(path)
            });
        }
        let child_prefix = format!("{name}/");
        if self
            .names_of(&path.owner)?
            .iter()
            .any(|n| n.starts_with(&child_prefix))
        {
            return Err(StoreError::HasChildren(name));
        }
        let dir = self.folder_dir(&rec)?;
        let q = self.quota_state(&rec.owner)?;
        let mut qg = lock(&q);
        let mut g = lock(&st);
        let mut ops = vec![
            Op::Delete(Cf::Meta, key::mailbox(id)),
            Op::Delete(Cf::Meta, key::name(&rec.owner, &name)),
            Op::Delete(Cf::Meta, key::resv(id)),
        ];
        for cf in [Cf::Index, Cf::Cache, Cf::Seen] {
            ops.push(Op::DeleteRange(
                cf,
                id.to_be_bytes().to_vec(),
                key::rows_end(id),
            ));
        }
        for grantee in rec.acl.keys() {
            ops.push(Op::Delete(Cf::Meta, key::shared(grantee, &rec.owner, id)));
        }
        // Every message goes with the mailbox: one tombstone for them all.
        let mut gone = Vec::new();
        for (k, v) in self
            .inner
            .db
            .range(Cf::Cache, &id.to_be_bytes(), &key::rows_end(id))?
        {
            let c: crate::cache::CachedMessage = crate::db::decode(&k, &v)?;
            gone.push((key::uid_suffix(&k), c.digest));
        }
        if !gone.is_empty() {
            ops.push(self.tombstone_op(id, &rec.owner, g.rec.highestmodseq + 1, gone));
        }
        let mut quota = qg.clone();
        quota.bytes = quota.bytes.saturating_sub(g.rec.bytes);
        quota.messages = quota.messages.saturating_sub(u64::from(g.rec.exists));
        crate::quota::rearm_warning(&mut quota, self.inner.cfg.quota.warn_percent);
        ops.push(Op::put_json(Cf::Meta, key::quota(&rec.owner), &quota));
        let (uops, list) = self.pending_unlinks(vec![PendingUnlink {
            path: dir.clone(),
            tree: true,
        }]);
        ops.extend(uops);
        let ticket = self.commit(ops, Vec::new());
        g.gone = true;
        *qg = quota;
        drop(g);
        drop(qg);
        ticket.wait()?;
        lock(&self.inner.mailboxes).remove(&id);
        self.notify(id, MailboxEvent::Gone);
        self.notify_user(&rec.owner);
        // Waited on, under the namespace lock, so no mailbox of the same
        // name can be created while a replayable unlink still points there.
        let mut ops = Vec::new();
        for (seq, p) in list {
            crate::engine::remove_pending(&p)?;
            ops.push(Op::Delete(Cf::Meta, key::unlink(seq)));
        }
        self.commit(ops, Vec::new()).wait()
    }

    /// Renames a mailbox and its children (the directory moves; UIDs,
    /// UIDVALIDITY and flags stay). INBOX cannot be renamed here.
    pub fn rename_mailbox(&self, user: &str, from: &str, to: &str) -> Result<()> {
        let from = normalize_name(from)?;
        let to = normalize_name(to)?;
        if from == "INBOX" || to == "INBOX" || to.starts_with(&format!("{from}/")) {
            return Err(StoreError::InvalidName(to));
        }
        let _ns = lock(&self.inner.ns_lock);
        let path = MailboxPath::new(user, &from);
        self.mailbox_id(user, &from)?
            .ok_or_else(|| not_found(&path))?;
        if self.mailbox_id(user, &to)?.is_some() {
            return Err(StoreError::MailboxExists {
                owner: user.into(),
                name: to,
            });
        }
        if let Some((parent, _)) = to.rsplit_once('/')
            && self.mailbox_id(user, parent)?.is_none()
        {
            self.create_with_parents(user, parent, None)?;
        }
        let prefix = format!("{from}/");
        let mut affected = Vec::new();
        for n in self.names_of(user)? {
            if (n == from || n.starts_with(&prefix))
                && let Some(id) = self.mailbox_id(user, &n)?
            {
                affected.push((id, n));
            }
        }
        affected.sort();
        let states: Vec<_> = affected
            .iter()
            .map(|(id, _)| self.state(*id))
            .collect::<Result<_>>()?;
        let mut guards: Vec<_> = states.iter().map(|s| lock(s)).collect();
        let old_dir = self.folder_dir(&guards[0].rec)?;
        let mut probe = guards[0].rec.clone();
        probe.name = to.clone();
        let new_dir = self.folder_dir(&probe)?;
        std::fs::rename(&old_dir, &new_dir).map_err(|e| StoreError::io(&new_dir, e))?;
        let mut dirs = Vec::new();
        for d in [&old_dir, &new_dir] {
            if let Some(p) = d.parent() {
                dirs.push(p.to_path_buf());
            }
        }
        let mut ops = Vec::new();
        let mut new_recs = Vec::new();
        for (g, (id, n)) in guards.iter().zip(&affected) {
            let mut rec = g.rec.clone();
            rec.name = format!("{to}{}", &n[from.len()..]);
            ops.push(Op::Delete(Cf::Meta, key::name(user, n)));
            ops.push(Op::Put(
                Cf::Meta,
                key::name(user, &rec.name),
                id.to_be_bytes().to_vec(),
            ));
            ops.push(Op::put_json(Cf::Meta, key::mailbox(*id), &rec));
            new_recs.push(rec);
        }
        if let Err(e) = self.commit(ops, dirs).wait() {
            let _ = std::fs::rename(&new_dir, &old_dir);
            return Err(e);
        }
        for (g, rec) in guards.iter_mut().zip(new_recs) {
            g.rec = rec;
        }
        drop(guards);
        for (id, _) in affected {
            self.notify(id, MailboxEvent::Gone);
        }
        self.notify_user(user);
        Ok(())
    }

    /// Names of every mailbox `owner` has.
    pub(crate) fn names_of(&self, owner: &str) -> Result<Vec<String>> {
        let prefix = key::names_of(owner);
        Ok(self
            .inner
            .db
            .scan(Cf::Meta, &prefix)?
            .into_iter()
            .map(|(k, _)| String::from_utf8_lossy(&k[prefix.len()..]).into_owned())
            .collect())
    }

    pub(crate) fn record(&self, owner: &str, name: &str) -> Result<Option<MailboxRecord>> {
        match self.mailbox_id(owner, name)? {
            Some(id) => {
                let st = self.state(id)?;
                let rec = lock(&st).rec.clone();
                Ok(Some(rec))
            }
            None => Ok(None),
        }
    }

    /// Every mailbox `user` may see: their own tree, then mailboxes others
    /// shared with them (or with `anyone`) granting `l`.
    pub fn list(&self, user: &str) -> Result<Vec<MailboxInfo>> {
        let subs: BTreeSet<MailboxPath> = self.subscriptions(user)?.into_iter().collect();
        let mut out = Vec::new();
        let own = self.names_of(user)?;
        for n in &own {
            if let Some(rec) = self.record(user, n)? {
                out.push(info(&rec, &own, &subs));
            }
        }
        let mut shared = BTreeSet::new();
        for grantee in [user, ANYONE] {
            for (k, _) in self.inner.db.scan(Cf::Meta, &key::shared_to(grantee))? {
                shared.insert(key::id_suffix(&k));
            }
        }
        for id in shared {
            let Ok(st) = self.state(id) else { continue };
            let rec = lock(&st).rec.clone();
            if rec.owner != user && rights_of(&rec, user).has('l') {
                let names = self.names_of(&rec.owner)?;
                out.push(info(&rec, &names, &subs));
            }
        }
        Ok(out)
    }

    /// Adds a subscription (RFC 3501 SUBSCRIBE); the mailbox need not exist.
    pub fn subscribe(&self, user: &str, path: &MailboxPath) -> Result<()> {
        let name = normalize_name(&path.name)?;
        self.commit(
            vec![Op::Put(
                Cf::Meta,
                key::sub(user, &path.owner, &name),
                Vec::new(),
            )],
            Vec::new(),
        )
        .wait()?;
        self.notify_user(user);
        Ok(())
    }

    /// Removes a subscription.
    pub fn unsubscribe(&self, user: &str, path: &MailboxPath) -> Result<()> {
        let name = normalize_name(&path.name)?;
        self.commit(
            vec![Op::Delete(Cf::Meta, key::sub(user, &path.owner, &name))],
            Vec::new(),
        )
        .wait()?;
        self.notify_user(user);
        Ok(())
    }

    /// The user's subscriptions (LSUB).
    pub fn subscriptions(&self, user: &str) -> Result<Vec<MailboxPath>> {
        let prefix = key::subs_of(user);
        let mut out = Vec::new();
        for (k, _) in self.inner.db.scan(Cf::Meta, &prefix)? {
            let rest = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            if let Some((owner, name)) = rest.split_once('\0') {
                out.push(MailboxPath::new(owner, name));
            }
        }
        Ok(out)
    }

    /// Opens a mailbox for `user`: requires `r` (RFC 4314 SELECT/EXAMINE).
    /// A mailbox the user may not even `l`ook up is reported as missing.
    pub fn open_mailbox(&self, user: &str, path: &MailboxPath) -> Result<MailboxHandle> {
        let name = normalize_name(&path.name)?;
        let rec = self
            .record(&path.owner, &name)?
            .ok_or_else(|| not_found(path))?;
        let rights = rights_of(&rec, user);
        if !rights.has('r') {
            return Err(if rights.has('l') {
                StoreError::PermissionDenied {
                    user: user.into(),
                    right: 'r',
                    mailbox: name,
                }
            } else {
                not_found(path)
            });
        }
        Ok(MailboxHandle {
            id: rec.id,
            path: MailboxPath::new(&path.owner, name),
            user: user.to_string(),
            rights,
            uidvalidity: rec.uidvalidity,
        })
    }

    /// SETACL / DELETEACL (`rights = None`). Needs `a`.
    pub fn set_acl(
        &self,
        user: &str,
        path: &MailboxPath,
        identifier: &str,
        rights: Option<Rights>,
    ) -> Result<()> {
        self.update_record(user, path, 'a', |rec| {
            match rights {
                Some(r) if !r.is_empty() => {
                    rec.acl.insert(identifier.to_string(), r);
                }
                _ => {
                    rec.acl.remove(identifier);
                }
            }
            let k = key::shared(identifier, &rec.owner, rec.id);
            if rec.acl.contains_key(identifier) {
                vec![Op::Put(Cf::Meta, k, Vec::new())]
            } else {
                vec![Op::Delete(Cf::Meta, k)]
            }
        })
    }

    /// GETACL: the explicit entries (the owner's implicit full rights are not listed).
    pub fn get_acl(&self, user: &str, path: &MailboxPath) -> Result<BTreeMap<String, Rights>> {
        let rec = self.checked_record(user, path, 'a')?;
        Ok(rec.acl)
    }

    /// MYRIGHTS.
    pub fn my_rights(&self, user: &str, path: &MailboxPath) -> Result<Rights> {
        let name = normalize_name(&path.name)?;
        let rec = self
            .record(&path.owner, &name)?
            .ok_or_else(|| not_found(path))?;
        let r = rights_of(&rec, user);
        if r.is_empty() {
            Err(not_found(path))
        } else {
            Ok(r)
        }
    }

    /// Sets or clears the RFC 6154 special-use attribute (owner only).
    pub fn set_special_use(
        &self,
        user: &str,
        path: &MailboxPath,
        special_use: Option<SpecialUse>,
    ) -> Result<()> {
        if user != path.owner {
            return Err(StoreError::PermissionDenied {
                user: user.into(),
                right: 'a',
                mailbox: path.name.clone(),
            });
        }
        self.update_record(user, path, 'a', |rec| {
            rec.special_use = special_use;
            Vec::new()
        })
    }

    fn checked_record(&self, user: &str, path: &MailboxPath, right: char) -> Result<MailboxRecord> {
        let name = normalize_name(&path.name)?;
        let rec = self
            .record(&path.owner, &name)?
            .ok_or_else(|| not_found(path))?;
        let rights = rights_of(&rec, user);
        if !rights.has(right) {
            return Err(if rights.has('l') {
                StoreError::PermissionDenied {
                    user: user.into(),
                    right,
                    mailbox: name,
                }
            } else {
                not_found(path)
            });
        }
        Ok(rec)
    }

    /// Applies `f` to a mailbox record under the namespace and mailbox locks,
    /// then rewrites `.meta` and commits.
    fn update_record(
        &self,
        user: &str,
        path: &MailboxPath,
        right: char,
        f: impl FnOnce(&mut MailboxRecord) -> Vec<Op>,
    ) -> Result<()> {
        let _ns = lock(&self.inner.ns_lock);
        let rec = self.checked_record(user, path, right)?;
        let st: Arc<_> = self.state(rec.id)?;
        let mut g = lock(&st);
        let mut rec = g.rec.clone();
        let mut ops = f(&mut rec);
        self.write_meta(&rec)?;
        ops.push(Op::put_json(Cf::Meta, key::mailbox(rec.id), &rec));
        let ticket = self.commit(ops, Vec::new());
        let owner = rec.owner.clone();
        g.rec = rec;
        drop(g);
        ticket.wait()?;
        self.notify_user(&owner);
        Ok(())
    }
}

pub(crate) fn info(
    rec: &MailboxRecord,
    names: &[String],
    subs: &BTreeSet<MailboxPath>,
) -> MailboxInfo {
    let prefix = format!("{}/", rec.name);
    let path = MailboxPath::new(&rec.owner, &rec.name);
    MailboxInfo {
        id: rec.id,
        special_use: rec.special_use,
        subscribed: subs.contains(&path),
        has_children: names.iter().any(|n| n.starts_with(&prefix)),
        uidvalidity: rec.uidvalidity,
        path,
    }
}
