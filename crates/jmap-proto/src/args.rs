//! The standard method arguments (RFC 8620 5.1-5.6) read from an
//! invocation's argument object, with `invalidArguments` for anything
//! missing or mistyped. Arguments a method does not know are ignored.

use serde_json::{Map, Value};

use crate::error::MethodError;
use crate::id;

fn invalid(what: &str) -> MethodError {
    MethodError::invalid_arguments(what.to_string())
}

/// A required `accountId`.
pub fn account_id(args: &Map<String, Value>) -> Result<String, MethodError> {
    match args.get("accountId") {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(invalid("accountId must be a String")),
    }
}

/// An optional string argument (`null` counts as absent).
pub fn opt_string(args: &Map<String, Value>, key: &str) -> Result<Option<String>, MethodError> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(&format!("{key} must be a String or null"))),
    }
}

/// An optional boolean argument with a default.
pub fn bool_or(args: &Map<String, Value>, key: &str, default: bool) -> Result<bool, MethodError> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(invalid(&format!("{key} must be a Boolean"))),
    }
}

/// An optional `UnsignedInt` (0 to 2^53-1).
pub fn opt_unsigned(args: &Map<String, Value>, key: &str) -> Result<Option<u64>, MethodError> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) if v < (1 << 53) => Ok(Some(v)),
            _ => Err(invalid(&format!("{key} must be an UnsignedInt"))),
        },
        Some(_) => Err(invalid(&format!("{key} must be an UnsignedInt"))),
    }
}

/// An optional `Int` (-2^53+1 to 2^53-1).
pub fn opt_int(args: &Map<String, Value>, key: &str) -> Result<Option<i64>, MethodError> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(v) if v.unsigned_abs() < (1 << 53) => Ok(Some(v)),
            _ => Err(invalid(&format!("{key} must be an Int"))),
        },
        Some(_) => Err(invalid(&format!("{key} must be an Int"))),
    }
}

/// An optional list of strings (`null` counts as absent).
pub fn opt_strings(
    args: &Map<String, Value>,
    key: &str,
) -> Result<Option<Vec<String>>, MethodError> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(invalid(&format!("{key} must be a String[]"))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(invalid(&format!("{key} must be a String[] or null"))),
    }
}

/// `/get` (RFC 8620 5.1).
#[derive(Debug, Clone, PartialEq)]
pub struct GetArgs {
    /// The account.
    pub account_id: String,
    /// The ids to return; `None`: all (where the type allows).
    pub ids: Option<Vec<String>>,
    /// The properties to return; `None`: the type's defaults.
    pub properties: Option<Vec<String>>,
}

impl GetArgs {
    /// Reads the arguments; `max_objects` is `maxObjectsInGet`.
    pub fn parse(args: &Map<String, Value>, max_objects: u64) -> Result<Self, MethodError> {
        let ids = opt_strings(args, "ids")?;
        if ids.as_ref().is_some_and(|i| i.len() as u64 > max_objects) {
            return Err(MethodError::request_too_large(format!(
                "at most {max_objects} ids per /get"
            )));
        }
        Ok(Self {
            account_id: account_id(args)?,
            ids,
            properties: opt_strings(args, "properties")?,
        })
    }
}

/// `/changes` (RFC 8620 5.2).
#[derive(Debug, Clone, PartialEq)]
pub struct ChangesArgs {
    /// The account.
    pub account_id: String,
    /// The state the client has.
    pub since_state: String,
    /// At most this many ids in total.
    pub max_changes: Option<u64>,
}

impl ChangesArgs {
    /// Reads the arguments.
    pub fn parse(args: &Map<String, Value>) -> Result<Self, MethodError> {
        let since_state = opt_string(args, "sinceState")?
            .ok_or_else(|| invalid("sinceState must be a String"))?;
        let max_changes = opt_unsigned(args, "maxChanges")?;
        if max_changes == Some(0) {
            return Err(invalid("maxChanges must be greater than 0"));
        }
        Ok(Self {
            account_id: account_id(args)?,
            since_state,
            max_changes,
        })
    }
}

/// Objects by id (creation id or server id), in request order.
pub type ObjectMap = Vec<(String, Map<String, Value>)>;

/// `/set` (RFC 8620 5.3).
#[derive(Debug, Clone, PartialEq)]
pub struct SetArgs {
    /// The account.
    pub account_id: String,
    /// Fail with `stateMismatch` unless the state is this.
    pub if_in_state: Option<String>,
    /// Creation id -> object.
    pub create: ObjectMap,
    /// Id -> patch object.
    pub update: ObjectMap,
    /// Ids to destroy.
    pub destroy: Vec<String>,
}

fn object_map(args: &Map<String, Value>, key: &str) -> Result<ObjectMap, MethodError> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::Object(o) => Ok((k.clone(), o.clone())),
                _ => Err(invalid(&format!("{key}: every value must be an object"))),
            })
            .collect(),
        Some(_) => Err(invalid(&format!("{key} must be an object or null"))),
    }
}

impl SetArgs {
    /// Reads the arguments; `max_objects` is `maxObjectsInSet`.
    pub fn parse(args: &Map<String, Value>, max_objects: u64) -> Result<Self, MethodError> {
        let create = object_map(args, "create")?;
        let update = object_map(args, "update")?;
        let destroy = opt_strings(args, "destroy")?.unwrap_or_default();
        if (create.len() + update.len() + destroy.len()) as u64 > max_objects {
            return Err(MethodError::request_too_large(format!(
                "at most {max_objects} objects per /set"
            )));
        }
        for (cid, _) in &create {
            if !id::is_valid(cid) {
                return Err(invalid(&format!("{cid:?} is not a valid creation id")));
            }
        }
        Ok(Self {
            account_id: account_id(args)?,
            if_in_state: opt_string(args, "ifInState")?,
            create,
            update,
            destroy,
        })
    }
}

/// One `Comparator` of a query's `sort` (RFC 8620 5.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparator {
    /// The property (or RFC 8621 sort keyword).
    pub property: String,
    /// Ascending (the default).
    pub is_ascending: bool,
    /// For `hasKeyword`/`allInThreadHaveKeyword`/`someInThreadHaveKeyword`.
    pub keyword: Option<String>,
    /// RFC 4790 collation.
    pub collation: Option<String>,
}

/// `/query` (RFC 8620 5.5).
#[derive(Debug, Clone, PartialEq)]
pub struct QueryArgs {
    /// The account.
    pub account_id: String,
    /// The filter (a FilterOperator or a type-specific FilterCondition).
    pub filter: Option<Value>,
    /// Sort order.
    pub sort: Vec<Comparator>,
    /// Zero-based index of the first result (negative: from the end).
    pub position: i64,
    /// Start at this id instead of `position`.
    pub anchor: Option<String>,
    /// Offset from the anchor.
    pub anchor_offset: i64,
    /// At most this many ids.
    pub limit: Option<u64>,
    /// Also return the total.
    pub calculate_total: bool,
}

/// Reads a `sort` array.
pub fn sort(args: &Map<String, Value>) -> Result<Vec<Comparator>, MethodError> {
    match args.get("sort") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|c| {
                let Value::Object(m) = c else {
                    return Err(invalid("sort: every comparator must be an object"));
                };
                let property =
                    opt_string(m, "property")?.ok_or_else(|| invalid("sort: property missing"))?;
                Ok(Comparator {
                    property,
                    is_ascending: bool_or(m, "isAscending", true)?,
                    keyword: opt_string(m, "keyword")?,
                    collation: opt_string(m, "collation")?,
                })
            })
            .collect(),
        Some(_) => Err(invalid("sort must be an array")),
    }
}

impl QueryArgs {
    /// Reads the arguments.
    pub fn parse(args: &Map<String, Value>) -> Result<Self, MethodError> {
        let filter = match args.get("filter") {
            None | Some(Value::Null) => None,
            Some(v @ Value::Object(_)) => Some(v.clone()),
            Some(_) => return Err(invalid("filter must be an object or null")),
        };
        Ok(Self {
            account_id: account_id(args)?,
            filter,
            sort: sort(args)?,
            position: opt_int(args, "position")?.unwrap_or(0),
            anchor: opt_string(args, "anchor")?,
            anchor_offset: opt_int(args, "anchorOffset")?.unwrap_or(0),
            limit: opt_unsigned(args, "limit")?,
            calculate_total: bool_or(args, "calculateTotal", false)?,
        })
    }
}

/// `/queryChanges` (RFC 8620 5.6).
#[derive(Debug, Clone, PartialEq)]
pub struct QueryChangesArgs {
    /// The account.
    pub account_id: String,
    /// The filter of the original query.
    pub filter: Option<Value>,
    /// The sort of the original query.
    pub sort: Vec<Comparator>,
    /// The query state the client has.
    pub since_query_state: String,
    /// At most this many changes.
    pub max_changes: Option<u64>,
    /// The last id the client cares about.
    pub up_to_id: Option<String>,
    /// Also return the total.
    pub calculate_total: bool,
}

impl QueryChangesArgs {
    /// Reads the arguments.
    pub fn parse(args: &Map<String, Value>) -> Result<Self, MethodError> {
        let filter = match args.get("filter") {
            None | Some(Value::Null) => None,
            Some(v @ Value::Object(_)) => Some(v.clone()),
            Some(_) => return Err(invalid("filter must be an object or null")),
        };
        Ok(Self {
            account_id: account_id(args)?,
            filter,
            sort: sort(args)?,
            since_query_state: opt_string(args, "sinceQueryState")?
                .ok_or_else(|| invalid("sinceQueryState must be a String"))?,
            max_changes: opt_unsigned(args, "maxChanges")?,
            up_to_id: opt_string(args, "upToId")?,
            calculate_total: bool_or(args, "calculateTotal", false)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!(),
        }
    }

    #[test]
    fn get_and_set_limits() {
        let a = obj(json!({"accountId": "a", "ids": ["1", "2", "3"]}));
        assert_eq!(GetArgs::parse(&a, 2).unwrap_err().kind, "requestTooLarge");
        assert_eq!(GetArgs::parse(&a, 3).unwrap().ids.unwrap().len(), 3);
        let a = obj(json!({"accountId": 1}));
        assert_eq!(GetArgs::parse(&a, 3).unwrap_err().kind, "invalidArguments");
        let a = obj(json!({"accountId": "a", "destroy": ["1", "2"], "create": {"k": {}}}));
        assert_eq!(SetArgs::parse(&a, 2).unwrap_err().kind, "requestTooLarge");
        assert_eq!(SetArgs::parse(&a, 3).unwrap().create.len(), 1);
    }

    #[test]
    fn query_args() {
        let a = obj(json!({"accountId": "a", "position": -1, "limit": 5,
            "sort": [{"property": "receivedAt", "isAscending": false}]}));
        let q = QueryArgs::parse(&a).unwrap();
        assert_eq!((q.position, q.limit), (-1, Some(5)));
        assert!(!q.sort[0].is_ascending);
        let a = obj(json!({"accountId": "a", "limit": -1}));
        assert_eq!(QueryArgs::parse(&a).unwrap_err().kind, "invalidArguments");
    }
}
