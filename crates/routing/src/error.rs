//! The crate's one error type, and the failure of one routing run.
//!
//! Every routing error knows the SMTP reply a relay gives for it
//! ([`Error::smtp_reply`]), so the SMTP server can answer `RCPT TO` from the
//! error alone. Problems an operator can fix (no channel for a routing host,
//! a template producing garbage, an unreachable directory) are temporary
//! (`4xx`): bouncing mail because of a configuration mistake would lose it.

use mail_core::config::ConfigError;
use mail_directory::DirectoryError;

use crate::route::Step;

/// Why a configuration could not be used or an address could not be routed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The routing configuration file is unreadable or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The address is not a valid RFC 5321 mailbox.
    #[error("invalid address {address:?}: {reason}")]
    InvalidAddress {
        /// The address as given.
        address: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A source route (`@relay1,@relay2:user@domain`), a percent hack
    /// (`user%domain@relay`) or a bang path (`host!user@relay`): ways to make
    /// this MTA relay for someone else, refused on purpose.
    #[error("address {address:?} refused: {reason}")]
    RelayForm {
        /// The address as given.
        address: String,
        /// Which form was recognised.
        reason: &'static str,
    },
    /// A rule with `error = ...` matched.
    #[error("{address}: refused by rule {rule}: {message}")]
    Refused {
        /// The address at that point of the rewrite chain.
        address: String,
        /// Index of the rule in `[[rewrite]]` (0-based).
        rule: usize,
        /// Reply code: 550 for a `5.x.x` status, 450 for `4.x.x`.
        code: u16,
        /// Enhanced status code (RFC 3463).
        status: String,
        /// Text for the SMTP reply.
        message: String,
    },
    /// No rule matched the domain (the configuration has no `$*` rule).
    #[error("{address}: no rewrite rule matches domain {domain}")]
    NoRule {
        /// The address at that point of the rewrite chain.
        address: String,
        /// Its domain.
        domain: String,
    },
    /// A rule produced a routing host that no channel lists in `hosts`.
    #[error("rule {rule}: routing host {host:?} selects no channel")]
    NoChannel {
        /// The rule.
        rule: usize,
        /// The routing host.
        host: String,
    },
    /// A rule selected a channel it cannot route to (a `submit` channel
    /// only receives) or left out a destination the channel needs.
    #[error("rule {rule}: channel {channel}: {reason}")]
    BadChannel {
        /// The rule.
        rule: usize,
        /// The channel.
        channel: String,
        /// What is missing.
        reason: String,
    },
    /// A template produced something that is not an address or a host.
    #[error("rule {rule}: {key} produced {value:?}: {reason}")]
    BadTemplateResult {
        /// The rule.
        rule: usize,
        /// Which template (`address`, `route`, `destination`).
        key: &'static str,
        /// What it produced.
        value: String,
        /// Why that is unusable.
        reason: String,
    },
    /// The rewrite chain came back to an address it had already rewritten.
    #[error("rewrite loop: {}", chain.join(" -> "))]
    Loop {
        /// The addresses of the chain, ending with the repeated one.
        chain: Vec<String>,
    },
    /// The rewrite chain grew longer than `routing.max_rewrites`.
    #[error("more than {limit} rewrites: {}", chain.join(" -> "))]
    TooManyRewrites {
        /// The configured limit.
        limit: usize,
        /// The addresses of the chain.
        chain: Vec<String>,
    },
    /// A directory lookup failed (not "not found": that only skips a rule).
    #[error("directory: {0}")]
    Directory(#[from] DirectoryError),
    /// A default configuration was filled incompletely.
    #[error("placeholder {{{{{0}}}}} is not filled")]
    Placeholder(String),
}

impl Error {
    /// Whether the same address may route later (after a configuration fix
    /// or once the directory answers): the relay should answer `4xx` and
    /// keep the message.
    pub fn is_temporary(&self) -> bool {
        match self {
            Self::Directory(e) => e.is_temporary(),
            Self::Refused { code, .. } => *code < 500,
            Self::Config(_)
            | Self::NoChannel { .. }
            | Self::BadChannel { .. }
            | Self::BadTemplateResult { .. }
            | Self::Placeholder(_) => true,
            Self::InvalidAddress { .. }
            | Self::RelayForm { .. }
            | Self::NoRule { .. }
            | Self::Loop { .. }
            | Self::TooManyRewrites { .. } => false,
        }
    }

    /// The reply to `RCPT TO`: code, RFC 3463 enhanced status and text.
    pub fn smtp_reply(&self) -> (u16, String, String) {
        let (code, status) = match self {
            // RFC 3463 X.1.3: bad destination mailbox address syntax.
            Self::InvalidAddress { .. } => (501, "5.1.3".to_string()),
            // X.7.1: delivery not authorized (relaying denied).
            Self::RelayForm { .. } => (550, "5.7.1".to_string()),
            Self::Refused { code, status, .. } => (*code, status.clone()),
            // X.1.2: bad destination system address.
            Self::NoRule { .. } => (550, "5.1.2".to_string()),
            // X.4.6: routing loop detected.
            Self::Loop { .. } | Self::TooManyRewrites { .. } => (554, "5.4.6".to_string()),
            Self::Directory(e) => {
                let (c, s) = e.smtp_reply();
                (c, s.to_string())
            }
            // X.3.5: system incorrectly configured.
            Self::Config(_)
            | Self::NoChannel { .. }
            | Self::BadChannel { .. }
            | Self::BadTemplateResult { .. }
            | Self::Placeholder(_) => (451, "4.3.5".to_string()),
        };
        let text = match self {
            Self::Refused { message, .. } => message.clone(),
            Self::Config(_)
            | Self::NoChannel { .. }
            | Self::BadChannel { .. }
            | Self::BadTemplateResult { .. }
            | Self::Placeholder(_) => "routing configuration error".to_string(),
            Self::Directory(_) if self.is_temporary() => {
                "directory unavailable, try again later".to_string()
            }
            other => other.to_string(),
        };
        (code, status, text)
    }
}

/// A routing run that ended in an error, with the steps taken up to it, so
/// that `mailctl route test` can show where the chain went wrong.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct RouteError {
    /// The address as given.
    pub input: String,
    /// Every step taken before the error.
    pub steps: Vec<Step>,
    /// What stopped the run.
    #[source]
    pub error: Error,
}
