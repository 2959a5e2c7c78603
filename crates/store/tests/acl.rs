//! Shared folders: RFC 4314 rights, LIST of shared mailboxes, per-user `\Seen`.

mod common;

use mail_store::{ANYONE, FlagOp, Flags, MailboxPath, Rights, SEEN, StoreError, UidSet};

fn seen() -> Flags {
    let mut f = Flags::new();
    f.insert(SEEN);
    f
}

#[test]
fn sharing_with_private_seen() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    store.ensure_user("bob", None).unwrap();
    store.create_mailbox("alice", "Team", None).unwrap();
    let team = MailboxPath::new("alice", "Team");
    let owner = store.open_mailbox("alice", &team).unwrap();
    for i in 0..3 {
        store
            .append(
                &owner,
                &common::message(&format!("t{i}"), "x"),
                &Flags::new(),
                None,
                &Default::default(),
            )
            .unwrap();
    }

    // Before sharing, bob neither sees nor opens it.
    assert!(!store.list("bob").unwrap().iter().any(|m| m.path == team));
    assert!(matches!(
        store.open_mailbox("bob", &team),
        Err(StoreError::MailboxNotFound { .. })
    ));
    // Bob may not grant himself rights.
    assert!(
        store
            .set_acl("bob", &team, "bob", Some(Rights::ALL))
            .is_err()
    );

    store
        .set_acl("alice", &team, "bob", Some(Rights::parse("lrs").unwrap()))
        .unwrap();
    assert!(store.list("bob").unwrap().iter().any(|m| m.path == team));
    assert_eq!(store.my_rights("bob", &team).unwrap().to_string(), "lrs");
    assert_eq!(store.get_acl("alice", &team).unwrap().len(), 1);
    let bob = store.open_mailbox("bob", &team).unwrap();

    // Bob reads message 1: his \Seen only.
    store
        .store_flags(&bob, &UidSet::single(1), FlagOp::Add, &seen(), None)
        .unwrap();
    let b = store.fetch_index(&bob, &UidSet::all(), None).unwrap();
    assert!(b[0].flags.contains(SEEN) && !b[1].flags.contains(SEEN));
    let a = store.fetch_index(&owner, &UidSet::all(), None).unwrap();
    assert!(!a[0].flags.contains(SEEN), "alice's view is unchanged");

    // Alice reads message 2: bob's view is unchanged.
    store
        .store_flags(&owner, &UidSet::single(2), FlagOp::Add, &seen(), None)
        .unwrap();
    let b = store.fetch_index(&bob, &UidSet::all(), None).unwrap();
    assert!(!b[1].flags.contains(SEEN));
    assert_eq!(store.status(&bob).unwrap().unseen, 2);
    assert_eq!(store.status(&owner).unwrap().unseen, 2);

    // Without `w`, bob's \Flagged is ignored; without `e` he cannot expunge.
    let mut flagged = Flags::new();
    flagged.insert("\\Flagged");
    let r = store
        .store_flags(&bob, &UidSet::single(3), FlagOp::Add, &flagged, None)
        .unwrap();
    assert!(r.updated.is_empty());
    assert!(matches!(
        store.expunge(&bob, None),
        Err(StoreError::PermissionDenied { right: 'e', .. })
    ));

    // `anyone` grants reach every user.
    store.ensure_user("carol", None).unwrap();
    store
        .set_acl("alice", &team, ANYONE, Some(Rights::parse("lr").unwrap()))
        .unwrap();
    assert!(store.open_mailbox("carol", &team).is_ok());

    // Revoking removes it from bob's list.
    store.set_acl("alice", &team, "bob", None).unwrap();
    store.set_acl("alice", &team, ANYONE, None).unwrap();
    assert!(!store.list("bob").unwrap().iter().any(|m| m.path == team));
}
