//! RCPT TO decisions from routing and the directory.
//!
//! Routing (crates/routing) turns the address into a channel and next hop
//! and says whether it is hosted. Users with forwarding or a vacation
//! notice, and groups, go to the `reprocess` channel instead of straight to
//! their store: expansion, forwarding and autoreplies happen after the
//! message is safely queued, never while the client waits.

use std::sync::Arc;

use async_trait::async_trait;
use mail_delivery::host_for;
use mail_directory::{AccountStatus, Directory};
use mail_mta::{Lookup, RecipientLookup, Route as QueueRoute};
use mail_routing::{ChannelKind, Entry, Route, Router};
use mail_smtp_proto::{Address, EnhancedStatus, Reply};

/// [`RecipientLookup`] over a [`Router`] and the directory.
pub struct RoutingLookup {
    router: Arc<Router>,
    directory: Arc<dyn Directory>,
}

impl RoutingLookup {
    /// Looks addresses up with `router` and `directory`.
    pub fn new(router: Arc<Router>, directory: Arc<dyn Directory>) -> Self {
        Self { router, directory }
    }
}

/// Whether the message must pass the `reprocess` channel first.
fn needs_reprocess(route: &Route) -> bool {
    match &route.entry {
        Entry::User(u) => !u.forward_to.is_empty() || u.has_vacation,
        Entry::Group(_) => route.kind != ChannelKind::Reprocess,
        Entry::None => false,
    }
}

fn parse_status(s: &str) -> Option<EnhancedStatus> {
    let mut it = s.split('.');
    let class = it.next()?.parse().ok()?;
    let subject = it.next()?.parse().ok()?;
    let detail = it.next()?.parse().ok()?;
    Some(EnhancedStatus::new(class, subject, detail))
}

/// The `reprocess` channel, when `route` needs expansion, forwarding or a
/// vacation notice first and the channel table has one.
pub fn reprocess_channel(router: &Router, route: &Route) -> Option<String> {
    if !needs_reprocess(route) {
        return None;
    }
    router
        .channels()
        .iter()
        .find(|c| c.kind == ChannelKind::Reprocess)
        .map(|c| c.name.clone())
}

impl RoutingLookup {
    /// The queue route for a routed address: its channel, or `reprocess`.
    fn queue_route(&self, route: &Route) -> QueueRoute {
        let mut q = match reprocess_channel(&self.router, route) {
            Some(c) => QueueRoute::new(c, "reprocess"),
            None => QueueRoute::new(route.channel.clone(), host_for(&route.destination)),
        };
        if !route.final_address.eq_ignore_ascii_case(&route.input) {
            q.address = Some(route.final_address.clone());
        }
        q
    }
}

#[async_trait]
impl RecipientLookup for RoutingLookup {
    async fn lookup(&self, recipient: &Address) -> Lookup {
        let route = match self
            .router
            .route(&*self.directory, &recipient.to_string())
            .await
        {
            Ok(r) => r,
            Err(e) => {
                let (code, status, text) = e.error.smtp_reply();
                if e.error.is_temporary() {
                    return Lookup::TempFail(e.error.to_string());
                }
                if status == "5.1.1" {
                    return Lookup::HostedUnknown;
                }
                return Lookup::Reject(Reply::new(code, parse_status(&status), &text));
            }
        };
        if let Entry::User(u) = &route.entry {
            match u.status {
                AccountStatus::Active => {}
                // Mail for a suspended account waits (RFC 3463 X.2.1).
                AccountStatus::Inactive => {
                    return Lookup::Reject(Reply::with_status(
                        450,
                        (4, 2, 1),
                        "Mailbox temporarily disabled",
                    ));
                }
                AccountStatus::Deleted => {
                    return Lookup::Reject(Reply::with_status(
                        550,
                        (5, 2, 1),
                        "Mailbox disabled, not accepting messages",
                    ));
                }
            }
        }
        let q = self.queue_route(&route);
        if route.hosted {
            Lookup::Hosted(q)
        } else {
            Lookup::Remote(q)
        }
    }
}
