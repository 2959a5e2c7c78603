//! Connections per client address, across every listener of the process:
//! one address cannot take all of the listener's slots (the listener's
//! `max_connections` is the total). A slot is held for the whole session,
//! relayed part included, and given back when the session ends however it
//! ends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// The per-address counts.
#[derive(Debug)]
pub(crate) struct PerIpLimit {
    max: u32,
    counts: Mutex<HashMap<IpAddr, u32>>,
}

/// A held slot; dropping it gives the slot back.
#[derive(Debug)]
pub(crate) struct Slot {
    limit: Arc<PerIpLimit>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.limit.lock();
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

impl PerIpLimit {
    /// At most `max` connections per address; 0 means no limit.
    pub(crate) fn new(max: u32) -> Arc<Self> {
        Arc::new(Self {
            max,
            counts: Mutex::new(HashMap::new()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, u32>> {
        // Counts stay consistent even if a holder panicked mid-update:
        // each update is a single increment or decrement.
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A slot for `ip`, or `None` when it holds `max` already.
    pub(crate) fn acquire(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let mut counts = self.lock();
        let n = counts.entry(ip).or_insert(0);
        if self.max > 0 && *n >= self.max {
            return None;
        }
        *n += 1;
        drop(counts);
        Some(Slot {
            limit: self.clone(),
            ip,
        })
    }

    #[cfg(test)]
    fn held(&self, ip: IpAddr) -> u32 {
        self.lock().get(&ip).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_per_address_and_given_back() {
        let l = PerIpLimit::new(2);
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        let s1 = l.acquire(a).expect("first");
        let s2 = l.acquire(a).expect("second");
        assert!(l.acquire(a).is_none());
        let _other = l.acquire(b).expect("another address");
        drop(s1);
        let s3 = l.acquire(a).expect("freed");
        drop((s2, s3));
        assert_eq!(l.held(a), 0);
        assert!(l.lock().get(&a).is_none(), "empty entries are removed");
        let unlimited = PerIpLimit::new(0);
        let held: Vec<Slot> = (0..100).filter_map(|_| unlimited.acquire(a)).collect();
        assert_eq!(held.len(), 100);
    }
}
