//! Delivery status notifications (RFC 3464, requested per RFC 3461).
//!
//! A DSN is a `multipart/report; report-type=delivery-status` message
//! (RFC 6522) with three parts: a human-readable explanation, the
//! machine-readable `message/delivery-status` (one per-message block, then
//! one block per recipient), and the original message's headers
//! (`text/rfc822-headers`) or, with `RET=FULL`, the whole message
//! (`message/rfc822`). It is sent from the null reverse path `<>`, so that
//! a DSN about a DSN is never generated (RFC 3461 6.2, RFC 5321 6.1).
//!
//! Which recipients get reported follows NOTIFY (RFC 3461 4.1): `NEVER`
//! none; otherwise the listed conditions; without NOTIFY, failures and
//! delays (the MTA's default).

use std::fmt::Write as _;
use std::time::SystemTime;

use mail_queue::{Envelope, QueuedRecipient};

/// The per-recipient `Action` (RFC 3464 2.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Permanent failure, or the queue lifetime ran out.
    Failed,
    /// Still trying: a delay notice.
    Delayed,
    /// Final delivery (into a store over LMTP).
    Delivered,
    /// Passed to a server that does not do DSNs.
    Relayed,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Failed => "failed",
            Action::Delayed => "delayed",
            Action::Delivered => "delivered",
            Action::Relayed => "relayed",
        }
    }
}

/// One recipient of a DSN.
#[derive(Debug, Clone)]
pub struct DsnRecipient {
    /// The envelope recipient as delivered to (`Final-Recipient`).
    pub address: String,
    /// ORCPT as `type;address` (`Original-Recipient`), when the sender gave it.
    pub orcpt: Option<String>,
    /// What happened.
    pub action: Action,
    /// RFC 3463 status (`5.1.1`).
    pub status: String,
    /// The remote (or local) reply, for `Diagnostic-Code: smtp; ...`.
    pub diagnostic: Option<String>,
    /// The server that answered, for `Remote-MTA: dns; ...`.
    pub remote_mta: Option<String>,
}

impl DsnRecipient {
    /// A recipient of `env` with its ORCPT.
    pub fn of(
        r: &QueuedRecipient,
        action: Action,
        status: &str,
        diagnostic: Option<String>,
    ) -> Self {
        Self {
            address: r.address.clone(),
            orcpt: r.orcpt.as_ref().map(|_| r.orcpt_text()),
            action,
            status: status.to_string(),
            diagnostic,
            remote_mta: None,
        }
    }
}

/// Whether `rcpt` asked for a DSN with `action` (RFC 3461 4.1).
pub fn wanted(rcpt: &QueuedRecipient, action: Action) -> bool {
    match rcpt.notify {
        None => matches!(action, Action::Failed | Action::Delayed),
        Some(n) if n.is_never() => false,
        Some(n) => match action {
            Action::Failed => n.failure,
            Action::Delayed => n.delay,
            Action::Delivered | Action::Relayed => n.success,
        },
    }
}

/// What a DSN says and about which message.
#[derive(Debug, Clone)]
pub struct DsnRequest<'a> {
    /// This MTA's name (`Reporting-MTA`, the From address's domain).
    pub reporting_mta: &'a str,
    /// The original message's envelope.
    pub envelope: &'a Envelope,
    /// The original message (headers are taken from it).
    pub original: &'a [u8],
    /// Return the whole message (RET=FULL) rather than its headers.
    pub return_full: bool,
    /// The recipients reported on.
    pub recipients: Vec<DsnRecipient>,
    /// For delay notices: until when delivery will be tried.
    pub will_retry_until: Option<SystemTime>,
    /// Now (a parameter so that tests can fix it).
    pub now: SystemTime,
}

/// The finished notice: envelope parameters and the RFC 5322 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dsn {
    /// The envelope recipient: the original sender.
    pub recipient: String,
    /// The message, CRLF line ends.
    pub message: Vec<u8>,
    /// Its Message-ID (with angle brackets).
    pub message_id: String,
    /// Whether it holds 8-bit octets (then it goes with BODY=8BITMIME).
    pub eight_bit: bool,
    /// Whether an address needs SMTPUTF8.
    pub smtputf8: bool,
}

/// Builds the DSN, or `None` when none may be sent: the original came
/// from the null sender (never bounce a bounce), or no recipient is left.
pub fn build(req: &DsnRequest<'_>) -> Option<Dsn> {
    let env = req.envelope;
    if env.sender.is_empty() || req.recipients.is_empty() {
        return None;
    }
    let failed = req.recipients.iter().any(|r| r.action == Action::Failed);
    let delayed = req.recipients.iter().any(|r| r.action == Action::Delayed);
    let subject = if failed {
        "Undelivered Mail Returned to Sender"
    } else if delayed {
        "Delayed Mail (still being retried)"
    } else {
        "Successful Mail Delivery Report"
    };
    let boundary = format!("{}.{}/{}", env.id, unique(), req.reporting_mta);
    let message_id = format!("<{}.{}.dsn@{}>", env.id, unique(), req.reporting_mta);
    let mut m = String::new();
    let _ = write!(
        m,
        "From: Mail Delivery System <MAILER-DAEMON@{mta}>\r\n\
         To: <{to}>\r\n\
         Subject: {subject}\r\n\
         Date: {date}\r\n\
         Message-ID: {message_id}\r\n\
         Auto-Submitted: auto-replied\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n\
         \r\n\
         This is a MIME-encapsulated delivery status notification (RFC 3464).\r\n\
         \r\n",
        mta = req.reporting_mta,
        to = env.sender,
        date = mail_core::date::rfc5322(req.now),
    );
    // 1. The explanation for people.
    let _ = write!(
        m,
        "--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Description: Notification\r\n\r\n"
    );
    m.push_str(&human_text(req));
    // 2. The report for programs (RFC 3464 2.2, 2.3).
    let _ = write!(
        m,
        "\r\n--{boundary}\r\nContent-Type: message/delivery-status\r\nContent-Description: Delivery report\r\n\r\n"
    );
    let _ = write!(m, "Reporting-MTA: dns; {}\r\n", req.reporting_mta);
    if let Some(id) = &env.envid {
        let _ = write!(m, "Original-Envelope-Id: {}\r\n", clean(id));
    }
    let _ = write!(
        m,
        "Arrival-Date: {}\r\n",
        mail_core::date::rfc5322(env.received_at)
    );
    for r in &req.recipients {
        m.push_str("\r\n");
        let _ = write!(m, "Final-Recipient: rfc822; {}\r\n", r.address);
        if let Some(o) = &r.orcpt {
            let (t, a) = o.split_once(';').unwrap_or(("rfc822", o.as_str()));
            let _ = write!(m, "Original-Recipient: {t}; {}\r\n", a.trim());
        }
        let _ = write!(m, "Action: {}\r\n", r.action.as_str());
        let _ = write!(m, "Status: {}\r\n", r.status);
        if let Some(mta) = &r.remote_mta {
            let _ = write!(m, "Remote-MTA: dns; {mta}\r\n");
        }
        if let Some(d) = &r.diagnostic {
            let _ = write!(m, "Diagnostic-Code: smtp; {}\r\n", clean(d));
        }
        let _ = write!(
            m,
            "Last-Attempt-Date: {}\r\n",
            mail_core::date::rfc5322(req.now)
        );
        if r.action == Action::Delayed
            && let Some(until) = req.will_retry_until
        {
            let _ = write!(
                m,
                "Will-Retry-Until: {}\r\n",
                mail_core::date::rfc5322(until)
            );
        }
    }
    // 3. The original: headers, or everything with RET=FULL.
    let mut out = m.into_bytes();
    let (ctype, body) = if req.return_full {
        ("message/rfc822", req.original)
    } else {
        ("text/rfc822-headers", header_block(req.original))
    };
    let _ = write!(
        out_writer(&mut out),
        "\r\n--{boundary}\r\nContent-Type: {ctype}\r\nContent-Description: {}\r\n\r\n",
        if req.return_full {
            "Undelivered message"
        } else {
            "Message headers"
        }
    );
    out.extend_from_slice(body);
    if !body.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    let _ = write!(out_writer(&mut out), "\r\n--{boundary}--\r\n");
    let eight_bit = out.iter().any(|b| *b >= 0x80);
    Some(Dsn {
        recipient: env.sender.clone(),
        message: out,
        message_id,
        eight_bit,
        smtputf8: !env.sender.is_ascii(),
    })
}

struct VecWriter<'a>(&'a mut Vec<u8>);
impl std::fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}
fn out_writer(v: &mut Vec<u8>) -> VecWriter<'_> {
    VecWriter(v)
}

fn human_text(req: &DsnRequest<'_>) -> String {
    let mut t = String::new();
    let _ = write!(
        t,
        "This is the mail system at {}.\r\n\r\n",
        req.reporting_mta
    );
    let env = req.envelope;
    if let Some(mid) = &env.message_id {
        let _ = write!(t, "About your message {}\r\n", clean(mid));
    }
    let _ = write!(
        t,
        "received {}:\r\n\r\n",
        mail_core::date::rfc5322(env.received_at)
    );
    for r in &req.recipients {
        let what = match r.action {
            Action::Failed => "could not be delivered to",
            Action::Delayed => "has not yet been delivered to",
            Action::Delivered => "was delivered to",
            Action::Relayed => "was relayed (no further notices will come) to",
        };
        let _ = write!(t, "  It {what} <{}>", r.address);
        if let Some(d) = &r.diagnostic {
            let _ = write!(t, ":\r\n    {}", clean(d));
        }
        t.push_str("\r\n");
    }
    if let Some(until) = req.will_retry_until
        && req.recipients.iter().any(|r| r.action == Action::Delayed)
    {
        let _ = write!(
            t,
            "\r\nDelivery will be retried until {}; you need not send it again.\r\n",
            mail_core::date::rfc5322(until)
        );
    }
    t
}

/// The header block of a message: everything up to (not including) the
/// empty line.
pub fn header_block(msg: &[u8]) -> &[u8] {
    let end = msg
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 2)
        .unwrap_or(msg.len());
    &msg[..end]
}

/// Control characters would break a header line: folded to spaces.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn unique() -> String {
    let mut b = [0u8; 6];
    let _ = getrandom::fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests;
