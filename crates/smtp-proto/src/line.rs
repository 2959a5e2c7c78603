//! Splitting a byte stream into command lines with a hard length limit.
//!
//! The server pushes whatever it read; [`LineReader::next_line`] hands out
//! complete lines. A line longer than the limit is reported once as
//! [`LineTooLong`] and the rest of it is discarded up to its LF, so memory
//! stays bounded by the limit plus one read, whatever the client sends.
//! Lines end with LF; a CR before it is removed too (strict CRLF matters
//! in message content, which the [`crate::DataDecoder`] handles).

/// A line exceeded the reader's limit (`500 5.5.2 Line too long`, RFC 5321
/// 4.5.3.1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("line too long")]
pub struct LineTooLong;

impl From<LineTooLong> for crate::Error {
    fn from(_: LineTooLong) -> Self {
        crate::Error::LineTooLong
    }
}

/// Buffers input and yields lines of at most `max` octets (terminator
/// included).
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
            max: max.max(2),
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

    /// The next complete line without its line ending, `None` when more
    /// input is needed, or `Err` once for a line over the limit.
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

    /// True when a complete line (or an error) is ready without more input;
    /// a pipelining server flushes its replies when this is false
    /// (RFC 2920 3).
    pub fn has_line(&self) -> bool {
        self.buf.len() >= self.max || self.buf.contains(&b'\n')
    }

    /// True when nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Takes every buffered byte (the start of message content after DATA,
    /// or input to discard after STARTTLS, RFC 3207 6).
    pub fn take_buffered(&mut self) -> Vec<u8> {
        self.skipping = false;
        std::mem::take(&mut self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_across_pushes() {
        let mut r = LineReader::new(512);
        r.push(b"NOOP\r\nQU");
        assert_eq!(r.next_line(), Some(Ok(b"NOOP".to_vec())));
        assert_eq!(r.next_line(), None);
        assert!(!r.has_line());
        r.push(b"IT\nrest");
        assert_eq!(r.next_line(), Some(Ok(b"QUIT".to_vec())));
        assert_eq!(r.take_buffered(), b"rest");
    }

    #[test]
    fn long_line_reported_once_and_skipped() {
        let mut r = LineReader::new(10);
        r.push(b"0123456789abc");
        assert_eq!(r.next_line(), Some(Err(LineTooLong)));
        assert_eq!(r.next_line(), None);
        r.push(b"more junk");
        assert_eq!(r.next_line(), None);
        r.push(b"end\r\nNOOP\r\n");
        assert_eq!(r.next_line(), Some(Ok(b"NOOP".to_vec())));
    }

    #[test]
    fn long_complete_line_is_an_error() {
        let mut r = LineReader::new(6);
        r.push(b"12345\r\n1234\r\n");
        assert_eq!(r.next_line(), Some(Err(LineTooLong)));
        assert_eq!(r.next_line(), Some(Ok(b"1234".to_vec())));
    }
}
