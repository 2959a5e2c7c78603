//! From the store's cached ENVELOPE and body structure to the wire types
//! of `mail-imap-proto`.

use mail_imap_proto::response::{Address, BodyFields, BodyStructure, Envelope};
use mail_store::{BodyPart, EnvelopeAddress};

fn bytes(s: &Option<String>) -> Option<Vec<u8>> {
    s.as_ref().map(|s| s.as_bytes().to_vec())
}

fn addresses(list: &[EnvelopeAddress]) -> Vec<Address> {
    list.iter()
        .map(|a| {
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
        })
        .collect()
}

/// RFC 3501 7.4.2: Sender and Reply-To default to From.
pub(crate) fn envelope(e: &mail_store::Envelope) -> Envelope {
    let from = addresses(&e.from);
    let sender = if e.sender.is_empty() {
        from.clone()
    } else {
        addresses(&e.sender)
    };
    let reply_to = if e.reply_to.is_empty() {
        from.clone()
    } else {
        addresses(&e.reply_to)
    };
    Envelope {
        date: bytes(&e.date),
        subject: bytes(&e.subject),
        from,
        sender,
        reply_to,
        to: addresses(&e.to),
        cc: addresses(&e.cc),
        bcc: addresses(&e.bcc),
        in_reply_to: bytes(&e.in_reply_to),
        message_id: e.message_id.as_ref().map(|m| {
            if m.starts_with('<') {
                m.as_bytes().to_vec()
            } else {
                format!("<{m}>").into_bytes()
            }
        }),
    }
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
