//! User export/import: a round trip between two stores keeps everything the
//! format carries, and a damaged archive fails naming what was wrong.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use mail_store::{
    FlagOp, Flags, MailboxPath, QuotaLimits, SEEN, SpecialUse, Store, StoreError, UidSet,
};

/// Per mailbox: (special-use, subscribed, [(bytes, flags, internal date)]).
type View = BTreeMap<String, (Option<SpecialUse>, bool, Vec<(Vec<u8>, Vec<String>, i64)>)>;

fn view(store: &Store, user: &str) -> View {
    let subs = store.subscriptions(user).unwrap();
    let mut out = View::new();
    for m in store.list(user).unwrap() {
        let mb = store.open_mailbox(user, &m.path).unwrap();
        let msgs = store
            .fetch_index(&mb, &UidSet::all(), None)
            .unwrap()
            .into_iter()
            .map(|r| {
                (
                    store.read_message(&mb, r.uid).unwrap(),
                    r.flags.iter().map(str::to_string).collect(),
                    r.internal_date,
                )
            })
            .collect();
        out.insert(
            m.path.name.clone(),
            (m.special_use, subs.contains(&m.path), msgs),
        );
    }
    out
}

/// A user with nested folders, special-use, subscriptions, flags, odd bytes.
fn populate(store: &Store) {
    for i in 0..3 {
        common::deliver_one(store, "ann", &common::message(&format!("in{i}"), "hello"));
    }
    store
        .create_mailbox("ann", "Sent", Some(SpecialUse::Sent))
        .unwrap();
    store.create_mailbox("ann", "Work/2026/Q1", None).unwrap();
    store
        .subscribe("ann", &MailboxPath::new("ann", "Sent"))
        .unwrap();
    store
        .subscribe("ann", &MailboxPath::new("ann", "Work/2026"))
        .unwrap();
    let inbox = store
        .open_mailbox("ann", &MailboxPath::inbox("ann"))
        .unwrap();
    let seen: Flags = [SEEN, "$Important"].into_iter().collect();
    store
        .store_flags(&inbox, &UidSet::single(2), FlagOp::Add, &seen, None)
        .unwrap();
    let q1 = store
        .open_mailbox("ann", &MailboxPath::new("ann", "Work/2026/Q1"))
        .unwrap();
    // 8-bit, NUL, bare CR and LF, a line over 998 octets, no final newline.
    let mut odd = b"Subject: odd\r\n\r\n\xff\xfe\0bare\rcr\nlf ".to_vec();
    odd.extend(std::iter::repeat_n(b'x', 2000));
    let date = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    let flagged: Flags = ["\\Flagged", "\\Answered"].into_iter().collect();
    store
        .append(&q1, &odd, &flagged, Some(date), &QuotaLimits::UNLIMITED)
        .unwrap();
    store
        .append(
            &q1,
            b"Subject: second\r\n\r\nbody\r\n",
            &Flags::new(),
            Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            &QuotaLimits::UNLIMITED,
        )
        .unwrap();
}

#[test]
fn round_trip_between_two_stores_keeps_mail_flags_dates_and_folders() {
    let a_dir = tempfile::tempdir().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    let a = common::open(a_dir.path());
    let b = common::open(b_dir.path());
    populate(&a);

    let mut archive = Vec::new();
    let exported = a.export_user("ann", &mut archive).unwrap();
    assert_eq!(
        exported.mailboxes, 5,
        "INBOX, Sent, Work, Work/2026, Work/2026/Q1"
    );
    assert_eq!(exported.messages, 5);
    assert!(archive.starts_with(b"TIERMAIL-EXPORT 1 ann\n"));
    assert!(archive.ends_with(b"{\"type\":\"end\",\"mailboxes\":5,\"messages\":5}\n"));

    // Imported under another name, onto the second partition.
    let report = b
        .import_user("bea", Some("second"), &mut archive.as_slice())
        .unwrap();
    assert_eq!(report.source_user, "ann");
    assert_eq!((report.mailboxes, report.messages), (5, 5));
    assert_eq!(report.created, 4, "INBOX existed already");
    assert_eq!(view(&a, "ann"), view(&b, "bea"));
    assert!(
        !common::message_files(&b_dir.path().join("second")).is_empty(),
        "the user's files are on the partition asked for"
    );
    let usage = b.quota_usage("bea").unwrap();
    assert_eq!(usage.messages, 5);
    assert_eq!(usage.bytes, exported.bytes);

    // The copy exports to the same archive, apart from the user name.
    let mut again = Vec::new();
    b.export_user("bea", &mut again).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&again).replacen("EXPORT 1 bea", "EXPORT 1 ann", 1),
        String::from_utf8_lossy(&archive)
    );
}

#[test]
fn import_ignores_quota_and_merges_into_existing_mailboxes() {
    let a_dir = tempfile::tempdir().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    let a = common::open(a_dir.path());
    let b = common::open(b_dir.path());
    populate(&a);
    common::deliver_one(&b, "ann", &common::message("already-there", "x"));
    let mut archive = Vec::new();
    a.export_user("ann", &mut archive).unwrap();
    b.import_user("ann", None, &mut archive.as_slice()).unwrap();
    let v = view(&b, "ann");
    assert_eq!(v["INBOX"].2.len(), 4);
    assert_eq!(v["Sent"].0, Some(SpecialUse::Sent));
}

fn rfind(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .rposition(|w| w == needle)
        .expect("needle in archive")
}

fn expect_archive_error(store: &Store, user: &str, bytes: &[u8], needle: &str) {
    match store.import_user(user, None, &mut &bytes[..]) {
        Err(e @ StoreError::Archive { .. }) => {
            let text = e.to_string();
            assert!(text.contains(needle), "{text:?} should mention {needle:?}");
        }
        other => panic!("expected an archive error mentioning {needle:?}, got {other:?}"),
    }
}

#[test]
fn truncated_or_corrupt_archives_fail_clearly_and_keep_what_came_before() {
    let a_dir = tempfile::tempdir().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    let a = common::open(a_dir.path());
    let b = common::open(b_dir.path());
    populate(&a);
    let mut archive = Vec::new();
    a.export_user("ann", &mut archive).unwrap();

    // Cut inside the last message body: the first four messages stay.
    let last = rfind(&archive, b"Subject: second");
    expect_archive_error(&b, "cut", &archive[..last + 5], "message body truncated");
    let got: usize = view(&b, "cut").values().map(|m| m.2.len()).sum();
    assert_eq!(got, 4);

    // Cut before the end record.
    let end = rfind(&archive, b"{\"type\":\"end\"");
    expect_archive_error(&b, "noend", &archive[..end], "without its end record");
    // Cut inside a record line.
    expect_archive_error(&b, "mid", &archive[..end + 7], "middle of a record line");
    // A size two bytes short: the framing newline is missing.
    let at = rfind(&archive, b"\"size\":25}") + 7;
    let mut bad = archive.clone();
    bad[at..at + 2].copy_from_slice(b"23");
    expect_archive_error(&b, "size", &bad, "not followed by a newline");
    // End counts that disagree.
    let mut bad = archive[..end].to_vec();
    bad.extend_from_slice(b"{\"type\":\"end\",\"mailboxes\":5,\"messages\":6}\n");
    expect_archive_error(&b, "count", &bad, "end record counts");
    // Not an archive, another version.
    expect_archive_error(&b, "x", b"From: someone\n", "not an export archive");
    expect_archive_error(
        &b,
        "x",
        b"TIERMAIL-EXPORT 2 ann\n",
        "version \"2\" is not supported",
    );
    expect_archive_error(&b, "x", b"", "empty input");
    // A message for an undeclared mailbox.
    let bad = b"TIERMAIL-EXPORT 1 ann\n{\"type\":\"message\",\"mailbox\":\"Nope\",\"internal_date\":0,\"flags\":[],\"size\":1}\nx\n";
    expect_archive_error(&b, "x", bad, "no earlier record declares");
}
