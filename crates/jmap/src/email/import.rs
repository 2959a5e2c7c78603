//! Email/import (RFC 8621 4.8) and Email/parse (4.9): messages from blobs.

use mail_jmap_proto::{MethodError, SetError, property};
use serde_json::{Map, Value, json};

use super::body::{message_properties, parse};
use super::get::body_options;
use super::{email_id, flags_from_keywords, parse_date};
use crate::api::{Args, Ctx};
use crate::mailbox::set_response;

/// Email/import: each `{blobId, mailboxIds, keywords, receivedAt}` is
/// stored as it is. The same bytes already in the account are refused
/// with `alreadyExists` (RFC 8621 4.8 allows it; Email ids are content
/// digests here).
pub(crate) async fn import(ctx: &mut Ctx<'_>, args: &Args) -> Result<Args, MethodError> {
    ctx.account(args)?;
    let emails = match args.get("emails") {
        Some(Value::Object(m)) => m.clone(),
        _ => return Err(MethodError::invalid_arguments("emails must be an object")),
    };
    if emails.len() as u64 > ctx.shared.limits.max_objects_in_set {
        return Err(MethodError::request_too_large("more than maxObjectsInSet"));
    }
    let s = ctx.snapshot().await?;
    let old_state = s.state();
    if let Some(Value::String(want)) = args.get("ifInState")
        && *want != old_state
    {
        return Err(MethodError::state_mismatch(""));
    }
    let mut created = Map::new();
    let mut not_created = Map::new();
    for (cid, obj) in emails {
        let result: Result<Value, SetError> = async {
            let Some(blob) = obj.get("blobId").and_then(Value::as_str) else {
                return Err(SetError::invalid_properties(
                    &["blobId"],
                    "blobId is required",
                ));
            };
            let blob = ctx.resolve_id(blob).unwrap_or_default();
            let raw = crate::blob::fetch(ctx, &blob)
                .await
                .ok_or_else(|| SetError::new("blobNotFound", format!("no blob {blob}")))?;
            let digest = mail_store::digest(&raw);
            let s = ctx
                .snapshot()
                .await
                .map_err(|e| SetError::new("serverFail", e.to_string()))?;
            if s.locate(&digest).is_some() {
                let mut e = SetError::new("alreadyExists", "the same message is in the account");
                e.existing_id = Some(email_id(&digest));
                return Err(e);
            }
            let mb = obj.get("mailboxIds").cloned().unwrap_or(Value::Null);
            let mailboxes = {
                let Value::Object(m) = &mb else {
                    return Err(SetError::invalid_properties(&["mailboxIds"], "required"));
                };
                let mut out = std::collections::BTreeSet::new();
                for k in m.keys() {
                    let id = ctx
                        .resolve_id(k)
                        .and_then(|i| crate::mailbox::parse_mailbox_id(&i))
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
                out
            };
            let flags = match obj.get("keywords") {
                None | Some(Value::Null) => mail_store::Flags::new(),
                Some(v) => flags_from_keywords(v)
                    .map_err(|e| SetError::invalid_properties(&["keywords"], e))?,
            };
            let received = match obj.get("receivedAt") {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.as_str().and_then(parse_date).ok_or_else(|| {
                    SetError::invalid_properties(&["receivedAt"], "not a UTCDate")
                })?),
            };
            super::set::store_new(ctx, &s, raw, &mailboxes, flags, received).await
        }
        .await;
        match result {
            Ok(v) => {
                if let Some(id) = v.get("id").and_then(Value::as_str) {
                    ctx.remember(&cid, id);
                }
                created.insert(cid, v);
            }
            Err(e) => {
                not_created.insert(cid, e.to_value());
            }
        }
    }
    let new_state = ctx.snapshot().await?.state();
    let mut out = set_response(
        ctx,
        old_state,
        new_state,
        created,
        not_created,
        Map::new(),
        Map::new(),
        Vec::new(),
        Map::new(),
    );
    for k in ["updated", "destroyed", "notUpdated", "notDestroyed"] {
        out.remove(k);
    }
    Ok(out)
}

/// Email/parse: blobs (an uploaded message, or a `message/rfc822` part)
/// as Email objects without id, mailboxIds, keywords or receivedAt.
pub(crate) async fn parse_blobs(ctx: &mut Ctx<'_>, args: &Args) -> Result<Args, MethodError> {
    ctx.account(args)?;
    let blobs = mail_jmap_proto::args::opt_strings(args, "blobIds")?
        .ok_or_else(|| MethodError::invalid_arguments("blobIds is required"))?;
    if blobs.len() as u64 > ctx.shared.limits.max_objects_in_get {
        return Err(MethodError::request_too_large("more than maxObjectsInGet"));
    }
    let default: Vec<&str> = property::EMAIL_DEFAULT
        .iter()
        .copied()
        .filter(|p| !matches!(*p, "id" | "mailboxIds" | "keywords" | "receivedAt"))
        .collect();
    let requested = mail_jmap_proto::args::opt_strings(args, "properties")?;
    let mut props = property::select(requested.as_deref(), property::EMAIL, &default, true)?;
    props.retain(|p| !matches!(p.as_str(), "id" | "mailboxIds" | "keywords" | "receivedAt"));
    let opts = body_options(ctx, args)?;
    let mut parsed = Map::new();
    let mut not_parsable = Vec::new();
    let mut not_found = Vec::new();
    for blob in blobs {
        let Some(raw) = crate::blob::fetch(ctx, &blob).await else {
            not_found.push(json!(blob));
            continue;
        };
        let Some(msg) = parse(&raw) else {
            not_parsable.push(json!(blob));
            continue;
        };
        let mut o = Map::new();
        for p in &props {
            match p.as_str() {
                "blobId" => {
                    o.insert(p.clone(), json!(blob));
                }
                "threadId" => {
                    o.insert(p.clone(), Value::Null);
                }
                "size" => {
                    o.insert(p.clone(), json!(raw.len()));
                }
                _ => {}
            }
        }
        message_properties(&msg, &blob, &props, &opts, &mut o);
        parsed.insert(blob, Value::Object(o));
    }
    let mut out = Map::new();
    out.insert("accountId".into(), json!(ctx.acc.account_id));
    out.insert(
        "parsed".into(),
        if parsed.is_empty() {
            Value::Null
        } else {
            Value::Object(parsed)
        },
    );
    out.insert("notParsable".into(), json!(not_parsable));
    out.insert("notFound".into(), json!(not_found));
    Ok(out)
}
