//! The cached form of a message: envelope, body structure with each
//! part's byte offsets, and chosen header fields, computed once at
//! delivery so FETCH ENVELOPE/BODYSTRUCTURE, header SEARCH and section
//! numbering all come from one parse.
//!
//! Mail on the wire is often broken (bad MIME, 8-bit or NUL bytes in
//! headers, bare CR/LF, endless lines). The stored file is always the exact
//! bytes; the cache is best effort. `mail-parser` runs under
//! `catch_unwind`, and header extraction is a small scanner that works on
//! raw bytes, so no input can make a delivery fail or panic.

use std::panic::{AssertUnwindSafe, catch_unwind};

use mail_parser::{Address, Encoding, Message, MessageParser, MessagePart, MimeHeaders, PartType};
use serde::{Deserialize, Serialize};

/// What is cached for one message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedMessage {
    /// RFC 3501 ENVELOPE fields.
    pub envelope: Envelope,
    /// RFC 3501 BODYSTRUCTURE (simplified; see [`BodyPart`]).
    pub body: Option<BodyPart>,
    /// The configured header fields: (lower-case name, unfolded value, lossy UTF-8).
    pub headers: Vec<(String, String)>,
    /// True when the MIME parser failed or panicked; only `headers` is then filled.
    pub parse_failed: bool,
    /// Content digest of the exact bytes (lower-case hex of the first 16
    /// bytes of SHA-256), like Cyrus's message GUID: copies of a message
    /// share it, so JMAP derives its immutable Email id from it. Empty in
    /// rows written before it existed ([`digest`] recomputes it).
    #[serde(default)]
    pub digest: String,
}

/// The content digest of `raw` as [`CachedMessage::digest`] holds it.
pub fn digest(raw: &[u8]) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(raw);
    d[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The ENVELOPE of a message; strings are decoded (RFC 2047) where the parser could.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// `Date:` as it appeared.
    pub date: Option<String>,
    /// Decoded `Subject:`.
    pub subject: Option<String>,
    /// `From:`.
    pub from: Vec<EnvelopeAddress>,
    /// `Sender:`.
    pub sender: Vec<EnvelopeAddress>,
    /// `Reply-To:`.
    pub reply_to: Vec<EnvelopeAddress>,
    /// `To:`.
    pub to: Vec<EnvelopeAddress>,
    /// `Cc:`.
    pub cc: Vec<EnvelopeAddress>,
    /// `Bcc:`.
    pub bcc: Vec<EnvelopeAddress>,
    /// `In-Reply-To:` as sent, unfolded (RFC 3501 7.4.2: the field, not
    /// the ids in it). Rows cached before that hold the ids without their
    /// angle brackets.
    pub in_reply_to: Option<String>,
    /// `Message-ID:` as sent, unfolded (older rows: without angle brackets).
    pub message_id: Option<String>,
    /// The RFC 5322 groups of the address lists above, which hold only
    /// their members: IMAP shows a group with markers around them (RFC 3501
    /// 7.4.2) and SEARCH matches its name. Empty in rows cached before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<AddressGroup>,
}

/// One RFC 5322 group (`team: a@b, c@d;`) of an [`Envelope`] address list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressGroup {
    /// The list: `from`, `sender`, `reply-to`, `to`, `cc` or `bcc`.
    pub field: String,
    /// The group's display name.
    pub name: String,
    /// Index in that list of its first member (where it sits, if empty).
    pub start: usize,
    /// How many members follow `start`.
    pub len: usize,
}

impl Envelope {
    /// The groups of one address list (`field` as in [`AddressGroup`]).
    pub fn groups_of<'a>(&'a self, field: &'a str) -> impl Iterator<Item = &'a AddressGroup> {
        self.groups.iter().filter(move |g| g.field == field)
    }
}

/// One address of an envelope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeAddress {
    /// Display name.
    pub name: Option<String>,
    /// Full address (`local@domain`).
    pub address: Option<String>,
}

/// One MIME part.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BodyPart {
    /// Media type, lower case (`text`).
    pub media_type: String,
    /// Subtype, lower case (`plain`).
    pub subtype: String,
    /// Content-Type parameters.
    pub params: Vec<(String, String)>,
    /// `Content-ID`.
    pub id: Option<String>,
    /// `Content-Description`.
    pub description: Option<String>,
    /// `Content-Transfer-Encoding` (default `7bit`).
    pub encoding: String,
    /// Octets of the encoded body.
    pub size: u64,
    /// Lines of the encoded body (text parts).
    pub lines: u64,
    /// `Content-Disposition` type.
    pub disposition: Option<String>,
    /// Children of a multipart.
    pub parts: Vec<BodyPart>,
    /// Envelope of an attached `message/rfc822`.
    pub message: Option<Box<(Envelope, BodyPart)>>,
    /// Where the part lies in the message file. `None` in cache rows
    /// written before offsets were kept (see [`CachedMessage::has_offsets`])
    /// and inside a `message/rfc822` that was itself base64 or
    /// quoted-printable encoded (its bytes are not in the file as such).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offsets: Option<PartOffsets>,
}

/// Byte offsets of one MIME part in the message file: its header block
/// (with the blank line that ends it) is `header..body`, its body
/// `body..end` (without the line break before the next boundary).
/// For an encapsulated message the offsets are those of the inner message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartOffsets {
    /// First byte of the part's header.
    pub header: u64,
    /// First byte of the part's body.
    pub body: u64,
    /// One past the last byte of the body.
    pub end: u64,
}

impl CachedMessage {
    /// True when the structure carries part offsets, so FETCH sections can
    /// be served as byte ranges; false for rows written by older versions,
    /// which are parsed again on first use.
    pub fn has_offsets(&self) -> bool {
        self.body.as_ref().is_some_and(|b| b.offsets.is_some())
    }
}

/// Builds the cache entry for `raw`; never panics, never fails.
pub fn parse(raw: &[u8], wanted: &[String]) -> CachedMessage {
    let headers = crate::headers::cached_fields(raw, wanted);
    let digest = digest(raw);
    let parsed = catch_unwind(AssertUnwindSafe(|| {
        MessageParser::default()
            .parse(raw)
            .map(|m| (envelope(&m), root(&m, raw)))
    }));
    match parsed {
        Ok(Some((envelope, body))) => CachedMessage {
            envelope,
            body,
            headers,
            parse_failed: false,
            digest,
        },
        _ => CachedMessage {
            body: Some(fallback(raw)),
            headers,
            parse_failed: true,
            digest,
            ..Default::default()
        },
    }
}

/// The structure of a message the parser could not read: one text part,
/// the body after the first blank line, so BODY[1] and BODYSTRUCTURE
/// still agree.
fn fallback(raw: &[u8]) -> BodyPart {
    let body = crate::headers::header_end(raw);
    let encoded = &raw[body..];
    BodyPart {
        media_type: "text".into(),
        subtype: "plain".into(),
        params: vec![("charset".into(), "us-ascii".into())],
        encoding: "7bit".into(),
        size: encoded.len() as u64,
        lines: encoded.iter().filter(|b| **b == b'\n').count() as u64,
        offsets: Some(PartOffsets {
            header: 0,
            body: body as u64,
            end: raw.len() as u64,
        }),
        ..Default::default()
    }
}

/// The top-level part; its offsets always cover the whole file.
fn root(m: &Message<'_>, raw: &[u8]) -> Option<BodyPart> {
    let mut b = body(m, raw, 0, 0, true)?;
    if let Some(o) = b.offsets.as_mut() {
        o.header = 0;
        o.end = raw.len() as u64;
    }
    Some(b)
}

/// The members of an address list, flat; its named groups go to `groups`.
fn addresses(
    a: Option<&Address<'_>>,
    field: &str,
    groups: &mut Vec<AddressGroup>,
) -> Vec<EnvelopeAddress> {
    let one = |x: &mail_parser::Addr<'_>| EnvelopeAddress {
        name: x.name.as_ref().map(|s| s.to_string()),
        address: x.address.as_ref().map(|s| s.to_string()),
    };
    let mut out = Vec::new();
    match a {
        None => {}
        Some(Address::List(list)) => out.extend(list.iter().map(one)),
        Some(Address::Group(list)) => {
            for g in list {
                // The parser puts addresses outside any group in groups
                // without a name.
                if let Some(name) = &g.name {
                    groups.push(AddressGroup {
                        field: field.to_string(),
                        name: name.to_string(),
                        start: out.len(),
                        len: g.addresses.len(),
                    });
                }
                out.extend(g.addresses.iter().map(one));
            }
        }
    }
    out
}

/// A header field's value as sent: folding removed, outer white space
/// trimmed; `None` when absent or empty.
fn raw_field(m: &Message<'_>, name: &str) -> Option<String> {
    let v: String = m
        .header_raw(name)?
        .chars()
        .filter(|c| *c != '\r' && *c != '\n')
        .collect();
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_string())
}

fn envelope(m: &Message<'_>) -> Envelope {
    let mut groups = Vec::new();
    Envelope {
        date: m.header_raw("Date").map(|s| s.trim().to_string()),
        subject: m.subject().map(str::to_string),
        from: addresses(m.from(), "from", &mut groups),
        sender: addresses(m.sender(), "sender", &mut groups),
        reply_to: addresses(m.reply_to(), "reply-to", &mut groups),
        to: addresses(m.to(), "to", &mut groups),
        cc: addresses(m.cc(), "cc", &mut groups),
        bcc: addresses(m.bcc(), "bcc", &mut groups),
        in_reply_to: raw_field(m, "In-Reply-To"),
        message_id: raw_field(m, "Message-ID"),
        groups,
    }
}

/// Depth limit: a crafted message nesting thousands of parts must not blow the stack.
const MAX_DEPTH: usize = 32;

/// `raw` is the buffer the offsets of `m` refer to; `in_file` is false
/// below an encoded `message/rfc822`, whose parts were parsed from decoded
/// bytes and so have no offsets in the file.
fn body(m: &Message<'_>, raw: &[u8], idx: usize, depth: usize, in_file: bool) -> Option<BodyPart> {
    let part = m.parts.get(idx)?;
    Some(body_part(m, part, raw, depth, in_file))
}

fn body_part(
    m: &Message<'_>,
    part: &MessagePart<'_>,
    raw: &[u8],
    depth: usize,
    in_file: bool,
) -> BodyPart {
    let (mut media_type, mut subtype, params) = match part.content_type() {
        Some(ct) => (
            ct.ctype().to_ascii_lowercase(),
            ct.subtype().unwrap_or("").to_ascii_lowercase(),
            ct.attributes()
                .map(|a| {
                    a.iter()
                        .map(|x| (x.name.to_string(), x.value.to_string()))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        // RFC 2046 5.1.5: in a multipart/digest a part without
        // Content-Type is message/rfc822 (mail-parser parses it so).
        None if matches!(part.body, PartType::Message(_)) => {
            ("message".into(), "rfc822".into(), Vec::new())
        }
        None => (
            "text".into(),
            "plain".into(),
            vec![("charset".into(), "us-ascii".into())],
        ),
    };
    // A multipart whose boundary never appears (or that holds no part) is
    // one opaque text part to the parser; say so, so that BODYSTRUCTURE
    // (which needs at least one child) and BODY[1] agree.
    let children = match &part.body {
        PartType::Multipart(c) => c.len(),
        _ => 0,
    };
    if media_type == "multipart" && children == 0 {
        media_type = "text".into();
        subtype = "plain".into();
    }
    let start = part.offset_body as usize;
    let end = (part.offset_end as usize).min(raw.len());
    let encoded = raw.get(start.min(end)..end).unwrap_or(&[]);
    let mut bp = BodyPart {
        media_type,
        subtype,
        params,
        id: part.content_id().map(str::to_string),
        description: part.content_description().map(str::to_string),
        encoding: part
            .content_transfer_encoding()
            .map_or_else(|| "7bit".to_string(), |s| s.to_ascii_lowercase()),
        size: encoded.len() as u64,
        lines: encoded.iter().filter(|b| **b == b'\n').count() as u64,
        disposition: part
            .content_disposition()
            .map(|d| d.ctype().to_ascii_lowercase()),
        parts: Vec::new(),
        message: None,
        offsets: in_file.then_some(PartOffsets {
            header: u64::from(part.offset_header),
            body: start.min(end) as u64,
            end: end as u64,
        }),
    };
    if depth >= MAX_DEPTH {
        return bp;
    }
    match &part.body {
        PartType::Multipart(children) => {
            for c in children {
                if let Some(child) = body(m, raw, *c as usize, depth + 1, in_file) {
                    bp.parts.push(child);
                }
            }
        }
        PartType::Message(inner) => {
            // Unencoded, the inner message was parsed in place: its
            // offsets are those of the file (`raw_message` is the whole
            // buffer). Encoded, they are offsets in the decoded bytes.
            let inline = in_file && part.encoding == Encoding::None;
            if let Some(b) = body(inner, &inner.raw_message, 0, depth + 1, inline) {
                bp.message = Some(Box::new((envelope(inner), b)));
            }
        }
        _ => {}
    }
    bp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_never_panics() {
        let wanted = vec!["subject".to_string()];
        let inputs: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"\0\0\0".to_vec(),
            b"Subject: a\r\n b\r\n\r\nbody".to_vec(),
            b"Content-Type: multipart/mixed; boundary=x\n\n--x\n--x--\n--x".to_vec(),
            vec![0xff; 5000],
            b"Subject: \xe9t\xe9\rFrom: <@>\n\n".to_vec(),
        ];
        for i in inputs {
            let c = parse(&i, &wanted);
            let _ = serde_json::to_vec(&c).unwrap();
        }
        let c = parse(b"Subject: a\r\n b\r\n\r\nbody", &wanted);
        assert_eq!(c.headers, vec![("subject".to_string(), "a b".to_string())]);
    }
}
