//! Startup: listing the spool to rebuild jobctl's state, finishing
//! removals a crash interrupted, and setting unreadable files aside.

use std::fs;
use std::path::{Path, PathBuf};

use super::{Envelope, QueueId, Spool, blocking, valid_channel};
use crate::error::Error;

const CORRUPT: &str = ".corrupt";

/// What [`Spool::scan`] found.
#[derive(Debug, Default)]
pub struct ScanReport {
    /// Every entry with pending recipients, oldest first.
    pub entries: Vec<Envelope>,
    /// Entries whose recipients were all done (a crash between the last
    /// mark and the removal): removed by the scan.
    pub completed: usize,
    /// Files that could not be parsed, moved to `.corrupt/`.
    pub corrupt: Vec<PathBuf>,
}

impl Spool {
    /// Lists every entry still to deliver (to rebuild jobctl's state at
    /// startup), finishing removals a crash interrupted and moving
    /// unreadable files to `.corrupt/`.
    pub async fn scan(&self) -> Result<ScanReport, Error> {
        let this = self.clone();
        let (mut report, done) = blocking(move || this.scan_blocking()).await?;
        for (channel, id) in done {
            self.remove(&channel, &id).await?;
            report.completed += 1;
        }
        Ok(report)
    }

    #[allow(clippy::type_complexity)]
    fn scan_blocking(&self) -> Result<(ScanReport, Vec<(String, QueueId)>), Error> {
        let root = &self.inner.root;
        let mut report = ScanReport::default();
        let mut done = Vec::new();
        for ch in fs::read_dir(root).map_err(|e| Error::spool(root, e))? {
            let ch = ch.map_err(|e| Error::spool(root, e))?;
            let name = ch.file_name().to_string_lossy().into_owned();
            if !valid_channel(&name) || !ch.path().is_dir() {
                continue;
            }
            for f in fs::read_dir(ch.path()).map_err(|e| Error::spool(ch.path(), e))? {
                let f = f.map_err(|e| Error::spool(ch.path(), e))?;
                let fname = f.file_name().to_string_lossy().into_owned();
                let opened = fname
                    .parse::<QueueId>()
                    .and_then(|id| self.open_blocking(&name, &id).map(|(e, _)| e));
                match opened {
                    Ok(entry) if entry.envelope.channel != name => {
                        self.quarantine(&f.path(), &name, &mut report)?;
                    }
                    Ok(entry) if entry.envelope.pending().next().is_none() => {
                        done.push((name.clone(), entry.envelope.id));
                    }
                    Ok(entry) => report.entries.push(entry.envelope),
                    // Removed by a delivery since the directory was read.
                    Err(Error::NotFound { .. }) => {}
                    Err(Error::Corrupt { .. } | Error::InvalidQueueId(_)) => {
                        self.quarantine(&f.path(), &name, &mut report)?;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        report.entries.sort_by(|a, b| a.id.cmp(&b.id));
        Ok((report, done))
    }

    fn quarantine(&self, path: &Path, channel: &str, report: &mut ScanReport) -> Result<(), Error> {
        let dir = self.inner.root.join(CORRUPT);
        fs::create_dir_all(&dir).map_err(|e| Error::spool(&dir, e))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dest = dir.join(format!("{channel}.{name}"));
        fs::rename(path, &dest).map_err(|e| Error::spool(path, e))?;
        tracing::warn!(file = %path.display(), moved_to = %dest.display(), "unreadable queue file quarantined");
        report.corrupt.push(dest);
        Ok(())
    }
}
