//! The `lmtp` channel against the real LMTP server over the real store:
//! one result per recipient, a recipient over quota (452) retried alone
//! while the others are done exactly once.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::mailstore::{DOMAIN, Mailstore};
use common::*;
use mail_core::shutdown::Shutdown;
use mail_delivery::{DeliveryConfig, RoutedSink};
use mail_queue::RcptState;
use mail_routing::{NoDirectory, Router, RoutingDirectory};

const T: Duration = Duration::from_secs(30);

pub fn routing(lmtp: std::net::SocketAddr, workers: u32) -> Router {
    let text = format!(
        r#"
[[channel]]
name = "lmtp"
kind = "lmtp"
hosts = ["lmtp-daemon"]
relay = "{lmtp}"
max_workers = {workers}
max_per_destination = {workers}

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
    Router::from_text(std::path::Path::new("lmtp.toml"), &text).expect("routing")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_recipient_results_retry_only_the_one_over_quota() {
    init_tracing();
    let store = Mailstore::start(&[("ann", None), ("ben", None), ("cat", Some(1))]).await;
    let jobctl = Jobctl::start(&[("lmtp", fast_policy("1s", "3600s", "86400s"))]).await;
    let spool_dir = tempfile::tempdir().expect("tempdir");
    let spool = spool(spool_dir.path());
    let router = Arc::new(routing(store.addr, 2));
    let directory: Arc<dyn RoutingDirectory> = Arc::new(NoDirectory);
    let client =
        mail_delivery::Jobctl::new(&jobctl.url, None, RELAY, router.clone(), spool.clone())
            .expect("jobctl client");
    let sink = Arc::new(RoutedSink::new(
        spool.clone(),
        router.clone(),
        directory,
        client.clone(),
    ));
    let mut cfg = DeliveryConfig::new(jobctl.url.clone(), RELAY, "relay.example.org");
    cfg.channels = vec!["lmtp".into()];
    cfg.lease_wait = Duration::from_millis(500);
    let workers = Shutdown::new();
    mail_delivery::start(
        cfg,
        router.channels(),
        spool.clone(),
        sink,
        &client,
        &workers,
    )
    .expect("start");

    let rcpts = [
        rcpt(&format!("ann@{DOMAIN}")),
        rcpt(&format!("ben@{DOMAIN}")),
        rcpt(&format!("cat@{DOMAIN}")),
    ];
    let host = store.addr.to_string();
    let env = enqueue(
        &spool,
        &jobctl,
        "lmtp",
        &host,
        "alice@example.org",
        &rcpts,
        "q1",
    )
    .await;
    let id = env.id.to_string();
    let jc = &jobctl;
    // Two attempts: the first delivers ann and ben, the second tries cat alone.
    let shown = wait_for("two attempts", T, || async {
        let sh = jc.show(&id).await?;
        (sh.history.len() >= 2).then_some(sh)
    })
    .await;
    let first = &shown.history[0].results;
    let outcome = |addr: &str| {
        first
            .iter()
            .find(|r| r.address == addr)
            .map(|r| (r.outcome, r.detail.clone()))
    };
    let (o, d) = outcome(&format!("ann@{DOMAIN}")).expect("ann");
    assert_eq!(o, mail_proto::jobctl::v1::Outcome::Delivered as i32, "{d}");
    let (o, d) = outcome(&format!("cat@{DOMAIN}")).expect("cat");
    assert_eq!(o, mail_proto::jobctl::v1::Outcome::Retry as i32, "{d}");
    assert!(d.starts_with("452 4.2.2"), "{d}");
    let second = &shown.history[1].results;
    assert_eq!(second.len(), 1, "only cat is tried again: {second:?}");
    assert_eq!(second[0].address, format!("cat@{DOMAIN}"));
    let job = shown.job.expect("job");
    assert_eq!(job.recipients.len(), 1);

    // The queue file records who is done.
    let entry = spool
        .open_entry("lmtp", &env.id)
        .await
        .expect("still queued");
    let states: Vec<RcptState> = entry.envelope.recipients.iter().map(|r| r.state).collect();
    assert_eq!(
        states,
        [
            RcptState::Delivered,
            RcptState::Delivered,
            RcptState::Pending
        ]
    );

    assert_eq!(store.subjects("ann"), ["q1"]);
    assert_eq!(store.subjects("ben"), ["q1"]);
    assert!(store.subjects("cat").is_empty());
    // The store continued the trace sent in X-TRACEPARENT: the message got
    // there over one LMTP session per attempt, with the Received header of
    // the store and the original content.
    let raw = store.messages("ann").join("\n");
    assert!(raw.contains(".leading dot line"), "{raw}");
    workers.trigger();
}
