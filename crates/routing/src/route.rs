//! The routing decision and its human-readable trace.

use std::fmt;
use std::fmt::Write as _;

use crate::config::ChannelKind;
use crate::directory::Entry;
use crate::error::RouteError;

/// What kind of step a [`Step`] records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// The address as parsed and normalised.
    Input,
    /// A rule's domain pattern matched.
    Rule,
    /// A mapping or directory lookup answered.
    Lookup,
    /// A rule matched but a lookup found nothing, so it was skipped.
    Skip,
    /// The address was rewritten and goes through the rules again.
    Rewrite,
    /// A rule produced the rewritten address and the routing host.
    Route,
    /// The routing host selected a channel.
    Channel,
    /// Where the channel delivers.
    Destination,
    /// Something the relay must do next (forwarding, group expansion).
    Note,
}

impl StepKind {
    fn label(self) -> &'static str {
        match self {
            Self::Input => "input",
            Self::Rule => "rule",
            Self::Lookup => "lookup",
            Self::Skip => "skip",
            Self::Rewrite => "rewrite",
            Self::Route => "route",
            Self::Channel => "channel",
            Self::Destination => "destination",
            Self::Note => "note",
        }
    }
}

/// One thing routing did, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// What kind of step.
    pub kind: StepKind,
    /// The description shown by `mailctl route test`.
    pub text: String,
}

/// Where a channel's master program delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Look up the MX records of `domain` (A/AAAA when there are none,
    /// RFC 5321 5.1) and connect on `port`.
    Mx {
        /// The domain to look up.
        domain: String,
        /// The SMTP port.
        port: u16,
    },
    /// Connect to one host: a store (`mailHost`), a smarthost or a relay.
    Host {
        /// Host name or IP address.
        host: String,
        /// The port.
        port: u16,
    },
    /// Nothing to connect to: the channel handles the message itself
    /// (`bounce`, `reprocess`).
    Local,
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Mx { domain, port } => write!(f, "MX of {domain}, port {port}"),
            Self::Host { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Self::Host { host, port } => write!(f, "{host}:{port}"),
            Self::Local => f.write_str("local (handled by the channel itself)"),
        }
    }
}

/// The outcome of routing one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The address as given.
    pub input: String,
    /// Every step, in order.
    pub steps: Vec<Step>,
    /// The address after the last rewrite: the envelope recipient the
    /// channel delivers to.
    pub final_address: String,
    /// The channel's name (look its keywords up with
    /// [`crate::Router::channel`]).
    pub channel: String,
    /// The channel's kind.
    pub kind: ChannelKind,
    /// The routing host that selected the channel.
    pub routing_host: String,
    /// Where the channel delivers.
    pub destination: Destination,
    /// The directory entry the deciding rule looked up (a user with their
    /// forwarding and status, a group to expand), or `Entry::None`.
    pub entry: Entry,
    /// Index of the deciding rule in `[[rewrite]]`.
    pub rule: usize,
    /// Every address of the rewrite chain, from the input (normalised) to
    /// the final address.
    pub chain: Vec<String>,
    /// Whether an address of the chain is in a hosted domain (or a domain
    /// alias): mail the inbound relay takes from anyone. When false the
    /// message is relayed, which the SMTP server allows only for
    /// authenticated clients and trusted networks.
    pub hosted: bool,
}

fn render_steps(out: &mut String, steps: &[Step]) {
    let width = steps.len().to_string().len();
    for (i, s) in steps.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {:>width$}. {:<11} {}",
            i + 1,
            s.kind.label(),
            s.text
        );
    }
}

/// The text `mailctl route test ADDRESS` prints for a routed address.
pub fn render_route(route: &Route) -> String {
    let mut out = format!("route {}\n", route.input);
    render_steps(&mut out, &route.steps);
    out.push_str("result\n");
    let _ = writeln!(out, "  address      {}", route.final_address);
    let _ = writeln!(
        out,
        "  channel      {} ({})",
        route.channel,
        route.kind.as_str()
    );
    let _ = writeln!(out, "  destination  {}", route.destination);
    let _ = writeln!(
        out,
        "  hosted       {}",
        if route.hosted {
            "yes (accepted from any client)"
        } else {
            "no (relayed: authenticated clients and trusted networks only)"
        }
    );
    match &route.entry {
        Entry::User(u) => {
            let _ = writeln!(
                out,
                "  directory    user {} ({}), mailHost {}",
                u.uid,
                u.status,
                u.mail_host.as_deref().unwrap_or("(none)")
            );
        }
        Entry::Group(g) => {
            let _ = writeln!(out, "  directory    group {} (to be expanded)", g.name);
        }
        Entry::None => {}
    }
    out
}

/// The text `mailctl route test ADDRESS` prints when routing fails: the
/// steps up to the failure, the error and the SMTP reply a relay gives.
pub fn render_error(err: &RouteError) -> String {
    let mut out = format!("route {}\n", err.input);
    render_steps(&mut out, &err.steps);
    let (code, status, text) = err.error.smtp_reply();
    out.push_str("failed\n");
    let _ = writeln!(out, "  error        {}", err.error);
    let _ = writeln!(out, "  smtp reply   {code} {status} {text}");
    out
}

/// [`render_route`] or [`render_error`], whichever applies.
pub fn render(result: &Result<Route, RouteError>) -> String {
    match result {
        Ok(route) => render_route(route),
        Err(err) => render_error(err),
    }
}
