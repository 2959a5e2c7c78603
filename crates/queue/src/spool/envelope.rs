//! The envelope at the head of every queue file, and its on-disk form.
//!
//! ```text
//! TIERMAIL-QUEUE 1
//! id 0192F3A4B5C6D000001A1B2C3
//! channel lmtp
//! host store1.example.org
//! received 1732811111.123456789
//! client-ip 192.0.2.7
//! client-port 50123
//! helo mx.example.net
//! tls 1
//! auth alice@example.org
//! from bob@example.net
//! body 8BITMIME
//! smtputf8 1
//! ret HDRS
//! envid QQ314159
//! traceparent 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
//! message-id <123@example.net>
//! size 4242
//! rcpt P alice@example.org notify=SUCCESS,FAILURE orcpt=rfc822;alice@example.org
//! rcpt D carol@example.org
//! .
//! <size octets of message: Received: header, then the content as received>
//! ```
//!
//! One `key value` per line, LF-terminated, ASCII only: every value that
//! comes from a client (addresses, HELO, ENVID, ORCPT, Message-ID, the
//! AUTH identity) is xtext-encoded (RFC 3461 4), so no byte a client sends
//! can forge a line. A reader of version 1 ignores keys it does not know,
//! so fields can be added without a version change; an incompatible
//! change bumps the number in the first line.
//!
//! The state letter of each `rcpt` line (`P` pending, `D` delivered, `F`
//! failed) sits at a fixed offset and is overwritten in place, one byte
//! then `fdatasync`, when a delivery attempt ends: a one-byte write cannot
//! be torn, so after a crash each recipient is either still pending or
//! done, never half-written.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mail_smtp_proto::xtext;
use mail_smtp_proto::{Body, Notify, Orcpt, Ret};

use super::queue_id::QueueId;

/// First line of a version-1 queue file.
pub(crate) const MAGIC: &str = "TIERMAIL-QUEUE 1";
/// A header longer than this is corrupt (64 KiB of recipients is far
/// beyond any transaction's limit).
pub(crate) const MAX_HEADER: usize = 4 * 1024 * 1024;

/// Where one recipient stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RcptState {
    /// Not yet delivered (or deferred).
    Pending,
    /// Delivered: never attempted again.
    Delivered,
    /// Failed permanently (a bounce was or will be sent): never attempted
    /// again.
    Failed,
}

impl RcptState {
    pub(crate) fn letter(self) -> u8 {
        match self {
            RcptState::Pending => b'P',
            RcptState::Delivered => b'D',
            RcptState::Failed => b'F',
        }
    }

    fn from_letter(b: u8) -> Option<Self> {
        match b {
            b'P' => Some(RcptState::Pending),
            b'D' => Some(RcptState::Delivered),
            b'F' => Some(RcptState::Failed),
            _ => None,
        }
    }
}

/// One recipient of a queue entry, with its DSN parameters (RFC 3461).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedRecipient {
    /// The address as given in RCPT TO (or as rewritten by routing).
    pub address: String,
    /// ORCPT: the original recipient, for DSNs.
    pub orcpt: Option<Orcpt>,
    /// NOTIFY: which DSNs the sender wants; `None` means the default
    /// (FAILURE, and DELAY at the MTA's discretion).
    pub notify: Option<Notify>,
    /// Delivery state.
    pub state: RcptState,
}

impl QueuedRecipient {
    /// A pending recipient without DSN parameters.
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            orcpt: None,
            notify: None,
            state: RcptState::Pending,
        }
    }

    /// NOTIFY as jobctl's `Recipient.notify` wants it: `SUCCESS`,
    /// `FAILURE`, `DELAY`, or `NEVER`; empty when not given.
    pub fn notify_keywords(&self) -> Vec<&'static str> {
        match self.notify {
            None => Vec::new(),
            Some(n) if n.is_never() => vec!["NEVER"],
            Some(n) => [
                (n.success, "SUCCESS"),
                (n.failure, "FAILURE"),
                (n.delay, "DELAY"),
            ]
            .into_iter()
            .filter_map(|(on, k)| on.then_some(k))
            .collect(),
        }
    }

    /// ORCPT as `type;address` (jobctl's `Recipient.orcpt`), empty when
    /// not given.
    pub fn orcpt_text(&self) -> String {
        self.orcpt
            .as_ref()
            .map(|o| format!("{};{}", o.addr_type, o.address))
            .unwrap_or_default()
    }
}

/// Who handed the message over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRecord {
    /// The client's address.
    pub ip: IpAddr,
    /// The client's port.
    pub port: u16,
    /// EHLO/HELO name.
    pub helo: String,
    /// Whether the session was encrypted.
    pub tls: bool,
    /// The authenticated identity (AUTH), if any.
    pub auth: Option<String>,
}

impl Default for ClientRecord {
    fn default() -> Self {
        Self {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            helo: String::new(),
            tls: false,
            auth: None,
        }
    }
}

/// The envelope of one queue entry: one message for the recipients of one
/// channel and next hop. Field names follow `jobctl.v1.Job`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Queue id (set by [`super::Spool::next_id`]).
    pub id: QueueId,
    /// The master channel that delivers it (`lmtp`, `tcp_local`...).
    pub channel: String,
    /// The next hop chosen by routing (store host, domain for MX...).
    pub host: String,
    /// When the message was accepted.
    pub received_at: SystemTime,
    /// The client that sent it.
    pub client: ClientRecord,
    /// MAIL FROM without angle brackets; empty for the null sender `<>`.
    pub sender: String,
    /// BODY= (RFC 6152 / RFC 3030).
    pub body: Option<Body>,
    /// SMTPUTF8 (RFC 6531).
    pub smtputf8: bool,
    /// RET= (RFC 3461).
    pub ret: Option<Ret>,
    /// ENVID= (RFC 3461), decoded.
    pub envid: Option<String>,
    /// The MAIL FROM AUTH= parameter (RFC 4954 5), when trusted.
    pub mail_auth: Option<String>,
    /// W3C traceparent of the span that received the message.
    pub traceparent: Option<String>,
    /// The message's Message-ID header, if it had one.
    pub message_id: Option<String>,
    /// Octets of message data after the envelope (set by the spool).
    pub size: u64,
    /// Recipients, each with its state.
    pub recipients: Vec<QueuedRecipient>,
}

impl Envelope {
    /// An envelope made by the MTA itself (a DSN, a re-queued message):
    /// received now, from `127.0.0.1`, no ESMTP parameters. `sender` is
    /// empty for `<>` (bounces).
    pub fn new(
        id: QueueId,
        channel: impl Into<String>,
        host: impl Into<String>,
        sender: impl Into<String>,
        recipients: Vec<QueuedRecipient>,
    ) -> Self {
        Self {
            id,
            channel: channel.into(),
            host: host.into(),
            received_at: SystemTime::now(),
            client: ClientRecord::default(),
            sender: sender.into(),
            body: None,
            smtputf8: false,
            ret: None,
            envid: None,
            mail_auth: None,
            traceparent: None,
            message_id: None,
            size: 0,
            recipients,
        }
    }

    /// Recipients still to be delivered.
    pub fn pending(&self) -> impl Iterator<Item = &QueuedRecipient> {
        self.recipients
            .iter()
            .filter(|r| r.state == RcptState::Pending)
    }

    /// `received_at` as Unix seconds (jobctl's `queued_at`).
    pub fn received_unix(&self) -> i64 {
        self.received_at
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

/// The encoded header and the offset of each recipient's state letter.
pub(crate) struct Encoded {
    pub(crate) bytes: Vec<u8>,
}

fn body_word(b: Body) -> &'static str {
    match b {
        Body::SevenBit => "7BIT",
        Body::EightBitMime => "8BITMIME",
        Body::BinaryMime => "BINARYMIME",
    }
}

pub(crate) fn encode(env: &Envelope) -> Encoded {
    use std::fmt::Write;
    let mut s = String::with_capacity(512);
    let received = env
        .received_at
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let _ = writeln!(s, "{MAGIC}");
    let _ = writeln!(s, "id {}", env.id);
    let _ = writeln!(s, "channel {}", env.channel);
    let _ = writeln!(s, "host {}", xtext::encode(&env.host));
    let _ = writeln!(
        s,
        "received {}.{:09}",
        received.as_secs(),
        received.subsec_nanos()
    );
    let _ = writeln!(s, "client-ip {}", env.client.ip);
    let _ = writeln!(s, "client-port {}", env.client.port);
    let _ = writeln!(s, "helo {}", xtext::encode(&env.client.helo));
    let _ = writeln!(s, "tls {}", u8::from(env.client.tls));
    if let Some(a) = &env.client.auth {
        let _ = writeln!(s, "auth {}", xtext::encode(a));
    }
    let _ = writeln!(s, "from {}", xtext::encode(&env.sender));
    if let Some(b) = env.body {
        let _ = writeln!(s, "body {}", body_word(b));
    }
    if env.smtputf8 {
        let _ = writeln!(s, "smtputf8 1");
    }
    if let Some(r) = env.ret {
        let _ = writeln!(
            s,
            "ret {}",
            match r {
                Ret::Full => "FULL",
                Ret::Headers => "HDRS",
            }
        );
    }
    if let Some(e) = &env.envid {
        let _ = writeln!(s, "envid {}", xtext::encode(e));
    }
    if let Some(a) = &env.mail_auth {
        let _ = writeln!(s, "mail-auth {}", xtext::encode(a));
    }
    if let Some(t) = &env.traceparent {
        let _ = writeln!(s, "traceparent {}", xtext::encode(t));
    }
    if let Some(m) = &env.message_id {
        let _ = writeln!(s, "message-id {}", xtext::encode(m));
    }
    let _ = writeln!(s, "size {}", env.size);
    for r in &env.recipients {
        let _ = write!(
            s,
            "rcpt {} {}",
            char::from(r.state.letter()),
            xtext::encode(&r.address)
        );
        if let Some(n) = r.notify {
            let _ = write!(s, " notify={}", r_notify(n));
        }
        if let Some(o) = &r.orcpt {
            let _ = write!(
                s,
                " orcpt={};{}",
                xtext::encode(&o.addr_type),
                xtext::encode(&o.address)
            );
        }
        s.push('\n');
    }
    s.push_str(".\n");
    Encoded {
        bytes: s.into_bytes(),
    }
}

fn r_notify(n: Notify) -> String {
    let r = QueuedRecipient {
        notify: Some(n),
        ..QueuedRecipient::new("")
    };
    r.notify_keywords().join(",")
}

/// A parsed header: the envelope, where the message data starts and where
/// each recipient's state letter is.
#[derive(Debug, Clone)]
pub(crate) struct Parsed {
    pub(crate) envelope: Envelope,
    pub(crate) data_offset: u64,
    pub(crate) state_offsets: Vec<u64>,
}

/// Parses the header at the start of `bytes` (which must hold all of it).
/// `Err` says what is wrong; `Ok(None)` asks for more bytes.
pub(crate) fn parse(bytes: &[u8]) -> Result<Option<Parsed>, String> {
    let mut pos = 0usize;
    let mut line_no = 0;
    let mut env = Envelope {
        id: QueueId::placeholder(),
        channel: String::new(),
        host: String::new(),
        received_at: UNIX_EPOCH,
        client: ClientRecord::default(),
        sender: String::new(),
        body: None,
        smtputf8: false,
        ret: None,
        envid: None,
        mail_auth: None,
        traceparent: None,
        message_id: None,
        size: 0,
        recipients: Vec::new(),
    };
    let mut offsets = Vec::new();
    let (mut have_id, mut have_size, mut have_from) = (false, false, false);
    loop {
        let Some(nl) = bytes[pos..].iter().position(|&b| b == b'\n') else {
            if bytes.len() > MAX_HEADER {
                return Err("header too long".into());
            }
            return Ok(None);
        };
        let line = std::str::from_utf8(&bytes[pos..pos + nl])
            .map_err(|_| format!("line {}: not UTF-8", line_no + 1))?;
        let start = pos;
        pos += nl + 1;
        line_no += 1;
        if line_no == 1 {
            if line != MAGIC {
                return Err(format!("unknown format {:?}", truncate(line)));
            }
            continue;
        }
        if line == "." {
            break;
        }
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        let bad = |what: &str| format!("line {line_no}: bad {what}");
        let dec = |v: &str| xtext::decode(v).ok_or_else(|| bad(key));
        match key {
            "id" => {
                env.id = value.parse().map_err(|_| bad("id"))?;
                have_id = true;
            }
            "channel" => env.channel = value.to_string(),
            "host" => env.host = dec(value)?,
            "received" => {
                let (s, n) = value.split_once('.').unwrap_or((value, "0"));
                let s: u64 = s.parse().map_err(|_| bad("received"))?;
                let n: u32 = n.parse().map_err(|_| bad("received"))?;
                env.received_at = UNIX_EPOCH + Duration::new(s, n.min(999_999_999));
            }
            "client-ip" => env.client.ip = value.parse().map_err(|_| bad("client-ip"))?,
            "client-port" => env.client.port = value.parse().map_err(|_| bad("client-port"))?,
            "helo" => env.client.helo = dec(value)?,
            "tls" => env.client.tls = value == "1",
            "auth" => env.client.auth = Some(dec(value)?),
            "from" => {
                env.sender = if value.is_empty() {
                    String::new()
                } else {
                    dec(value)?
                };
                have_from = true;
            }
            "body" => {
                env.body = Some(match value {
                    "7BIT" => Body::SevenBit,
                    "8BITMIME" => Body::EightBitMime,
                    "BINARYMIME" => Body::BinaryMime,
                    _ => return Err(bad("body")),
                })
            }
            "smtputf8" => env.smtputf8 = value == "1",
            "ret" => {
                env.ret = Some(match value {
                    "FULL" => Ret::Full,
                    "HDRS" => Ret::Headers,
                    _ => return Err(bad("ret")),
                })
            }
            "envid" => env.envid = Some(dec(value)?),
            "mail-auth" => env.mail_auth = Some(dec(value)?),
            "traceparent" => env.traceparent = Some(dec(value)?),
            "message-id" => env.message_id = Some(dec(value)?),
            "size" => {
                env.size = value.parse().map_err(|_| bad("size"))?;
                have_size = true;
            }
            "rcpt" => {
                let mut words = value.split(' ');
                let state = words
                    .next()
                    .filter(|w| w.len() == 1)
                    .and_then(|w| RcptState::from_letter(w.as_bytes()[0]))
                    .ok_or_else(|| bad("recipient state"))?;
                let address = words
                    .next()
                    .and_then(xtext::decode)
                    .filter(|a| !a.is_empty())
                    .ok_or_else(|| bad("recipient"))?;
                let mut r = QueuedRecipient {
                    address,
                    orcpt: None,
                    notify: None,
                    state,
                };
                for w in words {
                    if let Some(n) = w.strip_prefix("notify=") {
                        r.notify = Some(parse_notify(n).ok_or_else(|| bad("notify"))?);
                    } else if let Some(o) = w.strip_prefix("orcpt=") {
                        let (t, a) = o.split_once(';').ok_or_else(|| bad("orcpt"))?;
                        r.orcpt = Some(Orcpt {
                            addr_type: dec(t)?,
                            address: dec(a)?,
                        });
                    }
                }
                offsets.push((start + "rcpt ".len()) as u64);
                env.recipients.push(r);
            }
            _ => {} // a later minor addition: ignored by design
        }
    }
    if !(have_id && have_size && have_from) || env.channel.is_empty() {
        return Err("missing id, channel, from or size".into());
    }
    Ok(Some(Parsed {
        envelope: env,
        data_offset: pos as u64,
        state_offsets: offsets,
    }))
}

fn parse_notify(v: &str) -> Option<Notify> {
    let mut n = Notify::default();
    if v == "NEVER" {
        return Some(n);
    }
    for w in v.split(',') {
        match w {
            "SUCCESS" => n.success = true,
            "FAILURE" => n.failure = true,
            "DELAY" => n.delay = true,
            _ => return None,
        }
    }
    Some(n)
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Envelope {
        Envelope {
            id: "0192F3A4B5C6D00001A1B2C3".parse().expect("id"),
            channel: "lmtp".into(),
            host: "store1.example.org".into(),
            received_at: UNIX_EPOCH + Duration::new(1_732_811_111, 123_456_789),
            client: ClientRecord {
                ip: "2001:db8::7".parse().expect("ip"),
                port: 50123,
                helo: "evil\nrcpt P x@y".into(),
                tls: true,
                auth: Some("alice@example.org".into()),
            },
            sender: "bob smith\"@example.net".into(),
            body: Some(Body::EightBitMime),
            smtputf8: true,
            ret: Some(Ret::Headers),
            envid: Some("QQ 314159".into()),
            mail_auth: None,
            traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
            message_id: Some("<1@example.net>".into()),
            size: 42,
            recipients: vec![
                QueuedRecipient {
                    address: "jörg@example.org".into(),
                    orcpt: Some(Orcpt {
                        addr_type: "rfc822".into(),
                        address: "j+x@example.org".into(),
                    }),
                    notify: Some(Notify {
                        success: true,
                        failure: true,
                        delay: false,
                    }),
                    state: RcptState::Pending,
                },
                QueuedRecipient {
                    notify: Some(Notify::default()),
                    state: RcptState::Delivered,
                    ..QueuedRecipient::new("carol@example.org")
                },
            ],
        }
    }

    #[test]
    fn round_trip_and_state_offsets() {
        let env = sample();
        let enc = encode(&env);
        let text = String::from_utf8(enc.bytes.clone()).expect("ascii");
        assert!(text.is_ascii(), "{text}");
        assert_eq!(text.lines().filter(|l| l.starts_with("rcpt ")).count(), 2);
        let mut bytes = enc.bytes.clone();
        bytes.extend_from_slice(b"message");
        let p = parse(&bytes).expect("valid").expect("complete");
        assert_eq!(p.envelope, env);
        assert_eq!(p.data_offset as usize, enc.bytes.len());
        assert_eq!(bytes[p.state_offsets[0] as usize], b'P');
        assert_eq!(bytes[p.state_offsets[1] as usize], b'D');
        assert_eq!(
            p.envelope.recipients[0].notify_keywords(),
            ["SUCCESS", "FAILURE"]
        );
        assert_eq!(p.envelope.recipients[1].notify_keywords(), ["NEVER"]);
    }

    #[test]
    fn incomplete_and_corrupt_headers() {
        let enc = encode(&sample()).bytes;
        assert!(parse(&enc[..enc.len() - 2]).expect("ok").is_none());
        assert!(parse(b"GARBAGE\n.\n").is_err());
        let mut bad = enc.clone();
        let off = parse(&enc).expect("ok").expect("some").state_offsets[0] as usize;
        bad[off] = b'X';
        assert!(parse(&bad).is_err());
    }
}
