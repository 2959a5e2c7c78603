//! SELECT / EXAMINE (RFC 3501 6.3.1-2, with RFC 7162 CONDSTORE and
//! QRESYNC), CLOSE and UNSELECT (RFC 3691).

use std::collections::BTreeSet;

use mail_imap_proto::SelectParams;
use mail_imap_proto::SequenceSet;
use mail_imap_proto::response::{Code, FetchResponse, Status, StatusKind, vanished};
use mail_store::UidSet;

use crate::session::{Flow, Session, State};
use crate::view::{View, flag_names};

impl Session {
    pub(crate) async fn select(
        &mut self,
        tag: &str,
        name: &str,
        read_only: bool,
        params: SelectParams,
    ) -> Flow {
        // A failed SELECT leaves no mailbox selected (RFC 3501 6.3.1).
        let previous = std::mem::replace(&mut self.state, State::Logout);
        let user = match previous {
            State::Authenticated(u) => u,
            State::Selected(u, _) => {
                if self.enabled.qresync {
                    self.push(b"* OK [CLOSED] Previous mailbox closed\r\n");
                }
                u
            }
            other => {
                self.state = other;
                return self.bad(tag, "Not logged in");
            }
        };
        let uid = user.uid.clone();
        self.state = State::Authenticated(user);
        if params.condstore || params.qresync.is_some() {
            self.enabled.condstore = true;
        }
        if params.qresync.is_some() && !self.enabled.qresync {
            return self.bad(tag, "QRESYNC must be enabled first (RFC 7162 3.2.5)");
        }
        let Some(path) = self.path_of(name) else {
            return self.no(tag, Some(Code::NonExistent), "No such mailbox");
        };
        let store = self.shared.store.clone();
        let opened = store
            .run(move |s| {
                let handle = s.open_mailbox(&uid, &path)?;
                let watch = s.watch(&handle);
                // RFC 3501 6.3.1-2: SELECT takes \Recent for this session;
                // EXAMINE shows the messages no session has claimed yet as
                // recent without taking the flag from anyone.
                let claimed = if read_only {
                    0..0
                } else {
                    s.claim_recent(&handle, None)?
                };
                let rows = s.fetch_index(&handle, &UidSet::all(), None)?;
                let status = s.status(&handle)?;
                let recent = if read_only {
                    s.recent_mark(&handle)?..status.uidnext
                } else {
                    claimed
                };
                Ok((handle, watch, recent, rows, status))
            })
            .await;
        let (handle, watch, recent, rows, status) = match opened {
            Ok(v) => v,
            Err(e) => return self.store_no(tag, &e, false),
        };
        let read_only = read_only
            || !(handle.rights.has('s') || handle.rights.has('w') || handle.rights.has('t'));
        let mut view = View::new(handle, read_only, watch);
        view.load(&rows);
        view.add_recent(recent);
        view.learn(rows.iter().flat_map(|r| r.flags.iter()));
        let flags_lines = view.flags_lines();
        // FLAGS first, PERMANENTFLAGS with the other response codes below.
        let split = flags_lines
            .iter()
            .position(|&b| b == b'\n')
            .map_or(flags_lines.len(), |p| p + 1);
        self.push(&flags_lines[..split]);
        self.push(format!("* {} EXISTS\r\n", view.exists()).as_bytes());
        if !self.enabled.rev2 {
            self.push(format!("* {} RECENT\r\n", view.recent()).as_bytes());
            if let Some(pos) = rows.iter().position(|r| !r.flags.contains("\\Seen")) {
                self.push(
                    &Status::untagged(
                        StatusKind::Ok,
                        Some(Code::Unseen(pos as u32 + 1)),
                        "First unseen",
                    )
                    .to_bytes(),
                );
            }
        }
        let untagged = |code| Status::untagged(StatusKind::Ok, Some(code), "Ok").to_bytes();
        self.push(&untagged(Code::UidValidity(status.uidvalidity)));
        self.push(&untagged(Code::UidNext(status.uidnext)));
        self.push(&flags_lines[split..]);
        self.push(&untagged(Code::HighestModSeq(status.highestmodseq)));
        if let Some(q) = &params.qresync
            && q.uid_validity == status.uidvalidity
        {
            // RFC 7162 3.2.5.1: what vanished and what changed since the
            // client's MODSEQ. Without expunge tombstones, every known UID
            // no longer present is reported as vanished.
            let known = q.known_uids.clone().unwrap_or(SequenceSet::Ranges(vec![
                mail_imap_proto::SeqRange {
                    start: mail_imap_proto::SeqNum::Value(1),
                    end: mail_imap_proto::SeqNum::Value(status.uidnext.saturating_sub(1).max(1)),
                },
            ]));
            let present: BTreeSet<u32> = view.uids.iter().copied().collect();
            let mut gone = Vec::new();
            for (lo, hi) in known.ranges(status.uidnext.saturating_sub(1)) {
                let hi = hi.min(status.uidnext.saturating_sub(1));
                if hi.saturating_sub(lo) > 1_000_000 {
                    continue;
                }
                gone.extend((lo..=hi).filter(|u| !present.contains(u)));
            }
            if !gone.is_empty() {
                self.push(&vanished(
                    true,
                    &SequenceSet::from_numbers(gone).to_string(),
                ));
            }
            for (i, r) in rows.iter().enumerate() {
                if r.modseq > q.modseq {
                    let mut f = FetchResponse::new(i as u32 + 1, self.utf8());
                    f.uid(r.uid)
                        .flags(&flag_names(r, view.is_recent(r.uid)))
                        .modseq(r.modseq);
                    self.push(&f.finish());
                }
            }
        }
        let code = if view.read_only {
            Code::ReadOnly
        } else {
            Code::ReadWrite
        };
        let State::Authenticated(user) = std::mem::replace(&mut self.state, State::Logout) else {
            return self.no(tag, None, "Session state changed");
        };
        self.state = State::Selected(user, Box::new(view));
        self.saved.clear();
        self.ok(
            tag,
            Some(code),
            if read_only {
                "EXAMINE completed"
            } else {
                "SELECT completed"
            },
        )
    }

    /// CLOSE (expunges silently when read-write) or UNSELECT.
    pub(crate) async fn close(&mut self, tag: &str, expunge: bool) -> Flow {
        let State::Selected(user, view) = std::mem::replace(&mut self.state, State::Logout) else {
            return self.bad(tag, "No mailbox selected");
        };
        self.state = State::Authenticated(user);
        if expunge && !view.read_only {
            let handle = view.handle.clone();
            if let Err(e) = self
                .shared
                .store
                .run(move |s| s.expunge(&handle, None))
                .await
                && !matches!(e, mail_store::StoreError::PermissionDenied { .. })
            {
                return self.store_no(tag, &e, false);
            }
        }
        self.saved.clear();
        self.ok(
            tag,
            None,
            if expunge {
                "CLOSE completed"
            } else {
                "UNSELECT completed"
            },
        )
    }
}
