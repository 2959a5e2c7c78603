//! EXPUNGE and UID EXPUNGE (RFC 3501 6.4.3, RFC 4315 2.1); QRESYNC
//! clients get VANISHED instead of EXPUNGE (RFC 7162 3.2.10).

use mail_imap_proto::SequenceSet;
use mail_imap_proto::response::Code;
use mail_store::UidSet;

use crate::session::{Flow, Session, State};

impl Session {
    pub(crate) async fn expunge(&mut self, tag: &str, uids: Option<SequenceSet>) -> Flow {
        let State::Selected(_, view) = &self.state else {
            return self.bad(tag, "No mailbox selected");
        };
        if view.read_only {
            return self.no(tag, Some(Code::Cannot), "Mailbox is read-only");
        }
        let handle = view.handle.clone();
        let only = match &uids {
            Some(set) => match view.resolve(set, true, &self.saved) {
                Ok(u) if u.is_empty() => return self.ok(tag, None, "Nothing to expunge"),
                Ok(u) => Some(UidSet::list(&u)),
                Err(why) => return self.bad(tag, why),
            },
            None => None,
        };
        let r = self
            .shared
            .store
            .run(move |s| s.expunge(&handle, only.as_ref()))
            .await;
        let gone = match r {
            Ok(g) => g,
            Err(e) => return self.store_no(tag, &e, false),
        };
        let mode = self.sync_mode(true);
        if let State::Selected(_, view) = &mut self.state {
            let mut out = Vec::new();
            view.remove(&gone, mode, &mut out);
            self.push(&out);
        }
        self.ok(tag, None, "EXPUNGE completed")
    }
}
