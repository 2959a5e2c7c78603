//! The DATA decoder: message content in, message bytes out.
//!
//! Feed it whatever the socket produced; it removes dot-stuffing (RFC 5321
//! 4.5.2), stops at the end marker `CRLF . CRLF` (RFC 5321 4.1.1.4) and
//! reports how many input bytes it used so that pipelined commands after
//! the marker are not lost. It never buffers: output goes to the caller's
//! `Vec` as it is decoded, and past `max_size` it stops emitting but keeps
//! scanning for the end marker, so the server can answer `552` at the end
//! of the message instead of breaking the session (RFC 1870 6.3).
//!
//! It also records what RFC 5321 forbids in content, leaving the decision
//! to the server through [`DataSummary::verdict`]:
//!
//! - **Bare LF and bare CR** (RFC 5321 2.3.8): never taken as a line end.
//!   In particular `LF . LF`, `LF . CRLF` and `CRLF . LF` do *not* end the
//!   message, which is what SMTP smuggling relies on. Default policy:
//!   reject with `554 5.6.11` (as current servers do).
//! - **NUL** octets (RFC 5321 4.1.1.4 says SHOULD NOT, RFC 5322 forbids
//!   them): default policy `554 5.6.0`.
//! - **Lines over 998 octets** (RFC 5321 4.5.3.1.6, RFC 5322 2.1.1):
//!   counted; default policy `554 5.6.0`, because the store keeps plain
//!   RFC 5322 files that IMAP clients must be able to read.
//!
//! The same decoder without dot handling ([`DataDecoder::raw`]) scans BDAT
//! chunks (RFC 3030), which are counted octets and carry no end marker.

use crate::reply::Reply;

/// RFC 5321 4.5.3.1.6 / RFC 5322 2.1.1: text line at most 998 octets
/// before CRLF.
pub const MAX_TEXT_LINE: usize = 998;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line (after CRLF, or at the start of content).
    LineStart,
    /// Saw `.` at the start of a line.
    Dot,
    /// Saw `.` CR at the start of a line.
    DotCr,
    /// Inside a line.
    Text,
    /// Saw CR inside a line (not yet emitted).
    Cr,
    /// The end marker was seen.
    Done,
}

/// What [`DataDecoder::feed`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataStatus {
    /// Every input byte was used; the message goes on.
    More,
    /// The end marker ends at `consumed` bytes into this input; the rest
    /// is the next command (pipelining).
    Done {
        /// Input bytes used, end marker included.
        consumed: usize,
    },
}

/// What the content looked like, for policy and logging.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DataSummary {
    /// Message octets after unstuffing, including those past the limit.
    pub size: u64,
    /// More than `max_size` octets: output was cut.
    pub oversize: bool,
    /// Lines longer than 998 octets.
    pub long_lines: u64,
    /// LF not preceded by CR.
    pub bare_lf: u64,
    /// CR not followed by LF.
    pub bare_cr: u64,
    /// NUL octets.
    pub nul: u64,
}

/// What the server tolerates in content. The default is strict (see the
/// module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DataPolicy {
    /// Accept lines over 998 octets.
    pub allow_long_lines: bool,
    /// Accept bare CR and bare LF.
    pub allow_bare_line_endings: bool,
    /// Accept NUL octets.
    pub allow_nul: bool,
}

impl DataSummary {
    /// The rejection this content deserves under `policy`, `None` when it
    /// is acceptable. Size comes first, then line endings, NUL, long lines.
    pub fn verdict(&self, policy: &DataPolicy) -> Option<Reply> {
        if self.oversize {
            return Some(Reply::message_too_big());
        }
        if (self.bare_lf > 0 || self.bare_cr > 0) && !policy.allow_bare_line_endings {
            // RFC 5321 2.3.8
            return Some(Reply::bare_line_ending());
        }
        if self.nul > 0 && !policy.allow_nul {
            return Some(Reply::with_status(
                554,
                (5, 6, 0),
                "NUL octets not allowed in message content",
            ));
        }
        if self.long_lines > 0 && !policy.allow_long_lines {
            // RFC 5321 4.5.3.1.6
            return Some(Reply::with_status(
                554,
                (5, 6, 0),
                "Message has lines longer than 998 octets",
            ));
        }
        None
    }
}

/// Streaming decoder for one message's content.
#[derive(Debug, Clone)]
pub struct DataDecoder {
    state: State,
    dots: bool,
    max_size: u64,
    line_len: usize,
    summary: DataSummary,
}

impl DataDecoder {
    /// A decoder for DATA content (dot-stuffed, ends with `CRLF.CRLF`)
    /// that emits at most `max_size` octets.
    pub fn new(max_size: u64) -> Self {
        Self {
            state: State::LineStart,
            dots: true,
            max_size,
            line_len: 0,
            summary: DataSummary::default(),
        }
    }

    /// A decoder for BDAT chunks: no dot-stuffing, no end marker, same
    /// counting. Feed every chunk of the message to the same decoder.
    pub fn raw(max_size: u64) -> Self {
        Self {
            dots: false,
            ..Self::new(max_size)
        }
    }

    /// What was seen so far.
    pub fn summary(&self) -> DataSummary {
        self.summary
    }

    /// True once the end marker has been seen.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes `input`, appending message bytes to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> DataStatus {
        for (i, &b) in input.iter().enumerate() {
            self.step(b, out);
            if self.state == State::Done {
                return DataStatus::Done { consumed: i + 1 };
            }
        }
        if self.state == State::Done {
            return DataStatus::Done { consumed: 0 };
        }
        DataStatus::More
    }

    /// Ends a raw (BDAT) message: a CR held back at the very end is bare.
    pub fn finish_raw(&mut self, out: &mut Vec<u8>) -> DataSummary {
        if matches!(self.state, State::Cr | State::DotCr) {
            self.summary.bare_cr += 1;
            self.emit(b'\r', out);
        }
        self.state = State::Done;
        self.summary
    }

    fn emit(&mut self, b: u8, out: &mut Vec<u8>) {
        self.summary.size = self.summary.size.saturating_add(1);
        if self.summary.size > self.max_size {
            self.summary.oversize = true;
        } else {
            out.push(b);
        }
        if b == b'\n' {
            self.line_len = 0;
        } else if b != b'\r' {
            self.line_len += 1;
            // RFC 5321 4.5.3.1.6: count each long line once.
            if self.line_len == MAX_TEXT_LINE + 1 {
                self.summary.long_lines += 1;
            }
        }
    }

    fn step(&mut self, b: u8, out: &mut Vec<u8>) {
        match self.state {
            State::Done => {}
            State::LineStart if b == b'.' && self.dots => self.state = State::Dot,
            State::LineStart | State::Text => self.text(b, out),
            // RFC 5321 4.5.2: a leading dot with more on the line is
            // removed ("..x" -> ".x"; ".x" -> "x").
            State::Dot if b == b'\r' => self.state = State::DotCr,
            State::Dot => self.text(b, out),
            // RFC 5321 4.1.1.4: CRLF . CRLF ends the content.
            State::DotCr if b == b'\n' => self.state = State::Done,
            State::DotCr => {
                self.summary.bare_cr += 1;
                self.emit(b'\r', out);
                self.text(b, out);
            }
            State::Cr if b == b'\n' => {
                self.emit(b'\r', out);
                self.emit(b'\n', out);
                self.state = State::LineStart;
            }
            State::Cr => {
                self.summary.bare_cr += 1;
                self.emit(b'\r', out);
                self.state = State::Text;
                self.text(b, out);
            }
        }
    }

    /// An octet inside a line.
    fn text(&mut self, b: u8, out: &mut Vec<u8>) {
        match b {
            b'\r' => self.state = State::Cr,
            b'\n' => {
                // RFC 5321 2.3.8: a bare LF is content, never a line end.
                self.summary.bare_lf += 1;
                self.emit(b, out);
                self.state = State::Text;
            }
            0 => {
                self.summary.nul += 1;
                self.emit(b, out);
                self.state = State::Text;
            }
            _ => {
                self.emit(b, out);
                self.state = State::Text;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(input: &[u8]) -> (Vec<u8>, DataStatus, DataSummary) {
        let mut d = DataDecoder::new(1 << 20);
        let mut out = Vec::new();
        let st = d.feed(input, &mut out);
        (out, st, d.summary())
    }

    #[test]
    fn unstuffs_and_stops_at_marker() {
        let (out, st, s) = decode(b"Subject: x\r\n\r\n..dot\r\n.x\r\nend\r\n.\r\nQUIT\r\n");
        assert_eq!(out, b"Subject: x\r\n\r\n.dot\r\nx\r\nend\r\n");
        assert_eq!(st, DataStatus::Done { consumed: 33 });
        assert_eq!(
            s,
            DataSummary {
                size: out.len() as u64,
                ..DataSummary::default()
            }
        );
    }

    #[test]
    fn empty_message() {
        let (out, st, _) = decode(b".\r\n");
        assert!(out.is_empty());
        assert_eq!(st, DataStatus::Done { consumed: 3 });
    }

    #[test]
    fn marker_split_across_feeds() {
        let input = b"a\r\nb\r\n.\r\nNOOP\r\n";
        for cut in 0..input.len() {
            let mut d = DataDecoder::new(100);
            let mut out = Vec::new();
            let first = d.feed(&input[..cut], &mut out);
            let total = match first {
                DataStatus::Done { consumed } => consumed,
                DataStatus::More => match d.feed(&input[cut..], &mut out) {
                    DataStatus::Done { consumed } => cut + consumed,
                    DataStatus::More => panic!("no end at cut {cut}"),
                },
            };
            assert_eq!(total, 9, "cut {cut}");
            assert_eq!(out, b"a\r\nb\r\n", "cut {cut}");
        }
    }

    #[test]
    fn smuggling_markers_do_not_end_the_message() {
        for input in [
            &b"a\n.\nb\r\n.\r\n"[..],
            b"a\n.\r\nb\r\n.\r\n",
            b"a\r\n.\nb\r\n.\r\n",
            b"a\r.\rb\r\n.\r\n",
        ] {
            let (out, st, s) = decode(input);
            assert_eq!(
                st,
                DataStatus::Done {
                    consumed: input.len()
                },
                "{input:?}"
            );
            assert!(out.ends_with(b"b\r\n"), "{input:?}");
            assert!(s.bare_lf + s.bare_cr > 0);
            assert_eq!(
                s.verdict(&DataPolicy::default()).map(|r| r.code()),
                Some(554)
            );
        }
    }

    #[test]
    fn size_limit_cuts_output_but_finds_the_end() {
        let mut d = DataDecoder::new(4);
        let mut out = Vec::new();
        let st = d.feed(b"123456789\r\n.\r\n", &mut out);
        assert_eq!(st, DataStatus::Done { consumed: 14 });
        assert_eq!(out, b"1234");
        let s = d.summary();
        assert!(s.oversize);
        assert_eq!(s.size, 11);
        assert_eq!(
            s.verdict(&DataPolicy::default()).map(|r| r.code()),
            Some(552)
        );
    }

    #[test]
    fn long_lines_and_nul_are_counted() {
        let mut input = vec![b'x'; 999];
        input.extend_from_slice(b"\r\nok\0\r\n");
        input.extend_from_slice(&[b'y'; 2000]);
        input.extend_from_slice(b"\r\n.\r\n");
        let (_, _, s) = decode(&input);
        assert_eq!((s.long_lines, s.nul), (2, 1));
        let lenient = DataPolicy {
            allow_long_lines: true,
            allow_nul: true,
            ..DataPolicy::default()
        };
        assert_eq!(s.verdict(&lenient), None);
        let (_, _, s) = decode(&[&[b'x'; 998][..], b"\r\n.\r\n"].concat());
        assert_eq!(s.long_lines, 0, "998 is allowed");
    }

    #[test]
    fn raw_mode_keeps_dots() {
        let mut d = DataDecoder::raw(100);
        let mut out = Vec::new();
        assert_eq!(d.feed(b"a\r\n.\r\n.b\r", &mut out), DataStatus::More);
        let s = d.finish_raw(&mut out);
        assert_eq!(out, b"a\r\n.\r\n.b\r");
        assert_eq!(s.bare_cr, 1);
    }
}
