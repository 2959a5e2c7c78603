//! Connection reuse and the per-destination limit. Idle connections are
//! kept per destination (an MX domain or a `host:port`) for a short time,
//! so a burst of messages to one store or one remote domain goes over one
//! session instead of a handshake each; a semaphore per destination caps
//! how many deliveries talk to it at once (`max_per_destination`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::conn::Conn;

/// The pools of one channel.
#[derive(Debug)]
pub struct Pool {
    idle: Mutex<HashMap<String, Vec<(tokio::time::Instant, Conn)>>>,
    limits: Mutex<HashMap<String, Arc<Semaphore>>>,
    per_destination: usize,
    idle_timeout: Duration,
    max_transactions: u32,
}

impl Pool {
    /// A pool allowing `per_destination` deliveries per destination at
    /// once, keeping idle connections for `idle_timeout` and for at most
    /// `max_transactions` transactions each.
    pub fn new(per_destination: u32, idle_timeout: Duration, max_transactions: u32) -> Self {
        Self {
            idle: Mutex::new(HashMap::new()),
            limits: Mutex::new(HashMap::new()),
            per_destination: per_destination.max(1) as usize,
            idle_timeout,
            max_transactions: max_transactions.max(1),
        }
    }

    /// Waits for a delivery slot to `dest`.
    pub async fn permit(&self, dest: &str) -> Option<OwnedSemaphorePermit> {
        let sem = {
            let mut l = self.limits.lock().unwrap_or_else(|p| p.into_inner());
            l.entry(dest.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_destination)))
                .clone()
        };
        sem.acquire_owned().await.ok()
    }

    /// An idle connection to `dest` that has not expired, if any.
    pub fn take(&self, dest: &str) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.get_mut(dest)?;
        while let Some((since, conn)) = list.pop() {
            if since.elapsed() < self.idle_timeout {
                return Some(conn);
            }
            // Expired: dropped (the server times idle clients out anyway).
        }
        None
    }

    /// Returns a connection after a completed transaction. Returns it back
    /// when it should rather be closed (too old, too many transactions).
    pub fn put(&self, dest: &str, conn: Conn) -> Option<Conn> {
        if self.idle_timeout.is_zero() || conn.transactions >= self.max_transactions {
            return Some(conn);
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.entry(dest.to_string()).or_default();
        list.retain(|(since, _)| since.elapsed() < self.idle_timeout);
        list.push((tokio::time::Instant::now(), conn));
        None
    }
}
