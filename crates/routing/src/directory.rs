//! The directory questions routing asks, as a small trait.
//!
//! Routing needs only two answers: is this domain hosted (and under which
//! canonical name), and what does this address reach. Keeping them behind
//! [`RoutingDirectory`] lets tests and tools route without a directory
//! ([`NoDirectory`]) and keeps the engine independent of the directory's
//! admin calls. It is implemented for `dyn mail_directory::Directory`, so a
//! relay passes `&*Arc<dyn Directory>` straight in.

use mail_directory::{AccountStatus, Address, Directory, DirectoryError, Resolved};

/// A user as routing sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// Login name.
    pub uid: String,
    /// Primary address.
    pub address: String,
    /// The store holding the mailbox (`mailHost`).
    pub mail_host: Option<String>,
    /// Account status: the relay defers mail to inactive users.
    pub status: AccountStatus,
    /// Forwarding addresses; the inbound relay applies them.
    pub forward_to: Vec<String>,
    /// With forwarding: also deliver to the mailbox.
    pub keep_local_copy: bool,
    /// `mailRoutingAddress`: where every message to the user goes instead.
    pub routing_address: Option<String>,
    /// Whether a vacation autoreply is configured (the relay checks its dates).
    pub has_vacation: bool,
}

/// A group as routing sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    /// The group's name (its `cn`), for [`crate::expand::expand`].
    pub name: String,
    /// The list address.
    pub address: Option<String>,
}

/// What an address reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A mailbox owner.
    User(UserInfo),
    /// A group or list.
    Group(GroupInfo),
    /// Nobody (also: not a hosted domain).
    None,
}

/// The questions routing asks a directory.
#[async_trait::async_trait]
pub trait RoutingDirectory: Send + Sync {
    /// The canonical name of `domain` if it is hosted (directly or as a
    /// domain alias), `None` if it is not.
    async fn hosted_domain(&self, domain: &str) -> Result<Option<String>, DirectoryError>;

    /// What `address` (`local@domain`, domain lower-cased) reaches.
    /// An address the directory cannot represent (a quoted local part)
    /// reaches nobody.
    async fn lookup(&self, address: &str) -> Result<Entry, DirectoryError>;
}

#[async_trait::async_trait]
impl RoutingDirectory for dyn Directory {
    async fn hosted_domain(&self, domain: &str) -> Result<Option<String>, DirectoryError> {
        Ok(self
            .domain(domain)
            .await?
            .map(|d| d.name.to_ascii_lowercase()))
    }

    async fn lookup(&self, address: &str) -> Result<Entry, DirectoryError> {
        let Ok(addr) = Address::parse(address) else {
            return Ok(Entry::None);
        };
        Ok(match self.resolve(&addr).await? {
            Resolved::User(u) => Entry::User(UserInfo {
                uid: u.uid.clone(),
                address: u.address.to_string(),
                mail_host: u.mail_host.clone(),
                status: u.status,
                forward_to: u.delivery.forward_to.clone(),
                keep_local_copy: u.delivery.keep_local_copy,
                routing_address: u.delivery.routing_address.clone(),
                has_vacation: u.delivery.vacation.is_some(),
            }),
            Resolved::Group(g) => Entry::Group(GroupInfo {
                name: g.name.clone(),
                address: g.address.as_ref().map(ToString::to_string),
            }),
            Resolved::None => Entry::None,
        })
    }
}

/// A directory that hosts nothing: every `${domain}`, `${user}`... lookup
/// fails, so only rules without directory lookups apply. For tools and for
/// an MTA configured without a directory.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDirectory;

#[async_trait::async_trait]
impl RoutingDirectory for NoDirectory {
    async fn hosted_domain(&self, _domain: &str) -> Result<Option<String>, DirectoryError> {
        Ok(None)
    }

    async fn lookup(&self, _address: &str) -> Result<Entry, DirectoryError> {
        Ok(Entry::None)
    }
}
