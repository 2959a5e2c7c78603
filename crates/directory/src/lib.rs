//! The Tiermail directory: who a user is, where their mail lives and
//! whether their password is right.
//!
//! Every service asks through one trait, [`Directory`], with two backends:
//! [`ldap::LdapDirectory`] (OpenLDAP or any LDAPv3 server, through `ldap3`
//! over rustls) and [`file::FileDirectory`] (a TOML file, the embedded
//! default for one machine). [`cached::Cached`] wraps either with a lookup
//! cache. [`open`] builds the right one from a [`DirectoryConfig`].
//!
//! ```no_run
//! # async fn demo(cfg: mail_directory::DirectoryConfig) -> Result<(), mail_directory::DirectoryError> {
//! use mail_directory::{Address, Resolved};
//! let dir = mail_directory::open(&cfg).await?;
//! match dir.resolve(&Address::parse("alice@example.test")?).await? {
//!     Resolved::User(u) => println!("deliver to {:?}", u.mail_host),
//!     Resolved::Group(g) => println!("expand {}", g.name),
//!     Resolved::None => println!("550 5.1.1"),
//! }
//! # Ok(()) }
//! ```
//!
//! Errors say whether they are temporary ([`DirectoryError::is_temporary`]):
//! an unreachable or slow server must never turn into a permanent bounce.
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod address;
pub mod bench;
pub mod cached;
pub mod config;
pub mod dn;
pub mod error;
pub mod expand;
pub mod file;
pub mod filter;
pub mod ldap;
pub mod ldap_url;
pub mod model;
pub mod password;
mod resolve;

use std::sync::Arc;

pub use address::Address;
pub use cached::{CacheStats, Cached};
pub use config::{
    CacheConfig, DirectoryConfig, ExpansionConfig, FileConfig, LdapConfig, SchemaMap,
};
pub use error::{DirectoryError, Result};
pub use expand::{Expansion, expand_group, may_post};
pub use model::{
    AccountStatus, AuthResult, Delivery, Domain, Group, GroupChange, GroupSpec, MemberRef,
    PostingPolicy, Quota, Resolved, User, UserChange, UserSpec, Vacation,
};

/// The questions every service asks, and the changes `mailctl` makes.
///
/// Implementations are cheap to share (`Arc<dyn Directory>`) and safe to
/// call concurrently. Lookups return `Ok(None)`/[`Resolved::None`] for
/// "no such entry" and `Err` only when the answer is unknown.
#[async_trait::async_trait]
pub trait Directory: Send + Sync {
    /// `"ldap"` or `"file"`, for logs.
    fn backend(&self) -> &'static str;

    /// The hosted domain called `name`, directly or through an alias
    /// (the canonical [`Domain`] is returned either way).
    async fn domain(&self, name: &str) -> Result<Option<Domain>>;

    /// What `address` reaches: its primary or alternate address, through a
    /// domain alias, or the domain's catch-all (an entry with the alternate
    /// address `@domain`).
    async fn resolve(&self, address: &Address) -> Result<Resolved>;

    /// The user whose login is `uid`.
    async fn user(&self, uid: &str) -> Result<Option<User>>;

    /// The group called `name`.
    async fn group(&self, name: &str) -> Result<Option<Group>>;

    /// The user or group at `dn` (for static members).
    async fn entry(&self, dn: &str) -> Result<Resolved>;

    /// The users and groups an LDAP URL selects (for dynamic members).
    async fn search_url(&self, url: &str) -> Result<Vec<Resolved>>;

    /// Checks a password. `login` is a uid or an address.
    async fn authenticate(&self, login: &str, password: &str) -> Result<AuthResult>;

    /// Every hosted domain.
    async fn list_domains(&self) -> Result<Vec<Domain>>;

    /// Adds a hosted domain.
    async fn add_domain(&self, domain: &Domain) -> Result<()>;

    /// Every user, sorted by uid.
    async fn list_users(&self) -> Result<Vec<User>>;

    /// Creates a user; refuses a taken uid or address.
    async fn add_user(&self, spec: &UserSpec) -> Result<User>;

    /// Changes a user.
    async fn modify_user(&self, uid: &str, change: &UserChange) -> Result<User>;

    /// Removes a user's entry (to keep it and bounce mail, set the status
    /// to deleted instead).
    async fn delete_user(&self, uid: &str) -> Result<()>;

    /// Every group, sorted by name.
    async fn list_groups(&self) -> Result<Vec<Group>>;

    /// Creates a group.
    async fn add_group(&self, spec: &GroupSpec) -> Result<Group>;

    /// Changes a group's members or posting rules.
    async fn modify_group(&self, name: &str, change: &GroupChange) -> Result<Group>;

    /// Removes a group.
    async fn delete_group(&self, name: &str) -> Result<()>;
}

/// The user a login names, found without a password (for a login a
/// trusted proxy vouched for): a uid, or a user's primary address exactly
/// (no aliases, subaddresses or catch-alls, which a password login does
/// not accept either).
pub async fn user_by_login(dir: &dyn Directory, login: &str) -> Result<Option<User>> {
    if !login.contains('@') {
        return dir.user(login).await;
    }
    let Ok(address) = Address::parse(login) else {
        return Ok(None);
    };
    Ok(match dir.resolve(&address).await? {
        Resolved::User(u) if u.address == address => Some(*u),
        _ => None,
    })
}

/// Opens the backend `config` names, wrapped in the lookup cache unless its
/// capacity is 0. Connects lazily: an unreachable LDAP server is reported by
/// the first lookup (as a temporary error), not here, so a service starts
/// and answers `4xx` instead of refusing to start.
pub async fn open(config: &DirectoryConfig) -> Result<Arc<dyn Directory>> {
    let inner: Arc<dyn Directory> = match config {
        DirectoryConfig::File(f) => Arc::new(file::FileDirectory::open(&f.path)?),
        DirectoryConfig::Ldap(l) => Arc::new(ldap::LdapDirectory::new(l)?),
    };
    let cache = config.cache();
    if cache.capacity == 0 {
        Ok(inner)
    } else {
        Ok(Arc::new(Cached::new(inner, cache)))
    }
}

/// Opens the backend without the cache (for `mailctl`, which changes
/// entries and must read its own writes).
pub async fn open_uncached(config: &DirectoryConfig) -> Result<Arc<dyn Directory>> {
    Ok(match config {
        DirectoryConfig::File(f) => Arc::new(file::FileDirectory::open(&f.path)?),
        DirectoryConfig::Ldap(l) => Arc::new(ldap::LdapDirectory::new(l)?),
    })
}
