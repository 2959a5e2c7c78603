//! `reconstruct` rebuilds the mailbox list and index from the user area.

mod common;

use mail_store::{FlagOp, Flags, MailboxInfo, MailboxPath, Scope, SpecialUse, Store, UidSet};

type Listing = Vec<(String, u32, Option<SpecialUse>)>;
type Index = Vec<(String, Vec<(u32, u64, i64)>)>;

fn snapshot_state(store: &Store, user: &str) -> (Listing, Index) {
    let mut list: Vec<MailboxInfo> = store.list(user).unwrap();
    list.sort_by(|a, b| a.path.name.cmp(&b.path.name));
    let listing = list
        .iter()
        .map(|m| (m.path.name.clone(), m.uidvalidity, m.special_use))
        .collect();
    let index = list
        .iter()
        .map(|m| {
            let h = store.open_mailbox(user, &m.path).unwrap();
            let rows = store.fetch_index(&h, &UidSet::all(), None).unwrap();
            (
                m.path.name.clone(),
                rows.iter()
                    .map(|r| (r.uid, r.size, r.internal_date))
                    .collect(),
            )
        })
        .collect();
    (listing, index)
}

fn populate(store: &Store) {
    store
        .create_mailbox("dora", "Sent", Some(SpecialUse::Sent))
        .unwrap();
    store.create_mailbox("dora", "Work/Projects", None).unwrap();
    for i in 0..5 {
        common::deliver_one(store, "dora", &common::message(&format!("m{i}"), "body"));
    }
    let work = store
        .open_mailbox("dora", &MailboxPath::new("dora", "Work/Projects"))
        .unwrap();
    let inbox = store
        .open_mailbox("dora", &MailboxPath::inbox("dora"))
        .unwrap();
    store
        .copy(&inbox, &UidSet::range(2, 3), &work, &Default::default())
        .unwrap();
    let mut f = Flags::new();
    f.insert("\\Flagged");
    store
        .store_flags(&inbox, &UidSet::single(4), FlagOp::Add, &f, None)
        .unwrap();
}

#[test]
fn reconstruct_after_losing_the_system_area() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::config(dir.path());
    let store = Store::open(cfg.clone()).unwrap();
    populate(&store);
    let before = snapshot_state(&store, "dora");
    store.close();
    drop(store);

    std::fs::remove_dir_all(&cfg.system_path).unwrap();
    let store = Store::open(cfg).unwrap();
    let report = store.reconstruct(Scope::All).unwrap();
    assert_eq!(report.users, 1);
    assert_eq!(report.messages, 7);
    assert_eq!(snapshot_state(&store, "dora"), before);
    assert_eq!(store.quota_usage("dora").unwrap().messages, 7);
    // The cache is back too: header search needs no message file.
    let inbox = store
        .open_mailbox("dora", &MailboxPath::inbox("dora"))
        .unwrap();
    assert_eq!(
        store.search_header(&inbox, "subject", "test m3").unwrap(),
        vec![4]
    );
    // New deliveries continue above the old UIDs.
    assert_eq!(
        common::deliver_one(&store, "dora", b"Subject: n\r\n\r\n").uid,
        6
    );
}

#[test]
fn reconstruct_keeps_flags_when_rows_exist() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    populate(&store);
    let before = snapshot_state(&store, "dora");
    store.reconstruct(Scope::User("dora".into())).unwrap();
    assert_eq!(snapshot_state(&store, "dora"), before);
    let inbox = store
        .open_mailbox("dora", &MailboxPath::inbox("dora"))
        .unwrap();
    let rows = store.fetch_index(&inbox, &UidSet::single(4), None).unwrap();
    assert!(rows[0].flags.contains("\\Flagged"));
}
