//! SEARCH / UID SEARCH (RFC 3501 6.4.4, RFC 4731 ESEARCH, RFC 5182
//! SEARCHRES, RFC 7162 MODSEQ), SORT and THREAD (RFC 5256).
//!
//! Criteria are evaluated over the index and the cached envelope and
//! header fields; message files are read only for BODY and TEXT, and for
//! HEADER on a field the cache does not keep (`cached_headers`), then a
//! batch of rows at a time and one message at a time (read, test, drop:
//! see [`super::content`]), so searching a mailbox's content costs about
//! one message of memory whatever its size. THREAD is in `thread.rs`.

use std::sync::Arc;

use mail_imap_proto::response::{Code, esearch, search_line};
use mail_imap_proto::{
    Date, DateTime, SearchKey, SearchReturn, SequenceSet, SortCriterion, SortKey,
};
use mail_store::{CachedEntry, CachedMessage, UidSet};

use super::content::{self, Content};
use crate::convert;
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
    /// The header fields the store caches.
    kept: &'a [String],
}

/// Whether the store caches header `field` (then HEADER reads the cache).
fn cached(kept: &[String], field: &str) -> bool {
    kept.iter().any(|h| h.eq_ignore_ascii_case(field))
}

fn needs(key: &SearchKey, kept: &[String], cache: &mut bool, body: &mut bool) {
    use SearchKey as K;
    match key {
        K::Header(field, _) if cached(kept, field) => *cache = true,
        K::Bcc(_)
        | K::Cc(_)
        | K::From(_)
        | K::To(_)
        | K::Subject(_)
        | K::SentBefore(_)
        | K::SentOn(_)
        | K::SentSince(_) => *cache = true,
        // BODY finds where the body starts from the cached structure.
        K::Body(_) => {
            *cache = true;
            *body = true;
        }
        K::Text(_) | K::Header(..) => *body = true,
        K::Not(k) => needs(k, kept, cache, body),
        K::Or(a, b) => {
            needs(a, kept, cache, body);
            needs(b, kept, cache, body);
        }
        K::And(ks) => ks.iter().for_each(|k| needs(k, kept, cache, body)),
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

/// RFC 3501 6.4.4: FROM, TO, CC and BCC match a substring of the header
/// field (`field`, lower case): the cached field with its encoded words
/// decoded, or the field written back from the envelope (rows or
/// configurations without it; display names decoded, groups included).
fn addr_match(cache: &CachedMessage, field: &str, needle: &str) -> bool {
    contains(&convert::written(&cache.envelope, field), needle)
        || cache
            .headers
            .iter()
            .filter(|(name, _)| name == field)
            .any(|(_, v)| contains(&convert::decode_words(v), needle))
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
        K::From(s) => addr_match(&m.c.cache, "from", s),
        K::To(s) => addr_match(&m.c.cache, "to", s),
        K::Cc(s) => addr_match(&m.c.cache, "cc", s),
        K::Bcc(s) => addr_match(&m.c.cache, "bcc", s),
        K::Subject(s) => env.subject.as_deref().is_some_and(|x| contains(x, s)),
        K::Header(field, s) if cached(ctx.kept, field) => {
            m.c.cache
                .headers
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case(field) && (s.is_empty() || contains(v, s)))
        }
        K::Header(field, s) => m.body.as_deref().is_some_and(|b| {
            mail_mime::values(b, field)
                .iter()
                .any(|v| s.is_empty() || contains(v, s))
        }),
        K::Body(s) => m.body.as_deref().is_some_and(|b| {
            let start =
                m.c.cache
                    .body
                    .as_ref()
                    .and_then(|r| r.offsets)
                    .map_or(0, |o| o.body as usize);
            bytes_contain(b.get(start..).unwrap_or_default(), s)
        }),
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

/// RFC 5256 3: the addr-mailbox of the first address of `field` as
/// ENVELOPE shows it (a group's name when the field starts with a group),
/// "" when there is none, folded for i;ascii-casemap.
fn first_mailbox(env: &mail_store::Envelope, field: &str) -> Vec<u8> {
    convert::addresses(env, field)
        .into_iter()
        .next()
        .and_then(|a| a.mailbox)
        .map(|m| m.to_ascii_lowercase())
        .unwrap_or_default()
}

/// One SORT key of one message (RFC 5256 3).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum SortValue {
    Number(i64),
    Text(Vec<u8>),
}

fn sort_value(m: &Msg, key: SortKey) -> SortValue {
    let env = &m.c.cache.envelope;
    match key {
        SortKey::Arrival => SortValue::Number(m.c.entry.internal_date),
        SortKey::Size => SortValue::Number(i64::try_from(m.c.entry.size).unwrap_or(i64::MAX)),
        SortKey::Date => SortValue::Number(sort_date(m)),
        SortKey::Subject => SortValue::Text(
            base_subject(env.subject.as_deref().unwrap_or(""))
                .0
                .into_bytes(),
        ),
        SortKey::From => SortValue::Text(first_mailbox(env, "from")),
        SortKey::To => SortValue::Text(first_mailbox(env, "to")),
        SortKey::Cc => SortValue::Text(first_mailbox(env, "cc")),
    }
}

/// The header of a message (its blank line included): what THREAD
/// keeps of a matched message when References: is not cached. Placed by
/// the cached part offsets when the row has them.
fn header_only(mut msg: Vec<u8>, cache: &CachedMessage) -> Vec<u8> {
    let len = msg.len() as u64;
    let end = cache
        .body
        .as_ref()
        .and_then(|r| mail_mime::section_range(r, len, &[], mail_mime::Kind::Header))
        .map(|r| r.end)
        .unwrap_or_else(|| blank_line_end(&msg));
    msg.truncate(usize::try_from(end).unwrap_or(msg.len()));
    msg.shrink_to_fit();
    msg
}

/// Where the header ends (after its blank line) in a message whose cache
/// row has no part offsets; the whole message when there is no blank line.
fn blank_line_end(msg: &[u8]) -> u64 {
    let mut i = 0;
    while i < msg.len() {
        let line_end = msg[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(msg.len(), |n| i + n + 1);
        let line = &msg[i..line_end];
        if line == b"\r\n" || line == b"\n" {
            return line_end as u64;
        }
        i = line_end;
    }
    msg.len() as u64
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
        let kept = self.shared.store.config().cached_headers.clone();
        needs(key, &kept, &mut need_cache, &mut need_body);
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
        let kept = Arc::new(kept);
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
            let (handle, key, saved, kept) =
                (handle.clone(), key.clone(), saved.clone(), kept.clone());
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
                        kept: &kept,
                        now,
                    };
                    let mut found = Vec::new();
                    for mut c in rows {
                        // The view's UIDs are in ascending order.
                        let Ok(i) = chunk.binary_search_by_key(&c.entry.uid, |k| k.0) else {
                            continue;
                        };
                        let (uid, seq, recent) = chunk[i];
                        // BODY and the header kept for THREAD are placed
                        // by part offsets: an old cache row is parsed again
                        // once (an unreadable file is reported just below).
                        if need_body
                            && need_cache
                            && !c.cache.has_offsets()
                            && let Ok(fresh) = s.with_offsets(&handle, uid, c.cache.clone())
                        {
                            c.cache = fresh;
                        }
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
                            m.body = m
                                .body
                                .take()
                                .filter(|_| force_body)
                                .map(|b| header_only(b, &m.c.cache));
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
        // Each message's keys once, not at every comparison.
        let mut keyed: Vec<(Vec<SortValue>, Msg)> = found
            .drain(..)
            .map(|m| (criteria.iter().map(|c| sort_value(&m, c.key)).collect(), m))
            .collect();
        keyed.sort_by(|(ka, a), (kb, b)| {
            for ((c, x), y) in criteria.iter().zip(ka).zip(kb) {
                let ord = if c.reverse { y.cmp(x) } else { x.cmp(y) };
                if ord != std::cmp::Ordering::Equal {
                    return ord;
                }
            }
            // RFC 5256 3: the sequence number breaks ties, and REVERSE
            // does not reverse it.
            a.seq.cmp(&b.seq)
        });
        let found: Vec<Msg> = keyed.into_iter().map(|(_, m)| m).collect();
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
