//! `reconstruct`: rebuilds the system area of a user (or all users) from
//! the user area, like the classic store's `reconstruct` utility.
//!
//! The user area alone holds the folders (directories), the messages
//! (`N.msg`, so UIDs survive), their sizes and internal dates (file
//! mtime), and per folder UIDVALIDITY, special-use and ACL (`.meta`).
//! Flags and MODSEQs live only in the system area: they are kept where the
//! old rows still exist and start empty otherwise. Run it while the user is
//! idle (no session or delivery in progress for that user).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::Path;

use crate::cache;
use crate::db::{Cf, Op, key};
use crate::engine::{Store, lock};
use crate::error::{Result, StoreError};
use crate::layout;
use crate::records::{FolderMeta, IndexRecord, MailboxRecord, QuotaRecord, UserRecord};
use crate::types::SEEN;

/// Which users to reconstruct.
#[derive(Debug, Clone)]
pub enum Scope {
    /// One user.
    User(String),
    /// Every user found in any partition's user area.
    All,
}

/// What a reconstruct did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconstructReport {
    /// Users rebuilt.
    pub users: usize,
    /// Mailboxes found.
    pub mailboxes: usize,
    /// Messages indexed.
    pub messages: usize,
}

struct Folder {
    name: String,
    meta: Option<FolderMeta>,
    files: Vec<(u32, String)>,
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<Folder>) -> Result<()> {
    let mut folder = Folder {
        name: prefix.to_string(),
        meta: None,
        files: Vec::new(),
    };
    let rd = fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))?;
    let mut children = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| StoreError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if path.is_dir() {
            if layout::is_hash_dir(&name) {
                for f in fs::read_dir(&path)
                    .map_err(|e| StoreError::io(&path, e))?
                    .flatten()
                {
                    let fname = f.file_name().to_string_lossy().into_owned();
                    if let Some(uid) = layout::parse_message_name(&fname) {
                        folder.files.push((uid, format!("{name}/{fname}")));
                    }
                }
            } else if let Some(child) = layout::decode(&name) {
                children.push((child, path));
            }
        } else if name == ".meta" {
            folder.meta = fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
        } else if let Some(uid) = layout::parse_message_name(&name) {
            folder.files.push((uid, name));
        }
    }
    if !prefix.is_empty() {
        folder.files.sort();
        out.push(folder);
    }
    for (child, path) in children {
        let name = if prefix.is_empty() {
            child
        } else {
            format!("{prefix}/{child}")
        };
        walk(&path, &name, out)?;
    }
    Ok(())
}

impl Store {
    /// Rebuilds the mailbox list, index and cache from the user area.
    pub fn reconstruct(&self, scope: Scope) -> Result<ReconstructReport> {
        let users: Vec<(String, String)> = match scope {
            Scope::User(u) => {
                let part = match self.user_partition(&u)? {
                    Some(p) => p,
                    None => self.find_partition(&u)?,
                };
                vec![(u, part)]
            }
            Scope::All => self.users_on_disk()?,
        };
        let mut report = ReconstructReport::default();
        for (user, part) in users {
            let (m, n) = self.reconstruct_user(&user, &part)?;
            report.users += 1;
            report.mailboxes += m;
            report.messages += n;
        }
        Ok(report)
    }

    fn find_partition(&self, user: &str) -> Result<String> {
        for (name, root) in &self.inner.cfg.partitions {
            if layout::user_dir(root, user).is_dir() {
                return Ok(name.clone());
            }
        }
        Err(StoreError::MailboxNotFound {
            owner: user.into(),
            name: "INBOX".into(),
        })
    }

    fn users_on_disk(&self) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for (part, root) in &self.inner.cfg.partitions {
            let users = layout::users_dir(root);
            for h1 in fs::read_dir(&users)
                .map_err(|e| StoreError::io(&users, e))?
                .flatten()
            {
                for h2 in fs::read_dir(h1.path()).into_iter().flatten().flatten() {
                    for u in fs::read_dir(h2.path()).into_iter().flatten().flatten() {
                        if let Some(user) = layout::decode(&u.file_name().to_string_lossy()) {
                            out.push((user, part.clone()));
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    fn reconstruct_user(&self, user: &str, part: &str) -> Result<(usize, usize)> {
        let _ns = lock(&self.inner.ns_lock);
        let root = self.partition_root(part)?.to_path_buf();
        let udir = layout::user_dir(&root, user);
        let mut folders = Vec::new();
        if udir.is_dir() {
            walk(&udir, "", &mut folders)?;
        }
        let mut old: HashMap<String, MailboxRecord> = HashMap::new();
        for name in self.names_of(user)? {
            if let Some(id) = self.mailbox_id(user, &name)?
                && let Some(rec) = self
                    .inner
                    .db
                    .get_json::<MailboxRecord>(Cf::Meta, &key::mailbox(id))?
            {
                old.insert(name, rec);
            }
        }
        let mut ops = vec![Op::put_json(
            Cf::Meta,
            key::user(user),
            &UserRecord {
                partition: part.to_string(),
            },
        )];
        for rec in old.values() {
            ops.push(Op::Delete(Cf::Meta, key::mailbox(rec.id)));
            ops.push(Op::Delete(Cf::Meta, key::name(user, &rec.name)));
            for grantee in rec.acl.keys() {
                ops.push(Op::Delete(Cf::Meta, key::shared(grantee, user, rec.id)));
            }
            let keep = folders.iter().any(|f| f.name == rec.name);
            let cfs: &[Cf] = if keep {
                &[Cf::Index, Cf::Cache]
            } else {
                &[Cf::Index, Cf::Cache, Cf::Seen]
            };
            for cf in cfs {
                ops.push(Op::DeleteRange(
                    *cf,
                    rec.id.to_be_bytes().to_vec(),
                    key::rows_end(rec.id),
                ));
            }
        }
        let mut counter: u64 = self
            .inner
            .db
            .get_json(Cf::Meta, key::MAILBOX_COUNTER)?
            .unwrap_or(0);
        let mut quota: QuotaRecord = self
            .inner
            .db
            .get_json(Cf::Meta, &key::quota(user))?
            .unwrap_or_default();
        quota.bytes = 0;
        quota.messages = 0;
        let mut messages = 0;
        let mut mailboxes = 0;
        for f in &folders {
            let prev = old.get(&f.name);
            let id = match prev {
                Some(p) => p.id,
                None => {
                    counter += 1;
                    counter
                }
            };
            let uidvalidity = f
                .meta
                .as_ref()
                .map(|m| m.uidvalidity)
                .or(prev.map(|p| p.uidvalidity))
                .unwrap_or_else(|| self.next_uidvalidity());
            let same = prev.is_some_and(|p| p.uidvalidity == uidvalidity);
            let old_rows: BTreeMap<u32, IndexRecord> = if same {
                self.inner
                    .db
                    .scan(Cf::Index, &id.to_be_bytes())?
                    .into_iter()
                    .filter_map(|(k, v)| {
                        Some((key::uid_suffix(&k), serde_json::from_slice(&v).ok()?))
                    })
                    .collect()
            } else {
                BTreeMap::new()
            };
            let dir = layout::folder_dir(&root, user, &f.name);
            let mut rec = MailboxRecord {
                id,
                owner: user.to_string(),
                name: f.name.clone(),
                uidvalidity,
                uidnext: 1,
                highestmodseq: 1,
                exists: 0,
                seen: 0,
                bytes: 0,
                recent_uid: prev.map_or(1, |p| p.recent_uid),
                hashed: false,
                special_use: f.meta.as_ref().and_then(|m| m.special_use),
                acl: f.meta.as_ref().map(|m| m.acl.clone()).unwrap_or_default(),
            };
            if same {
                rec.uidnext = prev.map_or(1, |p| p.uidnext);
                rec.highestmodseq = prev.map_or(1, |p| p.highestmodseq);
            }
            for (uid, rel) in &f.files {
                let path = dir.join(rel);
                let md = fs::metadata(&path).map_err(|e| StoreError::io(&path, e))?;
                let data = fs::read(&path).map_err(|e| StoreError::io(&path, e))?;
                let internal_date = md
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_secs() as i64);
                let kept = old_rows.get(uid);
                let row = IndexRecord {
                    file: rel.clone(),
                    size: md.len(),
                    internal_date,
                    flags: kept.map(|r| r.flags.clone()).unwrap_or_default(),
                    modseq: kept.map_or(1, |r| r.modseq),
                };
                rec.uidnext = rec.uidnext.max(uid + 1);
                rec.highestmodseq = rec.highestmodseq.max(row.modseq);
                rec.exists += 1;
                rec.bytes += row.size;
                rec.hashed |= rel.contains('/');
                if row.flags.contains(SEEN) {
                    rec.seen += 1;
                }
                let c = cache::parse(&data, &self.inner.cfg.cached_headers);
                ops.push(Op::put_json(Cf::Index, key::row(id, *uid), &row));
                ops.push(Op::put_json(Cf::Cache, key::row(id, *uid), &c));
                messages += 1;
            }
            rec.highestmodseq += 1;
            quota.bytes += rec.bytes;
            quota.messages += u64::from(rec.exists);
            for grantee in rec.acl.keys() {
                ops.push(Op::Put(
                    Cf::Meta,
                    key::shared(grantee, user, id),
                    Vec::new(),
                ));
            }
            ops.push(Op::Put(
                Cf::Meta,
                key::name(user, &rec.name),
                id.to_be_bytes().to_vec(),
            ));
            ops.push(Op::put_json(Cf::Meta, key::mailbox(id), &rec));
            mailboxes += 1;
        }
        ops.push(Op::Put(
            Cf::Meta,
            key::MAILBOX_COUNTER.to_vec(),
            counter.to_string().into_bytes(),
        ));
        ops.push(Op::put_json(Cf::Meta, key::quota(user), &quota));
        self.commit(ops, Vec::new()).wait()?;
        self.forget_user(user);
        Ok((mailboxes, messages))
    }
}
