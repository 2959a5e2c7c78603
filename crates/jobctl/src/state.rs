//! The job controller's durable state: one RocksDB record per job (the
//! protobuf `Job`) and one per delivery attempt. Every write is synced to the
//! WAL before the call returns, so what a relay was told is never forgotten;
//! RocksDB batches concurrent synced writes into one fsync (group commit).

use std::path::Path;

use mail_proto::jobctl::v1::{Attempt, Job};
use prost::Message;
use rocksdb::{DB, Direction, IteratorMode, Options, WriteBatch, WriteOptions};

use crate::error::Error;

const JOB: &[u8] = b"j/";
const HISTORY: &[u8] = b"h/";

/// The state database.
pub struct State {
    db: DB,
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

fn synced() -> WriteOptions {
    let mut w = WriteOptions::default();
    w.set_sync(true);
    w
}

impl State {
    /// Opens (creating when missing) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Self, Error> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.set_keep_log_file_num(4);
        let db = DB::open(&opts, dir)?;
        Ok(Self { db })
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
            .put_opt(job_key(&job.queue_id), job.encode_to_vec(), &synced())?;
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
        self.db.write_opt(b, &synced())?;
        Ok(())
    }

    /// Removes a job and its history, recording a last attempt if given.
    pub fn delete_job(&self, queue_id: &str) -> Result<(), Error> {
        let mut b = WriteBatch::default();
        b.delete(job_key(queue_id));
        let prefix = history_prefix(queue_id);
        let mut end = prefix.clone();
        if let Some(last) = end.last_mut() {
            *last = 1;
        }
        b.delete_range(prefix, end);
        self.db.write_opt(b, &synced())?;
        Ok(())
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
