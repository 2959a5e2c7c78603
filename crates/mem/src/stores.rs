//! Which store serves a user: the directory's `mailHost`, mapped to the
//! store's JMAP base URL through `[stores.hosts]`, or else used as a DNS
//! name with the configured scheme and port. The answer is fixed in the
//! session at login, so every request of a session goes to one store.

use std::collections::HashMap;
use std::sync::Arc;

use hyper::Uri;
use hyper::http::uri::{Authority, PathAndQuery, Scheme};

use crate::config::StoresConfig;
use crate::error::MemError;

/// One store's JMAP service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreTarget {
    /// The `mailHost` it was found by (logs and the metrics' `store`).
    pub name: String,
    /// `https` or `http`.
    pub scheme: Scheme,
    /// `host:port`.
    pub authority: Authority,
}

impl StoreTarget {
    /// A store at a base URL (`https://host:port`).
    pub fn fixed(name: &str, url: &str) -> Result<Self, MemError> {
        let bad = || MemError::Store(format!("{name}: {url:?} is not http(s)://host[:port]"));
        let uri: Uri = url.parse().map_err(|_| bad())?;
        let scheme = uri.scheme().cloned().ok_or_else(bad)?;
        if scheme != Scheme::HTTPS && scheme != Scheme::HTTP {
            return Err(bad());
        }
        let authority = uri.authority().cloned().ok_or_else(bad)?;
        Ok(Self {
            name: name.to_string(),
            scheme,
            authority,
        })
    }

    /// The URL of `path_and_query` on this store.
    pub fn uri(&self, path_and_query: &str) -> Option<Uri> {
        let pq: PathAndQuery = path_and_query.parse().ok()?;
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(pq)
            .build()
            .ok()
    }
}

/// `mailHost` -> store.
#[derive(Debug)]
pub struct StoreMap {
    hosts: HashMap<String, Arc<StoreTarget>>,
    default: Option<Arc<StoreTarget>>,
    scheme: String,
    port: u16,
}

impl StoreMap {
    /// The map `[stores]` describes.
    pub fn new(cfg: &StoresConfig) -> Result<Self, MemError> {
        let mut hosts = HashMap::new();
        for (name, url) in &cfg.hosts {
            hosts.insert(
                name.to_ascii_lowercase(),
                Arc::new(StoreTarget::fixed(name, url)?),
            );
        }
        let default = match &cfg.default_url {
            Some(u) => Some(Arc::new(StoreTarget::fixed("default", u)?)),
            None => None,
        };
        Ok(Self {
            hosts,
            default,
            scheme: cfg.scheme.clone(),
            port: cfg.port,
        })
    }

    /// The store of a user whose `mailHost` is `mail_host`; `None` when
    /// the user has none and no `default_url` is set, or the name cannot
    /// be a host name.
    pub fn target(&self, mail_host: Option<&str>) -> Option<Arc<StoreTarget>> {
        let Some(host) = mail_host.map(str::trim).filter(|h| !h.is_empty()) else {
            return self.default.clone();
        };
        if let Some(t) = self.hosts.get(&host.to_ascii_lowercase()) {
            return Some(t.clone());
        }
        // Found by DNS: an IPv6 literal needs brackets in a URL.
        let hostport = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{}", self.port)
        } else {
            format!("{host}:{}", self.port)
        };
        StoreTarget::fixed(host, &format!("{}://{hostport}", self.scheme))
            .ok()
            .map(Arc::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_first_then_dns_name_then_default() {
        let mut cfg = StoresConfig::default();
        cfg.hosts.insert(
            "Store1.example.test".into(),
            "https://127.0.0.2:8443".into(),
        );
        let map = StoreMap::new(&cfg).expect("map");
        let t = map.target(Some("store1.EXAMPLE.test")).expect("listed");
        assert_eq!(t.authority.as_str(), "127.0.0.2:8443");
        assert_eq!(
            t.uri("/jmap/api?x=1").expect("uri").to_string(),
            "https://127.0.0.2:8443/jmap/api?x=1"
        );
        let d = map.target(Some("store9.example.test")).expect("by DNS");
        assert_eq!(d.authority.as_str(), "store9.example.test:443");
        assert_eq!(d.name, "store9.example.test");
        let v6 = map.target(Some("2001:db8::5")).expect("v6");
        assert_eq!(v6.authority.as_str(), "[2001:db8::5]:443");
        assert!(map.target(None).is_none());
        assert!(map.target(Some("bad host/")).is_none());

        cfg.default_url = Some("http://127.0.0.3:8080".into());
        let map = StoreMap::new(&cfg).expect("map");
        assert_eq!(
            map.target(Some("  ")).expect("default").authority.as_str(),
            "127.0.0.3:8080"
        );
    }
}
