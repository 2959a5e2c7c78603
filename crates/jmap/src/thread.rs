//! Thread/get and Thread/changes (RFC 8621 3). A thread is every Email
//! whose root Message-ID digests to the thread id (see
//! [`crate::index`]); its `emailIds` are sorted by `receivedAt`, oldest
//! first.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use mail_jmap_proto::args::{ChangesArgs, GetArgs};
use mail_jmap_proto::{MethodError, property};
use serde_json::{Map, Value, json};

use crate::api::{Args, Ctx};
use crate::email::changes::{Change, for_state};
use crate::email::email_id;
use crate::index::Snapshot;

/// (receivedAt, UID, digest) of one Email of a thread.
type Member = (i64, u32, Arc<str>);

/// Thread id -> its Emails, sorted (the UID orders Emails received in the
/// same second by arrival).
fn threads(s: &Snapshot) -> HashMap<Arc<str>, Vec<Member>> {
    let mut m: HashMap<Arc<str>, Vec<Member>> = HashMap::new();
    for (d, locs) in s.by_digest() {
        let r = s.row(locs[0]);
        m.entry(r.thread.clone())
            .or_default()
            .push((r.received, r.uid, d.clone()));
    }
    for v in m.values_mut() {
        v.sort();
    }
    m
}

/// Thread/get.
pub(crate) async fn get(ctx: &mut Ctx<'_>, args: &Args) -> Result<Args, MethodError> {
    let a = GetArgs::parse(args, ctx.shared.limits.max_objects_in_get)?;
    ctx.account(args)?;
    let props = property::select(
        a.properties.as_deref(),
        property::THREAD,
        property::THREAD,
        false,
    )?;
    let s = ctx.snapshot().await?;
    let all = threads(&s);
    let ids: Vec<String> = match a.ids {
        Some(i) => i,
        None => {
            if all.len() as u64 > ctx.shared.limits.max_objects_in_get {
                return Err(MethodError::request_too_large("give ids"));
            }
            all.keys().map(|k| k.to_string()).collect()
        }
    };
    let mut list = Vec::new();
    let mut not_found = Vec::new();
    for id in ids {
        match all.get(id.as_str()) {
            Some(emails) => {
                let mut o = Map::new();
                o.insert("id".into(), json!(id));
                if props.iter().any(|p| p == "emailIds") {
                    o.insert(
                        "emailIds".into(),
                        json!(
                            emails
                                .iter()
                                .map(|(_, _, d)| email_id(d))
                                .collect::<Vec<_>>()
                        ),
                    );
                }
                list.push(Value::Object(o));
            }
            None => not_found.push(json!(id)),
        }
    }
    let mut out = Map::new();
    out.insert("accountId".into(), json!(ctx.acc.account_id));
    out.insert("state".into(), json!(s.state()));
    out.insert("list".into(), Value::Array(list));
    out.insert("notFound".into(), Value::Array(not_found));
    Ok(out)
}

/// Thread/changes: the threads of the Emails that changed. A thread with
/// no Email left is destroyed; one whose Emails are all new is created.
pub(crate) async fn changes(ctx: &mut Ctx<'_>, args: &Args) -> Result<Args, MethodError> {
    let a = ChangesArgs::parse(args)?;
    ctx.account(args)?;
    let (s, c) = for_state(ctx, &a.since_state, usize::MAX).await?;
    let all = threads(&s);
    let mut touched: BTreeMap<Arc<str>, Vec<Change>> = BTreeMap::new();
    for (d, ch) in &c.emails {
        let t = match s.locate(d) {
            Some(locs) => s.row(locs[0]).thread.clone(),
            None => ctx.shared.index.thread_of(d).ok_or_else(|| {
                MethodError::cannot_calculate_changes("the thread of a removed Email is not known")
            })?,
        };
        touched.entry(t).or_default().push(*ch);
    }
    let (mut created, mut updated, mut destroyed) =
        (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for (t, chs) in touched {
        match all.get(&t) {
            None => destroyed.insert(t.to_string()),
            Some(emails) => {
                let new_count = chs.iter().filter(|c| **c == Change::Created).count();
                if new_count == emails.len() {
                    created.insert(t.to_string())
                } else {
                    updated.insert(t.to_string())
                }
            }
        };
    }
    if let Some(max) = a.max_changes
        && (created.len() + updated.len() + destroyed.len()) as u64 > max
    {
        return Err(MethodError::cannot_calculate_changes(
            "more than maxChanges",
        ));
    }
    let mut out = Map::new();
    out.insert("accountId".into(), json!(ctx.acc.account_id));
    out.insert("oldState".into(), json!(a.since_state));
    out.insert("newState".into(), json!(c.reached.encode()));
    out.insert("hasMoreChanges".into(), json!(false));
    out.insert("created".into(), json!(created));
    out.insert("updated".into(), json!(updated));
    out.insert("destroyed".into(), json!(destroyed));
    Ok(out)
}
