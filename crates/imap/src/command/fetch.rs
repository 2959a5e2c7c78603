//! FETCH and UID FETCH (RFC 3501 6.4.5, RFC 3516 BINARY, RFC 7162
//! CHANGEDSINCE/VANISHED/MODSEQ).
//!
//! Index data (flags, size, dates, MODSEQ) and the cached envelope and
//! structure come from the store's system area, a batch of rows at a
//! time; message files are only opened for body sections, one message at
//! a time as its response is built (see [`super::content`]). Responses
//! are written to the connection as soon as [`MAX_QUEUED`] bytes wait,
//! awaiting the socket: `FETCH 1:* BODY[]` over a mailbox of any size
//! holds about one message plus that bound, and a client that reads
//! nothing stalls its own FETCH instead of growing the server's memory.

use mail_core::Shutdown;
use mail_core::listener::Conn;
use mail_imap_proto::response::{Code, FetchResponse};
use mail_imap_proto::{DateTime, FetchAttr, FetchModifiers, SequenceSet};
use mail_store::{CachedEntry, CachedMessage, FlagOp, Flags, UidSet};

use super::content::{self, Content};
use crate::convert::{body_structure, envelope, fallback_structure};
use crate::mime;
use crate::session::{Flow, MAX_QUEUED, Session, State};
use crate::view::flag_names;

/// Index rows (with their cached envelope) loaded per store round trip;
/// message bodies are read one by one.
const BATCH: usize = 64;

fn partial(data: Vec<u8>, p: Option<(u32, u32)>) -> Vec<u8> {
    match p {
        None => data,
        Some((origin, count)) => {
            let start = (origin as usize).min(data.len());
            let end = start.saturating_add(count as usize).min(data.len());
            data[start..end].to_vec()
        }
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
        let needs_body = items.iter().any(|i| {
            matches!(
                i,
                FetchAttr::Rfc822
                    | FetchAttr::Rfc822Header
                    | FetchAttr::Rfc822Text
                    | FetchAttr::BodySection { .. }
                    | FetchAttr::Binary { .. }
                    | FetchAttr::BinarySize { .. }
            )
        });
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
                let body = if needs_body {
                    let (h, uid) = (handle.clone(), e.uid);
                    match self
                        .shared
                        .store
                        .run(move |s| content::read(s, &h, uid))
                        .await
                    {
                        Ok(Content::Bytes(b)) => Some(b),
                        Ok(Content::Expunged) => continue,
                        Ok(Content::Unreadable) => {
                            unreadable.push(uid);
                            continue;
                        }
                        Err(err) => return self.store_no(tag, &err, false),
                    }
                } else {
                    None
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
                for item in &items {
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
                        FetchAttr::Rfc822 => {
                            f.body("RFC822", body.as_deref());
                        }
                        FetchAttr::Rfc822Header => {
                            let sec = mail_imap_proto::Section {
                                part: vec![],
                                text: Some(mail_imap_proto::SectionText::Header),
                            };
                            let d = body.as_deref().and_then(|b| mime::section(b, &sec));
                            f.body("RFC822.HEADER", d.as_deref());
                        }
                        FetchAttr::Rfc822Text => {
                            let sec = mail_imap_proto::Section {
                                part: vec![],
                                text: Some(mail_imap_proto::SectionText::Text),
                            };
                            let d = body.as_deref().and_then(|b| mime::section(b, &sec));
                            f.body("RFC822.TEXT", d.as_deref());
                        }
                        FetchAttr::BodySection {
                            section,
                            partial: p,
                            ..
                        } => {
                            let d = body
                                .as_deref()
                                .map(|b| mime::section(b, section).unwrap_or_default());
                            let name = match p {
                                Some((o, _)) => format!("BODY{}<{o}>", section.to_wire()),
                                None => format!("BODY{}", section.to_wire()),
                            };
                            let d = d.map(|d| partial(d, *p));
                            f.body(&name, d.as_deref());
                        }
                        FetchAttr::Binary {
                            part, partial: p, ..
                        } => {
                            let name = match p {
                                Some((o, _)) => format!("BINARY[{}]<{o}>", part_name(part)),
                                None => format!("BINARY[{}]", part_name(part)),
                            };
                            match body.as_deref().and_then(|b| mime::binary(b, part)) {
                                Some(Ok(d)) => {
                                    f.binary(&name, &partial(d, *p));
                                }
                                Some(Err(())) => unknown_cte = true,
                                None => {
                                    f.body(&name, None);
                                }
                            }
                        }
                        FetchAttr::BinarySize { part } => {
                            match body.as_deref().and_then(|b| mime::binary(b, part)) {
                                Some(Ok(d)) => {
                                    f.number(
                                        &format!("BINARY.SIZE[{}]", part_name(part)),
                                        d.len() as u64,
                                    );
                                }
                                Some(Err(())) => unknown_cte = true,
                                None => {
                                    f.number(&format!("BINARY.SIZE[{}]", part_name(part)), 0);
                                }
                            }
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
