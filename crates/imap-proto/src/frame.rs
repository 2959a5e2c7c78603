//! Framing: finding where a command ends in a buffer that may hold half of
//! one, or several pipelined ones, before parsing it.
//!
//! A command is lines joined by literals: a line ending in `{N}`, `{N+}`
//! or `~{N}` (literal8, RFC 3516) is followed by N raw bytes and then the
//! rest of the command. Framing walks those announcements first, so a
//! literal's size is checked before any of it is buffered, and the parser
//! proper only ever sees a complete command.

use crate::command::{self, Command};
use crate::cursor::Cursor;
use crate::error::{ErrorKind, ParseError};

/// Limits and modes for [`parse_command`].
#[derive(Debug, Clone)]
pub struct ParseOptions {
    /// Longest line (bytes between literals, without CRLF). RFC 7162 3.2.1.5
    /// recommends accepting at least 8192.
    pub max_line: usize,
    /// Largest literal accepted (an APPEND's message is one).
    pub max_literal: u64,
    /// Largest command with all its literals.
    pub max_command: u64,
    /// Deepest nesting of parentheses.
    pub max_depth: usize,
    /// Mailbox names are UTF-8 (IMAP4rev2 or `ENABLE UTF8=ACCEPT`) rather
    /// than modified UTF-7.
    pub utf8_names: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            max_line: 64 * 1024,
            max_literal: 64 * 1024 * 1024,
            max_command: 65 * 1024 * 1024,
            max_depth: 32,
            utf8_names: false,
        }
    }
}

/// What [`parse_command`] found in the buffer.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// A whole command, which used the first `consumed` bytes.
    Complete {
        /// The command.
        command: Command,
        /// Bytes used; drop them from the buffer.
        consumed: usize,
    },
    /// The command is not all there yet; read more.
    Incomplete,
    /// A literal was announced and its bytes are not all there yet. For a
    /// synchronizing one the client waits for a `+` continuation: send it
    /// once per `offset` (the position in the buffer where the literal's
    /// bytes begin), then read more.
    NeedLiteral {
        /// The announced size (already checked against the maximum).
        size: u64,
        /// Whether the client waits for `+` before sending.
        synchronizing: bool,
        /// Where the literal's bytes begin in the buffer.
        offset: usize,
    },
}

/// Reads the tag at the start of `buf`, if it is a valid one (RFC 3501
/// `tag = 1*<any ASTRING-CHAR except "+">`).
pub(crate) fn peek_tag(buf: &[u8]) -> Option<String> {
    let end = buf
        .iter()
        .position(|&b| b == b' ' || b == b'\r' || b == b'\n')?;
    let tag = &buf[..end];
    if tag.is_empty() || tag.len() > 64 || !tag.iter().all(|&b| crate::cursor::is_tag_char(b)) {
        return None;
    }
    std::str::from_utf8(tag).ok().map(str::to_owned)
}

/// Looks at the end of a line for a literal announcement: returns
/// `(size, synchronizing)` or `None`. A malformed one (`{abc}`) is left to
/// the parser, which reports it with the command's tag.
fn literal_at_end(line: &[u8]) -> Option<(u64, bool)> {
    let line = line.strip_suffix(b"}")?;
    let open = line.iter().rposition(|&b| b == b'{')?;
    let mut digits = &line[open + 1..];
    let mut synchronizing = true;
    if let Some(d) = digits
        .strip_suffix(b"+")
        .or_else(|| digits.strip_suffix(b"-"))
    {
        digits = d;
        synchronizing = false;
    }
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let size = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((size, synchronizing))
}

/// Frames and parses the first command in `buf`.
pub fn parse_command(buf: &[u8], opts: &ParseOptions) -> Result<Parsed, ParseError> {
    let tag = || peek_tag(buf);
    let mut pos = 0usize;
    loop {
        let window_end = buf.len().min(pos.saturating_add(opts.max_line + 2));
        let Some(lf) = buf[pos..window_end].iter().position(|&b| b == b'\n') else {
            if buf.len() - pos > opts.max_line + 1 {
                return Err(ParseError {
                    tag: tag(),
                    kind: ErrorKind::LineTooLong,
                    consumed: None,
                });
            }
            return Ok(Parsed::Incomplete);
        };
        let lf = pos + lf;
        let line = &buf[pos..lf];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some((size, synchronizing)) = literal_at_end(line) else {
            let consumed = lf + 1;
            return match parse_framed(&buf[..consumed], opts) {
                Ok(command) => Ok(Parsed::Complete { command, consumed }),
                Err(kind) => Err(ParseError {
                    tag: tag(),
                    kind,
                    consumed: Some(consumed),
                }),
            };
        };
        if size > opts.max_literal {
            // A synchronizing literal is never sent without our `+`, so the
            // stream stays in step; a non-synchronizing one is on its way
            // and we will not read it (RFC 7888 4).
            return Err(ParseError {
                tag: tag(),
                kind: ErrorKind::LiteralTooLarge {
                    size,
                    max: opts.max_literal,
                    synchronizing,
                },
                consumed: synchronizing.then_some(lf + 1),
            });
        }
        let data_start = lf + 1;
        let end = data_start as u64 + size;
        if end > opts.max_command {
            return Err(ParseError {
                tag: tag(),
                kind: ErrorKind::CommandTooLarge,
                consumed: synchronizing.then_some(lf + 1),
            });
        }
        if (buf.len() as u64) < end {
            return Ok(Parsed::NeedLiteral {
                size,
                synchronizing,
                offset: data_start,
            });
        }
        pos = end as usize;
    }
}

fn parse_framed(buf: &[u8], opts: &ParseOptions) -> Result<Command, ErrorKind> {
    let mut c = Cursor::new(buf, opts);
    command::parse(&mut c)
}

/// Splits one plain line (an AUTHENTICATE response, IDLE's `DONE`) off the
/// front of `buf`: `Ok(Some((line without CRLF, consumed)))`, `Ok(None)`
/// when it is not complete yet, `Err` when it is longer than `max_line`.
pub fn parse_line(buf: &[u8], max_line: usize) -> Result<Option<(&[u8], usize)>, ErrorKind> {
    let window = &buf[..buf.len().min(max_line + 2)];
    match window.iter().position(|&b| b == b'\n') {
        Some(lf) => {
            let line = &buf[..lf];
            Ok(Some((line.strip_suffix(b"\r").unwrap_or(line), lf + 1)))
        }
        None if buf.len() > max_line + 1 => Err(ErrorKind::LineTooLong),
        None => Ok(None),
    }
}
