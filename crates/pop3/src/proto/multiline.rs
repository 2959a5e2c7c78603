//! Encoding message content as a multi-line response (RFC 1939 3).
//!
//! Content arrives in arbitrary chunks (a file read, a stream). Each byte
//! goes through a small state machine: a lone LF becomes CRLF, a `.` at the
//! start of a line is doubled, and for TOP the output stops after the
//! header, the blank line and `n` body lines (RFC 1939 7). [`finish`]
//! completes a last line without a line end and adds the `.` terminator.
//! A lone CR not followed by LF is passed through unchanged: it does not
//! end a line, so it cannot fake a terminator.
//!
//! [`finish`]: MultiLine::finish

/// Encoder state for one multi-line response.
#[derive(Debug, Clone)]
pub struct MultiLine {
    /// Body lines to send for TOP; `None` for RETR.
    top: Option<u32>,
    at_line_start: bool,
    pending_cr: bool,
    in_body: bool,
    body_lines: u32,
    done: bool,
}

impl MultiLine {
    /// An encoder for RETR (`None`) or `TOP msg n` (`Some(n)`).
    pub fn new(top: Option<u32>) -> Self {
        Self {
            top,
            at_line_start: true,
            pending_cr: false,
            in_body: false,
            body_lines: 0,
            done: false,
        }
    }

    /// True once TOP has sent all it should; further input is ignored, so
    /// the caller can stop reading the message.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Encodes `input` onto `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + input.len() / 32 + 4);
        for &b in input {
            if self.done {
                return;
            }
            if self.pending_cr {
                self.pending_cr = false;
                if b == b'\n' {
                    self.end_line(out);
                    continue;
                }
                // A lone CR is data.
                self.data(b'\r', out);
            }
            match b {
                b'\r' => self.pending_cr = true,
                b'\n' => self.end_line(out),
                _ => self.data(b, out),
            }
        }
    }

    /// Ends the response: a CR held back or an unterminated last line gets
    /// its CRLF, then the `.` line.
    pub fn finish(mut self, out: &mut Vec<u8>) {
        if !self.done && (self.pending_cr || !self.at_line_start) {
            self.pending_cr = false;
            self.end_line(out);
        }
        out.extend_from_slice(b".\r\n");
    }

    fn data(&mut self, b: u8, out: &mut Vec<u8>) {
        if self.at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        self.at_line_start = false;
    }

    fn end_line(&mut self, out: &mut Vec<u8>) {
        let empty = self.at_line_start;
        out.extend_from_slice(b"\r\n");
        self.at_line_start = true;
        if self.in_body {
            self.body_lines = self.body_lines.saturating_add(1);
        } else if empty {
            // The blank line between header and body (RFC 5322 2.1).
            self.in_body = true;
        }
        if let Some(n) = self.top
            && self.in_body
            && self.body_lines >= n
        {
            self.done = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(top: Option<u32>, chunks: &[&[u8]]) -> String {
        let mut m = MultiLine::new(top);
        let mut out = Vec::new();
        for c in chunks {
            m.feed(c, &mut out);
        }
        m.finish(&mut out);
        String::from_utf8(out).expect("utf8")
    }

    const MSG: &[u8] = b"Subject: x\r\nFrom: a@b\r\n\r\nline 1\r\n.dot\r\nline 3\r\n";

    #[test]
    fn retr_stuffs_dots_and_terminates() {
        assert_eq!(
            encode(None, &[MSG]),
            "Subject: x\r\nFrom: a@b\r\n\r\nline 1\r\n..dot\r\nline 3\r\n.\r\n"
        );
    }

    #[test]
    fn bare_lf_becomes_crlf_and_last_line_is_completed() {
        assert_eq!(encode(None, &[b"a\nb\n\nc"]), "a\r\nb\r\n\r\nc\r\n.\r\n");
        assert_eq!(encode(None, &[b"a\r"]), "a\r\n.\r\n");
        assert_eq!(encode(None, &[b""]), ".\r\n");
    }

    #[test]
    fn lone_cr_is_data_and_cannot_fake_a_terminator() {
        assert_eq!(encode(None, &[b"a\r.\r\nb\r\n"]), "a\r.\r\nb\r\n.\r\n");
        assert_eq!(encode(None, &[b".\r\n"]), "..\r\n.\r\n");
    }

    #[test]
    fn chunk_boundaries_do_not_matter() {
        let whole = encode(None, &[MSG]);
        for split in 0..MSG.len() {
            let (a, b) = MSG.split_at(split);
            assert_eq!(encode(None, &[a, b]), whole, "split at {split}");
        }
        let bytes: Vec<&[u8]> = MSG.chunks(1).collect();
        assert_eq!(encode(Some(1), &bytes), encode(Some(1), &[MSG]));
    }

    #[test]
    fn top_sends_header_blank_line_and_n_body_lines() {
        assert_eq!(
            encode(Some(0), &[MSG]),
            "Subject: x\r\nFrom: a@b\r\n\r\n.\r\n"
        );
        assert_eq!(
            encode(Some(2), &[MSG]),
            "Subject: x\r\nFrom: a@b\r\n\r\nline 1\r\n..dot\r\n.\r\n"
        );
        assert_eq!(encode(Some(99), &[MSG]), encode(None, &[MSG]));
        // No body at all: the whole header.
        assert_eq!(encode(Some(3), &[b"Subject: x\r\n"]), "Subject: x\r\n.\r\n");
    }

    #[test]
    fn top_reports_done_so_reading_can_stop() {
        let mut m = MultiLine::new(Some(1));
        let mut out = Vec::new();
        m.feed(b"A: b\r\n\r\nfirst\r\n", &mut out);
        assert!(m.is_done());
        m.feed(b"more\r\n", &mut out);
        m.finish(&mut out);
        assert_eq!(out, b"A: b\r\n\r\nfirst\r\n.\r\n");
    }
}
