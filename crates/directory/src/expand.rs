//! Group expansion: static members by DN and by address, dynamic members
//! by LDAP URL, nested groups, with loop detection and a depth limit.
//!
//! A loop (a group that contains itself through other groups) is cut where
//! it closes and reported in [`Expansion::loops`]; everyone on it still
//! receives the message once. A group reached twice without a loop (two
//! lists sharing a sub-list) is expanded once. Nesting deeper than the
//! limit is an error, since a truncated list would silently drop people.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;

use crate::Directory;
use crate::address::Address;
use crate::config::ExpansionConfig;
use crate::dn;
use crate::error::{DirectoryError, Result};
use crate::model::{AccountStatus, Group, PostingPolicy, Resolved};

/// The recipients of a group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expansion {
    /// Addresses to deliver to, each once, in the order found: users'
    /// primary addresses and outside addresses.
    pub recipients: Vec<String>,
    /// DNs of groups where a loop was cut.
    pub loops: Vec<String>,
    /// Member DNs that name no entry (stale references).
    pub dangling: Vec<String>,
}

struct Walk<'a> {
    dir: &'a dyn Directory,
    limits: ExpansionConfig,
    path: Vec<String>,
    done: HashSet<String>,
    seen: HashSet<String>,
    out: Expansion,
}

/// Expands `group` into its recipients.
pub async fn expand_group(
    dir: &dyn Directory,
    group: &Group,
    limits: &ExpansionConfig,
) -> Result<Expansion> {
    let mut w = Walk {
        dir,
        limits: *limits,
        path: Vec::new(),
        done: HashSet::new(),
        seen: HashSet::new(),
        out: Expansion::default(),
    };
    w.group(group.clone()).await?;
    Ok(w.out)
}

impl<'a> Walk<'a> {
    fn add(&mut self, address: String) -> Result<()> {
        let address = address.to_lowercase();
        if self.seen.insert(address.clone()) {
            if self.out.recipients.len() >= self.limits.max_members {
                return Err(DirectoryError::InvalidInput {
                    what: "group",
                    reason: format!("more than {} recipients", self.limits.max_members),
                });
            }
            self.out.recipients.push(address);
        }
        Ok(())
    }

    async fn member_inner(&mut self, r: Resolved) -> Result<()> {
        match r {
            Resolved::User(u) => {
                if u.status != AccountStatus::Deleted {
                    self.add(u.address.to_string())?;
                }
                Ok(())
            }
            Resolved::Group(g) => self.group_boxed(*g).await,
            Resolved::None => Ok(()),
        }
    }

    fn group_boxed(&mut self, g: Group) -> Pin<Box<dyn Future<Output = Result<()>> + Send + '_>> {
        Box::pin(self.group(g))
    }

    async fn group(&mut self, g: Group) -> Result<()> {
        let key = dn::normalize(&g.dn);
        if self.path.contains(&key) {
            tracing::warn!(group = %g.dn, "group loop cut");
            if !self.out.loops.contains(&g.dn) {
                self.out.loops.push(g.dn.clone());
            }
            return Ok(());
        }
        if !self.done.insert(key.clone()) {
            return Ok(());
        }
        if self.path.len() >= self.limits.max_depth {
            return Err(DirectoryError::ExpansionTooDeep {
                group: g.dn.clone(),
                limit: self.limits.max_depth,
            });
        }
        self.path.push(key);
        for member_dn in &g.members {
            match self.dir.entry(member_dn).await? {
                Resolved::None => self.out.dangling.push(member_dn.clone()),
                r => self.member_dyn(r).await?,
            }
        }
        for a in &g.member_addresses {
            let Ok(addr) = Address::parse(a) else {
                tracing::warn!(group = %g.dn, member = %a, "malformed member address skipped");
                continue;
            };
            match self.dir.resolve(&addr).await? {
                Resolved::None => self.add(addr.to_string())?,
                r => self.member_dyn(r).await?,
            }
        }
        for url in &g.member_urls {
            for r in self.dir.search_url(url).await? {
                self.member_dyn(r).await?;
            }
        }
        self.path.pop();
        Ok(())
    }

    fn member_dyn(&mut self, r: Resolved) -> Pin<Box<dyn Future<Output = Result<()>> + Send + '_>> {
        Box::pin(self.member_inner(r))
    }
}

/// Whether `sender` may post to `group`. `expansion` is the group's
/// expansion, needed for [`PostingPolicy::Members`].
pub fn may_post(group: &Group, sender: &Address, expansion: Option<&Expansion>) -> bool {
    let s = sender.to_string();
    let listed = group.allowed_senders.iter().any(|a| {
        a.eq_ignore_ascii_case(&s) || a.eq_ignore_ascii_case(&format!("@{}", sender.domain()))
    });
    match group.posting {
        PostingPolicy::Anyone => true,
        PostingPolicy::Restricted => listed,
        PostingPolicy::Members => {
            listed || expansion.is_some_and(|e| e.recipients.iter().any(|r| r == &s))
        }
    }
}
