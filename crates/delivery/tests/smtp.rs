//! The SMTP channels against real parts: a DNS server (hickory-server) on
//! a loopback port answering MX and A records, Postfix's smtp-sink on
//! 127.0.0.x standing for Internet mail servers, jobctl in-process, and
//! DSNs routed into the spool by the relay's routing file.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use mail_core::shutdown::Shutdown;
use mail_delivery::{DeliveryConfig, RoutedSink};
use mail_queue::{QueuedRecipient, Spool};
use mail_routing::{NoDirectory, Router, RoutingDirectory};
use mail_smtp_proto::{Notify, Orcpt};

const T: Duration = Duration::from_secs(30);

struct Setup {
    jobctl: Jobctl,
    spool: Spool,
    _spool_dir: tempfile::TempDir,
    workers: Shutdown,
    _dns: Dns,
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.workers.trigger();
    }
}

/// jobctl + spool + `tcp_local` workers; DSNs to example.org senders are
/// routed to `dsn_hold`, a channel without workers, to be inspected.
async fn setup(
    port: u16,
    tls: &str,
    dns: Dns,
    policy: mail_proto::jobctl::v1::RetryPolicy,
) -> Setup {
    init_tracing();
    let jobctl = Jobctl::start(&[("tcp_local", policy)]).await;
    let spool_dir = tempfile::tempdir().expect("tempdir");
    let spool = spool(spool_dir.path());
    let routing = format!(
        r#"
[routing]
local_host = "relay.example.org"

[[channel]]
name = "tcp_local"
kind = "smtp_mx"
hosts = ["tcp-daemon"]
port = {port}
max_workers = 2
max_per_destination = 2
tls = "{tls}"

[[channel]]
name = "dsn_hold"
kind = "smtp_relay"
hosts = ["hold-daemon"]
relay = "127.0.0.9:25"

[[rewrite]]
name = "our senders"
domain = "example.org"
route = "hold-daemon"

[[rewrite]]
domain = "$*"
route = "tcp-daemon"
"#
    );
    let router =
        Arc::new(Router::from_text(std::path::Path::new("test.toml"), &routing).expect("routing"));
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
    cfg.channels = vec!["tcp_local".into()];
    cfg.dns.nameservers = vec![dns.addr];
    cfg.lease = Duration::from_secs(30);
    cfg.lease_wait = Duration::from_millis(500);
    cfg.connect_timeout = Duration::from_secs(2);
    cfg.command_timeout = Duration::from_secs(10);
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
    Setup {
        jobctl,
        spool,
        _spool_dir: spool_dir,
        workers,
        _dns: dns,
    }
}

fn slow_policy() -> mail_proto::jobctl::v1::RetryPolicy {
    fast_policy("1s", "3600s", "86400s")
}

async fn drained(s: &Setup, channel: &str) {
    let spool = s.spool.clone();
    let ch = channel.to_string();
    wait_for(&format!("{channel} to drain"), T, || {
        let spool = spool.clone();
        let ch = ch.clone();
        async move { queued(&spool, &ch).is_empty().then_some(()) }
    })
    .await;
}

async fn dsns(s: &Setup, n: usize) -> Vec<(mail_queue::Envelope, String)> {
    let spool = s.spool.clone();
    wait_for(&format!("{n} DSN(s) in dsn_hold"), T, || {
        let spool = spool.clone();
        async move {
            let files = queued(&spool, "dsn_hold");
            if files.len() < n {
                return None;
            }
            let mut out = Vec::new();
            for f in files {
                let id: mail_queue::QueueId = f.file_name()?.to_str()?.parse().ok()?;
                let (env, data) = spool.read("dsn_hold", &id).await.ok()?;
                out.push((env, String::from_utf8_lossy(&data).into_owned()));
            }
            out.sort_by(|a, b| a.0.id.cmp(&b.0.id));
            Some(out)
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mx_preference_next_mx_and_implicit_mx() {
    let port = free_port(&["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
    let dns = Dns::start(
        &["example.net", "a-only.test"],
        &[
            Rr::Mx("example.net", 20, "mx2.example.net"),
            Rr::Mx("example.net", 10, "mx1.example.net"),
            Rr::A("mx1.example.net", "127.0.0.2"),
            Rr::A("mx2.example.net", "127.0.0.3"),
            Rr::A("a-only.test", "127.0.0.4"),
        ],
    )
    .await;
    let s = setup(port, "opportunistic", dns, slow_policy()).await;
    let mx1 = Sink::start(format!("127.0.0.2:{port}").parse().expect("addr"), &[]);
    let mx2 = Sink::start(format!("127.0.0.3:{port}").parse().expect("addr"), &[]);
    let a_only = Sink::start(format!("127.0.0.4:{port}").parse().expect("addr"), &[]);

    // The best preference gets the mail.
    enqueue(
        &s.spool,
        &s.jobctl,
        "tcp_local",
        "example.net",
        "alice@example.org",
        &[rcpt("bob@example.net")],
        "m1",
    )
    .await;
    drained(&s, "tcp_local").await;
    let got = mx1.messages();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("Subject: test m1"), "{}", got[0]);
    assert!(
        got[0].contains("X-Rcpt-Args: <bob@example.net>"),
        "{}",
        got[0]
    );
    assert!(
        got[0].contains("ENVID=ENV-m1"),
        "DSN parameters passed on: {}",
        got[0]
    );
    assert!(got[0].contains(".leading dot line"), "{}", got[0]);
    assert!(mx2.messages().is_empty());

    // The best MX is down: the next preference.
    mx1.stop();
    enqueue(
        &s.spool,
        &s.jobctl,
        "tcp_local",
        "example.net",
        "alice@example.org",
        &[rcpt("bob@example.net")],
        "m2",
    )
    .await;
    drained(&s, "tcp_local").await;
    let got = mx2.messages();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("Subject: test m2"));

    // No MX record: the domain's own A record (RFC 5321 5.1).
    enqueue(
        &s.spool,
        &s.jobctl,
        "tcp_local",
        "a-only.test",
        "alice@example.org",
        &[rcpt("carol@a-only.test")],
        "m3",
    )
    .await;
    drained(&s, "tcp_local").await;
    let got = a_only.messages();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("X-Rcpt-Args: <carol@a-only.test>"));
    assert!(s.jobctl.jobs().await.is_empty(), "jobctl has nothing left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destination_down_then_up_is_delivered_exactly_once() {
    let port = free_port(&["127.0.0.5"]);
    let dns = Dns::start(
        &["down.test"],
        &[
            Rr::Mx("down.test", 10, "mx.down.test"),
            Rr::A("mx.down.test", "127.0.0.5"),
        ],
    )
    .await;
    let s = setup(port, "opportunistic", dns, slow_policy()).await;
    let env = enqueue(
        &s.spool,
        &s.jobctl,
        "tcp_local",
        "down.test",
        "alice@example.org",
        &[rcpt("dave@down.test")],
        "d1",
    )
    .await;
    let id = env.id.to_string();
    let jobctl = &s.jobctl;
    let shown = wait_for("a failed attempt", T, || async {
        let sh = jobctl.show(&id).await?;
        (!sh.history.is_empty()).then_some(sh)
    })
    .await;
    let job = shown.job.expect("job");
    assert!(
        job.last_error.starts_with("451 4.4.1"),
        "{}",
        job.last_error
    );
    assert_eq!(queued(&s.spool, "tcp_local").len(), 1, "still queued");

    let sink = Sink::start(format!("127.0.0.5:{port}").parse().expect("addr"), &[]);
    drained(&s, "tcp_local").await;
    wait_for("jobctl to forget the job", T, || async {
        jobctl.show(&id).await.is_none().then_some(())
    })
    .await;
    let got = sink.messages();
    assert_eq!(got.len(), 1, "exactly once: {got:?}");
    assert!(got[0].contains("Subject: test d1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_failure_bounces_to_the_sender() {
    let port = free_port(&["127.0.0.6"]);
    let dns = Dns::start(
        &["bad.test"],
        &[
            Rr::Mx("bad.test", 10, "mx.bad.test"),
            Rr::A("mx.bad.test", "127.0.0.6"),
        ],
    )
    .await;
    let s = setup(port, "opportunistic", dns, slow_policy()).await;
    let sink = Sink::start(
        format!("127.0.0.6:{port}").parse().expect("addr"),
        &[
            "-f",
            "RCPT",
            "-B",
            "550 5.1.1 Recipient address rejected: User unknown",
        ],
    );
    let bob = QueuedRecipient {
        orcpt: Some(Orcpt {
            addr_type: "rfc822".into(),
            address: "Bob.Original@bad.test".into(),
        }),
        ..rcpt("bob@bad.test")
    };
    let quiet = QueuedRecipient {
        notify: Some(Notify::default()), // NOTIFY=NEVER
        ..rcpt("quiet@bad.test")
    };
    let env = enqueue(
        &s.spool,
        &s.jobctl,
        "tcp_local",
        "bad.test",
        "alice@example.org",
        &[bob, quiet],
        "b1",
    )
    .await;
    drained(&s, "tcp_local").await;
    let d = dsns(&s, 1).await;
    assert_eq!(d.len(), 1);
    let (denv, text) = &d[0];
    assert_eq!(denv.sender, "", "DSNs come from the null sender");
    assert_eq!(denv.recipients[0].address, "alice@example.org");
    for needle in [
        "Content-Type: multipart/report; report-type=delivery-status;",
        "Reporting-MTA: dns; relay.example.org",
        "Original-Envelope-Id: ENV-b1",
        "Arrival-Date: ",
        "Final-Recipient: rfc822; bob@bad.test",
        "Original-Recipient: rfc822; Bob.Original@bad.test",
        "Action: failed",
        "Status: 5.1.1",
        "Remote-MTA: dns; mx.bad.test",
        "Diagnostic-Code: smtp; 550 5.1.1 Recipient address rejected: User unknown",
        "Content-Type: text/rfc822-headers",
        "Subject: test b1",
    ] {
        assert!(text.contains(needle), "missing {needle:?}:\n{text}");
    }
    assert!(
        !text.contains("quiet@bad.test"),
        "NOTIFY=NEVER is not reported:\n{text}"
    );
    assert!(!text.contains("Hello b1"), "headers only without RET=FULL");
    assert!(sink.messages().is_empty());
    assert!(s.jobctl.show(&env.id.to_string()).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_until_the_lifetime_ends_delay_then_bounce() {
    let port = free_port(&["127.0.0.7"]);
    let dns = Dns::start(
        &["busy.test"],
        &[
            Rr::Mx("busy.test", 10, "mx.busy.test"),
            Rr::A("mx.busy.test", "127.0.0.7"),
        ],
    )
    .await;
    let s = setup(port, "opportunistic", dns, fast_policy("1s", "1s", "4s")).await;
    let _sink = Sink::start(
        format!("127.0.0.7:{port}").parse().expect("addr"),
        &["-r", "RCPT", "-b", "452 4.2.2 Mailbox full"],
    );
    enqueue(
        &s.spool,
        &s.jobctl,
        "tcp_local",
        "busy.test",
        "alice@example.org",
        &[rcpt("erin@busy.test")],
        "e1",
    )
    .await;
    let d = dsns(&s, 2).await;
    drained(&s, "tcp_local").await;
    let (delay, bounce) = (&d[0].1, &d[1].1);
    assert!(delay.contains("Action: delayed"), "{delay}");
    assert!(delay.contains("Status: 4.2.2"), "{delay}");
    assert!(delay.contains("Will-Retry-Until: "), "{delay}");
    assert!(
        delay.contains("Diagnostic-Code: smtp; 452 4.2.2 Mailbox full"),
        "{delay}"
    );
    assert!(bounce.contains("Action: failed"), "{bounce}");
    assert!(bounce.contains("Status: 4.4.7"), "{bounce}");
    assert!(bounce.contains("452 4.2.2 Mailbox full"), "{bounce}");
    assert!(
        bounce.contains("Final-Recipient: rfc822; erin@busy.test"),
        "{bounce}"
    );
    assert_eq!(d.len(), 2, "one delay notice, one bounce");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_required_but_not_offered_defers() {
    let port = free_port(&["127.0.0.8"]);
    let dns = Dns::start(
        &["plain.test"],
        &[
            Rr::Mx("plain.test", 10, "mx.plain.test"),
            Rr::A("mx.plain.test", "127.0.0.8"),
        ],
    )
    .await;
    let s = setup(port, "required", dns, slow_policy()).await;
    let sink = Sink::start(format!("127.0.0.8:{port}").parse().expect("addr"), &[]);
    let env = enqueue(
        &s.spool,
        &s.jobctl,
        "tcp_local",
        "plain.test",
        "alice@example.org",
        &[rcpt("frank@plain.test")],
        "t1",
    )
    .await;
    let id = env.id.to_string();
    let jobctl = &s.jobctl;
    let job = wait_for("a deferred attempt", T, || async {
        let sh = jobctl.show(&id).await?;
        (!sh.history.is_empty()).then_some(sh.job?)
    })
    .await;
    assert!(
        job.last_error
            .contains("STARTTLS not offered by mx.plain.test"),
        "{}",
        job.last_error
    );
    assert!(
        job.last_error.starts_with("451 4.7.10"),
        "{}",
        job.last_error
    );
    assert_eq!(queued(&s.spool, "tcp_local").len(), 1);
    assert!(sink.messages().is_empty(), "nothing sent in clear");
}
