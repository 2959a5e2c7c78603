//! Snapshot while serving, then restore of the whole store and of one user.

mod common;

use mail_store::{DELETED, FlagOp, Flags, MailboxPath, Store, UidSet};

fn uids(store: &Store, user: &str) -> Vec<(u32, Vec<u8>)> {
    let inbox = store.open_mailbox(user, &MailboxPath::inbox(user)).unwrap();
    store
        .fetch_index(&inbox, &UidSet::all(), None)
        .unwrap()
        .into_iter()
        .map(|r| (r.uid, store.read_message(&inbox, r.uid).unwrap()))
        .collect()
}

fn expunge_all(store: &Store, user: &str) {
    let inbox = store.open_mailbox(user, &MailboxPath::inbox(user)).unwrap();
    let mut d = Flags::new();
    d.insert(DELETED);
    store
        .store_flags(&inbox, &UidSet::all(), FlagOp::Add, &d, None)
        .unwrap();
    store.expunge(&inbox, None).unwrap();
}

#[test]
fn whole_store_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::config(dir.path());
    let store = Store::open(cfg.clone()).unwrap();
    for i in 0..4 {
        common::deliver_one(&store, "eve", &common::message(&format!("e{i}"), "x"));
        common::deliver_one(&store, "fay", &common::message(&format!("f{i}"), "y"));
    }
    let snap = dir.path().join("snap1");
    // Deliveries keep flowing while the snapshot is taken.
    let s2 = store.clone();
    let writer = std::thread::spawn(move || {
        for i in 0..20 {
            common::deliver_one(&s2, "eve", &common::message(&format!("during{i}"), "z"));
        }
    });
    store.snapshot(&snap).unwrap();
    writer.join().unwrap();
    let eve_after = uids(&store, "eve");
    assert!(eve_after.len() >= 24);

    // The snapshot is self-consistent: restore it and check every row has its file.
    expunge_all(&store, "fay");
    store.close();
    drop(store);
    Store::restore(&cfg, &snap).unwrap();
    let store = Store::open(cfg.clone()).unwrap();
    let eve = uids(&store, "eve");
    assert!(eve.len() >= 4 && eve.len() <= 24, "{}", eve.len());
    assert_eq!(eve[..], eve_after[..eve.len()]);
    assert_eq!(uids(&store, "fay").len(), 4, "fay's expunge undone");
    let files = common::message_files(&dir.path().join("primary"));
    assert_eq!(files.len(), eve.len() + 4, "no orphan files after restore");
}

#[test]
fn one_user_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    for i in 0..3 {
        common::deliver_one(&store, "gil", &common::message(&format!("g{i}"), "x"));
        common::deliver_one(&store, "hal", &common::message(&format!("h{i}"), "y"));
    }
    store.create_mailbox("gil", "Keep", None).unwrap();
    let gil_before = uids(&store, "gil");
    let snap = dir.path().join("snap");
    store.snapshot(&snap).unwrap();

    expunge_all(&store, "gil");
    store
        .delete_mailbox("gil", &MailboxPath::new("gil", "Keep"))
        .unwrap();
    common::deliver_one(&store, "gil", b"Subject: after\r\n\r\n");
    common::deliver_one(&store, "hal", b"Subject: after\r\n\r\n");

    store.restore_user(&snap, "gil").unwrap();
    assert_eq!(uids(&store, "gil"), gil_before);
    assert!(
        store
            .list("gil")
            .unwrap()
            .iter()
            .any(|m| m.path.name == "Keep")
    );
    assert_eq!(uids(&store, "hal").len(), 4, "other users untouched");
    assert_eq!(store.quota_usage("gil").unwrap().messages, 3);
    // Delivery after restore continues.
    assert!(common::deliver_one(&store, "gil", b"Subject: new\r\n\r\n").uid > 3);
}
