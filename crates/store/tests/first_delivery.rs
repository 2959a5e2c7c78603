//! Concurrent first deliveries to users the store has never seen: each
//! creates the user and its INBOX at most once, and none may find the
//! user without its INBOX (found by the LMTP benchmark: 20 connections
//! to 10 new users got `554 5.3.0` before the fix).

mod common;

use mail_store::{DeliverOptions, MailboxPath, Recipient, UidSet};

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
