//! ENVELOPE and BODY/BODYSTRUCTURE encoding (RFC 3501 7.4.2). The server
//! fills these from a parsed message; the encoding rules (NIL, quoting,
//! the order of fields) live here.

use super::{write_nstring, write_string};

/// One address of an envelope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    /// Display name.
    pub name: Option<Vec<u8>>,
    /// Source route (always NIL today).
    pub adl: Option<Vec<u8>>,
    /// Local part (or group name with `host` NIL).
    pub mailbox: Option<Vec<u8>>,
    /// Domain.
    pub host: Option<Vec<u8>>,
}

/// The ENVELOPE of a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    /// Date header.
    pub date: Option<Vec<u8>>,
    /// Subject header.
    pub subject: Option<Vec<u8>>,
    /// From.
    pub from: Vec<Address>,
    /// Sender (defaults to From, RFC 3501 7.4.2).
    pub sender: Vec<Address>,
    /// Reply-To (defaults to From).
    pub reply_to: Vec<Address>,
    /// To.
    pub to: Vec<Address>,
    /// Cc.
    pub cc: Vec<Address>,
    /// Bcc.
    pub bcc: Vec<Address>,
    /// In-Reply-To.
    pub in_reply_to: Option<Vec<u8>>,
    /// Message-ID.
    pub message_id: Option<Vec<u8>>,
}

fn write_addresses(out: &mut Vec<u8>, list: &[Address], utf8: bool) {
    if list.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for a in list {
        out.push(b'(');
        write_nstring(out, a.name.as_deref(), utf8);
        out.push(b' ');
        write_nstring(out, a.adl.as_deref(), utf8);
        out.push(b' ');
        write_nstring(out, a.mailbox.as_deref(), utf8);
        out.push(b' ');
        write_nstring(out, a.host.as_deref(), utf8);
        out.push(b')');
    }
    out.push(b')');
}

impl Envelope {
    /// Appends the parenthesised envelope.
    pub fn write(&self, out: &mut Vec<u8>, utf8: bool) {
        out.push(b'(');
        write_nstring(out, self.date.as_deref(), utf8);
        out.push(b' ');
        write_nstring(out, self.subject.as_deref(), utf8);
        for list in [
            &self.from,
            &self.sender,
            &self.reply_to,
            &self.to,
            &self.cc,
            &self.bcc,
        ] {
            out.push(b' ');
            write_addresses(out, list, utf8);
        }
        out.push(b' ');
        write_nstring(out, self.in_reply_to.as_deref(), utf8);
        out.push(b' ');
        write_nstring(out, self.message_id.as_deref(), utf8);
        out.push(b')');
    }
}

/// The fields every non-multipart body has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BodyFields {
    /// Media type (`TEXT`).
    pub media_type: String,
    /// Subtype (`PLAIN`).
    pub subtype: String,
    /// Content-Type parameters.
    pub params: Vec<(String, String)>,
    /// Content-ID.
    pub id: Option<Vec<u8>>,
    /// Content-Description.
    pub description: Option<Vec<u8>>,
    /// Content-Transfer-Encoding (`7BIT` by default).
    pub encoding: String,
    /// Size in octets of the encoded body.
    pub size: u64,
}

/// A message's MIME structure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyStructure {
    /// A leaf part.
    Single {
        /// Common fields.
        fields: BodyFields,
        /// Lines, for TEXT/* and MESSAGE/RFC822.
        lines: Option<u64>,
        /// For MESSAGE/RFC822: the inner envelope and structure.
        message: Option<Box<(Envelope, BodyStructure)>>,
        /// Content-Disposition (value, params).
        disposition: Option<(String, Vec<(String, String)>)>,
    },
    /// A multipart.
    Multipart {
        /// Parts.
        parts: Vec<BodyStructure>,
        /// Subtype (`MIXED`).
        subtype: String,
        /// Content-Type parameters (the boundary).
        params: Vec<(String, String)>,
        /// Content-Disposition.
        disposition: Option<(String, Vec<(String, String)>)>,
    },
}

fn write_params(out: &mut Vec<u8>, params: &[(String, String)], utf8: bool) {
    if params.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        write_string(out, k.as_bytes(), utf8);
        out.push(b' ');
        write_string(out, v.as_bytes(), utf8);
    }
    out.push(b')');
}

fn write_disposition(out: &mut Vec<u8>, d: &Option<(String, Vec<(String, String)>)>, utf8: bool) {
    match d {
        None => out.extend_from_slice(b"NIL"),
        Some((v, params)) => {
            out.push(b'(');
            write_string(out, v.as_bytes(), utf8);
            out.push(b' ');
            write_params(out, params, utf8);
            out.push(b')');
        }
    }
}

impl BodyStructure {
    /// Appends the structure; `extended` adds the extension data of
    /// BODYSTRUCTURE (BODY omits it). Nesting is bounded by how the
    /// server built the value.
    pub fn write(&self, out: &mut Vec<u8>, extended: bool, utf8: bool) {
        match self {
            BodyStructure::Multipart {
                parts,
                subtype,
                params,
                disposition,
            } => {
                out.push(b'(');
                if parts.is_empty() {
                    // RFC 3501 requires at least one part; send an empty text one.
                    out.extend_from_slice(b"(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 0 0)");
                }
                for p in parts {
                    p.write(out, extended, utf8);
                }
                out.push(b' ');
                write_string(out, subtype.as_bytes(), utf8);
                if extended {
                    out.push(b' ');
                    write_params(out, params, utf8);
                    out.push(b' ');
                    write_disposition(out, disposition, utf8);
                    out.extend_from_slice(b" NIL NIL");
                }
                out.push(b')');
            }
            BodyStructure::Single {
                fields,
                lines,
                message,
                disposition,
            } => {
                out.push(b'(');
                write_string(out, fields.media_type.as_bytes(), utf8);
                out.push(b' ');
                write_string(out, fields.subtype.as_bytes(), utf8);
                out.push(b' ');
                write_params(out, &fields.params, utf8);
                out.push(b' ');
                write_nstring(out, fields.id.as_deref(), utf8);
                out.push(b' ');
                write_nstring(out, fields.description.as_deref(), utf8);
                out.push(b' ');
                write_string(out, fields.encoding.as_bytes(), utf8);
                out.extend_from_slice(format!(" {}", fields.size).as_bytes());
                if let Some(m) = message {
                    out.push(b' ');
                    m.0.write(out, utf8);
                    out.push(b' ');
                    m.1.write(out, extended, utf8);
                }
                if let Some(l) = lines {
                    out.extend_from_slice(format!(" {l}").as_bytes());
                }
                if extended {
                    out.extend_from_slice(b" NIL ");
                    write_disposition(out, disposition, utf8);
                    out.extend_from_slice(b" NIL NIL");
                }
                out.push(b')');
            }
        }
    }
}
