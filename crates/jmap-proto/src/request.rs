//! The Request and Response objects (RFC 8620 3.3, 3.4).

use serde_json::{Map, Value, json};

use crate::capability::{Capability, Limits};
use crate::error::{MethodError, RequestError};

/// One method call or response: `[name, arguments, methodCallId]`
/// (RFC 8620 3.2).
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// The method name, e.g. `Email/get`.
    pub name: String,
    /// The named arguments.
    pub arguments: Map<String, Value>,
    /// The client's id for this call, echoed in the response.
    pub call_id: String,
}

impl Invocation {
    /// A response invocation.
    pub fn new(name: impl Into<String>, arguments: Map<String, Value>, call_id: &str) -> Self {
        Self {
            name: name.into(),
            arguments,
            call_id: call_id.to_string(),
        }
    }

    /// The `["error", {...}, callId]` response for a failed call.
    pub fn error(err: &MethodError, call_id: &str) -> Self {
        let args = match serde_json::to_value(err) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        Self::new("error", args, call_id)
    }

    /// The JSON array form.
    pub fn to_value(&self) -> Value {
        json!([self.name, self.arguments, self.call_id])
    }
}

/// A parsed API request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The capabilities the client uses.
    pub using: Vec<Capability>,
    /// The calls, in order.
    pub method_calls: Vec<Invocation>,
    /// Creation ids the client already knows (RFC 8620 3.3), if sent.
    pub created_ids: Option<Map<String, Value>>,
}

fn not_request(why: impl Into<String>) -> RequestError {
    RequestError::NotRequest(why.into())
}

impl Request {
    /// Parses and checks a request body against `limits` (RFC 8620 3.3,
    /// 3.6.1): size, JSON, shape, capabilities, number of calls.
    pub fn parse(body: &[u8], limits: &Limits) -> Result<Request, RequestError> {
        if body.len() as u64 > limits.max_size_request {
            return Err(RequestError::Limit("maxSizeRequest"));
        }
        let value: Value =
            serde_json::from_slice(body).map_err(|e| RequestError::NotJson(e.to_string()))?;
        let Value::Object(mut obj) = value else {
            return Err(not_request("the request must be a JSON object"));
        };
        let using = match obj.remove("using") {
            Some(Value::Array(a)) => a,
            Some(_) => return Err(not_request("using must be an array of strings")),
            None => return Err(not_request("using is missing")),
        };
        let calls = match obj.remove("methodCalls") {
            Some(Value::Array(a)) => a,
            Some(_) => return Err(not_request("methodCalls must be an array")),
            None => return Err(not_request("methodCalls is missing")),
        };
        let created_ids = match obj.remove("createdIds") {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m),
            Some(_) => return Err(not_request("createdIds must be an object")),
        };
        let mut caps = Vec::new();
        let mut unknown = None;
        for u in using {
            let Value::String(s) = u else {
                return Err(not_request("using must be an array of strings"));
            };
            match Capability::parse(&s) {
                Some(c) => {
                    if !caps.contains(&c) {
                        caps.push(c);
                    }
                }
                None => {
                    unknown.get_or_insert(s);
                }
            }
        }
        let mut method_calls = Vec::with_capacity(calls.len());
        for c in calls {
            method_calls.push(parse_invocation(c)?);
        }
        if let Some(u) = unknown {
            return Err(RequestError::UnknownCapability(u));
        }
        if method_calls.len() as u64 > limits.max_calls_in_request {
            return Err(RequestError::Limit("maxCallsInRequest"));
        }
        Ok(Request {
            using: caps,
            method_calls,
            created_ids,
        })
    }
}

fn parse_invocation(v: Value) -> Result<Invocation, RequestError> {
    let Value::Array(mut parts) = v else {
        return Err(not_request("each method call must be an array"));
    };
    if parts.len() != 3 {
        return Err(not_request(
            "each method call must be [name, arguments, methodCallId]",
        ));
    }
    let call_id = parts.pop();
    let args = parts.pop();
    let name = parts.pop();
    match (name, args, call_id) {
        (
            Some(Value::String(name)),
            Some(Value::Object(arguments)),
            Some(Value::String(call_id)),
        ) => Ok(Invocation {
            name,
            arguments,
            call_id,
        }),
        _ => Err(not_request("a method call is [String, Object, String]")),
    }
}

/// The Response object (RFC 8620 3.4).
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// One or more responses per call, in order.
    pub method_responses: Vec<Invocation>,
    /// Creation ids, when the request sent `createdIds`.
    pub created_ids: Option<Map<String, Value>>,
    /// The session state the client compares with its session object.
    pub session_state: String,
}

impl Response {
    /// The JSON body.
    pub fn to_value(&self) -> Value {
        let mut v = json!({
            "methodResponses": self.method_responses.iter().map(Invocation::to_value).collect::<Vec<_>>(),
            "sessionState": self.session_state,
        });
        if let Some(c) = &self.created_ids {
            v["createdIds"] = Value::Object(c.clone());
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Request, RequestError> {
        Request::parse(s.as_bytes(), &Limits::default())
    }

    #[test]
    fn request_level_errors() {
        assert!(matches!(parse("{"), Err(RequestError::NotJson(_))));
        assert!(matches!(parse("[]"), Err(RequestError::NotRequest(_))));
        assert!(matches!(
            parse(r#"{"using":[],"methodCalls":[["a",{},1]]}"#),
            Err(RequestError::NotRequest(_))
        ));
        assert_eq!(
            parse(r#"{"using":["urn:x"],"methodCalls":[]}"#),
            Err(RequestError::UnknownCapability("urn:x".into()))
        );
        let many = (0..17)
            .map(|i| format!(r#"["Core/echo",{{}},"c{i}"]"#))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(
            parse(&format!(r#"{{"using":[],"methodCalls":[{many}]}}"#)),
            Err(RequestError::Limit("maxCallsInRequest"))
        );
        let limits = Limits {
            max_size_request: 10,
            ..Limits::default()
        };
        assert_eq!(
            Request::parse(br#"{"using":[],"methodCalls":[]}"#, &limits),
            Err(RequestError::Limit("maxSizeRequest"))
        );
    }

    #[test]
    fn parses_calls() {
        let r = parse(
            r#"{"using":["urn:ietf:params:jmap:core","urn:ietf:params:jmap:mail"],
               "methodCalls":[["Mailbox/get",{"accountId":"a"},"0"]],"createdIds":{}}"#,
        )
        .unwrap();
        assert_eq!(r.using, vec![Capability::Core, Capability::Mail]);
        assert_eq!(r.method_calls[0].call_id, "0");
        assert!(r.created_ids.is_some());
    }
}
