//! Mailbox names on the wire: modified UTF-7 (RFC 3501 5.1.3) for
//! IMAP4rev1 clients, UTF-8 for IMAP4rev2 and `UTF8=ACCEPT` (RFC 9051
//! 5.1, RFC 6855). Decoding is strict — anything a conforming client
//! cannot have produced is refused rather than guessed at, so two
//! spellings can never name the same folder.

use crate::error::ErrorKind;

/// A decoded mailbox name (Unicode). `INBOX` in any case is normalised to
/// `INBOX` (RFC 3501 5.1), including as the first level of a hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MailboxName(pub String);

impl MailboxName {
    /// Builds a name, normalising a leading `INBOX` with the `/` delimiter.
    pub fn new(name: String) -> Self {
        if name.eq_ignore_ascii_case("INBOX") {
            return Self("INBOX".into());
        }
        if name.len() > 6
            && name
                .get(..6)
                .is_some_and(|p| p.eq_ignore_ascii_case("INBOX/"))
        {
            return Self(format!("INBOX{}", &name[5..]));
        }
        Self(name)
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

fn b64_value(b: u8) -> Option<u32> {
    B64.iter().position(|&c| c == b).map(|p| p as u32)
}

/// Decodes modified UTF-7. Refuses 8-bit and control bytes, unterminated
/// or malformed base64 runs, encoded printable ASCII, non-zero padding
/// bits, broken surrogate pairs and NUL.
pub fn mutf7_decode(raw: &[u8]) -> Result<String, ErrorKind> {
    let bad = ErrorKind::BadMailboxName;
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if !(0x20..0x7f).contains(&b) {
            return Err(bad("8-bit or control character in a modified UTF-7 name"));
        }
        if b != b'&' {
            out.push(b as char);
            i += 1;
            continue;
        }
        let start = i + 1;
        let end = raw[start..]
            .iter()
            .position(|&c| c == b'-')
            .map(|p| start + p)
            .ok_or(bad("unterminated modified UTF-7 sequence"))?;
        if end == start {
            out.push('&');
            i = end + 1;
            continue;
        }
        let mut bits: u32 = 0;
        let mut nbits = 0;
        let mut units = Vec::new();
        for &c in &raw[start..end] {
            let v = b64_value(c).ok_or(bad("invalid character in modified base64"))?;
            bits = (bits << 6) | v;
            nbits += 6;
            if nbits >= 16 {
                nbits -= 16;
                units.push(((bits >> nbits) & 0xffff) as u16);
            }
        }
        if nbits >= 6 || (bits & ((1 << nbits) - 1)) != 0 {
            return Err(bad("bad padding in modified base64"));
        }
        if units.is_empty() {
            return Err(bad("empty modified base64 run"));
        }
        for ch in char::decode_utf16(units.iter().copied()) {
            let ch = ch.map_err(|_| bad("unpaired surrogate in modified UTF-7"))?;
            if (' '..='~').contains(&ch) || ch == '\0' {
                return Err(bad("printable ASCII must not be base64-encoded"));
            }
            out.push(ch);
        }
        i = end + 1;
        // RFC 3501: "&AGE-&AGU-" must have been one run.
        if raw.get(i) == Some(&b'&') && raw.get(i + 1) != Some(&b'-') {
            return Err(bad("adjacent modified base64 runs"));
        }
    }
    Ok(out)
}

/// Encodes a name as modified UTF-7.
pub fn mutf7_encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        out.push('&');
        let mut bits: u32 = 0;
        let mut nbits = 0;
        for &u in pending.iter() {
            bits = (bits << 16) | u32::from(u);
            nbits += 16;
            while nbits >= 6 {
                nbits -= 6;
                out.push(B64[((bits >> nbits) & 0x3f) as usize] as char);
            }
            bits &= (1 << nbits) - 1;
        }
        if nbits > 0 {
            out.push(B64[((bits << (6 - nbits)) & 0x3f) as usize] as char);
        }
        out.push('-');
        pending.clear();
    };
    for ch in name.chars() {
        if (' '..='~').contains(&ch) {
            flush(&mut pending, &mut out);
            if ch == '&' {
                out.push_str("&-");
            } else {
                out.push(ch);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(ch.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// Decodes a mailbox name from the wire in the session's mode.
pub fn decode_mailbox(raw: &[u8], utf8: bool) -> Result<MailboxName, ErrorKind> {
    let name = if utf8 {
        let s =
            std::str::from_utf8(raw).map_err(|_| ErrorKind::BadMailboxName("not valid UTF-8"))?;
        if s.chars().any(char::is_control) {
            return Err(ErrorKind::BadMailboxName(
                "control character in mailbox name",
            ));
        }
        s.to_owned()
    } else {
        mutf7_decode(raw)?
    };
    Ok(MailboxName::new(name))
}

/// Encodes a mailbox name for the wire in the session's mode.
pub fn encode_mailbox(name: &str, utf8: bool) -> String {
    if utf8 {
        name.to_owned()
    } else {
        mutf7_encode(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3501_example_round_trips() {
        let raw = "~peter/mail/&U,BTFw-/&ZeVnLIqe-";
        let s = mutf7_decode(raw.as_bytes()).unwrap();
        assert_eq!(s, "~peter/mail/台北/日本語");
        assert_eq!(mutf7_encode(&s), raw);
    }

    #[test]
    fn ampersand_and_astral() {
        assert_eq!(mutf7_decode(b"A&-B").unwrap(), "A&B");
        assert_eq!(mutf7_encode("A&B"), "A&-B");
        let s = "Gr\u{fc}\u{df}e \u{1f600}";
        assert_eq!(mutf7_decode(mutf7_encode(s).as_bytes()).unwrap(), s);
    }

    #[test]
    fn invalid_mutf7_is_refused() {
        for bad in [
            &b"&Jjo"[..],   // unterminated
            b"&Jjo!-",      // bad base64 char
            b"&AGE-",       // encoded printable 'a'
            b"caf\xc3\xa9", // raw 8-bit
            b"a\x01b",      // control
            b"&2D0-",       // lone high surrogate
            b"&AAA-",       // NUL
            b"&Jjo-&Jjo-",  // adjacent runs
            b"&Jj-",        // non-zero padding bits / short
        ] {
            assert!(
                mutf7_decode(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn utf8_mode() {
        assert_eq!(
            decode_mailbox("Entw\u{fc}rfe".as_bytes(), true).unwrap().0,
            "Entw\u{fc}rfe"
        );
        assert!(decode_mailbox(b"\xff\xfe", true).is_err());
        assert!(decode_mailbox(b"a\x7fb", true).is_err());
        assert_eq!(decode_mailbox(b"inbox", false).unwrap().0, "INBOX");
        assert_eq!(decode_mailbox(b"Inbox/Sub", false).unwrap().0, "INBOX/Sub");
    }
}
