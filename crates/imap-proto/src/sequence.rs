//! Sequence sets (RFC 3501 `sequence-set`, RFC 9051 with `$` from RFC
//! 5182 SEARCHRES): ranges in any order, `*` for the largest number in
//! use.

use std::fmt;

use crate::cursor::{Cursor, Result};
use crate::error::ErrorKind;

/// One end of a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqNum {
    /// A number (never 0).
    Value(u32),
    /// `*`: the largest number in use.
    Star,
}

impl SeqNum {
    fn resolve(self, largest: u32) -> u32 {
        match self {
            SeqNum::Value(v) => v,
            SeqNum::Star => largest,
        }
    }
}

/// `a`, `a:b` (either order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqRange {
    /// First end as written.
    pub start: SeqNum,
    /// Second end as written (equal to `start` for a single number).
    pub end: SeqNum,
}

/// A sequence set, or `$` (the saved search result).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SequenceSet {
    /// Explicit ranges.
    Ranges(Vec<SeqRange>),
    /// `$`: the result saved by `SEARCH RETURN (SAVE)`.
    Saved,
}

impl SequenceSet {
    /// A set holding the given numbers, compressed into ranges.
    pub fn from_numbers(numbers: impl IntoIterator<Item = u32>) -> Self {
        let mut v: Vec<u32> = numbers.into_iter().collect();
        v.sort_unstable();
        v.dedup();
        let mut ranges: Vec<SeqRange> = Vec::new();
        for n in v {
            if let Some(last) = ranges.last_mut()
                && let SeqNum::Value(e) = last.end
                && e.checked_add(1) == Some(n)
            {
                last.end = SeqNum::Value(n);
                continue;
            }
            ranges.push(SeqRange {
                start: SeqNum::Value(n),
                end: SeqNum::Value(n),
            });
        }
        SequenceSet::Ranges(ranges)
    }

    /// The inclusive ranges `(low, high)` with `*` resolved to `largest`.
    /// `largest == 0` (an empty mailbox) makes `*` resolve to 0, which
    /// the caller treats as no match.
    pub fn ranges(&self, largest: u32) -> Vec<(u32, u32)> {
        match self {
            SequenceSet::Saved => Vec::new(),
            SequenceSet::Ranges(r) => r
                .iter()
                .map(|r| {
                    let (a, b) = (r.start.resolve(largest), r.end.resolve(largest));
                    (a.min(b), a.max(b))
                })
                .collect(),
        }
    }

    /// Whether `n` is in the set, with `*` meaning `largest`.
    pub fn contains(&self, n: u32, largest: u32) -> bool {
        self.ranges(largest)
            .iter()
            .any(|&(lo, hi)| lo <= n && n <= hi)
    }

    /// Whether the set uses `*`.
    pub fn has_star(&self) -> bool {
        matches!(self, SequenceSet::Ranges(r) if r.iter().any(|r| r.start == SeqNum::Star || r.end == SeqNum::Star))
    }

    pub(crate) fn parse(c: &mut Cursor<'_>) -> Result<Self> {
        if c.eat(b'$') {
            return Ok(SequenceSet::Saved);
        }
        let num = |c: &mut Cursor<'_>| -> Result<SeqNum> {
            if c.eat(b'*') {
                Ok(SeqNum::Star)
            } else {
                c.nz_number().map(SeqNum::Value)
            }
        };
        let mut ranges = Vec::new();
        loop {
            let start = num(c).map_err(|_| ErrorKind::Syntax("invalid sequence set"))?;
            let end = if c.eat(b':') {
                num(c).map_err(|_| ErrorKind::Syntax("invalid sequence set"))?
            } else {
                start
            };
            ranges.push(SeqRange { start, end });
            if ranges.len() > 100_000 {
                return Err(ErrorKind::Syntax("sequence set too long"));
            }
            if !c.eat(b',') {
                return Ok(SequenceSet::Ranges(ranges));
            }
        }
    }
}

impl fmt::Display for SequenceSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ranges = match self {
            SequenceSet::Saved => return f.write_str("$"),
            SequenceSet::Ranges(r) => r,
        };
        let num = |n: SeqNum| match n {
            SeqNum::Value(v) => v.to_string(),
            SeqNum::Star => "*".into(),
        };
        for (i, r) in ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(&num(r.start))?;
            if r.end != r.start {
                write!(f, ":{}", num(r.end))?;
            }
        }
        Ok(())
    }
}
