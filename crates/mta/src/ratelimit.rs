//! Per-client-IP limits: concurrent connections, connections per minute
//! and messages per minute (fixed one-minute windows). Exempt networks
//! (the relay's own hosts, a load balancer's health checks) skip them.
//!
//! Memory is bounded: once the table holds many addresses, entries with no
//! open connection and no activity in the current window are dropped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mail_core::cidr::Cidr;

const WINDOW: Duration = Duration::from_secs(60);
const PRUNE_AT: usize = 10_000;

/// The limits; zero disables one.
#[derive(Debug, Clone, Default)]
pub(crate) struct Limits {
    pub(crate) max_connections_per_ip: usize,
    pub(crate) connections_per_minute: u32,
    pub(crate) messages_per_minute: u32,
    pub(crate) exempt: Vec<Cidr>,
}

#[derive(Debug)]
struct Counters {
    active: usize,
    window: Instant,
    connections: u32,
    messages: u32,
}

impl Counters {
    fn roll(&mut self, now: Instant) {
        if now.duration_since(self.window) >= WINDOW {
            self.window = now;
            self.connections = 0;
            self.messages = 0;
        }
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    TooManyConnections,
    ConnectionRate,
}

#[derive(Debug)]
pub(crate) struct RateLimiter {
    limits: Limits,
    table: Mutex<HashMap<IpAddr, Counters>>,
}

/// Holds one of an address's concurrent connections.
#[derive(Debug)]
pub(crate) struct ConnGuard {
    limiter: Option<Arc<RateLimiter>>,
    ip: IpAddr,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        if let Some(l) = &self.limiter {
            let mut t = l.table.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(c) = t.get_mut(&self.ip) {
                c.active = c.active.saturating_sub(1);
            }
        }
    }
}

impl RateLimiter {
    pub(crate) fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            table: Mutex::new(HashMap::new()),
        })
    }

    fn exempt(&self, ip: IpAddr) -> bool {
        Cidr::any_contains(&self.limits.exempt, ip)
    }

    /// Admits a new connection from `ip`, or says why not.
    pub(crate) fn connect(self: &Arc<Self>, ip: IpAddr) -> Result<ConnGuard, Refused> {
        if self.exempt(ip) {
            return Ok(ConnGuard { limiter: None, ip });
        }
        let now = Instant::now();
        let mut t = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if t.len() >= PRUNE_AT {
            t.retain(|_, c| c.active > 0 || now.duration_since(c.window) < WINDOW);
        }
        let c = t.entry(ip).or_insert(Counters {
            active: 0,
            window: now,
            connections: 0,
            messages: 0,
        });
        c.roll(now);
        let l = &self.limits;
        if l.connections_per_minute > 0 && c.connections >= l.connections_per_minute {
            return Err(Refused::ConnectionRate);
        }
        if l.max_connections_per_ip > 0 && c.active >= l.max_connections_per_ip {
            return Err(Refused::TooManyConnections);
        }
        c.connections += 1;
        c.active += 1;
        Ok(ConnGuard {
            limiter: Some(self.clone()),
            ip,
        })
    }

    /// Counts one message (at MAIL FROM); false when `ip` is over its
    /// messages-per-minute limit.
    pub(crate) fn message(&self, ip: IpAddr) -> bool {
        if self.limits.messages_per_minute == 0 || self.exempt(ip) {
            return true;
        }
        let now = Instant::now();
        let mut t = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let c = t.entry(ip).or_insert(Counters {
            active: 0,
            window: now,
            connections: 0,
            messages: 0,
        });
        c.roll(now);
        if c.messages >= self.limits.messages_per_minute {
            return false;
        }
        c.messages += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_apply_per_address_and_exemptions_skip_them() {
        let l = RateLimiter::new(Limits {
            max_connections_per_ip: 2,
            connections_per_minute: 3,
            messages_per_minute: 2,
            exempt: vec!["10.0.0.0/8".parse().expect("net")],
        });
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        let g1 = l.connect(a).expect("1");
        let _g2 = l.connect(a).expect("2");
        assert_eq!(l.connect(a).err(), Some(Refused::TooManyConnections));
        assert!(l.connect(b).is_ok(), "other address unaffected");
        drop(g1);
        let _g3 = l.connect(a).expect("3 after one closed");
        drop(_g3);
        assert_eq!(l.connect(a).err(), Some(Refused::ConnectionRate));
        assert!(l.message(a) && l.message(a) && !l.message(a));
        let x: IpAddr = "10.1.1.1".parse().expect("ip");
        for _ in 0..10 {
            assert!(l.message(x));
            std::mem::forget(l.connect(x).expect("exempt"));
        }
    }
}
