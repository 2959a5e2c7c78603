//! LMTP delivery into the store: recipients are checked against the
//! directory at RCPT time and delivered with the user's partition and quota.

use std::sync::Arc;

use mail_directory::{AccountStatus, Address, Directory, Resolved, User};
use mail_lmtp::{DeliveryResult, IncomingMessage, Mailboxes, RcptVerdict, Recipient, Target};
use mail_smtp_proto::Reply;
use mail_store::{DeliverOptions, MailboxPath, QuotaLimits, Store, StoreError};

/// The store as LMTP sees it.
pub struct StoreMailboxes {
    store: Store,
    directory: Arc<dyn Directory>,
    host: String,
    guaranteed: bool,
}

impl std::fmt::Debug for StoreMailboxes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreMailboxes")
            .field("host", &self.host)
            .field("guaranteed", &self.guaranteed)
            .finish_non_exhaustive()
    }
}

impl StoreMailboxes {
    /// Deliveries through this value ignore quota when `guaranteed`.
    pub fn new(
        store: Store,
        directory: Arc<dyn Directory>,
        host: String,
        guaranteed: bool,
    ) -> Self {
        Self {
            store,
            directory,
            host,
            guaranteed,
        }
    }

    fn homed_here(&self, user: &User) -> bool {
        match &user.mail_host {
            None => true,
            Some(h) => h.eq_ignore_ascii_case(&self.host),
        }
    }
}

/// The store's recipient for a directory user.
fn store_recipient(user: &User, folder: Option<String>) -> mail_store::Recipient {
    let mut r = mail_store::Recipient::new(user.uid.clone());
    r.partition = user.partition.clone();
    r.mailbox = folder;
    r.quota = QuotaLimits {
        bytes: user.quota.bytes,
        messages: user.quota.messages,
    };
    r
}

fn reply_for(e: &StoreError) -> DeliveryResult {
    match e {
        // RFC 3463 X.2.2: mailbox full.
        StoreError::OverQuotaTemporary { .. } => DeliveryResult::TempFail(Reply::with_status(
            452,
            (4, 2, 2),
            "Mailbox full, try again later",
        )),
        StoreError::OverQuotaPermanent => {
            DeliveryResult::PermFail(Reply::with_status(552, (5, 2, 2), "Mailbox full"))
        }
        e if e.is_temporary() => DeliveryResult::TempFail(Reply::with_status(
            451,
            (4, 3, 0),
            "Local error in processing, try again later",
        )),
        _ => DeliveryResult::PermFail(Reply::with_status(
            554,
            (5, 3, 0),
            "Message could not be stored",
        )),
    }
}

impl Mailboxes for StoreMailboxes {
    async fn check_recipient(&self, rcpt: &Recipient) -> RcptVerdict {
        let Ok(address) = Address::parse(&rcpt.canonical()) else {
            return RcptVerdict::Unknown;
        };
        let user = match self.directory.resolve(&address).await {
            Ok(Resolved::User(u)) => u,
            // Groups are expanded by the relay, never by the store.
            Ok(_) => return RcptVerdict::Unknown,
            Err(e) if e.is_temporary() => return RcptVerdict::TempFail(e.to_string()),
            Err(e) => {
                tracing::info!(error = %e, "recipient lookup refused");
                return RcptVerdict::Unknown;
            }
        };
        match user.status {
            AccountStatus::Active => {}
            // Mail for a suspended account waits in the relay's queue.
            AccountStatus::Inactive => {
                return RcptVerdict::TempFail(format!("account {} is inactive", user.uid));
            }
            AccountStatus::Deleted => return RcptVerdict::Inactive,
        }
        if !self.homed_here(&user) {
            return RcptVerdict::HomedElsewhere {
                host: user.mail_host.clone().unwrap_or_default(),
            };
        }
        let mut target = Target::new(rcpt, user.uid.clone());
        // `user+detail` goes to folder `detail` only when it exists.
        if let Some(folder) = target.folder.take() {
            let uid = user.uid.clone();
            let f = folder.clone();
            let exists = self
                .store
                .run(move |s| {
                    Ok(s.open_mailbox(&uid, &MailboxPath::new(uid.clone(), f))
                        .is_ok())
                })
                .await
                .unwrap_or(false);
            if exists {
                target.folder = Some(folder);
            }
        }
        RcptVerdict::Accept(target)
    }

    async fn deliver(&self, msg: IncomingMessage, rcpts: &[Target]) -> Vec<DeliveryResult> {
        let temp = || {
            DeliveryResult::TempFail(Reply::with_status(
                451,
                (4, 3, 0),
                "Local error in processing, try again later",
            ))
        };
        let bytes = match msg.body.read_all().await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the spooled message");
                return rcpts.iter().map(|_| temp()).collect();
            }
        };
        // Quota and partition as the directory says now (cached lookup); a
        // recipient whose lookup fails is deferred, not delivered blind.
        let mut ok = Vec::with_capacity(rcpts.len());
        let mut chosen = Vec::with_capacity(rcpts.len());
        for (i, t) in rcpts.iter().enumerate() {
            if let Ok(Some(u)) = self.directory.user(&t.account).await {
                ok.push(i);
                let mut r = store_recipient(&u, t.folder.clone());
                r.rcpt = Some(t.recipient.address.to_string());
                chosen.push(r);
            }
        }
        let opts = DeliverOptions {
            internal_date: Some(msg.envelope.received_at),
            guaranteed: self.guaranteed,
            delivery_id: msg.envelope.delivery_id.clone(),
        };
        let results = self
            .store
            .run(move |s| Ok(s.deliver(&bytes, &chosen, &opts)))
            .await
            .unwrap_or_default();
        let mut out: Vec<DeliveryResult> = rcpts.iter().map(|_| temp()).collect();
        for (slot, result) in ok.iter().zip(results) {
            out[*slot] = match result {
                Ok(d) if d.redelivery => DeliveryResult::AlreadyDelivered,
                Ok(d) => {
                    if d.quota_warning {
                        tracing::warn!(user = %rcpts[*slot].account, "quota warning threshold crossed");
                        self.send_quota_warning(&rcpts[*slot].account).await;
                    }
                    DeliveryResult::Delivered
                }
                Err(e) => {
                    tracing::info!(user = %rcpts[*slot].account, error = %e, "delivery refused");
                    reply_for(&e)
                }
            };
        }
        out
    }
}

impl StoreMailboxes {
    /// Puts one warning notice in the user's INBOX through the guaranteed
    /// path (the store reports each crossing of the threshold once).
    async fn send_quota_warning(&self, uid: &str) {
        // RFC 5322 3.6: the origination date is required.
        let notice = format!(
            "From: Mail System <postmaster@{host}>\r\nTo: {uid}\r\nSubject: Your mailbox is nearly full\r\nDate: {date}\r\nAuto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nYour mailbox has passed its warning level. Please delete or archive\r\nmessages: once it is full, new mail is held and then returned to the sender.\r\n",
            host = self.host,
            date = mail_core::date::rfc5322(std::time::SystemTime::now()),
        );
        let recipient = mail_store::Recipient::new(uid.to_string());
        let opts = DeliverOptions {
            internal_date: None,
            guaranteed: true,
            delivery_id: None,
        };
        let results = self
            .store
            .run(move |s| Ok(s.deliver(notice.as_bytes(), &[recipient], &opts)))
            .await;
        if let Ok(r) = results
            && let Some(Err(e)) = r.first()
        {
            tracing::error!(user = %uid, error = %e, "cannot store the quota warning");
        }
    }
}
