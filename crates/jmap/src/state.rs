//! Account state strings (RFC 8620 1.6, 5.2), built from the store.
//!
//! A state lists every mailbox of the account as
//! `id.highestmodseq.uidnext.meta` (hex, `-` between mailboxes), where
//! `meta` is a digest of the mailbox's name, role and subscription. The
//! same string serves Mailbox, Email and Thread. Because every component
//! only grows while a mailbox lives, a newer state differs from an older
//! one exactly where something changed, and `/changes` reads only those
//! mailboxes' changed rows and tombstones. IMAP changes move HIGHESTMODSEQ
//! too, so JMAP clients see them at once.

use std::collections::BTreeMap;

use mail_store::MailboxCounters;

use crate::index::Snapshot;

/// One mailbox's part of a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// HIGHESTMODSEQ.
    pub modseq: u64,
    /// UIDNEXT.
    pub uidnext: u32,
    /// Digest of name, role and subscription.
    pub meta: u32,
}

/// A decoded state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// Mailbox id -> entry.
    pub mailboxes: BTreeMap<u64, Entry>,
}

/// FNV-1a, stable across releases (unlike std's hasher).
fn fnv(parts: &[&[u8]]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for p in parts {
        for b in p.iter().chain(&[0u8]) {
            h ^= u32::from(*b);
            h = h.wrapping_mul(0x0100_0193);
        }
    }
    h
}

/// The `meta` digest of a mailbox.
pub fn meta(name: &str, role: Option<&str>, subscribed: bool) -> u32 {
    fnv(&[
        name.as_bytes(),
        role.unwrap_or("").as_bytes(),
        if subscribed { b"1" } else { b"0" },
    ])
}

impl State {
    pub(crate) fn of(s: &Snapshot) -> State {
        Self::of_counters(s.mailboxes.iter().map(|m| &m.c))
    }

    /// The state of mailboxes with these counters.
    pub fn of_counters<'a>(counters: impl Iterator<Item = &'a MailboxCounters>) -> State {
        let mut mailboxes = BTreeMap::new();
        for c in counters {
            mailboxes.insert(
                c.info.id,
                Entry {
                    modseq: c.highestmodseq,
                    uidnext: c.uidnext,
                    meta: meta(
                        &c.info.path.name,
                        crate::mailbox::role(&c.info),
                        c.info.subscribed,
                    ),
                },
            );
        }
        State { mailboxes }
    }

    /// The opaque string.
    pub fn encode(&self) -> String {
        if self.mailboxes.is_empty() {
            return "0".into();
        }
        self.mailboxes
            .iter()
            .map(|(id, e)| format!("{id:x}.{:x}.{:x}.{:x}", e.modseq, e.uidnext, e.meta))
            .collect::<Vec<_>>()
            .join("-")
    }

    /// Decodes a string made by [`State::encode`]; `None` for anything else.
    pub fn parse(s: &str) -> Option<State> {
        let mut mailboxes = BTreeMap::new();
        if s == "0" {
            return Some(State { mailboxes });
        }
        for part in s.split('-') {
            let mut f = part.split('.');
            let id = u64::from_str_radix(f.next()?, 16).ok()?;
            let modseq = u64::from_str_radix(f.next()?, 16).ok()?;
            let uidnext = u32::from_str_radix(f.next()?, 16).ok()?;
            let meta = u32::from_str_radix(f.next()?, 16).ok()?;
            if f.next().is_some() {
                return None;
            }
            mailboxes.insert(
                id,
                Entry {
                    modseq,
                    uidnext,
                    meta,
                },
            );
        }
        Some(State { mailboxes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut s = State::default();
        assert_eq!(State::parse(&s.encode()), Some(s.clone()));
        s.mailboxes.insert(
            3,
            Entry {
                modseq: 17,
                uidnext: 5,
                meta: meta("INBOX", Some("inbox"), true),
            },
        );
        s.mailboxes.insert(
            10,
            Entry {
                modseq: 1,
                uidnext: 1,
                meta: 9,
            },
        );
        assert_eq!(State::parse(&s.encode()), Some(s));
        assert_eq!(State::parse("x"), None);
        assert_eq!(State::parse("1.2.3"), None);
    }
}
