//! Server replies: a three-digit code, an optional enhanced status code
//! (RFC 3463, announced with ENHANCEDSTATUSCODES, RFC 2034) and one or more
//! lines of text.
//!
//! Rendering follows RFC 5321 4.2.1: every line but the last is
//! `code-text`, the last is `code text`, each ends with CRLF. Text is
//! cleaned of control characters when the reply is built, so client input
//! quoted in a reply can never inject a line of its own.

use std::fmt;

/// An enhanced mail system status code, `class.subject.detail` (RFC 3463).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnhancedStatus {
    /// 2 success, 4 persistent transient failure, 5 permanent failure.
    pub class: u8,
    /// The subject (1 addressing, 2 mailbox, 3 mail system, 4 network,
    /// 5 protocol, 6 content, 7 security).
    pub subject: u16,
    /// The detail within the subject.
    pub detail: u16,
}

impl EnhancedStatus {
    /// `class.subject.detail`.
    pub const fn new(class: u8, subject: u16, detail: u16) -> Self {
        Self {
            class,
            subject,
            detail,
        }
    }
}

impl fmt::Display for EnhancedStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

/// One SMTP/LMTP reply, possibly multi-line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    code: u16,
    status: Option<EnhancedStatus>,
    lines: Vec<String>,
}

/// Keeps printable text only: control characters (CR, LF, NUL...) become
/// spaces, so that quoted client input cannot break the reply framing.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

impl Reply {
    /// A single-line reply. `code` should be 200..=599; other values are
    /// clamped to 451 so that a programming error never puts a malformed
    /// code on the wire.
    pub fn new(code: u16, status: Option<EnhancedStatus>, text: &str) -> Self {
        let code = if (200..=599).contains(&code) {
            code
        } else {
            451
        };
        Self {
            code,
            status,
            lines: vec![clean(text)],
        }
    }

    /// A single-line reply with an enhanced status code.
    pub fn with_status(code: u16, status: (u8, u16, u16), text: &str) -> Self {
        Self::new(
            code,
            Some(EnhancedStatus::new(status.0, status.1, status.2)),
            text,
        )
    }

    /// A multi-line reply (EHLO/LHLO capability lists, HELP).
    pub fn multiline<I, S>(code: u16, status: Option<EnhancedStatus>, lines: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut reply = Self::new(code, status, "");
        reply.lines = lines.into_iter().map(|l| clean(l.as_ref())).collect();
        if reply.lines.is_empty() {
            reply.lines.push(String::new());
        }
        reply
    }

    /// Appends a line of text.
    pub fn push_line(&mut self, line: &str) {
        self.lines.push(clean(line));
    }

    /// The three-digit reply code.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The enhanced status code, if any.
    pub fn status(&self) -> Option<EnhancedStatus> {
        self.status
    }

    /// The text lines.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// 2xx or 3xx.
    pub fn is_positive(&self) -> bool {
        self.code < 400
    }

    /// 4xx: try again later.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// 5xx: do not try again.
    pub fn is_permanent(&self) -> bool {
        self.code >= 500
    }

    /// The wire form (RFC 5321 4.2.1). With `enhanced` false the status
    /// code is left out, for sessions that did not announce
    /// ENHANCEDSTATUSCODES (RFC 2034 3).
    pub fn render(&self, enhanced: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        let last = self.lines.len().saturating_sub(1);
        for (i, line) in self.lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            let mut text = String::with_capacity(line.len() + 16);
            text.push_str(&self.code.to_string());
            text.push(sep);
            if let (true, Some(s)) = (enhanced, self.status) {
                text.push_str(&s.to_string());
                if !line.is_empty() {
                    text.push(' ');
                }
            }
            text.push_str(line);
            out.extend_from_slice(text.trim_end().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    /// `220 host text` (RFC 5321 4.2, no enhanced code on the greeting).
    pub fn greeting(host: &str, text: &str) -> Self {
        Self::new(220, None, &format!("{host} {text}"))
    }

    /// `250 2.0.0 text`.
    pub fn ok(text: &str) -> Self {
        Self::with_status(250, (2, 0, 0), text)
    }

    /// `221 2.0.0 text` before closing after QUIT.
    pub fn closing(text: &str) -> Self {
        Self::with_status(221, (2, 0, 0), text)
    }

    /// `354 Start mail input; end with <CRLF>.<CRLF>` (RFC 5321 4.3.2; no
    /// enhanced code on intermediate replies, RFC 2034 3).
    pub fn start_data() -> Self {
        Self::new(354, None, "Start mail input; end with <CRLF>.<CRLF>")
    }

    /// `220 2.0.0 Ready to start TLS` (RFC 3207 4).
    pub fn ready_for_tls() -> Self {
        Self::with_status(220, (2, 0, 0), "Ready to start TLS")
    }

    /// `421 4.3.2 text`: the service is going away (shutdown, too busy).
    pub fn shutting_down(text: &str) -> Self {
        Self::with_status(421, (4, 3, 2), text)
    }

    /// `421 4.4.2 Idle timeout, closing connection` (RFC 5321 4.5.3.2.7).
    pub fn timeout() -> Self {
        Self::with_status(421, (4, 4, 2), "Timeout, closing connection")
    }

    /// `503 5.5.1 text`: bad sequence of commands.
    pub fn bad_sequence(text: &str) -> Self {
        Self::with_status(503, (5, 5, 1), text)
    }

    /// `502 5.5.1 Command not implemented`.
    pub fn not_implemented() -> Self {
        Self::with_status(502, (5, 5, 1), "Command not implemented")
    }

    /// `552 5.3.4 Message size exceeds fixed maximum message size`
    /// (RFC 1870 6.1).
    pub fn message_too_big() -> Self {
        Self::with_status(
            552,
            (5, 3, 4),
            "Message size exceeds fixed maximum message size",
        )
    }

    /// `452 4.5.3 Too many recipients` (RFC 5321 4.5.3.1.10, RFC 3463).
    pub fn too_many_recipients() -> Self {
        Self::with_status(452, (4, 5, 3), "Too many recipients")
    }

    /// `550 5.1.1 Mailbox unknown`.
    pub fn unknown_user() -> Self {
        Self::with_status(550, (5, 1, 1), "Mailbox unknown")
    }

    /// `451 4.3.0 text`: local error, try again.
    pub fn local_error(text: &str) -> Self {
        Self::with_status(451, (4, 3, 0), text)
    }

    /// `554 5.6.11 Bare CR or LF not allowed` (RFC 5321 2.3.8; the reply
    /// current servers use against SMTP smuggling).
    pub fn bare_line_ending() -> Self {
        Self::with_status(
            554,
            (5, 6, 11),
            "Bare CR or LF not allowed in message content",
        )
    }
}

impl fmt::Display for Reply {
    /// The wire form with enhanced status codes, CRLF included.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.render(true)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_line_with_status() {
        let r = Reply::with_status(501, (5, 1, 3), "Bad recipient address syntax");
        assert_eq!(r.to_string(), "501 5.1.3 Bad recipient address syntax\r\n");
        assert_eq!(r.render(false), b"501 Bad recipient address syntax\r\n");
        assert!(r.is_permanent());
    }

    #[test]
    fn multi_line_uses_dash_until_last() {
        let r = Reply::multiline(250, None, ["mx.test", "PIPELINING", "SIZE 100"]);
        assert_eq!(
            r.to_string(),
            "250-mx.test\r\n250-PIPELINING\r\n250 SIZE 100\r\n"
        );
    }

    #[test]
    fn control_characters_cannot_inject_lines() {
        let r = Reply::ok("evil\r\n250 injected");
        assert_eq!(r.to_string(), "250 2.0.0 evil  250 injected\r\n");
    }

    #[test]
    fn bad_code_is_clamped() {
        assert_eq!(Reply::new(99, None, "x").code(), 451);
    }

    #[test]
    fn intermediate_reply_has_no_status() {
        assert!(Reply::start_data().to_string().starts_with("354 Start"));
    }
}
