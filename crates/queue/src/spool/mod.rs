//! The queue on disk: one file per message and channel, envelope first.
//!
//! ```text
//! SPOOL/
//!   .tmp/                   files being written (removed on open after a crash)
//!   .corrupt/               files that failed to parse, kept for an operator
//!   lmtp/0192F3A4...C3      one file per queue entry: envelope + message
//!   tcp_local/0192F3B0...C3
//! ```
//!
//! Durability first ([`Spool::enqueue`]): the file is written in `.tmp`
//! (same file system), `fdatasync`ed, renamed into its channel directory,
//! and the directory is fsynced before the call returns, so a `250` sent
//! after it can never be lost to a crash. The directory fsyncs of
//! concurrent sessions are grouped (see `commit.rs`). The format of the
//! envelope is in [`envelope`]; recipient states are updated in place
//! ([`Spool::mark`]) and the file is removed once no recipient is pending.

mod commit;
mod config;
pub mod envelope;
pub mod queue_id;
mod scan;

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use config::SpoolConfig;
pub use envelope::{ClientRecord, Envelope, QueuedRecipient, RcptState};
pub use queue_id::QueueId;
pub use scan::ScanReport;

use crate::error::Error;
use crate::metrics::SpoolMetrics;
use commit::Committer;
use envelope::Parsed;

const TMP: &str = ".tmp";

/// Message data handed to [`Spool::enqueue`].
#[derive(Debug, Clone)]
pub enum Content {
    /// In memory.
    Bytes(Vec<u8>),
    /// In a file (copied; the caller keeps and removes it).
    File(PathBuf),
}

/// One entry opened for delivery.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The envelope with current recipient states.
    pub envelope: Envelope,
    /// The queue file.
    pub path: PathBuf,
    /// Where the message data starts in the file.
    pub data_offset: u64,
}

impl Entry {
    /// A blocking reader of the message data (Received header first).
    pub fn data_reader(&self) -> Result<io::Take<io::BufReader<File>>, Error> {
        let mut f = File::open(&self.path).map_err(|e| Error::spool(&self.path, e))?;
        f.seek(SeekFrom::Start(self.data_offset))
            .map_err(|e| Error::spool(&self.path, e))?;
        Ok(io::BufReader::new(f).take(self.envelope.size))
    }

    /// An async reader of the message data (for streaming it to the next
    /// hop without holding it in memory).
    pub async fn open_data(&self) -> Result<tokio::io::Take<tokio::fs::File>, Error> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        let mut f = tokio::fs::File::open(&self.path)
            .await
            .map_err(|e| Error::spool(&self.path, e))?;
        f.seek(SeekFrom::Start(self.data_offset))
            .await
            .map_err(|e| Error::spool(&self.path, e))?;
        Ok(f.take(self.envelope.size))
    }

    /// The message data, read whole.
    pub async fn read_data(&self) -> Result<Vec<u8>, Error> {
        let entry = self.clone();
        blocking(move || {
            let mut out = Vec::with_capacity(entry.envelope.size as usize);
            entry
                .data_reader()?
                .read_to_end(&mut out)
                .map_err(|e| Error::spool(&entry.path, e))?;
            Ok(out)
        })
        .await
    }
}

/// What [`Spool::mark`] left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkOutcome {
    /// Recipients still pending.
    pub pending: usize,
    /// True when none was pending and the file has been removed.
    pub removed: bool,
}

struct Inner {
    root: PathBuf,
    tmp: PathBuf,
    ids: queue_id::IdGenerator,
    committer: Committer,
    channels: Mutex<HashSet<String>>,
    metrics: SpoolMetrics,
}

/// The spool: a cheap handle, clone it freely.
#[derive(Clone)]
pub struct Spool {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("root", &self.inner.root)
            .finish()
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(Error::Commit(format!("blocking task: {e}"))))
}

fn fsync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::spool(dir, e))
}

/// Channel names become directory names: `[A-Za-z0-9][A-Za-z0-9_.-]*`,
/// at most 64 characters (so never `.tmp`, `..` or a path).
pub fn valid_channel(name: &str) -> bool {
    name.len() <= 64
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

impl Spool {
    /// Opens (creating if needed) the spool and removes temporary files a
    /// crash left behind. Blocking; call it once per process at startup
    /// and clone the handle for every listener and worker: a second open
    /// of the same directory would delete the first one's files in
    /// progress. One spool directory belongs to one process.
    pub fn open(config: &SpoolConfig) -> Result<Spool, Error> {
        let root = config.dir.clone();
        fs::create_dir_all(&root).map_err(|e| Error::spool(&root, e))?;
        let tmp = root.join(TMP);
        if !tmp.is_dir() {
            fs::create_dir(&tmp).map_err(|e| Error::spool(&tmp, e))?;
            fsync_dir(&root)?;
        }
        let metrics = SpoolMetrics::new();
        let spool = Spool {
            inner: Arc::new(Inner {
                committer: Committer::start(
                    config.commit_window,
                    config.max_batch,
                    metrics.clone(),
                ),
                root,
                tmp,
                ids: queue_id::IdGenerator::new(),
                channels: Mutex::new(HashSet::new()),
                metrics,
            }),
        };
        let removed = spool.cleanup_temp()?;
        if removed > 0 {
            tracing::info!(removed, "removed temporary spool files left by a crash");
        }
        Ok(spool)
    }

    /// The spool directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// A new queue id.
    pub fn next_id(&self) -> QueueId {
        self.inner.ids.next()
    }

    /// The path of an entry's file.
    pub fn path_of(&self, channel: &str, id: &QueueId) -> PathBuf {
        self.inner.root.join(channel).join(id.as_str())
    }

    /// Removes every file in `.tmp` (partial writes of a crashed process).
    /// Only safe while no enqueue is running: [`Spool::open`] calls it.
    pub fn cleanup_temp(&self) -> Result<usize, Error> {
        let tmp = &self.inner.tmp;
        let mut n = 0;
        for e in fs::read_dir(tmp).map_err(|e| Error::spool(tmp, e))? {
            let e = e.map_err(|e| Error::spool(tmp, e))?;
            fs::remove_file(e.path()).map_err(|err| Error::spool(e.path(), err))?;
            n += 1;
        }
        Ok(n)
    }

    fn ensure_channel(&self, channel: &str) -> Result<PathBuf, Error> {
        if !valid_channel(channel) {
            return Err(Error::InvalidChannel(channel.to_string()));
        }
        let dir = self.inner.root.join(channel);
        let mut known = self
            .inner
            .channels
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if !known.contains(channel) {
            if !dir.is_dir() {
                match fs::create_dir(&dir) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(Error::spool(&dir, e)),
                }
            }
            // The new directory's own entry must be durable too.
            fsync_dir(&self.inner.root)?;
            known.insert(channel.to_string());
        }
        Ok(dir)
    }

    /// Writes one file per envelope, each holding `prefix` then `content`
    /// (the same message for every channel), and returns once all of them
    /// are durable. Each envelope's `id` must come from
    /// [`Spool::next_id`]; `size` is filled in. On error nothing is left
    /// in the spool.
    pub async fn enqueue(
        &self,
        entries: Vec<Envelope>,
        prefix: Vec<u8>,
        content: Content,
    ) -> Result<Vec<Envelope>, Error> {
        let this = self.clone();
        let (written, dirs) =
            blocking(move || this.write_entries(entries, &prefix, &content)).await?;
        if let Err(e) = self.inner.committer.sync_dirs(dirs).await {
            // Not known to be durable: take the files back so that the
            // client's retry after our 451 does not make a duplicate.
            for env in &written {
                let _ = fs::remove_file(self.path_of(&env.channel, &env.id));
            }
            return Err(Error::Commit(e));
        }
        self.inner.metrics.enqueued(written.len() as u64);
        Ok(written)
    }

    fn write_entries(
        &self,
        entries: Vec<Envelope>,
        prefix: &[u8],
        content: &Content,
    ) -> Result<(Vec<Envelope>, Vec<PathBuf>), Error> {
        let content_len = match content {
            Content::Bytes(b) => b.len() as u64,
            Content::File(p) => fs::metadata(p).map_err(|e| Error::spool(p, e))?.len(),
        };
        let mut done: Vec<Envelope> = Vec::with_capacity(entries.len());
        let mut dirs = Vec::new();
        for mut env in entries {
            env.size = prefix.len() as u64 + content_len;
            let r = self.write_one(&env, prefix, content);
            match r {
                Ok(dir) => {
                    if !dirs.contains(&dir) {
                        dirs.push(dir);
                    }
                    done.push(env);
                }
                Err(e) => {
                    for d in &done {
                        let _ = fs::remove_file(self.path_of(&d.channel, &d.id));
                    }
                    return Err(e);
                }
            }
        }
        Ok((done, dirs))
    }

    fn write_one(
        &self,
        env: &Envelope,
        prefix: &[u8],
        content: &Content,
    ) -> Result<PathBuf, Error> {
        let dir = self.ensure_channel(&env.channel)?;
        let tmp = self.inner.tmp.join(format!("{}.{}", env.id, env.channel));
        let result = (|| -> io::Result<()> {
            let file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            let mut w = BufWriter::with_capacity(64 * 1024, file);
            w.write_all(&envelope::encode(env).bytes)?;
            w.write_all(prefix)?;
            match content {
                Content::Bytes(b) => w.write_all(b)?,
                Content::File(p) => {
                    let mut src = File::open(p)?;
                    io::copy(&mut src, &mut w)?;
                }
            }
            let file = w.into_inner().map_err(|e| e.into_error())?;
            file.sync_data()?;
            Ok(())
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(Error::spool(&tmp, e));
        }
        let dest = dir.join(env.id.as_str());
        if let Err(e) = fs::rename(&tmp, &dest) {
            let _ = fs::remove_file(&tmp);
            return Err(Error::spool(&dest, e));
        }
        Ok(dir)
    }

    fn read_header(path: &Path, file: &mut File) -> Result<Parsed, Error> {
        let mut buf = Vec::with_capacity(8192);
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let n = file.read(&mut chunk).map_err(|e| Error::spool(path, e))?;
            buf.extend_from_slice(&chunk[..n]);
            let corrupt = |why: String| Error::Corrupt {
                path: path.to_path_buf(),
                why,
            };
            match envelope::parse(&buf) {
                Ok(Some(p)) => {
                    let len = file.metadata().map_err(|e| Error::spool(path, e))?.len();
                    if len != p.data_offset + p.envelope.size {
                        return Err(corrupt(format!(
                            "file has {len} octets, the envelope says {}",
                            p.data_offset + p.envelope.size
                        )));
                    }
                    return Ok(p);
                }
                Ok(None) if n == 0 => return Err(corrupt("truncated envelope".into())),
                Ok(None) => {}
                Err(why) => return Err(corrupt(why)),
            }
        }
    }

    fn open_blocking(&self, channel: &str, id: &QueueId) -> Result<(Entry, Vec<u64>), Error> {
        let path = self.path_of(channel, id);
        let mut f = File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::NotFound {
                channel: channel.to_string(),
                id: id.to_string(),
            },
            _ => Error::spool(&path, e),
        })?;
        let p = Self::read_header(&path, &mut f)?;
        Ok((
            Entry {
                envelope: p.envelope,
                path,
                data_offset: p.data_offset,
            },
            p.state_offsets,
        ))
    }

    /// Opens an entry: its envelope (with current states) and where its
    /// data is.
    pub async fn open_entry(&self, channel: &str, id: &QueueId) -> Result<Entry, Error> {
        let (this, channel, id) = (self.clone(), channel.to_string(), id.clone());
        blocking(move || this.open_blocking(&channel, &id).map(|(e, _)| e)).await
    }

    /// The envelope and message data of an entry.
    pub async fn read(&self, channel: &str, id: &QueueId) -> Result<(Envelope, Vec<u8>), Error> {
        let entry = self.open_entry(channel, id).await?;
        let data = entry.read_data().await?;
        Ok((entry.envelope, data))
    }

    /// Records the outcome of a delivery attempt durably, one state per
    /// recipient address; when no recipient is left pending the file is
    /// removed. A recipient not named keeps its state.
    pub async fn mark(
        &self,
        channel: &str,
        id: &QueueId,
        results: Vec<(String, RcptState)>,
    ) -> Result<MarkOutcome, Error> {
        let (this, ch, qid) = (self.clone(), channel.to_string(), id.clone());
        let pending = blocking(move || this.mark_blocking(&ch, &qid, &results)).await?;
        if pending > 0 {
            return Ok(MarkOutcome {
                pending,
                removed: false,
            });
        }
        self.remove(channel, id).await?;
        Ok(MarkOutcome {
            pending: 0,
            removed: true,
        })
    }

    fn mark_blocking(
        &self,
        channel: &str,
        id: &QueueId,
        results: &[(String, RcptState)],
    ) -> Result<usize, Error> {
        let (mut entry, offsets) = self.open_blocking(channel, id)?;
        let file = OpenOptions::new()
            .write(true)
            .open(&entry.path)
            .map_err(|e| Error::spool(&entry.path, e))?;
        let mut changed = false;
        for (addr, state) in results {
            let rcpts = &entry.envelope.recipients;
            let i = rcpts
                .iter()
                .position(|r| &r.address == addr)
                .or_else(|| {
                    rcpts
                        .iter()
                        .position(|r| r.address.eq_ignore_ascii_case(addr))
                })
                .ok_or_else(|| Error::UnknownRecipient(addr.clone()))?;
            if entry.envelope.recipients[i].state != *state {
                file.write_at(&[state.letter()], offsets[i])
                    .map_err(|e| Error::spool(&entry.path, e))?;
                entry.envelope.recipients[i].state = *state;
                changed = true;
            }
        }
        if changed {
            file.sync_data().map_err(|e| Error::spool(&entry.path, e))?;
        }
        Ok(entry.envelope.pending().count())
    }

    /// Removes an entry (all recipients done, or deleted by an operator)
    /// and waits until the removal is durable. Removing a missing entry is
    /// not an error.
    pub async fn remove(&self, channel: &str, id: &QueueId) -> Result<(), Error> {
        if !valid_channel(channel) {
            return Err(Error::InvalidChannel(channel.to_string()));
        }
        let path = self.path_of(channel, id);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::spool(&path, e)),
        }
        let dir = self.inner.root.join(channel);
        self.inner
            .committer
            .sync_dirs(vec![dir])
            .await
            .map_err(Error::Commit)
    }

    /// Directory-sync requests and the batches that served them, since
    /// open: under concurrency there are fewer batches than requests.
    pub fn commit_stats(&self) -> (u64, u64) {
        self.inner.committer.stats()
    }

    /// Stops the committer after the work queued so far.
    pub fn close(&self) {
        self.inner.committer.stop();
    }
}

#[cfg(test)]
mod tests;
