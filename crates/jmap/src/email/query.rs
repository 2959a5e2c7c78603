//! Email/query and Email/queryChanges (RFC 8621 4.4, 4.5; RFC 8620 5.5,
//! 5.6), evaluated over the in-memory index. Conditions on the body
//! (`text`, `body`, `header`) read the message files.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use mail_jmap_proto::MethodError;
use mail_jmap_proto::args::{Comparator, QueryArgs, QueryChangesArgs, bool_or};
use mail_store::{Envelope, MailboxPath, Store};
use serde_json::{Map, Value, json};

use super::changes::{Change, for_state};
use super::{email_id, flag_of, parse_date};
use crate::api::{Args, Ctx, store_err};
use crate::index::{Loc, Row, Snapshot};
use crate::mailbox::parse_mailbox_id;

/// Results beyond this need `position`/`anchor` paging.
const MAX_LIMIT: usize = 10_000;

struct Email<'a> {
    digest: &'a Arc<str>,
    locs: &'a [Loc],
    row: &'a Row,
}

struct Eval<'a> {
    s: &'a Snapshot,
    st: &'a Store,
    emails: Vec<Email<'a>>,
    threads: HashMap<&'a str, Vec<usize>>,
    text: HashMap<usize, Option<String>>,
}

fn env_text(e: &Envelope, field: &str) -> String {
    let list = match field {
        "from" => &e.from,
        "to" => &e.to,
        "cc" => &e.cc,
        "bcc" => &e.bcc,
        _ => return e.subject.clone().unwrap_or_default().to_lowercase(),
    };
    list.iter()
        .map(|a| {
            format!(
                "{} <{}>",
                a.name.as_deref().unwrap_or(""),
                a.address.as_deref().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
        .to_lowercase()
}

impl Eval<'_> {
    /// The message text (all text parts) and raw header, lower case.
    fn body_text(&mut self, i: usize) -> Option<String> {
        if let Some(t) = self.text.get(&i) {
            return t.clone();
        }
        let loc = self.emails[i].locs[0];
        let m = self.s.mbox(loc);
        let raw = self
            .st
            .open_mailbox(
                &self.s.uid,
                &MailboxPath::new(&m.c.info.path.owner, &m.c.info.path.name),
            )
            .and_then(|h| self.st.read_message(&h, self.s.row(loc).uid))
            .ok();
        let text = raw.and_then(|raw| {
            let msg = super::body::parse(&raw)?;
            let mut t = String::new();
            for id in msg.text_body.iter().chain(&msg.html_body) {
                if let Some(s) = msg.parts.get(*id as usize).and_then(|p| p.text_contents()) {
                    t.push_str(s);
                    t.push('\n');
                }
            }
            Some(t.to_lowercase())
        });
        self.text.insert(i, text.clone());
        text
    }

    fn header(&mut self, i: usize, name: &str, value: Option<&str>) -> bool {
        let loc = self.emails[i].locs[0];
        let m = self.s.mbox(loc);
        let Ok(raw) = self
            .st
            .open_mailbox(
                &self.s.uid,
                &MailboxPath::new(&m.c.info.path.owner, &m.c.info.path.name),
            )
            .and_then(|h| self.st.read_message(&h, self.s.row(loc).uid))
        else {
            return false;
        };
        let Some(msg) = super::body::parse(&raw) else {
            return false;
        };
        msg.headers_raw().any(|(n, v)| {
            n.eq_ignore_ascii_case(name)
                && value.is_none_or(|want| v.to_lowercase().contains(&want.to_lowercase()))
        })
    }

    fn thread_keyword(&self, i: usize, kw: &str, mode: &str) -> bool {
        let flag = flag_of(kw);
        let members = self
            .threads
            .get(self.emails[i].row.thread.as_ref())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let has = |j: &usize| self.emails[*j].row.flags.contains(&flag);
        match mode {
            "all" => members.iter().all(has),
            "some" => members.iter().any(has),
            _ => !members.iter().any(has),
        }
    }

    fn matches(&mut self, i: usize, filter: &Value) -> Result<bool, MethodError> {
        let Value::Object(f) = filter else {
            return Err(MethodError::unsupported_filter("a filter is an object"));
        };
        if let Some(op) = f.get("operator") {
            let Some(Value::Array(conds)) = f.get("conditions") else {
                return Err(MethodError::unsupported_filter(
                    "conditions must be an array",
                ));
            };
            let mut results = Vec::with_capacity(conds.len());
            for c in conds {
                results.push(self.matches(i, c)?);
            }
            return match op.as_str() {
                Some("AND") => Ok(results.iter().all(|b| *b)),
                Some("OR") => Ok(results.iter().any(|b| *b)),
                Some("NOT") => Ok(!results.iter().any(|b| *b)),
                _ => Err(MethodError::unsupported_filter(
                    "operator must be AND, OR or NOT",
                )),
            };
        }
        let bad = |k: &str| MethodError::unsupported_filter(format!("bad value for {k}"));
        for (k, v) in f {
            let e = &self.emails[i];
            let row = e.row;
            let ok = match k.as_str() {
                "inMailbox" => {
                    let id = v
                        .as_str()
                        .and_then(parse_mailbox_id)
                        .ok_or_else(|| bad(k))?;
                    e.locs.iter().any(|l| self.s.mbox(*l).c.info.id == id)
                }
                "inMailboxOtherThan" => {
                    let ids: Vec<u64> = v
                        .as_array()
                        .ok_or_else(|| bad(k))?
                        .iter()
                        .map(|x| x.as_str().and_then(parse_mailbox_id).ok_or_else(|| bad(k)))
                        .collect::<Result<_, _>>()?;
                    e.locs
                        .iter()
                        .any(|l| !ids.contains(&self.s.mbox(*l).c.info.id))
                }
                "before" => row.received < v.as_str().and_then(parse_date).ok_or_else(|| bad(k))?,
                "after" => row.received >= v.as_str().and_then(parse_date).ok_or_else(|| bad(k))?,
                "minSize" => row.size >= v.as_u64().ok_or_else(|| bad(k))?,
                "maxSize" => row.size < v.as_u64().ok_or_else(|| bad(k))?,
                "hasKeyword" => row
                    .flags
                    .contains(&flag_of(v.as_str().ok_or_else(|| bad(k))?)),
                "notKeyword" => !row
                    .flags
                    .contains(&flag_of(v.as_str().ok_or_else(|| bad(k))?)),
                "allInThreadHaveKeyword" => {
                    self.thread_keyword(i, v.as_str().ok_or_else(|| bad(k))?, "all")
                }
                "someInThreadHaveKeyword" => {
                    self.thread_keyword(i, v.as_str().ok_or_else(|| bad(k))?, "some")
                }
                "noneInThreadHaveKeyword" => {
                    self.thread_keyword(i, v.as_str().ok_or_else(|| bad(k))?, "none")
                }
                "hasAttachment" => row.has_attachment == v.as_bool().ok_or_else(|| bad(k))?,
                "from" | "to" | "cc" | "bcc" | "subject" => {
                    let needle = v.as_str().ok_or_else(|| bad(k))?.to_lowercase();
                    env_text(&row.envelope, k).contains(&needle)
                }
                "text" => {
                    let needle = v.as_str().ok_or_else(|| bad(k))?.to_lowercase();
                    ["from", "to", "cc", "bcc", "subject"]
                        .iter()
                        .any(|f| env_text(&row.envelope, f).contains(&needle))
                        || self.body_text(i).is_some_and(|t| t.contains(&needle))
                }
                "body" => {
                    let needle = v.as_str().ok_or_else(|| bad(k))?.to_lowercase();
                    self.body_text(i).is_some_and(|t| t.contains(&needle))
                }
                "header" => {
                    let a = v.as_array().ok_or_else(|| bad(k))?;
                    let name = a.first().and_then(Value::as_str).ok_or_else(|| bad(k))?;
                    let value = a.get(1).and_then(Value::as_str);
                    self.header(i, name, value)
                }
                _ => {
                    return Err(MethodError::unsupported_filter(format!(
                        "unsupported Email filter {k:?}"
                    )));
                }
            };
            if !ok {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

fn first_addr(list: &[mail_store::EnvelopeAddress]) -> String {
    list.first()
        .map(|a| {
            a.name
                .clone()
                .filter(|n| !n.is_empty())
                .or_else(|| a.address.clone())
                .unwrap_or_default()
                .to_lowercase()
        })
        .unwrap_or_default()
}

const CONDITIONS: &[&str] = &[
    "inMailbox",
    "inMailboxOtherThan",
    "before",
    "after",
    "minSize",
    "maxSize",
    "allInThreadHaveKeyword",
    "someInThreadHaveKeyword",
    "noneInThreadHaveKeyword",
    "hasKeyword",
    "notKeyword",
    "hasAttachment",
    "text",
    "from",
    "to",
    "cc",
    "bcc",
    "subject",
    "body",
    "header",
];

/// Checks a filter's shape before any Email is looked at, so a bad filter
/// fails the same way on an empty mailbox (RFC 8620 5.5 `unsupportedFilter`).
pub(crate) fn check_filter(filter: &Value, conditions: &[&str]) -> Result<(), MethodError> {
    let Value::Object(f) = filter else {
        return Err(MethodError::unsupported_filter("a filter is an object"));
    };
    if let Some(op) = f.get("operator") {
        if !matches!(op.as_str(), Some("AND" | "OR" | "NOT")) {
            return Err(MethodError::unsupported_filter(
                "operator must be AND, OR or NOT",
            ));
        }
        let Some(Value::Array(conds)) = f.get("conditions") else {
            return Err(MethodError::unsupported_filter(
                "conditions must be an array",
            ));
        };
        return conds.iter().try_for_each(|c| check_filter(c, conditions));
    }
    match f.keys().find(|k| !conditions.contains(&k.as_str())) {
        Some(k) => Err(MethodError::unsupported_filter(format!(
            "unsupported filter {k:?}"
        ))),
        None => Ok(()),
    }
}

/// Runs the query: the matching Emails' ids, sorted (and collapsed).
fn run(
    st: &Store,
    s: &Snapshot,
    filter: Option<&Value>,
    sort: &[Comparator],
    collapse: bool,
) -> Result<Vec<String>, MethodError> {
    if let Some(f) = filter {
        check_filter(f, CONDITIONS)?;
    }
    let by = s.by_digest();
    let mut emails: Vec<Email<'_>> = by
        .iter()
        .map(|(d, locs)| Email {
            digest: d,
            locs,
            row: s.row(locs[0]),
        })
        .collect();
    emails.sort_by(|a, b| a.digest.cmp(b.digest));
    let mut threads: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, e) in emails.iter().enumerate() {
        threads.entry(e.row.thread.as_ref()).or_default().push(i);
    }
    let mut ev = Eval {
        s,
        st,
        emails,
        threads,
        text: HashMap::new(),
    };
    let mut hits: Vec<usize> = Vec::new();
    for i in 0..ev.emails.len() {
        if filter.map_or(Ok(true), |f| ev.matches(i, f))? {
            hits.push(i);
        }
    }
    for c in sort {
        if !crate::session::EMAIL_SORT.contains(&c.property.as_str()) {
            return Err(MethodError::unsupported_sort(format!(
                "cannot sort Emails by {:?}",
                c.property
            )));
        }
        if c.property.ends_with("eyword") && c.keyword.is_none() {
            return Err(MethodError::invalid_arguments(format!(
                "{} needs a keyword",
                c.property
            )));
        }
    }
    let default = [Comparator {
        property: "receivedAt".into(),
        is_ascending: false,
        keyword: None,
        collation: None,
    }];
    let sort = if sort.is_empty() { &default[..] } else { sort };
    let key_cmp = |a: &usize, b: &usize, c: &Comparator| -> std::cmp::Ordering {
        let (ra, rb) = (ev.emails[*a].row, ev.emails[*b].row);
        let o = match c.property.as_str() {
            "receivedAt" => ra.received.cmp(&rb.received),
            "sentAt" => ra.sent_at.cmp(&rb.sent_at),
            "size" => ra.size.cmp(&rb.size),
            "from" => first_addr(&ra.envelope.from).cmp(&first_addr(&rb.envelope.from)),
            "to" => first_addr(&ra.envelope.to).cmp(&first_addr(&rb.envelope.to)),
            "subject" => env_text(&ra.envelope, "subject").cmp(&env_text(&rb.envelope, "subject")),
            p => {
                let kw = c.keyword.as_deref().unwrap_or("");
                let f = |i: &usize| match p {
                    "hasKeyword" => ev.emails[*i].row.flags.contains(&flag_of(kw)),
                    "allInThreadHaveKeyword" => ev.thread_keyword(*i, kw, "all"),
                    _ => ev.thread_keyword(*i, kw, "some"),
                };
                f(a).cmp(&f(b))
            }
        };
        if c.is_ascending { o } else { o.reverse() }
    };
    hits.sort_by(|a, b| {
        for c in sort {
            let o = key_cmp(a, b, c);
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        }
        let (ra, rb) = (ev.emails[*a].row, ev.emails[*b].row);
        // Same key: newest arrival first, as a mail list shows it.
        rb.uid
            .cmp(&ra.uid)
            .then_with(|| ev.emails[*a].digest.cmp(ev.emails[*b].digest))
    });
    let mut seen = HashSet::new();
    Ok(hits
        .into_iter()
        .filter(|i| !collapse || seen.insert(ev.emails[*i].row.thread.clone()))
        .map(|i| email_id(ev.emails[i].digest))
        .collect())
}

/// The `/query` response window: position, anchor, limit (RFC 8620 5.5).
pub(crate) fn window(
    ctx: &Ctx<'_>,
    a: &QueryArgs,
    ids: Vec<String>,
    query_state: String,
    can_calculate: bool,
) -> Result<Args, MethodError> {
    let total = ids.len();
    let mut limit = a.limit.map_or(MAX_LIMIT, |l| l as usize);
    let capped = limit > MAX_LIMIT;
    if capped {
        limit = MAX_LIMIT;
    }
    let start = match &a.anchor {
        Some(anchor) => {
            let idx = ids
                .iter()
                .position(|i| i == anchor)
                .ok_or_else(|| MethodError::anchor_not_found(""))? as i64;
            (idx + a.anchor_offset).max(0) as usize
        }
        None if a.position < 0 => (total as i64 + a.position).max(0) as usize,
        None => a.position as usize,
    };
    let page: Vec<String> = ids.into_iter().skip(start).take(limit).collect();
    let mut out = Map::new();
    out.insert("accountId".into(), json!(ctx.acc.account_id));
    out.insert("queryState".into(), json!(query_state));
    out.insert("canCalculateChanges".into(), json!(can_calculate));
    out.insert("position".into(), json!(start.min(total)));
    out.insert("ids".into(), json!(page));
    if a.calculate_total {
        out.insert("total".into(), json!(total));
    }
    if capped {
        out.insert("limit".into(), json!(limit));
    }
    Ok(out)
}

async fn ids_for(
    ctx: &Ctx<'_>,
    s: Arc<Snapshot>,
    filter: Option<Value>,
    sort: Vec<Comparator>,
    collapse: bool,
) -> Result<Vec<String>, MethodError> {
    ctx.shared
        .store
        .run(move |st| Ok(run(st, &s, filter.as_ref(), &sort, collapse)))
        .await
        .map_err(|e| store_err(&e))?
}

/// Email/query.
pub(crate) async fn query(ctx: &mut Ctx<'_>, args: &Args) -> Result<Args, MethodError> {
    let a = QueryArgs::parse(args)?;
    ctx.account(args)?;
    let collapse = bool_or(args, "collapseThreads", false)?;
    let s = ctx.snapshot().await?;
    let state = s.state();
    let ids = ids_for(ctx, s, a.filter.clone(), a.sort.clone(), collapse).await?;
    window(ctx, &a, ids, state, true)
}

/// Email/queryChanges: every Email that changed since the old state (and
/// every Email of its thread) is reported as removed, and added back at
/// its place in the new results when it still matches (RFC 8620 5.6
/// allows removed ids that were not in the old results).
pub(crate) async fn query_changes(ctx: &mut Ctx<'_>, args: &Args) -> Result<Args, MethodError> {
    let a = QueryChangesArgs::parse(args)?;
    ctx.account(args)?;
    let collapse = bool_or(args, "collapseThreads", false)?;
    let (s, c) = for_state(ctx, &a.since_query_state, usize::MAX).await?;
    let mut touched: HashSet<String> = HashSet::new();
    let mut threads: HashSet<Arc<str>> = HashSet::new();
    for (d, ch) in &c.emails {
        touched.insert(email_id(d));
        if *ch != Change::Destroyed
            && let Some(locs) = s.locate(d)
        {
            threads.insert(s.row(locs[0]).thread.clone());
        }
    }
    for (d, locs) in s.by_digest() {
        if threads.contains(&s.row(locs[0]).thread) {
            touched.insert(email_id(d));
        }
    }
    let state = s.state();
    let ids = ids_for(ctx, s, a.filter.clone(), a.sort.clone(), collapse).await?;
    let added: Vec<Value> = ids
        .iter()
        .enumerate()
        .filter(|(_, id)| touched.contains(*id))
        .map(|(i, id)| json!({"id": id, "index": i}))
        .collect();
    let mut removed: Vec<String> = touched.into_iter().collect();
    removed.sort();
    if let Some(max) = a.max_changes
        && (removed.len() + added.len()) as u64 > max
    {
        return Err(MethodError::too_many_changes(""));
    }
    let mut out = Map::new();
    out.insert("accountId".into(), json!(ctx.acc.account_id));
    out.insert("oldQueryState".into(), json!(a.since_query_state));
    out.insert("newQueryState".into(), json!(state));
    out.insert("removed".into(), json!(removed));
    out.insert("added".into(), Value::Array(added));
    if a.calculate_total {
        out.insert("total".into(), json!(ids.len()));
    }
    Ok(out)
}
