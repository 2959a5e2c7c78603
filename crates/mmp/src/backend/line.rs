//! Reading a store's replies line by line during the proxied login, with
//! a bound on how much one reply may hold. After the login the buffer is
//! handed over with the stream, so nothing the store already sent is lost.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{BackendError, BackendStream};

/// Longest reply line (or IMAP response with its literals) accepted from a
/// store during the login.
const MAX_REPLY: usize = 64 * 1024;

/// A store connection with a read buffer.
pub(crate) struct LineConn {
    pub(crate) stream: BackendStream,
    buf: Vec<u8>,
}

impl LineConn {
    pub(crate) fn new(stream: BackendStream) -> Self {
        Self {
            stream,
            buf: Vec::with_capacity(1024),
        }
    }

    async fn fill(&mut self) -> Result<(), BackendError> {
        // Into the buffer's spare room: no array on the session's stack,
        // which would make every session's future (and task) bigger.
        self.buf.reserve(2048);
        let n = self.stream.read_buf(&mut self.buf).await?;
        if n == 0 {
            return Err(BackendError::Protocol(
                "the store closed the connection".into(),
            ));
        }
        Ok(())
    }

    /// One line without its CRLF (a bare LF is accepted too).
    pub(crate) async fn read_line(&mut self) -> Result<Vec<u8>, BackendError> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=i).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            if self.buf.len() > MAX_REPLY {
                return Err(BackendError::Protocol("reply line too long".into()));
            }
            self.fill().await?;
        }
    }

    /// One IMAP response: a line, and when it ends in a literal
    /// announcement `{N}`, the N octets and the rest of the response
    /// (RFC 3501 4.3). Literal octets are kept as they are.
    pub(crate) async fn read_response(&mut self) -> Result<Vec<u8>, BackendError> {
        let mut out = Vec::new();
        loop {
            let line = self.read_line().await?;
            out.extend_from_slice(&line);
            let Some(size) = literal_size(&line) else {
                return Ok(out);
            };
            if out.len() + size > MAX_REPLY {
                return Err(BackendError::Protocol("response too large".into()));
            }
            out.extend_from_slice(b"\r\n");
            while self.buf.len() < size {
                self.fill().await?;
            }
            out.extend(self.buf.drain(..size));
        }
    }

    pub(crate) async fn send(&mut self, bytes: &[u8]) -> Result<(), BackendError> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await?;
        Ok(())
    }

    /// The stream, for a TLS upgrade. Anything the store sent after its
    /// STARTTLS answer and before the handshake would be injected plain
    /// text (RFC 3501 6.2.1, RFC 2595 3.1): refused.
    pub(crate) fn take_for_tls(self) -> Result<BackendStream, BackendError> {
        if !self.buf.is_empty() {
            return Err(BackendError::Protocol(
                "data after the STARTTLS answer".into(),
            ));
        }
        Ok(self.stream)
    }

    /// The stream and whatever the store sent beyond the login reply.
    pub(crate) fn into_parts(self) -> (BackendStream, Vec<u8>) {
        (self.stream, self.buf)
    }
}

/// `N` when `line` ends with `{N}` (or `~{N}`, `{N+}`).
fn literal_size(line: &[u8]) -> Option<usize> {
    let body = line.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&b| b == b'{')?;
    let digits = &body[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || digits.len() > 10 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_announcements() {
        assert_eq!(literal_size(b"* ID (\"name\" {5}"), Some(5));
        assert_eq!(literal_size(b"* X ~{12}"), Some(12));
        assert_eq!(literal_size(b"* X {3+}"), Some(3));
        assert_eq!(literal_size(b"* OK done"), None);
        assert_eq!(literal_size(b"* X {}"), None);
        assert_eq!(literal_size(b"* X {99999999999}"), None);
    }
}
