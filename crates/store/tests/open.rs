//! A second opener of a store in use fails on RocksDB's lock before it
//! touches the user area (it used to empty `tmp/` first, deleting the
//! running store's deliveries in flight).

mod common;

use mail_store::Store;

#[test]
fn second_open_fails_without_touching_deliveries_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::config(dir.path());
    let store = Store::open(cfg.clone()).unwrap();
    let in_flight = dir
        .path()
        .join("primary")
        .join("tmp")
        .join("delivery-in-flight");
    std::fs::write(&in_flight, b"being written").unwrap();
    let err = match Store::open(cfg.clone()) {
        Ok(_) => panic!("a store in use opened twice"),
        Err(e) => e.to_string(),
    };
    assert!(err.to_ascii_lowercase().contains("lock"), "{err}");
    assert!(in_flight.exists(), "the second opener emptied tmp/");
    store.close();
    drop(store);
    // Once closed, an open recovers as usual: tmp/ is emptied.
    let again = Store::open(cfg).unwrap();
    assert!(!in_flight.exists());
    again.close();
}
