//! Failed-login throttling across connections, per client address and per
//! login name: every failure makes the next answer slower, and too many
//! failures lock the address or the name out for a while.
//!
//! A per-connection delay alone does not stop a guesser who opens many
//! connections, and a per-connection failure limit only makes them
//! reconnect. So the counts live here, shared by every session of a
//! process (the MMP, a store's IMAP, POP and SMTP AUTH):
//!
//! 1. Before checking a password, [`LoginThrottle::check`]: a locked-out
//!    address or name gets [`Verdict::Locked`]; the caller answers exactly
//!    as for a wrong password (after [`LoginThrottle::locked_delay`]) without
//!    asking the directory, so a lockout is not an oracle either.
//! 2. After a failed check, [`LoginThrottle::failed`] counts the failure
//!    for both keys and returns the delay to wait, measured from when the
//!    check began, before answering. The first failure waits
//!    `failure_delay`; each further one doubles it up to `max_delay`.
//!    Unknown users and wrong passwords count the same.
//! 3. After a successful login, [`LoginThrottle::succeeded`] forgets the
//!    name's failures (not the address's: one good account must not reset
//!    the count of a guesser trying others from the same address).
//!
//! Failures older than `window` are forgotten. IPv6 clients are counted
//! per /64 (one host usually holds a whole /64), IPv4-mapped addresses as
//! IPv4. Memory is bounded: each table keeps at most `max_entries`, the
//! least recently failed forgotten first.
//!
//! Metric (meter `mail-core`): counter `login_throttle.events` with
//! attributes `service` and `event` (`failure`, `lockout_ip`,
//! `lockout_user`, `refused`).
//!
//! ```
//! use std::time::Duration;
//! use mail_core::login_throttle::{LoginThrottle, LoginThrottleConfig, Verdict};
//!
//! let t = LoginThrottle::new("doc", &LoginThrottleConfig::default());
//! let ip = "192.0.2.7".parse().unwrap();
//! assert_eq!(t.check(ip, "alice"), Verdict::Allow);
//! assert_eq!(t.failed(ip, "alice"), Duration::from_secs(2));
//! assert_eq!(t.failed(ip, "alice"), Duration::from_secs(4));
//! t.succeeded(ip, "alice");
//! ```

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lru::LruCache;
use opentelemetry::KeyValue;
use opentelemetry::metrics::Counter;
use serde::{Deserialize, Serialize};

use crate::{Validate, Validator};

/// `[login_throttle]`: how failed logins slow down and lock out guessers.
///
/// ```toml
/// [login_throttle]
/// failure_delay = "2s"
/// max_delay = "15s"
/// ip_lockout_after = 30
/// user_lockout_after = 10
/// lockout = "5m"
/// window = "15m"
/// max_entries = 100000
/// ```
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LoginThrottleConfig {
    /// Wait before answering the first failed login; each further failure
    /// (of the address or the name) doubles it.
    #[serde(default = "default_failure_delay", with = "humantime_serde")]
    pub failure_delay: Duration,
    /// The longest wait before a failure is answered.
    #[serde(default = "default_max_delay", with = "humantime_serde")]
    pub max_delay: Duration,
    /// Failures from one client address (IPv6: one /64) within `window`
    /// before it is locked out; 0 never locks addresses out (a site whose
    /// users share one NAT address may want that).
    #[serde(default = "default_ip_lockout_after")]
    pub ip_lockout_after: u32,
    /// Failures for one login name within `window` before it is locked
    /// out; 0 never locks names out.
    #[serde(default = "default_user_lockout_after")]
    pub user_lockout_after: u32,
    /// How long a lockout lasts.
    #[serde(default = "default_lockout", with = "humantime_serde")]
    pub lockout: Duration,
    /// Failures older than this are forgotten.
    #[serde(default = "default_window", with = "humantime_serde")]
    pub window: Duration,
    /// Addresses (and, separately, names) tracked at once.
    #[serde(default = "default_max_entries")]
    pub max_entries: usize,
}

fn default_failure_delay() -> Duration {
    Duration::from_secs(2)
}
fn default_max_delay() -> Duration {
    Duration::from_secs(15)
}
fn default_ip_lockout_after() -> u32 {
    30
}
fn default_user_lockout_after() -> u32 {
    10
}
fn default_lockout() -> Duration {
    Duration::from_secs(300)
}
fn default_window() -> Duration {
    Duration::from_secs(900)
}
fn default_max_entries() -> usize {
    100_000
}

impl Default for LoginThrottleConfig {
    fn default() -> Self {
        Self {
            failure_delay: default_failure_delay(),
            max_delay: default_max_delay(),
            ip_lockout_after: default_ip_lockout_after(),
            user_lockout_after: default_user_lockout_after(),
            lockout: default_lockout(),
            window: default_window(),
            max_entries: default_max_entries(),
        }
    }
}

impl Validate for LoginThrottleConfig {
    fn validate(&self, v: &mut Validator) {
        if self.failure_delay > Duration::from_secs(60) {
            v.error("failure_delay", "must be at most one minute");
        }
        if self.max_delay < self.failure_delay {
            v.error("max_delay", "must not be shorter than failure_delay");
        }
        if self.max_delay > Duration::from_secs(300) {
            v.error("max_delay", "must be at most five minutes");
        }
        if self.lockout > Duration::from_secs(24 * 3600) {
            v.error("lockout", "must be at most one day");
        }
        if self.window.is_zero() {
            v.error("window", "must be longer than zero");
        }
        if self.max_entries == 0 {
            v.error("max_entries", "must be at least 1");
        }
    }
}

/// What [`LoginThrottle::check`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Check the password.
    Allow,
    /// Do not check it: answer as for a wrong password.
    Locked {
        /// Which key is locked.
        scope: Scope,
        /// How long the lockout still lasts (for the log, never the client).
        remaining: Duration,
    },
}

/// Which count a lockout comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The client address (or its /64).
    Address,
    /// The login name.
    User,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

impl Entry {
    fn fresh(now: Instant) -> Self {
        Self {
            failures: 0,
            last: now,
            locked_until: None,
        }
    }

    fn locked(&self, now: Instant) -> Option<Duration> {
        self.locked_until
            .filter(|&u| u > now)
            .map(|u| u.duration_since(now))
    }

    /// Forgets failures older than the window (a running lockout stays).
    fn expire(&mut self, now: Instant, window: Duration) {
        if self.locked(now).is_none() && now.duration_since(self.last) >= window {
            *self = Self::fresh(now);
        }
    }
}

struct Tables {
    ips: LruCache<IpAddr, Entry>,
    users: LruCache<String, Entry>,
}

/// The shared failure counts of one process (see the module docs).
pub struct LoginThrottle {
    config: LoginThrottleConfig,
    tables: Mutex<Tables>,
    service: &'static str,
    events: Counter<u64>,
}

impl std::fmt::Debug for LoginThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginThrottle")
            .field("service", &self.service)
            .field("config", &self.config)
            .finish()
    }
}

/// The key an address is counted under: IPv4 as is (IPv4-mapped IPv6
/// included), IPv6 by its /64.
fn ip_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The key a login name is counted under: case-folded, bounded in length
/// so that a client cannot make the table hold long strings.
fn user_key(login: &str) -> String {
    let mut k: String = login.trim().chars().take(256).collect();
    k.make_ascii_lowercase();
    k
}

impl LoginThrottle {
    /// Empty counts for `service` (a metric attribute: `mmp`, `imap`, ...).
    pub fn new(service: &'static str, config: &LoginThrottleConfig) -> Self {
        let cap = NonZeroUsize::new(config.max_entries).unwrap_or(NonZeroUsize::MIN);
        let meter = opentelemetry::global::meter("mail-core");
        Self {
            config: config.clone(),
            tables: Mutex::new(Tables {
                ips: LruCache::new(cap),
                users: LruCache::new(cap),
            }),
            service,
            events: meter
                .u64_counter("login_throttle.events")
                .with_description(
                    "Failed-login throttling: failure (counted), lockout_ip and lockout_user (a lockout began), refused (an attempt during a lockout)",
                )
                .build(),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &LoginThrottleConfig {
        &self.config
    }

    fn event(&self, event: &'static str) {
        self.events.add(
            1,
            &[
                KeyValue::new("service", self.service),
                KeyValue::new("event", event),
            ],
        );
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        // The tables hold plain counts; a panic elsewhere cannot leave them
        // half-written in a way that matters.
        self.tables
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a login by `login` from `ip` may be checked at all.
    pub fn check(&self, ip: IpAddr, login: &str) -> Verdict {
        let now = Instant::now();
        let window = self.config.window;
        let mut t = self.tables();
        if let Some(e) = t.ips.peek_mut(&ip_key(ip)) {
            e.expire(now, window);
            if let Some(remaining) = e.locked(now) {
                drop(t);
                self.event("refused");
                return Verdict::Locked {
                    scope: Scope::Address,
                    remaining,
                };
            }
        }
        if let Some(e) = t.users.peek_mut(&user_key(login)) {
            e.expire(now, window);
            if let Some(remaining) = e.locked(now) {
                drop(t);
                self.event("refused");
                return Verdict::Locked {
                    scope: Scope::User,
                    remaining,
                };
            }
        }
        Verdict::Allow
    }

    /// Counts a failed login and returns how long to wait, from when the
    /// check began, before answering it.
    pub fn failed(&self, ip: IpAddr, login: &str) -> Duration {
        let now = Instant::now();
        let c = &self.config;
        let mut lockouts = Vec::new();
        let worst = {
            let mut t = self.tables();
            let mut bump = |e: &mut Entry, limit: u32, event: &'static str| {
                e.expire(now, c.window);
                e.failures = e.failures.saturating_add(1);
                e.last = now;
                let failures = e.failures;
                if limit > 0 && failures >= limit && e.locked(now).is_none() {
                    // Counting starts afresh once the lockout is over.
                    e.locked_until = Some(now + c.lockout);
                    e.failures = 0;
                    lockouts.push(event);
                }
                failures
            };
            let ip_entry = t.ips.get_or_insert_mut(ip_key(ip), || Entry::fresh(now));
            let a = bump(ip_entry, c.ip_lockout_after, "lockout_ip");
            let user_entry = t
                .users
                .get_or_insert_mut(user_key(login), || Entry::fresh(now));
            let b = bump(user_entry, c.user_lockout_after, "lockout_user");
            a.max(b).max(1)
        };
        self.event("failure");
        for e in lockouts {
            self.event(e);
        }
        self.delay_for(worst)
    }

    /// The wait before answering an attempt refused by a lockout: the
    /// longest one, so that hammering a locked door is slow.
    pub fn locked_delay(&self) -> Duration {
        self.config.max_delay
    }

    /// Forgets the failures of `login` after it logged in.
    pub fn succeeded(&self, _ip: IpAddr, login: &str) {
        let key = user_key(login);
        let mut t = self.tables();
        let unlocked = t
            .users
            .peek(&key)
            .is_some_and(|e| e.locked(Instant::now()).is_none());
        if unlocked {
            t.users.pop(&key);
        }
    }

    /// `failure_delay * 2^(failures - 1)`, at most `max_delay`.
    fn delay_for(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(20);
        self.config
            .failure_delay
            .saturating_mul(1u32 << doublings)
            .min(self.config.max_delay)
    }

    /// Addresses and names tracked now (for tests and debugging).
    pub fn tracked(&self) -> (usize, usize) {
        let t = self.tables();
        (t.ips.len(), t.users.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> LoginThrottleConfig {
        LoginThrottleConfig {
            failure_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(800),
            ip_lockout_after: 6,
            user_lockout_after: 3,
            lockout: Duration::from_secs(60),
            window: Duration::from_secs(60),
            max_entries: 4,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn delay_grows_and_is_capped() {
        let t = LoginThrottle::new(
            "test",
            &LoginThrottleConfig {
                user_lockout_after: 0,
                ip_lockout_after: 0,
                ..cfg()
            },
        );
        let a = ip("192.0.2.1");
        let got: Vec<u128> = (0..6).map(|_| t.failed(a, "x").as_millis()).collect();
        assert_eq!(got, [100, 200, 400, 800, 800, 800]);
        assert_eq!(t.check(a, "x"), Verdict::Allow);
    }

    #[test]
    fn a_name_is_locked_out_from_every_address_and_success_resets_it() {
        let t = LoginThrottle::new("test", &cfg());
        t.failed(ip("192.0.2.1"), "Alice");
        t.failed(ip("192.0.2.2"), "alice");
        t.succeeded(ip("192.0.2.3"), "ALICE");
        t.failed(ip("192.0.2.1"), "alice");
        t.failed(ip("192.0.2.2"), "alice");
        assert_eq!(t.check(ip("192.0.2.9"), "alice"), Verdict::Allow);
        t.failed(ip("192.0.2.3"), "alice");
        assert!(matches!(
            t.check(ip("192.0.2.9"), " Alice"),
            Verdict::Locked {
                scope: Scope::User,
                ..
            }
        ));
        // Another name from the same addresses is fine.
        assert_eq!(t.check(ip("192.0.2.1"), "bob"), Verdict::Allow);
        // A success during the lockout does not lift it.
        t.succeeded(ip("192.0.2.1"), "alice");
        assert!(matches!(
            t.check(ip("192.0.2.1"), "alice"),
            Verdict::Locked { .. }
        ));
    }

    #[test]
    fn an_address_is_locked_out_whatever_name_it_tries() {
        let t = LoginThrottle::new("test", &cfg());
        let a = ip("2001:db8:1:2:aaaa::1");
        for i in 0..6 {
            t.failed(a, &format!("user{i}"));
        }
        // Same /64, another host part: the same key.
        assert!(matches!(
            t.check(ip("2001:db8:1:2:bbbb::9"), "new"),
            Verdict::Locked {
                scope: Scope::Address,
                ..
            }
        ));
        assert_eq!(t.check(ip("2001:db8:1:3::1"), "new"), Verdict::Allow);
        assert_eq!(ip_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
    }

    #[test]
    fn failures_expire_after_the_window_and_tables_stay_bounded() {
        let t = LoginThrottle::new(
            "test",
            &LoginThrottleConfig {
                window: Duration::from_millis(30),
                ..cfg()
            },
        );
        let a = ip("192.0.2.1");
        t.failed(a, "alice");
        t.failed(a, "alice");
        std::thread::sleep(Duration::from_millis(40));
        // Forgotten: the next failure is a first one again.
        assert_eq!(t.failed(a, "alice"), Duration::from_millis(100));
        for i in 0..50 {
            t.failed(ip(&format!("198.51.100.{i}")), &format!("u{i}"));
        }
        assert_eq!(t.tracked(), (4, 4));
    }

    #[test]
    fn config_is_validated() {
        let mut v = Validator::new();
        LoginThrottleConfig {
            max_delay: Duration::from_millis(1),
            window: Duration::ZERO,
            max_entries: 0,
            ..LoginThrottleConfig::default()
        }
        .validate(&mut v);
        let keys: Vec<&str> = v.problems().iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["max_delay", "window", "max_entries"]);
    }
}
