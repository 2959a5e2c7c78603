//! Counted slots per key, shared by every listener of a process: the
//! MMP's connections per client address, a store's sessions per user.
//!
//! A listener's `max_connections` bounds the total, but one address (a
//! misbehaving client, a guesser) or one account (a sync client opening a
//! connection per folder, a stolen password used from many places) could
//! still take every slot. A slot is held for as long as the session lives
//! and given back when it ends, however it ends (the [`Slot`] is dropped).
//!
//! ```
//! use mail_core::conn_limit::ConnLimit;
//!
//! let per_user = ConnLimit::new(2);
//! let a = per_user.acquire("alice".to_string()).unwrap();
//! let _b = per_user.acquire("alice".to_string()).unwrap();
//! assert!(per_user.acquire("alice".to_string()).is_none());
//! drop(a);
//! assert!(per_user.acquire("alice".to_string()).is_some());
//! ```

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The counts per key, with the most any key may hold.
pub struct ConnLimit<K: Hash + Eq + Clone> {
    max: u32,
    counts: Mutex<HashMap<K, u32>>,
}

impl<K: Hash + Eq + Clone> fmt::Debug for ConnLimit<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnLimit")
            .field("max", &self.max)
            .field("keys", &self.lock().len())
            .finish()
    }
}

/// A held slot; dropping it gives the slot back.
pub struct Slot<K: Hash + Eq + Clone> {
    limit: Arc<ConnLimit<K>>,
    key: K,
}

impl<K: Hash + Eq + Clone> fmt::Debug for Slot<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Slot")
    }
}

impl<K: Hash + Eq + Clone> Drop for Slot<K> {
    fn drop(&mut self) {
        let mut counts = self.limit.lock();
        if let Some(n) = counts.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

impl<K: Hash + Eq + Clone> ConnLimit<K> {
    /// At most `max` slots per key; 0 means no limit.
    pub fn new(max: u32) -> Arc<Self> {
        Arc::new(Self {
            max,
            counts: Mutex::new(HashMap::new()),
        })
    }

    /// The most slots one key may hold (0: no limit).
    pub fn max(&self) -> u32 {
        self.max
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, u32>> {
        // Counts stay consistent even if a holder panicked mid-update:
        // each update is a single increment or decrement.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot for `key`, or `None` when it holds `max` already.
    pub fn acquire(self: &Arc<Self>, key: K) -> Option<Slot<K>> {
        let mut counts = self.lock();
        let n = counts.entry(key.clone()).or_insert(0);
        if self.max > 0 && *n >= self.max {
            return None;
        }
        *n += 1;
        drop(counts);
        Some(Slot {
            limit: self.clone(),
            key,
        })
    }

    /// Slots `key` holds now.
    pub fn held(&self, key: &K) -> u32 {
        self.lock().get(key).copied().unwrap_or(0)
    }

    /// Keys holding at least one slot (the table never keeps empty ones).
    pub fn keys(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    #[test]
    fn slots_are_counted_per_key_and_given_back() {
        let l = ConnLimit::new(2);
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        let s1 = l.acquire(a).expect("first");
        let s2 = l.acquire(a).expect("second");
        assert!(l.acquire(a).is_none());
        let _other = l.acquire(b).expect("another key");
        drop(s1);
        let s3 = l.acquire(a).expect("freed");
        drop((s2, s3));
        assert_eq!(l.held(&a), 0);
        assert_eq!(l.keys(), 1, "empty entries are removed");
        let unlimited = ConnLimit::new(0);
        let held: Vec<_> = (0..100).filter_map(|_| unlimited.acquire(a)).collect();
        assert_eq!(held.len(), 100);
    }
}
