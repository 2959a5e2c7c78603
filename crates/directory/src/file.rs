//! The file backend: users, groups and domains in one TOML file.
//!
//! It is the embedded default for a single machine and for `mailctl up`.
//! The file is read into memory with indexes; every call checks the file's
//! modification time and reloads it when another process (`mailctl`) has
//! changed it, so services see changes without a restart. Writes replace
//! the file atomically (temporary file, fsync, rename).
//!
//! Passwords are stored hashed in OpenLDAP's `{SCHEME}` forms (see
//! [`crate::password`]), and each entry has a DN built from `base_dn`, so
//! entries and group references move to LDAP unchanged.
//!
//! ```toml
//! base_dn = "dc=example,dc=test"
//!
//! [[domains]]
//! name = "example.test"
//! aliases = ["example.org"]
//!
//! [[users]]
//! uid = "alice"
//! mail = "alice@example.test"
//! display_name = "Alice Liddell"
//! password = "{ARGON2}$argon2id$v=19$m=19456,t=2,p=1$…"
//! mail_host = "store1.example.test"
//! quota_bytes = 1073741824
//!
//! [[groups]]
//! name = "staff"
//! mail = "staff@example.test"
//! members = ["uid=alice,ou=people,dc=example,dc=test"]
//! member_urls = ["ldap:///ou=people,dc=example,dc=test??sub?(departmentNumber=sales)"]
//! ```

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::address::Address;
use crate::dn;
use crate::error::{DirectoryError, Result};
use crate::filter::Filter;
use crate::ldap_url::{LdapUrl, Scope};
use crate::model::{
    AccountStatus, AuthResult, Delivery, Domain, Group, GroupChange, GroupSpec, PostingPolicy,
    Quota, Resolved, User, UserChange, UserSpec, Vacation,
};
use crate::password::{self, Scheme};
use crate::resolve::{self, AddressIndex};
use crate::{Directory, SchemaMap};

fn default_base() -> String {
    "dc=example,dc=test".into()
}

/// The data file's layout.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Data {
    /// DN suffix for the synthesised entry DNs.
    #[serde(default = "default_base")]
    pub base_dn: String,
    /// Hosted domains.
    #[serde(default)]
    pub domains: Vec<Domain>,
    /// Users.
    #[serde(default)]
    pub users: Vec<FileUser>,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<FileGroup>,
}

impl Data {
    /// One hosted domain (no aliases) with `users`; the base DN is the
    /// domain's `dc=` form (`example.test`: `dc=example,dc=test`). What
    /// tests and benchmarks write for a throw-away file directory.
    pub fn single_domain(domain: &str, users: Vec<FileUser>) -> Self {
        let base_dn: Vec<String> = domain.split('.').map(|l| format!("dc={l}")).collect();
        Self {
            base_dn: base_dn.join(","),
            domains: vec![Domain {
                name: domain.into(),
                aliases: Vec::new(),
            }],
            users,
            ..Self::default()
        }
    }
}

/// A user as stored in the file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileUser {
    /// Login name.
    pub uid: String,
    /// Primary address.
    pub mail: String,
    /// Alternate addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternates: Vec<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Hashed password with its `{SCHEME}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Store host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail_host: Option<String>,
    /// Store partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// Byte quota.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_bytes: Option<u64>,
    /// Message quota.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_messages: Option<u64>,
    /// Forwarding addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forward_to: Vec<String>,
    /// Keep a copy when forwarding.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_local_copy: bool,
    /// Routing address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_address: Option<String>,
    /// Account status.
    #[serde(default, skip_serializing_if = "is_active")]
    pub status: AccountStatus,
    /// Other attributes for dynamic-group filters (`departmentNumber`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, Vec<String>>,
    /// Autoreply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vacation: Option<Vacation>,
}

fn is_active(s: &AccountStatus) -> bool {
    *s == AccountStatus::Active
}

/// A group as stored in the file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileGroup {
    /// Name.
    pub name: String,
    /// List address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<String>,
    /// Alternate addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternates: Vec<String>,
    /// Members by DN.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    /// Members by address.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub member_addresses: Vec<String>,
    /// Dynamic members.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub member_urls: Vec<String>,
    /// Posting policy.
    #[serde(default)]
    pub posting: PostingPolicy,
    /// Allowed senders.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_senders: Vec<String>,
}

/// The loaded file with its indexes.
#[derive(Default)]
struct State {
    data: Data,
    stamp: Option<(SystemTime, u64)>,
    users: Vec<User>,
    groups: Vec<Group>,
    by_address: HashMap<String, Vec<Ref>>,
    by_uid: HashMap<String, usize>,
    by_group: HashMap<String, usize>,
    by_dn: HashMap<String, Ref>,
    by_domain: HashMap<String, usize>,
}

#[derive(Debug, Clone, Copy)]
enum Ref {
    User(usize),
    Group(usize),
}

/// The file backend.
pub struct FileDirectory {
    path: PathBuf,
    state: RwLock<State>,
}

fn file_err(path: &Path, reason: impl std::fmt::Display) -> DirectoryError {
    DirectoryError::File {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl FileDirectory {
    /// Opens `path`; a missing file is an empty directory (created on the
    /// first write).
    pub fn open(path: &Path) -> Result<Self> {
        let d = Self {
            path: path.to_path_buf(),
            state: RwLock::new(State::default()),
        };
        d.refresh()?;
        Ok(d)
    }

    /// The data file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `data` as a new file at `path` (for `mailctl up`).
    pub fn create(path: &Path, data: &Data) -> Result<Self> {
        write_file(path, data)?;
        Self::open(path)
    }

    fn lock_err() -> DirectoryError {
        DirectoryError::Config("directory state lock poisoned".into())
    }

    /// Reloads the file if it changed since it was read.
    fn refresh(&self) -> Result<()> {
        let now = stamp(&self.path);
        {
            let s = self.state.read().map_err(|_| Self::lock_err())?;
            if s.stamp == now && (now.is_some() || !s.data.base_dn.is_empty()) {
                return Ok(());
            }
        }
        let data = match std::fs::read_to_string(&self.path) {
            Ok(text) => toml::from_str::<Data>(&text)
                .map_err(|e| file_err(&self.path, e.to_string().trim_end()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Data {
                base_dn: default_base(),
                ..Data::default()
            },
            Err(e) => return Err(file_err(&self.path, e)),
        };
        let state = build(data, now)?;
        *self.state.write().map_err(|_| Self::lock_err())? = state;
        Ok(())
    }

    fn read<T>(&self, f: impl FnOnce(&State) -> T) -> Result<T> {
        self.refresh()?;
        let s = self.state.read().map_err(|_| Self::lock_err())?;
        Ok(f(&s))
    }

    /// Changes the data under the lock, writes the file, re-indexes.
    fn write<T>(&self, f: impl FnOnce(&mut Data) -> Result<T>) -> Result<T> {
        self.refresh()?;
        let mut s = self.state.write().map_err(|_| Self::lock_err())?;
        let mut data = s.data.clone();
        let out = f(&mut data)?;
        write_file(&self.path, &data)?;
        *s = build(data, stamp(&self.path))?;
        Ok(out)
    }
}

fn write_file(path: &Path, data: &Data) -> Result<()> {
    let text = toml::to_string_pretty(data).map_err(|e| file_err(path, e))?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| file_err(path, e))?;
    let mut tmp = tempfile_in(dir, path)?;
    tmp.1
        .write_all(text.as_bytes())
        .and_then(|()| tmp.1.sync_all())
        .map_err(|e| file_err(path, e))?;
    std::fs::rename(&tmp.0, path).map_err(|e| file_err(path, e))?;
    Ok(())
}

fn tempfile_in(dir: &Path, path: &Path) -> Result<(PathBuf, std::fs::File)> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let f = std::fs::File::create(&tmp).map_err(|e| file_err(path, e))?;
    Ok((tmp, f))
}

fn user_dn(base: &str, uid: &str) -> String {
    format!("uid={},ou=people,{base}", dn::escape(uid))
}

fn group_dn(base: &str, name: &str) -> String {
    format!("cn={},ou=groups,{base}", dn::escape(name))
}

fn to_user(base: &str, f: &FileUser) -> Result<User> {
    Ok(User {
        dn: user_dn(base, &f.uid),
        uid: f.uid.clone(),
        address: Address::parse(&f.mail)?,
        alternates: f.alternates.iter().map(|a| a.to_lowercase()).collect(),
        display_name: f.display_name.clone().unwrap_or_else(|| f.uid.clone()),
        mail_host: f.mail_host.clone(),
        partition: f.partition.clone(),
        quota: Quota {
            bytes: f.quota_bytes.filter(|b| *b > 0),
            messages: f.quota_messages.filter(|m| *m > 0),
        },
        delivery: Delivery {
            forward_to: f.forward_to.clone(),
            keep_local_copy: f.keep_local_copy,
            routing_address: f.routing_address.clone(),
            vacation: f.vacation.clone(),
        },
        status: f.status,
        attributes: f
            .attributes
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect(),
    })
}

fn from_user(u: &User, password: Option<String>) -> FileUser {
    FileUser {
        uid: u.uid.clone(),
        mail: u.address.to_string(),
        alternates: u.alternates.clone(),
        display_name: Some(u.display_name.clone()),
        password,
        mail_host: u.mail_host.clone(),
        partition: u.partition.clone(),
        quota_bytes: u.quota.bytes,
        quota_messages: u.quota.messages,
        forward_to: u.delivery.forward_to.clone(),
        keep_local_copy: u.delivery.keep_local_copy,
        routing_address: u.delivery.routing_address.clone(),
        status: u.status,
        attributes: u.attributes.clone(),
        vacation: u.delivery.vacation.clone(),
    }
}

fn to_group(base: &str, f: &FileGroup) -> Result<Group> {
    Ok(Group {
        dn: group_dn(base, &f.name),
        name: f.name.clone(),
        address: f.mail.as_deref().map(Address::parse).transpose()?,
        alternates: f.alternates.iter().map(|a| a.to_lowercase()).collect(),
        members: f.members.clone(),
        member_addresses: f
            .member_addresses
            .iter()
            .map(|a| a.to_lowercase())
            .collect(),
        member_urls: f.member_urls.clone(),
        posting: f.posting,
        allowed_senders: f.allowed_senders.iter().map(|a| a.to_lowercase()).collect(),
    })
}

fn from_group(g: &Group) -> FileGroup {
    FileGroup {
        name: g.name.clone(),
        mail: g.address.as_ref().map(|a| a.to_string()),
        alternates: g.alternates.clone(),
        members: g.members.clone(),
        member_addresses: g.member_addresses.clone(),
        member_urls: g.member_urls.clone(),
        posting: g.posting,
        allowed_senders: g.allowed_senders.clone(),
    }
}

fn build(data: Data, stamp: Option<(SystemTime, u64)>) -> Result<State> {
    let mut s = State {
        stamp,
        ..State::default()
    };
    for (i, f) in data.users.iter().enumerate() {
        let u = to_user(&data.base_dn, f)?;
        s.by_uid.insert(u.uid.to_lowercase(), i);
        s.by_dn.insert(dn::normalize(&u.dn), Ref::User(i));
        for a in std::iter::once(u.address.to_string()).chain(u.alternates.iter().cloned()) {
            s.by_address.entry(a).or_default().push(Ref::User(i));
        }
        s.users.push(u);
    }
    for (i, f) in data.groups.iter().enumerate() {
        let g = to_group(&data.base_dn, f)?;
        s.by_group.insert(g.name.to_lowercase(), i);
        s.by_dn.insert(dn::normalize(&g.dn), Ref::Group(i));
        for a in g
            .address
            .iter()
            .map(|a| a.to_string())
            .chain(g.alternates.iter().cloned())
        {
            s.by_address.entry(a).or_default().push(Ref::Group(i));
        }
        s.groups.push(g);
    }
    for (i, d) in data.domains.iter().enumerate() {
        s.by_domain.insert(d.name.to_ascii_lowercase(), i);
        for a in &d.aliases {
            s.by_domain.insert(a.to_ascii_lowercase(), i);
        }
    }
    s.data = data;
    Ok(s)
}

impl State {
    fn get(&self, r: Ref) -> Resolved {
        match r {
            Ref::User(i) => self
                .users
                .get(i)
                .map_or(Resolved::None, |u| Resolved::User(Box::new(u.clone()))),
            Ref::Group(i) => self
                .groups
                .get(i)
                .map_or(Resolved::None, |g| Resolved::Group(Box::new(g.clone()))),
        }
    }

    fn user_by_login(&self, login: &str) -> Option<usize> {
        let login = login.trim().to_lowercase();
        if let Some(i) = self.by_uid.get(&login) {
            return Some(*i);
        }
        // A login with @ may be the primary address (not alternates: a
        // catch-all must not become a login).
        self.users
            .iter()
            .position(|u| u.address.to_string() == login)
    }
}

/// The attributes a filter sees for a user, named as in the default schema.
fn user_entry(u: &User, m: &SchemaMap) -> BTreeMap<String, Vec<String>> {
    let mut e: BTreeMap<String, Vec<String>> = u.attributes.clone();
    let mut put = |k: &str, v: Vec<String>| {
        if !v.is_empty() {
            e.entry(k.to_ascii_lowercase()).or_default().extend(v);
        }
    };
    put("objectclass", m.user_classes.clone());
    put(
        "objectclass",
        vec!["person".into(), "organizationalPerson".into()],
    );
    put(&m.uid, vec![u.uid.clone()]);
    put(&m.mail, vec![u.address.to_string()]);
    put(&m.alternate_address, u.alternates.clone());
    put(&m.display_name, vec![u.display_name.clone()]);
    put(&m.mail_host, u.mail_host.iter().cloned().collect());
    put(&m.partition, u.partition.iter().cloned().collect());
    put(&m.status, vec![u.status.as_str().into()]);
    e
}

fn group_entry(g: &Group, m: &SchemaMap) -> BTreeMap<String, Vec<String>> {
    let mut e: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut put = |k: &str, v: Vec<String>| {
        if !v.is_empty() {
            e.entry(k.to_ascii_lowercase()).or_default().extend(v);
        }
    };
    put("objectclass", m.group_classes.clone());
    put(&m.group_name, vec![g.name.clone()]);
    put(&m.mail, g.address.iter().map(|a| a.to_string()).collect());
    put(&m.alternate_address, g.alternates.clone());
    put(&m.member, g.members.clone());
    e
}

fn in_scope(dn_: &str, url: &LdapUrl) -> bool {
    match url.scope {
        Scope::Base => dn::normalize(dn_) == dn::normalize(&url.base),
        Scope::One => dn::is_child(dn_, &url.base),
        Scope::Sub => dn::is_under(dn_, &url.base),
    }
}

fn validate_uid(uid: &str) -> Result<()> {
    if uid.is_empty()
        || uid.len() > 64
        || !uid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(DirectoryError::InvalidInput {
            what: "uid",
            reason: format!("{uid:?}: use 1 to 64 letters, digits, '.', '_' or '-'"),
        });
    }
    Ok(())
}

/// Checks a new uid or group name: the same rules on both backends.
pub(crate) fn validate_name(what: &'static str, name: &str) -> Result<()> {
    validate_uid(name).map_err(|e| match e {
        DirectoryError::InvalidInput { reason, .. } => {
            DirectoryError::InvalidInput { what, reason }
        }
        other => other,
    })
}

impl AddressIndex for FileDirectory {
    async fn find_addresses(&self, candidates: &[String]) -> Result<Vec<Resolved>> {
        self.read(|s| {
            let mut out = Vec::new();
            for c in candidates {
                for r in s.by_address.get(&c.to_lowercase()).into_iter().flatten() {
                    out.push(s.get(*r));
                }
            }
            out
        })
    }
}

#[async_trait::async_trait]
impl Directory for FileDirectory {
    fn backend(&self) -> &'static str {
        "file"
    }

    async fn domain(&self, name: &str) -> Result<Option<Domain>> {
        let name = name.trim().to_ascii_lowercase();
        self.read(|s| {
            s.by_domain
                .get(&name)
                .and_then(|i| s.data.domains.get(*i))
                .cloned()
        })
    }

    async fn resolve(&self, address: &Address) -> Result<Resolved> {
        resolve::resolve(self, address).await
    }

    async fn user(&self, uid: &str) -> Result<Option<User>> {
        let uid = uid.trim().to_lowercase();
        self.read(|s| s.by_uid.get(&uid).and_then(|i| s.users.get(*i)).cloned())
    }

    async fn group(&self, name: &str) -> Result<Option<Group>> {
        let name = name.trim().to_lowercase();
        self.read(|s| {
            s.by_group
                .get(&name)
                .and_then(|i| s.groups.get(*i))
                .cloned()
        })
    }

    async fn entry(&self, dn_: &str) -> Result<Resolved> {
        let key = dn::normalize(dn_);
        self.read(|s| s.by_dn.get(&key).map_or(Resolved::None, |r| s.get(*r)))
    }

    async fn search_url(&self, url: &str) -> Result<Vec<Resolved>> {
        let url = LdapUrl::parse(url)?;
        let filter = Filter::parse(&url.filter).map_err(|e| DirectoryError::InvalidInput {
            what: "LDAP URL filter",
            reason: e.to_string(),
        })?;
        let m = SchemaMap::default();
        self.read(|s| {
            let users = s
                .users
                .iter()
                .filter(|u| in_scope(&u.dn, &url) && filter.matches(&user_entry(u, &m)))
                .map(|u| Resolved::User(Box::new(u.clone())));
            let groups = s
                .groups
                .iter()
                .filter(|g| in_scope(&g.dn, &url) && filter.matches(&group_entry(g, &m)))
                .map(|g| Resolved::Group(Box::new(g.clone())));
            users.chain(groups).collect()
        })
    }

    async fn authenticate(&self, login: &str, password: &str) -> Result<AuthResult> {
        let found = self.read(|s| {
            s.user_by_login(login).and_then(|i| {
                Some((
                    s.users.get(i)?.clone(),
                    s.data.users.get(i)?.password.clone(),
                ))
            })
        })?;
        let Some((user, Some(stored))) = found else {
            return Ok(AuthResult::Failed);
        };
        let password = password.to_string();
        // Argon2 takes tens of milliseconds of CPU: keep it off the reactor.
        let ok = tokio::task::spawn_blocking(move || password::verify(&password, &stored))
            .await
            .map_err(|e| DirectoryError::Config(format!("password check failed: {e}")))?;
        Ok(match (ok, user.status) {
            (false, _) => AuthResult::Failed,
            (true, AccountStatus::Active) => AuthResult::Authenticated(Box::new(user)),
            (true, AccountStatus::Inactive) => AuthResult::Inactive(Box::new(user)),
            (true, AccountStatus::Deleted) => AuthResult::Deleted,
        })
    }

    async fn list_domains(&self) -> Result<Vec<Domain>> {
        let mut d = self.read(|s| s.data.domains.clone())?;
        d.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(d)
    }

    async fn add_domain(&self, domain: &Domain) -> Result<()> {
        let domain = normalize_domain(domain)?;
        self.write(|data| {
            for n in std::iter::once(&domain.name).chain(&domain.aliases) {
                if data
                    .domains
                    .iter()
                    .any(|d| &d.name == n || d.aliases.contains(n))
                {
                    return Err(DirectoryError::AlreadyExists(format!("domain {n}")));
                }
            }
            data.domains.push(domain.clone());
            Ok(())
        })
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        let mut u = self.read(|s| s.users.clone())?;
        u.sort_by(|a, b| a.uid.cmp(&b.uid));
        Ok(u)
    }

    async fn add_user(&self, spec: &UserSpec) -> Result<User> {
        validate_uid(&spec.uid)?;
        if self.user(&spec.uid).await?.is_some() {
            return Err(DirectoryError::AlreadyExists(format!("user {}", spec.uid)));
        }
        let mut addrs = vec![spec.address.clone()];
        addrs.extend(spec.alternates.iter().cloned());
        let addrs = resolve::ensure_addresses_free(self, &addrs, None).await?;
        let pw = spec
            .password
            .as_deref()
            .map(|p| password::hash_if_clear(p, Scheme::Argon2))
            .transpose()?;
        let base = self.read(|s| s.data.base_dn.clone())?;
        let user = User {
            dn: user_dn(&base, &spec.uid),
            uid: spec.uid.clone(),
            address: Address::parse(&addrs[0])?,
            alternates: addrs[1..].to_vec(),
            display_name: spec
                .display_name
                .clone()
                .unwrap_or_else(|| spec.uid.clone()),
            mail_host: spec.mail_host.clone(),
            partition: spec.partition.clone(),
            quota: spec.quota,
            delivery: spec.delivery.clone(),
            status: spec.status,
            attributes: spec
                .attributes
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect(),
        };
        let record = from_user(&user, pw);
        self.write(|data| {
            if data
                .users
                .iter()
                .any(|u| u.uid.eq_ignore_ascii_case(&record.uid))
            {
                return Err(DirectoryError::AlreadyExists(format!(
                    "user {}",
                    record.uid
                )));
            }
            data.users.push(record);
            Ok(())
        })?;
        Ok(user)
    }

    async fn modify_user(&self, uid: &str, change: &UserChange) -> Result<User> {
        let Some(mut user) = self.user(uid).await? else {
            return Err(DirectoryError::NotFound(format!("user {uid}")));
        };
        if let Some(a) = &change.address {
            let a = resolve::ensure_addresses_free(self, std::slice::from_ref(a), Some(&user.dn))
                .await?;
            user.address = Address::parse(&a[0])?;
        }
        if let Some(alts) = &change.alternates {
            resolve::ensure_addresses_free(self, alts, Some(&user.dn)).await?;
        }
        change.apply(&mut user);
        let pw = change
            .password
            .as_deref()
            .map(|p| password::hash_if_clear(p, Scheme::Argon2))
            .transpose()?;
        let key = user.uid.clone();
        let updated = user.clone();
        self.write(|data| {
            let rec = data
                .users
                .iter_mut()
                .find(|u| u.uid.eq_ignore_ascii_case(&key))
                .ok_or_else(|| DirectoryError::NotFound(format!("user {key}")))?;
            let old_pw = rec.password.take();
            *rec = from_user(&updated, pw.or(old_pw));
            Ok(())
        })?;
        Ok(user)
    }

    async fn delete_user(&self, uid: &str) -> Result<()> {
        self.write(|data| {
            let before = data.users.len();
            data.users.retain(|u| !u.uid.eq_ignore_ascii_case(uid));
            if data.users.len() == before {
                return Err(DirectoryError::NotFound(format!("user {uid}")));
            }
            Ok(())
        })
    }

    async fn list_groups(&self) -> Result<Vec<Group>> {
        let mut g = self.read(|s| s.groups.clone())?;
        g.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(g)
    }

    async fn add_group(&self, spec: &GroupSpec) -> Result<Group> {
        validate_name("group name", &spec.name)?;
        if self.group(&spec.name).await?.is_some() {
            return Err(DirectoryError::AlreadyExists(format!(
                "group {}",
                spec.name
            )));
        }
        let address = match &spec.address {
            Some(a) => Some(Address::parse(
                &resolve::ensure_addresses_free(self, std::slice::from_ref(a), None).await?[0],
            )?),
            None => None,
        };
        let base = self.read(|s| s.data.base_dn.clone())?;
        let mut group = Group {
            dn: group_dn(&base, &spec.name),
            name: spec.name.clone(),
            address,
            alternates: Vec::new(),
            members: Vec::new(),
            member_addresses: Vec::new(),
            member_urls: Vec::new(),
            posting: spec.posting,
            allowed_senders: Vec::new(),
        };
        let alternates = resolve::ensure_addresses_free(self, &spec.alternates, None).await?;
        group.apply(&GroupChange {
            add: spec.members.clone(),
            allowed_senders: Some(spec.allowed_senders.clone()),
            alternates: Some(alternates),
            ..GroupChange::default()
        });
        check_members(&group)?;
        let record = from_group(&group);
        self.write(|data| {
            data.groups.push(record);
            Ok(())
        })?;
        Ok(group)
    }

    async fn modify_group(&self, name: &str, change: &GroupChange) -> Result<Group> {
        let Some(mut group) = self.group(name).await? else {
            return Err(DirectoryError::NotFound(format!("group {name}")));
        };
        if let Some(alts) = &change.alternates {
            resolve::ensure_addresses_free(self, alts, Some(&group.dn)).await?;
        }
        group.apply(change);
        check_members(&group)?;
        let record = from_group(&group);
        self.write(|data| {
            let rec = data
                .groups
                .iter_mut()
                .find(|g| g.name.eq_ignore_ascii_case(name))
                .ok_or_else(|| DirectoryError::NotFound(format!("group {name}")))?;
            *rec = record;
            Ok(())
        })?;
        Ok(group)
    }

    async fn delete_group(&self, name: &str) -> Result<()> {
        self.write(|data| {
            let before = data.groups.len();
            data.groups.retain(|g| !g.name.eq_ignore_ascii_case(name));
            if data.groups.len() == before {
                return Err(DirectoryError::NotFound(format!("group {name}")));
            }
            Ok(())
        })
    }
}

/// Checks a domain and its aliases and lower-cases them.
pub(crate) fn normalize_domain(d: &Domain) -> Result<Domain> {
    let check = |n: &str| {
        crate::address::parse_domain(n.trim()).map_err(|reason| DirectoryError::InvalidInput {
            what: "domain",
            reason: format!("{n:?}: {reason}"),
        })
    };
    Ok(Domain {
        name: check(&d.name)?,
        aliases: d.aliases.iter().map(|a| check(a)).collect::<Result<_>>()?,
    })
}

/// Checks member values: addresses must parse, URLs must parse.
pub(crate) fn check_members(g: &Group) -> Result<()> {
    for a in &g.member_addresses {
        Address::parse(a)?;
    }
    for u in &g.member_urls {
        let url = LdapUrl::parse(u)?;
        Filter::parse(&url.filter).map_err(|e| DirectoryError::InvalidInput {
            what: "LDAP URL filter",
            reason: e.to_string(),
        })?;
    }
    for d in &g.members {
        if !d.contains('=') {
            return Err(DirectoryError::InvalidInput {
                what: "member",
                reason: format!("{d:?} is neither a DN, an address nor an LDAP URL"),
            });
        }
    }
    Ok(())
}
