//! The one error type of this crate: a command that cannot be parsed.
//!
//! It carries the tag when one could be read (so the server answers
//! `TAG BAD ...` rather than `* BAD ...`) and how many bytes of the buffer
//! the bad command occupied, so the session can drop exactly those and go
//! on with the next pipelined command (RFC 3501 says a BAD does not end the
//! session). When the parser cannot tell where the command ends (a line
//! longer than allowed, a non-synchronizing literal too large to read),
//! `consumed` is `None` and the server has to close the connection.

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A line (without its literals) is longer than `max_line`.
    #[error("command line too long")]
    LineTooLong,
    /// A literal announcement larger than `max_literal`.
    #[error("literal of {size} bytes is larger than the {max} bytes allowed")]
    LiteralTooLarge {
        /// The announced size.
        size: u64,
        /// The configured maximum.
        max: u64,
        /// Whether the client waits for `+` before sending it.
        synchronizing: bool,
    },
    /// The command with all its literals is larger than allowed.
    #[error("command too large")]
    CommandTooLarge,
    /// Parentheses nested deeper than `max_depth`.
    #[error("parentheses nested too deeply")]
    TooDeep,
    /// No tag, or a tag with characters RFC 3501 does not allow.
    #[error("missing or invalid tag")]
    BadTag,
    /// A command name we do not know.
    #[error("unknown command")]
    UnknownCommand,
    /// A known command with malformed arguments; the text says what.
    #[error("syntax error: {0}")]
    Syntax(&'static str),
    /// A mailbox name that is not valid modified UTF-7 (or UTF-8 in
    /// IMAP4rev2/UTF8=ACCEPT mode), in an otherwise well-formed command:
    /// answered `NO`, since no such mailbox can exist.
    #[error("invalid mailbox name: {0}")]
    BadMailboxName(&'static str),
}

/// A command that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct ParseError {
    /// The command's tag, when it could be read.
    pub tag: Option<String>,
    /// What was wrong.
    pub kind: ErrorKind,
    /// Bytes of the buffer the bad command occupied (drop them and go
    /// on), or `None` when the stream cannot be resynchronized and the
    /// connection should be closed after answering.
    pub consumed: Option<usize>,
}

impl ParseError {
    /// The text for the `BAD` response: short, printable, no CR/LF.
    pub fn text(&self) -> String {
        self.kind.to_string()
    }

    /// True when the command was well-formed and the answer is `NO`
    /// rather than `BAD` (a mailbox name that cannot exist).
    pub fn is_refusal(&self) -> bool {
        matches!(self.kind, ErrorKind::BadMailboxName(_)) && self.tag.is_some()
    }

    /// The tagged or untagged `BAD` line this error deserves (`NO
    /// [CANNOT]` for a well-formed command naming an impossible mailbox,
    /// RFC 3501 6.3 and RFC 5530 3).
    pub fn response(&self) -> Vec<u8> {
        let tag = self.tag.as_deref().unwrap_or("*");
        if self.is_refusal() {
            return format!("{tag} NO [CANNOT] {}\r\n", self.text()).into_bytes();
        }
        let code = match self.kind {
            ErrorKind::LiteralTooLarge { .. } | ErrorKind::CommandTooLarge => "[TOOBIG] ",
            ErrorKind::LineTooLong => "[TOOBIG] ",
            _ => "",
        };
        format!("{tag} BAD {code}{}\r\n", self.text()).into_bytes()
    }
}
