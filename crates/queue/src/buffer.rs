//! Message content on its way in: memory first, a temporary file once it
//! grows past a threshold, so a large message never sits in RAM whole.
//!
//! The SMTP server points the file at its spool's `.tmp` (same file
//! system as the queue, and a crash leaves nothing the next
//! [`Spool::open`](crate::Spool::open) does not remove); the LMTP server
//! at a directory on the store's volume, so the store can hard-link the
//! file instead of copying it. A write error is remembered and reported
//! by [`MessageBuffer::finish`] (a `451` after the dot) while the session
//! keeps reading to the end of the content, so the protocol stays in step.
//!
//! The buffer also keeps what a server needs to know about the content
//! without reading it again: the first bytes (for the Message-ID) and
//! whether any octet has the high bit set (8BITMIME, RFC 6152).

use std::io;
use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

use crate::spool::Content;

/// The header section is searched for Message-ID in this many octets.
const HEAD: usize = 64 * 1024;

/// Content being received; see the module documentation.
#[derive(Debug)]
pub struct MessageBuffer {
    threshold: usize,
    dir: Option<PathBuf>,
    memory: Vec<u8>,
    file: Option<(tokio::fs::File, tempfile::TempPath)>,
    head: Vec<u8>,
    len: u64,
    eight_bit: bool,
    failed: Option<io::Error>,
}

/// The finished content: what [`MessageBuffer::finish`] returns.
#[derive(Debug)]
pub enum MessageBody {
    /// Small messages stay in memory.
    Memory(Vec<u8>),
    /// Large messages are in a temporary file, removed when this is
    /// dropped. A store may hard-link it elsewhere first.
    File(tempfile::TempPath),
}

/// The message content as a content filter sees it, borrowed.
#[derive(Debug, Clone, Copy)]
pub enum ContentRef<'a> {
    /// Small messages, in memory.
    Bytes(&'a [u8]),
    /// Large messages, in a temporary file.
    File(&'a Path),
}

impl MessageBody {
    /// A borrowed view (for a content filter).
    pub fn content_ref(&self) -> ContentRef<'_> {
        match self {
            MessageBody::Memory(b) => ContentRef::Bytes(b),
            MessageBody::File(p) => ContentRef::File(p),
        }
    }

    /// For [`Spool::enqueue`](crate::Spool::enqueue): the bytes are moved
    /// out; a file stays owned here (and is removed on drop), the spool
    /// copies it.
    pub fn take_content(&mut self) -> Content {
        match self {
            MessageBody::Memory(b) => Content::Bytes(std::mem::take(b)),
            MessageBody::File(p) => Content::File(p.to_path_buf()),
        }
    }

    /// The path of content that went to a file.
    pub fn path(&self) -> Option<&Path> {
        match self {
            MessageBody::Memory(_) => None,
            MessageBody::File(p) => Some(p),
        }
    }

    /// Reads the whole message into memory.
    pub async fn read_all(&self) -> io::Result<Vec<u8>> {
        match self {
            MessageBody::Memory(v) => Ok(v.clone()),
            MessageBody::File(p) => tokio::fs::read(p).await,
        }
    }
}

impl MessageBuffer {
    /// Content up to `threshold` octets stays in memory; beyond it goes to
    /// a temporary file in `dir` (the system's temporary directory when
    /// `None`).
    pub fn new(threshold: usize, dir: Option<PathBuf>) -> Self {
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

    /// Appends decoded content. Errors are kept for [`Self::finish`].
    pub async fn write(&mut self, bytes: &[u8]) {
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

    /// Whether any octet so far had the high bit set.
    pub fn eight_bit(&self) -> bool {
        self.eight_bit
    }

    /// The Message-ID header's value, if the header section has one.
    pub fn message_id(&self) -> Option<String> {
        message_id(&self.head)
    }

    /// The content and its size, or the first write error.
    pub async fn finish(self) -> io::Result<(MessageBody, u64)> {
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

/// Finds `Message-ID:` in the header section (unfolding continuation
/// lines); the value is trimmed and cut to 998 octets.
pub fn message_id(head: &[u8]) -> Option<String> {
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
    async fn small_stays_in_memory() {
        let mut s = MessageBuffer::new(8, None);
        s.write(b"1234").await;
        assert!(!s.eight_bit());
        let (body, len) = s.finish().await.expect("finish");
        assert!(matches!(body, MessageBody::Memory(_)));
        assert_eq!(len, 4);
    }

    #[tokio::test]
    async fn large_content_goes_to_a_file_in_the_given_dir_removed_on_drop() {
        let dir = tempfile::tempdir().expect("dir");
        let mut s = MessageBuffer::new(8, Some(dir.path().to_path_buf()));
        s.write(b"12345").await;
        s.write("é67890".as_bytes()).await;
        assert!(s.eight_bit());
        let (body, len) = s.finish().await.expect("finish");
        assert_eq!(len, 12);
        let path = body.path().expect("spooled").to_path_buf();
        assert!(path.starts_with(dir.path()));
        assert_eq!(
            body.read_all().await.expect("read"),
            "12345é67890".as_bytes()
        );
        drop(body);
        assert!(!path.exists(), "temporary file removed on drop");
    }
}
