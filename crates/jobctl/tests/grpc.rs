//! The gRPC API with a real tonic client against the server on loopback.
//!
//! Wake-ups are tested with the waiting Lease known to be parked (its
//! worker shows in `Stats`) before the event that must wake it, and with
//! a Lease wait far longer than the time allowed: a Lease that is not
//! woken returns only at its wait's end, and the test fails.

use std::time::{Duration, Instant};

use mail_core::Shutdown;
use mail_jobctl::{ChannelPolicy, JobController, JobctlConfig};
use mail_proto::jobctl::v1::job_controller_client::JobControllerClient;
use mail_proto::jobctl::v1::{
    Job, JobRef, LeaseRequest, LeaseResponse, Outcome, Recipient, RecipientResult, ReportRequest,
    RetryPolicy, StatsRequest, SubmitRequest,
};
use tonic::transport::Channel;

/// A Lease waits this long: far beyond what any wake-up may take.
const LONG_WAIT: u32 = 25_000;
/// What a wake-up may take, loaded CI machine included.
const PROMPT: Duration = Duration::from_secs(5);

type Client = JobControllerClient<Channel>;

async fn start(dir: &std::path::Path, shutdown: &Shutdown, max_workers: u32) -> String {
    let mut cfg = JobctlConfig::new("127.0.0.1:0".parse().expect("addr"), dir);
    cfg.max_lease = Duration::from_secs(60);
    cfg.default_channel = ChannelPolicy { max_workers };
    let jc = JobController::open(cfg, shutdown.clone()).expect("open");
    let addr = jc
        .serve("127.0.0.1:0".parse().expect("addr"), None, shutdown)
        .await
        .expect("serve");
    format!("http://{addr}")
}

async fn client(url: &str) -> Client {
    JobControllerClient::connect(url.to_string())
        .await
        .expect("connect")
}

fn job(id: &str, channel: &str, policy: Option<RetryPolicy>) -> Job {
    Job {
        queue_id: id.into(),
        relay: "mta-1".into(),
        channel: channel.into(),
        host: "store-1".into(),
        sender: "a@example.test".into(),
        recipients: vec![Recipient {
            address: "b@example.test".into(),
            ..Default::default()
        }],
        policy,
        ..Default::default()
    }
}

async fn submit(c: &mut Client, job: Job) -> bool {
    c.submit(SubmitRequest { job: Some(job) })
        .await
        .expect("submit")
        .into_inner()
        .deleted
}

fn lease_req(worker: &str, channel: &str, wait_millis: u32) -> LeaseRequest {
    LeaseRequest {
        worker_id: worker.into(),
        relay: "mta-1".into(),
        channel: channel.into(),
        max_jobs: 1,
        lease_seconds: 30,
        wait_millis,
        removed: Vec::new(),
    }
}

async fn report(c: &mut Client, worker: &str, id: &str, outcome: Outcome) -> bool {
    c.report(ReportRequest {
        worker_id: worker.into(),
        queue_id: id.into(),
        results: vec![RecipientResult {
            address: "b@example.test".into(),
            outcome: outcome as i32,
            detail: "test".into(),
        }],
    })
    .await
    .expect("report")
    .into_inner()
    .done
}

/// Starts a Lease of `worker` waiting [`LONG_WAIT`] and returns once it
/// is parked in jobctl (the worker shows in Stats: its Lease has looked
/// and registered for a wake-up). Yields the answer and how long the
/// Lease took.
async fn parked_lease(
    url: &str,
    req: LeaseRequest,
) -> tokio::task::JoinHandle<(LeaseResponse, Duration)> {
    let worker = req.worker_id.clone();
    let mut c = client(url).await;
    let task = tokio::spawn(async move {
        let t = Instant::now();
        let r = c.lease(req).await.expect("lease").into_inner();
        (r, t.elapsed())
    });
    let mut probe = client(url).await;
    let deadline = Instant::now() + PROMPT;
    loop {
        let stats = probe
            .stats(StatsRequest {})
            .await
            .expect("stats")
            .into_inner();
        if stats.workers.iter().any(|w| w.worker_id == worker) {
            return task;
        }
        assert!(Instant::now() < deadline, "{worker}'s Lease never parked");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_waiting_worker_is_woken_by_a_submit_and_results_are_recorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shutdown = Shutdown::new();
    let url = start(dir.path(), &shutdown, 20).await;
    let mut relay = client(&url).await;

    let waiting = parked_lease(&url, lease_req("lmtp-1", "lmtp", LONG_WAIT)).await;
    assert!(!submit(&mut relay, job("Q1", "lmtp", None)).await);
    let (leased, waited) = waiting.await.expect("join");
    assert_eq!(leased.jobs.len(), 1);
    assert!(waited < PROMPT, "woken by the submit, not the timeout");

    let stats = relay
        .stats(StatsRequest {})
        .await
        .expect("stats")
        .into_inner();
    assert_eq!(stats.channels[0].active, 1);
    assert_eq!(stats.workers[0].worker_id, "lmtp-1");

    assert!(report(&mut relay, "lmtp-1", "Q1", Outcome::Delivered).await);
    let missing = relay
        .show(JobRef {
            queue_id: "Q1".into(),
        })
        .await
        .expect_err("gone");
    assert_eq!(missing.code(), tonic::Code::NotFound);
    let bad = relay
        .submit(SubmitRequest { job: None })
        .await
        .expect_err("no job");
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    assert_eq!(shutdown.drain(Duration::from_secs(5)).await, 0);
}

/// A deferred job falls due while another channel's workers poll: their
/// Lease calls tick the schedule too, and the tick that makes the job
/// ready must wake its channel's parked worker (once it did not, and the
/// job waited for the worker's whole Lease wait).
#[tokio::test]
async fn a_retry_falling_due_wakes_its_parked_worker_whoever_ticks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shutdown = Shutdown::new();
    let url = start(dir.path(), &shutdown, 20).await;
    let mut relay = client(&url).await;
    let policy = RetryPolicy {
        retry_seconds: vec![2],
        ..Default::default()
    };
    submit(&mut relay, job("R1", "lmtp", Some(policy))).await;
    let first = relay
        .lease(lease_req("lmtp-1", "lmtp", 0))
        .await
        .expect("lease")
        .into_inner();
    assert_eq!(first.jobs.len(), 1);
    assert!(!report(&mut relay, "lmtp-1", "R1", Outcome::Retry).await);
    let due = Instant::now() + Duration::from_secs(2);

    // Another channel's worker polls all the time, so its ticks are nearly
    // always the ones that find the job due.
    let poller_url = url.clone();
    let stop = shutdown.clone();
    let poller = tokio::spawn(async move {
        let mut c = client(&poller_url).await;
        while !stop.is_triggered() {
            let _ = c.lease(lease_req("smtp-1", "tcp_local", 0)).await;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    let waiting = parked_lease(&url, lease_req("lmtp-2", "lmtp", LONG_WAIT)).await;
    let (leased, _) = waiting.await.expect("join");
    let late = Instant::now().saturating_duration_since(due);
    assert_eq!(leased.jobs.len(), 1, "the retry was leased");
    assert!(
        late < PROMPT,
        "the due retry reached its parked worker {late:?} after its due time"
    );
    shutdown.trigger();
    poller.await.expect("poller");
    assert_eq!(shutdown.drain(Duration::from_secs(5)).await, 0);
}

/// With the channel at its max_workers, a parked worker gets the next
/// ready job as soon as a report frees a slot.
#[tokio::test]
async fn a_report_freeing_a_slot_wakes_a_parked_worker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shutdown = Shutdown::new();
    let url = start(dir.path(), &shutdown, 1).await;
    let mut relay = client(&url).await;
    submit(&mut relay, job("S1", "lmtp", None)).await;
    submit(&mut relay, job("S2", "lmtp", None)).await;
    let first = relay
        .lease(lease_req("lmtp-1", "lmtp", 0))
        .await
        .expect("lease")
        .into_inner();
    assert_eq!(first.jobs[0].queue_id, "S1");

    let waiting = parked_lease(&url, lease_req("lmtp-2", "lmtp", LONG_WAIT)).await;
    let reported = Instant::now();
    assert!(report(&mut relay, "lmtp-1", "S1", Outcome::Delivered).await);
    let (leased, _) = waiting.await.expect("join");
    assert_eq!(leased.jobs[0].queue_id, "S2");
    assert!(
        reported.elapsed() < PROMPT,
        "the freed slot reached the parked worker after {:?}",
        reported.elapsed()
    );
    assert_eq!(shutdown.drain(Duration::from_secs(5)).await, 0);
}

/// An operator's Delete reaches the relay's parked Lease at once; the
/// relay confirms removing the file in a later Lease, and a resubmission
/// in between is answered "deleted".
#[tokio::test]
async fn a_delete_is_told_to_the_relay_until_it_confirms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shutdown = Shutdown::new();
    let url = start(dir.path(), &shutdown, 20).await;
    let mut relay = client(&url).await;
    let mut held = job("D1", "tcp_local", None);
    held.state = 0;
    submit(&mut relay, held.clone()).await;
    relay
        .hold(JobRef {
            queue_id: "D1".into(),
        })
        .await
        .expect("hold");

    let waiting = parked_lease(&url, lease_req("lmtp-1", "lmtp", LONG_WAIT)).await;
    let deleted_at = Instant::now();
    relay
        .delete(JobRef {
            queue_id: "D1".into(),
        })
        .await
        .expect("delete");
    let (answer, _) = waiting.await.expect("join");
    assert!(deleted_at.elapsed() < PROMPT);
    assert!(answer.jobs.is_empty());
    assert_eq!(answer.deleted.len(), 1);
    assert_eq!(
        (
            answer.deleted[0].queue_id.as_str(),
            answer.deleted[0].channel.as_str()
        ),
        ("D1", "tcp_local")
    );

    assert!(
        submit(&mut relay, held.clone()).await,
        "resubmission refused"
    );
    let again = relay
        .lease(lease_req("lmtp-1", "lmtp", 0))
        .await
        .expect("lease")
        .into_inner();
    assert_eq!(again.deleted.len(), 1, "listed until confirmed");
    let mut confirm = lease_req("lmtp-1", "lmtp", 0);
    confirm.removed = vec!["D1".into()];
    let confirmed = relay.lease(confirm).await.expect("lease").into_inner();
    assert!(confirmed.deleted.is_empty());
    assert_eq!(shutdown.drain(Duration::from_secs(5)).await, 0);
}
