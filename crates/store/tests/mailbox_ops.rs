//! The operations IMAP and POP sessions use.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mail_store::{
    DELETED, FlagOp, Flags, MailboxEvent, MailboxPath, SEEN, SpecialUse, Store, StoreConfig,
    StoreError, UidSet,
};

fn flags(list: &[&str]) -> Flags {
    Flags::from_iter(list)
}

#[test]
fn namespace_operations() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    store.ensure_user("ann", None).unwrap();
    store
        .create_mailbox("ann", "Sent", Some(SpecialUse::Sent))
        .unwrap();
    store.create_mailbox("ann", "a/b/c", None).unwrap();
    assert!(matches!(
        store.create_mailbox("ann", "Sent", None),
        Err(StoreError::MailboxExists { .. })
    ));
    assert!(matches!(
        store.create_mailbox("ann", "x//y", None),
        Err(StoreError::InvalidName(_))
    ));
    let names = |s: &Store| {
        let mut v: Vec<String> = s
            .list("ann")
            .unwrap()
            .into_iter()
            .map(|m| m.path.name)
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&store), ["INBOX", "Sent", "a", "a/b", "a/b/c"]);
    let sent = store
        .list("ann")
        .unwrap()
        .into_iter()
        .find(|m| m.path.name == "Sent")
        .unwrap();
    assert_eq!(sent.special_use, Some(SpecialUse::Sent));

    // Rename moves children and keeps messages and UIDVALIDITY.
    let ab = store
        .open_mailbox("ann", &MailboxPath::new("ann", "a/b"))
        .unwrap();
    store
        .append(
            &ab,
            b"Subject: kept\r\n\r\n",
            &Flags::new(),
            None,
            &Default::default(),
        )
        .unwrap();
    store.rename_mailbox("ann", "a", "z/renamed").unwrap();
    assert_eq!(
        names(&store),
        [
            "INBOX",
            "Sent",
            "z",
            "z/renamed",
            "z/renamed/b",
            "z/renamed/b/c"
        ]
    );
    let zb = store
        .open_mailbox("ann", &MailboxPath::new("ann", "z/renamed/b"))
        .unwrap();
    assert_eq!(zb.uidvalidity, ab.uidvalidity);
    assert_eq!(
        store.read_message(&zb, 1).unwrap(),
        b"Subject: kept\r\n\r\n"
    );

    // Delete: children first; INBOX never.
    assert!(matches!(
        store.delete_mailbox("ann", &MailboxPath::new("ann", "z/renamed/b")),
        Err(StoreError::HasChildren(_))
    ));
    store
        .delete_mailbox("ann", &MailboxPath::new("ann", "z/renamed/b/c"))
        .unwrap();
    store
        .delete_mailbox("ann", &MailboxPath::new("ann", "z/renamed/b"))
        .unwrap();
    assert!(
        store
            .delete_mailbox("ann", &MailboxPath::inbox("ann"))
            .is_err()
    );
    assert!(common::message_files(&dir.path().join("primary")).is_empty());
    // Recreated mailboxes get a new UIDVALIDITY.
    store.create_mailbox("ann", "z/renamed/b", None).unwrap();
    let again = store
        .open_mailbox("ann", &MailboxPath::new("ann", "z/renamed/b"))
        .unwrap();
    assert_ne!(again.uidvalidity, ab.uidvalidity);

    // Subscriptions.
    store
        .subscribe("ann", &MailboxPath::new("ann", "Sent"))
        .unwrap();
    assert_eq!(
        store.subscriptions("ann").unwrap(),
        vec![MailboxPath::new("ann", "Sent")]
    );
    assert!(
        store
            .list("ann")
            .unwrap()
            .iter()
            .any(|m| m.path.name == "Sent" && m.subscribed)
    );
    store
        .unsubscribe("ann", &MailboxPath::new("ann", "Sent"))
        .unwrap();
    assert!(store.subscriptions("ann").unwrap().is_empty());
}

#[test]
fn append_fetch_flags_expunge_status() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    store.ensure_user("ben", None).unwrap();
    let inbox = store
        .open_mailbox("ben", &MailboxPath::inbox("ben"))
        .unwrap();
    let date = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    let a = store
        .append(
            &inbox,
            &common::message("a", "1"),
            &flags(&["\\seen", "$Label"]),
            Some(date),
            &Default::default(),
        )
        .unwrap();
    assert_eq!(a.uid, 1);
    for id in ["b", "c", "d"] {
        common::deliver_one(&store, "ben", &common::message(id, "x"));
    }
    let rows = store.fetch_index(&inbox, &UidSet::all(), None).unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0].internal_date, 1_000_000_000);
    assert!(rows[0].flags.contains(SEEN) && rows[0].flags.contains("$Label"));
    let cached = store.fetch_cached(&inbox, &UidSet::range(2, 3)).unwrap();
    assert_eq!(cached[0].cache.envelope.subject.as_deref(), Some("test b"));
    assert_eq!(
        cached[0].cache.envelope.from[0].address.as_deref(),
        Some("sender@example.org")
    );
    assert_eq!(cached[1].cache.body.as_ref().unwrap().subtype, "plain");

    let st = store.status(&inbox).unwrap();
    assert_eq!(
        (st.messages, st.unseen, st.uidnext, st.recent),
        (4, 3, 5, 4)
    );
    assert_eq!(store.claim_recent(&inbox, None).unwrap(), 1..5);
    assert_eq!(store.claim_recent(&inbox, None).unwrap(), 5..5);
    assert_eq!(store.status(&inbox).unwrap().recent, 0);

    // CONDSTORE: MODSEQ rises, UNCHANGEDSINCE protects.
    let m0 = store.status(&inbox).unwrap().highestmodseq;
    let r = store
        .store_flags(
            &inbox,
            &UidSet::range(2, 3),
            FlagOp::Add,
            &flags(&["\\Flagged"]),
            None,
        )
        .unwrap();
    assert_eq!(r.updated.len(), 2);
    assert!(r.updated.iter().all(|e| e.modseq > m0));
    let r = store
        .store_flags(
            &inbox,
            &UidSet::single(2),
            FlagOp::Add,
            &flags(&[DELETED]),
            Some(m0),
        )
        .unwrap();
    assert_eq!(r.modified, vec![2]);
    let changed = store.fetch_index(&inbox, &UidSet::all(), Some(m0)).unwrap();
    assert_eq!(
        changed.iter().map(|e| e.uid).collect::<Vec<_>>(),
        vec![2, 3]
    );
    store
        .store_flags(
            &inbox,
            &UidSet::list(&[2, 4]),
            FlagOp::Add,
            &flags(&[DELETED]),
            None,
        )
        .unwrap();
    store
        .store_flags(
            &inbox,
            &UidSet::single(3),
            FlagOp::Replace,
            &flags(&[SEEN]),
            None,
        )
        .unwrap();

    // UID EXPUNGE limits to the set; EXPUNGE takes every \Deleted.
    assert_eq!(
        store.expunge(&inbox, Some(&UidSet::single(4))).unwrap(),
        vec![4]
    );
    assert_eq!(store.expunge(&inbox, None).unwrap(), vec![2]);
    let st = store.status(&inbox).unwrap();
    assert_eq!((st.messages, st.unseen), (2, 0));
    assert!(matches!(
        store.read_message(&inbox, 2),
        Err(StoreError::NoSuchMessage(2))
    ));
    assert_eq!(
        store.search_header(&inbox, "Subject", "TEST C").unwrap(),
        vec![3]
    );
}

#[test]
fn copy_and_move() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    for id in ["a", "b", "c"] {
        common::deliver_one(&store, "cid", &common::message(id, "x"));
    }
    store.create_mailbox("cid", "Archive", None).unwrap();
    let inbox = store
        .open_mailbox("cid", &MailboxPath::inbox("cid"))
        .unwrap();
    let arch = store
        .open_mailbox("cid", &MailboxPath::new("cid", "Archive"))
        .unwrap();
    store
        .store_flags(
            &inbox,
            &UidSet::single(1),
            FlagOp::Add,
            &flags(&["\\Answered"]),
            None,
        )
        .unwrap();
    let map = store
        .copy(&inbox, &UidSet::range(1, 2), &arch, &Default::default())
        .unwrap();
    assert_eq!(map, vec![(1, 1), (2, 2)]);
    let rows = store.fetch_index(&arch, &UidSet::all(), None).unwrap();
    assert!(rows[0].flags.contains("\\Answered"), "COPY keeps flags");
    let map = store
        .move_messages(&inbox, &UidSet::single(3), &arch, &Default::default())
        .unwrap();
    assert_eq!(map, vec![(3, 3)]);
    assert_eq!(store.status(&inbox).unwrap().messages, 2);
    assert_eq!(store.status(&arch).unwrap().messages, 3);
    assert_eq!(store.quota_usage("cid").unwrap().messages, 5);
    assert_eq!(common::message_files(&dir.path().join("primary")).len(), 5);
}

#[tokio::test]
async fn notifications_reach_idle_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    store.ensure_user("dan", None).unwrap();
    let inbox = store
        .open_mailbox("dan", &MailboxPath::inbox("dan"))
        .unwrap();
    let mut rx = store.watch(&inbox);
    let s = store.clone();
    store
        .run(move |_| Ok(common::deliver_one(&s, "dan", b"Subject: idle\r\n\r\n")))
        .await
        .unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(1), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(ev, MailboxEvent::Appended { uid: 1, .. }));
    let h = inbox.clone();
    store
        .run(move |s| {
            s.store_flags(
                &h,
                &UidSet::all(),
                FlagOp::Add,
                &Flags::from_iter([DELETED]),
                None,
            )
        })
        .await
        .unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(1), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(ev, MailboxEvent::FlagsChanged { .. }));
    let h = inbox.clone();
    store.run(move |s| s.expunge(&h, None)).await.unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(1), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ev,
        MailboxEvent::Expunged {
            uids: vec![1],
            modseq: store.status(&inbox).unwrap().highestmodseq
        }
    );
}

#[test]
fn hostile_input_is_stored_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    let long_line = "y".repeat(5000);
    let mut inputs: Vec<Vec<u8>> = vec![
        b"Subject: \xff\xfe 8-bit \x00 nul\r\nFrom: <<<@@>>>\r\n\r\nbody\x00\r".to_vec(),
        b"Content-Type: multipart/mixed; boundary=\"zz\"\n\n--zz\nContent-Type: message/rfc822\n\n--zz".to_vec(),
        format!("Subject: long\r\nX-Long: {long_line}\r\n\r\n{long_line}").into_bytes(),
        b"\r\r\r\n\n\nno headers at all".to_vec(),
        b"x".to_vec(),
    ];
    let mut big = b"Subject: big\r\nContent-Type: text/plain\r\n\r\n".to_vec();
    big.resize(50 * 1024 * 1024, b'a');
    inputs.push(big);
    for (i, m) in inputs.iter().enumerate() {
        let d = common::deliver_one(&store, "eli", m);
        assert_eq!(d.uid as usize, i + 1);
    }
    let inbox = store
        .open_mailbox("eli", &MailboxPath::inbox("eli"))
        .unwrap();
    for (i, m) in inputs.iter().enumerate() {
        assert_eq!(&store.read_message(&inbox, i as u32 + 1).unwrap(), m);
    }
    assert_eq!(
        store.status(&inbox).unwrap().size,
        inputs.iter().map(|m| m.len() as u64).sum::<u64>()
    );
    assert!(
        store.deliver(
            b"",
            &[mail_store::Recipient::new("eli")],
            &Default::default()
        )[0]
        .is_err()
    );
}

#[test]
fn large_folders_use_hash_directories() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg: StoreConfig = common::config(dir.path());
    cfg.hash_threshold = 3;
    let store = Store::open(cfg).unwrap();
    for i in 0..6 {
        common::deliver_one(&store, "fox", &common::message(&i.to_string(), "x"));
    }
    let files = common::message_files(&dir.path().join("primary"));
    let hashed = files
        .iter()
        .filter(|p| {
            p.parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".h")
        })
        .count();
    assert_eq!((files.len(), hashed), (6, 3));
    let inbox = store
        .open_mailbox("fox", &MailboxPath::inbox("fox"))
        .unwrap();
    assert_eq!(
        store.read_message(&inbox, 6).unwrap(),
        common::message("5", "x")
    );
}

#[test]
fn config_validation_reports_every_problem() {
    let text = r#"
        system_path = "/s"
        default_partition = "nope"
        block_cache_size = 10
        [partitions]
        primary = "/s"
        [quota]
        warn_percent = 0
        grace_period = "1h"
        [group_commit]
        max_batch = 0
    "#;
    let err = mail_core::config::parse::<StoreConfig>(std::path::Path::new("store.toml"), text)
        .unwrap_err();
    let msg = err.to_string();
    for key in [
        "default_partition",
        "partitions.primary",
        "block_cache_size",
        "quota.warn_percent",
        "group_commit.max_batch",
    ] {
        assert!(msg.contains(key), "{key} missing in {msg}");
    }
    let ok = "system_path = \"/s\"\n[partitions]\nprimary = \"/p\"\n";
    let cfg: StoreConfig =
        mail_core::config::parse(std::path::Path::new("store.toml"), ok).unwrap();
    assert_eq!(cfg.group_commit.max_batch, 256);
    let unknown = "system_path = \"/s\"\nbogus = 1\n[partitions]\nprimary = \"/p\"\n";
    assert!(
        mail_core::config::parse::<StoreConfig>(std::path::Path::new("s.toml"), unknown).is_err()
    );
    let _ = SystemTime::now();
}
