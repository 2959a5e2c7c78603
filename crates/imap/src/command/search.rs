//! SEARCH / UID SEARCH (RFC 3501 6.4.4, RFC 4731 ESEARCH, RFC 5182
//! SEARCHRES, RFC 7162 MODSEQ), SORT and THREAD (RFC 5256).
//!
//! Criteria are evaluated over the index and the cached envelope; message
//! files are read only for BODY, TEXT and HEADER criteria, then a batch of
//! rows at a time and one message at a time (read, test, drop: see
//! [`super::content`]), so searching a mailbox's content costs about one
//! message of memory whatever its size. THREAD is in `thread.rs`.

use std::sync::Arc;

use mail_imap_proto::response::{Code, esearch, search_line};
use mail_imap_proto::{
    Date, DateTime, SearchKey, SearchReturn, SequenceSet, SortCriterion, SortKey,
};
use mail_store::{CachedEntry, CachedMessage, UidSet};

use super::content::{self, Content};
use crate::mime;
use crate::session::{Flow, Session, State};
use crate::thread::base_subject;

/// One message as the evaluator sees it.
pub(super) struct Msg {
    pub(super) seq: u32,
    recent: bool,
    pub(super) c: CachedEntry,
    /// The whole message while criteria are tested; once
    /// [`Session::matching`] returns, only its header (and only when the
    /// caller forced it), so the matches of a big mailbox stay small.
    pub(super) body: Option<Vec<u8>>,
}

/// Index rows per store round trip when message files are read.
const BODY_BATCH: usize = 64;

/// One round trip of [`Session::matching`]: the matches among a batch of
/// rows, or the first message whose file could not be read.
struct Batch {
    found: Vec<Msg>,
    unreadable: Option<u32>,
}

struct Ctx<'a> {
    exists: u32,
    largest_uid: u32,
    saved: &'a [u32],
    now: i64,
}

fn needs(key: &SearchKey, cache: &mut bool, body: &mut bool) {
    use SearchKey as K;
    match key {
        K::Bcc(_)
        | K::Cc(_)
        | K::From(_)
        | K::To(_)
        | K::Subject(_)
        | K::SentBefore(_)
        | K::SentOn(_)
        | K::SentSince(_) => *cache = true,
        K::Body(_) | K::Text(_) | K::Header(..) => *body = true,
        K::Not(k) => needs(k, cache, body),
        K::Or(a, b) => {
            needs(a, cache, body);
            needs(b, cache, body);
        }
        K::And(ks) => ks.iter().for_each(|k| needs(k, cache, body)),
        _ => {}
    }
}

pub(super) fn has_modseq(key: &SearchKey) -> bool {
    match key {
        SearchKey::ModSeq(_) => true,
        SearchKey::Not(k) => has_modseq(k),
        SearchKey::Or(a, b) => has_modseq(a) || has_modseq(b),
        SearchKey::And(ks) => ks.iter().any(has_modseq),
        _ => false,
    }
}

fn contains(hay: &str, needle: &str) -> bool {
    hay.to_lowercase().contains(&needle.to_lowercase())
}

fn bytes_contain(hay: &[u8], needle: &str) -> bool {
    let needle = needle.to_lowercase();
    if needle.is_empty() {
        return true;
    }
    String::from_utf8_lossy(hay)
        .to_lowercase()
        .contains(&needle)
}

fn addr_match(list: &[mail_store::EnvelopeAddress], needle: &str) -> bool {
    list.iter().any(|a| {
        a.name.as_deref().is_some_and(|n| contains(n, needle))
            || a.address.as_deref().is_some_and(|x| contains(x, needle))
    })
}

/// The Date: header's calendar date in its own zone, and its instant.
fn sent(cache: &CachedMessage) -> Option<(Date, i64)> {
    let d = mail_parser::DateTime::parse_rfc822(cache.envelope.date.as_deref()?)?;
    Some((
        Date {
            year: i32::from(d.year),
            month: u32::from(d.month),
            day: u32::from(d.day),
        },
        d.to_timestamp(),
    ))
}

fn internal(m: &Msg) -> Date {
    DateTime::from_unix(m.c.entry.internal_date).date
}

fn eval(key: &SearchKey, m: &Msg, ctx: &Ctx<'_>, depth: usize) -> bool {
    use SearchKey as K;
    if depth > 256 {
        return false;
    }
    let flags = &m.c.entry.flags;
    let env = &m.c.cache.envelope;
    match key {
        K::All => true,
        K::Answered => flags.contains("\\Answered"),
        K::Deleted => flags.contains("\\Deleted"),
        K::Draft => flags.contains("\\Draft"),
        K::Flagged => flags.contains("\\Flagged"),
        K::Seen => flags.contains("\\Seen"),
        K::Unanswered => !flags.contains("\\Answered"),
        K::Undeleted => !flags.contains("\\Deleted"),
        K::Undraft => !flags.contains("\\Draft"),
        K::Unflagged => !flags.contains("\\Flagged"),
        K::Unseen => !flags.contains("\\Seen"),
        K::Keyword(k) => flags.contains(k),
        K::Unkeyword(k) => !flags.contains(k),
        K::Recent => m.recent,
        K::New => m.recent && !flags.contains("\\Seen"),
        K::Old => !m.recent,
        K::Larger(n) => m.c.entry.size > *n,
        K::Smaller(n) => m.c.entry.size < *n,
        K::Before(d) => internal(m) < *d,
        K::On(d) => internal(m) == *d,
        K::Since(d) => internal(m) >= *d,
        K::SentBefore(d) => sent(&m.c.cache).is_some_and(|(s, _)| s < *d),
        K::SentOn(d) => sent(&m.c.cache).is_some_and(|(s, _)| s == *d),
        K::SentSince(d) => sent(&m.c.cache).is_some_and(|(s, _)| s >= *d),
        K::Older(secs) => ctx.now - m.c.entry.internal_date >= i64::from(*secs),
        K::Younger(secs) => ctx.now - m.c.entry.internal_date <= i64::from(*secs),
        K::From(s) => addr_match(&env.from, s),
        K::To(s) => addr_match(&env.to, s),
        K::Cc(s) => addr_match(&env.cc, s),
        K::Bcc(s) => addr_match(&env.bcc, s),
        K::Subject(s) => env.subject.as_deref().is_some_and(|x| contains(x, s)),
        K::Header(field, s) => m.body.as_deref().is_some_and(|b| {
            mime::header_values(b, field)
                .iter()
                .any(|v| s.is_empty() || contains(v, s))
        }),
        K::Body(s) => m
            .body
            .as_deref()
            .is_some_and(|b| bytes_contain(mime::body(b), s)),
        K::Text(s) => m.body.as_deref().is_some_and(|b| bytes_contain(b, s)),
        K::Uid(set) => match set {
            SequenceSet::Saved => ctx.saved.contains(&m.c.entry.uid),
            _ => set.contains(m.c.entry.uid, ctx.largest_uid),
        },
        K::Sequence(set) => match set {
            SequenceSet::Saved => ctx.saved.contains(&m.c.entry.uid),
            _ => set.contains(m.seq, ctx.exists),
        },
        K::ModSeq(n) => m.c.entry.modseq >= *n,
        K::Not(k) => !eval(k, m, ctx, depth + 1),
        K::Or(a, b) => eval(a, m, ctx, depth + 1) || eval(b, m, ctx, depth + 1),
        K::And(ks) => ks.iter().all(|k| eval(k, m, ctx, depth + 1)),
        _ => false,
    }
}

fn first_addr(list: &[mail_store::EnvelopeAddress]) -> String {
    list.first()
        .and_then(|a| a.address.as_deref())
        .map(|a| a.split('@').next().unwrap_or("").to_lowercase())
        .unwrap_or_default()
}

/// The header of a message (its blank line included): what THREAD
/// keeps of a matched message when References: is not cached.
fn header_only(mut msg: Vec<u8>) -> Vec<u8> {
    let header = msg.len() - mime::body(&msg).len();
    msg.truncate(header);
    msg.shrink_to_fit();
    msg
}

pub(super) fn sort_date(m: &Msg) -> i64 {
    sent(&m.c.cache).map_or(m.c.entry.internal_date, |(_, t)| t)
}

impl Session {
    /// Evaluates `key` over the selected mailbox; the matches in mailbox
    /// order. `force_cache`/`force_body` load the envelope/message even
    /// when the criteria do not need them.
    pub(super) async fn matching(
        &mut self,
        tag: &str,
        key: &SearchKey,
        force_cache: bool,
        force_body: bool,
    ) -> Result<Vec<Msg>, Flow> {
        let State::Selected(_, view) = &self.state else {
            return Err(self.bad(tag, "No mailbox selected"));
        };
        let (mut need_cache, mut need_body) = (force_cache, force_body);
        needs(key, &mut need_cache, &mut need_body);
        let handle = view.handle.clone();
        let exists = view.exists();
        let largest_uid = view.uids.last().copied().unwrap_or(0);
        // (uid, seq, recent) of the messages the client knows, in order.
        let known: Vec<(u32, u32, bool)> = view
            .uids
            .iter()
            .zip(1u32..)
            .map(|(&uid, seq)| (uid, seq, view.is_recent(uid)))
            .collect();
        let key = Arc::new(key.clone());
        let saved = Arc::new(self.saved.clone());
        let now = DateTime::from_unix(0).unix().max(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
        );
        // Index rows are small and read in one go; message files are not.
        let batch = if need_body {
            BODY_BATCH
        } else {
            known.len().max(1)
        };
        let mut out = Vec::new();
        for chunk in known.chunks(batch) {
            let (Some(first), Some(last)) = (chunk.first(), chunk.last()) else {
                continue;
            };
            let uids = if need_body {
                UidSet::range(first.0, last.0)
            } else {
                UidSet::all()
            };
            let chunk = chunk.to_vec();
            let (handle, key, saved) = (handle.clone(), key.clone(), saved.clone());
            let loaded = self
                .shared
                .store
                .run(move |s| {
                    let rows: Vec<CachedEntry> = if need_cache {
                        s.fetch_cached(&handle, &uids)?
                    } else {
                        s.fetch_index(&handle, &uids, None)?
                            .into_iter()
                            .map(|entry| CachedEntry {
                                entry,
                                cache: CachedMessage::default(),
                            })
                            .collect()
                    };
                    let ctx = Ctx {
                        exists,
                        largest_uid,
                        saved: &saved,
                        now,
                    };
                    let mut found = Vec::new();
                    for c in rows {
                        // The view's UIDs are in ascending order.
                        let Ok(i) = chunk.binary_search_by_key(&c.entry.uid, |k| k.0) else {
                            continue;
                        };
                        let (uid, seq, recent) = chunk[i];
                        let body = if need_body {
                            match content::read(s, &handle, uid)? {
                                Content::Bytes(b) => Some(b),
                                Content::Expunged => continue,
                                Content::Unreadable => {
                                    return Ok(Batch {
                                        found,
                                        unreadable: Some(uid),
                                    });
                                }
                            }
                        } else {
                            None
                        };
                        let mut m = Msg {
                            seq,
                            recent,
                            c,
                            body,
                        };
                        if eval(&key, &m, &ctx, 0) {
                            m.body = m.body.filter(|_| force_body).map(header_only);
                            found.push(m);
                        }
                    }
                    Ok(Batch {
                        found,
                        unreadable: None,
                    })
                })
                .await;
            let batch = match loaded {
                Ok(b) => b,
                Err(e) => return Err(self.store_no(tag, &e, false)),
            };
            out.extend(batch.found);
            // RFC 9051 6.4.4: a search that could not look at every
            // message has no right answer; say so rather than leave the
            // damaged message out.
            if let Some(uid) = batch.unreadable {
                return Err(self.no(
                    tag,
                    Some(Code::ServerBug),
                    &content::unreadable_text(&[uid]),
                ));
            }
        }
        Ok(out)
    }

    pub(super) fn charset_ok(&mut self, tag: &str, charset: Option<&str>) -> Option<Flow> {
        match charset {
            None | Some("UTF-8" | "US-ASCII") => None,
            Some(_) => Some(self.no(
                tag,
                Some(Code::BadCharset(vec!["UTF-8".into(), "US-ASCII".into()])),
                "Unsupported charset",
            )),
        }
    }

    pub(crate) async fn search(
        &mut self,
        tag: &str,
        uid: bool,
        charset: Option<String>,
        returns: Option<Vec<SearchReturn>>,
        key: SearchKey,
    ) -> Flow {
        if let Some(f) = self.charset_ok(tag, charset.as_deref()) {
            return f;
        }
        let with_modseq = has_modseq(&key);
        if with_modseq {
            self.enable_condstore().await;
        }
        let found = match self.matching(tag, &key, false, false).await {
            Ok(f) => f,
            Err(flow) => return flow,
        };
        let nums: Vec<u32> = found
            .iter()
            .map(|m| if uid { m.c.entry.uid } else { m.seq })
            .collect();
        let top_modseq = found.iter().map(|m| m.c.entry.modseq).max();
        let returns = match returns {
            None if self.enabled.rev2 => Some(vec![SearchReturn::All]),
            r => r,
        };
        let Some(mut returns) = returns else {
            self.push(&search_line(
                &nums,
                if with_modseq { top_modseq } else { None },
            ));
            return self.ok(tag, None, "SEARCH completed");
        };
        if returns.is_empty() {
            returns.push(SearchReturn::All);
        }
        if returns.contains(&SearchReturn::Save) {
            self.saved = found.iter().map(|m| m.c.entry.uid).collect();
            if returns.len() == 1 {
                return self.ok(tag, None, "SEARCH completed, result saved");
            }
        }
        let mut data: Vec<(&str, String)> = Vec::new();
        for r in &returns {
            match r {
                SearchReturn::Min if !nums.is_empty() => data.push(("MIN", nums[0].to_string())),
                SearchReturn::Max if !nums.is_empty() => {
                    data.push(("MAX", nums[nums.len() - 1].to_string()))
                }
                SearchReturn::All if !nums.is_empty() => data.push((
                    "ALL",
                    SequenceSet::from_numbers(nums.iter().copied()).to_string(),
                )),
                SearchReturn::Count => data.push(("COUNT", nums.len().to_string())),
                _ => {}
            }
        }
        // RFC 7162 3.1.5: with only MIN and/or MAX asked for, MODSEQ is
        // that of the message(s) returned, not of every match.
        let only_ends = !returns
            .iter()
            .any(|r| matches!(r, SearchReturn::All | SearchReturn::Count));
        let reported_modseq = if only_ends {
            let mut ends = Vec::new();
            if returns.contains(&SearchReturn::Min) {
                ends.extend(found.first());
            }
            if returns.contains(&SearchReturn::Max) {
                ends.extend(found.last());
            }
            ends.iter().map(|m| m.c.entry.modseq).max()
        } else {
            top_modseq
        };
        if with_modseq && let Some(m) = reported_modseq {
            data.push(("MODSEQ", m.to_string()));
        }
        self.push(&esearch(tag, uid, &data));
        self.ok(tag, None, "SEARCH completed")
    }

    pub(crate) async fn sort(
        &mut self,
        tag: &str,
        uid: bool,
        criteria: &[SortCriterion],
        charset: &str,
        key: SearchKey,
    ) -> Flow {
        if let Some(f) = self.charset_ok(tag, Some(charset)) {
            return f;
        }
        let mut found = match self.matching(tag, &key, true, false).await {
            Ok(f) => f,
            Err(flow) => return flow,
        };
        found.sort_by(|a, b| {
            for c in criteria {
                let env = |m: &Msg| m.c.cache.envelope.clone();
                let ord = match c.key {
                    SortKey::Arrival => a.c.entry.internal_date.cmp(&b.c.entry.internal_date),
                    SortKey::Size => a.c.entry.size.cmp(&b.c.entry.size),
                    SortKey::Date => sort_date(a).cmp(&sort_date(b)),
                    SortKey::Subject => base_subject(env(a).subject.as_deref().unwrap_or(""))
                        .0
                        .cmp(&base_subject(env(b).subject.as_deref().unwrap_or("")).0),
                    SortKey::From => first_addr(&env(a).from).cmp(&first_addr(&env(b).from)),
                    SortKey::To => first_addr(&env(a).to).cmp(&first_addr(&env(b).to)),
                    SortKey::Cc => first_addr(&env(a).cc).cmp(&first_addr(&env(b).cc)),
                };
                let ord = if c.reverse { ord.reverse() } else { ord };
                if ord != std::cmp::Ordering::Equal {
                    return ord;
                }
            }
            a.seq.cmp(&b.seq)
        });
        let mut line = String::from("* SORT");
        for m in &found {
            line.push(' ');
            line.push_str(&if uid { m.c.entry.uid } else { m.seq }.to_string());
        }
        line.push_str("\r\n");
        self.push(line.as_bytes());
        self.ok(tag, None, "SORT completed")
    }
}
