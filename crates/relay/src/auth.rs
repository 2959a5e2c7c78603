//! Submission: AUTH checked against the directory, and the envelope
//! sender limited to the authenticated user's own addresses.
//!
//! Failed logins are throttled across connections, per client address and
//! per name (`[login_throttle]`, mail_core::login_throttle), as on the
//! MMP and the store: the per-session `max_auth_failures` alone lets a
//! guesser open twenty connections at once and go on for ever. The
//! authenticator itself waits before answering a failure, so the SMTP
//! session needs no knowledge of the throttle; a locked-out address or
//! name gets the same `535` after the same wait, without a directory
//! lookup.
//!
//! A store submitting for a user (JMAP EmailSubmission) authenticates with
//! `AUTH PLAIN` whose authorization identity is the user (uid or address)
//! and whose authentication identity and password are one of the relay's
//! `[proxy]` identities (mail_core::trusted_proxy): accepted only from the
//! configured networks, and the session then counts as the user's, so the
//! sender check below still applies.

use std::sync::Arc;

use async_trait::async_trait;
use mail_core::login_throttle::{LoginThrottle, Verdict};
use mail_core::trusted_proxy::TrustedProxies;
use mail_directory::{Address, AuthResult, Directory, Resolved};
use mail_mta::{AuthVerdict, Authenticator, ClientInfo, Credentials, SenderPolicy, SenderVerdict};
use mail_smtp_proto::{MailParams, ReversePath};

/// AUTH PLAIN/LOGIN against the directory.
pub struct DirectoryAuth {
    directory: Arc<dyn Directory>,
    proxies: TrustedProxies,
    throttle: Option<Arc<LoginThrottle>>,
}

impl DirectoryAuth {
    /// Checks credentials with `directory`; no proxy may act for users.
    pub fn new(directory: Arc<dyn Directory>) -> Self {
        Self::with_proxies(directory, TrustedProxies::default())
    }

    /// Checks credentials with `directory`; `proxies` (stores submitting
    /// for their users) may act for any user.
    pub fn with_proxies(directory: Arc<dyn Directory>, proxies: TrustedProxies) -> Self {
        Self {
            directory,
            proxies,
            throttle: None,
        }
    }

    /// Throttles failed logins with `throttle` (shared by every listener
    /// of the relay, so a guesser gains nothing by switching ports).
    pub fn with_throttle(mut self, throttle: Arc<LoginThrottle>) -> Self {
        self.throttle = Some(throttle);
        self
    }

    /// A directory login, slowed down and locked out by the throttle.
    async fn login(&self, client: &ClientInfo, c: &Credentials) -> AuthVerdict {
        let started = tokio::time::Instant::now();
        let ip = client.peer.ip();
        if let Some(t) = &self.throttle
            && let Verdict::Locked { scope, remaining } = t.check(ip, &c.username)
        {
            tracing::warn!(user = %c.username, peer = %client.peer, ?scope, ?remaining,
                "AUTH refused: locked out after too many failures");
            tokio::time::sleep_until(started + t.locked_delay()).await;
            return AuthVerdict::Reject;
        }
        let verdict = match self.directory.authenticate(&c.username, &c.password).await {
            // The identity is the uid: the sender check maps it back to
            // the user's addresses.
            Ok(AuthResult::Authenticated(u)) => AuthVerdict::Accept { identity: u.uid },
            Ok(_) => AuthVerdict::Reject,
            Err(e) if e.is_temporary() => AuthVerdict::TempFail(e.to_string()),
            Err(_) => AuthVerdict::Reject,
        };
        if let Some(t) = &self.throttle {
            match verdict {
                AuthVerdict::Accept { .. } => t.succeeded(ip, &c.username),
                AuthVerdict::Reject => {
                    let delay = t.failed(ip, &c.username);
                    tokio::time::sleep_until(started + delay).await;
                }
                AuthVerdict::TempFail(_) => {}
            }
        }
        verdict
    }

    async fn proxied(&self, client: &ClientInfo, c: &Credentials, user: &str) -> AuthVerdict {
        if let Err(why) = self
            .proxies
            .verify(&c.username, c.password.as_bytes(), client.peer.ip())
        {
            tracing::warn!(proxy = %c.username, peer = %client.peer, reason = %why, "proxied AUTH refused");
            return AuthVerdict::Reject;
        }
        let found = match Address::parse(user) {
            Ok(a) if user.contains('@') => match self.directory.resolve(&a).await {
                Ok(Resolved::User(u)) => Ok(Some(*u)),
                Ok(_) => Ok(None),
                Err(e) => Err(e),
            },
            _ => self.directory.user(user).await,
        };
        match found {
            Ok(Some(u)) if u.status == mail_directory::AccountStatus::Active => {
                AuthVerdict::Accept { identity: u.uid }
            }
            Ok(_) => AuthVerdict::Reject,
            Err(e) if e.is_temporary() => AuthVerdict::TempFail(e.to_string()),
            Err(_) => AuthVerdict::Reject,
        }
    }
}

#[async_trait]
impl Authenticator for DirectoryAuth {
    async fn authenticate(&self, client: &ClientInfo, c: &Credentials) -> AuthVerdict {
        // A proxy identity never reaches the directory as a login.
        if self.proxies.is_proxy(&c.username) {
            return match &c.authzid {
                Some(z) if !z.is_empty() && !z.eq_ignore_ascii_case(&c.username) => {
                    self.proxied(client, c, z).await
                }
                _ => AuthVerdict::Reject,
            };
        }
        // Acting for someone else (an authzid naming another user) is
        // only for proxies.
        if let Some(z) = &c.authzid
            && !z.is_empty()
            && !z.eq_ignore_ascii_case(&c.username)
        {
            return AuthVerdict::Reject;
        }
        self.login(client, c).await
    }
}

/// The sender must be an address of the authenticated user (primary or
/// alternate, through domain aliases), or `<>`.
pub struct DirectorySenders {
    directory: Arc<dyn Directory>,
}

impl DirectorySenders {
    /// Checks senders with `directory`.
    pub fn new(directory: Arc<dyn Directory>) -> Self {
        Self { directory }
    }
}

#[async_trait]
impl SenderPolicy for DirectorySenders {
    async fn check_sender(
        &self,
        client: &ClientInfo,
        sender: &ReversePath,
        _: &MailParams,
    ) -> SenderVerdict {
        let Some(sender) = sender.address() else {
            return SenderVerdict::Accept;
        };
        let Some(uid) = &client.auth else {
            // Trusted networks relay without AUTH; their senders are theirs.
            return SenderVerdict::Accept;
        };
        let Ok(address) = Address::parse(&sender.to_string()) else {
            return SenderVerdict::NotOwned;
        };
        match self.directory.resolve(&address).await {
            Ok(Resolved::User(u)) if u.uid.eq_ignore_ascii_case(uid) => SenderVerdict::Accept,
            Ok(_) => SenderVerdict::NotOwned,
            Err(e) if e.is_temporary() => SenderVerdict::TempFail(e.to_string()),
            Err(_) => SenderVerdict::NotOwned,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mail_core::login_throttle::LoginThrottleConfig;
    use mail_directory::file::{Data, FileDirectory, FileUser};
    use mail_directory::password::{Scheme, hash};

    use super::*;

    fn directory(dir: &std::path::Path) -> Arc<dyn Directory> {
        let user = |uid: &str| FileUser {
            uid: uid.into(),
            mail: format!("{uid}@example.test"),
            password: Some(hash(&format!("{uid}-pw"), Scheme::Ssha).expect("hash")),
            ..Default::default()
        };
        let data = Data::single_domain("example.test", vec![user("alice"), user("bob")]);
        Arc::new(FileDirectory::create(&dir.join("dir.toml"), &data).expect("directory"))
    }

    fn client(ip: &str) -> ClientInfo {
        ClientInfo {
            peer: format!("{ip}:40000").parse().expect("peer"),
            local: "127.0.0.1:587".parse().expect("local"),
            helo: Some("client".into()),
            tls: true,
            auth: None,
        }
    }

    fn creds(user: &str, password: &str) -> Credentials {
        Credentials {
            mechanism: "PLAIN",
            authzid: None,
            username: user.into(),
            password: password.into(),
        }
    }

    /// Each AUTH is its own connection as far as the authenticator knows:
    /// the counts that lock a name out must come from the shared throttle.
    #[tokio::test]
    async fn failures_across_connections_slow_down_and_lock_the_name_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let throttle = Arc::new(LoginThrottle::new(
            "relay-test",
            &LoginThrottleConfig {
                failure_delay: Duration::from_millis(40),
                max_delay: Duration::from_millis(200),
                user_lockout_after: 3,
                ip_lockout_after: 0,
                ..LoginThrottleConfig::default()
            },
        ));
        let auth = DirectoryAuth::new(directory(dir.path())).with_throttle(throttle);
        let guesser = client("192.0.2.7");

        let mut waits = Vec::new();
        for _ in 0..3 {
            let started = std::time::Instant::now();
            let v = auth.authenticate(&guesser, &creds("alice", "guess")).await;
            assert!(matches!(v, AuthVerdict::Reject));
            waits.push(started.elapsed());
        }
        // 40, 80, 160 ms: each failure waits longer than the one before.
        assert!(waits[0] >= Duration::from_millis(40), "{waits:?}");
        assert!(waits[2] >= Duration::from_millis(160), "{waits:?}");

        // Locked out: even the right password is refused, from anywhere,
        // after the lockout's wait.
        let started = std::time::Instant::now();
        let v = auth
            .authenticate(&client("198.51.100.9"), &creds("alice", "alice-pw"))
            .await;
        assert!(matches!(v, AuthVerdict::Reject));
        assert!(started.elapsed() >= Duration::from_millis(200));

        // Another name is not affected.
        let v = auth.authenticate(&guesser, &creds("bob", "bob-pw")).await;
        assert!(matches!(v, AuthVerdict::Accept { ref identity } if identity == "bob"));
    }

    #[tokio::test]
    async fn a_success_forgets_the_names_failures() {
        let dir = tempfile::tempdir().expect("tempdir");
        let throttle = Arc::new(LoginThrottle::new(
            "relay-test",
            &LoginThrottleConfig {
                failure_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(20),
                user_lockout_after: 2,
                ip_lockout_after: 0,
                ..LoginThrottleConfig::default()
            },
        ));
        let auth = DirectoryAuth::new(directory(dir.path())).with_throttle(throttle);
        let c = client("192.0.2.8");
        let v = auth.authenticate(&c, &creds("alice", "typo")).await;
        assert!(matches!(v, AuthVerdict::Reject));
        let v = auth.authenticate(&c, &creds("alice", "alice-pw")).await;
        assert!(matches!(v, AuthVerdict::Accept { .. }));
        let v = auth.authenticate(&c, &creds("alice", "typo")).await;
        assert!(matches!(v, AuthVerdict::Reject));
        let v = auth.authenticate(&c, &creds("alice", "alice-pw")).await;
        assert!(
            matches!(v, AuthVerdict::Accept { .. }),
            "one failure after a success must not lock out"
        );
    }
}
