//! Who a client certificate names: its subject's common name (the
//! identity) and organisational unit (the role it was issued for).

use serde::{Deserialize, Serialize};

/// What a certificate was issued for; each API's [`super::Policy`] says
/// which roles may call which method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// People and tools that run the system: list, hold, release, retry
    /// and delete queue entries; every store administration call.
    Operator,
    /// An MTA relay: submit jobs, lease and report them.
    Relay,
    /// The job controller (its server certificate).
    Jobctl,
    /// A message store (its admin API's server certificate).
    Store,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [Role::Operator, Role::Relay, Role::Jobctl, Role::Store];

    /// The name used in certificates and configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Relay => "relay",
            Role::Jobctl => "jobctl",
            Role::Store => "store",
        }
    }

    /// The role named `s`.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether certificates of this role also serve (TLS server
    /// authentication besides client authentication).
    pub fn serves(self) -> bool {
        matches!(self, Role::Jobctl | Role::Store)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The caller of a gRPC method, from its verified client certificate.
/// Handlers find it in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The subject's common name.
    pub name: String,
    /// The subject's organisational unit as a role, when it names one.
    pub role: Option<Role>,
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.role {
            Some(r) => write!(f, "{} ({r})", self.name),
            None => write!(f, "{} (no role)", self.name),
        }
    }
}

impl Identity {
    /// Reads the identity of a DER certificate the TLS layer has already
    /// verified against the CA.
    pub fn from_der(der: &[u8]) -> Result<Identity, String> {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| format!("unreadable certificate: {e}"))?;
        let subject = cert.subject();
        let name = subject
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .ok_or("the certificate has no common name")?
            .to_string();
        let role = subject
            .iter_organizational_unit()
            .filter_map(|ou| ou.as_str().ok())
            .find_map(Role::parse);
        Ok(Identity { name, role })
    }
}

/// Whether `name` may name a certificate: names are also file names
/// (`mailctl cert issue NAME` writes `NAME.pem`).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}
