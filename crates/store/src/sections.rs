//! What FETCH needs to serve `BODY[1.2]`, `BINARY[3]` and partials
//! without reading whole messages: the cache row with part offsets
//! (rebuilt on first use for rows written before offsets were kept) and
//! byte-range reads of the message file.

use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;

use crate::cache::{self, CachedMessage};
use crate::db::{Cf, Op, key};
use crate::engine::Store;
use crate::error::{Result, StoreError};
use crate::types::MailboxHandle;

impl Store {
    /// `cached` (the cache row of `uid`) with part offsets. A row written
    /// before offsets existed is parsed again from the message file and
    /// written back, once; FETCH calls this before any section read.
    pub fn with_offsets(
        &self,
        mailbox: &MailboxHandle,
        uid: u32,
        cached: CachedMessage,
    ) -> Result<CachedMessage> {
        if cached.has_offsets() {
            return Ok(cached);
        }
        let raw = self.read_message(mailbox, uid)?;
        let fresh = cache::parse(&raw, &self.inner.cfg.cached_headers);
        let k = key::row(mailbox.id, uid);
        // Only while the message is still there: an expunge racing this
        // must not leave a cache row behind.
        if self
            .inner
            .db
            .get_json::<serde_json::Value>(Cf::Index, &k)?
            .is_some()
        {
            self.commit(vec![Op::put_json(Cf::Cache, k, &fresh)], Vec::new())
                .wait()?;
            tracing::debug!(mailbox = mailbox.id, uid, "cache row given part offsets");
        }
        Ok(fresh)
    }

    /// The bytes of each range of a message file (clamped to its length),
    /// read with one open and a seek per range.
    pub fn read_ranges(
        &self,
        mailbox: &MailboxHandle,
        uid: u32,
        ranges: &[Range<u64>],
    ) -> Result<Vec<Vec<u8>>> {
        let p = self.message_path(mailbox, uid)?;
        let io = |e| StoreError::io(&p, e);
        let mut f = std::fs::File::open(&p).map_err(io)?;
        let len = f.metadata().map_err(io)?.len();
        let mut out = Vec::with_capacity(ranges.len());
        for r in ranges {
            let (start, end) = (r.start.min(len), r.end.min(len));
            let mut buf = vec![0; end.saturating_sub(start) as usize];
            f.seek(SeekFrom::Start(start)).map_err(io)?;
            f.read_exact(&mut buf).map_err(io)?;
            out.push(buf);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DeliverOptions, MailboxPath, Recipient, StoreConfig, UidSet};

    /// A cache row from before part offsets (no `offsets` keys) still
    /// serves: the first use parses the file again and stores the offsets.
    #[test]
    fn old_rows_get_offsets_on_first_use() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(StoreConfig::single(dir.path())).unwrap();
        let raw = b"Subject: s\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n--b\r\n\r\ntwo\r\n--b--\r\n";
        let r = store.deliver(raw, &[Recipient::new("alice")], &DeliverOptions::default());
        assert!(r[0].is_ok());
        let inbox = store
            .open_mailbox("alice", &MailboxPath::inbox("alice"))
            .unwrap();
        let row = store
            .fetch_cached(&inbox, &UidSet::all())
            .unwrap()
            .remove(0);
        assert!(row.cache.has_offsets());
        // Write it back as an older version did: no offsets anywhere.
        let mut json = serde_json::to_value(&row.cache).unwrap();
        fn strip(v: &mut serde_json::Value) {
            match v {
                serde_json::Value::Object(m) => {
                    m.remove("offsets");
                    m.values_mut().for_each(strip);
                }
                serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
                _ => {}
            }
        }
        strip(&mut json);
        let k = key::row(inbox.id, row.entry.uid);
        store
            .commit(vec![Op::put_json(Cf::Cache, k, &json)], Vec::new())
            .wait()
            .unwrap();
        let old = store
            .fetch_cached(&inbox, &UidSet::all())
            .unwrap()
            .remove(0);
        assert!(!old.cache.has_offsets());
        assert_eq!(old.cache.body, {
            let mut b = row.cache.body.clone().unwrap();
            b.offsets = None;
            b.parts.iter_mut().for_each(|p| p.offsets = None);
            Some(b)
        });
        let fresh = store
            .with_offsets(&inbox, row.entry.uid, old.cache)
            .unwrap();
        assert_eq!(fresh, row.cache);
        // Stored: the next FETCH does not parse again.
        let again = store
            .fetch_cached(&inbox, &UidSet::all())
            .unwrap()
            .remove(0);
        assert!(again.cache.has_offsets());
        let root = again.cache.body.as_ref().unwrap();
        let ranges = [
            mail_mime::section_range(root, raw.len() as u64, &[2], mail_mime::Kind::Whole).unwrap(),
            0..5,
            80..1000,
        ];
        let got = store.read_ranges(&inbox, row.entry.uid, &ranges).unwrap();
        assert_eq!(got[0], b"two");
        assert_eq!(got[1], b"Subje");
        assert_eq!(got[2], &raw[80..]);
    }
}
