//! What the POP3 server needs from the directory and the store. The store
//! service implements [`Authenticator`] and [`Maildrops`]; tests use
//! in-memory doubles.
//!
//! A session's life on these traits:
//!
//! 1. USER/PASS or AUTH: [`Authenticator::authenticate`] checks the
//!    credentials and names the [`Account`].
//! 2. [`Maildrops::open`] takes the account's POP lock (RFC 1939 8: one
//!    session per maildrop) and snapshots INBOX. Message numbers 1..n
//!    refer to [`Maildrop::messages`] in that order for the whole session.
//! 3. RETR/TOP call [`Maildrop::read`]; DELE only marks.
//! 4. QUIT calls [`Maildrop::commit`] with the marked messages (the UPDATE
//!    state, RFC 1939 6). Any other ending (dropped connection, timeout,
//!    shutdown, error) drops the maildrop without commit, deleting
//!    nothing.
//!
//! The lock must be released when the [`Maildrop`] is dropped (after
//! commit or without it), which is how every session ends.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use tokio::io::AsyncRead;

use crate::error::Error;

/// A logged-in user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Account {
    /// The store's key for the mailbox owner (user id, directory DN...).
    pub id: String,
    /// The canonical login name, for logs and traces.
    pub name: String,
}

/// Why credentials were not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// Unknown user or wrong password; the two must not be told apart:
    /// `-ERR [AUTH]` after the failed-login delay.
    BadCredentials,
    /// Right password, but the account may not log in (disabled, no POP
    /// service): `-ERR [SYS/PERM]` after the delay. Return this only once
    /// the password has been verified, or it reveals that the user exists.
    Inactive,
    /// The check could not be made (directory down): `-ERR [SYS/TEMP]`.
    /// The reason is logged, not sent.
    Temporary(String),
    /// Right credentials, but the account's mail is on another store (the
    /// directory's `mailHost`, given here): a plain `-ERR` saying so, and
    /// never an empty maildrop. Return this only once the password (or
    /// the proxy's credential) has been verified.
    HomedElsewhere(String),
}

/// Checks credentials against the directory.
///
/// Implementations can write `async fn`; the future must be `Send` so
/// sessions run on any worker thread.
pub trait Authenticator: Send + Sync + 'static {
    /// Verifies `login` and `password` as sent by the client (USER/PASS or
    /// SASL PLAIN/LOGIN).
    fn authenticate(
        &self,
        login: &str,
        password: &str,
    ) -> impl Future<Output = Result<Account, AuthFailure>> + Send;

    /// The account `user` for a login a trusted proxy vouched for (its
    /// credential already verified by the server, see
    /// `mail_core::trusted_proxy`): no password, but the same checks on
    /// the account (exists, active, homed here). Without an override no
    /// proxied login succeeds.
    fn authorize(&self, user: &str) -> impl Future<Output = Result<Account, AuthFailure>> + Send {
        let _ = user;
        async { Err(AuthFailure::BadCredentials) }
    }
}

/// One message in the snapshot taken at login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInfo {
    /// The store's own key for the message (an IMAP UID, say), handed back
    /// in [`Maildrop::read`] and [`Maildrop::commit`]. Opaque to POP3.
    pub key: u64,
    /// The UIDL: 1 to 70 characters in 0x21..=0x7E, unique in the maildrop
    /// and stable across sessions (RFC 1939 7). `UIDVALIDITY.UID` works.
    pub uid: String,
    /// Size in octets as the client receives it, with CRLF line ends and
    /// before byte-stuffing (RFC 1939 5, LIST).
    pub size: u64,
}

/// A message's content as the store has it.
pub enum MessageContent {
    /// All in memory.
    Bytes(Vec<u8>),
    /// Read as it is sent; TOP stops reading once it has its lines.
    Stream(Pin<Box<dyn AsyncRead + Send>>),
}

impl fmt::Debug for MessageContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageContent::Bytes(b) => write!(f, "Bytes({} octets)", b.len()),
            MessageContent::Stream(_) => f.write_str("Stream"),
        }
    }
}

/// An open, locked maildrop: the session owns it until the end.
pub trait Maildrop: Send + Sync + 'static {
    /// The snapshot taken when it was opened, in message-number order
    /// (message n is `messages()[n - 1]`). Must not change afterwards.
    fn messages(&self) -> &[MessageInfo];

    /// The content of `msg` (an element of [`Maildrop::messages`]). Lines
    /// may end with LF or CRLF; the server sends CRLF and byte-stuffs.
    fn read(&self, msg: &MessageInfo)
    -> impl Future<Output = Result<MessageContent, Error>> + Send;

    /// Removes `deleted` (the messages marked with DELE) and releases the
    /// lock. Only called after QUIT in the TRANSACTION state; an error is
    /// reported to the client as `-ERR [SYS/TEMP]` (RFC 1939 6).
    fn commit(self, deleted: Vec<MessageInfo>) -> impl Future<Output = Result<(), Error>> + Send;
}

/// Opens maildrops.
pub trait Maildrops: Send + Sync + 'static {
    /// The open maildrop type.
    type Maildrop: Maildrop;

    /// Locks `account`'s maildrop and snapshots INBOX. Returns
    /// [`Error::InUse`] when another session holds the lock, and
    /// [`Error::Unavailable`] when the store cannot serve it now.
    fn open(&self, account: &Account)
    -> impl Future<Output = Result<Self::Maildrop, Error>> + Send;
}
