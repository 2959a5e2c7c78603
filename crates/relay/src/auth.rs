//! Submission: AUTH checked against the directory, and the envelope
//! sender limited to the authenticated user's own addresses.
//!
//! A store submitting for a user (JMAP EmailSubmission) authenticates with
//! `AUTH PLAIN` whose authorization identity is the user (uid or address)
//! and whose authentication identity and password are one of the relay's
//! `[proxy]` identities (mail_core::trusted_proxy): accepted only from the
//! configured networks, and the session then counts as the user's, so the
//! sender check below still applies.

use std::sync::Arc;

use async_trait::async_trait;
use mail_core::trusted_proxy::TrustedProxies;
use mail_directory::{Address, AuthResult, Directory, Resolved};
use mail_mta::{AuthVerdict, Authenticator, ClientInfo, Credentials, SenderPolicy, SenderVerdict};
use mail_smtp_proto::{MailParams, ReversePath};

/// AUTH PLAIN/LOGIN against the directory.
pub struct DirectoryAuth {
    directory: Arc<dyn Directory>,
    proxies: TrustedProxies,
}

impl DirectoryAuth {
    /// Checks credentials with `directory`; no proxy may act for users.
    pub fn new(directory: Arc<dyn Directory>) -> Self {
        Self::with_proxies(directory, TrustedProxies::default())
    }

    /// Checks credentials with `directory`; `proxies` (stores submitting
    /// for their users) may act for any user.
    pub fn with_proxies(directory: Arc<dyn Directory>, proxies: TrustedProxies) -> Self {
        Self { directory, proxies }
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
        match self.directory.authenticate(&c.username, &c.password).await {
            // The identity is the uid: the sender check maps it back to
            // the user's addresses.
            Ok(AuthResult::Authenticated(u)) => AuthVerdict::Accept { identity: u.uid },
            Ok(_) => AuthVerdict::Reject,
            Err(e) if e.is_temporary() => AuthVerdict::TempFail(e.to_string()),
            Err(_) => AuthVerdict::Reject,
        }
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
