//! COPY, MOVE (RFC 6851) and their UID forms, with UIDPLUS COPYUID (RFC
//! 4315) and TRYCREATE for a missing destination.

use mail_imap_proto::SequenceSet;
use mail_imap_proto::response::{Code, Status, StatusKind};
use mail_store::UidSet;

use crate::session::{Flow, Session, State};

impl Session {
    pub(crate) async fn copy(
        &mut self,
        tag: &str,
        uid_mode: bool,
        set: &SequenceSet,
        name: &str,
        is_move: bool,
    ) -> Flow {
        let user = self.uid();
        let State::Selected(_, view) = &self.state else {
            return self.bad(tag, "No mailbox selected");
        };
        if is_move && view.read_only {
            return self.no(tag, Some(Code::Cannot), "Mailbox is read-only");
        }
        let uids = match view.resolve(set, uid_mode, &self.saved) {
            Ok(u) => u,
            Err(why) => return self.bad(tag, why),
        };
        let from = view.handle.clone();
        let Some(path) = self.path_of(name) else {
            return self.no(tag, Some(Code::TryCreate), "No such mailbox");
        };
        if uids.is_empty() {
            return self.ok(tag, None, "Nothing to do");
        }
        let limits = self.limits_of(&path.owner).await;
        let r = self
            .shared
            .store
            .run(move |s| {
                let to = s.open_mailbox(&user, &path)?;
                let list = UidSet::list(&uids);
                let pairs = if is_move {
                    s.move_messages(&from, &list, &to, &limits)?
                } else {
                    s.copy(&from, &list, &to, &limits)?
                };
                Ok((to.uidvalidity, to.id, pairs))
            })
            .await;
        let (validity, to_id, pairs) = match r {
            Ok(v) => v,
            Err(e) => return self.store_no(tag, &e, true),
        };
        let code = if pairs.is_empty() {
            None
        } else {
            let src = SequenceSet::from_numbers(pairs.iter().map(|p| p.0)).to_string();
            let dst = SequenceSet::from_numbers(pairs.iter().map(|p| p.1)).to_string();
            // Both lists must be in the same order; from_numbers sorts, and
            // the store hands out ascending UIDs for ascending sources.
            Some(Code::CopyUid(validity, src, dst))
        };
        if is_move {
            // RFC 6851 4.3: COPYUID goes in an untagged OK before the expunges.
            if let Some(c) = code {
                self.push(&Status::untagged(StatusKind::Ok, Some(c), "Moved").to_bytes());
            }
            let moved: Vec<u32> = pairs.iter().map(|p| p.0).collect();
            let mode = self.sync_mode(true);
            let mut into_self = false;
            if let State::Selected(_, view) = &mut self.state {
                let mut out = Vec::new();
                view.remove(&moved, mode, &mut out);
                into_self = view.handle.id == to_id;
                self.push(&out);
            }
            // RFC 6851 3.3: moving into the selected mailbox itself leaves
            // the copies there; their EXISTS follows the EXPUNGEs.
            if into_self {
                self.sync(true).await;
            }
            return self.ok(tag, None, "MOVE completed");
        }
        if let State::Selected(_, v) = &self.state
            && v.handle.id == to_id
        {
            self.sync(true).await;
        }
        self.ok(tag, code, "COPY completed")
    }
}
