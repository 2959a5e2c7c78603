//! Reading what an SMTP or LMTP server says: multi-line replies
//! (RFC 5321 4.2.1), enhanced status codes (RFC 3463) and the EHLO/LHLO
//! capability list. No I/O here: lines go in, values come out.

/// One server reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// The text of every line, code and separator removed.
    pub lines: Vec<String>,
}

impl Reply {
    /// A reply made up locally (a connection failure reported in a DSN,
    /// a size check): shaped like a server's so logs and DSNs read alike.
    pub fn local(code: u16, status: &str, text: &str) -> Self {
        Self {
            code,
            lines: vec![format!("{status} {text}")],
        }
    }

    /// 2xx (or 3xx, which only DATA expects).
    pub fn is_positive(&self) -> bool {
        self.code < 400
    }

    /// 4xx: try again later.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// The enhanced status code of the first line, if the server sent one
    /// whose class agrees with the reply code (RFC 3463 / RFC 2034).
    pub fn enhanced(&self) -> Option<String> {
        let first = self.lines.first()?.split_whitespace().next()?;
        let parts: Vec<&str> = first.split('.').collect();
        let ok = parts.len() == 3
            && parts[0].len() == 1
            && parts[0].as_bytes()[0] == b'0' + (self.code / 100) as u8
            && parts[1..]
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()));
        ok.then(|| first.to_string())
    }

    /// The status for a DSN: the enhanced code, or the class's generic one
    /// (`5.0.0`, `4.0.0`, `2.0.0`).
    pub fn status(&self) -> String {
        self.enhanced()
            .unwrap_or_else(|| format!("{}.0.0", (self.code / 100).clamp(2, 5)))
    }

    /// The reply on one line, as a DSN `Diagnostic-Code` or a log shows it:
    /// `550 5.1.1 no such user`.
    pub fn one_line(&self) -> String {
        let mut s = self.code.to_string();
        for l in &self.lines {
            if !l.is_empty() {
                s.push(' ');
                s.push_str(l);
            }
        }
        s
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.one_line())
    }
}

/// Assembles a reply from lines as they arrive.
#[derive(Debug, Default)]
pub struct ReplyParser {
    code: Option<u16>,
    lines: Vec<String>,
}

/// Too many lines in one reply: a server that never ends its reply.
const MAX_LINES: usize = 200;

impl ReplyParser {
    /// Feeds one line (without CRLF). Returns the reply when the line was
    /// its last, an error when the line is not a reply line.
    pub fn feed(&mut self, line: &str) -> Result<Option<Reply>, String> {
        let b = line.as_bytes();
        if b.len() < 3 || !b[..3].iter().all(u8::is_ascii_digit) {
            return Err(format!("not a reply line: {:?}", truncate(line)));
        }
        let code: u16 = line[..3].parse().map_err(|_| "bad code".to_string())?;
        if !(200..600).contains(&code) {
            return Err(format!("reply code {code} out of range"));
        }
        if self.code.is_some_and(|c| c != code) {
            return Err(format!("reply code changed within a reply: {line:?}"));
        }
        self.code = Some(code);
        let (last, text) = match b.get(3) {
            None => (true, ""),
            Some(b' ') => (true, &line[4..]),
            Some(b'-') => (false, &line[4..]),
            Some(_) => return Err(format!("bad separator: {:?}", truncate(line))),
        };
        self.lines.push(text.to_string());
        if self.lines.len() > MAX_LINES {
            return Err("reply has too many lines".into());
        }
        if last {
            let lines = std::mem::take(&mut self.lines);
            self.code = None;
            return Ok(Some(Reply { code, lines }));
        }
        Ok(None)
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

/// What the server announced in its EHLO/LHLO reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// PIPELINING (RFC 2920).
    pub pipelining: bool,
    /// SIZE (RFC 1870); `Some(0)` means no fixed limit.
    pub size: Option<u64>,
    /// 8BITMIME (RFC 6152).
    pub eight_bit_mime: bool,
    /// SMTPUTF8 (RFC 6531).
    pub smtputf8: bool,
    /// DSN (RFC 3461).
    pub dsn: bool,
    /// STARTTLS (RFC 3207).
    pub starttls: bool,
    /// ENHANCEDSTATUSCODES (RFC 2034).
    pub enhanced_status: bool,
    /// X-TRACEPARENT (Tiermail's LMTP): MAIL FROM carries the trace.
    pub traceparent: bool,
    /// X-DELIVERY-ID (Tiermail's LMTP): MAIL FROM carries the relay's id
    /// of the queued message; the store answers a redelivery without
    /// storing it twice.
    pub delivery_id: bool,
}

impl Capabilities {
    /// Parses the lines after the greeting line of an EHLO/LHLO reply.
    pub fn parse(reply: &Reply) -> Self {
        let mut c = Capabilities::default();
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_whitespace();
            let Some(kw) = words.next() else { continue };
            match kw.to_ascii_uppercase().as_str() {
                "PIPELINING" => c.pipelining = true,
                "SIZE" => c.size = Some(words.next().and_then(|n| n.parse().ok()).unwrap_or(0)),
                "8BITMIME" => c.eight_bit_mime = true,
                "SMTPUTF8" => c.smtputf8 = true,
                "DSN" => c.dsn = true,
                "STARTTLS" => c.starttls = true,
                "ENHANCEDSTATUSCODES" => c.enhanced_status = true,
                "X-TRACEPARENT" => c.traceparent = true,
                "X-DELIVERY-ID" => c.delivery_id = true,
                _ => {}
            }
        }
        c
    }
}

/// The message as DATA sends it: lines starting with `.` get another
/// (RFC 5321 4.5.2), a missing final CRLF is added, and the terminating
/// `.` line follows.
pub fn dot_stuff(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 64 + 5);
    let mut at_line_start = true;
    for &b in data {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !data.is_empty() && !data.ends_with(b"\r\n") {
        if data.ends_with(b"\r") {
            out.push(b'\n');
        } else {
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(lines: &[&str]) -> Reply {
        let mut p = ReplyParser::default();
        for (i, l) in lines.iter().enumerate() {
            match p.feed(l).expect("valid") {
                Some(r) => {
                    assert_eq!(i, lines.len() - 1);
                    return r;
                }
                None => assert!(i < lines.len() - 1),
            }
        }
        panic!("incomplete");
    }

    #[test]
    fn multiline_and_capabilities() {
        let r = parse_all(&[
            "250-mx.example.net hello",
            "250-PIPELINING",
            "250-SIZE 1000",
            "250-8BITMIME",
            "250-DSN",
            "250-STARTTLS",
            "250 SMTPUTF8",
        ]);
        let c = Capabilities::parse(&r);
        assert!(c.pipelining && c.eight_bit_mime && c.dsn && c.starttls && c.smtputf8);
        assert_eq!(c.size, Some(1000));
        assert!(!c.traceparent && !c.delivery_id);
        let ours = parse_all(&["250-store.test", "250-X-TRACEPARENT", "250 X-DELIVERY-ID"]);
        let c = Capabilities::parse(&ours);
        assert!(c.traceparent && c.delivery_id);
    }

    #[test]
    fn status_codes() {
        let r = parse_all(&["550 5.1.1 no such user"]);
        assert_eq!(r.enhanced().as_deref(), Some("5.1.1"));
        assert_eq!(r.one_line(), "550 5.1.1 no such user");
        let r = parse_all(&["451 5.1.1 mismatched class"]);
        assert_eq!(r.status(), "4.0.0");
        let r = parse_all(&["250"]);
        assert_eq!(r.status(), "2.0.0");
    }

    #[test]
    fn bad_lines() {
        let mut p = ReplyParser::default();
        assert!(p.feed("hello").is_err());
        assert!(p.feed("250x").is_err());
        assert!(p.feed("999 no").is_err());
        let mut p = ReplyParser::default();
        assert!(p.feed("250-a").expect("ok").is_none());
        assert!(p.feed("251 b").is_err());
    }

    #[test]
    fn stuffing() {
        assert_eq!(
            dot_stuff(b".a\r\nb\r\n..c\r\n"),
            b"..a\r\nb\r\n...c\r\n.\r\n"
        );
        assert_eq!(dot_stuff(b"x"), b"x\r\n.\r\n");
        assert_eq!(dot_stuff(b""), b".\r\n");
    }
}
