//! The server-side session table. The cookie carries only a random
//! 256-bit token; who the user is, which store holds their mail and the
//! CSRF token live here, so a forged or stolen-and-expired cookie is
//! worth nothing and logout really ends the session.
//!
//! A session ends after `idle_timeout` without a request, or
//! `absolute_timeout` after login whatever happens. The table is bounded
//! (`max_sessions`): when full, a login ends the least recently used
//! session. Sessions do not survive a restart of the MEM; users log in
//! again (the MEM holds no state that matters, design.md).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use tokio_util::sync::CancellationToken;

use crate::config::SessionConfig;
use crate::stores::StoreTarget;

/// What a login establishes.
#[derive(Debug)]
pub struct Session {
    /// The user's primary address (sent to the store as `X-Tiermail-User`).
    pub user: String,
    /// The store that holds the user's mail, fixed at login.
    pub store: Arc<StoreTarget>,
    /// The token the web client sends in `X-Tiermail-CSRF` on every
    /// state-changing request.
    pub csrf: String,
    /// Cancelled when the session ends (logout, expiry, eviction): its
    /// push streams close with it.
    pub ended: CancellationToken,
}

struct Entry {
    session: Arc<Session>,
    created: Instant,
    last_seen: Instant,
}

/// The table of live sessions.
pub struct Sessions {
    cfg: SessionConfig,
    map: Mutex<HashMap<[u8; 32], Entry>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("live", &self.len())
            .finish()
    }
}

/// 32 bytes from the operating system's CSPRNG.
pub(crate) fn random_token() -> Result<[u8; 32], getrandom::Error> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b)?;
    Ok(b)
}

impl Sessions {
    /// An empty table.
    pub fn new(cfg: SessionConfig) -> Self {
        Self {
            cfg,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Starts a session; returns the cookie value and the session.
    pub fn create(
        &self,
        user: String,
        store: Arc<StoreTarget>,
    ) -> Result<(String, Arc<Session>), getrandom::Error> {
        let id = random_token()?;
        let csrf = URL_SAFE_NO_PAD.encode(random_token()?);
        let session = Arc::new(Session {
            user,
            store,
            csrf,
            ended: CancellationToken::new(),
        });
        let now = Instant::now();
        if let Ok(mut map) = self.map.lock() {
            if map.len() >= self.cfg.max_sessions {
                self.sweep_locked(&mut map, now);
            }
            if map.len() >= self.cfg.max_sessions
                && let Some(oldest) = map.iter().min_by_key(|(_, e)| e.last_seen).map(|(k, _)| *k)
                && let Some(e) = map.remove(&oldest)
            {
                e.session.ended.cancel();
            }
            map.insert(
                id,
                Entry {
                    session: session.clone(),
                    created: now,
                    last_seen: now,
                },
            );
        }
        Ok((URL_SAFE_NO_PAD.encode(id), session))
    }

    /// The live session a cookie value names, marking it used. `None` for
    /// a malformed, unknown or expired token (an expired one is removed).
    pub fn get(&self, cookie: &str) -> Option<Arc<Session>> {
        let id = decode(cookie)?;
        let now = Instant::now();
        let mut map = self.map.lock().ok()?;
        let e = map.get_mut(&id)?;
        if self.expired(e, now) {
            if let Some(e) = map.remove(&id) {
                e.session.ended.cancel();
            }
            return None;
        }
        e.last_seen = now;
        Some(e.session.clone())
    }

    /// Ends the session a cookie value names (logout).
    pub fn remove(&self, cookie: &str) -> bool {
        let Some(id) = decode(cookie) else {
            return false;
        };
        let removed = self.map.lock().ok().and_then(|mut m| m.remove(&id));
        match removed {
            Some(e) => {
                e.session.ended.cancel();
                true
            }
            None => false,
        }
    }

    /// Removes expired sessions; returns how many are left.
    pub fn sweep(&self) -> usize {
        let now = Instant::now();
        match self.map.lock() {
            Ok(mut map) => {
                self.sweep_locked(&mut map, now);
                map.len()
            }
            Err(_) => 0,
        }
    }

    /// Sessions in the table (expired ones not yet swept included).
    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// True when no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn expired(&self, e: &Entry, now: Instant) -> bool {
        now.duration_since(e.last_seen) > self.cfg.idle_timeout
            || now.duration_since(e.created) > self.cfg.absolute_timeout
    }

    fn sweep_locked(&self, map: &mut HashMap<[u8; 32], Entry>, now: Instant) {
        map.retain(|_, e| {
            let keep = !self.expired(e, now);
            if !keep {
                e.session.ended.cancel();
            }
            keep
        });
    }

    /// Ages every session by `by` (tests of expiry without waiting).
    #[cfg(test)]
    pub(crate) fn age(&self, by: Duration) {
        if let Ok(mut map) = self.map.lock() {
            for e in map.values_mut() {
                e.created = e.created.checked_sub(by).unwrap_or(e.created);
                e.last_seen = e.last_seen.checked_sub(by).unwrap_or(e.last_seen);
            }
        }
    }
}

fn decode(cookie: &str) -> Option<[u8; 32]> {
    if cookie.len() != 43 {
        return None;
    }
    URL_SAFE_NO_PAD.decode(cookie).ok()?.try_into().ok()
}

/// How often expired sessions are swept out.
pub(crate) const SWEEP_EVERY: Duration = Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Arc<StoreTarget> {
        Arc::new(StoreTarget::fixed("store1", "https://127.0.0.1:1").expect("target"))
    }

    fn cfg(max: usize) -> SessionConfig {
        SessionConfig {
            idle_timeout: Duration::from_secs(60),
            absolute_timeout: Duration::from_secs(600),
            max_sessions: max,
        }
    }

    #[test]
    fn tokens_are_random_and_unguessable() {
        let s = Sessions::new(cfg(10));
        let (a, sa) = s.create("alice@example.test".into(), target()).expect("a");
        let (b, _) = s.create("alice@example.test".into(), target()).expect("b");
        assert_ne!(a, b);
        assert_eq!(a.len(), 43, "256 bits in base64url");
        assert_eq!(
            s.get(&a).map(|x| x.user.clone()).as_deref(),
            Some("alice@example.test")
        );
        assert_eq!(sa.csrf.len(), 43);
        // One character changed is another (unknown) session.
        let mut forged = a.clone().into_bytes();
        forged[5] = if forged[5] == b'A' { b'B' } else { b'A' };
        assert!(s.get(&String::from_utf8(forged).expect("ascii")).is_none());
        assert!(s.get("short").is_none());
        assert!(s.get(&"!".repeat(43)).is_none());
    }

    #[test]
    fn idle_and_absolute_expiry_and_logout() {
        let s = Sessions::new(cfg(10));
        let (a, _) = s.create("a@x".into(), target()).expect("a");
        s.age(Duration::from_secs(61));
        assert!(s.get(&a).is_none(), "idle too long");
        assert!(s.is_empty(), "an expired session is removed on use");

        let (b, _) = s.create("b@x".into(), target()).expect("b");
        for _ in 0..10 {
            s.age(Duration::from_secs(55));
            assert!(s.get(&b).is_some(), "kept alive by use");
        }
        s.age(Duration::from_secs(55));
        assert!(s.get(&b).is_none(), "past the absolute timeout");

        let (c, _) = s.create("c@x".into(), target()).expect("c");
        assert!(s.remove(&c));
        assert!(s.get(&c).is_none());
    }

    #[test]
    fn the_table_is_bounded() {
        let s = Sessions::new(cfg(3));
        let (first, _) = s.create("1@x".into(), target()).expect("1");
        s.age(Duration::from_secs(1));
        for i in 2..=4 {
            s.create(format!("{i}@x"), target()).expect("n");
        }
        assert_eq!(s.len(), 3);
        assert!(s.get(&first).is_none(), "the least recently used went");
    }
}
