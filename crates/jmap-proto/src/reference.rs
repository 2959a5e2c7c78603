//! Result references (RFC 8620 3.7): an argument named `#foo` whose value
//! is `{"resultOf", "name", "path"}` takes its value from an earlier
//! response in the same request, selected by a JSON Pointer (RFC 6901)
//! extended with `*`, which maps the rest of the path over an array and
//! flattens array results one level.

use serde_json::{Map, Value};

use crate::error::MethodError;
use crate::request::Invocation;

/// Replaces every `#name` argument in `args` by the value it references
/// in `responses` (earlier responses of the same request).
pub fn resolve(args: &mut Map<String, Value>, responses: &[Invocation]) -> Result<(), MethodError> {
    let refs: Vec<String> = args
        .keys()
        .filter(|k| k.starts_with('#'))
        .cloned()
        .collect();
    for key in refs {
        let plain = key[1..].to_string();
        if args.contains_key(&plain) {
            return Err(MethodError::invalid_arguments(format!(
                "both {plain} and {key} are given"
            )));
        }
        let Some(reference) = args.remove(&key) else {
            continue;
        };
        let value = evaluate(&reference, responses)?;
        args.insert(plain, value);
    }
    Ok(())
}

fn evaluate(reference: &Value, responses: &[Invocation]) -> Result<Value, MethodError> {
    let bad = |why: &str| MethodError::invalid_result_reference(why.to_string());
    let (Some(Value::String(result_of)), Some(Value::String(name)), Some(Value::String(path))) = (
        reference.get("resultOf"),
        reference.get("name"),
        reference.get("path"),
    ) else {
        return Err(bad(
            "a result reference is {resultOf: String, name: String, path: String}",
        ));
    };
    let response = responses
        .iter()
        .find(|r| &r.call_id == result_of)
        .ok_or_else(|| {
            bad(&format!(
                "no earlier response has the call id {result_of:?}"
            ))
        })?;
    if &response.name != name {
        return Err(bad(&format!(
            "the response to {result_of:?} is {:?}, not {name:?}",
            response.name
        )));
    }
    let tokens = pointer_tokens(path).ok_or_else(|| bad("the path is not a JSON Pointer"))?;
    let root = Value::Object(response.arguments.clone());
    pointer(&root, &tokens).ok_or_else(|| bad(&format!("the path {path:?} selects nothing")))
}

/// Splits a JSON Pointer into unescaped reference tokens.
fn pointer_tokens(path: &str) -> Option<Vec<String>> {
    if path.is_empty() {
        return Some(Vec::new());
    }
    let rest = path.strip_prefix('/')?;
    Some(
        rest.split('/')
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect(),
    )
}

/// Evaluates `tokens` against `value` with RFC 8620's `*` extension.
pub fn pointer(value: &Value, tokens: &[String]) -> Option<Value> {
    let Some((first, rest)) = tokens.split_first() else {
        return Some(value.clone());
    };
    match value {
        Value::Array(items) if first == "*" => {
            let mut out = Vec::new();
            for item in items {
                match pointer(item, rest)? {
                    Value::Array(inner) => out.extend(inner),
                    other => out.push(other),
                }
            }
            Some(Value::Array(out))
        }
        Value::Array(items) => {
            if first.len() > 1 && first.starts_with('0') {
                return None;
            }
            let i: usize = first.parse().ok()?;
            pointer(items.get(i)?, rest)
        }
        Value::Object(m) => pointer(m.get(first)?, rest),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn responses() -> Vec<Invocation> {
        let args = json!({
            "ids": ["a", "b"],
            "list": [{"threadId": "t1", "emailIds": ["e1", "e2"]},
                     {"threadId": "t2", "emailIds": ["e3"]}],
            "a/b": 1, "m~n": 2
        });
        let Value::Object(m) = args else { panic!() };
        vec![Invocation::new("Email/query", m, "c0")]
    }

    fn run(args: Value) -> Result<Value, MethodError> {
        let Value::Object(mut m) = args else { panic!() };
        resolve(&mut m, &responses())?;
        Ok(Value::Object(m))
    }

    #[test]
    fn resolves_paths_with_star_and_escapes() {
        let r = run(json!({"#ids": {"resultOf": "c0", "name": "Email/query", "path": "/ids"}}));
        assert_eq!(r.unwrap()["ids"], json!(["a", "b"]));
        let r = run(
            json!({"#x": {"resultOf": "c0", "name": "Email/query", "path": "/list/*/emailIds"}}),
        );
        assert_eq!(r.unwrap()["x"], json!(["e1", "e2", "e3"]));
        let r = run(
            json!({"#x": {"resultOf": "c0", "name": "Email/query", "path": "/list/1/threadId"}}),
        );
        assert_eq!(r.unwrap()["x"], json!("t2"));
        let r = run(json!({"#x": {"resultOf": "c0", "name": "Email/query", "path": "/a~1b"}}));
        assert_eq!(r.unwrap()["x"], json!(1));
        let r = run(json!({"#x": {"resultOf": "c0", "name": "Email/query", "path": "/m~0n"}}));
        assert_eq!(r.unwrap()["x"], json!(2));
    }

    #[test]
    fn bad_references() {
        for (args, kind) in [
            (
                json!({"#x": {"resultOf": "nope", "name": "Email/query", "path": "/ids"}}),
                "invalidResultReference",
            ),
            (
                json!({"#x": {"resultOf": "c0", "name": "Email/get", "path": "/ids"}}),
                "invalidResultReference",
            ),
            (
                json!({"#x": {"resultOf": "c0", "name": "Email/query", "path": "/nothing"}}),
                "invalidResultReference",
            ),
            (
                json!({"#x": {"resultOf": "c0", "name": "Email/query", "path": "/ids/01"}}),
                "invalidResultReference",
            ),
            (
                json!({"#x": {"resultOf": "c0", "name": "Email/query", "path": "ids"}}),
                "invalidResultReference",
            ),
            (json!({"#x": "c0"}), "invalidResultReference"),
            (
                json!({"x": 1, "#x": {"resultOf": "c0", "name": "Email/query", "path": "/ids"}}),
                "invalidArguments",
            ),
        ] {
            assert_eq!(run(args).unwrap_err().kind, kind);
        }
    }
}
