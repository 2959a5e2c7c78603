//! FETCH and UID FETCH (RFC 3501 6.4.5, RFC 3516 BINARY, RFC 7162
//! CHANGEDSINCE/VANISHED/MODSEQ).
//!
//! Index data (flags, size, dates, MODSEQ) and the cached envelope and
//! structure come from the store's system area, a batch of rows at a
//! time; message files are only opened for body items, and then only the
//! byte ranges those need (`fetch_section.rs`), one message at a time as
//! its response is built (see [`super::content`]). Responses are written
//! to the connection as soon as [`MAX_QUEUED`] bytes wait, awaiting the
//! socket: `FETCH 1:* BODY[]` over a mailbox of any size holds about one
//! message plus that bound, and a client that reads nothing stalls its
//! own FETCH instead of growing the server's memory.

use mail_core::Shutdown;
use mail_core::listener::Conn;
use mail_imap_proto::response::{Code, FetchResponse};
use mail_imap_proto::{DateTime, FetchAttr, FetchModifiers, SequenceSet};
use mail_store::{CachedEntry, CachedMessage, FlagOp, Flags, UidSet};

use super::content::{self, Content};
use super::fetch_section::{self, Data};
use crate::convert::{body_structure, envelope, fallback_structure};
use crate::session::{Flow, MAX_QUEUED, Session, State};
use crate::view::flag_names;

/// Index rows (with their cached envelope) loaded per store round trip;
/// message bodies are read one by one.
const BATCH: usize = 64;

/// Writes one body item (its data from [`fetch_section::load`]).
fn body_item(f: &mut FetchResponse, item: &FetchAttr, data: Data) {
    let (bytes, size) = match data {
        Data::Bytes(b) => (Some(b), None),
        Data::Size(n) => (None, Some(n)),
        Data::Nil | Data::UnknownCte => (None, None),
    };
    match item {
        FetchAttr::Rfc822 => {
            f.body("RFC822", bytes.as_deref());
        }
        FetchAttr::Rfc822Header => {
            f.body("RFC822.HEADER", bytes.as_deref());
        }
        FetchAttr::Rfc822Text => {
            f.body("RFC822.TEXT", bytes.as_deref());
        }
        FetchAttr::BodySection {
            section, partial, ..
        } => {
            let name = match partial {
                Some((o, _)) => format!("BODY{}<{o}>", section.to_wire()),
                None => format!("BODY{}", section.to_wire()),
            };
            f.body(&name, bytes.as_deref());
        }
        FetchAttr::Binary { part, partial, .. } => {
            let name = match partial {
                Some((o, _)) => format!("BINARY[{}]<{o}>", part_name(part)),
                None => format!("BINARY[{}]", part_name(part)),
            };
            match bytes {
                Some(b) => f.binary(&name, &b),
                None => f.body(&name, None),
            };
        }
        FetchAttr::BinarySize { part } => {
            f.number(
                &format!("BINARY.SIZE[{}]", part_name(part)),
                size.unwrap_or(0),
            );
        }
        _ => {}
    }
}

fn part_name(part: &[u32]) -> String {
    part.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

impl Session {
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn fetch(
        &mut self,
        tag: &str,
        uid_mode: bool,
        set: &SequenceSet,
        items: Vec<FetchAttr>,
        modifiers: FetchModifiers,
        conn: &mut Conn,
        shutdown: &Shutdown,
    ) -> Flow {
        let State::Selected(_, view) = &self.state else {
            return self.bad(tag, "No mailbox selected");
        };
        let uids = match view.resolve(set, uid_mode, &self.saved) {
            Ok(u) => u,
            Err(why) => return self.bad(tag, why),
        };
        let handle = view.handle.clone();
        let read_only = view.read_only;
        let uidnext_hint = view.uids.last().copied().unwrap_or(0);
        if modifiers.changed_since.is_some() || items.contains(&FetchAttr::ModSeq) {
            self.enable_condstore().await;
        }
        let with_modseq = self.enabled.condstore;
        let needs_cache = items.iter().any(|i| {
            matches!(
                i,
                FetchAttr::Envelope | FetchAttr::Body | FetchAttr::BodyStructure
            )
        });
        let needs_body = items.iter().any(fetch_section::reads_file);
        // Body items are placed by the cached structure's part offsets.
        let needs_cache = needs_cache || needs_body;
        let body_items = std::sync::Arc::new(items.clone());
        let sets_seen = !read_only
            && items.iter().any(|i| {
                matches!(
                    i,
                    FetchAttr::Rfc822
                        | FetchAttr::Rfc822Text
                        | FetchAttr::BodySection { peek: false, .. }
                        | FetchAttr::Binary { peek: false, .. }
                )
            });
        let mut seen_now = std::collections::HashSet::new();
        if modifiers.vanished
            && let Some(since) = modifiers.changed_since
        {
            let _ = since;
            // RFC 7162 3.2.6: UIDs of the set that are gone. Without expunge
            // tombstones, every absent UID up to the last one is reported.
            let State::Selected(_, view) = &self.state else {
                return Flow::Continue;
            };
            let mut gone = Vec::new();
            for (lo, hi) in set.ranges(uidnext_hint) {
                let hi = hi.min(uidnext_hint);
                if hi.saturating_sub(lo) <= 1_000_000 {
                    gone.extend((lo.max(1)..=hi).filter(|u| view.seq_of(*u).is_none()));
                }
            }
            if !gone.is_empty() {
                let line = mail_imap_proto::response::vanished(
                    true,
                    &SequenceSet::from_numbers(gone).to_string(),
                );
                self.push(&line);
            }
        }
        let utf8 = self.utf8();
        let mut unknown_cte = false;
        let mut unreadable = Vec::new();
        for chunk in uids.chunks(BATCH) {
            let list = UidSet::list(chunk);
            let h = handle.clone();
            let since = modifiers.changed_since;
            let loaded = self
                .shared
                .store
                .run(move |s| {
                    let mut seen_changes = Vec::new();
                    if sets_seen {
                        let mut seen = Flags::new();
                        seen.insert("\\Seen");
                        let current = s.fetch_index(&h, &list, None)?;
                        let unseen: Vec<u32> = current
                            .iter()
                            .filter(|e| !e.flags.contains("\\Seen"))
                            .map(|e| e.uid)
                            .collect();
                        if !unseen.is_empty() {
                            seen_changes = s
                                .store_flags(&h, &UidSet::list(&unseen), FlagOp::Add, &seen, None)?
                                .updated;
                        }
                    }
                    let rows: Vec<CachedEntry> = if needs_cache {
                        s.fetch_cached(&h, &list)?
                            .into_iter()
                            .filter(|c| since.is_none_or(|m| c.entry.modseq > m))
                            .collect()
                    } else {
                        s.fetch_index(&h, &list, since)?
                            .into_iter()
                            .map(|entry| CachedEntry {
                                entry,
                                cache: CachedMessage::default(),
                            })
                            .collect()
                    };
                    Ok((seen_changes, rows))
                })
                .await;
            let (seen_changes, rows) = match loaded {
                Ok(v) => v,
                Err(e) => return self.store_no(tag, &e, false),
            };
            let State::Selected(_, view) = &mut self.state else {
                return Flow::Continue;
            };
            for r in &seen_changes {
                view.set_modseq(r.uid, r.modseq);
                seen_now.insert(r.uid);
            }
            for c in rows {
                let e = &c.entry;
                let State::Selected(_, view) = &self.state else {
                    return Flow::Continue;
                };
                let Some(seq) = view.seq_of(e.uid) else {
                    continue;
                };
                let mut body = if needs_body {
                    let (h, uid, size) = (handle.clone(), e.uid, e.size);
                    let (cache, body_items) = (c.cache.clone(), body_items.clone());
                    match self
                        .shared
                        .store
                        .run(move |s| {
                            // An old cache row has no part offsets: it is
                            // parsed again once.
                            let cache = match content::classify(
                                s,
                                &h,
                                uid,
                                s.with_offsets(&h, uid, cache),
                            )? {
                                Content::Bytes(c) => c,
                                Content::Expunged => return Ok(Content::Expunged),
                                Content::Unreadable => return Ok(Content::Unreadable),
                            };
                            let data = fetch_section::load(s, &h, uid, size, &cache, &body_items);
                            content::classify(s, &h, uid, data)
                        })
                        .await
                    {
                        Ok(Content::Bytes(b)) => b,
                        Ok(Content::Expunged) => continue,
                        Ok(Content::Unreadable) => {
                            unreadable.push(uid);
                            continue;
                        }
                        Err(err) => return self.store_no(tag, &err, false),
                    }
                } else {
                    Vec::new()
                };
                let State::Selected(_, view) = &mut self.state else {
                    return Flow::Continue;
                };
                let mut out = Vec::new();
                view.announce(e.flags.iter(), &mut out);
                let mut f = FetchResponse::new(seq, utf8);
                // RFC 7162 3.1: a FETCH that sets \Seen reports UID and
                // MODSEQ under CONDSTORE.
                if uid_mode
                    || items.contains(&FetchAttr::Uid)
                    || (with_modseq && seen_now.contains(&e.uid))
                {
                    f.uid(e.uid);
                }
                let recent = view.is_recent(e.uid);
                if items.contains(&FetchAttr::Flags) || seen_now.contains(&e.uid) {
                    f.flags(&flag_names(e, recent));
                }
                if with_modseq {
                    f.modseq(e.modseq);
                }
                for (n, item) in items.iter().enumerate() {
                    match item {
                        FetchAttr::Uid | FetchAttr::Flags | FetchAttr::ModSeq => {}
                        FetchAttr::InternalDate => {
                            f.raw(
                                "INTERNALDATE",
                                DateTime::from_unix(e.internal_date).to_imap().as_bytes(),
                            );
                        }
                        FetchAttr::Rfc822Size => {
                            f.number("RFC822.SIZE", e.size);
                        }
                        FetchAttr::Envelope => {
                            let mut v = Vec::new();
                            envelope(&c.cache.envelope).write(&mut v, utf8);
                            f.raw("ENVELOPE", &v);
                        }
                        FetchAttr::Body | FetchAttr::BodyStructure => {
                            let extended = *item == FetchAttr::BodyStructure;
                            let bs = c
                                .cache
                                .body
                                .as_ref()
                                .map_or_else(|| fallback_structure(e.size), body_structure);
                            let mut v = Vec::new();
                            bs.write(&mut v, extended, utf8);
                            f.raw(if extended { "BODYSTRUCTURE" } else { "BODY" }, &v);
                        }
                        FetchAttr::Rfc822
                        | FetchAttr::Rfc822Header
                        | FetchAttr::Rfc822Text
                        | FetchAttr::BodySection { .. }
                        | FetchAttr::Binary { .. }
                        | FetchAttr::BinarySize { .. } => {
                            let data = body.get_mut(n).and_then(Option::take).unwrap_or(Data::Nil);
                            if data == Data::UnknownCte {
                                unknown_cte = true;
                                continue;
                            }
                            body_item(&mut f, item, data);
                        }
                        _ => {}
                    }
                }
                drop(body);
                self.push(&out);
                self.queue(f.finish());
                if self.out.len() >= MAX_QUEUED && !self.flush_within(conn, shutdown).await {
                    return Flow::Abort;
                }
            }
        }
        // RFC 9051 7.1: the responses that could be built went out; the
        // damage is the server's, not the client's request.
        if !unreadable.is_empty() {
            return self.no(
                tag,
                Some(Code::ServerBug),
                &content::unreadable_text(&unreadable),
            );
        }
        if unknown_cte {
            return self.no(
                tag,
                Some(Code::UnknownCte),
                "Cannot decode a part's Content-Transfer-Encoding",
            );
        }
        self.ok(tag, None, "FETCH completed")
    }
}
