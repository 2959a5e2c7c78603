//! Finding a FETCH section (RFC 3501 6.4.5 `BODY[1.2.HEADER]`) in a raw
//! message, and decoding a part for BINARY (RFC 3516). Works on bytes and
//! never fails: a malformed message just has fewer parts.

use base64::Engine;
use mail_imap_proto::{Section, SectionText};

/// A header block (including the blank line that ends it) and a body.
#[derive(Clone, Copy)]
struct Entity<'a> {
    header: &'a [u8],
    body: &'a [u8],
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn split(msg: &[u8]) -> Entity<'_> {
    if msg.starts_with(b"\r\n") {
        return Entity {
            header: &msg[..2],
            body: &msg[2..],
        };
    }
    if msg.starts_with(b"\n") {
        return Entity {
            header: &msg[..1],
            body: &msg[1..],
        };
    }
    let crlf = find(msg, b"\r\n\r\n").map(|i| i + 4);
    let lf = find(msg, b"\n\n").map(|i| i + 2);
    let end = match (crlf, lf) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b).unwrap_or(msg.len()),
    };
    Entity {
        header: &msg[..end],
        body: &msg[end..],
    }
}

/// Header fields as (name, raw bytes of the whole field with its folds).
fn fields(header: &[u8]) -> Vec<(String, &[u8])> {
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
            if !blank && let Some(colon) = line.iter().position(|&b| b == b':') {
                cur = Some((
                    String::from_utf8_lossy(&line[..colon])
                        .trim()
                        .to_ascii_uppercase(),
                    i,
                ));
            }
        }
        i = end;
    }
    if let Some((name, s)) = cur {
        out.push((name, &header[s..]));
    }
    out
}

fn value(header: &[u8], name: &str) -> Option<String> {
    fields(header)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, raw)| unfolded(raw))
}

/// A raw field's value after the colon, unfolded, white space collapsed.
fn unfolded(raw: &[u8]) -> String {
    let raw = String::from_utf8_lossy(raw);
    let v = raw.split_once(':').map_or("", |(_, v)| v);
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// (type, subtype, boundary) in lower case; defaults to text/plain.
fn content_type(header: &[u8]) -> (String, String, Option<String>) {
    let Some(v) = value(header, "CONTENT-TYPE") else {
        return ("text".into(), "plain".into(), None);
    };
    let mut parts = v.split(';');
    let ty = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let (t, s) = ty.split_once('/').unwrap_or(("text", "plain"));
    let mut boundary = None;
    for p in parts {
        if let Some((k, v)) = p.split_once('=')
            && k.trim().eq_ignore_ascii_case("boundary")
        {
            boundary = Some(v.trim().trim_matches('"').to_string());
        }
    }
    (t.trim().to_string(), s.trim().to_string(), boundary)
}

fn children(e: Entity<'_>) -> Vec<Entity<'_>> {
    let (t, _, boundary) = content_type(e.header);
    let Some(b) = boundary.filter(|_| t == "multipart") else {
        return Vec::new();
    };
    let delim = format!("--{b}");
    let body = e.body;
    let mut starts = Vec::new(); // (line start, line end)
    let mut i = 0;
    while i < body.len() {
        let end = body[i..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(body.len(), |p| i + p + 1);
        if body[i..end].starts_with(delim.as_bytes()) {
            let closing = body[i + delim.len()..end].starts_with(b"--");
            starts.push((i, end, closing));
            if closing {
                break;
            }
        }
        i = end;
    }
    let mut out = Vec::new();
    for w in starts.windows(2) {
        let (_, content_start, closing) = w[0];
        if closing {
            break;
        }
        let mut content_end = w[1].0;
        // The line break before a delimiter belongs to the delimiter.
        if body[..content_end].ends_with(b"\r\n") {
            content_end -= 2;
        } else if body[..content_end].ends_with(b"\n") {
            content_end -= 1;
        }
        out.push(split(&body[content_start..content_end.max(content_start)]));
    }
    out
}

fn is_message(e: Entity<'_>) -> bool {
    let (t, s, _) = content_type(e.header);
    t == "message" && (s == "rfc822" || s == "global")
}

/// The entity a part path names; the bool says whether it is the top-level
/// message itself (no part numbers).
fn navigate<'a>(msg: &'a [u8], part: &[u32]) -> Option<Entity<'a>> {
    let mut cur = split(msg);
    for (i, &n) in part.iter().enumerate() {
        if i > 0 && is_message(cur) {
            // Into the encapsulated message.
            cur = split(cur.body);
        }
        let kids = children(cur);
        if kids.is_empty() {
            if n != 1 {
                return None;
            }
        } else {
            cur = *kids.get(n as usize - 1)?;
        }
    }
    Some(cur)
}

fn header_fields(header: &[u8], names: &[String], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, raw) in fields(header) {
        if names.contains(&name) != not {
            out.extend_from_slice(raw);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The bytes of a BODY[section], or `None` when the part does not exist.
pub(crate) fn section(msg: &[u8], section: &Section) -> Option<Vec<u8>> {
    let target = navigate(msg, &section.part)?;
    // HEADER/TEXT of a part apply to the message it encapsulates.
    fn inner<'a>(msg: &'a [u8], top: bool, e: Entity<'a>) -> Option<Entity<'a>> {
        if top {
            Some(split(msg))
        } else if is_message(e) {
            Some(split(e.body))
        } else {
            None
        }
    }
    let inner = |e| inner(msg, section.part.is_empty(), e);
    Some(match &section.text {
        None if section.part.is_empty() => msg.to_vec(),
        None => target.body.to_vec(),
        Some(SectionText::Mime) => target.header.to_vec(),
        Some(SectionText::Header) => inner(target)?.header.to_vec(),
        Some(SectionText::Text) => inner(target)?.body.to_vec(),
        Some(SectionText::HeaderFields { not, fields }) => {
            header_fields(inner(target)?.header, fields, *not)
        }
    })
}

/// Decoded content of a part for BINARY[part]; `Err` when its
/// Content-Transfer-Encoding is unknown (`NO [UNKNOWN-CTE]`).
pub(crate) fn binary(msg: &[u8], part: &[u32]) -> Option<Result<Vec<u8>, ()>> {
    if part.is_empty() {
        return Some(Ok(msg.to_vec()));
    }
    let e = navigate(msg, part)?;
    let cte = value(e.header, "CONTENT-TRANSFER-ENCODING")
        .unwrap_or_default()
        .to_ascii_lowercase();
    Some(match cte.as_str() {
        "" | "7bit" | "8bit" | "binary" => Ok(e.body.to_vec()),
        "base64" => {
            let clean: Vec<u8> = e
                .body
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(&clean)
                .or_else(|_| {
                    base64::engine::general_purpose::STANDARD_NO_PAD.decode(clean.trim_ascii_end())
                })
                .map_err(|_| ())
        }
        "quoted-printable" => Ok(quoted_printable(e.body)),
        _ => Err(()),
    })
}

fn quoted_printable(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let hex = |b: u8| (b as char).to_digit(16);
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if b == b'=' {
            if body[i + 1..].starts_with(b"\r\n") {
                i += 3;
                continue;
            }
            if body[i + 1..].starts_with(b"\n") {
                i += 2;
                continue;
            }
            if let (Some(h), Some(l)) = (
                body.get(i + 1).and_then(|&c| hex(c)),
                body.get(i + 2).and_then(|&c| hex(c)),
            ) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

/// A header's unfolded value (for SEARCH HEADER and SORT).
pub(crate) fn header_value(msg: &[u8], name: &str) -> Option<String> {
    value(split(msg).header, &name.to_ascii_uppercase())
}

/// Every field named `name`, unfolded: SEARCH HEADER matches a message
/// when any of them contains the string (RFC 3501 6.4.4).
pub(crate) fn header_values(msg: &[u8], name: &str) -> Vec<String> {
    let name = name.to_ascii_uppercase();
    fields(split(msg).header)
        .into_iter()
        .filter(|(n, _)| *n == name)
        .map(|(_, raw)| unfolded(raw))
        .collect()
}

/// The body after the header (for SEARCH BODY).
pub(crate) fn body(msg: &[u8]) -> &[u8] {
    split(msg).body
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"From: a@b\r\nSubject: hi\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\npreamble\r\n--XX\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XX\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--XX--\r\n";

    fn sec(part: &[u32], text: Option<SectionText>) -> Option<Vec<u8>> {
        section(
            MSG,
            &Section {
                part: part.to_vec(),
                text,
            },
        )
    }

    #[test]
    fn sections() {
        assert_eq!(sec(&[1], None).as_deref(), Some(&b"hello"[..]));
        assert_eq!(
            sec(&[1], Some(SectionText::Mime)).as_deref(),
            Some(&b"Content-Type: text/plain\r\n\r\n"[..])
        );
        assert_eq!(
            sec(&[2], Some(SectionText::Header)).as_deref(),
            Some(&b"Subject: inner\r\n\r\n"[..])
        );
        assert_eq!(
            sec(&[2], Some(SectionText::Text)).as_deref(),
            Some(&b"inner body"[..])
        );
        assert_eq!(sec(&[2, 1], None).as_deref(), Some(&b"inner body"[..]));
        assert_eq!(
            sec(
                &[],
                Some(SectionText::HeaderFields {
                    not: false,
                    fields: vec!["SUBJECT".into()]
                })
            )
            .as_deref(),
            Some(&b"Subject: hi\r\n\r\n"[..])
        );
        assert!(sec(&[9], None).is_none());
        assert!(sec(&[1], Some(SectionText::Header)).is_none());
        assert_eq!(binary(MSG, &[3]), Some(Ok(vec![0, 1, 2])));
        assert_eq!(header_value(MSG, "subject").as_deref(), Some("hi"));
        let twice = b"Message-Id: <a@x>\r\nSubject: s\r\nMessage-ID:\r\n <b@x>\r\n\r\nbody\r\n";
        assert_eq!(header_values(twice, "message-id"), ["<a@x>", "<b@x>"]);
    }
}
