//! The system area: RocksDB column families and key layout.
//!
//! | column family | key | value |
//! |---|---|---|
//! | `meta` | `u/<user>` | [`crate::records::UserRecord`] |
//! | `meta` | `mb/<id>` | [`crate::records::MailboxRecord`] |
//! | `meta` | `mn/<owner>\0<name>` | mailbox id |
//! | `meta` | `sh/<grantee>\0<owner>\0<id>` | (shared-mailbox index for LIST) |
//! | `meta` | `sub/<user>\0<owner>\0<name>` | (subscription) |
//! | `meta` | `q/<user>` | [`crate::records::QuotaRecord`] |
//! | `meta` | `rv/<id>` | UID reservation (crash recovery) |
//! | `meta` | `ul/<seq>` | pending unlink (after expunge/delete) |
//! | `meta` | `ctr/mailbox` | last mailbox id |
//! | `index` | `<id><uid>` | [`crate::records::IndexRecord`] |
//! | `cache` | `<id><uid>` | [`crate::cache::CachedMessage`] |
//! | `seen` | `<id><user>\0<uid>` | (per-user `\Seen` in shared mailboxes) |
//!
//! Integers are big-endian so keys sort numerically and a mailbox's rows are
//! one contiguous range. Values are JSON: readable in a debugger, and the
//! rows are small.

use std::path::Path;
use std::sync::Arc;

use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Result, StoreError};

/// The column families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cf {
    Meta,
    Index,
    Cache,
    Seen,
}

impl Cf {
    pub(crate) const ALL: [Cf; 4] = [Cf::Meta, Cf::Index, Cf::Cache, Cf::Seen];
    pub(crate) fn name(self) -> &'static str {
        match self {
            Cf::Meta => "meta",
            Cf::Index => "index",
            Cf::Cache => "cache",
            Cf::Seen => "seen",
        }
    }
}

/// One write, applied in order inside a group-commit batch.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Put(Cf, Vec<u8>, Vec<u8>),
    Delete(Cf, Vec<u8>),
    DeleteRange(Cf, Vec<u8>, Vec<u8>),
}

impl Op {
    pub(crate) fn put_json<T: Serialize>(cf: Cf, key: Vec<u8>, v: &T) -> Op {
        Op::Put(cf, key, serde_json::to_vec(v).unwrap_or_default())
    }
}

/// The opened system area, with the options kept for statistics.
pub(crate) struct Db {
    pub(crate) db: DB,
    pub(crate) opts: Options,
    /// Kept so the block cache outlives every table reader using it.
    pub(crate) _cache: Cache,
}

pub(crate) fn cf_options(cache: &Cache) -> Options {
    let mut bbo = BlockBasedOptions::default();
    bbo.set_block_cache(cache);
    bbo.set_bloom_filter(10.0, false);
    let mut o = Options::default();
    o.set_block_based_table_factory(&bbo);
    o
}

impl Db {
    /// Opens (creating if needed) the system area.
    pub(crate) fn open(path: &Path, block_cache: u64) -> Result<Arc<Db>> {
        let cache = Cache::new_lru_cache(usize::try_from(block_cache).unwrap_or(usize::MAX));
        let mut opts = cf_options(&cache);
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.enable_statistics();
        opts.set_max_background_jobs(2);
        let cfs = Cf::ALL
            .iter()
            .map(|cf| ColumnFamilyDescriptor::new(cf.name(), cf_options(&cache)));
        let db = DB::open_cf_descriptors(&opts, path, cfs)?;
        Ok(Arc::new(Db {
            db,
            opts,
            _cache: cache,
        }))
    }

    /// Opens a snapshot's checkpoint read-only (restore of one user).
    pub(crate) fn open_read_only(path: &Path) -> Result<DB> {
        let opts = Options::default();
        let names = Cf::ALL.iter().map(|c| c.name());
        Ok(DB::open_cf_for_read_only(&opts, path, names, false)?)
    }

    pub(crate) fn get_json<T: DeserializeOwned>(&self, cf: Cf, key: &[u8]) -> Result<Option<T>> {
        get_json(&self.db, cf, key)
    }

    pub(crate) fn scan(&self, cf: Cf, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        scan(&self.db, cf, prefix)
    }

    /// Rows with `from <= key < to`.
    pub(crate) fn range(&self, cf: Cf, from: &[u8], to: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let handle = cf_handle(&self.db, cf)?;
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(handle, IteratorMode::From(from, Direction::Forward))
        {
            let (k, v) = item?;
            if &*k >= to {
                break;
            }
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    /// Rows of several ascending, disjoint key ranges through one iterator.
    /// Creating a RocksDB iterator costs far more than stepping one, and a
    /// UID list with holes (expunged messages) is one range per UID; after
    /// a range the iterator already sits on the next row, so it only seeks
    /// when rows outside the ranges lie in between.
    pub(crate) fn ranges(
        &self,
        cf: Cf,
        bounds: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let handle = cf_handle(&self.db, cf)?;
        let mut it = self.db.raw_iterator_cf(handle);
        let mut out = Vec::new();
        for (from, to) in bounds {
            if !(it.valid() && it.key().is_some_and(|k| k >= from.as_slice())) {
                it.seek(from);
            }
            while let (Some(k), Some(v)) = (it.key(), it.value()) {
                if k >= to.as_slice() {
                    break;
                }
                out.push((k.to_vec(), v.to_vec()));
                it.next();
            }
            it.status()?;
        }
        Ok(out)
    }
}

pub(crate) fn cf_handle(db: &DB, cf: Cf) -> Result<&rocksdb::ColumnFamily> {
    db.cf_handle(cf.name())
        .ok_or_else(|| StoreError::Db(format!("missing column family {}", cf.name())))
}

pub(crate) fn get_json<T: DeserializeOwned>(db: &DB, cf: Cf, key: &[u8]) -> Result<Option<T>> {
    match db.get_pinned_cf(cf_handle(db, cf)?, key)? {
        None => Ok(None),
        Some(v) => decode(key, &v).map(Some),
    }
}

pub(crate) fn decode<T: DeserializeOwned>(key: &[u8], v: &[u8]) -> Result<T> {
    serde_json::from_slice(v).map_err(|e| StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        message: e.to_string(),
    })
}

/// Every row whose key starts with `prefix`.
pub(crate) fn scan(db: &DB, cf: Cf, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let handle = cf_handle(db, cf)?;
    let mut out = Vec::new();
    for item in db.iterator_cf(handle, IteratorMode::From(prefix, Direction::Forward)) {
        let (k, v) = item?;
        if !k.starts_with(prefix) {
            break;
        }
        out.push((k.to_vec(), v.to_vec()));
    }
    Ok(out)
}

/// Key builders.
pub(crate) mod key {
    pub(crate) fn user(user: &str) -> Vec<u8> {
        [b"u/", user.as_bytes()].concat()
    }
    pub(crate) fn mailbox(id: u64) -> Vec<u8> {
        [b"mb/".as_slice(), &id.to_be_bytes()].concat()
    }
    pub(crate) fn name(owner: &str, name: &str) -> Vec<u8> {
        [b"mn/", owner.as_bytes(), b"\0", name.as_bytes()].concat()
    }
    pub(crate) fn names_of(owner: &str) -> Vec<u8> {
        [b"mn/", owner.as_bytes(), b"\0"].concat()
    }
    pub(crate) fn shared(grantee: &str, owner: &str, id: u64) -> Vec<u8> {
        [
            b"sh/",
            grantee.as_bytes(),
            b"\0",
            owner.as_bytes(),
            b"\0",
            &id.to_be_bytes(),
        ]
        .concat()
    }
    pub(crate) fn shared_to(grantee: &str) -> Vec<u8> {
        [b"sh/", grantee.as_bytes(), b"\0"].concat()
    }
    pub(crate) fn sub(user: &str, owner: &str, name: &str) -> Vec<u8> {
        [
            b"sub/",
            user.as_bytes(),
            b"\0",
            owner.as_bytes(),
            b"\0",
            name.as_bytes(),
        ]
        .concat()
    }
    pub(crate) fn subs_of(user: &str) -> Vec<u8> {
        [b"sub/", user.as_bytes(), b"\0"].concat()
    }
    pub(crate) fn quota(user: &str) -> Vec<u8> {
        [b"q/", user.as_bytes()].concat()
    }
    pub(crate) fn resv(id: u64) -> Vec<u8> {
        [b"rv/".as_slice(), &id.to_be_bytes()].concat()
    }
    pub(crate) fn unlink(seq: u64) -> Vec<u8> {
        [b"ul/".as_slice(), &seq.to_be_bytes()].concat()
    }
    pub(crate) const MAILBOX_COUNTER: &[u8] = b"ctr/mailbox";
    pub(crate) fn row(id: u64, uid: u32) -> Vec<u8> {
        [id.to_be_bytes().as_slice(), &uid.to_be_bytes()].concat()
    }
    /// First key after every row of mailbox `id`.
    pub(crate) fn rows_end(id: u64) -> Vec<u8> {
        [id.to_be_bytes().as_slice(), &[0xff; 5]].concat()
    }
    pub(crate) fn seen(id: u64, user: &str, uid: u32) -> Vec<u8> {
        [
            id.to_be_bytes().as_slice(),
            user.as_bytes(),
            b"\0",
            &uid.to_be_bytes(),
        ]
        .concat()
    }
    pub(crate) fn seen_of(id: u64, user: &str) -> Vec<u8> {
        [id.to_be_bytes().as_slice(), user.as_bytes(), b"\0"].concat()
    }
    /// UID at the end of a row or seen key.
    pub(crate) fn uid_suffix(k: &[u8]) -> u32 {
        let n = k.len();
        if n < 4 {
            return 0;
        }
        u32::from_be_bytes([k[n - 4], k[n - 3], k[n - 2], k[n - 1]])
    }
    /// Mailbox id at the start of a row key, or at the end of an `sh/` key.
    pub(crate) fn id_prefix(k: &[u8]) -> u64 {
        let mut b = [0u8; 8];
        if k.len() >= 8 {
            b.copy_from_slice(&k[..8]);
        }
        u64::from_be_bytes(b)
    }
    pub(crate) fn id_suffix(k: &[u8]) -> u64 {
        let mut b = [0u8; 8];
        if k.len() >= 8 {
            b.copy_from_slice(&k[k.len() - 8..]);
        }
        u64::from_be_bytes(b)
    }
}
