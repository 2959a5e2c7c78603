//! The LDAP backend: any LDAPv3 server (OpenLDAP in tests and deployments)
//! through `ldap3`, over plain LDAP, LDAPS or StartTLS with rustls.
//!
//! Two small connection pools: lookups run on connections bound as the
//! service account; password checks bind as the user's DN on connections
//! of their own, so a user's identity never leaks into lookups. Every
//! operation, including connecting and binding, has a timeout; a broken
//! connection is dropped rather than returned to its pool. Unreachable,
//! slow or busy servers are reported as temporary errors.
//!
//! Values from the outside are escaped per RFC 4515 before they go into a
//! filter ([`crate::filter::escape`]) and per RFC 4514 into a DN.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ldap3::asn1::StructureTag;
use ldap3::{
    Ldap, LdapConnAsync, LdapConnSettings, LdapError, Mod, ResultEntry, Scope as LdapScope,
};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::Directory;
use crate::address::Address;
use crate::config::{LdapConfig, SchemaMap};
use crate::dn;
use crate::error::{DirectoryError, Result};
use crate::file::{check_members, normalize_domain, validate_name};
use crate::filter::escape;
use crate::ldap_url::{LdapUrl, Scope};
use crate::model::{
    AccountStatus, AuthResult, Delivery, Domain, Group, GroupChange, GroupSpec, PostingPolicy,
    Quota, Resolved, User, UserChange, UserSpec, Vacation,
};
use crate::password::{self, Scheme};
use crate::resolve::{self, AddressIndex};

/// An entry as returned by a search: DN and attributes by lower-cased name.
type Entry = (String, HashMap<String, Vec<String>>);

/// A pool of connections to one server, optionally bound as one identity.
struct Pool {
    url: String,
    settings: LdapConnSettings,
    bind: Option<(String, String)>,
    idle: Mutex<Vec<Ldap>>,
    permits: Semaphore,
    connect_timeout: Duration,
    timeout: Duration,
}

/// A connection on loan from a [`Pool`]; goes back on drop unless broken.
struct Conn<'a> {
    pool: &'a Pool,
    ldap: Ldap,
    healthy: bool,
    _permit: SemaphorePermit<'a>,
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        if self.healthy
            && let Ok(mut idle) = self.pool.idle.lock()
        {
            idle.push(self.ldap.clone());
        }
    }
}

impl Pool {
    fn unavailable(&self, reason: impl std::fmt::Display) -> DirectoryError {
        DirectoryError::Unavailable {
            server: self.url.clone(),
            reason: reason.to_string(),
        }
    }

    async fn get(&self) -> Result<Conn<'_>> {
        let permit = tokio::time::timeout(self.timeout, self.permits.acquire())
            .await
            .map_err(|_| DirectoryError::Timeout {
                operation: "waiting for a pooled connection",
                after: self.timeout,
            })?
            .map_err(|e| self.unavailable(e))?;
        loop {
            let next = self.idle.lock().ok().and_then(|mut i| i.pop());
            let Some(mut ldap) = next else { break };
            if !ldap.is_closed() {
                return Ok(Conn {
                    pool: self,
                    ldap,
                    healthy: true,
                    _permit: permit,
                });
            }
        }
        let ldap = tokio::time::timeout(self.connect_timeout, self.connect())
            .await
            .map_err(|_| DirectoryError::Timeout {
                operation: "connect",
                after: self.connect_timeout,
            })??;
        Ok(Conn {
            pool: self,
            ldap,
            healthy: true,
            _permit: permit,
        })
    }

    async fn connect(&self) -> Result<Ldap> {
        let (conn, mut ldap) = LdapConnAsync::with_settings(self.settings.clone(), &self.url)
            .await
            .map_err(|e| self.unavailable(e))?;
        ldap3::drive!(conn);
        if let Some((bind_dn, pw)) = &self.bind {
            let r = ldap
                .with_timeout(self.timeout)
                .simple_bind(bind_dn, pw)
                .await
                .map_err(|e| map_err(&self.url, "bind", self.timeout, e))?;
            if r.rc != 0 {
                // A refused service account is an operator's problem:
                // temporary for callers, loud in the log.
                tracing::error!(server = %self.url, bind_dn = %bind_dn, rc = r.rc, "directory service-account bind refused");
                return Err(DirectoryError::Config(format!(
                    "service account {bind_dn} cannot bind to {}: LDAP result {} {}",
                    self.url, r.rc, r.text
                )));
            }
        }
        Ok(ldap)
    }
}

impl Conn<'_> {
    /// Maps a finished (or timed-out) operation, marking the connection
    /// broken unless the server itself answered.
    fn settle<T>(
        &mut self,
        operation: &'static str,
        r: std::result::Result<std::result::Result<T, LdapError>, tokio::time::error::Elapsed>,
    ) -> Result<T> {
        match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                if !matches!(e, LdapError::LdapResult { .. } | LdapError::FilterParsing) {
                    self.healthy = false;
                }
                Err(map_err(&self.pool.url, operation, self.pool.timeout, e))
            }
            Err(_) => {
                self.healthy = false;
                Err(DirectoryError::Timeout {
                    operation,
                    after: self.pool.timeout,
                })
            }
        }
    }
}

fn map_err(url: &str, operation: &'static str, timeout: Duration, e: LdapError) -> DirectoryError {
    match e {
        LdapError::Timeout { .. } => DirectoryError::Timeout {
            operation,
            after: timeout,
        },
        LdapError::LdapResult { result } => DirectoryError::Server {
            operation,
            code: result.rc,
            message: result.text,
        },
        LdapError::FilterParsing => DirectoryError::InvalidInput {
            what: "LDAP filter",
            reason: "does not parse".into(),
        },
        other => DirectoryError::Unavailable {
            server: url.to_string(),
            reason: other.to_string(),
        },
    }
}

/// Parses a search result entry without panicking on malformed BER (the
/// server's bytes are network input).
fn parse_entry(re: ResultEntry) -> Option<Entry> {
    let mut tags = re.0.match_id(4)?.expect_constructed()?.into_iter();
    let dn = String::from_utf8(tags.next()?.expect_primitive()?).ok()?;
    let mut attrs: HashMap<String, Vec<String>> = HashMap::new();
    for part in tags.next()?.expect_constructed()? {
        let mut part = part.expect_constructed()?.into_iter();
        let name = String::from_utf8(part.next()?.expect_primitive()?).ok()?;
        let values: Vec<String> = part
            .next()?
            .expect_constructed()?
            .into_iter()
            .filter_map(|t: StructureTag| t.expect_primitive())
            .filter_map(|v| String::from_utf8(v).ok())
            .collect();
        attrs
            .entry(name.to_ascii_lowercase())
            .or_default()
            .extend(values);
    }
    Some((dn, attrs))
}

/// The LDAP backend.
pub struct LdapDirectory {
    config: LdapConfig,
    schema: SchemaMap,
    lookups: Pool,
    auth: Pool,
    scheme: Scheme,
    /// Lower-cased names of the attributes mapped to [`User`] fields.
    managed: HashSet<String>,
}

impl LdapDirectory {
    /// Prepares the pools; connects on first use.
    pub fn new(config: &LdapConfig) -> Result<Self> {
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(config.connect_timeout)
            .set_starttls(config.starttls);
        let lower = config.url.to_ascii_lowercase();
        if config.starttls || lower.starts_with("ldaps://") {
            let tls = mail_core::tls::client_config(config.tls_ca.as_deref())
                .map_err(|e| DirectoryError::Config(format!("TLS for {}: {e}", config.url)))?;
            settings = settings.set_config(tls);
        }
        let password = match (&config.bind_password, &config.bind_password_file) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(f)) => Some(
                std::fs::read_to_string(f)
                    .map_err(|e| DirectoryError::Config(format!("{}: {e}", f.display())))?
                    .trim_end_matches(['\r', '\n'])
                    .to_string(),
            ),
            (None, None) => None,
        };
        let bind = config
            .bind_dn
            .clone()
            .map(|d| (d, password.unwrap_or_default()));
        let pool = |bind: Option<(String, String)>| Pool {
            url: config.url.clone(),
            settings: settings.clone(),
            bind,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(config.pool_size.max(1)),
            connect_timeout: config.connect_timeout,
            timeout: config.timeout,
        };
        let m = &config.schema;
        let managed = [
            "objectclass",
            &m.uid,
            &m.mail,
            &m.alternate_address,
            &m.display_name,
            &m.password,
            &m.mail_host,
            &m.routing_address,
            &m.partition,
            &m.quota_bytes,
            &m.quota_messages,
            &m.forward_to,
            &m.keep_local_copy,
            &m.vacation_text,
            &m.vacation_start,
            &m.vacation_end,
            &m.status,
        ]
        .iter()
        .map(|a| a.to_ascii_lowercase())
        .collect();
        Ok(Self {
            managed,
            schema: config.schema.clone(),
            lookups: pool(bind),
            auth: pool(None),
            scheme: if config.password_scheme == "argon2" {
                Scheme::Argon2
            } else {
                Scheme::Ssha
            },
            config: config.clone(),
        })
    }

    async fn search(&self, base: &str, scope: LdapScope, filter: &str) -> Result<Vec<Entry>> {
        let mut conn = self.lookups.get().await?;
        let t = self.lookups.timeout;
        let r = tokio::time::timeout(
            t,
            conn.ldap
                .with_timeout(t)
                .search(base, scope, filter, vec!["*"]),
        )
        .await;
        let sr = conn.settle("search", r)?;
        let (entries, result) = (sr.0, sr.1);
        match result.rc {
            // success, sizeLimitExceeded (take what came), noSuchObject.
            0 | 4 => Ok(entries.into_iter().filter_map(parse_entry).collect()),
            32 => Ok(Vec::new()),
            rc => Err(DirectoryError::Server {
                operation: "search",
                code: rc,
                message: result.text,
            }),
        }
    }

    async fn write_op<F>(&self, operation: &'static str, f: F) -> Result<()>
    where
        F: for<'c> FnOnce(
            &'c mut Ldap,
        ) -> std::pin::Pin<
            Box<dyn Future<Output = ldap3::result::Result<ldap3::LdapResult>> + Send + 'c>,
        >,
    {
        let mut conn = self.lookups.get().await?;
        let t = self.lookups.timeout;
        let r = tokio::time::timeout(t, f(conn.ldap.with_timeout(t))).await;
        let result = conn.settle(operation, r)?;
        match result.rc {
            0 => Ok(()),
            68 => Err(DirectoryError::AlreadyExists(result.matched.clone())),
            32 => Err(DirectoryError::NotFound(result.matched.clone())),
            rc => Err(DirectoryError::Server {
                operation,
                code: rc,
                message: result.text,
            }),
        }
    }

    fn user_class_filter(&self) -> String {
        format!("(objectClass={})", escape(&self.schema.user_filter_class))
    }

    fn group_class_filter(&self) -> String {
        let parts: String = self
            .schema
            .group_filter_classes
            .iter()
            .map(|c| format!("(objectClass={})", escape(c)))
            .collect();
        format!("(|{parts})")
    }

    fn is_user(&self, e: &Entry) -> bool {
        has_value(e, "objectclass", &self.schema.user_filter_class)
    }

    fn is_group(&self, e: &Entry) -> bool {
        self.schema
            .group_filter_classes
            .iter()
            .any(|c| has_value(e, "objectclass", c))
    }

    fn to_resolved(&self, e: &Entry) -> Resolved {
        if self.is_user(e) {
            self.to_user(e)
                .map_or(Resolved::None, |u| Resolved::User(Box::new(u)))
        } else if self.is_group(e) {
            Resolved::Group(Box::new(self.to_group(e)))
        } else {
            Resolved::None
        }
    }

    fn to_user(&self, (dn_, a): &Entry) -> Option<User> {
        let m = &self.schema;
        let uid = first(a, &m.uid)?;
        let mail = first(a, &m.mail)?;
        let address = match Address::parse(&mail) {
            Ok(addr) => addr,
            Err(e) => {
                tracing::warn!(dn = %dn_, error = %e, "directory user with a malformed mail attribute ignored");
                return None;
            }
        };
        let vacation = first(a, &m.vacation_text).map(|text| Vacation {
            text,
            start: first(a, &m.vacation_start),
            end: first(a, &m.vacation_end),
        });
        Some(User {
            dn: dn_.clone(),
            display_name: first(a, &m.display_name).unwrap_or_else(|| uid.clone()),
            uid,
            address,
            alternates: all(a, &m.alternate_address)
                .into_iter()
                .map(|x| x.to_lowercase())
                .collect(),
            mail_host: first(a, &m.mail_host),
            partition: first(a, &m.partition),
            quota: Quota {
                bytes: first(a, &m.quota_bytes)
                    .and_then(|v| v.parse().ok())
                    .filter(|v| *v > 0),
                messages: first(a, &m.quota_messages)
                    .and_then(|v| v.parse().ok())
                    .filter(|v| *v > 0),
            },
            delivery: Delivery {
                forward_to: all(a, &m.forward_to),
                keep_local_copy: first(a, &m.keep_local_copy)
                    .is_some_and(|v| v.eq_ignore_ascii_case("TRUE")),
                routing_address: first(a, &m.routing_address),
                vacation,
            },
            status: first(a, &m.status).map_or(AccountStatus::Active, |s| AccountStatus::parse(&s)),
            // Only what no field holds, so that a modified user compares
            // equal to a fresh lookup.
            attributes: a
                .iter()
                .filter(|(k, _)| !self.managed.contains(k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }

    fn to_group(&self, (dn_, a): &Entry) -> Group {
        let m = &self.schema;
        let mut members = all(a, &m.member);
        members.extend(all(a, &m.unique_member));
        // An empty `member` is how groupOfNames says "no members".
        members.retain(|d| !d.trim().is_empty());
        Group {
            dn: dn_.clone(),
            name: first(a, &m.group_name).unwrap_or_default(),
            address: first(a, &m.mail).and_then(|x| Address::parse(&x).ok()),
            alternates: all(a, &m.alternate_address)
                .into_iter()
                .map(|x| x.to_lowercase())
                .collect(),
            members,
            member_addresses: all(a, &m.member_address)
                .into_iter()
                .map(|x| x.to_lowercase())
                .collect(),
            member_urls: all(a, &m.member_url),
            posting: first(a, &m.posting_policy)
                .map_or(PostingPolicy::Anyone, |p| PostingPolicy::parse(&p)),
            allowed_senders: all(a, &m.allowed_sender)
                .into_iter()
                .map(|x| x.to_lowercase())
                .collect(),
        }
    }

    fn to_domain(&self, (_, a): &Entry) -> Option<Domain> {
        Some(Domain {
            name: first(a, &self.schema.domain_name)?.to_ascii_lowercase(),
            aliases: all(a, &self.schema.domain_alias)
                .into_iter()
                .map(|x| x.to_ascii_lowercase())
                .collect(),
        })
    }

    async fn find_user_entry(&self, attr: &str, value: &str) -> Result<Option<Entry>> {
        let filter = format!(
            "(&{}({}={}))",
            self.user_class_filter(),
            attr,
            escape(value)
        );
        let mut found = self
            .search(&self.config.base_dn, LdapScope::Subtree, &filter)
            .await?;
        if found.len() > 1 {
            tracing::warn!(
                attr,
                value,
                "several directory users match; refusing to guess"
            );
            return Ok(None);
        }
        Ok(found.pop())
    }

    /// The attributes a user's fields are written to; `None` removes.
    fn user_attrs(&self, u: &User) -> Vec<(String, Vec<String>)> {
        let m = &self.schema;
        let opt = |v: &Option<String>| v.iter().cloned().collect::<Vec<_>>();
        let num = |v: Option<u64>| v.map(|n| n.to_string()).into_iter().collect::<Vec<_>>();
        let vac = u.delivery.vacation.as_ref();
        vec![
            (m.mail.clone(), vec![u.address.to_string()]),
            (m.display_name.clone(), vec![u.display_name.clone()]),
            (m.alternate_address.clone(), u.alternates.clone()),
            (m.mail_host.clone(), opt(&u.mail_host)),
            (m.partition.clone(), opt(&u.partition)),
            (m.quota_bytes.clone(), num(u.quota.bytes)),
            (m.quota_messages.clone(), num(u.quota.messages)),
            (m.forward_to.clone(), u.delivery.forward_to.clone()),
            (
                m.keep_local_copy.clone(),
                if u.delivery.keep_local_copy {
                    vec!["TRUE".into()]
                } else {
                    Vec::new()
                },
            ),
            (m.routing_address.clone(), opt(&u.delivery.routing_address)),
            (
                m.vacation_text.clone(),
                vac.map(|v| v.text.clone()).into_iter().collect(),
            ),
            (
                m.vacation_start.clone(),
                vac.and_then(|v| v.start.clone()).into_iter().collect(),
            ),
            (
                m.vacation_end.clone(),
                vac.and_then(|v| v.end.clone()).into_iter().collect(),
            ),
            (m.status.clone(), vec![u.status.as_str().to_string()]),
        ]
    }

    fn group_attrs(&self, g: &Group) -> Vec<(String, Vec<String>)> {
        let m = &self.schema;
        vec![
            (
                m.mail.clone(),
                g.address.iter().map(|a| a.to_string()).collect(),
            ),
            (m.alternate_address.clone(), g.alternates.clone()),
            (m.member.clone(), g.members.clone()),
            (m.member_address.clone(), g.member_addresses.clone()),
            (m.member_url.clone(), g.member_urls.clone()),
            (
                m.posting_policy.clone(),
                vec![g.posting.as_str().to_string()],
            ),
            (m.allowed_sender.clone(), g.allowed_senders.clone()),
        ]
    }

    async fn add_entry(&self, dn_: String, attrs: Vec<(String, Vec<String>)>) -> Result<()> {
        let attrs: Vec<(String, HashSet<String>)> = attrs
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k, v.into_iter().collect()))
            .collect();
        let what = dn_.clone();
        self.write_op("add", move |l| {
            Box::pin(async move { l.add(&dn_, attrs).await })
        })
        .await
        .map_err(|e| match e {
            DirectoryError::AlreadyExists(_) => DirectoryError::AlreadyExists(what),
            other => other,
        })
    }

    /// Replaces each attribute whose values changed.
    async fn replace(
        &self,
        dn_: &str,
        old: Vec<(String, Vec<String>)>,
        new: Vec<(String, Vec<String>)>,
    ) -> Result<()> {
        let mods: Vec<Mod<String>> = new
            .into_iter()
            .zip(old)
            .filter(|((_, n), (_, o))| n != o)
            .map(|((k, n), _)| Mod::Replace(k, n.into_iter().collect()))
            .collect();
        if mods.is_empty() {
            return Ok(());
        }
        let dn_ = dn_.to_string();
        self.write_op("modify", move |l| {
            Box::pin(async move { l.modify(&dn_, mods).await })
        })
        .await
    }
}

fn first(a: &HashMap<String, Vec<String>>, attr: &str) -> Option<String> {
    a.get(&attr.to_ascii_lowercase())
        .and_then(|v| v.first())
        .cloned()
}

fn all(a: &HashMap<String, Vec<String>>, attr: &str) -> Vec<String> {
    a.get(&attr.to_ascii_lowercase())
        .cloned()
        .unwrap_or_default()
}

fn has_value(e: &Entry, attr: &str, value: &str) -> bool {
    e.1.get(attr)
        .is_some_and(|v| v.iter().any(|x| x.eq_ignore_ascii_case(value)))
}

impl AddressIndex for LdapDirectory {
    async fn find_addresses(&self, candidates: &[String]) -> Result<Vec<Resolved>> {
        let m = &self.schema;
        let alts: String = candidates
            .iter()
            .map(|c| {
                let c = escape(&c.to_lowercase());
                format!("({}={c})({}={c})", m.mail, m.alternate_address)
            })
            .collect();
        let filter = format!(
            "(&(|{}{})(|{alts}))",
            self.user_class_filter(),
            self.group_class_filter()
        );
        let found = self
            .search(&self.config.base_dn, LdapScope::Subtree, &filter)
            .await?;
        Ok(found
            .iter()
            .map(|e| self.to_resolved(e))
            .filter(|r| *r != Resolved::None)
            .collect())
    }
}

#[async_trait::async_trait]
impl Directory for LdapDirectory {
    fn backend(&self) -> &'static str {
        "ldap"
    }

    async fn domain(&self, name: &str) -> Result<Option<Domain>> {
        let n = escape(&name.trim().to_ascii_lowercase());
        let m = &self.schema;
        let filter = format!(
            "(&(objectClass={})(|({}={n})({}={n})))",
            escape(&m.domain_filter_class),
            m.domain_name,
            m.domain_alias
        );
        let found = self
            .search(&self.config.domains_dn(), LdapScope::Subtree, &filter)
            .await?;
        Ok(found.iter().find_map(|e| self.to_domain(e)))
    }

    async fn resolve(&self, address: &Address) -> Result<Resolved> {
        resolve::resolve(self, address).await
    }

    async fn user(&self, uid: &str) -> Result<Option<User>> {
        let e = self.find_user_entry(&self.schema.uid, uid.trim()).await?;
        Ok(e.and_then(|e| self.to_user(&e)))
    }

    async fn group(&self, name: &str) -> Result<Option<Group>> {
        let filter = format!(
            "(&{}({}={}))",
            self.group_class_filter(),
            self.schema.group_name,
            escape(name.trim())
        );
        let found = self
            .search(&self.config.base_dn, LdapScope::Subtree, &filter)
            .await?;
        Ok(found.first().map(|e| self.to_group(e)))
    }

    async fn entry(&self, dn_: &str) -> Result<Resolved> {
        // Member DNs come from the directory itself, but stay inside our tree.
        if !dn::is_under(dn_, &self.config.base_dn) {
            return Ok(Resolved::None);
        }
        let found = self.search(dn_, LdapScope::Base, "(objectClass=*)").await?;
        Ok(found
            .first()
            .map_or(Resolved::None, |e| self.to_resolved(e)))
    }

    async fn search_url(&self, url: &str) -> Result<Vec<Resolved>> {
        let u = LdapUrl::parse(url)?;
        let base = if u.base.is_empty() {
            self.config.base_dn.clone()
        } else {
            u.base.clone()
        };
        if !dn::is_under(&base, &self.config.base_dn) {
            tracing::warn!(url, "dynamic group URL outside the directory base ignored");
            return Ok(Vec::new());
        }
        let scope = match u.scope {
            Scope::Base => LdapScope::Base,
            Scope::One => LdapScope::OneLevel,
            Scope::Sub => LdapScope::Subtree,
        };
        let inner = if u.filter.starts_with('(') {
            u.filter.clone()
        } else {
            format!("({})", u.filter)
        };
        let filter = format!(
            "(&{inner}(|{}{}))",
            self.user_class_filter(),
            self.group_class_filter()
        );
        let found = self.search(&base, scope, &filter).await?;
        Ok(found
            .iter()
            .map(|e| self.to_resolved(e))
            .filter(|r| *r != Resolved::None)
            .collect())
    }

    async fn authenticate(&self, login: &str, password: &str) -> Result<AuthResult> {
        // RFC 4513 5.1.2: a bind with an empty password is an
        // unauthenticated bind that succeeds; never let it through.
        if password.is_empty() || login.trim().is_empty() {
            return Ok(AuthResult::Failed);
        }
        let attr = if login.contains('@') {
            &self.schema.mail
        } else {
            &self.schema.uid
        };
        let Some(entry) = self
            .find_user_entry(attr, &login.trim().to_lowercase())
            .await?
        else {
            return Ok(AuthResult::Failed);
        };
        let Some(user) = self.to_user(&entry) else {
            return Ok(AuthResult::Failed);
        };
        let mut conn = self.auth.get().await?;
        let t = self.auth.timeout;
        let r = tokio::time::timeout(t, conn.ldap.with_timeout(t).simple_bind(&user.dn, password))
            .await;
        let result = conn.settle("bind", r)?;
        match result.rc {
            0 => {}
            // invalidCredentials; also inappropriateAuthentication (48),
            // what a user entry without a password answers.
            49 | 48 => return Ok(AuthResult::Failed),
            rc => {
                return Err(DirectoryError::Server {
                    operation: "bind",
                    code: rc,
                    message: result.text,
                });
            }
        }
        Ok(match user.status {
            AccountStatus::Active => AuthResult::Authenticated(Box::new(user)),
            AccountStatus::Inactive => AuthResult::Inactive(Box::new(user)),
            AccountStatus::Deleted => AuthResult::Deleted,
        })
    }

    async fn list_domains(&self) -> Result<Vec<Domain>> {
        let filter = format!("(objectClass={})", escape(&self.schema.domain_filter_class));
        let found = self
            .search(&self.config.domains_dn(), LdapScope::Subtree, &filter)
            .await?;
        let mut d: Vec<Domain> = found.iter().filter_map(|e| self.to_domain(e)).collect();
        d.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(d)
    }

    async fn add_domain(&self, domain: &Domain) -> Result<()> {
        let domain = normalize_domain(domain)?;
        for n in std::iter::once(&domain.name).chain(&domain.aliases) {
            if self.domain(n).await?.is_some() {
                return Err(DirectoryError::AlreadyExists(format!("domain {n}")));
            }
        }
        let m = &self.schema;
        let dn_ = format!(
            "{}={},{}",
            m.domain_name,
            dn::escape(&domain.name),
            self.config.domains_dn()
        );
        self.add_entry(
            dn_,
            vec![
                ("objectClass".into(), m.domain_classes.clone()),
                (m.domain_name.clone(), vec![domain.name.clone()]),
                (m.domain_alias.clone(), domain.aliases.clone()),
            ],
        )
        .await
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        let found = self
            .search(
                &self.config.base_dn,
                LdapScope::Subtree,
                &self.user_class_filter(),
            )
            .await?;
        let mut u: Vec<User> = found.iter().filter_map(|e| self.to_user(e)).collect();
        u.sort_by(|a, b| a.uid.cmp(&b.uid));
        Ok(u)
    }

    async fn add_user(&self, spec: &UserSpec) -> Result<User> {
        validate_name("uid", &spec.uid)?;
        if self.user(&spec.uid).await?.is_some() {
            return Err(DirectoryError::AlreadyExists(format!("user {}", spec.uid)));
        }
        let mut addrs = vec![spec.address.clone()];
        addrs.extend(spec.alternates.iter().cloned());
        let addrs = resolve::ensure_addresses_free(self, &addrs, None).await?;
        let m = &self.schema;
        let dn_ = format!(
            "{}={},{}",
            m.uid,
            dn::escape(&spec.uid),
            self.config.people_dn()
        );
        let display = spec
            .display_name
            .clone()
            .unwrap_or_else(|| spec.uid.clone());
        let user = User {
            dn: dn_.clone(),
            uid: spec.uid.clone(),
            address: Address::parse(&addrs[0])?,
            alternates: addrs[1..].to_vec(),
            display_name: display.clone(),
            mail_host: spec.mail_host.clone(),
            partition: spec.partition.clone(),
            quota: spec.quota,
            delivery: spec.delivery.clone(),
            status: spec.status,
            attributes: Default::default(),
        };
        let mut attrs = vec![
            ("objectClass".to_string(), m.user_classes.clone()),
            (m.uid.clone(), vec![spec.uid.clone()]),
            // inetOrgPerson requires a surname: the last word of the name.
            (
                m.surname.clone(),
                vec![
                    display
                        .split_whitespace()
                        .last()
                        .unwrap_or(&spec.uid)
                        .to_string(),
                ],
            ),
        ];
        attrs.extend(self.user_attrs(&user));
        if let Some(p) = &spec.password {
            attrs.push((
                m.password.clone(),
                vec![password::hash_if_clear(p, self.scheme)?],
            ));
        }
        for (k, v) in &spec.attributes {
            attrs.push((k.clone(), v.clone()));
        }
        self.add_entry(dn_, attrs).await?;
        Ok(user)
    }

    async fn modify_user(&self, uid: &str, change: &UserChange) -> Result<User> {
        let Some(mut user) = self.user(uid).await? else {
            return Err(DirectoryError::NotFound(format!("user {uid}")));
        };
        let old = self.user_attrs(&user);
        if let Some(a) = &change.address {
            let a = resolve::ensure_addresses_free(self, std::slice::from_ref(a), Some(&user.dn))
                .await?;
            user.address = Address::parse(&a[0])?;
        }
        if let Some(alts) = &change.alternates {
            resolve::ensure_addresses_free(self, alts, Some(&user.dn)).await?;
        }
        change.apply(&mut user);
        let mut new = self.user_attrs(&user);
        let mut old = old;
        if let Some(p) = &change.password {
            old.push((self.schema.password.clone(), Vec::new()));
            new.push((
                self.schema.password.clone(),
                vec![password::hash_if_clear(p, self.scheme)?],
            ));
        }
        self.replace(&user.dn, old, new).await?;
        Ok(user)
    }

    async fn delete_user(&self, uid: &str) -> Result<()> {
        let Some(user) = self.user(uid).await? else {
            return Err(DirectoryError::NotFound(format!("user {uid}")));
        };
        let dn_ = user.dn.clone();
        self.write_op("delete", move |l| {
            Box::pin(async move { l.delete(&dn_).await })
        })
        .await
    }

    async fn list_groups(&self) -> Result<Vec<Group>> {
        let found = self
            .search(
                &self.config.base_dn,
                LdapScope::Subtree,
                &self.group_class_filter(),
            )
            .await?;
        let mut g: Vec<Group> = found.iter().map(|e| self.to_group(e)).collect();
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
        let m = &self.schema;
        let dn_ = format!(
            "{}={},{}",
            m.group_name,
            dn::escape(&spec.name),
            self.config.groups_dn()
        );
        let mut group = Group {
            dn: dn_.clone(),
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
        let mut attrs = vec![
            ("objectClass".to_string(), m.group_classes.clone()),
            (m.group_name.clone(), vec![spec.name.clone()]),
        ];
        attrs.extend(self.group_attrs(&group));
        self.add_entry(dn_, attrs).await?;
        Ok(group)
    }

    async fn modify_group(&self, name: &str, change: &GroupChange) -> Result<Group> {
        let Some(mut group) = self.group(name).await? else {
            return Err(DirectoryError::NotFound(format!("group {name}")));
        };
        if let Some(alts) = &change.alternates {
            resolve::ensure_addresses_free(self, alts, Some(&group.dn)).await?;
        }
        let old = self.group_attrs(&group);
        group.apply(change);
        check_members(&group)?;
        let new = self.group_attrs(&group);
        self.replace(&group.dn, old, new).await?;
        Ok(group)
    }

    async fn delete_group(&self, name: &str) -> Result<()> {
        let Some(group) = self.group(name).await? else {
            return Err(DirectoryError::NotFound(format!("group {name}")));
        };
        let dn_ = group.dn.clone();
        self.write_op("delete", move |l| {
            Box::pin(async move { l.delete(&dn_).await })
        })
        .await
    }
}

/// Keeps `Arc` in scope for doc links in callers that share the backend.
#[doc(hidden)]
pub type Shared = Arc<LdapDirectory>;
