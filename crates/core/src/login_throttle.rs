//! Failed-login throttling across connections, shared by every service
//! that checks passwords (the MEM's login page, the MMP, and later the
//! store's IMAP, POP and the submission relay).
//!
//! A password guesser opens a new connection for every few guesses, so a
//! delay inside one session does not slow it down. This module remembers
//! failures per client address (an IPv6 client by its /64, since one host
//! owns a whole /64) and per user name, for `window` after the last one:
//!
//! - the first `*_free_failures` cost nothing (people mistype);
//! - each further failure doubles a delay, from `base_delay` up to
//!   `max_delay`, that the service waits before answering the next try;
//! - `*_lockout_after` failures lock the address or user out for
//!   `lockout`: tries are refused at once without checking the password.
//!
//! A success forgets the user's failures (not the address's: one valid
//! account must not reset a guesser's count). Addresses in `exempt` (a
//! webmail front end, a monitoring host) are never throttled by address.
//! Memory is bounded by `max_tracked` entries.
//!
//! Every delay and lockout is counted in the OpenTelemetry counter
//! `login_throttle.events` (attributes `service`, `scope` = `ip`|`user`,
//! `action` = `delayed`|`locked`).
//!
//! ```
//! use mail_core::login_throttle::{LoginThrottle, LoginThrottleConfig, Verdict};
//! let t = LoginThrottle::new(LoginThrottleConfig::default(), "doc");
//! let ip = "192.0.2.7".parse().unwrap();
//! assert_eq!(t.check(ip, "alice"), Verdict::Allow);
//! for _ in 0..10 { t.failed(ip, "alice"); }
//! assert!(matches!(t.check(ip, "alice"), Verdict::Locked(_)));
//! ```

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::cidr::Cidr;
use crate::config::{Validate, Validator};

/// `[login_throttle]` in a service's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginThrottleConfig {
    /// Failures from one address answered without delay.
    #[serde(default = "default_ip_free")]
    pub ip_free_failures: u32,
    /// Failures for one user name answered without delay.
    #[serde(default = "default_user_free")]
    pub user_free_failures: u32,
    /// The first delay; each further failure doubles it.
    #[serde(default = "default_base_delay", with = "humantime_serde")]
    pub base_delay: Duration,
    /// The longest delay.
    #[serde(default = "default_max_delay", with = "humantime_serde")]
    pub max_delay: Duration,
    /// Failures from one address that lock it out.
    #[serde(default = "default_ip_lockout")]
    pub ip_lockout_after: u32,
    /// Failures for one user name that lock it out.
    #[serde(default = "default_user_lockout")]
    pub user_lockout_after: u32,
    /// How long a lockout lasts.
    #[serde(default = "default_lockout", with = "humantime_serde")]
    pub lockout: Duration,
    /// Failures are forgotten this long after the last one.
    #[serde(default = "default_window", with = "humantime_serde")]
    pub window: Duration,
    /// Addresses and users remembered at most; the stalest go first.
    #[serde(default = "default_max_tracked")]
    pub max_tracked: usize,
    /// Client networks never throttled by address (user names still are).
    #[serde(default)]
    pub exempt: Vec<Cidr>,
}

fn default_ip_free() -> u32 {
    5
}
fn default_user_free() -> u32 {
    3
}
fn default_base_delay() -> Duration {
    Duration::from_secs(1)
}
fn default_max_delay() -> Duration {
    Duration::from_secs(15)
}
fn default_ip_lockout() -> u32 {
    30
}
fn default_user_lockout() -> u32 {
    10
}
fn default_lockout() -> Duration {
    Duration::from_secs(15 * 60)
}
fn default_window() -> Duration {
    Duration::from_secs(15 * 60)
}
fn default_max_tracked() -> usize {
    100_000
}

impl Default for LoginThrottleConfig {
    fn default() -> Self {
        Self {
            ip_free_failures: default_ip_free(),
            user_free_failures: default_user_free(),
            base_delay: default_base_delay(),
            max_delay: default_max_delay(),
            ip_lockout_after: default_ip_lockout(),
            user_lockout_after: default_user_lockout(),
            lockout: default_lockout(),
            window: default_window(),
            max_tracked: default_max_tracked(),
            exempt: Vec::new(),
        }
    }
}

impl Validate for LoginThrottleConfig {
    fn validate(&self, v: &mut Validator) {
        if self.max_delay < self.base_delay {
            v.error("max_delay", "must be at least base_delay");
        }
        if self.ip_lockout_after == 0 {
            v.error("ip_lockout_after", "must be at least 1");
        }
        if self.user_lockout_after == 0 {
            v.error("user_lockout_after", "must be at least 1");
        }
        if self.window.is_zero() {
            v.error("window", "must be longer than zero");
        }
        if self.max_tracked == 0 {
            v.error("max_tracked", "must be at least 1");
        }
    }
}

/// What to do with a login attempt before checking its password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Check it now.
    Allow,
    /// Wait this long, then check it.
    Delay(Duration),
    /// Refuse it without checking; the lockout ends after this long.
    Locked(Duration),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Ip(IpAddr),
    User(String),
}

impl Key {
    fn scope(&self) -> &'static str {
        match self {
            Key::Ip(_) => "ip",
            Key::User(_) => "user",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// The shared failure memory; cheap to call from every session.
#[derive(Debug)]
pub struct LoginThrottle {
    cfg: LoginThrottleConfig,
    service: &'static str,
    entries: Mutex<HashMap<Key, Entry>>,
}

impl LoginThrottle {
    /// A throttle for `service` (the metric's `service` attribute).
    pub fn new(cfg: LoginThrottleConfig, service: &'static str) -> Self {
        Self {
            cfg,
            service,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn keys(&self, ip: IpAddr, user: &str) -> Vec<Key> {
        let mut keys = Vec::with_capacity(2);
        if !Cidr::any_contains(&self.cfg.exempt, ip) {
            keys.push(Key::Ip(normalise(ip)));
        }
        let user = user.trim().to_lowercase();
        if !user.is_empty() {
            keys.push(Key::User(user));
        }
        keys
    }

    fn limits(&self, key: &Key) -> (u32, u32) {
        match key {
            Key::Ip(_) => (self.cfg.ip_free_failures, self.cfg.ip_lockout_after),
            Key::User(_) => (self.cfg.user_free_failures, self.cfg.user_lockout_after),
        }
    }

    /// What to do with a try from `ip` for `user`, before the password is
    /// checked.
    pub fn check(&self, ip: IpAddr, user: &str) -> Verdict {
        self.check_at(ip, user, Instant::now())
    }

    fn check_at(&self, ip: IpAddr, user: &str, now: Instant) -> Verdict {
        let keys = self.keys(ip, user);
        let Ok(entries) = self.entries.lock() else {
            return Verdict::Allow;
        };
        let mut verdict = Verdict::Allow;
        let mut scope = "";
        for key in &keys {
            let Some(e) = entries.get(key) else { continue };
            if let Some(until) = e.locked_until
                && until > now
            {
                let left = until - now;
                if !matches!(verdict, Verdict::Locked(l) if l >= left) {
                    verdict = Verdict::Locked(left);
                    scope = key.scope();
                }
                continue;
            }
            // Failures are forgotten after the window, and a served
            // lockout starts the count again.
            if now.duration_since(e.last) > self.cfg.window || e.locked_until.is_some() {
                continue;
            }
            let (free, _) = self.limits(key);
            if e.failures < free {
                continue;
            }
            let steps = (e.failures - free).min(20);
            let delay = self
                .cfg
                .base_delay
                .saturating_mul(1u32 << steps)
                .min(self.cfg.max_delay);
            match verdict {
                Verdict::Locked(_) => {}
                Verdict::Delay(d) if d >= delay => {}
                _ => {
                    verdict = Verdict::Delay(delay);
                    scope = key.scope();
                }
            }
        }
        drop(entries);
        match verdict {
            Verdict::Allow => {}
            Verdict::Delay(_) => self.count(scope, "delayed"),
            Verdict::Locked(_) => self.count(scope, "locked"),
        }
        verdict
    }

    /// Records a failed try (wrong password or unknown user).
    pub fn failed(&self, ip: IpAddr, user: &str) {
        self.failed_at(ip, user, Instant::now());
    }

    fn failed_at(&self, ip: IpAddr, user: &str, now: Instant) {
        let keys = self.keys(ip, user);
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() + keys.len() > self.cfg.max_tracked {
            self.evict(&mut entries, now);
        }
        for key in keys {
            let (_, lockout_after) = self.limits(&key);
            let e = entries.entry(key).or_insert(Entry {
                failures: 0,
                last: now,
                locked_until: None,
            });
            if now.duration_since(e.last) > self.cfg.window
                || e.locked_until.is_some_and(|u| u <= now)
            {
                e.failures = 0;
                e.locked_until = None;
            }
            e.failures = e.failures.saturating_add(1);
            e.last = now;
            if e.failures >= lockout_after {
                e.locked_until = Some(now + self.cfg.lockout);
            }
        }
    }

    /// Records a successful login: the user's failures are forgotten.
    pub fn succeeded(&self, ip: IpAddr, user: &str) {
        let keys = self.keys(ip, user);
        if let Ok(mut entries) = self.entries.lock() {
            for key in keys {
                if matches!(key, Key::User(_)) {
                    entries.remove(&key);
                }
            }
        }
    }

    /// How many addresses and users are remembered now.
    pub fn tracked(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    /// Drops forgotten entries, then the stalest until under the bound.
    fn evict(&self, entries: &mut HashMap<Key, Entry>, now: Instant) {
        let window = self.cfg.window;
        entries.retain(|_, e| {
            e.locked_until.is_some_and(|u| u > now) || now.duration_since(e.last) <= window
        });
        let max = self.cfg.max_tracked.saturating_sub(2);
        if entries.len() > max {
            let mut by_age: Vec<(Instant, Key)> =
                entries.iter().map(|(k, e)| (e.last, k.clone())).collect();
            by_age.sort_by_key(|(t, _)| *t);
            let excess = entries.len() - max;
            for (_, k) in by_age.into_iter().take(excess) {
                entries.remove(&k);
            }
        }
    }

    fn count(&self, scope: &'static str, action: &'static str) {
        events_counter().add(
            1,
            &[
                opentelemetry::KeyValue::new("service", self.service),
                opentelemetry::KeyValue::new("scope", scope),
                opentelemetry::KeyValue::new("action", action),
            ],
        );
    }
}

/// An IPv6 client is its /64 (one host usually owns the whole /64); an
/// IPv4-mapped IPv6 address is the IPv4 address.
fn normalise(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & (u128::MAX << 64);
                IpAddr::V6(bits.into())
            }
        },
        v4 => v4,
    }
}

fn events_counter() -> &'static opentelemetry::metrics::Counter<u64> {
    static C: std::sync::OnceLock<opentelemetry::metrics::Counter<u64>> =
        std::sync::OnceLock::new();
    C.get_or_init(|| {
        opentelemetry::global::meter("mail-core")
            .u64_counter("login_throttle.events")
            .with_description("Login tries delayed or refused after repeated failures")
            .build()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> LoginThrottleConfig {
        LoginThrottleConfig {
            ip_free_failures: 4,
            user_free_failures: 2,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(4),
            ip_lockout_after: 20,
            user_lockout_after: 6,
            lockout: Duration::from_secs(60),
            window: Duration::from_secs(300),
            max_tracked: 1000,
            exempt: vec!["198.51.100.0/24".parse().expect("net")],
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn delay_grows_per_user_then_locks() {
        let t = LoginThrottle::new(cfg(), "test");
        let now = Instant::now();
        let a = ip("192.0.2.1");
        for _ in 0..2 {
            t.failed_at(a, "Alice", now);
        }
        assert_eq!(
            t.check_at(a, "alice", now),
            Verdict::Delay(Duration::from_secs(1))
        );
        t.failed_at(a, "alice", now);
        assert_eq!(
            t.check_at(a, "alice", now),
            Verdict::Delay(Duration::from_secs(2))
        );
        t.failed_at(a, "alice", now);
        t.failed_at(a, "alice", now);
        assert_eq!(
            t.check_at(a, "alice", now),
            Verdict::Delay(Duration::from_secs(4)),
            "capped at max_delay"
        );
        t.failed_at(a, "alice", now);
        assert_eq!(
            t.check_at(a, "alice", now),
            Verdict::Locked(Duration::from_secs(60))
        );
        // Another user from another address is not affected.
        assert_eq!(t.check_at(ip("192.0.2.9"), "bob", now), Verdict::Allow);
        // The lockout ends.
        let later = now + Duration::from_secs(61);
        assert_eq!(t.check_at(ip("192.0.2.9"), "alice", later), Verdict::Allow);
    }

    #[test]
    fn address_is_throttled_across_user_names() {
        let t = LoginThrottle::new(cfg(), "test");
        let now = Instant::now();
        let a = ip("192.0.2.1");
        for i in 0..5 {
            t.failed_at(a, &format!("user{i}"), now);
        }
        assert_eq!(
            t.check_at(a, "someone-new", now),
            Verdict::Delay(Duration::from_secs(2))
        );
        assert_eq!(
            t.check_at(ip("192.0.2.2"), "someone-new", now),
            Verdict::Allow
        );
    }

    #[test]
    fn ipv6_counts_per_64_and_exempt_networks_are_not_throttled_by_address() {
        let t = LoginThrottle::new(cfg(), "test");
        let now = Instant::now();
        for i in 1..=5 {
            t.failed_at(ip(&format!("2001:db8:1:2::{i}")), &format!("u{i}"), now);
        }
        assert!(matches!(
            t.check_at(ip("2001:db8:1:2::99"), "x", now),
            Verdict::Delay(_)
        ));
        assert_eq!(t.check_at(ip("2001:db8:1:3::1"), "x", now), Verdict::Allow);
        for i in 0..30 {
            t.failed_at(ip("198.51.100.7"), &format!("v{i}"), now);
        }
        assert_eq!(t.check_at(ip("198.51.100.7"), "fresh", now), Verdict::Allow);
    }

    #[test]
    fn success_forgets_the_user_and_failures_expire() {
        let t = LoginThrottle::new(cfg(), "test");
        let now = Instant::now();
        let a = ip("192.0.2.1");
        for _ in 0..3 {
            t.failed_at(a, "alice", now);
        }
        t.succeeded(a, "alice");
        assert_eq!(t.check_at(a, "alice", now), Verdict::Allow);
        for _ in 0..3 {
            t.failed_at(a, "bob", now);
        }
        let later = now + Duration::from_secs(301);
        assert_eq!(t.check_at(a, "bob", later), Verdict::Allow);
    }

    #[test]
    fn memory_is_bounded() {
        let mut c = cfg();
        c.max_tracked = 50;
        let t = LoginThrottle::new(c, "test");
        let now = Instant::now();
        for i in 0..500u32 {
            let [a, b, cc, d] = i.to_be_bytes();
            let addr = IpAddr::from([10, a ^ b, cc, d]);
            t.failed_at(
                addr,
                &format!("user{i}"),
                now + Duration::from_millis(u64::from(i)),
            );
        }
        assert!(t.tracked() <= 50, "{}", t.tracked());
    }

    #[test]
    fn config_problems_are_reported() {
        let mut c = cfg();
        c.max_delay = Duration::from_millis(1);
        c.window = Duration::ZERO;
        let mut v = Validator::new();
        c.validate(&mut v);
        assert_eq!(v.problems().len(), 2);
    }
}
