//! VacationResponse/get and /set (RFC 8621 8): the directory's vacation
//! attributes, the same ones the relay's reprocess channel answers from
//! (`tiermailVacationText`/`Start`/`End` in LDAP, `vacation` in the file
//! directory).
//!
//! Mapping: `isEnabled` is whether the directory holds a vacation text
//! (disabling removes it, so the text is not kept); `fromDate`/`toDate`
//! are the start and end (GeneralizedTime in the directory); `textBody`
//! is the text. The relay builds the reply's subject (`Auto: <original
//! subject>`) and sends plain text only, so `subject` and `htmlBody`
//! must be null. The relay caches directory lookups, so a change reaches
//! it within its cache TTL.

use mail_directory::{UserChange, Vacation};
use mail_jmap_proto::args::{GetArgs, SetArgs};
use mail_jmap_proto::{MethodError, SetError, property};
use serde_json::{Map, Value, json};

use crate::api::{Args, Ctx};
use crate::email::{parse_date, utc_date};
use crate::mailbox::set_response;

fn to_generalized(secs: i64) -> String {
    let d = utc_date(secs);
    // 2026-12-03T14:00:00Z -> 20261203140000Z
    d.chars().filter(|c| c.is_ascii_digit()).collect::<String>() + "Z"
}

fn from_generalized(s: &str) -> Option<String> {
    mail_directory::model::parse_generalized_time(s).map(|t| utc_date(t as i64))
}

async fn current(ctx: &Ctx<'_>) -> Result<Option<Vacation>, MethodError> {
    match ctx.shared.directory.user(&ctx.acc.uid).await {
        Ok(Some(u)) => Ok(u.delivery.vacation),
        Ok(None) => Err(MethodError::forbidden(
            "the user is gone from the directory",
        )),
        Err(e) => Err(MethodError::server_unavailable(e.to_string())),
    }
}

fn object(v: &Option<Vacation>, props: &[String]) -> Value {
    let mut o = Map::new();
    for p in props {
        let val = match p.as_str() {
            "id" => json!("singleton"),
            "isEnabled" => json!(v.is_some()),
            "fromDate" => json!(
                v.as_ref()
                    .and_then(|v| v.start.as_deref())
                    .and_then(from_generalized)
            ),
            "toDate" => json!(
                v.as_ref()
                    .and_then(|v| v.end.as_deref())
                    .and_then(from_generalized)
            ),
            "subject" | "htmlBody" => Value::Null,
            "textBody" => json!(v.as_ref().map(|v| v.text.clone())),
            _ => continue,
        };
        o.insert(p.clone(), val);
    }
    Value::Object(o)
}

fn state(v: &Option<Vacation>) -> String {
    let text = serde_json::to_string(v).unwrap_or_default();
    format!("v{:08x}", crate::state::meta(&text, None, false))
}

/// VacationResponse/get.
pub(crate) async fn get(ctx: &mut Ctx<'_>, args: &Args) -> Result<Args, MethodError> {
    let a = GetArgs::parse(args, ctx.shared.limits.max_objects_in_get)?;
    ctx.account(args)?;
    let props = property::select(
        a.properties.as_deref(),
        property::VACATION_RESPONSE,
        property::VACATION_RESPONSE,
        false,
    )?;
    let v = current(ctx).await?;
    let (mut list, mut not_found) = (Vec::new(), Vec::new());
    match a.ids {
        None => list.push(object(&v, &props)),
        Some(ids) => {
            for id in ids {
                if id == "singleton" {
                    list.push(object(&v, &props));
                } else {
                    not_found.push(json!(id));
                }
            }
        }
    }
    let mut out = Map::new();
    out.insert("accountId".into(), json!(ctx.acc.account_id));
    out.insert("state".into(), json!(state(&v)));
    out.insert("list".into(), Value::Array(list));
    out.insert("notFound".into(), Value::Array(not_found));
    Ok(out)
}

fn date_arg(v: &Value, prop: &'static str) -> Result<Option<String>, SetError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => parse_date(s)
            .map(|t| Some(to_generalized(t)))
            .ok_or_else(|| SetError::invalid_properties(&[prop], "not a UTCDate")),
        _ => Err(SetError::invalid_properties(&[prop], "not a UTCDate")),
    }
}

fn patched(
    old: &Option<Vacation>,
    patch: &Map<String, Value>,
) -> Result<Option<Vacation>, SetError> {
    let mut enabled = old.is_some();
    let mut v = old.clone().unwrap_or(Vacation {
        text: String::new(),
        start: None,
        end: None,
    });
    for (k, val) in patch {
        match k.as_str() {
            "isEnabled" => {
                enabled = val
                    .as_bool()
                    .ok_or_else(|| SetError::invalid_properties(&["isEnabled"], "a Boolean"))?
            }
            "fromDate" => v.start = date_arg(val, "fromDate")?,
            "toDate" => v.end = date_arg(val, "toDate")?,
            "textBody" => match val {
                Value::String(s) => v.text = s.clone(),
                Value::Null => v.text = String::new(),
                _ => {
                    return Err(SetError::invalid_properties(
                        &["textBody"],
                        "a String or null",
                    ));
                }
            },
            "subject" | "htmlBody" if val.is_null() => {}
            "subject" => {
                return Err(SetError::invalid_properties(
                    &["subject"],
                    "the relay writes the subject (Auto: <original subject>)",
                ));
            }
            "htmlBody" => {
                return Err(SetError::invalid_properties(
                    &["htmlBody"],
                    "vacation replies are plain text",
                ));
            }
            "id" => {}
            _ => {
                return Err(SetError::invalid_properties(
                    &[],
                    format!("unknown property {k}"),
                ));
            }
        }
    }
    if !enabled {
        return Ok(None);
    }
    if v.text.trim().is_empty() {
        return Err(SetError::invalid_properties(
            &["textBody"],
            "an enabled vacation response needs a text",
        ));
    }
    Ok(Some(v))
}

/// VacationResponse/set: only `update` of `singleton` (RFC 8621 8.2).
pub(crate) async fn set(ctx: &mut Ctx<'_>, args: &Args) -> Result<Args, MethodError> {
    let a = SetArgs::parse(args, ctx.shared.limits.max_objects_in_set)?;
    ctx.account(args)?;
    let old = current(ctx).await?;
    let old_state = state(&old);
    if let Some(want) = &a.if_in_state
        && *want != old_state
    {
        return Err(MethodError::state_mismatch(""));
    }
    let mut not_created = Map::new();
    for (cid, _) in &a.create {
        not_created.insert(
            cid.clone(),
            SetError::new("singleton", "there is one VacationResponse").to_value(),
        );
    }
    let mut not_destroyed = Map::new();
    for id in &a.destroy {
        not_destroyed.insert(
            id.clone(),
            SetError::new("singleton", "there is one VacationResponse").to_value(),
        );
    }
    let (mut updated, mut not_updated) = (Map::new(), Map::new());
    let mut now = old.clone();
    for (id, patch) in &a.update {
        if id != "singleton" {
            not_updated.insert(id.clone(), SetError::not_found().to_value());
            continue;
        }
        let r = match patched(&now, patch) {
            Ok(v) => {
                let change = UserChange {
                    vacation: Some(v.clone()),
                    ..Default::default()
                };
                match ctx
                    .shared
                    .directory
                    .modify_user(&ctx.acc.uid, &change)
                    .await
                {
                    Ok(_) => {
                        now = v;
                        Ok(())
                    }
                    Err(e) => Err(SetError::new("serverFail", e.to_string())),
                }
            }
            Err(e) => Err(e),
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
    let new_state = state(&now);
    Ok(set_response(
        ctx,
        old_state,
        new_state,
        Map::new(),
        not_created,
        updated,
        not_updated,
        Vec::new(),
        not_destroyed,
    ))
}
