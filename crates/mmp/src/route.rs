//! From a user's `mailHost` to the addresses of that store: the
//! `[backend.hosts]` table first, then DNS (A/AAAA through
//! hickory-resolver at the configured name servers). An IP literal stands
//! for itself.
//!
//! A name that does not exist (NXDOMAIN, no address, not in the table with
//! DNS off) is a configuration problem the operator must see: it is logged
//! as such, and the client is told the service is unavailable, never sent
//! to another store.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;

use crate::config::{BackendConfig, HostEntry};
use crate::error::Error;

/// Which protocol's port to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// IMAP.
    Imap,
    /// POP3.
    Pop3,
}

impl Protocol {
    /// `imap` or `pop3`, for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Imap => "imap",
            Protocol::Pop3 => "pop3",
        }
    }
}

/// Where a user's session goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The store's name as the directory gives it (lower case).
    pub host: String,
    /// Its addresses, tried in order.
    pub addrs: Vec<SocketAddr>,
    /// The name its TLS certificate must carry.
    pub tls_name: String,
}

/// Why there is no route.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// The user's entry has no `mailHost` and no default is configured.
    #[error("the user has no mailHost and backend.default_host is not set")]
    NoMailHost,
    /// The name is not in the table and DNS has no address for it (or is
    /// off): a directory or DNS configuration problem.
    #[error("mailHost {0} is unknown: {1}")]
    Unknown(String, String),
    /// DNS did not answer (timeout, SERVFAIL): may pass.
    #[error("mailHost {0} could not be resolved now: {1}")]
    Temporary(String, String),
}

/// The table and the resolver.
pub struct Router {
    table: HashMap<String, HostEntry>,
    resolver: Option<TokioResolver>,
    imap_port: u16,
    pop3_port: u16,
    default_host: Option<String>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("table", &self.table)
            .field("dns", &self.resolver.is_some())
            .finish()
    }
}

fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

impl Router {
    /// The router `[backend]` describes.
    pub fn new(cfg: &BackendConfig) -> Result<Self, Error> {
        let resolver = if cfg.dns.enabled {
            let mut opts = ResolverOpts::default();
            opts.timeout = cfg.dns.timeout;
            opts.attempts = cfg.dns.attempts;
            let builder = if cfg.dns.nameservers.is_empty() {
                TokioResolver::builder_tokio().map_err(|e| Error::Resolver(e.to_string()))?
            } else {
                let servers = cfg
                    .dns
                    .nameservers
                    .iter()
                    .map(|sa| {
                        let mut ns = NameServerConfig::udp_and_tcp(sa.ip());
                        for c in &mut ns.connections {
                            c.port = sa.port();
                        }
                        ns
                    })
                    .collect();
                TokioResolver::builder_with_config(
                    ResolverConfig::from_name_servers(servers),
                    TokioRuntimeProvider::default(),
                )
            };
            Some(
                builder
                    .with_options(opts)
                    .build()
                    .map_err(|e| Error::Resolver(e.to_string()))?,
            )
        } else {
            None
        };
        Ok(Self {
            table: cfg
                .hosts
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect(),
            resolver,
            imap_port: cfg.imap_port,
            pop3_port: cfg.pop3_port,
            default_host: cfg.default_host.clone(),
        })
    }

    /// The store for a user whose entry says `mail_host`.
    pub async fn route(
        &self,
        mail_host: Option<&str>,
        protocol: Protocol,
    ) -> Result<Route, RouteError> {
        let host = mail_host
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .or(self.default_host.as_deref())
            .ok_or(RouteError::NoMailHost)?
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let default_port = match protocol {
            Protocol::Imap => self.imap_port,
            Protocol::Pop3 => self.pop3_port,
        };
        if let Some(e) = self.table.get(&host) {
            let port = match protocol {
                Protocol::Imap => e.imap_port,
                Protocol::Pop3 => e.pop3_port,
            }
            .unwrap_or(default_port);
            return Ok(Route {
                addrs: vec![SocketAddr::new(e.address, port)],
                tls_name: e.tls_name.clone().unwrap_or_else(|| host.clone()),
                host,
            });
        }
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            return Ok(Route {
                addrs: vec![SocketAddr::new(ip, default_port)],
                tls_name: host.clone(),
                host,
            });
        }
        if !crate::config::valid_host_name(&host) {
            return Err(RouteError::Unknown(host, "not a host name".into()));
        }
        let Some(resolver) = &self.resolver else {
            return Err(RouteError::Unknown(
                host,
                "not in [backend.hosts] and DNS lookups are off".into(),
            ));
        };
        match resolver.lookup_ip(fqdn(&host)).await {
            Ok(found) => {
                let addrs: Vec<SocketAddr> = found
                    .iter()
                    .map(|ip| SocketAddr::new(ip, default_port))
                    .collect();
                if addrs.is_empty() {
                    return Err(RouteError::Unknown(host, "no A/AAAA record".into()));
                }
                Ok(Route {
                    addrs,
                    tls_name: host.clone(),
                    host,
                })
            }
            Err(e) if e.is_nx_domain() => Err(RouteError::Unknown(host, "NXDOMAIN".into())),
            Err(e) if e.is_no_records_found() => {
                Err(RouteError::Unknown(host, "no A/AAAA record".into()))
            }
            Err(e) => Err(RouteError::Temporary(host, e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(hosts: &str, dns: bool) -> Router {
        let text = format!(
            "secret_file = \"/x\"\nimap_port = 1143\ndefault_host = \"store1.example.test\"\n[dns]\nenabled = {dns}\n{hosts}"
        );
        let cfg: BackendConfig = toml::from_str(&text).expect("backend");
        Router::new(&cfg).expect("router")
    }

    #[tokio::test]
    async fn table_entries_literals_and_defaults() {
        let r = router(
            "[hosts.\"Store1.Example.test\"]\naddress = \"127.0.0.2\"\npop3_port = 2110\ntls_name = \"s1.example.test\"\n",
            false,
        );
        let imap = r
            .route(Some("store1.example.TEST."), Protocol::Imap)
            .await
            .expect("route");
        assert_eq!(imap.host, "store1.example.test");
        assert_eq!(imap.addrs, vec!["127.0.0.2:1143".parse().expect("addr")]);
        assert_eq!(imap.tls_name, "s1.example.test");
        let pop = r.route(None, Protocol::Pop3).await.expect("default");
        assert_eq!(pop.addrs, vec!["127.0.0.2:2110".parse().expect("addr")]);
        let lit = r
            .route(Some("127.0.0.9"), Protocol::Pop3)
            .await
            .expect("literal");
        assert_eq!(lit.addrs, vec!["127.0.0.9:110".parse().expect("addr")]);
        assert!(matches!(
            r.route(Some("store9.example.test"), Protocol::Imap).await,
            Err(RouteError::Unknown(..))
        ));
        assert!(matches!(
            r.route(Some("bad host!"), Protocol::Imap).await,
            Err(RouteError::Unknown(..))
        ));
    }

    #[tokio::test]
    async fn no_mail_host_without_a_default_is_refused() {
        let cfg: BackendConfig =
            toml::from_str("secret_file = \"/x\"\n[dns]\nenabled = false\n").expect("backend");
        let r = Router::new(&cfg).expect("router");
        assert_eq!(
            r.route(Some("  "), Protocol::Imap).await,
            Err(RouteError::NoMailHost)
        );
    }
}
