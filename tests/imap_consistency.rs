//! The multi-client IMAP consistency checker (`tests/imap_consistency.py`,
//! its rules in its docstring) against the `mailstore` binary over
//! implicit TLS: several clients per user doing random SELECT, STORE,
//! APPEND, EXPUNGE, MOVE, FETCH, NOOP and IDLE, each failing on any
//! response its session could not have predicted. Zero errors allowed.
//!
//! Bounded in the test command: 5 clients over 3 users for 5 s. The longer
//! run of docs/imap.md sets the environment:
//!
//! ```text
//! IMAP_CONSISTENCY_CLIENTS=20 IMAP_CONSISTENCY_SECONDS=30 IMAP_CONSISTENCY_USERS=10 \
//!     cargo test --workspace --locked --test imap_consistency -- --nocapture
//! ```

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::imap_env::Store;

fn setting(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn concurrent_clients_only_get_responses_their_sessions_can_predict() {
    let clients = setting("IMAP_CONSISTENCY_CLIENTS", 5);
    let seconds = setting("IMAP_CONSISTENCY_SECONDS", 5);
    let users = setting("IMAP_CONSISTENCY_USERS", 3).max(2);
    let extra: Vec<String> = (2..users).map(|i| format!("user{i}")).collect();
    let store = Store::start_with(&extra, "");
    let mut ids = vec!["alice".to_string(), "bob".to_string()];
    ids.extend(extra);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/imap_consistency.py");
    let mut cmd = Command::new("timeout");
    cmd.arg(
        Duration::from_secs(u64::from(seconds) + 180)
            .as_secs()
            .to_string(),
    )
    .arg("python3")
    .arg(&script)
    .args(["--host", "127.0.0.1"])
    .args(["--port", &store.svc.port("imaps").port().to_string()])
    .arg("--ca")
    .arg(&store.ca)
    .args(["--users", &ids.join(",")])
    .args(["--clients", &clients.to_string()])
    .args(["--seconds", &seconds.to_string()]);
    if let Ok(seed) = std::env::var("IMAP_CONSISTENCY_SEED") {
        cmd.args(["--seed", &seed]);
    }
    let out = cmd.output().expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "no report ({e}): {stdout}\n{}\n--- mailstore log ---\n{}",
            String::from_utf8_lossy(&out.stderr),
            store.svc.log_text()
        )
    });
    assert_eq!(
        report["error_count"], 0,
        "responses the sessions could not predict (seed {}): {:#}",
        report["seed"], report["errors"]
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let commands = report["commands"].as_u64().unwrap_or(0);
    assert!(
        commands >= u64::from(clients) * 10,
        "too few commands ran: {report}"
    );
}
