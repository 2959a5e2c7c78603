//! A lookup cache in front of any [`Directory`].
//!
//! Each process keeps its own: an LRU of bounded size where a found entry
//! lives for `ttl` and a "no such entry" for the shorter `negative_ttl`
//! (so that a user created a moment ago soon receives mail, while a flood
//! of mail to unknown addresses still does not reach the server). Errors
//! are never cached. Password checks always go to the backend. Writes go
//! through and empty the cache, so `mailctl` reads its own changes.
//!
//! Hits and misses are counted in OpenTelemetry counters
//! `directory.cache.hits` and `directory.cache.misses` (attribute `lookup`)
//! of the meter `mail-directory`, and in [`CacheStats`].

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lru::LruCache;
use opentelemetry::KeyValue;
use opentelemetry::metrics::Counter;

use crate::Directory;
use crate::address::Address;
use crate::config::CacheConfig;
use crate::error::Result;
use crate::model::{
    AuthResult, Domain, Group, GroupChange, GroupSpec, Resolved, User, UserChange, UserSpec,
};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Domain(String),
    Resolve(String),
    User(String),
    Group(String),
    Entry(String),
    Url(String),
}

impl Key {
    fn kind(&self) -> &'static str {
        match self {
            Self::Domain(_) => "domain",
            Self::Resolve(_) => "resolve",
            Self::User(_) => "user",
            Self::Group(_) => "group",
            Self::Entry(_) => "entry",
            Self::Url(_) => "url",
        }
    }
}

#[derive(Debug, Clone)]
enum Value {
    Domain(Option<Domain>),
    Resolved(Resolved),
    User(Option<User>),
    Group(Option<Group>),
    Many(Vec<Resolved>),
}

impl Value {
    fn is_negative(&self) -> bool {
        match self {
            Self::Domain(d) => d.is_none(),
            Self::Resolved(r) => *r == Resolved::None,
            Self::User(u) => u.is_none(),
            Self::Group(g) => g.is_none(),
            Self::Many(m) => m.is_empty(),
        }
    }
}

/// Hit and miss counts since the cache was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Answers served from the cache.
    pub hits: u64,
    /// Answers fetched from the backend.
    pub misses: u64,
}

/// A [`Directory`] with a lookup cache in front.
pub struct Cached {
    inner: Arc<dyn Directory>,
    cache: Option<Mutex<LruCache<Key, (Instant, Value)>>>,
    ttl: Duration,
    negative_ttl: Duration,
    hits: AtomicU64,
    misses: AtomicU64,
    hit_counter: Counter<u64>,
    miss_counter: Counter<u64>,
}

impl Cached {
    /// Wraps `inner`; a capacity of 0 disables caching (but still counts).
    pub fn new(inner: Arc<dyn Directory>, config: &CacheConfig) -> Self {
        let meter = opentelemetry::global::meter("mail-directory");
        Self {
            inner,
            cache: NonZeroUsize::new(config.capacity).map(|n| Mutex::new(LruCache::new(n))),
            ttl: config.ttl,
            negative_ttl: config.negative_ttl,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            hit_counter: meter
                .u64_counter("directory.cache.hits")
                .with_description("Directory lookups answered from the cache")
                .build(),
            miss_counter: meter
                .u64_counter("directory.cache.misses")
                .with_description("Directory lookups sent to the backend")
                .build(),
        }
    }

    /// Hits and misses so far.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    /// Drops every cached answer.
    pub fn clear(&self) {
        if let Some(c) = &self.cache
            && let Ok(mut c) = c.lock()
        {
            c.clear();
        }
    }

    fn get(&self, key: &Key) -> Option<Value> {
        let cache = self.cache.as_ref()?;
        let mut c = cache.lock().ok()?;
        match c.get(key) {
            Some((expires, v)) if *expires > Instant::now() => Some(v.clone()),
            Some(_) => {
                c.pop(key);
                None
            }
            None => None,
        }
    }

    fn put(&self, key: Key, value: Value) {
        let ttl = if value.is_negative() {
            self.negative_ttl
        } else {
            self.ttl
        };
        if ttl.is_zero() {
            return;
        }
        if let Some(cache) = &self.cache
            && let Ok(mut c) = cache.lock()
        {
            c.put(key, (Instant::now() + ttl, value));
        }
    }

    async fn lookup<F>(&self, key: Key, fetch: F) -> Result<Value>
    where
        F: Future<Output = Result<Value>>,
    {
        let attrs = [KeyValue::new("lookup", key.kind())];
        if let Some(v) = self.get(&key) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            self.hit_counter.add(1, &attrs);
            return Ok(v);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        self.miss_counter.add(1, &attrs);
        let v = fetch.await?;
        self.put(key, v.clone());
        Ok(v)
    }
}

/// Unpacks a cached value of the expected variant; the key and the value
/// always agree, the fallback only keeps this panic-free.
macro_rules! unpack {
    ($v:expr, $variant:ident, $default:expr) => {
        match $v {
            Value::$variant(x) => x,
            _ => $default,
        }
    };
}

#[async_trait::async_trait]
impl Directory for Cached {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    async fn domain(&self, name: &str) -> Result<Option<Domain>> {
        let v = self
            .lookup(Key::Domain(name.to_ascii_lowercase()), async {
                Ok(Value::Domain(self.inner.domain(name).await?))
            })
            .await?;
        Ok(unpack!(v, Domain, None))
    }

    async fn resolve(&self, address: &Address) -> Result<Resolved> {
        let v = self
            .lookup(Key::Resolve(address.to_string()), async {
                Ok(Value::Resolved(self.inner.resolve(address).await?))
            })
            .await?;
        Ok(unpack!(v, Resolved, Resolved::None))
    }

    async fn user(&self, uid: &str) -> Result<Option<User>> {
        let v = self
            .lookup(Key::User(uid.to_lowercase()), async {
                Ok(Value::User(self.inner.user(uid).await?))
            })
            .await?;
        Ok(unpack!(v, User, None))
    }

    async fn group(&self, name: &str) -> Result<Option<Group>> {
        let v = self
            .lookup(Key::Group(name.to_lowercase()), async {
                Ok(Value::Group(self.inner.group(name).await?))
            })
            .await?;
        Ok(unpack!(v, Group, None))
    }

    async fn entry(&self, dn: &str) -> Result<Resolved> {
        let v = self
            .lookup(Key::Entry(crate::dn::normalize(dn)), async {
                Ok(Value::Resolved(self.inner.entry(dn).await?))
            })
            .await?;
        Ok(unpack!(v, Resolved, Resolved::None))
    }

    async fn search_url(&self, url: &str) -> Result<Vec<Resolved>> {
        let v = self
            .lookup(Key::Url(url.to_string()), async {
                Ok(Value::Many(self.inner.search_url(url).await?))
            })
            .await?;
        Ok(unpack!(v, Many, Vec::new()))
    }

    async fn authenticate(&self, login: &str, password: &str) -> Result<AuthResult> {
        self.inner.authenticate(login, password).await
    }

    async fn list_domains(&self) -> Result<Vec<Domain>> {
        self.inner.list_domains().await
    }

    async fn add_domain(&self, domain: &Domain) -> Result<()> {
        let r = self.inner.add_domain(domain).await;
        self.clear();
        r
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        self.inner.list_users().await
    }

    async fn add_user(&self, spec: &UserSpec) -> Result<User> {
        let r = self.inner.add_user(spec).await;
        self.clear();
        r
    }

    async fn modify_user(&self, uid: &str, change: &UserChange) -> Result<User> {
        let r = self.inner.modify_user(uid, change).await;
        self.clear();
        r
    }

    async fn delete_user(&self, uid: &str) -> Result<()> {
        let r = self.inner.delete_user(uid).await;
        self.clear();
        r
    }

    async fn list_groups(&self) -> Result<Vec<Group>> {
        self.inner.list_groups().await
    }

    async fn add_group(&self, spec: &GroupSpec) -> Result<Group> {
        let r = self.inner.add_group(spec).await;
        self.clear();
        r
    }

    async fn modify_group(&self, name: &str, change: &GroupChange) -> Result<Group> {
        let r = self.inner.modify_group(name, change).await;
        self.clear();
        r
    }

    async fn delete_group(&self, name: &str) -> Result<()> {
        let r = self.inner.delete_group(name).await;
        self.clear();
        r
    }
}
