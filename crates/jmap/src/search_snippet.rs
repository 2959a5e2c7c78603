//! SearchSnippet/get (RFC 8621 5): the subject and a piece of the body
//! around the first match of the filter's `text`, `subject` or `body`
//! terms, HTML-escaped with the matches in `<mark>`.

use mail_jmap_proto::MethodError;
use serde_json::{Map, Value, json};

use crate::api::{Args, Ctx};
use crate::email::body::parse;
use crate::email::parse_email_id;

fn terms(filter: &Value, out: &mut Vec<(String, bool)>) {
    let Value::Object(f) = filter else { return };
    if let Some(Value::Array(conds)) = f.get("conditions") {
        for c in conds {
            terms(c, out);
        }
        return;
    }
    for (k, v) in f {
        if let (Some(s), true) = (
            v.as_str(),
            matches!(k.as_str(), "text" | "subject" | "body"),
        ) {
            // (term, applies to the subject)
            out.push((s.to_lowercase(), k != "body"));
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Escapes `text`, wrapping each (case-insensitive) occurrence of a term.
fn mark(text: &str, words: &[&str]) -> Option<String> {
    let lower = text.to_lowercase();
    if lower.len() != text.len() {
        // Case folding changed lengths: match on the text as it is.
        return words.iter().any(|w| text.contains(w)).then(|| escape(text));
    }
    let mut out = String::new();
    let mut i = 0;
    let mut any = false;
    while i < text.len() {
        let hit = words
            .iter()
            .filter(|w| !w.is_empty())
            .find(|w| lower[i..].starts_with(**w));
        match hit {
            Some(w) => {
                out.push_str("<mark>");
                out.push_str(&escape(&text[i..i + w.len()]));
                out.push_str("</mark>");
                i += w.len();
                any = true;
            }
            None => {
                let ch = text[i..].chars().next().unwrap_or(' ');
                out.push_str(&escape(&ch.to_string()));
                i += ch.len_utf8();
            }
        }
    }
    any.then_some(out)
}

/// SearchSnippet/get.
pub(crate) async fn get(ctx: &mut Ctx<'_>, args: &Args) -> Result<Args, MethodError> {
    ctx.account(args)?;
    let ids = mail_jmap_proto::args::opt_strings(args, "emailIds")?
        .ok_or_else(|| MethodError::invalid_arguments("emailIds is required"))?;
    if ids.len() as u64 > ctx.shared.limits.max_objects_in_get {
        return Err(MethodError::request_too_large("more than maxObjectsInGet"));
    }
    let mut t = Vec::new();
    if let Some(f) = args.get("filter") {
        terms(f, &mut t);
    }
    let subject_terms: Vec<&str> = t
        .iter()
        .filter(|(_, s)| *s)
        .map(|(w, _)| w.as_str())
        .collect();
    let body_terms: Vec<&str> = t.iter().map(|(w, _)| w.as_str()).collect();
    let s = ctx.snapshot().await?;
    let mut list = Vec::new();
    let mut not_found = Vec::new();
    for id in ids {
        let Some(locs) = parse_email_id(&id).and_then(|d| s.locate(d)).cloned() else {
            not_found.push(json!(id));
            continue;
        };
        let raw = crate::email::get::read(ctx, &s, locs[0]).await?;
        let (mut subject, mut preview) = (Value::Null, Value::Null);
        if let Some(msg) = parse(&raw) {
            if let Some(sub) = msg.subject() {
                subject = mark(sub, &subject_terms).map_or(Value::Null, Value::String);
            }
            let text: String = msg
                .text_body
                .iter()
                .filter_map(|i| msg.parts.get(*i as usize).and_then(|p| p.text_contents()))
                .collect::<Vec<_>>()
                .join(" ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            let lower = text.to_lowercase();
            if lower.len() == text.len()
                && let Some(pos) = body_terms
                    .iter()
                    .filter(|w| !w.is_empty())
                    .filter_map(|w| lower.find(w))
                    .min()
            {
                let mut start = pos.saturating_sub(60);
                while !text.is_char_boundary(start) {
                    start -= 1;
                }
                let mut end = (pos + 200).min(text.len());
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                preview = mark(&text[start..end], &body_terms).map_or(Value::Null, Value::String);
            }
        }
        list.push(json!({"emailId": id, "subject": subject, "preview": preview}));
    }
    let mut out = Map::new();
    out.insert("accountId".into(), json!(ctx.acc.account_id));
    out.insert("list".into(), Value::Array(list));
    out.insert(
        "notFound".into(),
        if not_found.is_empty() {
            Value::Null
        } else {
            json!(not_found)
        },
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_and_escapes() {
        assert_eq!(
            mark("Lunch <today> at noon", &["today"]).as_deref(),
            Some("Lunch &lt;<mark>today</mark>&gt; at noon")
        );
        assert_eq!(mark("nothing", &["x"]), None);
    }
}
