//! The job controller's durable state: one RocksDB record per job (the
//! protobuf `Job`), one per delivery attempt, and one per job an operator
//! deleted whose relay has not yet removed the queue file ([`Tombstone`]).
//!
//! Writes go to the WAL without waiting for the disk; whoever answers a
//! relay or worker calls [`WalSync::sync`] first, so what a caller was told
//! is never forgotten. The schedule writes under its lock, and syncing
//! there would serialise every fsync (and stall the runtime thread waiting
//! for the lock); instead the syncs happen after the lock is released and
//! concurrent ones are grouped: one fsync covers every write made before
//! it started (group commit).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use mail_proto::jobctl::v1::{Attempt, Job};
use prost::Message;
use rocksdb::{DB, Direction, IteratorMode, Options, WriteBatch, WriteOptions};

use crate::error::Error;

const JOB: &[u8] = b"j/";
const HISTORY: &[u8] = b"h/";
const DELETED: &[u8] = b"d/";

/// A job an operator deleted, kept until its relay confirms that the queue
/// file is gone (or, for a relay that never comes back, for a bounded
/// time): without it the relay's next start would submit the file again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    /// The queue id.
    pub queue_id: String,
    /// The relay holding the file.
    pub relay: String,
    /// The channel (the spool directory the file is in).
    pub channel: String,
    /// When it was deleted, Unix seconds.
    pub at: i64,
}

impl Tombstone {
    /// `relay \0 channel \0 at`: relay and channel names never hold NUL.
    fn encode(&self) -> Vec<u8> {
        format!("{}\0{}\0{}", self.relay, self.channel, self.at).into_bytes()
    }

    fn decode(queue_id: &str, v: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(v).ok()?;
        let mut parts = text.split('\0');
        let (relay, channel, at) = (parts.next()?, parts.next()?, parts.next()?);
        Some(Self {
            queue_id: queue_id.to_string(),
            relay: relay.to_string(),
            channel: channel.to_string(),
            at: at.parse().ok()?,
        })
    }
}

fn deleted_key(queue_id: &str) -> Vec<u8> {
    [DELETED, queue_id.as_bytes()].concat()
}

/// The state database.
pub struct State {
    db: Arc<DB>,
    wal: WalSync,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("path", &self.db.path())
            .finish()
    }
}

fn job_key(queue_id: &str) -> Vec<u8> {
    [JOB, queue_id.as_bytes()].concat()
}

fn history_prefix(queue_id: &str) -> Vec<u8> {
    [HISTORY, queue_id.as_bytes(), b"\0"].concat()
}

/// Written to the WAL, synced later by [`WalSync::sync`].
fn unsynced() -> WriteOptions {
    WriteOptions::default()
}

/// Makes the state's writes durable, grouping concurrent callers. Cheap to
/// clone.
#[derive(Clone)]
pub struct WalSync {
    db: Arc<DB>,
    /// Tickets handed out: each taken after its caller's writes.
    requested: Arc<AtomicU64>,
    /// The highest ticket known durable; holding the lock is the right to
    /// sync.
    synced: Arc<tokio::sync::Mutex<u64>>,
}

impl std::fmt::Debug for WalSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalSync")
            .field("requested", &self.requested.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl WalSync {
    fn new(db: Arc<DB>) -> Self {
        Self {
            db,
            requested: Arc::new(AtomicU64::new(0)),
            synced: Arc::new(tokio::sync::Mutex::new(0)),
        }
    }

    /// Returns once every write made before this call is on disk. Callers
    /// that arrive while a sync runs wait for it, then one of them syncs
    /// for all.
    pub async fn sync(&self) -> Result<(), Error> {
        let ticket = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let mut synced = self.synced.lock().await;
        if *synced >= ticket {
            return Ok(());
        }
        // Every ticket up to here was taken after its writes: this fsync
        // covers them all.
        let upto = self.requested.load(Ordering::SeqCst);
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush_wal(true))
            .await
            .map_err(|e| Error::Invalid(format!("WAL sync task: {e}")))??;
        *synced = upto;
        Ok(())
    }
}

impl State {
    /// Opens (creating when missing) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Self, Error> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.set_keep_log_file_num(4);
        let db = Arc::new(DB::open(&opts, dir)?);
        let wal = WalSync::new(db.clone());
        Ok(Self { db, wal })
    }

    /// The handle that makes this state's writes durable; nothing written
    /// may be reported to anyone before its `sync` returns.
    pub fn wal(&self) -> WalSync {
        self.wal.clone()
    }

    /// Every stored job, with the number of attempts recorded for each.
    pub fn load(&self) -> Result<Vec<(Job, u32)>, Error> {
        let mut jobs = Vec::new();
        for item in self
            .db
            .iterator(IteratorMode::From(JOB, Direction::Forward))
        {
            let (k, v) = item?;
            if !k.starts_with(JOB) {
                break;
            }
            let job = Job::decode(&*v).map_err(|source| Error::Decode {
                key: String::from_utf8_lossy(&k).into_owned(),
                source,
            })?;
            let n = self.history(&job.queue_id)?.len() as u32;
            jobs.push((job, n));
        }
        Ok(jobs)
    }

    /// Stores (or replaces) a job.
    pub fn put_job(&self, job: &Job) -> Result<(), Error> {
        self.db
            .put_opt(job_key(&job.queue_id), job.encode_to_vec(), &unsynced())?;
        Ok(())
    }

    /// Stores a job together with its `seq`-th attempt, atomically.
    pub fn put_job_with_attempt(
        &self,
        job: &Job,
        seq: u32,
        attempt: &Attempt,
    ) -> Result<(), Error> {
        let mut b = WriteBatch::default();
        b.put(job_key(&job.queue_id), job.encode_to_vec());
        b.put(attempt_key(&job.queue_id, seq), attempt.encode_to_vec());
        self.db.write_opt(b, &unsynced())?;
        Ok(())
    }

    /// Removes a job and its history.
    pub fn delete_job(&self, queue_id: &str) -> Result<(), Error> {
        let mut b = WriteBatch::default();
        Self::delete_in(&mut b, queue_id);
        self.db.write_opt(b, &unsynced())?;
        Ok(())
    }

    fn delete_in(b: &mut WriteBatch, queue_id: &str) {
        b.delete(job_key(queue_id));
        let prefix = history_prefix(queue_id);
        let mut end = prefix.clone();
        if let Some(last) = end.last_mut() {
            *last = 1;
        }
        b.delete_range(prefix, end);
    }

    /// Removes a job and its history and records its tombstone, atomically.
    pub fn delete_job_by_operator(&self, t: &Tombstone) -> Result<(), Error> {
        let mut b = WriteBatch::default();
        Self::delete_in(&mut b, &t.queue_id);
        b.put(deleted_key(&t.queue_id), t.encode());
        self.db.write_opt(b, &unsynced())?;
        Ok(())
    }

    /// Forgets tombstones (their relay removed the files, or they are too
    /// old). Not synced: a tombstone that comes back after a crash is only
    /// confirmed once more.
    pub fn forget_deleted<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> Result<(), Error> {
        let mut b = WriteBatch::default();
        for id in ids {
            b.delete(deleted_key(id));
        }
        self.db.write_opt(b, &unsynced())?;
        Ok(())
    }

    /// Every stored tombstone.
    pub fn load_deleted(&self) -> Result<Vec<Tombstone>, Error> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator(IteratorMode::From(DELETED, Direction::Forward))
        {
            let (k, v) = item?;
            if !k.starts_with(DELETED) {
                break;
            }
            let id = String::from_utf8_lossy(&k[DELETED.len()..]).into_owned();
            match Tombstone::decode(&id, &v) {
                Some(t) => out.push(t),
                None => tracing::warn!(queue_id = %id, "unreadable deletion record ignored"),
            }
        }
        Ok(out)
    }

    /// The attempt history of a job, oldest first.
    pub fn history(&self, queue_id: &str) -> Result<Vec<Attempt>, Error> {
        let prefix = history_prefix(queue_id);
        let mut out = Vec::new();
        for item in self
            .db
            .iterator(IteratorMode::From(&prefix, Direction::Forward))
        {
            let (k, v) = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            out.push(Attempt::decode(&*v).map_err(|source| Error::Decode {
                key: String::from_utf8_lossy(&k).into_owned(),
                source,
            })?);
        }
        Ok(out)
    }
}

fn attempt_key(queue_id: &str, seq: u32) -> Vec<u8> {
    let mut k = history_prefix(queue_id);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}
