//! Untagged data lines: LIST/LSUB, STATUS, SEARCH, ESEARCH, VANISHED.

use super::write_mailbox;

/// `* LIST (attrs) "/" name [extended]` (or LSUB when `verb` says so).
/// `extra` is already-encoded extended data such as
/// `("CHILDINFO" ("SUBSCRIBED"))`.
pub fn list_line<S: AsRef<str>>(
    verb: &str,
    attrs: &[S],
    delimiter: Option<char>,
    name: &str,
    utf8: bool,
    extra: Option<&str>,
) -> Vec<u8> {
    let mut out = format!("* {verb} {} ", super::flag_list(attrs)).into_bytes();
    match delimiter {
        Some(d) if d == '"' || d == '\\' => out.extend_from_slice(format!("\"\\{d}\"").as_bytes()),
        Some(d) => out.extend_from_slice(format!("\"{d}\"").as_bytes()),
        None => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    write_mailbox(&mut out, name, utf8);
    if let Some(x) = extra {
        out.push(b' ');
        out.extend_from_slice(x.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// `* STATUS name (ITEM n ...)`.
pub fn status_line(name: &str, items: &[(&str, u64)], utf8: bool) -> Vec<u8> {
    let mut out = b"* STATUS ".to_vec();
    write_mailbox(&mut out, name, utf8);
    out.extend_from_slice(b" (");
    for (i, (k, v)) in items.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(format!("{k} {v}").as_bytes());
    }
    out.extend_from_slice(b")\r\n");
    out
}

/// `* SEARCH 1 2 3 [(MODSEQ n)]`.
pub fn search_line(numbers: &[u32], modseq: Option<u64>) -> Vec<u8> {
    let mut s = String::from("* SEARCH");
    for n in numbers {
        s.push(' ');
        s.push_str(&n.to_string());
    }
    if let Some(m) = modseq {
        s.push_str(&format!(" (MODSEQ {m})"));
    }
    s.push_str("\r\n");
    s.into_bytes()
}

/// `* ESEARCH (TAG "t") [UID] key value ...` (RFC 4731); `data` holds
/// already-formatted pairs such as `("COUNT", "3")`, `("ALL", "1:3,5")`.
pub fn esearch(tag: &str, uid: bool, data: &[(&str, String)]) -> Vec<u8> {
    let mut s = format!("* ESEARCH (TAG \"{tag}\")");
    if uid {
        s.push_str(" UID");
    }
    for (k, v) in data {
        s.push_str(&format!(" {k} {v}"));
    }
    s.push_str("\r\n");
    s.into_bytes()
}

/// `* VANISHED [(EARLIER)] set` (RFC 7162 3.2.10).
pub fn vanished(earlier: bool, set: &str) -> Vec<u8> {
    format!(
        "* VANISHED {}{set}\r\n",
        if earlier { "(EARLIER) " } else { "" }
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert_eq!(
            list_line(
                "LIST",
                &["\\HasNoChildren"],
                Some('/'),
                "INBOX",
                false,
                None
            ),
            b"* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
        );
        assert_eq!(
            status_line("a b", &[("MESSAGES", 2), ("SIZE", 10)], false),
            b"* STATUS \"a b\" (MESSAGES 2 SIZE 10)\r\n"
        );
        assert_eq!(
            esearch("A1", true, &[("COUNT", "2".into())]),
            b"* ESEARCH (TAG \"A1\") UID COUNT 2\r\n"
        );
        assert_eq!(vanished(true, "1:3"), b"* VANISHED (EARLIER) 1:3\r\n");
    }
}
