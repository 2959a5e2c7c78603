//! Splitting input into command lines with a hard length limit.
//!
//! The session pushes whatever it read; [`LineReader::next_line`] hands out
//! complete lines. A line longer than the limit is reported once and the
//! rest of it is dropped up to its LF, so memory stays bounded by the limit
//! plus one read whatever the client sends. A CR before the LF is removed;
//! a lone LF is accepted as a line end (lenient on input, strict on output).

/// A line exceeded the reader's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("line too long")]
pub struct LineTooLong;

/// Buffers input and yields lines of at most `max` octets (CRLF included).
#[derive(Debug, Clone)]
pub struct LineReader {
    buf: Vec<u8>,
    max: usize,
    /// Inside an over-long line: drop input until its LF.
    skipping: bool,
}

impl LineReader {
    /// A reader for lines of at most `max` octets including CRLF.
    pub fn new(max: usize) -> Self {
        Self {
            buf: Vec::new(),
            max: max.max(3),
            skipping: false,
        }
    }

    /// Adds input.
    pub fn push(&mut self, mut data: &[u8]) {
        if self.skipping {
            match data.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.skipping = false;
                    data = &data[i + 1..];
                }
                None => return,
            }
        }
        self.buf.extend_from_slice(data);
    }

    /// The next complete line without its line end, `None` when more input
    /// is needed, or `Err` once for a line over the limit.
    pub fn next_line(&mut self) -> Option<Result<Vec<u8>, LineTooLong>> {
        match self.buf.iter().position(|&b| b == b'\n') {
            Some(i) => {
                let mut line: Vec<u8> = self.buf.drain(..=i).collect();
                if line.len() > self.max {
                    return Some(Err(LineTooLong));
                }
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                Some(Ok(line))
            }
            None if self.buf.len() >= self.max => {
                self.buf.clear();
                self.skipping = true;
                Some(Err(LineTooLong))
            }
            None => None,
        }
    }

    /// True when nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Drops every buffered byte: plaintext sent behind STLS must not be
    /// executed inside the TLS session (RFC 2595 3.1, CVE-2011-0411).
    pub fn discard(&mut self) {
        self.buf.clear();
        self.skipping = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_and_strips_crlf_or_lf() {
        let mut r = LineReader::new(100);
        r.push(b"STAT\r\nLIST 1\nNO");
        assert_eq!(r.next_line(), Some(Ok(b"STAT".to_vec())));
        assert_eq!(r.next_line(), Some(Ok(b"LIST 1".to_vec())));
        assert_eq!(r.next_line(), None);
        r.push(b"OP\r\n");
        assert_eq!(r.next_line(), Some(Ok(b"NOOP".to_vec())));
        assert!(r.is_empty());
    }

    #[test]
    fn overlong_line_is_reported_once_and_skipped() {
        let mut r = LineReader::new(10);
        r.push(b"0123456789abc");
        assert_eq!(r.next_line(), Some(Err(LineTooLong)));
        assert_eq!(r.next_line(), None);
        r.push(&[b'x'; 5000]);
        assert_eq!(r.next_line(), None);
        assert!(r.is_empty(), "skipped input is not buffered");
        r.push(b"yz\r\nNOOP\r\n");
        assert_eq!(r.next_line(), Some(Ok(b"NOOP".to_vec())));
    }

    #[test]
    fn complete_but_overlong_line_is_refused() {
        let mut r = LineReader::new(6);
        r.push(b"NOOPNOOP\r\nQUIT\r\n");
        assert_eq!(r.next_line(), Some(Err(LineTooLong)));
        assert_eq!(r.next_line(), Some(Ok(b"QUIT".to_vec())));
    }
}
