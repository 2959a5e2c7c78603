//! `[directory]`: which backend, how to reach it, how to cache it.
//!
//! Services embed [`DirectoryConfig`] as their `[directory]` section and
//! `mailctl` reads it from the file given with `--directory`:
//!
//! ```toml
//! [directory]
//! backend = "file"
//! path = "/var/lib/tiermail/directory.toml"
//! ```
//!
//! ```toml
//! [directory]
//! backend = "ldap"
//! url = "ldap://ldap.example.test/"
//! starttls = true
//! base_dn = "dc=example,dc=test"
//! bind_dn = "cn=tiermail,ou=services,dc=example,dc=test"
//! bind_password_file = "/etc/tiermail/ldap.secret"
//! [directory.cache]
//! capacity = 50000
//! ttl = "5m"
//! negative_ttl = "30s"
//! ```

use std::path::PathBuf;
use std::time::Duration;

use mail_core::config::{Validate, Validator};
use serde::{Deserialize, Serialize};

/// The `[directory]` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "backend", rename_all = "lowercase")]
pub enum DirectoryConfig {
    /// A TOML file: the embedded default for one machine.
    File(FileConfig),
    /// An LDAP server.
    Ldap(Box<LdapConfig>),
}

impl DirectoryConfig {
    /// The cache settings of either backend.
    pub fn cache(&self) -> &CacheConfig {
        match self {
            Self::File(f) => &f.cache,
            Self::Ldap(l) => &l.cache,
        }
    }

    /// Group expansion limits of either backend.
    pub fn expansion(&self) -> &ExpansionConfig {
        match self {
            Self::File(f) => &f.expansion,
            Self::Ldap(l) => &l.expansion,
        }
    }
}

/// `backend = "file"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The data file (users, groups, domains). Created empty by `mailctl`
    /// when missing.
    pub path: PathBuf,
    /// Lookup cache.
    #[serde(default)]
    pub cache: CacheConfig,
    /// Group expansion limits.
    #[serde(default)]
    pub expansion: ExpansionConfig,
}

/// `backend = "ldap"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// `ldap://host:port/` or `ldaps://host:port/`.
    pub url: String,
    /// Upgrade `ldap://` with StartTLS (RFC 4513 3) before binding.
    #[serde(default)]
    pub starttls: bool,
    /// Extra CA certificate (PEM) to trust for LDAPS/StartTLS, besides the
    /// public roots.
    #[serde(default)]
    pub tls_ca: Option<PathBuf>,
    /// Root of the directory tree.
    pub base_dn: String,
    /// Where users live and are created; default `ou=people,BASE`.
    #[serde(default)]
    pub people_dn: Option<String>,
    /// Where groups live and are created; default `ou=groups,BASE`.
    #[serde(default)]
    pub groups_dn: Option<String>,
    /// Where domains live and are created; default `ou=domains,BASE`.
    #[serde(default)]
    pub domains_dn: Option<String>,
    /// Service account for lookups; anonymous when absent.
    #[serde(default)]
    pub bind_dn: Option<String>,
    /// Its password (prefer `bind_password_file`).
    #[serde(default)]
    pub bind_password: Option<String>,
    /// File holding its password (trailing newline ignored).
    #[serde(default)]
    pub bind_password_file: Option<PathBuf>,
    /// Connections kept open for lookups (another pool of the same size
    /// serves password checks, which bind as the user).
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// Limit on establishing a connection (TCP, TLS, bind).
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Limit on every operation (search, bind, modify).
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Hash scheme for passwords `mailctl` writes: `ssha` (every slapd
    /// checks it) or `argon2` (needs slapd's argon2 module).
    #[serde(default = "default_scheme")]
    pub password_scheme: String,
    /// Attribute and object-class names.
    #[serde(default)]
    pub schema: SchemaMap,
    /// Lookup cache.
    #[serde(default)]
    pub cache: CacheConfig,
    /// Group expansion limits.
    #[serde(default)]
    pub expansion: ExpansionConfig,
}

fn default_pool_size() -> usize {
    4
}
fn default_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_scheme() -> String {
    "ssha".into()
}

impl LdapConfig {
    /// The people subtree.
    pub fn people_dn(&self) -> String {
        self.people_dn
            .clone()
            .unwrap_or_else(|| format!("ou=people,{}", self.base_dn))
    }
    /// The groups subtree.
    pub fn groups_dn(&self) -> String {
        self.groups_dn
            .clone()
            .unwrap_or_else(|| format!("ou=groups,{}", self.base_dn))
    }
    /// The domains subtree.
    pub fn domains_dn(&self) -> String {
        self.domains_dn
            .clone()
            .unwrap_or_else(|| format!("ou=domains,{}", self.base_dn))
    }
}

/// The lookup cache.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// Entries kept; 0 turns the cache off.
    #[serde(default = "default_capacity")]
    pub capacity: usize,
    /// How long a found entry is trusted.
    #[serde(default = "default_ttl", with = "humantime_serde")]
    pub ttl: Duration,
    /// How long "no such entry" is trusted: shorter, so a new user
    /// receives mail soon after being created.
    #[serde(default = "default_negative_ttl", with = "humantime_serde")]
    pub negative_ttl: Duration,
}

fn default_capacity() -> usize {
    10_000
}
fn default_ttl() -> Duration {
    Duration::from_secs(60)
}
fn default_negative_ttl() -> Duration {
    Duration::from_secs(10)
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            capacity: default_capacity(),
            ttl: default_ttl(),
            negative_ttl: default_negative_ttl(),
        }
    }
}

/// Limits on group expansion.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExpansionConfig {
    /// Nesting levels followed before giving up.
    #[serde(default = "default_depth")]
    pub max_depth: usize,
    /// Recipients one expansion may produce.
    #[serde(default = "default_max_members")]
    pub max_members: usize,
}

fn default_depth() -> usize {
    8
}
fn default_max_members() -> usize {
    100_000
}

impl Default for ExpansionConfig {
    fn default() -> Self {
        Self {
            max_depth: default_depth(),
            max_members: default_max_members(),
        }
    }
}

/// Attribute and object-class names, so that a site with an existing
/// directory maps Tiermail onto its own schema. Defaults follow
/// `deploy/ldap/tiermail.schema`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchemaMap {
    /// Object classes a user entry gets when created.
    pub user_classes: Vec<String>,
    /// Object class that marks a user in searches.
    pub user_filter_class: String,
    /// Object classes a group entry gets when created.
    pub group_classes: Vec<String>,
    /// Object classes that mark a group in searches (any of them).
    pub group_filter_classes: Vec<String>,
    /// Object classes a domain entry gets when created.
    pub domain_classes: Vec<String>,
    /// Object class that marks a domain in searches.
    pub domain_filter_class: String,
    /// Login name.
    pub uid: String,
    /// Primary address.
    pub mail: String,
    /// Alternate addresses.
    pub alternate_address: String,
    /// Display name.
    pub display_name: String,
    /// Surname (required by inetOrgPerson).
    pub surname: String,
    /// Password.
    pub password: String,
    /// Store host.
    pub mail_host: String,
    /// Routing address.
    pub routing_address: String,
    /// Store partition.
    pub partition: String,
    /// Byte quota.
    pub quota_bytes: String,
    /// Message quota.
    pub quota_messages: String,
    /// Forwarding addresses.
    pub forward_to: String,
    /// Keep a copy when forwarding (`TRUE`/`FALSE`).
    pub keep_local_copy: String,
    /// Vacation text.
    pub vacation_text: String,
    /// Vacation start (GeneralizedTime).
    pub vacation_start: String,
    /// Vacation end (GeneralizedTime).
    pub vacation_end: String,
    /// Account status.
    pub status: String,
    /// Group name.
    pub group_name: String,
    /// Static members by DN.
    pub member: String,
    /// Static members by DN, `groupOfUniqueNames` style (read only).
    pub unique_member: String,
    /// Static members by address.
    pub member_address: String,
    /// Dynamic members.
    pub member_url: String,
    /// Posting policy.
    pub posting_policy: String,
    /// Allowed senders.
    pub allowed_sender: String,
    /// Domain name.
    pub domain_name: String,
    /// Domain aliases.
    pub domain_alias: String,
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

impl Default for SchemaMap {
    fn default() -> Self {
        Self {
            user_classes: strings(&[
                "top",
                "inetOrgPerson",
                "inetLocalMailRecipient",
                "tiermailUser",
            ]),
            user_filter_class: "inetOrgPerson".into(),
            group_classes: strings(&[
                "top",
                "groupOfURLs",
                "inetLocalMailRecipient",
                "tiermailGroup",
            ]),
            group_filter_classes: strings(&["groupOfNames", "groupOfUniqueNames", "groupOfURLs"]),
            domain_classes: strings(&["top", "tiermailDomain"]),
            domain_filter_class: "tiermailDomain".into(),
            uid: "uid".into(),
            mail: "mail".into(),
            alternate_address: "mailLocalAddress".into(),
            display_name: "cn".into(),
            surname: "sn".into(),
            password: "userPassword".into(),
            mail_host: "mailHost".into(),
            routing_address: "mailRoutingAddress".into(),
            partition: "tiermailPartition".into(),
            quota_bytes: "tiermailQuotaBytes".into(),
            quota_messages: "tiermailQuotaMessages".into(),
            forward_to: "tiermailForwardingAddress".into(),
            keep_local_copy: "tiermailKeepLocalCopy".into(),
            vacation_text: "tiermailVacationText".into(),
            vacation_start: "tiermailVacationStart".into(),
            vacation_end: "tiermailVacationEnd".into(),
            status: "tiermailAccountStatus".into(),
            group_name: "cn".into(),
            member: "member".into(),
            unique_member: "uniqueMember".into(),
            member_address: "tiermailMemberAddress".into(),
            member_url: "memberURL".into(),
            posting_policy: "tiermailPostingPolicy".into(),
            allowed_sender: "tiermailAllowedSender".into(),
            domain_name: "cn".into(),
            domain_alias: "tiermailDomainAlias".into(),
        }
    }
}

impl Validate for DirectoryConfig {
    fn validate(&self, v: &mut Validator) {
        match self {
            Self::File(f) => {
                if f.path.as_os_str().is_empty() {
                    v.error("path", "must name the directory data file");
                }
                v.nested("cache", &f.cache);
                v.nested("expansion", &f.expansion);
            }
            Self::Ldap(l) => l.validate(v),
        }
    }
}

impl Validate for LdapConfig {
    fn validate(&self, v: &mut Validator) {
        let lower = self.url.to_ascii_lowercase();
        if !(lower.starts_with("ldap://") || lower.starts_with("ldaps://")) {
            v.error("url", "must start with ldap:// or ldaps://");
        }
        if self.starttls && lower.starts_with("ldaps://") {
            v.error(
                "starttls",
                "StartTLS is for ldap:// URLs; ldaps:// is TLS already",
            );
        }
        if let Some(ca) = &self.tls_ca {
            v.file_exists("tls_ca", ca);
        }
        if self.base_dn.trim().is_empty() || !self.base_dn.contains('=') {
            v.error("base_dn", "must be a DN such as dc=example,dc=test");
        }
        match (&self.bind_dn, &self.bind_password, &self.bind_password_file) {
            (_, Some(_), Some(_)) => v.error(
                "bind_password",
                "give bind_password or bind_password_file, not both",
            ),
            (None, Some(_), _) | (None, _, Some(_)) => {
                v.error("bind_dn", "a bind password needs a bind_dn")
            }
            (Some(_), None, None) => v.error(
                "bind_password",
                "bind_dn needs bind_password or bind_password_file",
            ),
            _ => {}
        }
        if let Some(f) = &self.bind_password_file {
            v.file_exists("bind_password_file", f);
        }
        if self.pool_size == 0 || self.pool_size > 256 {
            v.error("pool_size", "must be between 1 and 256");
        }
        for (key, d) in [
            ("connect_timeout", self.connect_timeout),
            ("timeout", self.timeout),
        ] {
            if d.is_zero() || d > Duration::from_secs(300) {
                v.error(key, "must be longer than zero and at most 5 minutes");
            }
        }
        if !matches!(self.password_scheme.as_str(), "ssha" | "argon2") {
            v.error("password_scheme", "must be \"ssha\" or \"argon2\"");
        }
        v.nested("cache", &self.cache);
        v.nested("expansion", &self.expansion);
    }
}

impl Validate for CacheConfig {
    fn validate(&self, v: &mut Validator) {
        if self.capacity > 0 && self.ttl.is_zero() {
            v.error(
                "ttl",
                "must be longer than zero (or set capacity = 0 to disable the cache)",
            );
        }
        if self.negative_ttl > self.ttl {
            v.error("negative_ttl", "must not exceed ttl");
        }
    }
}

impl Validate for ExpansionConfig {
    fn validate(&self, v: &mut Validator) {
        if self.max_depth == 0 || self.max_depth > 64 {
            v.error("max_depth", "must be between 1 and 64");
        }
        if self.max_members == 0 {
            v.error("max_members", "must be at least 1");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Svc {
        directory: DirectoryConfig,
    }
    impl Validate for Svc {
        fn validate(&self, v: &mut Validator) {
            v.nested("directory", &self.directory);
        }
    }

    fn parse(text: &str) -> Result<Svc, mail_core::ConfigError> {
        mail_core::config::parse(Path::new("svc.toml"), text)
    }

    #[test]
    fn file_backend() {
        let c = parse("[directory]\nbackend = \"file\"\npath = \"/tmp/d.toml\"\n[directory.cache]\nttl = \"30s\"\n").expect("valid");
        let DirectoryConfig::File(f) = c.directory else {
            panic!("file backend")
        };
        assert_eq!(f.cache.ttl, Duration::from_secs(30));
        assert_eq!(f.cache.negative_ttl, Duration::from_secs(10));
    }

    #[test]
    fn ldap_backend_and_unknown_keys() {
        let c = parse(
            "[directory]\nbackend = \"ldap\"\nurl = \"ldap://127.0.0.1:389/\"\nbase_dn = \"dc=x\"\n[directory.schema]\nmail_host = \"mailServer\"\n",
        )
        .expect("valid");
        let DirectoryConfig::Ldap(l) = c.directory else {
            panic!("ldap backend")
        };
        let l = *l;
        assert_eq!(l.schema.mail_host, "mailServer");
        assert_eq!(l.people_dn(), "ou=people,dc=x");
        let err = parse("[directory]\nbackend = \"file\"\npath = \"x\"\nbogus = 1\n")
            .expect_err("unknown key");
        assert!(err.to_string().contains("bogus"), "{err}");
        let err = parse("[directory]\nbackend = \"nis\"\n").expect_err("unknown backend");
        assert!(err.to_string().contains("nis"), "{err}");
    }

    #[test]
    fn collects_every_problem() {
        let err = parse(
            "[directory]\nbackend = \"ldap\"\nurl = \"http://x\"\nbase_dn = \"\"\nbind_dn = \"cn=a\"\npool_size = 0\ntimeout = \"0s\"\n[directory.cache]\nttl = \"1s\"\nnegative_ttl = \"5s\"\n",
        )
        .expect_err("invalid");
        let mail_core::ConfigError::Invalid { problems, .. } = err else {
            panic!("invalid")
        };
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "directory.url",
                "directory.base_dn",
                "directory.bind_password",
                "directory.pool_size",
                "directory.timeout",
                "directory.cache.negative_ttl"
            ]
        );
    }
}
