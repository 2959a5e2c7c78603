//! What the relays decide: the hooks the SMTP server calls.
//!
//! The server knows SMTP; the relays know the directory, the routing
//! rules and the trusted networks. Each decision is a trait object in
//! [`Hooks`], so this crate is tested with small doubles and each relay
//! plugs in its own:
//!
//! | hook | called at | answers |
//! |---|---|---|
//! | [`RecipientPolicy`] | RCPT TO | accept with a [`Route`], `550 5.1.1`, `550 5.7.1`, `451 4.3.0` |
//! | [`SenderPolicy`] | MAIL FROM | accept, `553 5.7.1` (not the user's address), `451 4.3.0` |
//! | [`Authenticator`] | AUTH PLAIN/LOGIN (TLS only) | identity, `535 5.7.8`, `454 4.7.0` |
//! | [`ContentFilter`] | after the final dot, before queueing | accept (optionally adding headers), reject, tempfail |
//! | [`QueueNotifier`] | after the `250` | nothing: tells jobctl about the new entries |
//!
//! A temporary failure of a lookup (directory down) must never become a
//! `5xx`: the verdicts make `TempFail` distinct for that reason.
//!
//! [`RelayPolicy`] is the usual recipient policy of an MTA built from a
//! [`RecipientLookup`]: hosted addresses must exist; other domains are
//! relayed only for authenticated clients and trusted networks.

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use mail_smtp_proto::{Address, MailParams, RcptParams, Reply, ReversePath};

use mail_core::cidr::Cidr;
/// The queue's notifier hook and the content view live with the queue
/// (`mail-delivery` implements the notifier without this crate).
pub use mail_queue::{ContentRef, NoNotifier, QueueNotifier};

/// What the server knows about the client when it asks a hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client's address.
    pub peer: SocketAddr,
    /// Our address on the connection.
    pub local: SocketAddr,
    /// The EHLO/HELO name, once given.
    pub helo: Option<String>,
    /// Whether the connection is encrypted (STARTTLS or implicit TLS).
    pub tls: bool,
    /// The authenticated identity, after a successful AUTH.
    pub auth: Option<String>,
}

/// Where an accepted recipient goes: the queue (channel) and next hop.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Route {
    /// Master channel, e.g. `lmtp`, `tcp_local`; a spool directory name.
    pub channel: String,
    /// Next hop for that channel (store host, destination domain...).
    pub host: String,
    /// The address to deliver to, when routing rewrote it; `None` keeps
    /// the RCPT TO address.
    pub address: Option<String>,
}

impl Route {
    /// A route to `host` through `channel`, address unchanged.
    pub fn new(channel: impl Into<String>, host: impl Into<String>) -> Self {
        Self {
            channel: channel.into(),
            host: host.into(),
            address: None,
        }
    }
}

/// The answer to RCPT TO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RcptVerdict {
    /// `250 2.1.5`; queued on the route's channel.
    Accept(Route),
    /// `550 5.1.1 Mailbox unknown`: a hosted domain without this user.
    UnknownUser,
    /// `550 5.7.1 Relaying denied`: not hosted here and the client may not
    /// relay.
    RelayDenied,
    /// `451 4.3.0`: the decision could not be made (directory down...);
    /// the reason is logged, not sent.
    TempFail(String),
    /// Any other reply (e.g. `550 5.2.1 Mailbox disabled`).
    Reject(Reply),
}

/// The answer to MAIL FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SenderVerdict {
    /// `250 2.1.0`.
    Accept,
    /// `553 5.7.1`: the address does not belong to the authenticated user.
    NotOwned,
    /// `451 4.3.0`; the reason is logged.
    TempFail(String),
    /// Any other reply.
    Reject(Reply),
}

/// Credentials from AUTH PLAIN or LOGIN (RFC 4616, draft-murchison-sasl-login).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `PLAIN` or `LOGIN`.
    pub mechanism: &'static str,
    /// PLAIN's authorization identity, when different from the user.
    pub authzid: Option<String>,
    /// The user name as typed.
    pub username: String,
    /// The password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("mechanism", &self.mechanism)
            .field("authzid", &self.authzid)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The answer to AUTH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthVerdict {
    /// `235 2.7.0`; `identity` is the canonical user (what
    /// [`SenderPolicy`] and the queue see).
    Accept {
        /// The authenticated identity.
        identity: String,
    },
    /// `535 5.7.8 Authentication credentials invalid`.
    Reject,
    /// `454 4.7.0`; the reason is logged.
    TempFail(String),
}

/// A message after the final dot, before it is queued.
#[derive(Debug, Clone, Copy)]
pub struct FilterInput<'a> {
    /// The client.
    pub client: &'a ClientInfo,
    /// MAIL FROM.
    pub sender: &'a ReversePath,
    /// Accepted recipients.
    pub recipients: &'a [Address],
    /// The content as received (no Received header yet).
    pub content: ContentRef<'a>,
    /// Content size in octets.
    pub size: u64,
}

/// The content filter's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterVerdict {
    /// Queue as is.
    Accept,
    /// Queue with these header fields (`Name: value`, no CRLF) prepended,
    /// e.g. `X-Spam-Status: No`.
    AcceptWithHeaders(Vec<String>),
    /// Refuse with this (5xx) reply; nothing is queued.
    Reject(Reply),
    /// Refuse with this (4xx) reply; the client retries later.
    TempFail(Reply),
}

/// Decides each RCPT TO.
#[async_trait]
pub trait RecipientPolicy: Send + Sync + 'static {
    /// The verdict for `recipient` in a transaction from `sender`.
    async fn check_recipient(
        &self,
        client: &ClientInfo,
        sender: &ReversePath,
        recipient: &Address,
        params: &RcptParams,
    ) -> RcptVerdict;
}

/// Decides MAIL FROM (submission: the sender must be the user's).
#[async_trait]
pub trait SenderPolicy: Send + Sync + 'static {
    /// The verdict for `sender`.
    async fn check_sender(
        &self,
        client: &ClientInfo,
        sender: &ReversePath,
        params: &MailParams,
    ) -> SenderVerdict;
}

/// Checks AUTH credentials (the relay asks the directory).
#[async_trait]
pub trait Authenticator: Send + Sync + 'static {
    /// The verdict for `credentials` from `client`.
    async fn authenticate(&self, client: &ClientInfo, credentials: &Credentials) -> AuthVerdict;
}

/// Looks at content before it is queued (spam, viruses: a later issue).
#[async_trait]
pub trait ContentFilter: Send + Sync + 'static {
    /// The verdict for one message.
    async fn check(&self, input: FilterInput<'_>) -> FilterVerdict;
}

/// Accepts every sender (the inbound relay).
#[derive(Debug, Clone, Copy, Default)]
pub struct AnySender;

#[async_trait]
impl SenderPolicy for AnySender {
    async fn check_sender(&self, _: &ClientInfo, _: &ReversePath, _: &MailParams) -> SenderVerdict {
        SenderVerdict::Accept
    }
}

/// Submission's simplest rule: an authenticated client may use only its
/// own identity as sender (case-insensitive), or `<>`. Relays with
/// aliases implement [`SenderPolicy`] against the directory instead.
#[derive(Debug, Clone, Copy, Default)]
pub struct OwnAddressOnly;

#[async_trait]
impl SenderPolicy for OwnAddressOnly {
    async fn check_sender(
        &self,
        client: &ClientInfo,
        sender: &ReversePath,
        _: &MailParams,
    ) -> SenderVerdict {
        match (sender.address(), &client.auth) {
            (None, _) => SenderVerdict::Accept,
            (Some(a), Some(id)) if a.to_string().eq_ignore_ascii_case(id) => SenderVerdict::Accept,
            _ => SenderVerdict::NotOwned,
        }
    }
}

/// Accepts everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFilter;

#[async_trait]
impl ContentFilter for NoFilter {
    async fn check(&self, _: FilterInput<'_>) -> FilterVerdict {
        FilterVerdict::Accept
    }
}

/// What a relay knows about an address (directory + routing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// A hosted domain and the directory knows the recipient.
    Hosted(Route),
    /// A hosted domain without this recipient.
    HostedUnknown,
    /// Not a hosted domain; this is where it would go.
    Remote(Route),
    /// The lookup failed (directory or DNS down).
    TempFail(String),
    /// Routing refused the address with its own reply (a rewrite rule
    /// with an error, a relay form such as `a%b@c`...).
    Reject(Reply),
}

/// The directory and routing side of [`RelayPolicy`].
#[async_trait]
pub trait RecipientLookup: Send + Sync + 'static {
    /// Classifies `recipient`.
    async fn lookup(&self, recipient: &Address) -> Lookup;
}

/// The standard anti-relay rule: hosted recipients must exist; others are
/// accepted only from authenticated clients or trusted networks.
pub struct RelayPolicy {
    lookup: Arc<dyn RecipientLookup>,
    trusted: Vec<Cidr>,
}

impl std::fmt::Debug for RelayPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayPolicy")
            .field("trusted", &self.trusted)
            .finish_non_exhaustive()
    }
}

impl RelayPolicy {
    /// A policy over `lookup`, trusting clients in `trusted` to relay.
    pub fn new(lookup: Arc<dyn RecipientLookup>, trusted: Vec<Cidr>) -> Self {
        Self { lookup, trusted }
    }
}

#[async_trait]
impl RecipientPolicy for RelayPolicy {
    async fn check_recipient(
        &self,
        client: &ClientInfo,
        _: &ReversePath,
        recipient: &Address,
        _: &RcptParams,
    ) -> RcptVerdict {
        match self.lookup.lookup(recipient).await {
            Lookup::Hosted(route) => RcptVerdict::Accept(route),
            Lookup::HostedUnknown => RcptVerdict::UnknownUser,
            Lookup::TempFail(why) => RcptVerdict::TempFail(why),
            Lookup::Reject(reply) => RcptVerdict::Reject(reply),
            Lookup::Remote(route) => {
                if client.auth.is_some() || Cidr::any_contains(&self.trusted, client.peer.ip()) {
                    RcptVerdict::Accept(route)
                } else {
                    RcptVerdict::RelayDenied
                }
            }
        }
    }
}

/// The hooks one server uses.
#[derive(Clone)]
pub struct Hooks {
    /// RCPT TO.
    pub recipients: Arc<dyn RecipientPolicy>,
    /// MAIL FROM.
    pub senders: Arc<dyn SenderPolicy>,
    /// AUTH; `None` disables AUTH (not advertised).
    pub authenticator: Option<Arc<dyn Authenticator>>,
    /// After DATA.
    pub filter: Arc<dyn ContentFilter>,
    /// After queueing.
    pub notifier: Arc<dyn QueueNotifier>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("auth", &self.authenticator.is_some())
            .finish_non_exhaustive()
    }
}

impl Hooks {
    /// `recipients` with the defaults: any sender, no AUTH, no filter, no
    /// notifier.
    pub fn new(recipients: Arc<dyn RecipientPolicy>) -> Self {
        Self {
            recipients,
            senders: Arc::new(AnySender),
            authenticator: None,
            filter: Arc::new(NoFilter),
            notifier: Arc::new(NoNotifier),
        }
    }

    /// Replaces the sender policy.
    pub fn with_senders(mut self, p: Arc<dyn SenderPolicy>) -> Self {
        self.senders = p;
        self
    }

    /// Enables AUTH with `a`.
    pub fn with_authenticator(mut self, a: Arc<dyn Authenticator>) -> Self {
        self.authenticator = Some(a);
        self
    }

    /// Replaces the content filter.
    pub fn with_filter(mut self, f: Arc<dyn ContentFilter>) -> Self {
        self.filter = f;
        self
    }

    /// Replaces the queue notifier.
    pub fn with_notifier(mut self, n: Arc<dyn QueueNotifier>) -> Self {
        self.notifier = n;
        self
    }
}
