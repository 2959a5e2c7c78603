//! Push objects (RFC 8620 7.1): the `StateChange` a server sends over
//! EventSource when data changes.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// `{"@type": "StateChange", "changed": {accountId: {TypeName: state}}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateChange {
    /// Account id -> type name -> new state.
    pub changed: BTreeMap<String, BTreeMap<String, String>>,
}

impl StateChange {
    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.changed.values().all(BTreeMap::is_empty)
    }

    /// The JSON object.
    pub fn to_value(&self) -> Value {
        json!({"@type": "StateChange", "changed": self.changed})
    }
}
