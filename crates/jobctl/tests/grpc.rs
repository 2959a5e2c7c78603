//! The gRPC API with a real tonic client against the server on loopback.

use std::time::{Duration, Instant};

use mail_core::Shutdown;
use mail_jobctl::{ChannelPolicy, JobController, JobctlConfig};
use mail_proto::jobctl::v1::job_controller_client::JobControllerClient;
use mail_proto::jobctl::v1::{
    Job, JobRef, LeaseRequest, Outcome, Recipient, RecipientResult, ReportRequest, StatsRequest,
    SubmitRequest,
};

async fn start(dir: &std::path::Path, shutdown: &Shutdown) -> String {
    let cfg = JobctlConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        state_dir: dir.to_path_buf(),
        max_lease: Duration::from_secs(60),
        default_channel: ChannelPolicy::default(),
        channels: Default::default(),
    };
    let jc = JobController::open(cfg, shutdown.clone()).expect("open");
    let addr = jc
        .serve("127.0.0.1:0".parse().expect("addr"), shutdown)
        .await
        .expect("serve");
    format!("http://{addr}")
}

#[tokio::test]
async fn a_waiting_worker_is_woken_by_a_submit_and_results_are_recorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shutdown = Shutdown::new();
    let url = start(dir.path(), &shutdown).await;
    let mut worker = JobControllerClient::connect(url.clone())
        .await
        .expect("connect");
    let mut relay = JobControllerClient::connect(url).await.expect("connect");

    let waiting = tokio::spawn(async move {
        let t = Instant::now();
        let r = worker
            .lease(LeaseRequest {
                worker_id: "lmtp-1".into(),
                relay: "mta-1".into(),
                channel: "lmtp".into(),
                max_jobs: 4,
                lease_seconds: 30,
                wait_millis: 10_000,
            })
            .await
            .expect("lease")
            .into_inner();
        (r, t.elapsed(), worker)
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    relay
        .submit(SubmitRequest {
            job: Some(Job {
                queue_id: "Q1".into(),
                relay: "mta-1".into(),
                channel: "lmtp".into(),
                host: "store-1".into(),
                sender: "a@example.test".into(),
                recipients: vec![Recipient {
                    address: "b@example.test".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        })
        .await
        .expect("submit");
    let (leased, waited, mut worker) = waiting.await.expect("join");
    assert_eq!(leased.jobs.len(), 1);
    assert!(
        waited < Duration::from_secs(5),
        "woken by the submit, not the timeout"
    );

    let stats = relay
        .stats(StatsRequest {})
        .await
        .expect("stats")
        .into_inner();
    assert_eq!(stats.channels[0].active, 1);
    assert_eq!(stats.workers[0].worker_id, "lmtp-1");

    let r = worker
        .report(ReportRequest {
            worker_id: "lmtp-1".into(),
            queue_id: "Q1".into(),
            results: vec![RecipientResult {
                address: "b@example.test".into(),
                outcome: Outcome::Delivered as i32,
                detail: "250 2.0.0 OK".into(),
            }],
        })
        .await
        .expect("report")
        .into_inner();
    assert!(r.done);
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
