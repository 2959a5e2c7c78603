//! STORE and UID STORE (RFC 3501 6.4.6, RFC 7162 UNCHANGEDSINCE/MODIFIED).

use mail_imap_proto::response::{Code, FetchResponse};
use mail_imap_proto::{SequenceSet, StoreMode};
use mail_store::{FlagOp, Flags, UidSet};

use crate::session::{Flow, Session, State};
use crate::view::flag_names;

impl Session {
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn store(
        &mut self,
        tag: &str,
        uid_mode: bool,
        set: &SequenceSet,
        mode: StoreMode,
        silent: bool,
        flags: &[String],
        unchanged_since: Option<u64>,
    ) -> Flow {
        if unchanged_since.is_some() {
            self.enable_condstore().await;
        }
        let State::Selected(_, view) = &self.state else {
            return self.bad(tag, "No mailbox selected");
        };
        if view.read_only {
            return self.no(tag, Some(Code::Cannot), "Mailbox is read-only");
        }
        let uids = match view.resolve(set, uid_mode, &self.saved) {
            Ok(u) => u,
            Err(why) => return self.bad(tag, why),
        };
        if flags
            .iter()
            .any(|f| f.starts_with('\\') && !is_system_flag(f))
        {
            return self.bad(tag, "Unknown system flag");
        }
        let handle = view.handle.clone();
        let op = match mode {
            StoreMode::Add => FlagOp::Add,
            StoreMode::Remove => FlagOp::Remove,
            StoreMode::Replace => FlagOp::Replace,
        };
        let flags: Flags = flags.iter().collect();
        let list = UidSet::list(&uids);
        let r = self
            .shared
            .store
            .run(move |s| {
                let result = s.store_flags(&handle, &list, op, &flags, unchanged_since)?;
                // RFC 3501 6.4.6: without .SILENT the flags come back "as
                // if a FETCH of those flags was done", also for messages
                // the STORE did not change (not for those that failed
                // UNCHANGEDSINCE, RFC 7162 3.1.3, which MODIFIED names).
                let mut same = Vec::new();
                if !silent {
                    let done: std::collections::HashSet<u32> = result
                        .updated
                        .iter()
                        .map(|r| r.uid)
                        .chain(result.modified.iter().copied())
                        .collect();
                    let rest: Vec<u32> = uids.into_iter().filter(|u| !done.contains(u)).collect();
                    if !rest.is_empty() {
                        same = s.fetch_index(&handle, &UidSet::list(&rest), None)?;
                    }
                }
                Ok((result, same))
            })
            .await;
        let (result, same) = match r {
            Ok(r) => r,
            Err(e) => return self.store_no(tag, &e, false),
        };
        let condstore = self.enabled.condstore;
        let utf8 = self.utf8();
        let State::Selected(_, view) = &mut self.state else {
            return Flow::Continue;
        };
        let mut out = Vec::new();
        let mut rows: Vec<&mail_store::IndexEntry> = result.updated.iter().chain(&same).collect();
        rows.sort_by_key(|r| r.uid);
        for row in rows {
            view.set_modseq(row.uid, row.modseq);
            view.announce(row.flags.iter(), &mut out);
            // RFC 7162 3.1.3: with UNCHANGEDSINCE the new MODSEQ is sent even for .SILENT.
            if silent && unchanged_since.is_none() {
                continue;
            }
            let Some(seq) = view.seq_of(row.uid) else {
                continue;
            };
            let mut f = FetchResponse::new(seq, utf8);
            // RFC 7162 3.1: under CONDSTORE, UID and MODSEQ in every
            // FETCH a STORE causes.
            if uid_mode || condstore {
                f.uid(row.uid);
            }
            if !silent {
                f.flags(&flag_names(row, view.is_recent(row.uid)));
            }
            if condstore {
                f.modseq(row.modseq);
            }
            out.extend_from_slice(&f.finish());
        }
        let modified: Vec<u32> = if uid_mode {
            result.modified.clone()
        } else {
            result
                .modified
                .iter()
                .filter_map(|u| view.seq_of(*u))
                .collect()
        };
        self.push(&out);
        if !modified.is_empty() {
            let set = SequenceSet::from_numbers(modified).to_string();
            return self.ok(
                tag,
                Some(Code::Modified(set)),
                "Conditional STORE failed for some messages",
            );
        }
        self.ok(tag, None, "STORE completed")
    }
}

fn is_system_flag(f: &str) -> bool {
    ["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(f))
}
