//! Concurrent first deliveries to users the store has never seen: each
//! creates the user and its INBOX at most once, and none may find the
//! user without its INBOX (found by the LMTP benchmark: 20 connections
//! to 10 new users got `554 5.3.0` before the fix). A new user also gets
//! the configured default mailboxes with their special-use (RFC 6154).

mod common;

use mail_store::{DefaultMailboxes, DeliverOptions, MailboxPath, Recipient, SpecialUse, UidSet};

#[test]
fn concurrent_first_deliveries_to_new_users_all_succeed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = common::open(dir.path());
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let msg = common::message(&format!("m{t}"), "first delivery race");
                let rcpts: Vec<Recipient> = (0..4)
                    .map(|u| Recipient::new(format!("fresh{}", (t + u) % 4)))
                    .collect();
                store.deliver(&msg, &rcpts, &DeliverOptions::default())
            })
        })
        .collect();
    for t in threads {
        for r in t.join().expect("thread") {
            r.expect("a first delivery to a new user must succeed");
        }
    }
    for u in 0..4 {
        let user = format!("fresh{u}");
        let mb = store
            .open_mailbox(&user, &MailboxPath::inbox(user.clone()))
            .expect("INBOX exists");
        let rows = store.fetch_index(&mb, &UidSet::all(), None).expect("index");
        assert_eq!(rows.len(), 16, "{user} got every message once");
    }
}

#[test]
fn a_new_user_gets_the_default_mailboxes_subscribed_with_their_special_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = common::config(dir.path());
    cfg.default_mailboxes = DefaultMailboxes {
        sent: "Folders/Sent Items".into(),
        archive: String::new(),
        ..DefaultMailboxes::default()
    };
    let store = mail_store::Store::open(cfg).expect("open");
    let msg = common::message("first", "hello");
    let r = store.deliver(
        &msg,
        &[Recipient::new("newbie")],
        &DeliverOptions::default(),
    );
    r[0].as_ref().expect("delivered");
    let list: Vec<(String, Option<SpecialUse>)> = store
        .list("newbie")
        .expect("list")
        .into_iter()
        .map(|i| (i.path.name, i.special_use))
        .collect();
    assert_eq!(
        list,
        [
            ("Drafts".to_string(), Some(SpecialUse::Drafts)),
            ("Folders".to_string(), None),
            ("Folders/Sent Items".to_string(), Some(SpecialUse::Sent)),
            ("INBOX".to_string(), None),
            ("Junk".to_string(), Some(SpecialUse::Junk)),
            ("Trash".to_string(), Some(SpecialUse::Trash)),
        ]
    );
    let subs: Vec<String> = store
        .subscriptions("newbie")
        .expect("subscriptions")
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(subs.len(), 4, "{subs:?}");
    assert!(subs.contains(&"Folders/Sent Items".to_string()), "{subs:?}");
    // Only once: a second delivery and an explicit ensure change nothing.
    store.deliver(
        &msg,
        &[Recipient::new("newbie")],
        &DeliverOptions::default(),
    );
    store.ensure_user("newbie", None).expect("ensure");
    assert_eq!(store.list("newbie").expect("list").len(), 6);
}
