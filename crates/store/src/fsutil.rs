//! Durable file-system primitives.
//!
//! A message file is never visible under its final name until it is
//! complete: it is written to `tmp/`, fsynced, then hard-linked into each
//! recipient's folder. Directory entries become durable only when their
//! directory is fsynced, which the group committer does once per batch.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use crate::error::{Result, StoreError};

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// Writes `data` to a fresh file in `dir`, sets its mtime (the internal
/// date) and fsyncs it. The directory entry itself is not synced: a temp
/// file lost in a crash belongs to an unacknowledged delivery anyway.
pub(crate) fn write_temp(dir: &Path, data: &[u8], mtime: SystemTime) -> Result<PathBuf> {
    let seq = TMP_SEQ.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let path = dir.join(format!("{}-{nanos}-{seq}", std::process::id()));
    let res = (|| -> io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        f.write_all(data)?;
        f.set_modified(mtime)?;
        f.sync_all()
    })();
    match res {
        Ok(()) => Ok(path),
        Err(e) => {
            let _ = fs::remove_file(&path);
            Err(StoreError::io(path, e))
        }
    }
}

/// fsyncs a directory so the entries created in it survive a crash.
pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, e))
}

/// Creates `dir` and missing parents, fsyncing each parent whose entry was added.
pub(crate) fn mkdir_durable(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        mkdir_durable(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(StoreError::io(dir, e)),
    }
    if let Some(parent) = dir.parent() {
        fsync_dir(parent)?;
    }
    Ok(())
}

/// Hard-links `src` as `dst`: the single-copy mechanism. The link count of
/// the inode is the reference count; the content goes with its last link.
pub(crate) fn link(src: &Path, dst: &Path) -> Result<()> {
    fs::hard_link(src, dst).map_err(|e| StoreError::io(dst, e))
}

/// Replaces `path` atomically and durably with `data` (temp + fsync + rename + dir fsync).
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(".tmp-meta");
    let res = (|| -> io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    res.map_err(|e| StoreError::io(path, e))?;
    fsync_dir(dir)
}

/// Removes a file, treating "already gone" as success (recovery is idempotent).
pub(crate) fn remove_file(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io(path, e)),
    }
}

/// Removes a directory tree, treating "already gone" as success.
pub(crate) fn remove_tree(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io(path, e)),
    }
}

/// Recreates the tree `src` under `dst`: directories are made, files are
/// hard-linked (or copied when `copy` says so, e.g. for mutable files).
pub(crate) fn link_tree(src: &Path, dst: &Path, copy: &dyn Fn(&Path) -> bool) -> Result<()> {
    fs::create_dir_all(dst).map_err(|e| StoreError::io(dst, e))?;
    let rd = fs::read_dir(src).map_err(|e| StoreError::io(src, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| StoreError::io(src, e))?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let ft = entry.file_type().map_err(|e| StoreError::io(&from, e))?;
        if ft.is_dir() {
            link_tree(&from, &to, copy)?;
        } else if copy(&from) || fs::hard_link(&from, &to).is_err() {
            fs::copy(&from, &to).map_err(|e| StoreError::io(&to, e))?;
        }
    }
    fsync_dir(dst)
}
