//! Who is calling: HTTP Basic against the directory (RFC 7617, over TLS
//! only), or a MEM's proxied session (docs/jmap.md, CONTRACTS):
//!
//! ```text
//! Authorization: Basic base64("<proxy name>:<proxy secret>")
//! X-Tiermail-User: alice@example.org
//! Forwarded: for="192.0.2.7";host="mail.example.org";proto=https
//! ```
//!
//! A proxy credential is accepted only through
//! [`TrustedProxies::verify`] (name, secret and the connection's address
//! in the configured networks); a proxy name is never tried as a
//! directory login. A user is served only when the directory's `mailHost`
//! names this store (or is unset). Bearer tokens are not offered: the
//! `WWW-Authenticate` challenge names Basic only.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use hyper::HeaderMap;
use mail_directory::{Address, AuthResult, Resolved, User};
use mail_store::QuotaLimits;
use sha2::Digest;

use crate::Shared;

/// The authenticated user of one request.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    /// Directory uid (the store's user id).
    pub uid: String,
    /// The JMAP account id (see [`account_id`]).
    pub account_id: String,
    /// Primary address.
    pub address: String,
    /// Display name.
    pub name: String,
    /// Alternate addresses (catch-alls left out).
    pub alternates: Vec<String>,
    /// Quota from the directory.
    pub quota: QuotaLimits,
    /// The partition the directory gives (used when the user is new here).
    pub partition: Option<String>,
    /// Set for a MEM's proxied session: the proxy's name.
    pub proxy: Option<String>,
}

/// Why a request was not authenticated; each is an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refused {
    /// 401: no or wrong credentials.
    Unauthorized,
    /// 403: right credentials, but not here (another store, inactive).
    Forbidden(&'static str),
    /// 503: the directory cannot answer.
    Unavailable,
}

/// A JMAP account id for a uid: the uid itself when it is lower-case
/// letters and digits, else `_` and its base64url form (never clashing:
/// the first form has no `_`).
pub(crate) fn account_id(uid: &str) -> String {
    if !uid.is_empty()
        && uid
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        uid.to_string()
    } else {
        format!(
            "_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uid)
        )
    }
}

/// Successful Basic logins remembered for a minute, so a client sending
/// its password with every request does not pay a password hash each time.
/// (login, SHA-256 of the password) -> when checked, who it was.
type CacheMap = HashMap<(String, [u8; 32]), (Instant, Account)>;

#[derive(Default)]
pub(crate) struct AuthCache {
    entries: Mutex<CacheMap>,
}

const CACHE_TTL: Duration = Duration::from_secs(60);
const CACHE_MAX: usize = 10_000;

impl AuthCache {
    fn key(login: &str, password: &str) -> (String, [u8; 32]) {
        (
            login.to_string(),
            sha2::Sha256::digest(password.as_bytes()).into(),
        )
    }

    fn get(&self, login: &str, password: &str) -> Option<Account> {
        let g = self.entries.lock().ok()?;
        let (at, acc) = g.get(&Self::key(login, password))?;
        (at.elapsed() < CACHE_TTL).then(|| acc.clone())
    }

    fn put(&self, login: &str, password: &str, acc: &Account) {
        if let Ok(mut g) = self.entries.lock() {
            if g.len() >= CACHE_MAX {
                g.retain(|_, (at, _)| at.elapsed() < CACHE_TTL);
                if g.len() >= CACHE_MAX {
                    g.clear();
                }
            }
            g.insert(Self::key(login, password), (Instant::now(), acc.clone()));
        }
    }
}

fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(hyper::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

fn account_of(u: &User, proxy: Option<String>) -> Account {
    Account {
        uid: u.uid.clone(),
        account_id: account_id(&u.uid),
        address: u.address.to_string(),
        name: u.display_name.clone(),
        alternates: u
            .alternates
            .iter()
            .filter(|a| !a.starts_with('@'))
            .cloned()
            .collect(),
        quota: QuotaLimits {
            bytes: u.quota.bytes,
            messages: u.quota.messages,
        },
        partition: u.partition.clone(),
        proxy,
    }
}

impl Shared {
    fn homed_here(&self, u: &User) -> Result<(), Refused> {
        match &u.mail_host {
            Some(h) if !h.eq_ignore_ascii_case(&self.host) => {
                Err(Refused::Forbidden("this user's mail is on another store"))
            }
            _ => Ok(()),
        }
    }

    /// Authenticates a request from `peer`.
    pub(crate) async fn authenticate(
        &self,
        headers: &HeaderMap,
        peer: IpAddr,
    ) -> Result<Account, Refused> {
        let Some((login, password)) = basic(headers) else {
            return Err(Refused::Unauthorized);
        };
        let proxied_user = headers
            .get("x-tiermail-user")
            .and_then(|v| v.to_str().ok())
            .map(str::trim);
        if self.proxies.is_proxy(&login) || proxied_user.is_some() {
            return self.proxied(&login, &password, proxied_user, peer).await;
        }
        if let Some(acc) = self.auth_cache.get(&login, &password) {
            return Ok(acc);
        }
        match self.directory.authenticate(&login, &password).await {
            Ok(AuthResult::Authenticated(u)) => {
                self.homed_here(&u)?;
                let acc = account_of(&u, None);
                self.auth_cache.put(&login, &password, &acc);
                self.metrics.login("basic", "success");
                Ok(acc)
            }
            Ok(AuthResult::Inactive(_)) => {
                self.metrics.login("basic", "inactive");
                Err(Refused::Forbidden("the account is disabled"))
            }
            Ok(AuthResult::Failed | AuthResult::Deleted) => {
                self.metrics.login("basic", "failure");
                tracing::info!(login = %login.chars().take(64).collect::<String>(), "login failed");
                tokio::time::sleep(self.cfg.auth_failure_delay).await;
                Err(Refused::Unauthorized)
            }
            Err(e) => {
                tracing::warn!(error = %e, "directory unavailable for login");
                self.metrics.login("basic", "unavailable");
                Err(Refused::Unavailable)
            }
        }
    }

    async fn proxied(
        &self,
        name: &str,
        secret: &str,
        user: Option<&str>,
        peer: IpAddr,
    ) -> Result<Account, Refused> {
        if let Err(why) = self.proxies.verify(name, secret.as_bytes(), peer) {
            self.metrics.login("proxy", "failure");
            tracing::warn!(proxy = %name.chars().take(64).collect::<String>(), %peer, reason = %why, "proxied session refused");
            tokio::time::sleep(self.cfg.auth_failure_delay).await;
            return Err(Refused::Unauthorized);
        }
        let Some(user) = user.filter(|u| !u.is_empty()) else {
            self.metrics.login("proxy", "failure");
            return Err(Refused::Unauthorized);
        };
        let found = match Address::parse(user) {
            Ok(a) if user.contains('@') => match self.directory.resolve(&a).await {
                Ok(Resolved::User(u)) => Ok(Some(*u)),
                Ok(_) => Ok(None),
                Err(e) => Err(e),
            },
            _ => self.directory.user(user).await,
        };
        let u = match found {
            Ok(Some(u)) => u,
            Ok(None) => {
                self.metrics.login("proxy", "unknown_user");
                return Err(Refused::Unauthorized);
            }
            Err(e) => {
                tracing::warn!(error = %e, "directory unavailable for a proxied session");
                return Err(Refused::Unavailable);
            }
        };
        match u.status {
            mail_directory::AccountStatus::Active => {}
            mail_directory::AccountStatus::Inactive => {
                return Err(Refused::Forbidden("the account is disabled"));
            }
            mail_directory::AccountStatus::Deleted => return Err(Refused::Unauthorized),
        }
        self.homed_here(&u)?;
        self.metrics.login("proxy", "success");
        Ok(account_of(&u, Some(name.to_string())))
    }
}

/// The parts of an RFC 7239 `Forwarded` header the store uses.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Forwarded {
    pub for_ip: Option<String>,
    pub host: Option<String>,
    pub proto: Option<String>,
}

/// Parses the first element of `Forwarded` (RFC 7239 4).
pub(crate) fn forwarded(headers: &HeaderMap) -> Forwarded {
    let mut out = Forwarded::default();
    let Some(v) = headers.get("forwarded").and_then(|v| v.to_str().ok()) else {
        return out;
    };
    let first = v.split(',').next().unwrap_or("");
    for pair in first.split(';') {
        let Some((k, val)) = pair.split_once('=') else {
            continue;
        };
        let val = val.trim().trim_matches('"').to_string();
        match k.trim().to_ascii_lowercase().as_str() {
            "for" => out.for_ip = Some(val),
            "host" => out.host = Some(val),
            "proto" => out.proto = Some(val),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_are_ids_and_distinct() {
        assert_eq!(account_id("alice"), "alice");
        let odd = account_id("Alice.B");
        assert!(odd.starts_with('_'));
        assert!(mail_jmap_proto::id::is_valid(&odd));
        assert_ne!(account_id("_x"), "_x");
    }

    #[test]
    fn forwarded_header() {
        let mut h = HeaderMap::new();
        h.insert(
            "forwarded",
            "for=\"192.0.2.7\";host=mail.example.org;proto=https, for=10.0.0.1"
                .parse()
                .unwrap(),
        );
        let f = forwarded(&h);
        assert_eq!(f.for_ip.as_deref(), Some("192.0.2.7"));
        assert_eq!(f.host.as_deref(), Some("mail.example.org"));
        assert_eq!(f.proto.as_deref(), Some("https"));
    }
}
