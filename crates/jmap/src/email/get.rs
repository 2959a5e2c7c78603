//! Email/get (RFC 8621 4.2).

use std::sync::Arc;

use mail_jmap_proto::args::{GetArgs, bool_or, opt_unsigned};
use mail_jmap_proto::{MethodError, property};
use mail_store::MailboxPath;
use serde_json::{Map, Value, json};

use super::body::{BodyOptions, message_properties, parse};
use super::{blob_id, email_id, keywords, parse_email_id, utc_date};
use crate::api::{Args, Ctx};
use crate::index::{Loc, Snapshot};
use crate::mailbox::mailbox_id;

/// Properties answered from the index alone, without reading the file.
const FROM_INDEX: &[&str] = &[
    "id",
    "blobId",
    "threadId",
    "mailboxIds",
    "keywords",
    "size",
    "receivedAt",
    "hasAttachment",
];

/// Reads the bytes of the copy at `loc`.
pub(crate) async fn read(ctx: &Ctx<'_>, s: &Snapshot, loc: Loc) -> Result<Vec<u8>, MethodError> {
    let m = s.mbox(loc);
    let path = MailboxPath::new(&m.c.info.path.owner, &m.c.info.path.name);
    let (user, uid) = (ctx.acc.uid.clone(), s.row(loc).uid);
    ctx.store(move |st| {
        let h = st.open_mailbox(&user, &path)?;
        st.read_message(&h, uid)
    })
    .await
}

/// Reads the bytes of several copies in one trip to the blocking pool
/// (a page of 50 is one task, not 50).
pub(crate) async fn read_many(
    ctx: &Ctx<'_>,
    s: &Snapshot,
    locs: &[Loc],
) -> Result<Vec<Option<Vec<u8>>>, MethodError> {
    let wanted: Vec<(MailboxPath, u32)> = locs
        .iter()
        .map(|l| {
            let m = s.mbox(*l);
            (
                MailboxPath::new(&m.c.info.path.owner, &m.c.info.path.name),
                s.row(*l).uid,
            )
        })
        .collect();
    let user = ctx.acc.uid.clone();
    ctx.store(move |st| {
        let mut out = Vec::with_capacity(wanted.len());
        let mut handles: std::collections::HashMap<MailboxPath, mail_store::MailboxHandle> =
            std::collections::HashMap::new();
        for (path, uid) in wanted {
            let h = match handles.get(&path) {
                Some(h) => h.clone(),
                None => {
                    let h = st.open_mailbox(&user, &path)?;
                    handles.insert(path, h.clone());
                    h
                }
            };
            out.push(st.read_message(&h, uid).ok());
        }
        Ok(out)
    })
    .await
}

/// The Email object of `digest` with `props`.
pub(crate) fn index_properties(
    s: &Snapshot,
    digest: &str,
    locs: &[Loc],
    props: &[String],
    out: &mut Map<String, Value>,
) {
    let first = s.row(locs[0]);
    for p in props {
        let v = match p.as_str() {
            "id" => json!(email_id(digest)),
            "blobId" => json!(blob_id(digest)),
            "threadId" => json!(first.thread.as_ref()),
            "mailboxIds" => {
                let mut m = Map::new();
                for l in locs {
                    m.insert(mailbox_id(s.mbox(*l).c.info.id), Value::Bool(true));
                }
                Value::Object(m)
            }
            "keywords" => Value::Object(keywords(&first.flags)),
            "size" => json!(first.size),
            "receivedAt" => json!(utc_date(first.received)),
            "hasAttachment" => json!(first.has_attachment),
            _ => continue,
        };
        out.insert(p.clone(), v);
    }
}

/// The body options of an Email/get or Email/parse call.
pub(crate) fn body_options(ctx: &Ctx<'_>, args: &Args) -> Result<BodyOptions, MethodError> {
    let body_properties = property::select(
        mail_jmap_proto::args::opt_strings(args, "bodyProperties")?.as_deref(),
        property::BODY_PART,
        property::BODY_PART_DEFAULT,
        true,
    )?;
    let body_properties = body_properties.into_iter().filter(|p| p != "id").collect();
    Ok(BodyOptions {
        body_properties,
        fetch_text: bool_or(args, "fetchTextBodyValues", false)?,
        fetch_html: bool_or(args, "fetchHTMLBodyValues", false)?,
        fetch_all: bool_or(args, "fetchAllBodyValues", false)?,
        max_bytes: opt_unsigned(args, "maxBodyValueBytes")?.unwrap_or(0) as usize,
        allow_remote_images: bool_or(args, "allowRemoteImages", false)?,
        account_id: ctx.acc.account_id.clone(),
    })
}

/// Email/get.
pub(crate) async fn get(ctx: &mut Ctx<'_>, args: &Args) -> Result<Args, MethodError> {
    let a = GetArgs::parse(args, ctx.shared.limits.max_objects_in_get)?;
    ctx.account(args)?;
    let props = property::select(
        a.properties.as_deref(),
        property::EMAIL,
        property::EMAIL_DEFAULT,
        true,
    )?;
    let opts = body_options(ctx, args)?;
    let s: Arc<Snapshot> = ctx.snapshot().await?;
    let ids: Vec<String> = match a.ids {
        Some(ids) => ids,
        None => {
            let all = s.by_digest();
            if all.len() as u64 > ctx.shared.limits.max_objects_in_get {
                return Err(MethodError::request_too_large(
                    "more Emails than maxObjectsInGet: give ids",
                ));
            }
            all.keys().map(|d| email_id(d)).collect()
        }
    };
    let needs_file = props.iter().any(|p| !FROM_INDEX.contains(&p.as_str()));
    let mut found = Vec::new();
    let mut not_found = Vec::new();
    for id in ids {
        let resolved = ctx.resolve_id(&id);
        match resolved
            .as_deref()
            .and_then(parse_email_id)
            .and_then(|d| s.locate(d).map(|l| (d.to_string(), l.clone())))
        {
            Some(x) => found.push(x),
            None => not_found.push(json!(id)),
        }
    }
    let raws = if needs_file {
        let firsts: Vec<Loc> = found.iter().map(|(_, l)| l[0]).collect();
        read_many(ctx, &s, &firsts).await?
    } else {
        Vec::new()
    };
    let mut list = Vec::with_capacity(found.len());
    for (i, (digest, locs)) in found.iter().enumerate() {
        let mut o = Map::new();
        index_properties(&s, digest, locs, &props, &mut o);
        if needs_file {
            match raws.get(i).and_then(|r| r.as_deref()).and_then(parse) {
                Some(msg) => message_properties(&msg, &blob_id(digest), &props, &opts, &mut o),
                None => {
                    // Unreadable or unparsable: the header properties are null.
                    for p in &props {
                        o.entry(p.clone()).or_insert(Value::Null);
                    }
                }
            }
        }
        list.push(Value::Object(o));
    }
    let mut out = Map::new();
    out.insert("accountId".into(), json!(ctx.acc.account_id));
    out.insert("state".into(), json!(s.state()));
    out.insert("list".into(), Value::Array(list));
    out.insert("notFound".into(), Value::Array(not_found));
    Ok(out)
}
