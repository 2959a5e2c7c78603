//! Every quota state: under, warning once per crossing, temporary refusal
//! during the grace period, permanent after it, the guaranteed path, and
//! the report.

mod common;

use std::time::Duration;

use mail_store::{
    DELETED, DeliverOptions, FlagOp, Flags, MailboxPath, QuotaLimits, Recipient, Store, StoreError,
    UidSet,
};

fn rcpt(limit: u64) -> Recipient {
    let mut r = Recipient::new("q");
    r.quota = QuotaLimits {
        bytes: Some(limit),
        messages: Some(100),
    };
    r
}

fn deliver(
    store: &Store,
    size: usize,
    guaranteed: bool,
) -> Result<mail_store::Delivered, StoreError> {
    let body = "x".repeat(size);
    let msg = format!("Subject: q\r\n\r\n{body}");
    let opts = DeliverOptions {
        guaranteed,
        ..Default::default()
    };
    store
        .deliver(msg.as_bytes(), &[rcpt(1000)], &opts)
        .remove(0)
}

#[test]
fn quota_states() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::config(dir.path());
    cfg.quota.warn_percent = 80;
    cfg.quota.grace_period = Duration::from_secs(3600);
    let store = Store::open(cfg.clone()).unwrap();

    // Under quota, under the threshold.
    let d = deliver(&store, 500, false).unwrap();
    assert!(!d.quota_warning);
    // Crossing 80%: warned once...
    let d = deliver(&store, 300, false).unwrap();
    assert!(d.quota_warning);
    // ...and not again while still above it.
    let d = deliver(&store, 50, false).unwrap();
    assert!(!d.quota_warning);
    let used = store.quota_usage("q").unwrap();
    assert!(used.warned);

    // Does not fit: temporary refusal during the grace period (LMTP 452 4.2.2).
    let e = deliver(&store, 400, false).unwrap_err();
    assert!(matches!(e, StoreError::OverQuotaTemporary { .. }), "{e:?}");
    assert!(e.is_temporary());
    let e = deliver(&store, 400, false).unwrap_err();
    assert!(e.is_temporary(), "still in grace");

    // The guaranteed path ignores quota.
    let d = deliver(&store, 400, true).unwrap();
    assert!(d.uid > 0);

    // After the grace period (config shortened, episode start persisted): permanent (552 5.2.2).
    store.close();
    drop(store);
    cfg.quota.grace_period = Duration::ZERO;
    let store = Store::open(cfg.clone()).unwrap();
    let e = deliver(&store, 400, false).unwrap_err();
    assert!(matches!(e, StoreError::OverQuotaPermanent), "{e:?}");
    assert!(!e.is_temporary());

    // Freeing space re-arms the warning; the next crossing warns again.
    let inbox = store.open_mailbox("q", &MailboxPath::inbox("q")).unwrap();
    let mut del = Flags::new();
    del.insert(DELETED);
    store
        .store_flags(&inbox, &UidSet::all(), FlagOp::Add, &del, None)
        .unwrap();
    store.expunge(&inbox, None).unwrap();
    let used = store.quota_usage("q").unwrap();
    assert_eq!((used.bytes, used.messages, used.warned), (0, 0, false));
    assert!(!deliver(&store, 100, false).unwrap().quota_warning);
    assert!(deliver(&store, 800, false).unwrap().quota_warning);

    let report = store.quota_report().unwrap();
    assert_eq!(report.len(), 1);
    assert_eq!(report[0].user, "q");
    assert_eq!(report[0].messages, 2);
    assert_eq!(report[0].limits.bytes, Some(1000));
}

#[test]
fn enforcement_off_counts_but_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::config(dir.path());
    cfg.quota.enforce = false;
    let store = Store::open(cfg).unwrap();
    for _ in 0..3 {
        deliver(&store, 600, false).unwrap();
    }
    assert_eq!(store.quota_usage("q").unwrap().messages, 3);
}

#[test]
fn message_count_limit() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    let mut r = Recipient::new("m");
    r.quota.messages = Some(2);
    for _ in 0..2 {
        store.deliver(
            b"Subject: a\r\n\r\nb",
            std::slice::from_ref(&r),
            &DeliverOptions::default(),
        )[0]
        .as_ref()
        .unwrap();
    }
    let res = store.deliver(b"Subject: a\r\n\r\nb", &[r], &DeliverOptions::default());
    assert!(matches!(res[0], Err(StoreError::OverQuotaTemporary { .. })));
}
