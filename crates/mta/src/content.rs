//! Message content on its way in: memory first, a temporary file in the
//! spool's `.tmp` once it grows past the threshold (so a crash leaves
//! nothing the next start does not remove). A write error is remembered
//! and reported as `451` after the dot while the session keeps reading
//! to the end of the content.
//!
//! It also keeps what the server needs to know about the content without
//! reading it again: the first bytes (for the Message-ID) and whether any
//! octet has the high bit set (8BITMIME, RFC 6152).

use std::io;
use std::path::PathBuf;

use tokio::io::AsyncWriteExt;

use crate::policy::ContentRef;
use crate::spool::Content;

/// The header section is searched for Message-ID in this many octets.
const HEAD: usize = 64 * 1024;

pub(crate) struct Incoming {
    threshold: usize,
    dir: PathBuf,
    memory: Vec<u8>,
    file: Option<(tokio::fs::File, tempfile::TempPath)>,
    head: Vec<u8>,
    len: u64,
    eight_bit: bool,
    failed: Option<io::Error>,
}

/// The finished content.
pub(crate) enum Received {
    Memory(Vec<u8>),
    File(tempfile::TempPath),
}

impl Received {
    pub(crate) fn as_ref(&self) -> ContentRef<'_> {
        match self {
            Received::Memory(b) => ContentRef::Bytes(b),
            Received::File(p) => ContentRef::File(p),
        }
    }

    /// For the spool; a file stays owned here (and removed on drop).
    pub(crate) fn take_content(&mut self) -> Content {
        match self {
            Received::Memory(b) => Content::Bytes(std::mem::take(b)),
            Received::File(p) => Content::File(p.to_path_buf()),
        }
    }
}

impl Incoming {
    pub(crate) fn new(threshold: usize, dir: PathBuf) -> Self {
        Self {
            threshold,
            dir,
            memory: Vec::new(),
            file: None,
            head: Vec::new(),
            len: 0,
            eight_bit: false,
            failed: None,
        }
    }

    pub(crate) async fn write(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if !self.eight_bit && bytes.iter().any(|b| *b >= 0x80) {
            self.eight_bit = true;
        }
        if self.head.len() < HEAD {
            let n = (HEAD - self.head.len()).min(bytes.len());
            self.head.extend_from_slice(&bytes[..n]);
        }
        if self.failed.is_some() {
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
            let (file, path) = tempfile::NamedTempFile::new_in(&self.dir)?.into_parts();
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

    pub(crate) fn eight_bit(&self) -> bool {
        self.eight_bit
    }

    /// The Message-ID header's value, if the header section has one.
    pub(crate) fn message_id(&self) -> Option<String> {
        message_id(&self.head)
    }

    /// The content, or the first write error.
    pub(crate) async fn finish(self) -> io::Result<(Received, u64)> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        match self.file {
            None => Ok((Received::Memory(self.memory), self.len)),
            Some((mut file, path)) => {
                file.flush().await?;
                Ok((Received::File(path), self.len))
            }
        }
    }
}

/// Finds `Message-ID:` in the header section (unfolding continuation
/// lines); the value is trimmed and cut to 998 octets.
pub(crate) fn message_id(head: &[u8]) -> Option<String> {
    let end = head
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(head.len(), |p| p + 2);
    let text = String::from_utf8_lossy(&head[..end]);
    let mut lines = text.split("\r\n").peekable();
    while let Some(line) = lines.next() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if !name.trim_end().eq_ignore_ascii_case("message-id") {
            continue;
        }
        let mut v = value.to_string();
        while let Some(next) = lines.peek() {
            if next.starts_with(' ') || next.starts_with('\t') {
                v.push_str(next);
                lines.next();
            } else {
                break;
            }
        }
        let v: String = v
            .trim()
            .chars()
            .filter(|c| !c.is_control())
            .take(998)
            .collect();
        return (!v.is_empty()).then_some(v);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_message_id_in_headers_only() {
        assert_eq!(
            message_id(b"Subject: x\r\nmessage-id:\r\n <a@b>\r\n\r\nMessage-ID: <no>\r\n")
                .as_deref(),
            Some("<a@b>")
        );
        assert_eq!(
            message_id(b"Subject: x\r\n\r\nMessage-ID: <body>\r\n"),
            None
        );
    }

    #[tokio::test]
    async fn large_content_goes_to_a_file_in_the_given_dir() {
        let dir = tempfile::tempdir().expect("dir");
        let mut s = Incoming::new(8, dir.path().to_path_buf());
        s.write(b"12345").await;
        s.write("é67890".as_bytes()).await;
        assert!(s.eight_bit());
        let (r, len) = s.finish().await.expect("finish");
        assert_eq!(len, 12);
        let Received::File(p) = r else {
            panic!("not spooled")
        };
        assert!(p.starts_with(dir.path()));
    }
}
