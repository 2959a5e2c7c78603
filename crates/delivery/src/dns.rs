//! Where mail for a domain goes (RFC 5321 5.1): its MX records by
//! preference, equal preferences in random order so load spreads; without
//! MX records the domain's own A/AAAA ("implicit MX"); a null MX
//! (RFC 7505, `MX 0 .`) means the domain takes no mail.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// `[delivery.dns]`: which name servers to ask.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DnsConfig {
    /// Name servers as `ip:port`; empty uses the system's
    /// (`/etc/resolv.conf`).
    #[serde(default)]
    pub nameservers: Vec<SocketAddr>,
    /// Per-query timeout.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Tries per query.
    #[serde(default = "default_attempts")]
    pub attempts: usize,
}

fn default_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_attempts() -> usize {
    2
}

impl Default for DnsConfig {
    fn default() -> Self {
        Self {
            nameservers: Vec::new(),
            timeout: default_timeout(),
            attempts: default_attempts(),
        }
    }
}

/// Why a domain has no usable mail host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsFailure {
    /// NXDOMAIN: permanent.
    NoSuchDomain,
    /// A null MX or no address at all: permanent.
    NoMailHost(String),
    /// Timeout, SERVFAIL...: try later.
    Temporary(String),
}

/// The resolver the SMTP channels use.
#[derive(Clone)]
pub struct MxResolver {
    resolver: TokioResolver,
}

impl std::fmt::Debug for MxResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MxResolver")
    }
}

fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

fn temporary(e: &NetError) -> DnsFailure {
    DnsFailure::Temporary(e.to_string())
}

impl MxResolver {
    /// A resolver per `config`.
    pub fn new(config: &DnsConfig) -> Result<Self, Error> {
        let mut opts = ResolverOpts::default();
        opts.timeout = config.timeout;
        opts.attempts = config.attempts;
        let builder = if config.nameservers.is_empty() {
            TokioResolver::builder_tokio().map_err(|e| Error::Resolver(e.to_string()))?
        } else {
            let servers = config
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
        let resolver = builder
            .with_options(opts)
            .build()
            .map_err(|e| Error::Resolver(e.to_string()))?;
        Ok(Self { resolver })
    }

    /// The mail hosts of `domain`, best first.
    pub async fn mail_hosts(&self, domain: &str) -> Result<Vec<String>, DnsFailure> {
        match self.resolver.mx_lookup(fqdn(domain)).await {
            Ok(lookup) => {
                let records: Vec<(u16, String)> = lookup
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::MX(mx) => Some((
                            mx.preference,
                            mx.exchange.to_ascii().trim_end_matches('.').to_string(),
                        )),
                        _ => None,
                    })
                    .collect();
                if records.is_empty() {
                    return Ok(vec![domain.to_string()]);
                }
                if records.len() == 1 && records[0].1.is_empty() {
                    return Err(DnsFailure::NoMailHost(format!(
                        "{domain} accepts no mail (null MX)"
                    )));
                }
                Ok(order_mx(records, random_u64))
            }
            Err(e) if e.is_nx_domain() => Err(DnsFailure::NoSuchDomain),
            // No MX: the domain itself is the mail host (RFC 5321 5.1).
            Err(e) if e.is_no_records_found() => Ok(vec![domain.to_string()]),
            Err(e) => Err(temporary(&e)),
        }
    }

    /// The addresses of `host` (an IP literal stands for itself).
    pub async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, DnsFailure> {
        if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse() {
            return Ok(vec![ip]);
        }
        match self.resolver.lookup_ip(fqdn(host)).await {
            Ok(l) => {
                let v: Vec<IpAddr> = l.iter().collect();
                if v.is_empty() {
                    Err(DnsFailure::NoMailHost(format!("{host} has no address")))
                } else {
                    Ok(v)
                }
            }
            Err(e) if e.is_nx_domain() => Err(DnsFailure::NoSuchDomain),
            Err(e) if e.is_no_records_found() => {
                Err(DnsFailure::NoMailHost(format!("{host} has no address")))
            }
            Err(e) => Err(temporary(&e)),
        }
    }
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    // Without randomness the order is merely fixed, never wrong.
    let _ = getrandom::fill(&mut b);
    u64::from_le_bytes(b)
}

/// Sorts MX records by preference; records of equal preference are
/// shuffled with `rand` (RFC 5321 5.1: "randomize them to spread the
/// load"). Duplicate host names keep their best preference.
pub fn order_mx(mut records: Vec<(u16, String)>, mut rand: impl FnMut() -> u64) -> Vec<String> {
    // Fisher-Yates first, then a stable sort by preference.
    for i in (1..records.len()).rev() {
        let j = (rand() % (i as u64 + 1)) as usize;
        records.swap(i, j);
    }
    records.sort_by_key(|(p, _)| *p);
    let mut out: Vec<String> = Vec::with_capacity(records.len());
    for (_, h) in records {
        let h = h.to_ascii_lowercase();
        if !out.contains(&h) {
            out.push(h);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preference_order_with_random_ties() {
        let recs = vec![
            (20, "c".to_string()),
            (10, "a".to_string()),
            (10, "b".to_string()),
            (30, "d".to_string()),
        ];
        let mut seen_first = std::collections::HashSet::new();
        let mut n = 0u64;
        for _ in 0..64 {
            let o = order_mx(recs.clone(), || {
                n = n
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                n >> 33
            });
            assert_eq!(&o[2..], ["c", "d"]);
            seen_first.insert(o[0].clone());
        }
        assert_eq!(seen_first.len(), 2, "equal preferences are shuffled");
    }
}
