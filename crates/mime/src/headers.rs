//! Header fields on raw bytes: the fields the cache keeps, the fields a
//! `BODY[...HEADER.FIELDS (...)]` selects, and the values SEARCH HEADER
//! compares. Works on bytes so 8-bit, NUL and bare-CR input cannot trip
//! it; part boundaries never come from here (that is mail-parser's job,
//! see [`crate::parse`]).

/// Where the body starts when no parser could say: after the first empty
/// line, or at the end when there is none. Only used for the structure of
/// a message mail-parser rejected.
pub(crate) fn header_end(raw: &[u8]) -> usize {
    let mut i = 0;
    while i < raw.len() {
        let end = raw[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len(), |p| i + p + 1);
        let line = &raw[i..end];
        if line == b"\r\n" || line == b"\n" {
            return end;
        }
        i = end;
    }
    raw.len()
}

/// The fields of a header block as (upper-case name, the field's raw
/// bytes with its folds and line break), in order.
pub fn fields(header: &[u8]) -> Vec<(String, &[u8])> {
    let mut out: Vec<(String, &[u8])> = Vec::new();
    let mut i = 0;
    let mut cur: Option<(String, usize)> = None;
    while i < header.len() {
        let end = header[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(header.len(), |p| i + p + 1);
        let line = &header[i..end];
        let blank = line == b"\r\n" || line == b"\n";
        let cont = line.first().is_some_and(|&b| b == b' ' || b == b'\t');
        if !cont {
            if let Some((name, s)) = cur.take() {
                out.push((name, &header[s..i]));
            }
            if blank {
                break;
            }
            if let Some(colon) = line.iter().position(|&b| b == b':') {
                let name = String::from_utf8_lossy(&line[..colon])
                    .trim()
                    .to_ascii_uppercase();
                cur = Some((name, i));
            }
        }
        i = end;
    }
    if let Some((name, s)) = cur {
        out.push((name, &header[s..i.min(header.len())]));
    }
    out
}

/// RFC 3501 6.4.5 `HEADER.FIELDS` / `HEADER.FIELDS.NOT`: the chosen
/// fields (names upper case) of a header block, then the blank line that
/// ends a header.
pub fn select_fields(header: &[u8], names: &[String], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, raw) in fields(header) {
        if names.iter().any(|n| n.eq_ignore_ascii_case(&name)) != not {
            out.extend_from_slice(raw);
            if !raw.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// A raw field's value after the colon, unfolded, white space collapsed.
fn unfolded(raw: &[u8]) -> String {
    let raw = String::from_utf8_lossy(raw);
    let v = raw.split_once(':').map_or("", |(_, v)| v);
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every field named `name` (any case), unfolded: SEARCH HEADER matches a
/// message when any of them contains the string (RFC 3501 6.4.4).
pub fn values(header: &[u8], name: &str) -> Vec<String> {
    fields(header)
        .into_iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, raw)| unfolded(raw))
        .collect()
}

/// The wanted header fields of a message, unfolded and lossy UTF-8, as
/// [`crate::CachedMessage::headers`] keeps them (names lower case).
pub(crate) fn cached_fields(raw: &[u8], wanted: &[String]) -> Vec<(String, String)> {
    let end = header_end(raw);
    fields(&raw[..end])
        .into_iter()
        .filter(|(n, _)| wanted.iter().any(|w| w.eq_ignore_ascii_case(n)))
        .map(|(n, raw)| {
            let v = String::from_utf8_lossy(raw);
            let v = v.split_once(':').map_or("", |(_, v)| v);
            let v = v
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            (n.to_ascii_lowercase(), v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_values() {
        let h = b"Message-Id: <a@x>\r\nSubject: s\r\nMessage-ID:\r\n <b@x>\r\n\r\nbody: no\r\n";
        assert_eq!(values(h, "message-id"), ["<a@x>", "<b@x>"]);
        assert_eq!(
            select_fields(h, &["SUBJECT".into()], false),
            b"Subject: s\r\n\r\n"
        );
        assert_eq!(
            cached_fields(b"Subject: a\r\n b\r\n\r\nbody", &["subject".into()]),
            [("subject".to_string(), "a b".to_string())]
        );
        assert_eq!(header_end(b"\r\nbody"), 2);
        assert_eq!(header_end(b"A: b\nC: d\n\nx"), 11);
        assert_eq!(header_end(b"A: b"), 4);
    }
}
