//! Queue ids: 24 upper-case hex digits, sortable by arrival and unique
//! across restarts and relays.
//!
//! `TTTTTTTTTTTTT SSSSS BBBBBB`: 13 digits of microseconds since the Unix
//! epoch (good until the year 2112), a 5-digit sequence within the same
//! microsecond, and 6 digits chosen at random when the spool opens. The
//! timestamp never goes backwards within a process (a clock step back
//! reuses the last value and bumps the sequence), and the random part
//! keeps two processes, or one restarted after its clock went back,
//! apart. Lexical order is arrival order, which is what `ls` and jobctl's
//! scans want.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// A queue id; see the module documentation for its layout.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueId(String);

/// Length of a queue id in characters.
pub const QUEUE_ID_LEN: usize = 24;

impl QueueId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// When the id was made (microsecond precision).
    pub fn timestamp(&self) -> SystemTime {
        let micros = u64::from_str_radix(&self.0[..13], 16).unwrap_or(0);
        UNIX_EPOCH + std::time::Duration::from_micros(micros)
    }
}

impl QueueId {
    /// An empty id, only as a parser's starting value.
    pub(crate) fn placeholder() -> Self {
        QueueId(String::new())
    }
}

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for QueueId {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = s.len() == QUEUE_ID_LEN
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b));
        if ok {
            Ok(QueueId(s.to_string()))
        } else {
            Err(crate::Error::InvalidQueueId(s.chars().take(40).collect()))
        }
    }
}

/// Makes ids for one spool.
#[derive(Debug)]
pub(crate) struct IdGenerator {
    boot: u32,
    last: Mutex<(u64, u32)>,
}

impl IdGenerator {
    pub(crate) fn new() -> Self {
        let mut b = [0u8; 4];
        // A failing RNG still leaves time + sequence, unique in-process.
        let _ = getrandom::fill(&mut b);
        Self {
            boot: u32::from_le_bytes(b) & 0xFF_FFFF,
            last: Mutex::new((0, 0)),
        }
    }

    pub(crate) fn next(&self) -> QueueId {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let (mut ts, mut seq) = *last;
        if now > ts {
            ts = now;
            seq = 0;
        } else {
            seq += 1;
            if seq > 0xF_FFFF {
                ts += 1;
                seq = 0;
            }
        }
        *last = (ts, seq);
        QueueId(format!(
            "{:013X}{:05X}{:06X}",
            ts & 0xF_FFFF_FFFF_FFFF,
            seq,
            self.boot
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_sorted_and_parse() {
        let g = IdGenerator::new();
        let ids: Vec<QueueId> = (0..10_000).map(|_| g.next()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, ids, "strictly increasing");
        let parsed: QueueId = ids[0].as_str().parse().expect("parse");
        assert_eq!(parsed, ids[0]);
        assert!("xyz".parse::<QueueId>().is_err());
        let age = SystemTime::now()
            .duration_since(ids[0].timestamp())
            .expect("in the past");
        assert!(age.as_secs() < 60);
    }
}
