//! Email/changes (RFC 8620 5.2 for Email, RFC 8621 4.3), computed from
//! the mailboxes whose state entry moved: rows with a newer MODSEQ and
//! the store's tombstones of removed rows. An Email (a content digest) is
//! created when none of its copies existed at the old state and one
//! exists now, destroyed in the opposite case, updated when it existed
//! and exists (flags changed, or it moved between mailboxes).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use mail_jmap_proto::MethodError;
use mail_jmap_proto::args::ChangesArgs;
use mail_store::{Store, StoreError};
use serde_json::{Map, json};

use super::email_id;
use crate::api::{Args, Ctx, store_err};
use crate::index::Snapshot;
use crate::state::State;

/// How one Email changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Created,
    Updated,
    Destroyed,
}

/// The outcome of a change computation.
pub(crate) struct Changes {
    pub emails: BTreeMap<Arc<str>, Change>,
    /// The state reached (the new one unless cut short by `max`).
    pub reached: State,
    pub more: bool,
}

/// Digests touched in mailbox `id` since `old`'s entry for it.
fn candidates(
    st: &Store,
    s: &Snapshot,
    old: &State,
    id: u64,
) -> Result<HashSet<Arc<str>>, StoreError> {
    let mut out = HashSet::new();
    let prev = old.mailboxes.get(&id);
    match (s.mailbox_by_id(id), prev) {
        (Some(m), None) => out.extend(m.rows.rows.iter().map(|r| r.digest.clone())),
        (Some(m), Some(e)) => {
            if e.modseq == m.c.highestmodseq && e.uidnext == m.c.uidnext {
                return Ok(out);
            }
            out.extend(
                m.rows
                    .rows
                    .iter()
                    .filter(|r| r.modseq > e.modseq)
                    .map(|r| r.digest.clone()),
            );
            for x in st.expunged_since(&s.uid, id, e.modseq)? {
                if x.uid < e.uidnext {
                    out.insert(x.digest.into());
                }
            }
        }
        (None, Some(e)) => {
            for x in st.expunged_since(&s.uid, id, e.modseq)? {
                if x.uid < e.uidnext {
                    out.insert(x.digest.into());
                }
            }
        }
        (None, None) => {}
    }
    Ok(out)
}

fn destroyed_in(st: &Store, s: &Snapshot, old: &State) -> Result<HashSet<Arc<str>>, StoreError> {
    let mut out = HashSet::new();
    for (id, e) in &old.mailboxes {
        let now = s.mailbox_by_id(*id).map(|m| m.c.highestmodseq);
        if now == Some(e.modseq) {
            continue;
        }
        for x in st.expunged_since(&s.uid, *id, e.modseq)? {
            if x.uid < e.uidnext {
                out.insert(Arc::from(x.digest));
            }
        }
    }
    Ok(out)
}

/// Computes the changes from `old` to the snapshot, at most `max` Emails.
/// `None`: the changes cannot be cut to `max` (cannotCalculateChanges).
pub(crate) fn compute(
    st: &Store,
    s: &Snapshot,
    old: &State,
    max: usize,
) -> Result<Option<Changes>, StoreError> {
    let new = State::of(s);
    let destroyed_rows = destroyed_in(st, s, old)?;
    let existed_before = |d: &Arc<str>| -> bool {
        destroyed_rows.contains(d)
            || s.locate(d).is_some_and(|locs| {
                locs.iter().any(|l| {
                    let m = s.mbox(*l);
                    old.mailboxes
                        .get(&m.c.info.id)
                        .is_some_and(|e| s.row(*l).uid < e.uidnext)
                })
            })
    };
    let ids: BTreeSet<u64> = old
        .mailboxes
        .keys()
        .chain(new.mailboxes.keys())
        .copied()
        .collect();
    let mut emails: BTreeMap<Arc<str>, Change> = BTreeMap::new();
    let mut reached = old.clone();
    let mut more = false;
    for id in ids {
        let cand = candidates(st, s, old, id)?;
        let mut group = BTreeMap::new();
        for d in cand {
            let before = existed_before(&d);
            let now = s.locate(&d).is_some();
            let c = match (before, now) {
                (true, true) => Change::Updated,
                (false, true) => Change::Created,
                (true, false) => Change::Destroyed,
                (false, false) => continue,
            };
            group.insert(d, c);
        }
        let total = emails.len() + group.keys().filter(|d| !emails.contains_key(*d)).count();
        if total > max {
            if emails.is_empty() {
                return Ok(None);
            }
            more = true;
            break;
        }
        emails.extend(group);
        match new.mailboxes.get(&id) {
            Some(e) => {
                reached.mailboxes.insert(id, *e);
            }
            None => {
                reached.mailboxes.remove(&id);
            }
        }
    }
    Ok(Some(Changes {
        emails,
        reached,
        more,
    }))
}

/// Runs [`compute`] for a client state string.
pub(crate) async fn for_state(
    ctx: &Ctx<'_>,
    since: &str,
    max: usize,
) -> Result<(Arc<Snapshot>, Changes), MethodError> {
    let old = State::parse(since)
        .ok_or_else(|| MethodError::cannot_calculate_changes("unknown state"))?;
    let s = ctx.snapshot().await?;
    let s2 = s.clone();
    let changes = ctx
        .shared
        .store
        .run(move |st| compute(st, &s2, &old, max))
        .await
        .map_err(|e| store_err(&e))?
        .ok_or_else(|| {
            MethodError::cannot_calculate_changes("more changes in one mailbox than maxChanges")
        })?;
    Ok((s, changes))
}

/// Email/changes.
pub(crate) async fn changes(ctx: &mut Ctx<'_>, args: &Args) -> Result<Args, MethodError> {
    let a = ChangesArgs::parse(args)?;
    ctx.account(args)?;
    let max = a.max_changes.map_or(usize::MAX, |m| m as usize);
    let (_, c) = for_state(ctx, &a.since_state, max).await?;
    let pick = |k: Change| -> Vec<String> {
        c.emails
            .iter()
            .filter(|(_, v)| **v == k)
            .map(|(d, _)| email_id(d))
            .collect()
    };
    let mut out = Map::new();
    out.insert("accountId".into(), json!(ctx.acc.account_id));
    out.insert("oldState".into(), json!(a.since_state));
    out.insert("newState".into(), json!(c.reached.encode()));
    out.insert("hasMoreChanges".into(), json!(c.more));
    out.insert("created".into(), json!(pick(Change::Created)));
    out.insert("updated".into(), json!(pick(Change::Updated)));
    out.insert("destroyed".into(), json!(pick(Change::Destroyed)));
    Ok(out)
}
