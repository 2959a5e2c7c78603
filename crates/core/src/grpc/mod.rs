//! The control plane's gRPC APIs (`jobctl.v1`, `store.admin.v1`) over
//! mutual TLS with the deployment's own CA, authorised per call.
//!
//! Who calls is what the client certificate says, and only the deployment
//! CA (`mailctl cert`, [`crate::pki`]) signs those: its subject's common
//! name is the identity (`mta-inbound`, `mailctl`, `alice`) and its
//! organisational unit the [`Role`] it was issued for. A server lists, per
//! role, the identities it accepts ([`Allow`]); each API says which roles
//! may call which method ([`Policy`]). A call without a certificate is
//! refused with `UNAUTHENTICATED`, one whose identity or role may not call
//! the method with `PERMISSION_DENIED`, each with a log line naming the
//! caller; a certificate the CA did not sign fails the TLS handshake
//! (logged too). The TLS version is 1.3 only: both ends are ours.
//!
//! Without a `tls` section an API serves plaintext and unauthenticated, on
//! a loopback address only ([`check_listen`]), with a warning at start.

mod client;
mod identity;
mod server;

pub use client::{ClientTls, endpoint};
pub use identity::{Identity, Role, valid_name as valid_cert_name};
pub use server::{Access, Authorized, Policy, serve};

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{Validate, Validator};

/// Why a gRPC server or client could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GrpcError {
    /// A certificate or key file is unusable.
    #[error("{0}")]
    Tls(#[from] crate::tls::TlsError),
    /// A file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The listen address could not be bound.
    #[error("{api}: bind {addr}: {source}")]
    Bind {
        /// The API.
        api: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The server address is not usable.
    #[error("bad address {0:?}")]
    Address(String),
    /// tonic refused the endpoint or its TLS settings.
    #[error("{0}")]
    Transport(#[from] tonic::transport::Error),
}

/// `tls` of a gRPC server: its certificate, the deployment CA its clients'
/// certificates must chain to, and who may call.
///
/// ```toml
/// [jobctl.tls]
/// ca = "/etc/tiermail/pki/ca.pem"
/// cert = "/etc/tiermail/pki/jobctl.pem"
/// key = "/etc/tiermail/pki/jobctl.key"
/// [jobctl.tls.allow]
/// relay = ["mta-inbound", "mta-outbound"]
/// operator = ["mailctl", "alice"]
/// ```
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ServerTls {
    /// The deployment CA certificate (PEM).
    pub ca: PathBuf,
    /// This server's certificate chain (PEM, leaf first), issued by the CA.
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// A client that has not finished the TLS handshake by then is dropped.
    #[serde(default = "default_handshake", with = "humantime_serde")]
    pub handshake_timeout: Duration,
    /// The identities (certificate common names) accepted in each role.
    pub allow: Allow,
}

fn default_handshake() -> Duration {
    Duration::from_secs(10)
}

/// Identities accepted per role; `"*"` accepts every certificate the CA
/// issued for that role.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Allow {
    /// People and tools that run the system (`mailctl`).
    #[serde(default)]
    pub operator: BTreeSet<String>,
    /// The MTA relays (submit, lease, report).
    #[serde(default)]
    pub relay: BTreeSet<String>,
    /// The job controller, as a client.
    #[serde(default)]
    pub jobctl: BTreeSet<String>,
    /// Message stores, as clients.
    #[serde(default)]
    pub store: BTreeSet<String>,
}

impl Allow {
    /// The identities listed for `role`.
    pub fn of(&self, role: Role) -> &BTreeSet<String> {
        match role {
            Role::Operator => &self.operator,
            Role::Relay => &self.relay,
            Role::Jobctl => &self.jobctl,
            Role::Store => &self.store,
        }
    }

    /// Whether `identity` is accepted in `role`.
    pub fn admits(&self, role: Role, identity: &str) -> bool {
        let names = self.of(role);
        names.contains("*") || names.contains(identity)
    }
}

impl ServerTls {
    /// Validation for a server whose API serves `roles`: a role it does
    /// not serve may not be listed, and somebody must be allowed in.
    pub fn check(&self, v: &mut Validator, roles: &[Role]) {
        v.file_exists("ca", &self.ca);
        v.file_exists("cert", &self.cert);
        v.file_exists("key", &self.key);
        if self.handshake_timeout.is_zero() {
            v.error("handshake_timeout", "must be more than 0");
        }
        let mut anyone = false;
        for role in Role::ALL {
            let names = self.allow.of(role);
            let key = format!("allow.{}", role.as_str());
            if !names.is_empty() && !roles.contains(&role) {
                let served: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
                v.error(&key, format!("this API serves only {}", served.join(", ")));
            }
            for n in names {
                if !identity::valid_name(n) && n != "*" {
                    v.error(
                        &key,
                        format!("{n:?} is not a certificate name (letters, digits, '.', '_', '-') or \"*\""),
                    );
                }
            }
            anyone |= roles.contains(&role) && !names.is_empty();
        }
        if !anyone {
            v.error(
                "allow",
                "nobody may call: list the accepted certificate names per role",
            );
        }
    }
}

/// A plaintext gRPC API is unauthenticated: refuse it on anything but
/// loopback, unless `insecure_plaintext` says the network itself
/// authenticates (a service mesh's mutual TLS).
pub fn check_listen(
    v: &mut Validator,
    listen: &SocketAddr,
    tls: Option<&ServerTls>,
    insecure_plaintext: bool,
) {
    if tls.is_none() && !insecure_plaintext && !listen.ip().is_loopback() {
        v.error(
            "listen",
            format!(
                "{listen} is not a loopback address: configure tls (mutual TLS with the \
                 deployment CA, see `mailctl cert`), or set insecure_plaintext = true if \
                 the network authenticates callers itself"
            ),
        );
    }
    if tls.is_some() && insecure_plaintext {
        v.error("insecure_plaintext", "contradicts tls: remove one of them");
    }
}

impl Validate for ClientTls {
    fn validate(&self, v: &mut Validator) {
        v.file_exists("ca", &self.ca);
        v.file_exists("cert", &self.cert);
        v.file_exists("key", &self.key);
        if self.server_name.as_deref().is_some_and(str::is_empty) {
            v.error("server_name", "must not be empty");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki;

    fn problems(f: impl FnOnce(&mut Validator)) -> Vec<String> {
        let mut v = Validator::new();
        f(&mut v);
        v.problems()
            .iter()
            .map(|p| format!("{}: {}", p.key, p.message))
            .collect()
    }

    #[test]
    fn plaintext_is_for_loopback_unless_declared_insecure() {
        let addr = |s: &str| s.parse::<SocketAddr>().expect("addr");
        assert!(problems(|v| check_listen(v, &addr("127.0.0.1:7000"), None, false)).is_empty());
        assert!(problems(|v| check_listen(v, &addr("[::1]:7000"), None, false)).is_empty());
        let p = problems(|v| check_listen(v, &addr("0.0.0.0:7000"), None, false));
        assert!(
            p[0].starts_with("listen: 0.0.0.0:7000 is not a loopback address"),
            "{p:?}"
        );
        assert!(problems(|v| check_listen(v, &addr("10.1.1.1:7000"), None, true)).is_empty());
    }

    #[test]
    fn allow_lists_are_checked_against_the_api_and_the_certificate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = dir.path().join("ca");
        pki::create_ca(&ca).expect("ca");
        let issue = |name: &str, role: Role| {
            let i = pki::issue(&ca, name, role, &[], 30, dir.path()).expect("issue");
            crate::tls::load_certs(&i.cert).expect("cert")
        };
        let tls = ServerTls {
            ca: ca.join(pki::CA_CERT),
            cert: dir.path().join("missing.pem"),
            key: dir.path().join("missing.key"),
            handshake_timeout: Duration::from_secs(10),
            allow: Allow {
                relay: ["*".to_string()].into(),
                operator: ["alice".to_string()].into(),
                store: ["bad name".to_string()].into(),
                ..Default::default()
            },
        };
        let p = problems(|v| tls.check(v, &[Role::Relay, Role::Operator]));
        assert_eq!(p.len(), 4, "{p:?}");
        assert!(p.iter().any(|l| l.starts_with("cert: file")), "{p:?}");
        assert!(
            p.iter()
                .any(|l| l == "allow.store: this API serves only relay, operator"),
            "{p:?}"
        );

        fn policy(method: &str) -> &'static [Role] {
            match method {
                "Submit" => &[Role::Relay],
                "Delete" => &[Role::Operator],
                _ => &[],
            }
        }
        let access = Access::new("test.v1", policy, tls.allow.clone());
        let code = |m: &str, certs: Option<&[rustls_pki_types::CertificateDer<'static>]>| {
            access.check(m, certs, None).map_err(|s| s.code())
        };
        let any_relay = issue("mta-9", Role::Relay);
        let alice = issue("alice", Role::Operator);
        let bob = issue("bob", Role::Operator);
        assert_eq!(
            code("Submit", Some(&any_relay)).expect("relay").name,
            "mta-9"
        );
        assert_eq!(
            code("Delete", Some(&any_relay)),
            Err(tonic::Code::PermissionDenied)
        );
        assert!(code("Delete", Some(&alice)).is_ok());
        assert_eq!(
            code("Delete", Some(&bob)),
            Err(tonic::Code::PermissionDenied)
        );
        assert_eq!(
            code("Unknown", Some(&alice)),
            Err(tonic::Code::PermissionDenied)
        );
        assert_eq!(code("Delete", None), Err(tonic::Code::Unauthenticated));
    }
}
