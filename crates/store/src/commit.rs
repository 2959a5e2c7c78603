//! Group commit.
//!
//! A delivery is acknowledged only after its message file, the directory
//! entries that name it and its index rows are durable. Done one delivery
//! at a time that costs an fsync per directory plus a WAL sync each, which
//! caps a disk at its ~1,000-3,000 fsyncs/s. One committer thread instead
//! takes every request waiting in its queue (and those arriving within
//! `window`), fsyncs each distinct directory once, writes all rows as one
//! RocksDB batch with one WAL sync, then wakes every waiter.
//!
//! Requests are applied in queue order, so a caller that enqueues a
//! snapshot of a record while holding that record's lock can never have an
//! older snapshot overwrite a newer one.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rocksdb::{WriteBatch, WriteOptions};

use crate::db::{Db, Op, cf_handle};
use crate::error::{Result, StoreError};
use crate::fsutil::fsync_dir;
use crate::metrics::Metrics;

struct Request {
    ops: Vec<Op>,
    dirs: Vec<PathBuf>,
    done: SyncSender<Result<(), String>>,
}

/// Waits for one request to become durable.
#[must_use = "a write is not durable until its ticket is waited on"]
pub(crate) struct Ticket(Receiver<Result<(), String>>);

impl Ticket {
    /// Blocks until the batch holding this request is synced.
    pub(crate) fn wait(self) -> Result<()> {
        match self.0.recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Commit(e)),
            Err(_) => Err(StoreError::Commit("committer stopped".into())),
        }
    }
}

/// Handle to the committer thread.
pub(crate) struct Committer {
    tx: Mutex<Option<Sender<Request>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Committer {
    pub(crate) fn start(
        db: Arc<Db>,
        window: Duration,
        max_batch: usize,
        metrics: Arc<Metrics>,
    ) -> Self {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("store-committer".into())
            .spawn(move || run(db, rx, window, max_batch.max(1), metrics))
            .ok();
        Self {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(thread),
        }
    }

    /// Queues writes; `dirs` are fsynced before the rows are written.
    pub(crate) fn submit(&self, ops: Vec<Op>, dirs: Vec<PathBuf>) -> Ticket {
        let (done, rx) = mpsc::sync_channel(1);
        let guard = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref() {
            Some(tx) => {
                let _ = tx.send(Request { ops, dirs, done });
            }
            None => {
                let _ = done.send(Err("store is closed".into()));
            }
        }
        Ticket(rx)
    }

    /// Stops accepting work, lets the queue drain and joins the thread.
    pub(crate) fn stop(&self) {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = t.join();
        }
    }
}

fn run(
    db: Arc<Db>,
    rx: Receiver<Request>,
    window: Duration,
    max_batch: usize,
    metrics: Arc<Metrics>,
) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        let deadline = Instant::now() + window;
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(r) => {
                    batch.push(r);
                    continue;
                }
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {}
            }
            let now = Instant::now();
            if window.is_zero() || now >= deadline {
                break;
            }
            match rx.recv_timeout(deadline - now) {
                Ok(r) => batch.push(r),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        let result = commit(&db, &batch);
        metrics.batch(batch.len() as u64);
        for r in batch {
            let _ = r.done.send(result.clone());
        }
    }
}

/// Most threads used to fsync one batch's directories.
const FSYNC_THREADS: usize = 16;

/// fsyncs the directories concurrently: the file system folds concurrent
/// syncs into one journal commit, so a 10-recipient delivery costs about
/// one sync instead of ten in a row.
fn fsync_all(dirs: &[&PathBuf]) -> Result<(), String> {
    if dirs.len() <= 1 {
        return dirs
            .iter()
            .try_for_each(|d| fsync_dir(d).map_err(|e| e.to_string()));
    }
    let chunk = dirs.len().div_ceil(FSYNC_THREADS);
    std::thread::scope(|s| {
        let handles: Vec<_> = dirs
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .try_for_each(|d| fsync_dir(d).map_err(|e| e.to_string()))
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join()
                .unwrap_or_else(|_| Err("fsync thread panicked".into()))
        })
    })
}

fn commit(db: &Db, batch: &[Request]) -> Result<(), String> {
    let dirs: Vec<&PathBuf> = batch
        .iter()
        .flat_map(|r| r.dirs.iter())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    fsync_all(&dirs)?;
    let mut wb = WriteBatch::default();
    for op in batch.iter().flat_map(|r| r.ops.iter()) {
        match op {
            Op::Put(cf, k, v) => {
                wb.put_cf(cf_handle(&db.db, *cf).map_err(|e| e.to_string())?, k, v)
            }
            Op::Delete(cf, k) => {
                wb.delete_cf(cf_handle(&db.db, *cf).map_err(|e| e.to_string())?, k)
            }
            Op::DeleteRange(cf, a, b) => {
                wb.delete_range_cf(cf_handle(&db.db, *cf).map_err(|e| e.to_string())?, a, b)
            }
        }
    }
    if wb.is_empty() {
        return Ok(());
    }
    let mut wo = WriteOptions::default();
    wo.set_sync(true);
    db.db.write_opt(wb, &wo).map_err(|e| e.into_string())
}
