//! Single-copy delivery: one file per partition however many recipients,
//! freed when the last copy is expunged.

mod common;

use std::os::unix::fs::MetadataExt;

use mail_store::{DELETED, DeliverOptions, FlagOp, Flags, MailboxPath, Recipient, UidSet};

#[test]
fn ten_recipients_share_one_file_until_the_last_expunge() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    let users: Vec<String> = (0..10).map(|i| format!("user{i}")).collect();
    let rcpts: Vec<Recipient> = users.iter().map(Recipient::new).collect();
    let msg = common::message("one", "shared body");
    let results = store.deliver(&msg, &rcpts, &DeliverOptions::default());
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");

    let primary = dir.path().join("primary");
    let files = common::message_files(&primary);
    assert_eq!(files.len(), 10, "one link per recipient");
    let inodes: std::collections::BTreeSet<u64> = files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().ino())
        .collect();
    assert_eq!(inodes.len(), 1, "one file on disk");
    assert_eq!(std::fs::metadata(&files[0]).unwrap().nlink(), 10);
    assert!(
        common::files_under(&primary.join("tmp")).is_empty(),
        "no temp file left"
    );

    for (i, u) in users.iter().enumerate() {
        let inbox = store.open_mailbox(u, &MailboxPath::inbox(u)).unwrap();
        assert_eq!(store.read_message(&inbox, 1).unwrap(), msg);
        let mut d = Flags::new();
        d.insert(DELETED);
        store
            .store_flags(&inbox, &UidSet::all(), FlagOp::Add, &d, None)
            .unwrap();
        assert_eq!(store.expunge(&inbox, None).unwrap(), vec![1]);
        let remaining = common::message_files(&primary);
        assert_eq!(remaining.len(), 9 - i);
        if let Some(f) = remaining.first() {
            assert_eq!(std::fs::metadata(f).unwrap().nlink() as usize, 9 - i);
        }
    }
    assert!(
        common::message_files(&primary).is_empty(),
        "content freed with its last reference"
    );
}

#[test]
fn recipients_on_two_partitions_get_one_file_each() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    let mut rcpts = vec![Recipient::new("a1"), Recipient::new("a2")];
    for u in ["b1", "b2", "b3"] {
        let mut r = Recipient::new(u);
        r.partition = Some("second".into());
        rcpts.push(r);
    }
    let results = store.deliver(
        &common::message("x", "y"),
        &rcpts,
        &DeliverOptions::default(),
    );
    assert!(results.iter().all(|r| r.is_ok()));
    let p1 = common::message_files(&dir.path().join("primary"));
    let p2 = common::message_files(&dir.path().join("second"));
    assert_eq!((p1.len(), p2.len()), (2, 3));
    assert_eq!(std::fs::metadata(&p1[0]).unwrap().nlink(), 2);
    assert_eq!(std::fs::metadata(&p2[0]).unwrap().nlink(), 3);
}
