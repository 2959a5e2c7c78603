//! A per-mailbox, in-memory view of the store's index and cache rows, kept
//! while the mailbox's HIGHESTMODSEQ and UIDNEXT do not change, and
//! brought up to date from the rows changed since and the store's
//! tombstones when they do. Email/query over 10,000 messages then costs a
//! sort in memory, not 10,000 RocksDB reads and JSON decodes.
//!
//! Everything here blocks (RocksDB): callers run it inside `Store::run`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use mail_store::{
    BodyPart, CachedMessage, Envelope, Flags, IndexEntry, MailboxCounters, MailboxPath, Store,
    StoreError, UidSet,
};
use sha2::Digest;

/// One message row as JMAP needs it for listing, filtering and sorting.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub uid: u32,
    /// Content digest (the Email id without its `e`).
    pub digest: Arc<str>,
    /// The Thread id.
    pub thread: Arc<str>,
    pub received: i64,
    pub size: u64,
    pub flags: Flags,
    pub modseq: u64,
    pub sent_at: Option<i64>,
    pub has_attachment: bool,
    pub envelope: Arc<Envelope>,
}

/// The rows of one mailbox at one MODSEQ.
#[derive(Debug)]
pub(crate) struct MailboxRows {
    pub modseq: u64,
    pub uidnext: u32,
    /// Sorted by UID.
    pub rows: Vec<Row>,
}

/// A mailbox with its counters and rows.
#[derive(Debug, Clone)]
pub(crate) struct Mbox {
    pub c: MailboxCounters,
    pub rows: Arc<MailboxRows>,
}

/// The whole account at one moment.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub uid: String,
    pub mailboxes: Vec<Mbox>,
    by_digest: OnceLock<HashMap<Arc<str>, Vec<Loc>>>,
}

/// Where one copy of an Email is: mailbox index and row index in the snapshot.
pub(crate) type Loc = (usize, usize);

impl Snapshot {
    /// Every Email (distinct digest) with its copies, in mailbox order.
    pub(crate) fn by_digest(&self) -> &HashMap<Arc<str>, Vec<Loc>> {
        self.by_digest.get_or_init(|| {
            let mut m: HashMap<Arc<str>, Vec<Loc>> = HashMap::new();
            for (mi, mb) in self.mailboxes.iter().enumerate() {
                for (ri, r) in mb.rows.rows.iter().enumerate() {
                    m.entry(r.digest.clone()).or_default().push((mi, ri));
                }
            }
            m
        })
    }

    /// The copies of the Email with content digest `digest`.
    pub(crate) fn locate(&self, digest: &str) -> Option<&Vec<Loc>> {
        self.by_digest().get(digest)
    }

    /// The row at `loc`.
    pub(crate) fn row(&self, loc: Loc) -> &Row {
        &self.mailboxes[loc.0].rows.rows[loc.1]
    }

    /// The mailbox of `loc`.
    pub(crate) fn mbox(&self, loc: Loc) -> &Mbox {
        &self.mailboxes[loc.0]
    }

    /// The mailbox with store id `id`.
    pub(crate) fn mailbox_by_id(&self, id: u64) -> Option<&Mbox> {
        self.mailboxes.iter().find(|m| m.c.info.id == id)
    }

    /// The account state string (see [`crate::state`]).
    pub(crate) fn state(&self) -> String {
        crate::state::State::of(self).encode()
    }
}

/// Rows of every mailbox used lately, by mailbox id (unique store-wide).
#[derive(Default)]
pub(crate) struct Index {
    cache: Mutex<HashMap<u64, Arc<MailboxRows>>>,
    /// The thread of every Email seen since start, so Thread/changes can
    /// name the thread of an Email that is gone.
    threads: Mutex<HashMap<Arc<str>, Arc<str>>>,
}

/// Rows kept in memory before the cache starts over.
const MAX_CACHED_ROWS: usize = 2_000_000;

impl Index {
    fn remember(&self, rows: Arc<MailboxRows>) -> Arc<MailboxRows> {
        if let Ok(mut t) = self.threads.lock() {
            if t.len() > MAX_CACHED_ROWS {
                t.clear();
            }
            for r in &rows.rows {
                t.entry(r.digest.clone())
                    .or_insert_with(|| r.thread.clone());
            }
        }
        rows
    }

    /// The thread an Email (current or gone) belonged to, if seen.
    pub(crate) fn thread_of(&self, digest: &str) -> Option<Arc<str>> {
        self.threads.lock().ok()?.get(digest).cloned()
    }

    /// A snapshot of `uid`'s own mailboxes.
    pub(crate) fn snapshot(&self, store: &Store, uid: &str) -> Result<Snapshot, StoreError> {
        let counters = store.mailbox_counters(uid)?;
        let mut mailboxes = Vec::with_capacity(counters.len());
        for c in counters {
            let id = c.info.id;
            let cached = self.cache.lock().ok().and_then(|g| g.get(&id).cloned());
            let rows = match cached {
                Some(r) if r.modseq == c.highestmodseq && r.uidnext == c.uidnext => r,
                Some(r) => self.remember(Arc::new(refresh(store, uid, &c, &r)?)),
                None => self.remember(Arc::new(load(store, uid, &c)?)),
            };
            if let Ok(mut g) = self.cache.lock() {
                let total: usize = g.values().map(|r| r.rows.len()).sum();
                if total > MAX_CACHED_ROWS {
                    g.clear();
                }
                g.insert(id, rows.clone());
            }
            mailboxes.push(Mbox { c, rows });
        }
        mailboxes.sort_by_key(|m| m.c.info.id);
        Ok(Snapshot {
            uid: uid.to_string(),
            mailboxes,
            by_digest: OnceLock::new(),
        })
    }
}

fn handle(
    store: &Store,
    uid: &str,
    c: &MailboxCounters,
) -> Result<mail_store::MailboxHandle, StoreError> {
    store.open_mailbox(
        uid,
        &MailboxPath::new(&c.info.path.owner, &c.info.path.name),
    )
}

fn load(store: &Store, uid: &str, c: &MailboxCounters) -> Result<MailboxRows, StoreError> {
    let h = handle(store, uid, c)?;
    let entries = store.fetch_cached(&h, &UidSet::all())?;
    let mut rows = Vec::with_capacity(entries.len());
    for e in entries {
        rows.push(row_of(store, &h, e.entry, &e.cache));
    }
    Ok(MailboxRows {
        modseq: c.highestmodseq,
        uidnext: c.uidnext,
        rows,
    })
}

fn refresh(
    store: &Store,
    uid: &str,
    c: &MailboxCounters,
    old: &MailboxRows,
) -> Result<MailboxRows, StoreError> {
    let h = handle(store, uid, c)?;
    let mut rows: BTreeMap<u32, Row> = old.rows.iter().map(|r| (r.uid, r.clone())).collect();
    for gone in store.expunged_since(&c.info.path.owner, c.info.id, old.modseq)? {
        rows.remove(&gone.uid);
    }
    let changed = store.fetch_index(&h, &UidSet::all(), Some(old.modseq))?;
    let mut new_uids = Vec::new();
    for e in changed {
        match rows.get_mut(&e.uid) {
            Some(r) => {
                r.flags = e.flags;
                r.modseq = e.modseq;
            }
            None => new_uids.push(e.uid),
        }
    }
    if !new_uids.is_empty() {
        for e in store.fetch_cached(&h, &UidSet::list(&new_uids))? {
            let r = row_of(store, &h, e.entry, &e.cache);
            rows.insert(r.uid, r);
        }
    }
    Ok(MailboxRows {
        modseq: c.highestmodseq,
        uidnext: c.uidnext,
        rows: rows.into_values().collect(),
    })
}

fn row_of(
    store: &Store,
    h: &mail_store::MailboxHandle,
    e: IndexEntry,
    cache: &CachedMessage,
) -> Row {
    let digest = if cache.digest.is_empty() {
        // A row cached before digests existed: read the file once.
        store
            .read_message(h, e.uid)
            .map(|b| mail_store::digest(&b))
            .unwrap_or_else(|_| format!("{:016x}{:08x}{:08x}", h.id, h.uidvalidity, e.uid))
    } else {
        cache.digest.clone()
    };
    let thread = thread_id(cache, &digest);
    Row {
        uid: e.uid,
        received: e.internal_date,
        size: e.size,
        flags: e.flags,
        modseq: e.modseq,
        sent_at: cache
            .envelope
            .date
            .as_deref()
            .and_then(mail_parser::DateTime::parse_rfc822)
            .map(|d| d.to_timestamp()),
        has_attachment: cache.body.as_ref().is_some_and(has_attachment),
        envelope: Arc::new(cache.envelope.clone()),
        digest: digest.into(),
        thread: thread.into(),
    }
}

/// The first `<...>` message id in a header value, lower-cased, or the
/// trimmed value.
pub(crate) fn first_msgid(v: &str) -> Option<String> {
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    let id = match (v.find('<'), v.find('>')) {
        (Some(a), Some(b)) if a < b => &v[a + 1..b],
        _ => v.split_whitespace().next().unwrap_or(v),
    };
    let id = id.trim().trim_matches(['<', '>']);
    (!id.is_empty()).then(|| id.to_ascii_lowercase())
}

/// The Thread id: a digest of the thread's root Message-ID. The root is
/// the first `References` entry (RFC 5322 3.6.4 puts the thread's first
/// message there), else `In-Reply-To`, else the message's own
/// Message-ID; a message with none of these is a thread of its own.
pub(crate) fn thread_id(cache: &CachedMessage, digest: &str) -> String {
    let root = cache
        .headers
        .iter()
        .find(|(n, _)| n == "references")
        .and_then(|(_, v)| first_msgid(v))
        .or_else(|| cache.envelope.in_reply_to.as_deref().and_then(first_msgid))
        .or_else(|| cache.envelope.message_id.as_deref().and_then(first_msgid));
    let Some(root) = root else {
        return format!("t{}", &digest[..digest.len().min(16)]);
    };
    let d = sha2::Sha256::digest(root.as_bytes());
    let hex: String = d[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("t{hex}")
}

/// True when some part is one a client offers for download.
fn has_attachment(p: &BodyPart) -> bool {
    if p.disposition.as_deref() == Some("attachment") {
        return true;
    }
    if !p.parts.is_empty() {
        return p.parts.iter().any(has_attachment);
    }
    if p.media_type == "message" && p.subtype == "rfc822" {
        return true;
    }
    !(p.media_type == "text" || p.media_type == "multipart")
        && p.disposition.as_deref() != Some("inline")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_roots() {
        let mut c = CachedMessage::default();
        c.envelope.message_id = Some("root@x".into());
        let root = thread_id(&c, "00");
        let mut reply = CachedMessage::default();
        reply.envelope.message_id = Some("r1@x".into());
        reply.envelope.in_reply_to = Some("<ROOT@x>".into());
        assert_eq!(thread_id(&reply, "01"), root);
        let mut deeper = CachedMessage::default();
        deeper
            .headers
            .push(("references".into(), "<root@x> <r1@x>".into()));
        assert_eq!(thread_id(&deeper, "02"), root);
        assert_ne!(thread_id(&CachedMessage::default(), "abcd"), root);
    }
}
