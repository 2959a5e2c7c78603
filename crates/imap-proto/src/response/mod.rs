//! Response encoding. Strings are always written through
//! [`write_string`], which picks a quoted string only when that is safe
//! (no CR, LF, NUL, `"`/`\` escaped, bounded length, 8-bit only in UTF-8
//! mode) and a literal otherwise, so message data can never break the
//! framing of a response.

mod code;
mod envelope;
mod fetch;
mod lines;

pub use code::{Code, Status, StatusKind};
pub use envelope::{Address, BodyFields, BodyStructure, Envelope};
pub use fetch::FetchResponse;
pub use lines::{esearch, list_line, search_line, status_line, vanished};

/// Longest string sent quoted; longer ones go as literals.
const MAX_QUOTED: usize = 1024;

/// Appends `s` as an IMAP string: quoted when safe, a literal otherwise.
/// `utf8` allows 8-bit UTF-8 inside quotes (IMAP4rev2, UTF8=ACCEPT).
pub fn write_string(out: &mut Vec<u8>, s: &[u8], utf8: bool) {
    let quotable = s.len() <= MAX_QUOTED
        && s.iter()
            .all(|&b| b != b'\r' && b != b'\n' && b != 0 && (b < 0x80 || utf8))
        && (s.is_ascii() || std::str::from_utf8(s).is_ok());
    if quotable {
        out.push(b'"');
        for &b in s {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        write_literal(out, s);
    }
}

/// Appends `s` as a literal `{N}\r\n...`. Data with NUL must use
/// [`write_literal8`] instead.
pub fn write_literal(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
    out.extend_from_slice(s);
}

/// Appends `s` as a literal8 `~{N}\r\n...` (RFC 3516).
pub fn write_literal8(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(format!("~{{{}}}\r\n", s.len()).as_bytes());
    out.extend_from_slice(s);
}

/// Appends `NIL` or a string.
pub fn write_nstring(out: &mut Vec<u8>, s: Option<&[u8]>, utf8: bool) {
    match s {
        None => out.extend_from_slice(b"NIL"),
        Some(s) => write_string(out, s, utf8),
    }
}

/// Appends an astring: a bare atom when every byte allows it (and it is
/// not `NIL`), else a string.
pub fn write_astring(out: &mut Vec<u8>, s: &[u8], utf8: bool) {
    let atom = !s.is_empty()
        && !s.eq_ignore_ascii_case(b"NIL")
        && s.iter()
            .all(|&b| crate::cursor::is_atom_char(b) || b == b']');
    if atom {
        out.extend_from_slice(s);
    } else {
        write_string(out, s, utf8);
    }
}

/// Appends a mailbox name, encoded for the session's mode.
pub fn write_mailbox(out: &mut Vec<u8>, name: &str, utf8: bool) {
    let wire = crate::mailbox::encode_mailbox(name, utf8);
    write_astring(out, wire.as_bytes(), utf8);
}

/// `(\Seen $Label)`.
pub fn flag_list<S: AsRef<str>>(flags: &[S]) -> String {
    let mut s = String::from("(");
    for (i, f) in flags.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(f.as_ref());
    }
    s.push(')');
    s
}

/// `* CAPABILITY ...`.
pub fn capability_line<S: AsRef<str>>(caps: &[S]) -> Vec<u8> {
    let mut s = String::from("* CAPABILITY");
    for c in caps {
        s.push(' ');
        s.push_str(c.as_ref());
    }
    s.push_str("\r\n");
    s.into_bytes()
}

/// `+ text` continuation request.
pub fn continuation(text: &str) -> Vec<u8> {
    let text: String = text.chars().filter(|c| !c.is_control()).collect();
    format!("+ {text}\r\n").into_bytes()
}

/// Makes free text safe for a response line: no CR/LF/NUL, no `[` at the
/// start (it would read as a response code).
pub fn clean_text(text: &str) -> String {
    let t: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let t = t.trim_start_matches('[').to_string();
    if t.is_empty() { "done".into() } else { t }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_choose_quoted_or_literal() {
        let mut out = Vec::new();
        write_string(&mut out, b"a \"b\" \\c", false);
        assert_eq!(out, b"\"a \\\"b\\\" \\\\c\"");
        out.clear();
        write_string(&mut out, b"line\r\nbreak", false);
        assert_eq!(out, b"{11}\r\nline\r\nbreak");
        out.clear();
        write_string(&mut out, "caf\u{e9}".as_bytes(), false);
        assert!(out.starts_with(b"{5}\r\n"));
        out.clear();
        write_string(&mut out, "caf\u{e9}".as_bytes(), true);
        assert_eq!(out, "\"caf\u{e9}\"".as_bytes());
        out.clear();
        write_astring(&mut out, b"NIL", false);
        assert_eq!(out, b"\"NIL\"");
        out.clear();
        write_mailbox(&mut out, "Entw\u{fc}rfe", false);
        assert_eq!(out, b"Entw&APw-rfe");
        out.clear();
        write_mailbox(&mut out, "Sent Items", false);
        assert_eq!(out, b"\"Sent Items\"");
    }
}
