//! The three levels of JMAP errors.
//!
//! - [`RequestError`] (RFC 8620 3.6.1): the whole request is refused; the
//!   HTTP status is 400 and the body an RFC 7807 problem document.
//! - [`MethodError`] (RFC 8620 3.6.2): one method call failed; the response
//!   carries `["error", {"type": ...}, callId]` in its place and later calls
//!   still run.
//! - [`SetError`] (RFC 8620 5.3): one object of a `/set` was not created,
//!   updated or destroyed.

use serde::Serialize;
use serde_json::{Value, json};

/// A request-level error (RFC 8620 3.6.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// `urn:ietf:params:jmap:error:unknownCapability`: `using` names a
    /// capability the server does not support.
    #[error("unknown capability {0}")]
    UnknownCapability(String),
    /// `urn:ietf:params:jmap:error:notJSON`: the body is not I-JSON.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// `urn:ietf:params:jmap:error:notRequest`: JSON, but not a Request.
    #[error("not a request: {0}")]
    NotRequest(String),
    /// `urn:ietf:params:jmap:error:limit`: a limit was exceeded; the
    /// string is the limit's name in the session resource.
    #[error("limit {0} exceeded")]
    Limit(&'static str),
}

impl RequestError {
    /// The error type URN.
    pub fn type_urn(&self) -> &'static str {
        match self {
            RequestError::UnknownCapability(_) => "urn:ietf:params:jmap:error:unknownCapability",
            RequestError::NotJson(_) => "urn:ietf:params:jmap:error:notJSON",
            RequestError::NotRequest(_) => "urn:ietf:params:jmap:error:notRequest",
            RequestError::Limit(_) => "urn:ietf:params:jmap:error:limit",
        }
    }

    /// The HTTP status: 400 for every request-level error.
    pub fn status(&self) -> u16 {
        400
    }

    /// The RFC 7807 problem document (`application/problem+json`).
    pub fn problem(&self) -> Value {
        let mut v = json!({
            "type": self.type_urn(),
            "status": self.status(),
            "detail": self.to_string(),
        });
        if let RequestError::Limit(name) = self {
            v["limit"] = json!(name);
        }
        v
    }
}

/// A method-level error (RFC 8620 3.6.2 and the per-method ones of 5.x
/// and RFC 8621).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MethodError {
    /// The error type, e.g. `invalidArguments`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Text for the developer, never for the end user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl std::fmt::Display for MethodError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.description {
            Some(d) => write!(f, "{}: {d}", self.kind),
            None => f.write_str(self.kind),
        }
    }
}

impl std::error::Error for MethodError {}

macro_rules! method_errors {
    ($($(#[$doc:meta])* $fn:ident => $kind:literal,)*) => {
        impl MethodError {
            $(
                $(#[$doc])*
                pub fn $fn(description: impl Into<String>) -> Self {
                    let d: String = description.into();
                    Self { kind: $kind, description: (!d.is_empty()).then_some(d) }
                }
            )*
        }
    };
}

method_errors! {
    /// `serverUnavailable`: a temporary problem (the store is busy).
    server_unavailable => "serverUnavailable",
    /// `serverFail`: an unexpected failure; nothing was changed.
    server_fail => "serverFail",
    /// `unknownMethod`: no such method, or its capability is not in `using`.
    unknown_method => "unknownMethod",
    /// `invalidArguments`: a missing, mistyped or invalid argument.
    invalid_arguments => "invalidArguments",
    /// `invalidResultReference`: a `#` argument could not be resolved.
    invalid_result_reference => "invalidResultReference",
    /// `forbidden`: not permitted for this user.
    forbidden => "forbidden",
    /// `accountNotFound`: no such account for this user.
    account_not_found => "accountNotFound",
    /// `accountNotSupportedByMethod`: the account lacks the capability.
    account_not_supported_by_method => "accountNotSupportedByMethod",
    /// `accountReadOnly`.
    account_read_only => "accountReadOnly",
    /// `requestTooLarge`: more ids than `maxObjectsInGet`/`Set`.
    request_too_large => "requestTooLarge",
    /// `stateMismatch`: `ifInState` did not match.
    state_mismatch => "stateMismatch",
    /// `cannotCalculateChanges`: the client must resynchronise.
    cannot_calculate_changes => "cannotCalculateChanges",
    /// `anchorNotFound` (5.5).
    anchor_not_found => "anchorNotFound",
    /// `unsupportedSort` (5.5).
    unsupported_sort => "unsupportedSort",
    /// `unsupportedFilter` (5.5).
    unsupported_filter => "unsupportedFilter",
    /// `tooManyChanges` (5.6).
    too_many_changes => "tooManyChanges",
}

/// Why one object of a `/set` failed (RFC 8620 5.3, RFC 8621).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetError {
    /// The error type, e.g. `invalidProperties`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Text for the developer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// For `invalidProperties`: the properties at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub properties: Option<Vec<String>>,
    /// For `alreadyExists` (Email/import): the existing id.
    #[serde(rename = "existingId", skip_serializing_if = "Option::is_none")]
    pub existing_id: Option<String>,
}

impl SetError {
    /// A set error of `kind` with a description.
    pub fn new(kind: &'static str, description: impl Into<String>) -> Self {
        let d: String = description.into();
        Self {
            kind,
            description: (!d.is_empty()).then_some(d),
            properties: None,
            existing_id: None,
        }
    }

    /// `invalidProperties` naming the properties at fault.
    pub fn invalid_properties(props: &[&str], description: impl Into<String>) -> Self {
        let mut e = Self::new("invalidProperties", description);
        e.properties = Some(props.iter().map(|p| p.to_string()).collect());
        e
    }

    /// `notFound`.
    pub fn not_found() -> Self {
        Self::new("notFound", "")
    }

    /// `forbidden`.
    pub fn forbidden(description: impl Into<String>) -> Self {
        Self::new("forbidden", description)
    }

    /// The JSON value.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_problem_names_the_limit() {
        let p = RequestError::Limit("maxCallsInRequest").problem();
        assert_eq!(p["type"], "urn:ietf:params:jmap:error:limit");
        assert_eq!(p["limit"], "maxCallsInRequest");
        assert_eq!(p["status"], 400);
    }

    #[test]
    fn method_error_serialises_type() {
        let v = serde_json::to_value(MethodError::unknown_method("")).unwrap();
        assert_eq!(v, json!({"type": "unknownMethod"}));
    }
}
