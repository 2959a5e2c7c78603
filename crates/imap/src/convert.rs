//! From the store's cached ENVELOPE and body structure to the wire types
//! of `mail-imap-proto`.

use mail_imap_proto::response::{Address, BodyFields, BodyStructure, Envelope};
use mail_store::{AddressGroup, BodyPart, EnvelopeAddress};

fn bytes(s: &Option<String>) -> Option<Vec<u8>> {
    s.as_ref().map(|s| s.as_bytes().to_vec())
}

fn address(a: &EnvelopeAddress) -> Address {
    let (mailbox, host) = match a.address.as_deref().and_then(|x| x.rsplit_once('@')) {
        Some((l, d)) => (Some(l.as_bytes().to_vec()), Some(d.as_bytes().to_vec())),
        None => (a.address.as_ref().map(|x| x.as_bytes().to_vec()), None),
    };
    Address {
        name: bytes(&a.name),
        adl: None,
        mailbox,
        host,
    }
}

/// One address list of the envelope. RFC 3501 7.4.2: a group is a start
/// marker (mailbox = the group's name, host NIL), its members, and an
/// end marker (all NIL).
pub(crate) fn addresses(e: &mail_store::Envelope, field: &str) -> Vec<Address> {
    let list = match field {
        "from" => &e.from,
        "sender" => &e.sender,
        "reply-to" => &e.reply_to,
        "to" => &e.to,
        "cc" => &e.cc,
        _ => &e.bcc,
    };
    let mut groups: Vec<&AddressGroup> = e.groups_of(field).collect();
    groups.sort_by_key(|g| g.start);
    let mut out = Vec::with_capacity(list.len() + 2 * groups.len());
    let mut next = 0;
    for g in groups {
        let start = g.start.clamp(next, list.len());
        let end = start.saturating_add(g.len).min(list.len());
        out.extend(list[next..start].iter().map(address));
        out.push(Address {
            mailbox: Some(g.name.as_bytes().to_vec()),
            ..Address::default()
        });
        out.extend(list[start..end].iter().map(address));
        out.push(Address::default());
        next = end;
    }
    out.extend(list[next..].iter().map(address));
    out
}

/// Rows cached before the store kept Message-ID as sent hold it without
/// its angle brackets.
fn message_id(m: &str) -> Vec<u8> {
    if m.contains('<') {
        m.as_bytes().to_vec()
    } else {
        format!("<{m}>").into_bytes()
    }
}

/// RFC 3501 7.4.2: Sender and Reply-To default to From; In-Reply-To and
/// Message-ID are the fields as sent.
pub(crate) fn envelope(e: &mail_store::Envelope) -> Envelope {
    let from = addresses(e, "from");
    let sender = if e.sender.is_empty() && e.groups_of("sender").next().is_none() {
        from.clone()
    } else {
        addresses(e, "sender")
    };
    let reply_to = if e.reply_to.is_empty() && e.groups_of("reply-to").next().is_none() {
        from.clone()
    } else {
        addresses(e, "reply-to")
    };
    Envelope {
        date: bytes(&e.date),
        subject: bytes(&e.subject),
        from,
        sender,
        reply_to,
        to: addresses(e, "to"),
        cc: addresses(e, "cc"),
        bcc: addresses(e, "bcc"),
        in_reply_to: bytes(&e.in_reply_to),
        message_id: e.message_id.as_deref().map(message_id),
    }
}

/// An address list written back the RFC 5322 way (`Name <local@host>`,
/// groups as `name: members;`), for SEARCH to match substrings of when
/// the field itself is not cached.
pub(crate) fn written(e: &mail_store::Envelope, field: &str) -> String {
    let text =
        |b: &Option<Vec<u8>>| String::from_utf8_lossy(b.as_deref().unwrap_or(b"")).into_owned();
    let mut out = String::new();
    let mut in_group = false;
    for a in addresses(e, field) {
        match (&a.mailbox, &a.host) {
            (None, None) if a.name.is_none() => {
                out.push(';');
                in_group = false;
            }
            (Some(_), None) if a.name.is_none() => {
                if !out.is_empty() {
                    out.push_str(", ");
                }
                out.push_str(&text(&a.mailbox));
                out.push(':');
                in_group = true;
            }
            _ => {
                if !out.is_empty() {
                    out.push_str(if out.ends_with(':') { " " } else { ", " });
                }
                let mut spec = text(&a.mailbox);
                if a.host.is_some() {
                    spec.push('@');
                    spec.push_str(&text(&a.host));
                }
                if a.name.is_some() {
                    out.push_str(&format!("{} <{spec}>", text(&a.name)));
                } else {
                    out.push_str(&spec);
                }
            }
        }
    }
    if in_group {
        out.push(';');
    }
    out
}

/// A header value with its RFC 2047 encoded words decoded.
pub(crate) fn decode_words(v: &str) -> String {
    if !v.contains("=?") {
        return v.to_string();
    }
    let line = format!("{v}\n");
    let decoded = std::panic::catch_unwind(|| {
        match mail_parser::parsers::MessageStream::new(line.as_bytes()).parse_unstructured() {
            mail_parser::HeaderValue::Text(t) => Some(t.into_owned()),
            _ => None,
        }
    });
    decoded.ok().flatten().unwrap_or_else(|| v.to_string())
}

/// The structure of a message, bounded to 32 levels of nesting.
pub(crate) fn body_structure(p: &BodyPart) -> BodyStructure {
    convert(p, 0)
}

fn convert(p: &BodyPart, depth: usize) -> BodyStructure {
    let disposition = p
        .disposition
        .as_ref()
        .map(|d| (d.to_ascii_uppercase(), Vec::new()));
    if p.media_type.eq_ignore_ascii_case("multipart") && depth < 32 {
        return BodyStructure::Multipart {
            parts: p.parts.iter().map(|c| convert(c, depth + 1)).collect(),
            subtype: p.subtype.to_ascii_uppercase(),
            params: p.params.clone(),
            disposition,
        };
    }
    let is_text = p.media_type.eq_ignore_ascii_case("text");
    let message = p
        .message
        .as_ref()
        .filter(|_| depth < 32)
        .map(|m| Box::new((envelope(&m.0), convert(&m.1, depth + 1))));
    let lines = if is_text || message.is_some() {
        Some(p.lines)
    } else {
        None
    };
    BodyStructure::Single {
        fields: BodyFields {
            media_type: if p.media_type.is_empty() {
                "TEXT".into()
            } else {
                p.media_type.to_ascii_uppercase()
            },
            subtype: if p.subtype.is_empty() {
                "PLAIN".into()
            } else {
                p.subtype.to_ascii_uppercase()
            },
            params: p.params.clone(),
            id: bytes(&p.id),
            description: bytes(&p.description),
            encoding: if p.encoding.is_empty() {
                "7BIT".into()
            } else {
                p.encoding.to_ascii_uppercase()
            },
            size: p.size,
        },
        lines,
        message,
        disposition,
    }
}

/// A minimal structure for a message the MIME parser could not read.
pub(crate) fn fallback_structure(size: u64) -> BodyStructure {
    BodyStructure::Single {
        fields: BodyFields {
            media_type: "TEXT".into(),
            subtype: "PLAIN".into(),
            params: vec![("CHARSET".into(), "US-ASCII".into())],
            id: None,
            description: None,
            encoding: "7BIT".into(),
            size,
        },
        lines: Some(0),
        message: None,
        disposition: None,
    }
}
