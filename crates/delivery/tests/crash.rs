//! A delivery worker SIGKILLed mid-delivery. The workers run in a child
//! process (this test binary re-executed, like `crates/store/tests/crash.rs`)
//! delivering over LMTP into the real store; the parent kills it while
//! messages are in flight, then runs workers itself. Every recipient gets
//! every message at least once (the killed worker's jobs are leased again
//! when their lease runs out), and more than once only for the few messages
//! that were in flight at the kill: a recipient marked done in the queue
//! file is never delivered again.

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::mailstore::{DOMAIN, Mailstore};
use common::*;
use mail_core::shutdown::Shutdown;
use mail_delivery::{DeliveryConfig, RoutedSink};
use mail_routing::{NoDirectory, Router, RoutingDirectory};

const CHILD: &str = "TIERMAIL_DELIVERY_CRASH_CHILD";
const WORKERS: u32 = 2;
const MESSAGES: usize = 60;
const USERS: [&str; 3] = ["u1", "u2", "u3"];

fn routing(lmtp: &str) -> Router {
    let text = format!(
        r#"
[[channel]]
name = "lmtp"
kind = "lmtp"
hosts = ["lmtp-daemon"]
relay = "{lmtp}"
max_workers = {WORKERS}
max_per_destination = {WORKERS}

[[channel]]
name = "dsn_hold"
kind = "smtp_relay"
hosts = ["hold-daemon"]
relay = "127.0.0.9:25"

[[rewrite]]
domain = "example.org"
route = "hold-daemon"

[[rewrite]]
domain = "$*"
route = "lmtp-daemon"
"#
    );
    Router::from_text(std::path::Path::new("crash.toml"), &text).expect("routing")
}

async fn run_workers(jobctl: &str, spool_dir: &str, lmtp: &str, stop: &Shutdown) {
    let spool = spool(std::path::Path::new(spool_dir));
    let router = Arc::new(routing(lmtp));
    let client = mail_delivery::Jobctl::new(jobctl, None, RELAY, router.clone(), spool.clone())
        .expect("jobctl");
    let directory: Arc<dyn RoutingDirectory> = Arc::new(NoDirectory);
    let sink = Arc::new(RoutedSink::new(
        spool.clone(),
        router.clone(),
        directory,
        client.clone(),
    ));
    let mut cfg = DeliveryConfig::new(jobctl, RELAY, "relay.example.org");
    cfg.channels = vec!["lmtp".into()];
    // A killed worker's job comes back after this.
    cfg.lease = Duration::from_secs(2);
    cfg.lease_wait = Duration::from_millis(500);
    mail_delivery::start(cfg, router.channels(), spool, sink, &client, stop).expect("start");
}

/// The child: runs workers until killed. Does nothing in a normal run.
#[test]
fn crash_child() {
    let Ok(spec) = std::env::var(CHILD) else {
        return;
    };
    let parts: Vec<&str> = spec.split('|').collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let stop = Shutdown::new();
        run_workers(parts[0], parts[1], parts[2], &stop).await;
        stop.triggered().await; // never: SIGKILL ends it
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_killed_mid_delivery_redelivers_only_what_was_in_flight() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    init_tracing();
    let store = Mailstore::start(&USERS.map(|u| (u, None))).await;
    let jobctl = Jobctl::start(&[("lmtp", fast_policy("1s", "3600s", "86400s"))]).await;
    let spool_dir = tempfile::tempdir().expect("tempdir");
    let spool = spool(spool_dir.path());
    let rcpts: Vec<_> = USERS
        .iter()
        .map(|u| rcpt(&format!("{u}@{DOMAIN}")))
        .collect();
    let host = store.addr.to_string();
    for i in 0..MESSAGES {
        enqueue(
            &spool,
            &jobctl,
            "lmtp",
            &host,
            "alice@example.org",
            &rcpts,
            &format!("c{i:03}"),
        )
        .await;
    }
    let spec = format!(
        "{}|{}|{}",
        jobctl.url,
        spool_dir.path().display(),
        store.addr
    );
    let mut child = Command::new(std::env::current_exe().expect("exe"))
        .args(["--exact", "crash_child", "--test-threads=1"])
        .env(CHILD, spec)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("child");
    let st = &store;
    let before = wait_for(
        "the child to deliver some messages",
        Duration::from_secs(60),
        || async {
            let n = st.subjects("u1").len();
            (n >= 8).then_some(n)
        },
    )
    .await;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    let _ = child.wait();
    let left = queued(&spool, "lmtp").len();
    assert!(
        left > 0,
        "killed before the end (delivered {before} to u1, {left} files left)"
    );

    let stop = Shutdown::new();
    run_workers(
        &jobctl.url,
        &spool_dir.path().display().to_string(),
        &store.addr.to_string(),
        &stop,
    )
    .await;
    let (sp, jc) = (&spool, &jobctl);
    wait_for("the queue to drain", Duration::from_secs(90), || async {
        (queued(sp, "lmtp").is_empty() && jc.jobs().await.is_empty()).then_some(())
    })
    .await;
    stop.trigger();

    let mut bounces = String::new();
    for f in queued(&spool, "dsn_hold") {
        bounces.push_str(&String::from_utf8_lossy(
            &std::fs::read(f).unwrap_or_default(),
        ));
    }
    assert!(bounces.is_empty(), "no recipient may fail:\n{bounces}");
    for u in USERS {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for s in store.subjects(u) {
            *counts.entry(s).or_default() += 1;
        }
        for i in 0..MESSAGES {
            let tag = format!("c{i:03}");
            assert!(counts.contains_key(&tag), "{u} never got {tag}");
        }
        let dups: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            dups.len() <= WORKERS as usize,
            "{u}: more duplicates than messages in flight at the kill: {dups:?}"
        );
        assert!(counts.values().all(|n| *n <= 2), "{u}: {counts:?}");
    }
}
