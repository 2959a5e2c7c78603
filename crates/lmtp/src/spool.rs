//! Message content on its way in: memory first, a temporary file once it
//! grows past the threshold, so a large message never sits in RAM whole.
//! A write error is remembered (and reported as `451` after the dot)
//! while the session keeps reading to the end of the content.

use std::io;
use std::path::PathBuf;

use tokio::io::AsyncWriteExt;

use crate::mailboxes::MessageBody;

pub(crate) struct Spool {
    threshold: usize,
    dir: Option<PathBuf>,
    memory: Vec<u8>,
    file: Option<(tokio::fs::File, tempfile::TempPath)>,
    len: u64,
    failed: Option<io::Error>,
}

impl Spool {
    pub(crate) fn new(threshold: usize, dir: Option<PathBuf>) -> Self {
        Self {
            threshold,
            dir,
            memory: Vec::new(),
            file: None,
            len: 0,
            failed: None,
        }
    }

    pub(crate) async fn write(&mut self, bytes: &[u8]) {
        if bytes.is_empty() || self.failed.is_some() {
            return;
        }
        if let Err(e) = self.try_write(bytes).await {
            self.failed = Some(e);
        }
    }

    async fn try_write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.len += bytes.len() as u64;
        if self.file.is_none() && self.memory.len() + bytes.len() <= self.threshold {
            self.memory.extend_from_slice(bytes);
            return Ok(());
        }
        if self.file.is_none() {
            let tmp = match &self.dir {
                Some(d) => tempfile::NamedTempFile::new_in(d)?,
                None => tempfile::NamedTempFile::new()?,
            };
            let (file, path) = tmp.into_parts();
            let mut file = tokio::fs::File::from_std(file);
            file.write_all(&self.memory).await?;
            self.memory = Vec::new();
            self.file = Some((file, path));
        }
        if let Some((file, _)) = &mut self.file {
            file.write_all(bytes).await?;
        }
        Ok(())
    }

    /// The content, or the first write error.
    pub(crate) async fn finish(self) -> io::Result<(MessageBody, u64)> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        match self.file {
            None => Ok((MessageBody::Memory(self.memory), self.len)),
            Some((mut file, path)) => {
                file.flush().await?;
                Ok((MessageBody::File(path), self.len))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn small_stays_in_memory_large_goes_to_file() {
        let mut s = Spool::new(8, None);
        s.write(b"1234").await;
        let (body, len) = s.finish().await.expect("finish");
        assert!(matches!(body, MessageBody::Memory(_)));
        assert_eq!(len, 4);

        let dir = tempfile::tempdir().expect("dir");
        let mut s = Spool::new(8, Some(dir.path().to_path_buf()));
        s.write(b"12345").await;
        s.write(b"67890").await;
        let (body, len) = s.finish().await.expect("finish");
        assert_eq!(len, 10);
        let path = body.path().expect("spooled").to_path_buf();
        assert!(path.starts_with(dir.path()));
        assert_eq!(body.read_all().await.expect("read"), b"1234567890");
        drop(body);
        assert!(!path.exists(), "temporary file removed on drop");
    }
}
