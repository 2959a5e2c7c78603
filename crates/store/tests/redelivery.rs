//! A relay's redelivery under the same delivery id (LMTP `X-DELIVERY-ID`)
//! is answered without a second copy, per recipient, across a restart of
//! the store, until the redelivery window has passed.

mod common;

use std::time::Duration;

use mail_store::{DeliverOptions, MailboxPath, Recipient, Store, UidSet};

fn rcpt(user: &str, address: &str) -> Recipient {
    let mut r = Recipient::new(user);
    r.rcpt = Some(address.to_string());
    r
}

fn with_id(id: &str) -> DeliverOptions {
    DeliverOptions {
        delivery_id: Some(id.to_string()),
        ..Default::default()
    }
}

fn inbox(store: &Store, user: &str) -> usize {
    let mb = store
        .open_mailbox(user, &MailboxPath::inbox(user.to_string()))
        .expect("INBOX");
    store
        .fetch_index(&mb, &UidSet::all(), None)
        .expect("index")
        .len()
}

#[test]
fn a_redelivery_is_recognised_per_recipient_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let msg = common::message("m1", "body");
    {
        let store = common::open(dir.path());
        let first = store.deliver(
            &msg,
            &[rcpt("ann", "ann@example.test")],
            &with_id("mta-1:Q1"),
        );
        let d = first[0].as_ref().expect("delivered");
        assert!(!d.redelivery);
        // The relay lost the 250 and tries ann again, now with ben, whose
        // first attempt failed.
        let again = store.deliver(
            &msg,
            &[
                rcpt("ann", "Ann@Example.TEST"),
                rcpt("ben", "ben@example.test"),
            ],
            &with_id("mta-1:Q1"),
        );
        let ann = again[0].as_ref().expect("ann");
        let ben = again[1].as_ref().expect("ben");
        assert!(ann.redelivery && ann.uid == 0, "{ann:?}");
        assert!(!ben.redelivery);
        // Another queued message with the same content is not a redelivery,
        // nor is a delivery without an id.
        let other = store.deliver(
            &msg,
            &[rcpt("ann", "ann@example.test")],
            &with_id("mta-1:Q2"),
        );
        assert!(!other[0].as_ref().expect("other").redelivery);
        let plain = store.deliver(&msg, &[Recipient::new("ann")], &DeliverOptions::default());
        assert!(!plain[0].as_ref().expect("plain").redelivery);
        assert_eq!(inbox(&store, "ann"), 3);
        assert_eq!(inbox(&store, "ben"), 1);
        store.close();
    }
    let store = common::open(dir.path());
    let after = store.deliver(
        &msg,
        &[rcpt("ben", "ben@example.test")],
        &with_id("mta-1:Q1"),
    );
    assert!(
        after[0].as_ref().expect("ben").redelivery,
        "remembered across a restart"
    );
    assert_eq!(
        store.forget_old_deliveries().expect("forget"),
        0,
        "a day is not over"
    );
    assert_eq!(inbox(&store, "ben"), 1);
}

#[test]
fn after_the_window_a_redelivery_is_stored_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = common::config(dir.path());
    cfg.redelivery_window = Duration::from_millis(50);
    let store = Store::open(cfg).expect("open");
    let msg = common::message("m2", "body");
    let once = store.deliver(&msg, &[rcpt("cat", "cat@example.test")], &with_id("r:Q9"));
    assert!(!once[0].as_ref().expect("cat").redelivery);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(store.forget_old_deliveries().expect("forget"), 1);
    let twice = store.deliver(&msg, &[rcpt("cat", "cat@example.test")], &with_id("r:Q9"));
    assert!(!twice[0].as_ref().expect("cat").redelivery);
    assert_eq!(inbox(&store, "cat"), 2);
}
