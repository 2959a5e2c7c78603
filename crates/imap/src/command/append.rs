//! APPEND (RFC 3501 6.3.11, MULTIAPPEND RFC 3502, UIDPLUS APPENDUID RFC
//! 4315, BINARY literal8 RFC 3516, APPENDLIMIT RFC 7889).

use std::time::{Duration, SystemTime};

use mail_imap_proto::AppendMessage;
use mail_imap_proto::SequenceSet;
use mail_imap_proto::response::Code;
use mail_store::{Flags, QuotaLimits};

use crate::session::{Flow, Session, State};

impl Session {
    /// The quota limits for mailboxes of `owner`.
    pub(crate) async fn limits_of(&self, owner: &str) -> QuotaLimits {
        if let Some(u) = self.user()
            && u.uid == owner
        {
            return u.quota;
        }
        match self.shared.directory.user(owner).await {
            Ok(Some(u)) => QuotaLimits {
                bytes: u.quota.bytes,
                messages: u.quota.messages,
            },
            _ => QuotaLimits::default(),
        }
    }

    pub(crate) async fn append(
        &mut self,
        tag: &str,
        name: &str,
        messages: Vec<AppendMessage>,
    ) -> Flow {
        let user = self.uid();
        let Some(path) = self.path_of(name) else {
            return self.no(tag, Some(Code::TryCreate), "No such mailbox");
        };
        let max = self.shared.config.max_message_size;
        if messages.iter().any(|m| m.data.len() as u64 > max) {
            return self.no(tag, Some(Code::TooBig), "Message larger than APPENDLIMIT");
        }
        if messages.iter().any(|m| m.data.is_empty()) {
            return self.no(tag, Some(Code::Cannot), "Empty message");
        }
        let limits = self.limits_of(&path.owner).await;
        let r = self
            .shared
            .store
            .run(move |s| {
                let h = s.open_mailbox(&user, &path)?;
                let mut uids = Vec::new();
                for m in &messages {
                    let flags: Flags = m.flags.iter().collect();
                    let date = m.date.map(|d| {
                        let t = d.unix();
                        if t >= 0 {
                            SystemTime::UNIX_EPOCH + Duration::from_secs(t as u64)
                        } else {
                            SystemTime::UNIX_EPOCH
                        }
                    });
                    uids.push(s.append(&h, &m.data, &flags, date, &limits)?.uid);
                }
                Ok((h.uidvalidity, h.id, uids))
            })
            .await;
        match r {
            Ok((validity, id, uids)) => {
                if let State::Selected(_, v) = &self.state
                    && v.handle.id == id
                {
                    self.sync(true).await;
                }
                let set = SequenceSet::from_numbers(uids).to_string();
                self.ok(
                    tag,
                    Some(Code::AppendUid(validity, set)),
                    "APPEND completed",
                )
            }
            Err(e) => self.store_no(tag, &e, true),
        }
    }
}
