//! What the LMTP server needs from the store: recipient checks and
//! delivery. The store implements [`Mailboxes`]; tests use an in-memory
//! double.

use std::future::Future;
use std::net::SocketAddr;
use std::time::SystemTime;

use mail_smtp_proto::{Address, MailParams, RcptParams, Reply, ReversePath};

/// A recipient as given in RCPT TO, with the subaddress split off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The address exactly as the client sent it.
    pub address: Address,
    /// The local part without the detail: `alice` for `alice+lists@x`.
    pub user: String,
    /// The detail, which names a folder: `lists` for `alice+lists@x`.
    pub detail: Option<String>,
    /// DSN parameters (RFC 3461) to carry into delivery status.
    pub params: RcptParams,
}

impl Recipient {
    /// Splits `address` at the first `delimiter` (RFC 5233 style
    /// subaddressing; `None` disables it).
    pub fn new(address: Address, params: RcptParams, delimiter: Option<char>) -> Self {
        let (user, detail) = match delimiter {
            Some(d) => address.split_detail(d),
            None => (address.local_part(), None),
        };
        Self {
            user: user.to_string(),
            detail: detail.map(str::to_string),
            address,
            params,
        }
    }

    /// `user@domain` without the detail, lower-cased, for lookups.
    pub fn canonical(&self) -> String {
        if self.address.domain().is_empty() {
            self.user.to_lowercase()
        } else {
            format!("{}@{}", self.user, self.address.domain()).to_lowercase()
        }
    }
}

/// A recipient the store accepted, with what it needs at delivery time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The recipient as parsed.
    pub recipient: Recipient,
    /// The store's key for the mailbox owner (user id, directory DN...).
    pub account: String,
    /// The folder to deliver to, when the detail (or a rule) names one.
    pub folder: Option<String>,
}

impl Target {
    /// A target for `recipient` owned by `account`, delivering into the
    /// folder named by its detail, if any.
    pub fn new(recipient: &Recipient, account: impl Into<String>) -> Self {
        Self {
            folder: recipient.detail.clone(),
            recipient: recipient.clone(),
            account: account.into(),
        }
    }
}

/// The store's answer to RCPT TO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RcptVerdict {
    /// The mailbox is here: `250 2.1.5`.
    Accept(Target),
    /// No such user: `550 5.1.1`.
    Unknown,
    /// The user lives on another store (`mailHost` differs): `451 4.4.0`
    /// and a warning in the log, since the relay's routing is stale.
    HomedElsewhere {
        /// The store named by the directory.
        host: String,
    },
    /// The account exists but takes no mail: `550 5.2.1`.
    Inactive,
    /// The check could not be made (directory down...): `451 4.3.0`; the
    /// reason is logged, not sent.
    TempFail(String),
}

/// The outcome of delivery to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryResult {
    /// Stored and synced: `250 2.0.0`.
    Delivered,
    /// Stored before under the same delivery id (a relay that lost our
    /// `250` tries again): `250 2.0.0`, nothing stored this time.
    AlreadyDelivered,
    /// Try later, e.g. `452 4.2.2 Mailbox full` (over quota, grace period).
    TempFail(Reply),
    /// Never, e.g. `552 5.2.2 Mailbox full`.
    PermFail(Reply),
}

/// Where the message content is: in memory, or in a temporary file
/// (removed on drop; the store may hard-link it elsewhere first). The
/// type is the queue's buffer output, shared with the SMTP server.
pub use mail_queue::MessageBody;

/// The envelope of one transaction.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// MAIL FROM; the store writes it as `Return-Path:` (RFC 5321 4.4).
    pub sender: ReversePath,
    /// MAIL FROM parameters (SIZE, BODY, SMTPUTF8, RET, ENVID...).
    pub params: MailParams,
    /// The name the client gave in LHLO.
    pub lhlo: String,
    /// The client's address.
    pub peer: SocketAddr,
    /// The W3C traceparent from `X-TRACEPARENT=`, if any.
    pub traceparent: Option<String>,
    /// The relay's id of this queued message from `X-DELIVERY-ID=`: the
    /// same on every attempt, so a store that remembers which recipients
    /// it stored under it can answer a redelivery without a second copy.
    pub delivery_id: Option<String>,
    /// When the final dot (or last chunk) arrived.
    pub received_at: SystemTime,
}

/// One message ready for delivery: envelope plus content exactly as
/// received (dot-unstuffed, CRLF line ends, no header added).
#[derive(Debug)]
pub struct IncomingMessage {
    /// The envelope.
    pub envelope: Envelope,
    /// The content.
    pub body: MessageBody,
    /// Content size in octets.
    pub size: u64,
}

/// The store side of LMTP.
///
/// Both methods return `Send` futures so that sessions can run on any
/// worker thread; implementations can simply write `async fn`.
pub trait Mailboxes: Send + Sync + 'static {
    /// Decides whether `rcpt` is delivered here (RCPT TO time).
    fn check_recipient(&self, rcpt: &Recipient) -> impl Future<Output = RcptVerdict> + Send;

    /// Delivers `msg` to every target; returns one result per target, in
    /// the same order (missing results count as `451 4.3.0`). Called once
    /// per message, so single-copy storage can share the content.
    fn deliver(
        &self,
        msg: IncomingMessage,
        rcpts: &[Target],
    ) -> impl Future<Output = Vec<DeliveryResult>> + Send;
}
