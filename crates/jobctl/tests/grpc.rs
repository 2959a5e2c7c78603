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

/// Mutual TLS: who may call what, and the codes of a refusal.
mod access {
    use super::*;
    use mail_core::grpc::{Allow, ClientTls, Role, ServerTls};
    use mail_core::pki;
    use mail_proto::jobctl::v1::ListRequest;
    use tonic::Code;
    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

    struct Pki {
        dir: tempfile::TempDir,
    }

    impl Pki {
        fn new() -> Self {
            let dir = tempfile::tempdir().expect("tempdir");
            pki::create_ca(&dir.path().join("ca")).expect("ca");
            pki::create_ca(&dir.path().join("other-ca")).expect("other ca");
            let hosts = ["127.0.0.1".to_string()];
            pki::issue(
                &dir.path().join("ca"),
                "jobctl",
                Role::Jobctl,
                &hosts,
                30,
                dir.path(),
            )
            .expect("issue");
            for (name, role) in [
                ("mta-1", Role::Relay),
                ("mta-stranger", Role::Relay),
                ("alice", Role::Operator),
                ("mallory", Role::Operator),
                ("store-1", Role::Store),
            ] {
                pki::issue(&dir.path().join("ca"), name, role, &[], 30, dir.path()).expect("issue");
            }
            // Same name and role, another CA.
            pki::issue(
                &dir.path().join("other-ca"),
                "alice",
                Role::Operator,
                &[],
                30,
                &dir.path().join("other"),
            )
            .expect("issue");
            Self { dir }
        }

        fn path(&self, p: &str) -> std::path::PathBuf {
            self.dir.path().join(p)
        }

        fn server(&self) -> ServerTls {
            ServerTls {
                ca: self.path("ca/ca.pem"),
                cert: self.path("jobctl.pem"),
                key: self.path("jobctl.key"),
                handshake_timeout: Duration::from_secs(5),
                allow: Allow {
                    relay: ["mta-1".to_string()].into(),
                    operator: ["alice".to_string()].into(),
                    ..Default::default()
                },
            }
        }

        fn client(&self, name: &str) -> ClientTls {
            ClientTls {
                ca: self.path("ca/ca.pem"),
                cert: self.path(&format!("{name}.pem")),
                key: self.path(&format!("{name}.key")),
                server_name: None,
            }
        }
    }

    async fn start_tls(dir: &std::path::Path, shutdown: &Shutdown, tls: &ServerTls) -> String {
        let cfg = JobctlConfig::new("127.0.0.1:0".parse().expect("addr"), dir);
        let jc = JobController::open(cfg, shutdown.clone()).expect("open");
        let addr = jc
            .serve("127.0.0.1:0".parse().expect("addr"), Some(tls), shutdown)
            .await
            .expect("serve");
        addr.to_string()
    }

    async fn as_client(addr: &str, tls: &ClientTls) -> Result<Client, tonic::transport::Error> {
        let e = mail_core::grpc::endpoint(addr, Some(tls)).expect("endpoint");
        Ok(JobControllerClient::new(e.connect().await?))
    }

    async fn list(c: &mut Client) -> Result<usize, tonic::Status> {
        c.list(ListRequest::default())
            .await
            .map(|r| r.into_inner().jobs.len())
    }

    #[tokio::test]
    async fn relays_feed_the_queue_operators_steer_it_others_are_refused() {
        let pki = Pki::new();
        let state = tempfile::tempdir().expect("tempdir");
        let shutdown = Shutdown::new();
        let addr = start_tls(state.path(), &shutdown, &pki.server()).await;

        let mut relay = as_client(&addr, &pki.client("mta-1")).await.expect("relay");
        assert!(!submit(&mut relay, job("T1", "lmtp", None)).await);
        let leased = relay
            .lease(lease_req("mta-1/lmtp/1", "lmtp", 0))
            .await
            .expect("lease")
            .into_inner();
        assert_eq!(leased.jobs.len(), 1);
        let denied = relay
            .delete(JobRef {
                queue_id: "T1".into(),
            })
            .await
            .expect_err("a relay may not delete");
        assert_eq!(denied.code(), Code::PermissionDenied);
        assert!(denied.message().contains("mta-1 (relay)"), "{denied:?}");
        assert_eq!(
            list(&mut relay).await.expect_err("nor list").code(),
            Code::PermissionDenied
        );

        let mut alice = as_client(&addr, &pki.client("alice")).await.expect("alice");
        assert_eq!(list(&mut alice).await.expect("list"), 1);
        let refused = alice
            .submit(SubmitRequest {
                job: Some(job("T2", "lmtp", None)),
            })
            .await
            .expect_err("an operator does not submit");
        assert_eq!(refused.code(), Code::PermissionDenied);
        alice
            .delete(JobRef {
                queue_id: "T1".into(),
            })
            .await
            .expect("an operator deletes");

        // The right role but not listed, a listed name in a role this API
        // does not serve, and a certificate of another CA.
        for name in ["mta-stranger", "mallory", "store-1"] {
            let mut c = as_client(&addr, &pki.client(name)).await.expect(name);
            let e = list(&mut c).await.expect_err(name);
            assert_eq!(e.code(), Code::PermissionDenied, "{name}: {e:?}");
            let e = c.lease(lease_req("x", "lmtp", 0)).await.expect_err(name);
            assert_eq!(e.code(), Code::PermissionDenied, "{name}: {e:?}");
        }
        let mut foreign = pki.client("alice");
        foreign.cert = pki.path("other/alice.pem");
        foreign.key = pki.path("other/alice.key");
        let refused = match as_client(&addr, &foreign).await {
            Err(_) => true,
            Ok(mut c) => list(&mut c).await.is_err(),
        };
        assert!(refused, "a certificate of another CA is refused");

        // TLS without a client certificate: UNAUTHENTICATED.
        let anonymous = Endpoint::from_shared(format!("https://{addr}"))
            .expect("endpoint")
            .tls_config(
                ClientTlsConfig::new()
                    .ca_certificate(Certificate::from_pem(
                        std::fs::read(pki.path("ca/ca.pem")).expect("ca"),
                    ))
                    .domain_name("127.0.0.1"),
            )
            .expect("tls")
            .connect()
            .await
            .expect("a client without a certificate completes the handshake");
        let e = list(&mut JobControllerClient::new(anonymous))
            .await
            .expect_err("anonymous");
        assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");

        // Plaintext against the TLS port gets nowhere.
        let plain = Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5));
        if let Ok(ch) = plain.connect().await {
            assert!(list(&mut JobControllerClient::new(ch)).await.is_err());
        }
        assert_eq!(shutdown.drain(Duration::from_secs(5)).await, 0);
    }
}
