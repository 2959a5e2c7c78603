//! Shared helpers for the store's integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mail_store::{DeliverOptions, Delivered, Recipient, Store, StoreConfig};

/// A config with two partitions under `root`; new users get only INBOX
/// (tests/first_delivery.rs covers the default mailboxes).
pub fn config(root: &Path) -> StoreConfig {
    let mut cfg = StoreConfig::single(root);
    cfg.default_mailboxes = mail_store::DefaultMailboxes::none();
    cfg.partitions = BTreeMap::from([
        ("primary".to_string(), root.join("primary")),
        ("second".to_string(), root.join("second")),
    ]);
    cfg
}

pub fn open(root: &Path) -> Store {
    Store::open(config(root)).expect("open store")
}

pub fn message(id: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Sender <sender@example.org>\r\nTo: rcpt@example.com\r\nSubject: test {id}\r\nMessage-ID: <{id}@example.org>\r\nX-Test-Id: {id}\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

pub fn deliver_one(store: &Store, user: &str, msg: &[u8]) -> Delivered {
    let r = store.deliver(msg, &[Recipient::new(user)], &DeliverOptions::default());
    r.into_iter()
        .next()
        .expect("one result")
        .expect("delivered")
}

/// Every regular file below `dir`.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Message files (`*.msg`) below a partition's user area.
pub fn message_files(partition: &Path) -> Vec<PathBuf> {
    files_under(&partition.join("users"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "msg"))
        .collect()
}
