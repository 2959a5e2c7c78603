//! The schedule's rules, on a real RocksDB state in a temporary directory,
//! with explicit clock values so backoff and lifetimes are tested exactly.

use std::collections::BTreeMap;
use std::time::Duration;

use mail_jobctl::schedule::{Schedule, Submitted};
use mail_jobctl::state::State;
use mail_jobctl::{ChannelPolicy, JobctlConfig};
use mail_proto::jobctl::v1::{Job, JobState, Outcome, Recipient, RecipientResult, RetryPolicy};

fn config(dir: &std::path::Path) -> JobctlConfig {
    let mut channels = BTreeMap::new();
    channels.insert("tcp_local".to_string(), ChannelPolicy { max_workers: 2 });
    let mut c = JobctlConfig::new("127.0.0.1:0".parse().expect("addr"), dir);
    c.max_lease = Duration::from_secs(300);
    c.channels = channels;
    c.forget_deleted_after = Duration::from_secs(1000);
    c
}

fn open(dir: &std::path::Path, now: i64) -> Schedule {
    Schedule::open(State::open(dir).expect("state"), config(dir), now).expect("schedule")
}

fn job(id: &str, priority: i32, rcpts: &[&str]) -> Job {
    Job {
        queue_id: id.into(),
        relay: "relay-a".into(),
        channel: "tcp_local".into(),
        host: "example.net".into(),
        sender: "alice@example.test".into(),
        recipients: rcpts
            .iter()
            .map(|a| Recipient {
                address: (*a).into(),
                ..Default::default()
            })
            .collect(),
        priority,
        // The relay's channel keywords travel with the job.
        policy: Some(RetryPolicy {
            retry_seconds: vec![60, 600],
            max_lifetime_seconds: 3600,
            delay_notice_seconds: 900,
            no_delay_notice: false,
        }),
        ..Default::default()
    }
}

fn result(addr: &str, outcome: Outcome) -> RecipientResult {
    RecipientResult {
        address: addr.into(),
        outcome: outcome as i32,
        detail: format!("{outcome:?}"),
    }
}

fn lease(s: &mut Schedule, worker: &str, max: u32, now: i64) -> Vec<String> {
    s.lease(
        worker,
        "relay-a",
        "tcp_local",
        max,
        Duration::from_secs(60),
        now,
    )
    .into_iter()
    .map(|j| j.queue_id)
    .collect()
}

#[test]
fn priority_first_then_new_mail_ahead_of_retries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = open(dir.path(), 1000);
    s.submit(job("old", 0, &["a@x.net"]), 1000).expect("submit");
    let got = lease(&mut s, "w1", 1, 1000);
    assert_eq!(got, ["old"]);
    s.report("w1", "old", vec![result("a@x.net", Outcome::Retry)], 1001)
        .expect("report");
    s.submit(job("new", 0, &["b@x.net"]), 1100).expect("submit");
    s.submit(job("urgent", 5, &["c@x.net"]), 1101)
        .expect("submit");
    s.tick(2000); // "old" is due again
    let order = lease(&mut s, "w1", 1, 2000)
        .into_iter()
        .chain(lease(&mut s, "w2", 1, 2000))
        .collect::<Vec<_>>();
    assert_eq!(order, ["urgent", "new"], "max_workers is 2, so old waits");
    s.report(
        "w1",
        "urgent",
        vec![result("c@x.net", Outcome::Delivered)],
        2001,
    )
    .expect("report");
    assert_eq!(lease(&mut s, "w1", 1, 2001), ["old"]);
}

#[test]
fn per_recipient_results_backoff_delay_notice_and_expiry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = open(dir.path(), 0);
    s.submit(job("q1", 0, &["a@x.net", "b@x.net", "c@x.net"]), 0)
        .expect("submit");
    assert_eq!(lease(&mut s, "w", 1, 0), ["q1"]);
    let r = s
        .report(
            "w",
            "q1",
            vec![
                result("a@x.net", Outcome::Delivered),
                result("b@x.net", Outcome::Failed),
                result("c@x.net", Outcome::Retry),
            ],
            10,
        )
        .expect("report");
    assert!(!r.done);
    assert_eq!(r.next_attempt_at, 70, "first retry waits 60 s");
    let (j, history) = s.show("q1").expect("show");
    assert_eq!(j.recipients.len(), 1, "only the deferred recipient remains");
    assert_eq!(j.state, JobState::Deferred as i32);
    assert_eq!(history.len(), 1);
    assert!(lease(&mut s, "w", 1, 69).is_empty(), "not due yet");

    s.tick(70);
    assert_eq!(lease(&mut s, "w", 1, 70), ["q1"]);
    let r = s
        .report("w", "q1", vec![result("c@x.net", Outcome::Retry)], 1000)
        .expect("report");
    assert_eq!(
        r.delay_notice,
        ["c@x.net"],
        "older than 900 s: one delay notice"
    );
    assert_eq!(r.next_attempt_at, 1600, "second retry waits 600 s");

    s.tick(1600);
    lease(&mut s, "w", 1, 1600);
    let r = s
        .report("w", "q1", vec![result("c@x.net", Outcome::Retry)], 1700)
        .expect("report");
    assert!(r.delay_notice.is_empty(), "the delay notice goes once");

    s.tick(2300);
    lease(&mut s, "w", 1, 2300);
    let r = s
        .report("w", "q1", vec![result("c@x.net", Outcome::Retry)], 3700)
        .expect("report");
    assert!(r.done);
    assert_eq!(
        r.expired,
        ["c@x.net"],
        "past max_lifetime the recipient bounces"
    );
    assert!(s.show("q1").is_err());
}

#[test]
fn state_survives_restart_and_outstanding_leases_come_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut s = open(dir.path(), 0);
        for i in 0..50 {
            s.submit(job(&format!("q{i:02}"), 0, &["a@x.net"]), i)
                .expect("submit");
        }
        assert_eq!(lease(&mut s, "w", 2, 100).len(), 2);
        s.report("w", "q00", vec![result("a@x.net", Outcome::Delivered)], 101)
            .expect("report");
        s.hold("q10").expect("hold");
    }
    let mut s = open(dir.path(), 200);
    assert_eq!(
        s.len(),
        49,
        "the delivered job is gone, every other survived"
    );
    let mut seen = Vec::new();
    loop {
        let got = lease(&mut s, "w2", 2, 200);
        if got.is_empty() {
            break;
        }
        for id in got {
            s.report("w2", &id, vec![result("a@x.net", Outcome::Delivered)], 201)
                .expect("report");
            seen.push(id);
        }
    }
    assert_eq!(
        seen.len(),
        48,
        "q01 (leased before the restart) is offered again; q10 stays held"
    );
    assert!(seen.contains(&"q01".to_string()));
    assert!(!seen.contains(&"q10".to_string()));
    s.release("q10", 300).expect("release");
    assert_eq!(lease(&mut s, "w2", 1, 300), ["q10"]);
}

#[test]
fn expired_lease_moves_to_another_worker_and_the_old_report_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = open(dir.path(), 0);
    s.submit(job("q", 0, &["a@x.net"]), 0).expect("submit");
    assert_eq!(lease(&mut s, "slow", 1, 0), ["q"]);
    s.tick(61);
    assert_eq!(lease(&mut s, "fast", 1, 61), ["q"]);
    let err = s
        .report("slow", "q", vec![result("a@x.net", Outcome::Delivered)], 62)
        .expect_err("the lease moved");
    assert!(err.to_string().contains("leased by fast"), "{err}");
    assert!(
        s.report("fast", "q", vec![result("a@x.net", Outcome::Delivered)], 63)
            .expect("report")
            .done
    );
}

#[test]
fn operator_commands_and_stats() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = open(dir.path(), 0);
    s.submit(job("a", 0, &["a@x.net"]), 0).expect("submit");
    s.submit(job("b", 0, &["b@x.net"]), 0).expect("submit");
    s.submit(job("c", 0, &["c@x.net"]), 0).expect("submit");
    s.hold("a").expect("hold");
    s.delete("b", 1).expect("delete");
    assert!(s.delete("b", 1).is_err());
    assert_eq!(lease(&mut s, "w", 5, 1), ["c"]);
    let (channels, workers) = s.stats();
    assert_eq!(channels.len(), 1);
    assert_eq!(
        (channels[0].held, channels[0].active, channels[0].ready),
        (1, 1, 0)
    );
    assert_eq!(channels[0].workers_busy, 1);
    assert_eq!(workers[0].worker_id, "w");
    assert!(workers[0].busy);
    s.report("w", "c", vec![result("c@x.net", Outcome::Retry)], 2)
        .expect("report");
    s.retry("c", 3).expect("retry");
    assert_eq!(
        lease(&mut s, "w", 5, 3),
        ["c"],
        "retry makes a deferred job due now"
    );
    let listed = s.list("", JobState::Held, 0);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].queue_id, "a");
}

#[test]
fn bad_submissions_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = open(dir.path(), 0);
    assert!(s.submit(job("", 0, &["a@x.net"]), 0).is_err());
    assert!(s.submit(job("x", 0, &[]), 0).is_err());
    let mut j = job("y", 0, &["a@x.net"]);
    j.channel.clear();
    assert!(s.submit(j, 0).is_err());
    assert!(s.is_empty());
}

#[test]
fn a_restarted_relay_gets_its_leased_jobs_back_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = open(dir.path(), 0);
    s.submit(job("mine", 0, &["a@x.net"]), 0).expect("submit");
    let mut other = job("theirs", 0, &["b@x.net"]);
    other.relay = "relay-b".into();
    s.submit(other, 0).expect("submit");
    assert_eq!(lease(&mut s, "relay-a/tcp_local/0", 1, 1), ["mine"]);
    let theirs = s.lease(
        "relay-b/tcp_local/0",
        "relay-b",
        "tcp_local",
        1,
        Duration::from_secs(60),
        1,
    );
    assert_eq!(theirs.len(), 1);
    // Its process was killed: the lease would last another 59 s.
    assert!(lease(&mut s, "relay-a/tcp_local/0", 1, 2).is_empty());
    assert_eq!(s.relay_started("relay-a"), 1);
    assert_eq!(lease(&mut s, "relay-a/tcp_local/0", 1, 2), ["mine"]);
    // A further restart voids the new lease too; relay-c holds nothing.
    assert_eq!(s.relay_started("relay-a"), 1);
    assert_eq!(s.relay_started("relay-c"), 0);
    // relay-b's lease is untouched: a report by another worker is refused.
    let err = s
        .report(
            "relay-b/x",
            "theirs",
            vec![result("b@x.net", Outcome::Delivered)],
            3,
        )
        .expect_err("still leased by relay-b's worker");
    assert!(
        err.to_string().contains("leased by relay-b/tcp_local/0"),
        "{err}"
    );
}

#[test]
fn a_deleted_job_is_not_queued_again_until_its_relay_confirms_the_file_is_gone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = open(dir.path(), 0);
    for id in ["a", "b"] {
        assert_eq!(
            s.submit(job(id, 0, &["x@x.net"]), 0).expect("submit"),
            Submitted::Queued
        );
    }
    // "a" is leased when the operator deletes it: its slot of the
    // channel's two comes back at once (its report will be refused).
    assert_eq!(lease(&mut s, "w1", 1, 1), ["a"]);
    s.delete("a", 2).expect("delete a");
    s.delete("b", 2).expect("delete b");
    assert!(
        s.report("w1", "a", vec![result("x@x.net", Outcome::Delivered)], 3)
            .is_err()
    );
    assert_eq!(
        s.stats().1[0].leased,
        0,
        "the deleted lease no longer counts"
    );

    // The relay's resubmission (say after its restart) is answered
    // "deleted", before and after jobctl restarts.
    assert_eq!(
        s.submit(job("a", 0, &["x@x.net"]), 3).expect("resubmit"),
        Submitted::Deleted
    );
    drop(s);
    let mut s = open(dir.path(), 4);
    assert_eq!(
        s.submit(job("b", 0, &["x@x.net"]), 4).expect("resubmit"),
        Submitted::Deleted
    );
    assert!(s.list("", JobState::Unspecified, 0).is_empty());

    // Lease answers list them until the relay confirms; only the first
    // listing is news (a waiting Lease returns early for news only).
    assert!(s.has_news_for("relay-a"));
    let (listed, news) = s.deleted_for("relay-a", &[]).expect("deleted");
    let ids: Vec<&str> = listed.iter().map(|d| d.queue_id.as_str()).collect();
    assert_eq!((ids, news), (vec!["a", "b"], true));
    assert_eq!(listed[0].channel, "tcp_local");
    let (listed, news) = s.deleted_for("relay-a", &["a".into()]).expect("ack a");
    assert_eq!((listed.len(), news), (1, false));
    assert!(
        s.deleted_for("relay-other", &[])
            .expect("other")
            .0
            .is_empty()
    );
    drop(s);

    // The confirmation is kept; an unconfirmed deletion is forgotten after
    // forget_deleted_after (1000 s here).
    let mut s = open(dir.path(), 10);
    let (listed, _) = s.deleted_for("relay-a", &[]).expect("deleted");
    assert_eq!(listed.len(), 1);
    assert_eq!(s.tick(1001), 0);
    assert_eq!(s.deleted_for("relay-a", &[]).expect("deleted").0.len(), 1);
    s.tick(1003);
    assert!(s.deleted_for("relay-a", &[]).expect("deleted").0.is_empty());
    assert_eq!(
        s.submit(job("b", 0, &["x@x.net"]), 1004).expect("resubmit"),
        Submitted::Queued
    );
}

#[test]
fn tick_counts_the_jobs_it_makes_ready() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = open(dir.path(), 0);
    s.submit(job("a", 0, &["x@x.net"]), 0).expect("submit");
    assert_eq!(lease(&mut s, "w", 1, 0), ["a"]);
    s.report("w", "a", vec![result("x@x.net", Outcome::Retry)], 0)
        .expect("report");
    assert_eq!(s.tick(59), 0);
    assert!(!s.has_ready_on("tcp_local"));
    assert_eq!(s.tick(60), 1, "due after the first retry interval (60 s)");
    assert!(s.has_ready_on("tcp_local"));
    assert_eq!(s.tick(61), 0);
}
