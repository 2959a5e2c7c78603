//! STATUS (RFC 3501 6.3.10, RFC 8438 SIZE, RFC 7162 HIGHESTMODSEQ, RFC
//! 7889 APPENDLIMIT); also used by LIST RETURN (STATUS ...).

use mail_imap_proto::StatusItem;
use mail_imap_proto::response::{Code, status_line};
use mail_store::{MailboxStatus, StoreError};

use crate::session::{Flow, Session};

impl Session {
    async fn status_of(&mut self, name: &str) -> Result<MailboxStatus, StoreError> {
        let user = self.uid();
        let path = self
            .path_of(name)
            .ok_or_else(|| StoreError::MailboxNotFound {
                owner: user.clone(),
                name: name.into(),
            })?;
        self.shared
            .store
            .run(move |s| {
                let h = s.open_mailbox(&user, &path)?;
                s.status(&h)
            })
            .await
    }

    fn status_items(&self, st: &MailboxStatus, items: &[StatusItem]) -> Vec<(&'static str, u64)> {
        items
            .iter()
            .map(|i| {
                let v = match i {
                    StatusItem::Messages => u64::from(st.messages),
                    StatusItem::Recent => u64::from(st.recent),
                    StatusItem::UidNext => u64::from(st.uidnext),
                    StatusItem::UidValidity => u64::from(st.uidvalidity),
                    StatusItem::Unseen => u64::from(st.unseen),
                    StatusItem::Deleted => 0,
                    StatusItem::Size => st.size,
                    StatusItem::HighestModSeq => st.highestmodseq,
                    StatusItem::AppendLimit => self.shared.config.max_message_size,
                    _ => 0,
                };
                (i.name(), v)
            })
            .collect()
    }

    /// The untagged STATUS line for LIST-STATUS; errors are skipped (RFC
    /// 5819 4: the LIST line was already sent).
    pub(crate) async fn status_untagged(&mut self, name: &str, items: &[StatusItem]) {
        if let Ok(st) = self.status_of(name).await {
            let values = self.status_items(&st, items);
            self.push(&status_line(name, &values, self.utf8()));
        }
    }

    pub(crate) async fn status(&mut self, tag: &str, name: &str, items: &[StatusItem]) -> Flow {
        // RFC 7162 3.1: STATUS (HIGHESTMODSEQ) is CONDSTORE-enabling.
        if items.contains(&StatusItem::HighestModSeq) {
            self.enable_condstore().await;
        }
        if items.contains(&StatusItem::Deleted) {
            return self.no(tag, Some(Code::Cannot), "STATUS DELETED is not supported");
        }
        match self.status_of(name).await {
            Ok(st) => {
                let values = self.status_items(&st, items);
                self.push(&status_line(name, &values, self.utf8()));
                self.ok(tag, None, "STATUS completed")
            }
            Err(e) => self.store_no(tag, &e, false),
        }
    }
}
