//! Email/set (RFC 8621 4.6): create (drafts and messages to send, built
//! with `mail-builder`), update of `keywords` and `mailboxIds` (whole or
//! by patch path), destroy. An Email in several mailboxes is one row per
//! mailbox in the store: adding a mailbox copies the row, removing one
//! expunges it.

use std::collections::BTreeSet;
use std::sync::Arc;

use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address as BAddress;
use mail_builder::headers::raw::Raw;
use mail_jmap_proto::args::SetArgs;
use mail_jmap_proto::{MethodError, SetError};
use mail_store::{FlagOp, Flags, MailboxPath, UidSet};
use serde_json::{Map, Value, json};

use super::{
    blob_id, email_id, flag_of, flags_from_keywords, parse_date, parse_email_id, valid_keyword,
};
use crate::api::{Args, Ctx, set_err};
use crate::index::Snapshot;
use crate::mailbox::{parse_mailbox_id, set_response};

fn addr_list(v: &Value, prop: &'static str) -> Result<Option<BAddress<'static>>, SetError> {
    let bad = || SetError::invalid_properties(&[prop], "must be EmailAddress[] or null");
    match v {
        Value::Null => Ok(None),
        Value::Array(items) => {
            let mut out = Vec::new();
            for it in items {
                let email = it.get("email").and_then(Value::as_str).ok_or_else(bad)?;
                if email.contains(['\r', '\n']) {
                    return Err(bad());
                }
                let name = it.get("name").and_then(Value::as_str).map(str::to_string);
                out.push(BAddress::new_address(name, email.to_string()));
            }
            Ok(Some(if out.len() == 1 {
                out.remove(0)
            } else {
                BAddress::new_list(out)
            }))
        }
        _ => Err(bad()),
    }
}

fn string_list(v: &Value, prop: &'static str) -> Result<Vec<String>, SetError> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .filter(|s| !s.contains(['\r', '\n', '<', '>']))
                    .map(str::to_string)
                    .ok_or_else(|| {
                        SetError::invalid_properties(&[prop], "must be String[] or null")
                    })
            })
            .collect(),
        _ => Err(SetError::invalid_properties(
            &[prop],
            "must be String[] or null",
        )),
    }
}

/// The text of a body part given as `{partId, type}` with its value in
/// `bodyValues`.
fn part_value(
    obj: &Map<String, Value>,
    list: &str,
    want_type: &str,
) -> Result<Option<String>, SetError> {
    let Some(v) = obj.get(list) else {
        return Ok(None);
    };
    let Some(parts) = v.as_array() else {
        return Err(SetError::invalid_properties(
            &[leak(list)],
            "must be an array",
        ));
    };
    let Some(part) = parts.first() else {
        return Ok(None);
    };
    if parts.len() > 1 {
        return Err(SetError::invalid_properties(&[leak(list)], "one part only"));
    }
    let ty = part
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or(want_type);
    if !ty.eq_ignore_ascii_case(want_type) {
        return Err(SetError::invalid_properties(&[leak(list)], "wrong type"));
    }
    let pid = part
        .get("partId")
        .and_then(Value::as_str)
        .ok_or_else(|| SetError::invalid_properties(&[leak(list)], "partId missing"))?;
    obj.get("bodyValues")
        .and_then(|b| b.get(pid))
        .and_then(|b| b.get("value"))
        .and_then(Value::as_str)
        .map(|s| Some(s.to_string()))
        .ok_or_else(|| SetError::invalid_properties(&["bodyValues"], "no value for the partId"))
}

fn leak(s: &str) -> &'static str {
    match s {
        "textBody" => "textBody",
        "htmlBody" => "htmlBody",
        _ => "attachments",
    }
}

/// Builds the RFC 5322 message of an Email/set create.
pub(crate) async fn build(ctx: &Ctx<'_>, obj: &Map<String, Value>) -> Result<Vec<u8>, SetError> {
    if obj.contains_key("bodyStructure") {
        return Err(SetError::invalid_properties(
            &["bodyStructure"],
            "give textBody/htmlBody/attachments instead",
        ));
    }
    let mut b = MessageBuilder::new();
    for (prop, set) in [
        ("from", 0),
        ("to", 1),
        ("cc", 2),
        ("bcc", 3),
        ("replyTo", 4),
        ("sender", 5),
    ] {
        let Some(v) = obj.get(prop) else { continue };
        let prop: &'static str = prop;
        if let Some(a) = addr_list(v, prop)? {
            b = match set {
                0 => b.from(a),
                1 => b.to(a),
                2 => b.cc(a),
                3 => b.bcc(a),
                4 => b.reply_to(a),
                _ => b.sender(a),
            };
        }
    }
    match obj.get("subject") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => b = b.subject(s.replace(['\r', '\n'], " ")),
        Some(_) => {
            return Err(SetError::invalid_properties(
                &["subject"],
                "must be a String",
            ));
        }
    }
    match obj.get("sentAt") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => {
            let t = parse_date(s)
                .ok_or_else(|| SetError::invalid_properties(&["sentAt"], "not a Date"))?;
            b = b.date(t);
        }
        Some(_) => return Err(SetError::invalid_properties(&["sentAt"], "must be a Date")),
    }
    if let Some(v) = obj.get("messageId") {
        let ids = string_list(v, "messageId")?;
        if let Some(id) = ids.into_iter().next() {
            b = b.message_id(id);
        }
    }
    if let Some(v) = obj.get("inReplyTo") {
        let ids = string_list(v, "inReplyTo")?;
        if !ids.is_empty() {
            b = b.in_reply_to(ids);
        }
    }
    if let Some(v) = obj.get("references") {
        let ids = string_list(v, "references")?;
        if !ids.is_empty() {
            b = b.references(ids);
        }
    }
    for (k, v) in obj {
        if let Some(rest) = k.strip_prefix("header:") {
            let (name, form) = rest.split_once(':').unwrap_or((rest, "asRaw"));
            let Some(text) = v.as_str() else {
                return Err(SetError::invalid_properties(
                    &["headers"],
                    "header values must be Strings",
                ));
            };
            if !matches!(form, "asRaw" | "asText")
                || text.contains(['\r', '\n']) && form == "asText"
            {
                return Err(SetError::invalid_properties(
                    &["headers"],
                    "only asRaw/asText headers",
                ));
            }
            b = b.header(name.to_string(), Raw::new(text.trim().to_string()));
        }
    }
    if let Some(t) = part_value(obj, "textBody", "text/plain")? {
        b = b.text_body(t);
    }
    if let Some(h) = part_value(obj, "htmlBody", "text/html")? {
        b = b.html_body(h);
    }
    if let Some(v) = obj.get("attachments") {
        let Some(list) = v.as_array() else {
            return Err(SetError::invalid_properties(
                &["attachments"],
                "must be an array",
            ));
        };
        for a in list {
            let blob = a
                .get("blobId")
                .and_then(Value::as_str)
                .ok_or_else(|| SetError::invalid_properties(&["attachments"], "blobId missing"))?;
            let blob = ctx.resolve_id(blob).unwrap_or_default();
            let data = crate::blob::fetch(ctx, &blob)
                .await
                .ok_or_else(|| SetError::new("blobNotFound", format!("no blob {blob}")))?;
            let ty = a
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("application/octet-stream")
                .to_string();
            let name = a
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("attachment")
                .to_string();
            let inline = a.get("disposition").and_then(Value::as_str) == Some("inline");
            match (inline, a.get("cid").and_then(Value::as_str)) {
                (true, Some(cid)) => b = b.inline(ty, cid.to_string(), data),
                _ => b = b.attachment(ty, name, data),
            }
        }
    }
    if obj.get("textBody").is_none()
        && obj.get("htmlBody").is_none()
        && obj.get("attachments").is_none()
    {
        b = b.text_body(String::new());
    }
    b.write_to_vec()
        .map_err(|e| SetError::new("invalidProperties", e.to_string()))
}

/// The mailboxes a create or update names (ids resolved).
fn mailbox_set(ctx: &Ctx<'_>, s: &Snapshot, v: &Value) -> Result<BTreeSet<u64>, SetError> {
    let Value::Object(m) = v else {
        return Err(SetError::invalid_properties(
            &["mailboxIds"],
            "must be an object",
        ));
    };
    let mut out = BTreeSet::new();
    for (k, val) in m {
        if val != &Value::Bool(true) {
            return Err(SetError::invalid_properties(
                &["mailboxIds"],
                "values must be true",
            ));
        }
        let id = ctx
            .resolve_id(k)
            .and_then(|i| parse_mailbox_id(&i))
            .filter(|i| s.mailbox_by_id(*i).is_some())
            .ok_or_else(|| {
                SetError::invalid_properties(&["mailboxIds"], format!("no mailbox {k}"))
            })?;
        out.insert(id);
    }
    if out.is_empty() {
        return Err(SetError::invalid_properties(
            &["mailboxIds"],
            "an Email needs a mailbox",
        ));
    }
    Ok(out)
}

fn path_of(s: &Snapshot, id: u64) -> Option<MailboxPath> {
    s.mailbox_by_id(id)
        .map(|m| MailboxPath::new(&m.c.info.path.owner, &m.c.info.path.name))
}

/// Stores `raw` in `mailboxes` with `flags`; returns the created object.
pub(crate) async fn store_new(
    ctx: &Ctx<'_>,
    s: &Snapshot,
    raw: Vec<u8>,
    mailboxes: &BTreeSet<u64>,
    flags: Flags,
    received: Option<i64>,
) -> Result<Value, SetError> {
    let digest = mail_store::digest(&raw);
    let size = raw.len();
    let paths: Vec<MailboxPath> = mailboxes.iter().filter_map(|id| path_of(s, *id)).collect();
    let (user, quota) = (ctx.acc.uid.clone(), ctx.acc.quota);
    let date =
        received.map(|t| std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64));
    ctx.shared
        .store
        .run(move |st| {
            let first = st.open_mailbox(&user, &paths[0])?;
            let d = st.append(&first, &raw, &flags, date, &quota)?;
            for p in &paths[1..] {
                let to = st.open_mailbox(&user, p)?;
                st.copy(&first, &UidSet::single(d.uid), &to, &quota)?;
            }
            Ok(())
        })
        .await
        .map_err(|e| set_err(&e))?;
    let s2 = ctx
        .snapshot()
        .await
        .map_err(|e| SetError::new("serverFail", e.to_string()))?;
    let thread = s2
        .locate(&digest)
        .map(|l| s2.row(l[0]).thread.to_string())
        .unwrap_or_default();
    Ok(
        json!({"id": email_id(&digest), "blobId": blob_id(&digest), "threadId": thread, "size": size}),
    )
}

async fn create_one(
    ctx: &Ctx<'_>,
    s: &Snapshot,
    obj: &Map<String, Value>,
) -> Result<Value, SetError> {
    for k in [
        "id",
        "blobId",
        "threadId",
        "size",
        "hasAttachment",
        "preview",
    ] {
        if obj.contains_key(k) {
            return Err(SetError::invalid_properties(&[k], "server-set property"));
        }
    }
    let mailboxes = mailbox_set(ctx, s, obj.get("mailboxIds").unwrap_or(&Value::Null))?;
    let flags = match obj.get("keywords") {
        None | Some(Value::Null) => Flags::new(),
        Some(v) => {
            flags_from_keywords(v).map_err(|e| SetError::invalid_properties(&["keywords"], e))?
        }
    };
    let received = match obj.get("receivedAt") {
        None | Some(Value::Null) => None,
        Some(Value::String(d)) => Some(
            parse_date(d)
                .ok_or_else(|| SetError::invalid_properties(&["receivedAt"], "not a UTCDate"))?,
        ),
        Some(_) => {
            return Err(SetError::invalid_properties(
                &["receivedAt"],
                "not a UTCDate",
            ));
        }
    };
    let raw = build(ctx, obj).await?;
    if raw.len() as u64 > ctx.shared.limits.max_size_upload {
        return Err(SetError::new(
            "tooLarge",
            "the message is larger than maxSizeUpload",
        ));
    }
    store_new(ctx, s, raw, &mailboxes, flags, received).await
}

/// Applies an update patch to the Email `id`.
pub(crate) async fn update_one(
    ctx: &Ctx<'_>,
    s: &Snapshot,
    id: &str,
    patch: &Map<String, Value>,
) -> Result<(), SetError> {
    let digest = ctx
        .resolve_id(id)
        .and_then(|i| parse_email_id(&i).map(str::to_string))
        .ok_or_else(SetError::not_found)?;
    let locs = s.locate(&digest).cloned().ok_or_else(SetError::not_found)?;
    let first = s.row(locs[0]);
    let mut keywords: BTreeSet<String> = super::keywords(&first.flags).keys().cloned().collect();
    let current: BTreeSet<u64> = locs.iter().map(|l| s.mbox(*l).c.info.id).collect();
    let mut mailboxes = current.clone();
    let mut keywords_changed = false;
    for (k, v) in patch {
        if k == "keywords" {
            let f = flags_from_keywords(v)
                .map_err(|e| SetError::invalid_properties(&["keywords"], e))?;
            keywords = super::keywords(&f).keys().cloned().collect();
            keywords_changed = true;
        } else if let Some(kw) = k.strip_prefix("keywords/") {
            if !valid_keyword(kw) {
                return Err(SetError::invalid_properties(
                    &["keywords"],
                    format!("invalid keyword {kw:?}"),
                ));
            }
            match v {
                Value::Bool(true) => keywords.insert(kw.to_ascii_lowercase()),
                Value::Null => keywords.remove(&kw.to_ascii_lowercase()),
                _ => return Err(SetError::invalid_properties(&["keywords"], "true or null")),
            };
            keywords_changed = true;
        } else if k == "mailboxIds" {
            mailboxes = mailbox_set(ctx, s, v)?;
        } else if let Some(mb) = k.strip_prefix("mailboxIds/") {
            let mid = ctx
                .resolve_id(mb)
                .and_then(|i| parse_mailbox_id(&i))
                .filter(|i| s.mailbox_by_id(*i).is_some())
                .ok_or_else(|| {
                    SetError::invalid_properties(&["mailboxIds"], format!("no mailbox {mb}"))
                })?;
            match v {
                Value::Bool(true) => mailboxes.insert(mid),
                Value::Null => mailboxes.remove(&mid),
                _ => {
                    return Err(SetError::invalid_properties(
                        &["mailboxIds"],
                        "true or null",
                    ));
                }
            };
        } else {
            return Err(SetError::invalid_properties(
                &[],
                format!("{k} cannot be changed"),
            ));
        }
    }
    if mailboxes.is_empty() {
        return Err(SetError::invalid_properties(
            &["mailboxIds"],
            "an Email needs a mailbox",
        ));
    }
    let flags: Flags = keywords.iter().map(|k| flag_of(k)).collect();
    let rows: Vec<(MailboxPath, u32, Flags)> = locs
        .iter()
        .filter_map(|l| {
            let r = s.row(*l);
            path_of(s, s.mbox(*l).c.info.id).map(|p| (p, r.uid, r.flags.clone()))
        })
        .collect();
    let add: Vec<MailboxPath> = mailboxes
        .difference(&current)
        .filter_map(|i| path_of(s, *i))
        .collect();
    let remove: Vec<u64> = current.difference(&mailboxes).copied().collect();
    let remove_paths: Vec<MailboxPath> = remove.iter().filter_map(|i| path_of(s, *i)).collect();
    let (user, quota) = (ctx.acc.uid.clone(), ctx.acc.quota);
    ctx.shared
        .store
        .run(move |st| {
            if keywords_changed {
                for (p, uid, old) in &rows {
                    let h = st.open_mailbox(&user, p)?;
                    let mut want = flags.clone();
                    if old.contains(mail_store::DELETED) {
                        want.insert(mail_store::DELETED);
                    }
                    st.store_flags(&h, &UidSet::single(*uid), FlagOp::Replace, &want, None)?;
                }
            }
            let (src_path, src_uid, _) = &rows[0];
            let src = st.open_mailbox(&user, src_path)?;
            for p in &add {
                let to = st.open_mailbox(&user, p)?;
                st.copy(&src, &UidSet::single(*src_uid), &to, &quota)?;
            }
            for (p, uid, _) in &rows {
                if remove_paths.contains(p) {
                    let h = st.open_mailbox(&user, p)?;
                    remove_row(st, &h, *uid)?;
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| set_err(&e))
}

/// Removes one row: `\Deleted`, then UID EXPUNGE of that UID only.
pub(crate) fn remove_row(
    st: &mail_store::Store,
    h: &mail_store::MailboxHandle,
    uid: u32,
) -> Result<(), mail_store::StoreError> {
    let del: Flags = [mail_store::DELETED].into_iter().collect();
    st.store_flags(h, &UidSet::single(uid), FlagOp::Add, &del, None)?;
    st.expunge(h, Some(&UidSet::single(uid)))?;
    Ok(())
}

async fn destroy_one(ctx: &Ctx<'_>, s: &Snapshot, id: &str) -> Result<(), SetError> {
    let digest = ctx
        .resolve_id(id)
        .and_then(|i| parse_email_id(&i).map(str::to_string))
        .ok_or_else(SetError::not_found)?;
    let locs = s.locate(&digest).cloned().ok_or_else(SetError::not_found)?;
    let rows: Vec<(MailboxPath, u32)> = locs
        .iter()
        .filter_map(|l| path_of(s, s.mbox(*l).c.info.id).map(|p| (p, s.row(*l).uid)))
        .collect();
    let user = ctx.acc.uid.clone();
    ctx.shared
        .store
        .run(move |st| {
            for (p, uid) in &rows {
                let h = st.open_mailbox(&user, p)?;
                remove_row(st, &h, *uid)?;
            }
            Ok(())
        })
        .await
        .map_err(|e| set_err(&e))
}

/// Email/set.
pub(crate) async fn set(ctx: &mut Ctx<'_>, args: &Args) -> Result<Args, MethodError> {
    let a = SetArgs::parse(args, ctx.shared.limits.max_objects_in_set)?;
    ctx.account(args)?;
    let s: Arc<Snapshot> = ctx.snapshot().await?;
    let old_state = s.state();
    if let Some(want) = &a.if_in_state
        && *want != old_state
    {
        return Err(MethodError::state_mismatch(""));
    }
    let mut created = Map::new();
    let mut not_created = Map::new();
    for (cid, obj) in &a.create {
        match create_one(ctx, &s, obj).await {
            Ok(v) => {
                if let Some(id) = v.get("id").and_then(Value::as_str) {
                    ctx.remember(cid, id);
                }
                created.insert(cid.clone(), v);
            }
            Err(e) => {
                not_created.insert(cid.clone(), e.to_value());
            }
        }
    }
    let s: Arc<Snapshot> = if a.create.is_empty() {
        s
    } else {
        ctx.snapshot().await?
    };
    let mut updated = Map::new();
    let mut not_updated = Map::new();
    for (id, patch) in &a.update {
        match update_one(ctx, &s, id, patch).await {
            Ok(()) => {
                updated.insert(id.clone(), Value::Null);
            }
            Err(e) => {
                not_updated.insert(id.clone(), e.to_value());
            }
        }
    }
    let s: Arc<Snapshot> = if a.update.is_empty() {
        s
    } else {
        ctx.snapshot().await?
    };
    let mut destroyed = Vec::new();
    let mut not_destroyed = Map::new();
    for id in &a.destroy {
        match destroy_one(ctx, &s, id).await {
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
