//! Quotas (RFC 9208 STORAGE and MESSAGE resources).
//!
//! Limits come from the directory with each call; the store keeps usage and
//! a small state machine per user:
//!
//! - under the warning threshold: accept;
//! - crossing `warn_percent`: accept and report `warning_crossed` exactly
//!   once, until usage falls back below the threshold;
//! - a message that does not fit: refuse temporarily (LMTP `452 4.2.2`)
//!   from the first refusal until `grace_period` has passed, then
//!   permanently (`552 5.2.2`); a delivery that fits again ends the episode;
//! - the guaranteed path (and `enforce = false`) always accepts.

use serde::{Deserialize, Serialize};

use crate::config::QuotaConfig;
use crate::db::Cf;
use crate::engine::{Store, lock};
use crate::error::{Result, StoreError};
use crate::records::QuotaRecord;

/// A user's limits, from the directory. `None` means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaLimits {
    /// STORAGE limit in octets.
    pub bytes: Option<u64>,
    /// MESSAGE limit.
    pub messages: Option<u64>,
}

impl QuotaLimits {
    /// No limit at all.
    pub const UNLIMITED: QuotaLimits = QuotaLimits {
        bytes: None,
        messages: None,
    };
}

/// One user's usage, for GETQUOTA and the quota report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaUsage {
    /// The user.
    pub user: String,
    /// Octets used.
    pub bytes: u64,
    /// Messages stored.
    pub messages: u64,
    /// Last limits the caller passed.
    pub limits: QuotaLimits,
    /// A warning was reported for the current crossing.
    pub warned: bool,
    /// Start of the current over-quota episode (Unix ms).
    pub over_since: Option<i64>,
}

/// Decides whether `add_bytes` more octets (one message) may be stored and
/// returns the new record plus whether the warning threshold was crossed.
pub(crate) fn decide(
    rec: &QuotaRecord,
    limits: &QuotaLimits,
    add_bytes: u64,
    now_ms: i64,
    cfg: &QuotaConfig,
    guaranteed: bool,
) -> Result<(QuotaRecord, bool), Box<(QuotaRecord, StoreError)>> {
    let mut next = rec.clone();
    next.limit_bytes = limits.bytes;
    next.limit_messages = limits.messages;
    let bytes = rec.bytes.saturating_add(add_bytes);
    let messages = rec.messages.saturating_add(1);
    let fits =
        limits.bytes.is_none_or(|l| bytes <= l) && limits.messages.is_none_or(|l| messages <= l);
    if fits || guaranteed || !cfg.enforce {
        next.bytes = bytes;
        next.messages = messages;
        if fits {
            next.over_since = None;
        }
        let crossed = above(&next, cfg.warn_percent) && !next.warned;
        if crossed {
            next.warned = true;
        }
        return Ok((next, crossed));
    }
    let since = *next.over_since.get_or_insert(now_ms);
    let grace = i64::try_from(cfg.grace_period.as_millis()).unwrap_or(i64::MAX);
    let until = since.saturating_add(grace);
    if now_ms < until {
        Err(Box::new((
            next,
            StoreError::OverQuotaTemporary {
                until_unix_ms: until,
            },
        )))
    } else {
        Err(Box::new((next, StoreError::OverQuotaPermanent)))
    }
}

fn above(rec: &QuotaRecord, pct: u8) -> bool {
    let over = |used: u64, limit: Option<u64>| {
        limit.is_some_and(|l| u128::from(used) * 100 >= u128::from(l) * u128::from(pct))
    };
    over(rec.bytes, rec.limit_bytes) || over(rec.messages, rec.limit_messages)
}

/// After usage dropped: re-arm the warning once usage is below the threshold.
pub(crate) fn rearm_warning(rec: &mut QuotaRecord, pct: u8) {
    if rec.warned && !above(rec, pct) {
        rec.warned = false;
    }
}

fn usage(user: String, r: &QuotaRecord) -> QuotaUsage {
    QuotaUsage {
        user,
        bytes: r.bytes,
        messages: r.messages,
        limits: QuotaLimits {
            bytes: r.limit_bytes,
            messages: r.limit_messages,
        },
        warned: r.warned,
        over_since: r.over_since,
    }
}

impl Store {
    /// One user's usage (GETQUOTAROOT).
    pub fn quota_usage(&self, user: &str) -> Result<QuotaUsage> {
        let q = self.quota_state(user)?;
        let r = lock(&q).clone();
        Ok(usage(user.to_string(), &r))
    }

    /// Usage of every user of the store, for the operator's quota report.
    pub fn quota_report(&self) -> Result<Vec<QuotaUsage>> {
        let mut out = Vec::new();
        for (k, v) in self.inner.db.scan(Cf::Meta, b"q/")? {
            let user = String::from_utf8_lossy(&k[2..]).into_owned();
            let r: QuotaRecord = crate::db::decode(&k, &v)?;
            out.push(usage(user, &r));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn state_machine() {
        let cfg = QuotaConfig {
            enforce: true,
            warn_percent: 80,
            grace_period: Duration::from_secs(10),
        };
        let lim = QuotaLimits {
            bytes: Some(100),
            messages: None,
        };
        let r0 = QuotaRecord::default();
        let (r1, w) = decide(&r0, &lim, 50, 0, &cfg, false).unwrap();
        assert!(!w);
        let (r2, w) = decide(&r1, &lim, 30, 0, &cfg, false).unwrap();
        assert!(w);
        let (r3, w) = decide(&r2, &lim, 5, 0, &cfg, false).unwrap();
        assert!(!w);
        let (r4, e) = *decide(&r3, &lim, 50, 1000, &cfg, false).unwrap_err();
        assert!(e.is_temporary());
        let (_, e) = *decide(&r4, &lim, 50, 11_000, &cfg, false).unwrap_err();
        assert!(matches!(e, StoreError::OverQuotaPermanent));
        let (r5, _) = decide(&r4, &lim, 50, 11_000, &cfg, true).unwrap();
        assert_eq!(r5.bytes, 135);
    }
}
