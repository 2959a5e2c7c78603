//! Trusted-proxy logins: how an access-tier proxy (the MMP for IMAP/POP,
//! the MEM for JMAP) acts for a user on the store that holds the user's
//! mail, without knowing the user's password a second time.
//!
//! The proxy checks the user's password against the directory itself, then
//! presents its own credential to the store together with the user's name:
//!
//! - IMAP `AUTHENTICATE PLAIN` and POP3 `AUTH PLAIN` (RFC 4616): the
//!   authorization identity is the user, the authentication identity is the
//!   proxy's name and the password is the proxy's secret, as Dovecot's
//!   master users and Cyrus's proxy servers do.
//! - HTTP (JMAP): the proxy's name and secret as HTTP Basic credentials and
//!   the user in a separate header.
//!
//! The store accepts such a login only when the identity is configured, the
//! secret matches and the connection comes from one of the configured
//! networks; anything else is an ordinary failed login. Secrets live in
//! files (mode 0600, one line), never in the configuration itself, so the
//! configuration can be shown and shared.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cidr::Cidr;
use crate::{Validate, Validator};

/// `[proxy]` in a store's configuration: who may log in for a user.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedProxyConfig {
    /// The proxies, each with its name and the file holding its secret.
    #[serde(default)]
    pub identities: Vec<ProxyIdentityConfig>,
    /// Where proxied logins may come from (the access tier's addresses).
    /// A proxy credential from anywhere else is refused.
    #[serde(default)]
    pub networks: Vec<Cidr>,
}

/// One proxy identity.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyIdentityConfig {
    /// The authentication identity the proxy presents (e.g. `mmp`).
    pub name: String,
    /// A file holding the proxy's secret on its first line.
    pub secret_file: PathBuf,
}

impl Validate for TrustedProxyConfig {
    fn validate(&self, v: &mut Validator) {
        if !self.identities.is_empty() && self.networks.is_empty() {
            v.error(
                "networks",
                "list the networks proxied logins come from (the access tier)",
            );
        }
        for (i, id) in self.identities.iter().enumerate() {
            if id.name.trim().is_empty() || id.name.contains(['\0', ':']) {
                v.error(
                    &format!("identities[{i}].name"),
                    "must be a non-empty name without ':' or NUL",
                );
            }
            if self.identities[..i].iter().any(|o| o.name == id.name) {
                v.error(&format!("identities[{i}].name"), "appears twice");
            }
        }
    }
}

/// Why a proxy credential was refused. Callers log it and answer the
/// client as for any failed login; the reason never goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyRefusal {
    /// No proxy of that name is configured.
    #[error("not a configured proxy identity")]
    UnknownIdentity,
    /// The name is a proxy's but the secret is wrong.
    #[error("wrong proxy secret")]
    BadSecret,
    /// Right credential, from outside the configured networks.
    #[error("proxy credential from an untrusted address")]
    UntrustedNetwork,
}

/// The loaded form of [`TrustedProxyConfig`]: names with their secrets.
#[derive(Clone, Default)]
pub struct TrustedProxies {
    identities: Vec<(String, Vec<u8>)>,
    networks: Vec<Cidr>,
}

impl std::fmt::Debug for TrustedProxies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secrets.
        let names: Vec<&str> = self.identities.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("TrustedProxies")
            .field("identities", &names)
            .field("networks", &self.networks)
            .finish()
    }
}

impl TrustedProxies {
    /// Reads every identity's secret file.
    pub fn load(cfg: &TrustedProxyConfig) -> std::io::Result<Self> {
        let mut identities = Vec::with_capacity(cfg.identities.len());
        for id in &cfg.identities {
            identities.push((id.name.clone(), read_secret(&id.secret_file)?));
        }
        Ok(Self {
            identities,
            networks: cfg.networks.clone(),
        })
    }

    /// True when no proxy is configured: every proxied login is refused.
    pub fn is_empty(&self) -> bool {
        self.identities.is_empty()
    }

    /// True when `name` is a configured proxy identity. A login whose
    /// authentication identity is a proxy's must go through [`verify`]
    /// and never through the directory.
    ///
    /// [`verify`]: Self::verify
    pub fn is_proxy(&self, name: &str) -> bool {
        self.identities.iter().any(|(n, _)| n == name)
    }

    /// True when `peer` may present a proxy credential at all; stores also
    /// use this to decide whether to believe a forwarded client address.
    pub fn is_trusted_peer(&self, peer: IpAddr) -> bool {
        Cidr::any_contains(&self.networks, peer)
    }

    /// Checks a proxy's credential presented from `peer`.
    pub fn verify(&self, name: &str, secret: &[u8], peer: IpAddr) -> Result<(), ProxyRefusal> {
        let (_, expected) = self
            .identities
            .iter()
            .find(|(n, _)| n == name)
            .ok_or(ProxyRefusal::UnknownIdentity)?;
        if !constant_time_eq(expected, secret) {
            return Err(ProxyRefusal::BadSecret);
        }
        if !self.is_trusted_peer(peer) {
            return Err(ProxyRefusal::UntrustedNetwork);
        }
        Ok(())
    }
}

/// Reads a secret file: its first line, without the line ending. An empty
/// secret is an error, so a truncated file cannot open the door.
pub fn read_secret(path: &Path) -> std::io::Result<Vec<u8>> {
    let raw = std::fs::read(path)?;
    let line = raw.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}: the secret is empty", path.display()),
        ));
    }
    Ok(line.to_vec())
}

/// Compares without an early exit, so the time taken does not tell how
/// much of a guessed secret was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(dir: &Path) -> TrustedProxies {
        let secret = dir.join("mmp.secret");
        std::fs::write(&secret, "s3cret\n").expect("write");
        TrustedProxies::load(&TrustedProxyConfig {
            identities: vec![ProxyIdentityConfig {
                name: "mmp".into(),
                secret_file: secret,
            }],
            networks: vec!["127.0.0.0/8".parse().expect("net")],
        })
        .expect("load")
    }

    #[test]
    fn verifies_name_secret_and_network() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = proxies(dir.path());
        let lo: IpAddr = "127.0.0.5".parse().expect("ip");
        let out: IpAddr = "192.0.2.1".parse().expect("ip");
        assert_eq!(p.verify("mmp", b"s3cret", lo), Ok(()));
        assert_eq!(p.verify("mmp", b"s3cre", lo), Err(ProxyRefusal::BadSecret));
        assert_eq!(
            p.verify("mem", b"s3cret", lo),
            Err(ProxyRefusal::UnknownIdentity)
        );
        assert_eq!(
            p.verify("mmp", b"s3cret", out),
            Err(ProxyRefusal::UntrustedNetwork)
        );
        assert!(p.is_proxy("mmp") && !p.is_proxy("alice"));
        assert!(!format!("{p:?}").contains("s3cret"));
    }

    #[test]
    fn empty_secret_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("empty");
        std::fs::write(&path, "\n").expect("write");
        assert!(read_secret(&path).is_err());
    }

    #[test]
    fn identities_need_networks() {
        let cfg = TrustedProxyConfig {
            identities: vec![ProxyIdentityConfig {
                name: "mmp".into(),
                secret_file: "/x".into(),
            }],
            networks: vec![],
        };
        let mut v = Validator::new();
        cfg.validate(&mut v);
        assert_eq!(v.problems().len(), 1);
    }
}
