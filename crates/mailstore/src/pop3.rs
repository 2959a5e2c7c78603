//! POP3 on the store: the directory checks passwords, a user's INBOX is
//! the maildrop, and deletions become expunges when the client QUITs.
//!
//! The POP lock (RFC 1939 8) is held in this process: a user's mail lives
//! on exactly one store (the directory's `mailHost`), so every POP session
//! for that user lands here. IMAP sessions are not locked out; they see
//! POP's expunges like any other session's.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use mail_directory::{AccountStatus, AuthResult, Directory, User};
use mail_pop3::{
    Account, AuthFailure, Authenticator, Error, Maildrop, Maildrops, MessageContent, MessageInfo,
};
use mail_store::{DELETED, FlagOp, Flags, MailboxHandle, MailboxPath, Store, UidSet};

/// [`Authenticator`] over the directory.
pub struct DirectoryAuth {
    directory: Arc<dyn Directory>,
    host: Option<String>,
}

impl DirectoryAuth {
    /// Checks passwords against `directory`.
    pub fn new(directory: Arc<dyn Directory>) -> Self {
        Self {
            directory,
            host: None,
        }
    }

    /// Serves only users whose `mailHost` is `host` (or who have none);
    /// the others get [`AuthFailure::HomedElsewhere`].
    pub fn homed_at(mut self, host: &str) -> Self {
        self.host = Some(host.to_string());
        self
    }

    /// The account, unless the user is homed on another store.
    fn account(&self, user: &User, login: &str) -> Result<Account, AuthFailure> {
        if let (Some(here), Some(theirs)) = (&self.host, &user.mail_host)
            && !theirs.eq_ignore_ascii_case(here)
        {
            return Err(AuthFailure::HomedElsewhere(theirs.clone()));
        }
        Ok(Account {
            id: user.uid.clone(),
            name: login.to_string(),
        })
    }
}

impl Authenticator for DirectoryAuth {
    async fn authorize(&self, user: &str) -> Result<Account, AuthFailure> {
        match mail_directory::user_by_login(self.directory.as_ref(), user).await {
            Ok(Some(u)) if u.status == AccountStatus::Active => self.account(&u, user),
            Ok(Some(u)) if u.status == AccountStatus::Inactive => Err(AuthFailure::Inactive),
            Ok(_) => Err(AuthFailure::BadCredentials),
            Err(e) if e.is_temporary() => Err(AuthFailure::Temporary(e.to_string())),
            Err(_) => Err(AuthFailure::BadCredentials),
        }
    }

    async fn authenticate(&self, login: &str, password: &str) -> Result<Account, AuthFailure> {
        match self.directory.authenticate(login, password).await {
            Ok(AuthResult::Authenticated(u)) => self.account(&u, login),
            Ok(AuthResult::Inactive(_)) => Err(AuthFailure::Inactive),
            Ok(_) => Err(AuthFailure::BadCredentials),
            Err(e) if e.is_temporary() => Err(AuthFailure::Temporary(e.to_string())),
            // A malformed login is a wrong login, not a server problem.
            Err(_) => Err(AuthFailure::BadCredentials),
        }
    }
}

/// [`Maildrops`] over the store: each user's INBOX.
pub struct StoreMaildrops {
    store: Store,
    directory: Arc<dyn Directory>,
    locked: Arc<Mutex<HashSet<String>>>,
}

impl StoreMaildrops {
    /// Serves INBOXes of `store`; `directory` names each user's partition
    /// for users who have never received mail.
    pub fn new(store: Store, directory: Arc<dyn Directory>) -> Self {
        Self {
            store,
            directory,
            locked: Arc::new(Mutex::new(HashSet::new())),
        }
    }
}

/// Releases the account's POP lock when the session ends, however it ends.
struct LockGuard {
    locked: Arc<Mutex<HashSet<String>>>,
    account: String,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Ok(mut l) = self.locked.lock() {
            l.remove(&self.account);
        }
    }
}

impl Maildrops for StoreMaildrops {
    type Maildrop = StoreMaildrop;

    async fn open(&self, account: &Account) -> Result<StoreMaildrop, Error> {
        let guard = {
            let mut l = self
                .locked
                .lock()
                .map_err(|_| Error::Unavailable("POP lock table poisoned".into()))?;
            if !l.insert(account.id.clone()) {
                return Err(Error::InUse);
            }
            LockGuard {
                locked: self.locked.clone(),
                account: account.id.clone(),
            }
        };
        let partition = match self.directory.user(&account.id).await {
            Ok(u) => u.and_then(|u| u.partition),
            Err(e) => return Err(Error::Unavailable(e.to_string())),
        };
        let uid = account.id.clone();
        let (mailbox, messages) = self
            .store
            .run(move |s| {
                s.ensure_user(&uid, partition.as_deref())?;
                let mailbox = s.open_mailbox(&uid, &MailboxPath::inbox(uid.clone()))?;
                let rows = s.fetch_index(&mailbox, &UidSet::all(), None)?;
                let messages = rows
                    .into_iter()
                    .map(|r| MessageInfo {
                        key: u64::from(r.uid),
                        uid: format!("{}.{}", mailbox.uidvalidity, r.uid),
                        size: r.size,
                    })
                    .collect();
                Ok((mailbox, messages))
            })
            .await
            .map_err(|e| Error::Unavailable(e.to_string()))?;
        Ok(StoreMaildrop {
            store: self.store.clone(),
            mailbox,
            messages,
            _lock: guard,
        })
    }
}

/// One session's view of an INBOX, fixed at login (RFC 1939: message
/// numbers do not change during a session).
pub struct StoreMaildrop {
    store: Store,
    mailbox: MailboxHandle,
    messages: Vec<MessageInfo>,
    _lock: LockGuard,
}

impl Maildrop for StoreMaildrop {
    fn messages(&self) -> &[MessageInfo] {
        &self.messages
    }

    async fn read(&self, msg: &MessageInfo) -> Result<MessageContent, Error> {
        let uid = u32::try_from(msg.key).map_err(|_| Error::Message {
            uid: msg.uid.clone(),
            reason: "not a store UID".into(),
        })?;
        let mailbox = self.mailbox.clone();
        self.store
            .run(move |s| s.read_message(&mailbox, uid))
            .await
            .map(MessageContent::Bytes)
            .map_err(|e| Error::Message {
                uid: msg.uid.clone(),
                reason: e.to_string(),
            })
    }

    async fn commit(self, deleted: Vec<MessageInfo>) -> Result<(), Error> {
        if deleted.is_empty() {
            return Ok(());
        }
        let uids: Vec<u32> = deleted
            .iter()
            .filter_map(|m| u32::try_from(m.key).ok())
            .collect();
        let mailbox = self.mailbox.clone();
        self.store
            .run(move |s| {
                // The store's expunge is IMAP's: it removes what carries
                // \Deleted, so the POP deletions are flagged first. Both
                // steps are durable; a crash between them leaves the
                // messages flagged, as an IMAP client would.
                let set = UidSet::list(&uids);
                let mut deleted = Flags::new();
                deleted.insert(DELETED);
                s.store_flags(&mailbox, &set, FlagOp::Add, &deleted, None)?;
                s.expunge(&mailbox, Some(&set))
            })
            .await
            .map(|_| ())
            .map_err(|e| Error::Unavailable(e.to_string()))
    }
}
