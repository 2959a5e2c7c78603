//! Fuzzes the FETCH section path on arbitrary messages: the one MIME
//! parser (`mail-mime`, on mail-parser) builds the cached structure with
//! part offsets, then every section of every part is extracted as IMAP
//! would (BODY[n], n.MIME, n.HEADER, n.TEXT, n.HEADER.FIELDS, BINARY[n]).
//! Invariants: nothing panics, every range lies inside the message, a
//! leaf's BODY[n] is as long as its BODYSTRUCTURE size says, and the cache
//! row survives its JSON round trip.
//!
//! ```text
//! cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run fetch_sections corpus/fetch_sections
//! ```
#![no_main]

use mail_mime::{
    BodyPart, CachedMessage, Kind, binary_range, decode, locate, parse, section_range,
};

const KINDS: [Kind; 4] = [Kind::Whole, Kind::Mime, Kind::Header, Kind::Text];

fn check(raw: &[u8], root: &BodyPart, path: &[u32], part: &BodyPart) {
    let len = raw.len() as u64;
    for kind in KINDS {
        if let Some(r) = section_range(root, len, path, kind) {
            assert!(r.start <= r.end && r.end <= len, "{path:?} {kind:?} {r:?}");
            let bytes = &raw[r.start as usize..r.end as usize];
            if kind == Kind::Header {
                let _ = mail_mime::select_fields(bytes, &["SUBJECT".into(), "FROM".into()], false);
                let _ = mail_mime::select_fields(bytes, &["SUBJECT".into()], true);
                let _ = mail_mime::values(bytes, "subject");
            }
        }
    }
    if !path.is_empty() && part.media_type != "multipart" && part.offsets.is_some() {
        let r = section_range(root, len, path, Kind::Whole).expect("a located part has a body");
        assert_eq!(r.end - r.start, part.size, "{path:?}");
    }
    if let Some((r, cte)) = binary_range(root, len, path) {
        assert!(r.start <= r.end && r.end <= len);
        let _ = decode(&raw[r.start as usize..r.end as usize], &cte);
    }
}

/// Every part path the structure has, found by trying numbers from 1
/// until one does not exist.
fn walk(raw: &[u8], root: &BodyPart, path: &mut Vec<u32>, depth: usize) {
    let part = locate(root, path).expect("walked paths exist");
    check(raw, root, path, part);
    if depth > 40 {
        return;
    }
    for n in 1.. {
        path.push(n);
        let found = locate(root, path).is_some();
        if found {
            walk(raw, root, path, depth + 1);
        } else {
            assert!(section_range(root, raw.len() as u64, path, Kind::Whole).is_none());
        }
        path.pop();
        if !found {
            break;
        }
    }
}

libfuzzer_sys::fuzz_target!(|raw: &[u8]| {
    let c = parse(raw, &["subject".into(), "references".into()]);
    let root = c.body.as_ref().expect("every message has a structure");
    assert!(c.has_offsets());
    walk(raw, root, &mut Vec::new(), 0);
    let json = serde_json::to_vec(&c).expect("serializes");
    let back: CachedMessage = serde_json::from_slice(&json).expect("deserializes");
    assert_eq!(back, c);
});
