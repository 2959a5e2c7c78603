//! Capability URNs (RFC 8620 2, RFC 8621 1.3) and the core limits a
//! server announces in its session resource.

use serde::Serialize;

/// A capability this server knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Capability {
    /// `urn:ietf:params:jmap:core` (RFC 8620).
    Core,
    /// `urn:ietf:params:jmap:mail` (RFC 8621 1.3.1).
    Mail,
    /// `urn:ietf:params:jmap:submission` (RFC 8621 1.3.2).
    Submission,
    /// `urn:ietf:params:jmap:vacationresponse` (RFC 8621 1.3.3).
    VacationResponse,
}

impl Capability {
    /// Every capability, in session-resource order.
    pub const ALL: [Capability; 4] = [
        Capability::Core,
        Capability::Mail,
        Capability::Submission,
        Capability::VacationResponse,
    ];

    /// The URN.
    pub fn urn(self) -> &'static str {
        match self {
            Capability::Core => "urn:ietf:params:jmap:core",
            Capability::Mail => "urn:ietf:params:jmap:mail",
            Capability::Submission => "urn:ietf:params:jmap:submission",
            Capability::VacationResponse => "urn:ietf:params:jmap:vacationresponse",
        }
    }

    /// The capability named `urn`, if known.
    pub fn parse(urn: &str) -> Option<Capability> {
        Self::ALL.into_iter().find(|c| c.urn() == urn)
    }
}

/// The `urn:ietf:params:jmap:core` capability object (RFC 8620 2): the
/// limits a client must respect and the server enforces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// Largest upload, octets.
    pub max_size_upload: u64,
    /// Concurrent uploads per account.
    pub max_concurrent_upload: u64,
    /// Largest request body, octets.
    pub max_size_request: u64,
    /// Concurrent API requests per account.
    pub max_concurrent_requests: u64,
    /// Method calls in one request.
    pub max_calls_in_request: u64,
    /// Ids in one `/get`.
    pub max_objects_in_get: u64,
    /// Creates + updates + destroys in one `/set`.
    pub max_objects_in_set: u64,
    /// RFC 4790 collations for sorting and filtering.
    pub collation_algorithms: Vec<String>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_size_upload: 50_000_000,
            max_concurrent_upload: 4,
            max_size_request: 10_000_000,
            max_concurrent_requests: 4,
            max_calls_in_request: 16,
            max_objects_in_get: 500,
            max_objects_in_set: 500,
            collation_algorithms: vec!["i;ascii-casemap".into(), "i;unicode-casemap".into()],
        }
    }
}
