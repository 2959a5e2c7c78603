//! Mailbox/get, /changes, /query, /queryChanges, /set (RFC 8621 2).
//!
//! A JMAP Mailbox is a folder of the user's own tree; its id is the
//! store's mailbox id (`m12`, stable across renames), its `name` the last
//! component of the folder path (`/` separates levels, so it cannot be in
//! a name), `parentId` the folder above. Roles are INBOX and the RFC 6154
//! special-use attributes.

use std::collections::{BTreeSet, HashMap};

use mail_jmap_proto::args::{ChangesArgs, GetArgs, QueryArgs, SetArgs, bool_or};
use mail_jmap_proto::{MethodError, SetError, property};
use mail_store::{MailboxInfo, MailboxPath, SpecialUse};
use serde_json::{Map, Value, json};

use crate::api::{Args, Ctx, set_err};
use crate::index::{Mbox, Snapshot};
use crate::state::State;

/// The JMAP id of a store mailbox.
pub fn mailbox_id(id: u64) -> String {
    format!("m{id}")
}

/// The store id of a JMAP Mailbox id.
pub fn parse_mailbox_id(id: &str) -> Option<u64> {
    id.strip_prefix('m')?.parse().ok()
}

/// The role of a mailbox (RFC 8621 2, the IANA "IMAP Mailbox Name
/// Attributes" registry in lower case).
pub fn role(info: &MailboxInfo) -> Option<&'static str> {
    if info.path.name == "INBOX" {
        return Some("inbox");
    }
    info.special_use.map(|s| match s {
        SpecialUse::All => "all",
        SpecialUse::Archive => "archive",
        SpecialUse::Drafts => "drafts",
        SpecialUse::Flagged => "flagged",
        SpecialUse::Junk => "junk",
        SpecialUse::Sent => "sent",
        SpecialUse::Trash => "trash",
    })
}

fn special_use(role: &str) -> Option<SpecialUse> {
    Some(match role {
        "all" => SpecialUse::All,
        "archive" => SpecialUse::Archive,
        "drafts" => SpecialUse::Drafts,
        "flagged" => SpecialUse::Flagged,
        "junk" => SpecialUse::Junk,
        "sent" => SpecialUse::Sent,
        "trash" => SpecialUse::Trash,
        _ => return None,
    })
}

fn leaf(name: &str) -> &str {
    name.rsplit_once('/').map_or(name, |(_, l)| l)
}

fn parent_name(name: &str) -> Option<&str> {
    name.rsplit_once('/').map(|(p, _)| p)
}

fn rights(info: &MailboxInfo) -> Value {
    let inbox = info.path.name == "INBOX";
    json!({
        "mayReadItems": true, "mayAddItems": true, "mayRemoveItems": true,
        "maySetSeen": true, "maySetKeywords": true, "mayCreateChild": true,
        "mayRename": !inbox, "mayDelete": !inbox, "maySubmit": true,
    })
}

fn is_unread(r: &crate::index::Row) -> bool {
    !r.flags.contains("\\Seen") && !r.flags.contains("\\Draft")
}

fn object(s: &Snapshot, m: &Mbox, props: &[String]) -> Value {
    let names: HashMap<&str, u64> = s
        .mailboxes
        .iter()
        .map(|m| (m.c.info.path.name.as_str(), m.c.info.id))
        .collect();
    let mut o = Map::new();
    for p in props {
        let v = match p.as_str() {
            "id" => json!(mailbox_id(m.c.info.id)),
            "name" => json!(leaf(&m.c.info.path.name)),
            "parentId" => parent_name(&m.c.info.path.name)
                .and_then(|p| names.get(p))
                .map_or(Value::Null, |id| json!(mailbox_id(*id))),
            "role" => json!(role(&m.c.info)),
            "sortOrder" => json!(if m.c.info.path.name == "INBOX" { 0 } else { 10 }),
            "totalEmails" => json!(m.c.exists),
            "unreadEmails" => json!(m.rows.rows.iter().filter(|r| is_unread(r)).count()),
            "totalThreads" => json!(
                m.rows
                    .rows
                    .iter()
                    .map(|r| &r.thread)
                    .collect::<BTreeSet<_>>()
                    .len()
            ),
            "unreadThreads" => json!(
                m.rows
                    .rows
                    .iter()
                    .filter(|r| is_unread(r))
                    .map(|r| &r.thread)
                    .collect::<BTreeSet<_>>()
                    .len()
            ),
            "myRights" => rights(&m.c.info),
            "isSubscribed" => json!(m.c.info.subscribed),
            _ => continue,
        };
        o.insert(p.clone(), v);
    }
    Value::Object(o)
}

/// Mailbox/get (RFC 8620 5.1).
pub(crate) async fn get(ctx: &mut Ctx<'_>, args: &Args) -> Result<Args, MethodError> {
    let a = GetArgs::parse(args, ctx.shared.limits.max_objects_in_get)?;
    ctx.account(args)?;
    let props = property::select(
        a.properties.as_deref(),
        property::MAILBOX,
        property::MAILBOX,
        false,
    )?;
    let s = ctx.snapshot().await?;
    let mut list = Vec::new();
    let mut not_found = Vec::new();
    match &a.ids {
        None => list.extend(s.mailboxes.iter().map(|m| object(&s, m, &props))),
        Some(ids) => {
            for id in ids {
                let found = ctx
                    .resolve_id(id)
                    .and_then(|i| parse_mailbox_id(&i))
                    .and_then(|i| s.mailbox_by_id(i));
                match found {
                    Some(m) => list.push(object(&s, m, &props)),
                    None => not_found.push(json!(id)),
                }
            }
        }
    }
    let mut out = Map::new();
    out.insert("accountId".into(), json!(ctx.acc.account_id));
    out.insert("state".into(), json!(s.state()));
    out.insert("list".into(), Value::Array(list));
    out.insert("notFound".into(), Value::Array(not_found));
    Ok(out)
}

/// Mailbox/changes (RFC 8620 5.2): mailboxes that appeared, went, or
/// whose state entry moved; `updatedProperties` names only the counts
/// when no name, role or subscription changed.
pub(crate) async fn changes(ctx: &mut Ctx<'_>, args: &Args) -> Result<Args, MethodError> {
    let a = ChangesArgs::parse(args)?;
    ctx.account(args)?;
    let old = State::parse(&a.since_state)
        .ok_or_else(|| MethodError::cannot_calculate_changes("unknown state"))?;
    let s = ctx.snapshot().await?;
    let new = State::of(&s);
    let mut changes: Vec<(u64, &'static str)> = Vec::new();
    for (id, e) in &new.mailboxes {
        match old.mailboxes.get(id) {
            None => changes.push((*id, "created")),
            Some(o) if o != e => changes.push((*id, "updated")),
            _ => {}
        }
    }
    for id in old.mailboxes.keys() {
        if !new.mailboxes.contains_key(id) {
            changes.push((*id, "destroyed"));
        }
    }
    let max = a.max_changes.map_or(usize::MAX, |m| m as usize);
    let more = changes.len() > max;
    changes.truncate(max);
    // An intermediate state: the old one with the reported changes applied.
    let mut reached = old.clone();
    let (mut created, mut updated, mut destroyed) = (vec![], vec![], vec![]);
    let mut counts_only = true;
    for (id, kind) in &changes {
        match *kind {
            "created" => {
                created.push(mailbox_id(*id));
                reached.mailboxes.insert(*id, new.mailboxes[id]);
            }
            "updated" => {
                updated.push(mailbox_id(*id));
                if old.mailboxes[id].meta != new.mailboxes[id].meta {
                    counts_only = false;
                }
                reached.mailboxes.insert(*id, new.mailboxes[id]);
            }
            _ => {
                destroyed.push(mailbox_id(*id));
                reached.mailboxes.remove(id);
            }
        }
    }
    let new_state = if more { reached.encode() } else { new.encode() };
    let mut out = Map::new();
    out.insert("accountId".into(), json!(ctx.acc.account_id));
    out.insert("oldState".into(), json!(a.since_state));
    out.insert("newState".into(), json!(new_state));
    out.insert("hasMoreChanges".into(), json!(more));
    out.insert("created".into(), json!(created));
    out.insert("updated".into(), json!(updated));
    out.insert("destroyed".into(), json!(destroyed));
    out.insert(
        "updatedProperties".into(),
        if counts_only && !updated.is_empty() {
            json!([
                "totalEmails",
                "unreadEmails",
                "totalThreads",
                "unreadThreads"
            ])
        } else {
            Value::Null
        },
    );
    Ok(out)
}

fn matches(s: &Snapshot, m: &Mbox, filter: &Value) -> Result<bool, MethodError> {
    let Value::Object(f) = filter else {
        return Err(MethodError::unsupported_filter("a filter is an object"));
    };
    if let Some(op) = f.get("operator") {
        let conds = match f.get("conditions") {
            Some(Value::Array(c)) => c,
            _ => {
                return Err(MethodError::unsupported_filter(
                    "conditions must be an array",
                ));
            }
        };
        let results: Vec<bool> = conds
            .iter()
            .map(|c| matches(s, m, c))
            .collect::<Result<_, _>>()?;
        return match op.as_str() {
            Some("AND") => Ok(results.iter().all(|b| *b)),
            Some("OR") => Ok(results.iter().any(|b| *b)),
            Some("NOT") => Ok(!results.iter().any(|b| *b)),
            _ => Err(MethodError::unsupported_filter(
                "operator must be AND, OR or NOT",
            )),
        };
    }
    let info = &m.c.info;
    for (k, v) in f {
        let ok = match (k.as_str(), v) {
            ("parentId", Value::Null) => parent_name(&info.path.name).is_none(),
            ("parentId", Value::String(p)) => parent_name(&info.path.name).is_some_and(|pn| {
                s.mailboxes
                    .iter()
                    .any(|x| x.c.info.path.name == pn && mailbox_id(x.c.info.id) == *p)
            }),
            ("name", Value::String(n)) => leaf(&info.path.name)
                .to_lowercase()
                .contains(&n.to_lowercase()),
            ("role", Value::Null) => role(info).is_none(),
            ("role", Value::String(r)) => role(info) == Some(r.as_str()),
            ("hasAnyRole", Value::Bool(b)) => role(info).is_some() == *b,
            ("isSubscribed", Value::Bool(b)) => info.subscribed == *b,
            _ => {
                return Err(MethodError::unsupported_filter(format!(
                    "unsupported Mailbox filter {k:?}"
                )));
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Mailbox/query (RFC 8621 2.3): filters `parentId`, `name`, `role`,
/// `hasAnyRole`, `isSubscribed`; sorts `sortOrder`, `name`;
/// `sortAsTree` orders by path.
pub(crate) async fn query(ctx: &mut Ctx<'_>, args: &Args) -> Result<Args, MethodError> {
    let a = QueryArgs::parse(args)?;
    ctx.account(args)?;
    let as_tree = bool_or(args, "sortAsTree", false)?;
    if let Some(f) = &a.filter {
        crate::email::query::check_filter(
            f,
            &["parentId", "name", "role", "hasAnyRole", "isSubscribed"],
        )?;
    }
    let s = ctx.snapshot().await?;
    let mut list: Vec<&Mbox> = Vec::new();
    for m in &s.mailboxes {
        if a.filter.as_ref().map_or(Ok(true), |f| matches(&s, m, f))? {
            list.push(m);
        }
    }
    for c in a.sort.iter().rev() {
        let key = |m: &Mbox| -> (u32, String) {
            match c.property.as_str() {
                "sortOrder" => (u32::from(m.c.info.path.name != "INBOX"), String::new()),
                _ => (0, leaf(&m.c.info.path.name).to_lowercase()),
            }
        };
        if !matches!(c.property.as_str(), "sortOrder" | "name") {
            return Err(MethodError::unsupported_sort(format!(
                "cannot sort Mailboxes by {:?}",
                c.property
            )));
        }
        list.sort_by(|x, y| {
            let o = key(x).cmp(&key(y));
            if c.is_ascending { o } else { o.reverse() }
        });
    }
    if as_tree {
        list.sort_by(|x, y| x.c.info.path.name.cmp(&y.c.info.path.name));
    }
    let ids: Vec<String> = list.iter().map(|m| mailbox_id(m.c.info.id)).collect();
    crate::email::query::window(ctx, &a, ids, s.state(), false)
}

/// Mailbox/queryChanges: this server does not keep old query results,
/// so any change asks the client to query again (RFC 8620 5.6).
pub(crate) async fn query_changes(ctx: &mut Ctx<'_>, args: &Args) -> Result<Args, MethodError> {
    let a = mail_jmap_proto::args::QueryChangesArgs::parse(args)?;
    ctx.account(args)?;
    let s = ctx.snapshot().await?;
    if a.since_query_state != s.state() {
        return Err(MethodError::cannot_calculate_changes(
            "mailbox queries are recomputed",
        ));
    }
    let mut out = Map::new();
    out.insert("accountId".into(), json!(ctx.acc.account_id));
    out.insert("oldQueryState".into(), json!(a.since_query_state));
    out.insert("newQueryState".into(), json!(s.state()));
    out.insert("removed".into(), json!([]));
    out.insert("added".into(), json!([]));
    Ok(out)
}

const SERVER_SET: &[&str] = &[
    "id",
    "totalEmails",
    "unreadEmails",
    "totalThreads",
    "unreadThreads",
    "myRights",
];

/// The full store name for a leaf under `parent` (a JMAP id or null).
fn full_name(
    ctx: &Ctx<'_>,
    s: &Snapshot,
    parent: Option<&Value>,
    leaf_name: &str,
) -> Result<String, SetError> {
    if leaf_name.is_empty() || leaf_name.contains('/') || leaf_name.len() > 255 {
        return Err(SetError::invalid_properties(
            &["name"],
            "a name is 1-255 octets without '/'",
        ));
    }
    match parent {
        None | Some(Value::Null) => Ok(leaf_name.to_string()),
        Some(Value::String(p)) => {
            let pm = ctx
                .resolve_id(p)
                .and_then(|i| parse_mailbox_id(&i))
                .and_then(|i| s.mailbox_by_id(i))
                .ok_or_else(|| SetError::invalid_properties(&["parentId"], "no such mailbox"))?;
            Ok(format!("{}/{leaf_name}", pm.c.info.path.name))
        }
        Some(_) => Err(SetError::invalid_properties(
            &["parentId"],
            "must be an Id or null",
        )),
    }
}

fn role_arg(v: Option<&Value>) -> Result<Option<Option<SpecialUse>>, SetError> {
    match v {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(r)) => special_use(r).map(|s| Some(Some(s))).ok_or_else(|| {
            SetError::invalid_properties(&["role"], "not a role this server can set")
        }),
        Some(_) => Err(SetError::invalid_properties(
            &["role"],
            "must be a String or null",
        )),
    }
}

async fn create_one(
    ctx: &mut Ctx<'_>,
    s: &Snapshot,
    obj: &Map<String, Value>,
) -> Result<(String, Value), SetError> {
    for k in obj.keys() {
        if SERVER_SET.contains(&k.as_str()) {
            return Err(SetError::invalid_properties(
                &[k.as_str()],
                "server-set property",
            ));
        }
        if !property::MAILBOX.contains(&k.as_str()) {
            return Err(SetError::invalid_properties(
                &[k.as_str()],
                "unknown property",
            ));
        }
    }
    let Some(Value::String(name)) = obj.get("name") else {
        return Err(SetError::invalid_properties(&["name"], "name is required"));
    };
    if obj
        .get("sortOrder")
        .is_some_and(|v| v != &json!(0) && v != &json!(10))
    {
        return Err(SetError::invalid_properties(
            &["sortOrder"],
            "sortOrder is fixed",
        ));
    }
    let full = full_name(ctx, s, obj.get("parentId"), name)?;
    let role = role_arg(obj.get("role"))?.flatten();
    let subscribe = match obj.get("isSubscribed") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(SetError::invalid_properties(
                &["isSubscribed"],
                "must be a Boolean",
            ));
        }
    };
    let uid = ctx.acc.uid.clone();
    let f2 = full.clone();
    let created = ctx
        .shared
        .store
        .run(move |st| {
            if role.is_some() && role_holder(st, &uid, role)?.is_some() {
                return Ok(Err(role_taken()));
            }
            st.create_mailbox(&uid, &f2, role)?;
            if subscribe {
                st.subscribe(&uid, &MailboxPath::new(&uid, &f2))?;
            }
            Ok(Ok(st
                .mailbox_counters(&uid)?
                .into_iter()
                .find(|c| c.info.path.name == f2)
                .map(|c| c.info.id)))
        })
        .await
        .map_err(|e| set_err(&e))?;
    let id = created?.ok_or_else(|| SetError::new("serverFail", "created mailbox not found"))?;
    Ok((
        mailbox_id(id),
        json!({
            "id": mailbox_id(id), "totalEmails": 0, "unreadEmails": 0, "totalThreads": 0,
            "unreadThreads": 0, "sortOrder": 10, "isSubscribed": subscribe,
            "myRights": rights(&MailboxInfo {
                path: MailboxPath::new("", full), id, special_use: role,
                subscribed: subscribe, has_children: false, uidvalidity: 0,
            }),
        }),
    ))
}

async fn update_one(
    ctx: &Ctx<'_>,
    s: &Snapshot,
    id: &str,
    patch: &Map<String, Value>,
) -> Result<(), SetError> {
    let m = ctx
        .resolve_id(id)
        .and_then(|i| parse_mailbox_id(&i))
        .and_then(|i| s.mailbox_by_id(i))
        .ok_or_else(SetError::not_found)?;
    let current = m.c.info.path.name.clone();
    let mut new_name = None;
    let mut role = None;
    let mut subscribe = None;
    for (k, v) in patch {
        match k.as_str() {
            "name" => {
                let Value::String(n) = v else {
                    return Err(SetError::invalid_properties(&["name"], "must be a String"));
                };
                let parent =
                    parent_name(new_name.as_deref().unwrap_or(&current)).map(str::to_string);
                let base = full_name(ctx, s, None, n)?;
                new_name = Some(match parent {
                    Some(p) => format!("{p}/{base}"),
                    None => base,
                });
            }
            "parentId" => {
                let l = leaf(new_name.as_deref().unwrap_or(&current)).to_string();
                new_name = Some(full_name(ctx, s, Some(v), &l)?);
            }
            "role" => role = role_arg(Some(v))?,
            "isSubscribed" => match v {
                Value::Bool(b) => subscribe = Some(*b),
                _ => {
                    return Err(SetError::invalid_properties(
                        &["isSubscribed"],
                        "must be a Boolean",
                    ));
                }
            },
            "sortOrder" if v == &json!(0) || v == &json!(10) => {}
            _ => {
                return Err(SetError::invalid_properties(
                    &[k.as_str()],
                    "cannot be changed",
                ));
            }
        }
    }
    if current == "INBOX" && new_name.as_deref().is_some_and(|n| n != "INBOX") {
        return Err(SetError::forbidden("INBOX cannot be renamed"));
    }
    if let Some(n) = &new_name
        && (n == &current || n.starts_with(&format!("{current}/")))
        && n != &current
    {
        return Err(SetError::invalid_properties(
            &["parentId"],
            "a mailbox cannot move below itself",
        ));
    }
    let uid = ctx.acc.uid.clone();
    ctx.shared
        .store
        .run(move |st| {
            if let Some(r) = role
                && r.is_some()
                && role_holder(st, &uid, r)?.is_some_and(|holder| holder != current)
            {
                return Ok(Err(role_taken()));
            }
            let mut name = current.clone();
            if let Some(n) = new_name.filter(|n| *n != current) {
                st.rename_mailbox(&uid, &current, &n)?;
                name = n;
            }
            if let Some(r) = role {
                st.set_special_use(&uid, &MailboxPath::new(&uid, &name), r)?;
            }
            match subscribe {
                Some(true) => st.subscribe(&uid, &MailboxPath::new(&uid, &name))?,
                Some(false) => st.unsubscribe(&uid, &MailboxPath::new(&uid, &name))?,
                None => {}
            }
            Ok(Ok(()))
        })
        .await
        .map_err(|e| set_err(&e))?
}

/// The mailbox that holds `role`, if any: RFC 8621 section 2 allows at
/// most one per account, and clients rely on it to find "the" Sent or
/// Drafts mailbox.
fn role_holder(
    st: &mail_store::Store,
    uid: &str,
    role: Option<SpecialUse>,
) -> mail_store::Result<Option<String>> {
    Ok(st
        .mailbox_counters(uid)?
        .into_iter()
        .find(|c| c.info.special_use == role)
        .map(|c| c.info.path.name))
}

fn role_taken() -> SetError {
    SetError::invalid_properties(&["role"], "another mailbox already has this role")
}

async fn destroy_one(
    ctx: &Ctx<'_>,
    s: &Snapshot,
    id: &str,
    remove_emails: bool,
) -> Result<(), SetError> {
    let m = ctx
        .resolve_id(id)
        .and_then(|i| parse_mailbox_id(&i))
        .and_then(|i| s.mailbox_by_id(i))
        .ok_or_else(SetError::not_found)?;
    if m.c.info.path.name == "INBOX" {
        return Err(SetError::forbidden("INBOX cannot be destroyed"));
    }
    if m.c.info.has_children {
        return Err(SetError::new(
            "mailboxHasChild",
            "the mailbox has child mailboxes",
        ));
    }
    if m.c.exists > 0 && !remove_emails {
        return Err(SetError::new("mailboxHasEmail", "the mailbox is not empty"));
    }
    let uid = ctx.acc.uid.clone();
    let name = m.c.info.path.name.clone();
    ctx.shared
        .store
        .run(move |st| st.delete_mailbox(&uid, &MailboxPath::new(&uid, &name)))
        .await
        .map_err(|e| set_err(&e))
}

/// Mailbox/set (RFC 8621 2.5).
pub(crate) async fn set(ctx: &mut Ctx<'_>, args: &Args) -> Result<Args, MethodError> {
    let a = SetArgs::parse(args, ctx.shared.limits.max_objects_in_set)?;
    ctx.account(args)?;
    let remove_emails = bool_or(args, "onDestroyRemoveEmails", false)?;
    let s = ctx.snapshot().await?;
    let old_state = s.state();
    if let Some(want) = &a.if_in_state
        && *want != old_state
    {
        return Err(MethodError::state_mismatch(""));
    }
    let mut created = Map::new();
    let mut not_created = Map::new();
    for (cid, obj) in &a.create {
        // Each create sees the ones before it (a parent made in the same call).
        let s = ctx.snapshot().await?;
        match create_one(ctx, &s, obj).await {
            Ok((id, v)) => {
                ctx.remember(cid, &id);
                created.insert(cid.clone(), v);
            }
            Err(e) => {
                not_created.insert(cid.clone(), e.to_value());
            }
        }
    }
    let mut updated = Map::new();
    let mut not_updated = Map::new();
    for (id, patch) in &a.update {
        let s = ctx.snapshot().await?;
        match update_one(ctx, &s, id, patch).await {
            Ok(()) => {
                updated.insert(id.clone(), Value::Null);
            }
            Err(e) => {
                not_updated.insert(id.clone(), e.to_value());
            }
        }
    }
    let mut destroyed = Vec::new();
    let mut not_destroyed = Map::new();
    for id in &a.destroy {
        let s = ctx.snapshot().await?;
        match destroy_one(ctx, &s, id, remove_emails).await {
            Ok(()) => destroyed.push(json!(id)),
            Err(e) => {
                not_destroyed.insert(id.clone(), e.to_value());
            }
        }
    }
    let new_state = ctx.snapshot().await?.state();
    Ok(set_response(
        ctx,
        old_state,
        new_state,
        created,
        not_created,
        updated,
        not_updated,
        destroyed,
        not_destroyed,
    ))
}

/// The `/set` response object (RFC 8620 5.3).
#[allow(clippy::too_many_arguments)]
pub(crate) fn set_response(
    ctx: &Ctx<'_>,
    old_state: String,
    new_state: String,
    created: Map<String, Value>,
    not_created: Map<String, Value>,
    updated: Map<String, Value>,
    not_updated: Map<String, Value>,
    destroyed: Vec<Value>,
    not_destroyed: Map<String, Value>,
) -> Args {
    let mut out = Map::new();
    let nullable = |m: Map<String, Value>| {
        if m.is_empty() {
            Value::Null
        } else {
            Value::Object(m)
        }
    };
    out.insert("accountId".into(), json!(ctx.acc.account_id));
    out.insert("oldState".into(), json!(old_state));
    out.insert("newState".into(), json!(new_state));
    out.insert("created".into(), nullable(created));
    out.insert("updated".into(), nullable(updated));
    out.insert(
        "destroyed".into(),
        if destroyed.is_empty() {
            Value::Null
        } else {
            Value::Array(destroyed)
        },
    );
    out.insert("notCreated".into(), nullable(not_created));
    out.insert("notUpdated".into(), nullable(not_updated));
    out.insert("notDestroyed".into(), nullable(not_destroyed));
    out
}
