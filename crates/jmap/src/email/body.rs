//! A parsed message as Email properties (RFC 8621 4.1): header fields in
//! their parsed forms (4.1.2, 4.1.3), the body structure and the
//! text/HTML/attachment lists (4.1.4), body values (with HTML sanitised,
//! see [`crate::sanitize`]) and the preview.

use std::collections::HashMap;

use mail_parser::{Address, HeaderValue, Message, MessagePart, MimeHeaders, PartType};
use serde_json::{Map, Value, json};

/// What Email/get asked for beyond the property list (RFC 8621 4.2).
#[derive(Debug, Clone)]
pub struct BodyOptions {
    /// `bodyProperties` (checked).
    pub body_properties: Vec<String>,
    /// `fetchTextBodyValues`.
    pub fetch_text: bool,
    /// `fetchHTMLBodyValues`.
    pub fetch_html: bool,
    /// `fetchAllBodyValues`.
    pub fetch_all: bool,
    /// `maxBodyValueBytes` (0: no limit).
    pub max_bytes: usize,
    /// Tiermail extension `allowRemoteImages`: keep `http(s)` image
    /// sources in sanitised HTML (default: blocked).
    pub allow_remote_images: bool,
    /// `{accountId}` for rewriting `cid:` URLs to download URLs.
    pub account_id: String,
}

impl Default for BodyOptions {
    fn default() -> Self {
        Self {
            body_properties: mail_jmap_proto::property::BODY_PART_DEFAULT
                .iter()
                .map(|s| s.to_string())
                .collect(),
            fetch_text: false,
            fetch_html: false,
            fetch_all: false,
            max_bytes: 0,
            allow_remote_images: false,
            account_id: String::new(),
        }
    }
}

fn addresses(a: Option<&Address<'_>>) -> Value {
    match a {
        None => Value::Null,
        Some(a) => Value::Array(
            a.iter()
                .map(|x| json!({"name": x.name.as_deref(), "email": x.address.as_deref().unwrap_or("")}))
                .collect(),
        ),
    }
}

fn grouped(a: Option<&Address<'_>>) -> Value {
    match a {
        None => Value::Null,
        Some(Address::Group(groups)) => Value::Array(
            groups
                .iter()
                .map(|g| {
                    json!({"name": g.name.as_deref(), "addresses": g.addresses.iter()
                        .map(|x| json!({"name": x.name.as_deref(), "email": x.address.as_deref().unwrap_or("")}))
                        .collect::<Vec<_>>()})
                })
                .collect(),
        ),
        Some(a) => json!([{"name": null, "addresses": addresses(Some(a))}]),
    }
}

fn msgids(v: &HeaderValue<'_>) -> Value {
    match v {
        HeaderValue::Text(t) => json!([t.as_ref()]),
        HeaderValue::TextList(l) => json!(l.iter().map(|s| s.as_ref()).collect::<Vec<_>>()),
        _ => Value::Null,
    }
}

fn date_of(v: &HeaderValue<'_>) -> Value {
    match v {
        HeaderValue::DateTime(d) => json!(d.to_rfc3339()),
        _ => Value::Null,
    }
}

fn text_of(v: &HeaderValue<'_>, raw: &str) -> Value {
    match v {
        HeaderValue::Text(t) => json!(t.as_ref()),
        HeaderValue::TextList(l) => json!(l.join(", ")),
        _ => json!(unfold(raw).trim()),
    }
}

fn unfold(raw: &str) -> String {
    raw.replace("\r\n", "").replace('\n', "")
}

fn urls(raw: &str) -> Value {
    let mut out = Vec::new();
    for part in raw.split(',') {
        if let (Some(a), Some(b)) = (part.find('<'), part.find('>'))
            && a < b
        {
            out.push(part[a + 1..b].trim().to_string());
        }
    }
    if out.is_empty() {
        Value::Null
    } else {
        json!(out)
    }
}

/// A `header:Name[:form][:all]` property of `headers` (RFC 8621 4.1.3).
fn header_property(part: &MessagePart<'_>, raw_msg: &[u8], prop: &str) -> Value {
    let mut segs = prop["header:".len()..].split(':');
    let name = segs.next().unwrap_or("");
    let mut form = "asRaw";
    let mut all = false;
    for s in segs {
        if s == "all" {
            all = true;
        } else {
            form = s;
        }
    }
    let values: Vec<Value> = part
        .headers
        .iter()
        .filter(|h| h.name().eq_ignore_ascii_case(name))
        .map(|h| {
            let raw = raw_msg
                .get(h.offset_start() as usize..h.offset_end() as usize)
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            match form {
                "asText" => text_of(h.value(), &raw),
                "asAddresses" => addresses(h.value().as_address()),
                "asGroupedAddresses" => grouped(h.value().as_address()),
                "asMessageIds" => msgids(h.value()),
                "asDate" => date_of(h.value()),
                "asURLs" => urls(&raw),
                _ => json!(raw),
            }
        })
        .collect();
    if all {
        Value::Array(values)
    } else {
        values.into_iter().last().unwrap_or(Value::Null)
    }
}

fn raw_headers(part: &MessagePart<'_>, raw_msg: &[u8]) -> Value {
    Value::Array(
        part.headers
            .iter()
            .map(|h| {
                let raw = raw_msg
                    .get(h.offset_start() as usize..h.offset_end() as usize)
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                json!({"name": h.name(), "value": raw})
            })
            .collect(),
    )
}

fn media_type(p: &MessagePart<'_>) -> String {
    match p.content_type() {
        Some(ct) => format!(
            "{}/{}",
            ct.ctype().to_ascii_lowercase(),
            ct.subtype().unwrap_or("plain").to_ascii_lowercase()
        ),
        None if matches!(p.body, PartType::Message(_)) => "message/rfc822".into(),
        None => "text/plain".into(),
    }
}

/// The decoded bytes of a part (a `message/rfc822` part: the embedded
/// message as it is).
pub fn part_bytes<'a>(p: &'a MessagePart<'_>) -> std::borrow::Cow<'a, [u8]> {
    match &p.body {
        PartType::Text(t) | PartType::Html(t) => std::borrow::Cow::Borrowed(t.as_bytes()),
        PartType::Binary(b) | PartType::InlineBinary(b) => std::borrow::Cow::Borrowed(b.as_ref()),
        PartType::Message(m) => std::borrow::Cow::Borrowed(m.raw_message()),
        PartType::Multipart(_) => std::borrow::Cow::Borrowed(&[]),
    }
}

/// One EmailBodyPart with the requested properties; `blob` is the
/// message's blob id, part blobs are `{blob}_{partId}`.
fn body_part(msg: &Message<'_>, idx: usize, blob: &str, props: &[String], depth: usize) -> Value {
    let Some(p) = msg.parts.get(idx) else {
        return Value::Null;
    };
    let multipart = matches!(p.body, PartType::Multipart(_));
    let part = p;
    let mut o = Map::new();
    for prop in props {
        let v = match prop.as_str() {
            "partId" => {
                if multipart {
                    Value::Null
                } else {
                    json!(idx.to_string())
                }
            }
            "blobId" => {
                if multipart {
                    Value::Null
                } else {
                    json!(format!("{blob}_{idx}"))
                }
            }
            "size" => json!(if multipart { 0 } else { part_bytes(p).len() }),
            "headers" => raw_headers(p, msg.raw_message()),
            "name" => json!(p.attachment_name()),
            "type" => json!(media_type(p)),
            "charset" => match p.content_type().and_then(|c| c.attribute("charset")) {
                Some(c) => json!(c),
                None if media_type(p).starts_with("text/") => json!("us-ascii"),
                None => Value::Null,
            },
            "disposition" => json!(
                p.content_disposition()
                    .map(|d| d.ctype().to_ascii_lowercase())
            ),
            "cid" => json!(p.content_id().map(|c| c.trim_matches(['<', '>']))),
            "language" => match p.content_language() {
                HeaderValue::Text(t) => json!([t.as_ref()]),
                HeaderValue::TextList(l) => json!(l.iter().map(|s| s.as_ref()).collect::<Vec<_>>()),
                _ => Value::Null,
            },
            "location" => json!(p.content_location()),
            "subParts" => match &p.body {
                PartType::Multipart(children) if depth < 32 => Value::Array(
                    children
                        .iter()
                        .map(|c| body_part(msg, *c as usize, blob, props, depth + 1))
                        .collect(),
                ),
                _ => Value::Null,
            },
            h if h.starts_with("header:") => header_property(part, msg.raw_message(), h),
            _ => continue,
        };
        o.insert(prop.clone(), v);
    }
    Value::Object(o)
}

/// Cuts `s` to at most `max` bytes on a character boundary.
fn truncate(s: &str, max: usize) -> (&str, bool) {
    if max == 0 || s.len() <= max {
        return (s, false);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (&s[..end], true)
}

/// Map from Content-ID to the part's download URL, for `cid:` images.
fn cid_urls(msg: &Message<'_>, blob: &str, account: &str) -> HashMap<String, String> {
    let mut m = HashMap::new();
    for (i, p) in msg.parts.iter().enumerate() {
        if let Some(cid) = p.content_id() {
            let name = p.attachment_name().unwrap_or("inline");
            let name: String =
                percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC)
                    .collect();
            let ty: String = percent_encoding::utf8_percent_encode(
                &media_type(p),
                percent_encoding::NON_ALPHANUMERIC,
            )
            .collect();
            m.insert(
                cid.trim_matches(['<', '>']).to_string(),
                format!("/jmap/download/{account}/{blob}_{i}/{name}?accept={ty}"),
            );
        }
    }
    m
}

fn body_value(msg: &Message<'_>, idx: usize, blob: &str, opts: &BodyOptions) -> Option<Value> {
    let p = msg.parts.get(idx)?;
    let is_html = media_type(p) == "text/html";
    let text = match &p.body {
        PartType::Text(t) | PartType::Html(t) => t.to_string(),
        _ => return None,
    };
    let mut extra = None;
    let text = if is_html {
        let cids = cid_urls(msg, blob, &opts.account_id);
        let (clean, blocked) =
            crate::sanitize::sanitize_html(&text, opts.allow_remote_images, &cids);
        if blocked {
            extra = Some(true);
        }
        clean
    } else {
        text
    };
    let (value, cut) = truncate(&text, opts.max_bytes);
    let mut v =
        json!({"value": value, "isEncodingProblem": p.is_encoding_problem, "isTruncated": cut});
    if let Some(b) = extra {
        v["blockedRemoteImages"] = json!(b);
    }
    Some(v)
}

/// Fills `out` with the message properties in `props` (every property
/// except id, blobId, threadId, mailboxIds, keywords, size, receivedAt).
pub fn message_properties(
    msg: &Message<'_>,
    blob: &str,
    props: &[String],
    opts: &BodyOptions,
    out: &mut Map<String, Value>,
) {
    let root = msg.root_part();
    let list = |ids: &[u32]| -> Value {
        Value::Array(
            ids.iter()
                .map(|i| body_part(msg, *i as usize, blob, &opts.body_properties, 0))
                .collect(),
        )
    };
    for prop in props {
        let v = match prop.as_str() {
            "headers" => raw_headers(root, msg.raw_message()),
            "messageId" => msgids(msg.header("Message-ID").unwrap_or(&HeaderValue::Empty)),
            "inReplyTo" => msgids(msg.in_reply_to()),
            "references" => msgids(msg.references()),
            "sender" => addresses(msg.sender()),
            "from" => addresses(msg.from()),
            "to" => addresses(msg.to()),
            "cc" => addresses(msg.cc()),
            "bcc" => addresses(msg.bcc()),
            "replyTo" => addresses(msg.reply_to()),
            "subject" => json!(msg.subject()),
            "sentAt" => json!(msg.date().map(|d| d.to_rfc3339())),
            "bodyStructure" => {
                let mut all = opts.body_properties.clone();
                if !all.iter().any(|p| p == "subParts") {
                    all.push("subParts".into());
                }
                body_part(msg, 0, blob, &all, 0)
            }
            "textBody" => list(&msg.text_body),
            "htmlBody" => list(&msg.html_body),
            "attachments" => list(&msg.attachments),
            "hasAttachment" => json!(!msg.attachments.is_empty()),
            "preview" => json!(preview(msg)),
            "bodyValues" => {
                let mut ids: Vec<u32> = Vec::new();
                if opts.fetch_all {
                    ids.extend((0..msg.parts.len() as u32).filter(|i| {
                        msg.parts.get(*i as usize).is_some_and(|p| {
                            matches!(p.body, PartType::Text(_) | PartType::Html(_))
                        })
                    }));
                } else {
                    if opts.fetch_text {
                        ids.extend(&msg.text_body);
                    }
                    if opts.fetch_html {
                        ids.extend(&msg.html_body);
                    }
                }
                let mut m = Map::new();
                for i in ids {
                    if let Some(v) = body_value(msg, i as usize, blob, opts) {
                        m.insert(i.to_string(), v);
                    }
                }
                Value::Object(m)
            }
            p if p.starts_with("header:") => header_property(root, msg.raw_message(), p),
            _ => continue,
        };
        out.insert(prop.clone(), v);
    }
}

/// Up to 256 characters of plain text (RFC 8621 4.1.4 `preview`).
pub fn preview(msg: &Message<'_>) -> String {
    let raw = msg
        .body_preview(512)
        .map(|c| c.into_owned())
        .unwrap_or_default();
    let collapsed = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.chars().take(256).collect()
}

/// Parses `raw` (never panics: the parser runs under `catch_unwind`).
pub fn parse(raw: &[u8]) -> Option<Message<'_>> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        mail_parser::MessageParser::default().parse(raw)
    }))
    .ok()
    .flatten()
}
