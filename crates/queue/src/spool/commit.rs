//! Group commit of directory fsyncs.
//!
//! A queue file is durable once its own data is synced and the directory
//! entry that names it is synced. The first part is per file (each
//! session syncs its own file from the blocking pool, so 20 sessions sync
//! in parallel and the file system folds them into few journal commits).
//! The second is shared: one committer thread takes every request waiting
//! in its queue, fsyncs each distinct directory once, then wakes every
//! waiter. While one batch is being synced the next one accumulates, so
//! under load each directory is synced once per batch instead of once per
//! message; alone, a request costs exactly one directory fsync.
//!
//! Requests name directories whose entries already changed (rename or
//! unlink done before submitting), so a batch's fsync always covers them.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::metrics::SpoolMetrics;

struct Request {
    dirs: Vec<PathBuf>,
    done: oneshot::Sender<Result<(), String>>,
}

/// Handle to the committer thread.
pub(crate) struct Committer {
    tx: Mutex<Option<Sender<Request>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    stats: Arc<Stats>,
}

/// Requests and batches so far (tests check that batching happens).
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) requests: AtomicU64,
    pub(crate) batches: AtomicU64,
}

impl std::fmt::Debug for Committer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Committer")
    }
}

impl Committer {
    pub(crate) fn start(window: Duration, max_batch: usize, metrics: SpoolMetrics) -> Self {
        let (tx, rx) = mpsc::channel();
        let stats = Arc::new(Stats::default());
        let s = stats.clone();
        let thread = std::thread::Builder::new()
            .name("spool-committer".into())
            .spawn(move || run(rx, window, max_batch.max(1), metrics, s))
            .ok();
        Self {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(thread),
            stats,
        }
    }

    /// Waits until every directory in `dirs` has been fsynced after this
    /// call started.
    pub(crate) async fn sync_dirs(&self, dirs: Vec<PathBuf>) -> Result<(), String> {
        let (done, rx) = oneshot::channel();
        {
            let guard = self.tx.lock().unwrap_or_else(|p| p.into_inner());
            match guard.as_ref() {
                Some(tx) => {
                    if tx.send(Request { dirs, done }).is_err() {
                        return Err("committer stopped".into());
                    }
                }
                None => return Err("spool is closed".into()),
            }
        }
        rx.await.unwrap_or_else(|_| Err("committer stopped".into()))
    }

    /// (requests, batches) committed so far.
    pub(crate) fn stats(&self) -> (u64, u64) {
        (
            self.stats.requests.load(Ordering::Relaxed),
            self.stats.batches.load(Ordering::Relaxed),
        )
    }

    /// Lets queued work finish and joins the thread.
    pub(crate) fn stop(&self) {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = t.join();
        }
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(
    rx: Receiver<Request>,
    window: Duration,
    max_batch: usize,
    metrics: SpoolMetrics,
    stats: Arc<Stats>,
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
        let dirs: BTreeSet<&PathBuf> = batch.iter().flat_map(|r| r.dirs.iter()).collect();
        let result = dirs.iter().try_for_each(|d| {
            File::open(d)
                .and_then(|f| f.sync_all())
                .map_err(|e| format!("fsync {}: {e}", d.display()))
        });
        metrics.batch(batch.len() as u64, dirs.len() as u64);
        stats
            .requests
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        stats.batches.fetch_add(1, Ordering::Relaxed);
        for r in batch {
            let _ = r.done.send(result.clone());
        }
    }
}
