//! Identity/get, /changes, /set (RFC 8621 6).
//!
//! The identities are the user's addresses in the directory (primary and
//! alternates; these cannot be destroyed) plus ones the user created for
//! one of those addresses. Names, reply-to, bcc and signatures are kept
//! per account in `state_dir/identities/<account>.json`.

use std::collections::BTreeMap;

use mail_jmap_proto::args::{ChangesArgs, GetArgs, SetArgs};
use mail_jmap_proto::{MethodError, SetError, property};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::Digest;

use crate::api::{Args, Ctx};
use crate::mailbox::set_response;

/// One identity as stored.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Identity {
    /// The address.
    pub email: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Reply-To addresses (EmailAddress objects).
    #[serde(default)]
    pub reply_to: Value,
    /// Bcc addresses.
    #[serde(default)]
    pub bcc: Value,
    /// Plain-text signature.
    #[serde(default)]
    pub text_signature: String,
    /// HTML signature.
    #[serde(default)]
    pub html_signature: String,
    /// True for ones the user created (they may be destroyed).
    #[serde(default)]
    pub created: bool,
}

/// The account's identities file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Stored {
    /// Id -> identity (settings of directory addresses and created ones).
    identities: BTreeMap<String, Identity>,
}

/// The id of the identity for `email`.
pub fn identity_id(email: &str) -> String {
    let d = sha2::Sha256::digest(email.to_ascii_lowercase().as_bytes());
    format!(
        "i{}",
        d[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

fn file(ctx: &Ctx<'_>) -> std::path::PathBuf {
    ctx.shared
        .cfg
        .state_dir
        .join("identities")
        .join(format!("{}.json", ctx.acc.account_id))
}

fn load(ctx: &Ctx<'_>) -> Stored {
    std::fs::read(file(ctx))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn save(ctx: &Ctx<'_>, s: &Stored) -> Result<(), SetError> {
    let path = file(ctx);
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let body = serde_json::to_vec_pretty(s).map_err(std::io::Error::other)?;
        mail_core::service::write_atomically(&path, &body)
    };
    write().map_err(|e| SetError::new("serverFail", e.to_string()))
}

/// The addresses the user may send from.
pub(crate) fn owned(ctx: &Ctx<'_>) -> Vec<String> {
    let mut v = vec![ctx.acc.address.clone()];
    v.extend(ctx.acc.alternates.iter().cloned());
    v
}

/// Every identity of the account, by id.
pub(crate) fn all(ctx: &Ctx<'_>) -> BTreeMap<String, Identity> {
    let stored = load(ctx);
    let mut out = BTreeMap::new();
    for a in owned(ctx) {
        let id = identity_id(&a);
        let ident = stored.identities.get(&id).cloned().unwrap_or(Identity {
            email: a.clone(),
            name: ctx.acc.name.clone(),
            ..Default::default()
        });
        out.insert(
            id,
            Identity {
                email: a,
                created: false,
                ..ident
            },
        );
    }
    for (id, i) in stored.identities {
        if i.created && owned(ctx).iter().any(|a| a.eq_ignore_ascii_case(&i.email)) {
            out.entry(id).or_insert(i);
        }
    }
    out
}

fn object(id: &str, i: &Identity, props: &[String]) -> Value {
    let mut o = Map::new();
    for p in props {
        let v = match p.as_str() {
            "id" => json!(id),
            "name" => json!(i.name),
            "email" => json!(i.email),
            "replyTo" => i.reply_to.clone(),
            "bcc" => i.bcc.clone(),
            "textSignature" => json!(i.text_signature),
            "htmlSignature" => json!(i.html_signature),
            "mayDelete" => json!(i.created),
            _ => continue,
        };
        o.insert(p.clone(), v);
    }
    Value::Object(o)
}

fn state(ctx: &Ctx<'_>) -> String {
    let body = serde_json::to_vec(&all(ctx).into_iter().collect::<Vec<_>>()).unwrap_or_default();
    let d = sha2::Sha256::digest(&body);
    format!(
        "i{}",
        d[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

/// Identity/get.
pub(crate) async fn get(ctx: &mut Ctx<'_>, args: &Args) -> Result<Args, MethodError> {
    let a = GetArgs::parse(args, ctx.shared.limits.max_objects_in_get)?;
    ctx.account(args)?;
    let props = property::select(
        a.properties.as_deref(),
        property::IDENTITY,
        property::IDENTITY,
        false,
    )?;
    let all = all(ctx);
    let mut list = Vec::new();
    let mut not_found = Vec::new();
    match a.ids {
        None => list.extend(all.iter().map(|(id, i)| object(id, i, &props))),
        Some(ids) => {
            for id in ids {
                match ctx
                    .resolve_id(&id)
                    .and_then(|i| all.get(&i).map(|x| (i, x)))
                {
                    Some((rid, i)) => list.push(object(&rid, i, &props)),
                    None => not_found.push(json!(id)),
                }
            }
        }
    }
    let mut out = Map::new();
    out.insert("accountId".into(), json!(ctx.acc.account_id));
    out.insert("state".into(), json!(state(ctx)));
    out.insert("list".into(), Value::Array(list));
    out.insert("notFound".into(), Value::Array(not_found));
    Ok(out)
}

/// Identity/changes: identities change rarely; any change asks the
/// client to fetch them again.
pub(crate) async fn changes(ctx: &mut Ctx<'_>, args: &Args) -> Result<Args, MethodError> {
    let a = ChangesArgs::parse(args)?;
    ctx.account(args)?;
    let now = state(ctx);
    if a.since_state != now {
        return Err(MethodError::cannot_calculate_changes("identities changed"));
    }
    let mut out = Map::new();
    out.insert("accountId".into(), json!(ctx.acc.account_id));
    out.insert("oldState".into(), json!(a.since_state));
    out.insert("newState".into(), json!(now));
    out.insert("hasMoreChanges".into(), json!(false));
    for k in ["created", "updated", "destroyed"] {
        out.insert(k.into(), json!([]));
    }
    Ok(out)
}

fn apply(i: &mut Identity, obj: &Map<String, Value>) -> Result<(), SetError> {
    for (k, v) in obj {
        match (k.as_str(), v) {
            ("name", Value::String(s)) => i.name = s.clone(),
            ("textSignature", Value::String(s)) => i.text_signature = s.clone(),
            ("htmlSignature", Value::String(s)) => i.html_signature = s.clone(),
            ("replyTo" | "bcc", Value::Null | Value::Array(_)) => {
                if k == "replyTo" {
                    i.reply_to = v.clone();
                } else {
                    i.bcc = v.clone();
                }
            }
            ("email", _) | ("id", _) | ("mayDelete", _) => {}
            _ => {
                return Err(SetError::invalid_properties(
                    &[],
                    format!("bad value for {k}"),
                ));
            }
        }
    }
    Ok(())
}

/// Identity/set.
pub(crate) async fn set(ctx: &mut Ctx<'_>, args: &Args) -> Result<Args, MethodError> {
    let a = SetArgs::parse(args, ctx.shared.limits.max_objects_in_set)?;
    ctx.account(args)?;
    let old_state = state(ctx);
    if let Some(want) = &a.if_in_state
        && *want != old_state
    {
        return Err(MethodError::state_mismatch(""));
    }
    let mut stored = load(ctx);
    let current = all(ctx);
    let (mut created, mut not_created) = (Map::new(), Map::new());
    for (cid, obj) in &a.create {
        let email = obj.get("email").and_then(Value::as_str).unwrap_or("");
        let r = if !owned(ctx).iter().any(|o| o.eq_ignore_ascii_case(email)) {
            Err(SetError::new("forbiddenFrom", "not one of your addresses"))
        } else {
            let id = identity_id(email);
            let mut i = current.get(&id).cloned().unwrap_or_default();
            i.email = email.to_string();
            apply(&mut i, obj).map(|()| {
                stored.identities.insert(id.clone(), i);
                id
            })
        };
        match r.and_then(|id| save(ctx, &stored).map(|()| id)) {
            Ok(id) => {
                ctx.remember(cid, &id);
                created.insert(cid.clone(), json!({"id": id, "mayDelete": false}));
            }
            Err(e) => {
                not_created.insert(cid.clone(), e.to_value());
            }
        }
    }
    let (mut updated, mut not_updated) = (Map::new(), Map::new());
    for (id, patch) in &a.update {
        let rid = ctx.resolve_id(id).unwrap_or_default();
        let r = match current.get(&rid) {
            None => Err(SetError::not_found()),
            Some(i) => {
                let mut i = stored
                    .identities
                    .get(&rid)
                    .cloned()
                    .unwrap_or_else(|| i.clone());
                apply(&mut i, patch).and_then(|()| {
                    stored.identities.insert(rid.clone(), i);
                    save(ctx, &stored)
                })
            }
        };
        match r {
            Ok(()) => {
                updated.insert(id.clone(), Value::Null);
            }
            Err(e) => {
                not_updated.insert(id.clone(), e.to_value());
            }
        }
    }
    let (mut destroyed, mut not_destroyed) = (Vec::new(), Map::new());
    for id in &a.destroy {
        let r = match current.get(id) {
            None => Err(SetError::not_found()),
            Some(i) if !i.created => {
                Err(SetError::forbidden("a directory address cannot be removed"))
            }
            Some(_) => {
                stored.identities.remove(id);
                save(ctx, &stored)
            }
        };
        match r {
            Ok(()) => destroyed.push(json!(id)),
            Err(e) => {
                not_destroyed.insert(id.clone(), e.to_value());
            }
        }
    }
    let new_state = state(ctx);
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
