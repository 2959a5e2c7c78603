//! Submission: AUTH checked against the directory, and the envelope
//! sender limited to the authenticated user's own addresses.

use std::sync::Arc;

use async_trait::async_trait;
use mail_directory::{Address, AuthResult, Directory, Resolved};
use mail_mta::{AuthVerdict, Authenticator, ClientInfo, Credentials, SenderPolicy, SenderVerdict};
use mail_smtp_proto::{MailParams, ReversePath};

/// AUTH PLAIN/LOGIN against the directory.
pub struct DirectoryAuth {
    directory: Arc<dyn Directory>,
}

impl DirectoryAuth {
    /// Checks credentials with `directory`.
    pub fn new(directory: Arc<dyn Directory>) -> Self {
        Self { directory }
    }
}

#[async_trait]
impl Authenticator for DirectoryAuth {
    async fn authenticate(&self, _client: &ClientInfo, c: &Credentials) -> AuthVerdict {
        // Acting for someone else (an authzid naming another user) is not
        // offered.
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
