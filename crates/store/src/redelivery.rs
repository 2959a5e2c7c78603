//! Exactly once where the protocol lets us: a relay that lost the store's
//! `250` (killed between our reply and its own record of it) delivers the
//! message again. It sends the same delivery id each time (LMTP
//! `X-DELIVERY-ID`: its name and the queue id), so the store remembers,
//! for `redelivery_window`, which (delivery id, recipient) pairs it has
//! stored, in the same commit as the message's rows, and answers a
//! redelivery `250` without storing a second copy.
//!
//! | column family | key | value |
//! |---|---|---|
//! | `meta` | `dl/<delivery id>\0<recipient>` | when, ms since the epoch (big-endian u64) |
//! | `meta` | `dt/<when: big-endian u64><delivery id>\0<recipient>` | (the same, by time, for forgetting) |
//!
//! A redelivery that arrives while the first delivery of the same pair is
//! still being stored gets a temporary failure; the relay tries again and
//! then finds it remembered.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use rocksdb::{Direction, IteratorMode};

use crate::db::{Cf, Op, cf_handle};
use crate::engine::Store;
use crate::error::Result;

const BY_ID: &[u8] = b"dl/";
const BY_TIME: &[u8] = b"dt/";

/// Most records forgotten in one commit.
const FORGET_BATCH: usize = 10_000;

/// The (delivery id, recipient) keys being stored right now.
#[derive(Default)]
pub(crate) struct InFlight(Mutex<HashSet<Vec<u8>>>);

impl InFlight {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<Vec<u8>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The pair's key; recipients compare case-insensitively, as the relay
/// may spell an address differently on another attempt.
pub(crate) fn key(delivery_id: &str, rcpt: &str) -> Vec<u8> {
    [
        BY_ID,
        delivery_id.as_bytes(),
        b"\0",
        rcpt.to_ascii_lowercase().as_bytes(),
    ]
    .concat()
}

/// The writes that remember `key` (from [`key`]) as stored at `at_ms`;
/// committed with the message's own rows.
pub(crate) fn remember(key: &[u8], at_ms: u64) -> Vec<Op> {
    let pair = &key[BY_ID.len()..];
    vec![
        Op::Put(Cf::Meta, key.to_vec(), at_ms.to_be_bytes().to_vec()),
        Op::Put(
            Cf::Meta,
            [BY_TIME, at_ms.to_be_bytes().as_slice(), pair].concat(),
            Vec::new(),
        ),
    ]
}

/// Keys this delivery marked in flight, released when it is done (also on
/// an early return or a panic).
pub(crate) struct Claims<'a> {
    store: &'a Store,
    keys: Vec<Vec<u8>>,
}

impl Drop for Claims<'_> {
    fn drop(&mut self) {
        let mut set = self.store.inner.redeliveries.lock();
        for k in &self.keys {
            set.remove(k);
        }
    }
}

/// What is known of one recipient's pair before delivering.
pub(crate) enum Seen {
    /// Not stored before: deliver, and remember it.
    New,
    /// Stored before within the window: answer without storing.
    Before,
    /// Another delivery of the same pair is under way.
    Busy,
}

impl Store {
    pub(crate) fn claims(&self) -> Claims<'_> {
        Claims {
            store: self,
            keys: Vec::new(),
        }
    }

    /// Looks `key` up and, when it is new, claims it for this delivery.
    pub(crate) fn check_redelivery(&self, key: &[u8], claims: &mut Claims<'_>) -> Result<Seen> {
        if self.inner.cfg.redelivery_window.is_zero() {
            return Ok(Seen::New);
        }
        if !self.inner.redeliveries.lock().insert(key.to_vec()) {
            return Ok(Seen::Busy);
        }
        claims.keys.push(key.to_vec());
        let db = &self.inner.db.db;
        if db.get_cf(cf_handle(db, Cf::Meta)?, key)?.is_some() {
            return Ok(Seen::Before);
        }
        Ok(Seen::New)
    }

    /// Forgets the deliveries remembered longer than the configured
    /// window; returns how many. The service calls it periodically.
    pub fn forget_old_deliveries(&self) -> Result<usize> {
        let window = self.inner.cfg.redelivery_window;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let cutoff = now.saturating_sub(window.as_millis() as u64);
        let db = &self.inner.db.db;
        let meta = cf_handle(db, Cf::Meta)?;
        let mut total = 0;
        loop {
            let mut ops = Vec::new();
            for item in db.iterator_cf(meta, IteratorMode::From(BY_TIME, Direction::Forward)) {
                let (k, _) = item?;
                if !k.starts_with(BY_TIME) || ops.len() >= 2 * FORGET_BATCH {
                    break;
                }
                let rest = &k[BY_TIME.len()..];
                let Some((at, pair)) = rest.split_first_chunk::<8>() else {
                    ops.push(Op::Delete(Cf::Meta, k.to_vec()));
                    continue;
                };
                if u64::from_be_bytes(*at) >= cutoff {
                    break;
                }
                ops.push(Op::Delete(Cf::Meta, k.to_vec()));
                ops.push(Op::Delete(Cf::Meta, [BY_ID, pair].concat()));
            }
            if ops.is_empty() {
                return Ok(total);
            }
            let n = ops.len() / 2;
            self.commit(ops, Vec::new()).wait()?;
            total += n;
            if n < FORGET_BATCH {
                return Ok(total);
            }
        }
    }
}
