//! The `jobctl.v1.JobController` gRPC service over the [`Schedule`].

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mail_core::Shutdown;
use mail_core::grpc::{GrpcError, Identity, Role, ServerTls};
use mail_proto::jobctl::v1::job_controller_server::{JobController as Api, JobControllerServer};
use mail_proto::jobctl::v1::{
    Ack, JobRef, JobState, LeaseRequest, LeaseResponse, ListRequest, ListResponse, Outcome,
    RelayStartedRequest, RelayStartedResponse, ReportRequest, ReportResponse, ShowResponse,
    StatsRequest, StatsResponse, SubmitRequest, SubmitResponse,
};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, ObservableGauge};
use tokio::sync::Notify;
use tonic::{Request, Response, Status};

use crate::config::JobctlConfig;
use crate::error::Error;
use crate::schedule::{Schedule, Submitted};
use crate::state::{State, WalSync};

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Who may call what: relays feed and drain the queue, operators look at
/// and steer it. `RelayStarted` voids leases, so it is the relays' too.
pub fn policy(method: &str) -> &'static [Role] {
    match method {
        "Submit" | "Lease" | "Report" | "RelayStarted" => &[Role::Relay],
        "List" | "Show" | "Stats" | "Hold" | "Release" | "Retry" | "Delete" => &[Role::Operator],
        _ => &[],
    }
}

/// The caller, for the log: its certificate's name, or "-" on a
/// plaintext listener.
fn caller<T>(req: &Request<T>) -> String {
    req.extensions()
        .get::<Identity>()
        .map_or_else(|| "-".to_string(), |i| i.name.clone())
}

struct Metrics {
    submitted: Counter<u64>,
    results: Counter<u64>,
    _depth: ObservableGauge<u64>,
    _oldest: ObservableGauge<u64>,
}

impl Metrics {
    /// The queue gauges read `schedule` when metrics are collected, so they
    /// cost nothing between scrapes. Every channel jobctl knows of (a job
    /// or a worker) gets all four states, zeros included: a dashboard then
    /// draws an empty queue as 0 rather than as a gap.
    fn new(schedule: &Arc<Mutex<Schedule>>) -> Self {
        let m = opentelemetry::global::meter("mail-jobctl");
        let weak = Arc::downgrade(schedule);
        let depth = m
            .u64_observable_gauge("jobctl.queue.jobs")
            .with_description(
                "Jobs queued now, by channel and state (ready, active, deferred, held)",
            )
            .with_callback(move |o| {
                let Some(s) = weak.upgrade() else { return };
                let Ok(s) = s.lock() else { return };
                for c in s.stats().0 {
                    for (state, n) in [
                        ("ready", c.ready),
                        ("active", c.active),
                        ("deferred", c.deferred),
                        ("held", c.held),
                    ] {
                        o.observe(
                            n,
                            &[
                                KeyValue::new("channel", c.channel.clone()),
                                KeyValue::new("state", state),
                            ],
                        );
                    }
                }
            })
            .build();
        let weak = Arc::downgrade(schedule);
        let oldest = m
            .u64_observable_gauge("jobctl.queue.oldest_age")
            .with_unit("s")
            .with_description("Age of the oldest job not held, by channel (0 when there is none)")
            .with_callback(move |o| {
                let Some(s) = weak.upgrade() else { return };
                let Ok(s) = s.lock() else { return };
                let oldest = s.oldest_queued();
                let now = now();
                for c in s.stats().0 {
                    let age = oldest
                        .get(&c.channel)
                        .map_or(0, |at| (now - at).max(0) as u64);
                    o.observe(age, &[KeyValue::new("channel", c.channel)]);
                }
            })
            .build();
        Self {
            submitted: m
                .u64_counter("jobctl_jobs_submitted")
                .with_description("Jobs submitted by relays")
                .build(),
            results: m
                .u64_counter("jobctl_recipient_results")
                .with_description("Recipient results reported by workers, by outcome")
                .build(),
            _depth: depth,
            _oldest: oldest,
        }
    }
}

/// The job controller: the schedule, a wake-up for waiting workers and the
/// metrics. Cheap to clone.
#[derive(Clone)]
pub struct JobController {
    schedule: Arc<Mutex<Schedule>>,
    /// Makes the schedule's writes durable after its lock is released.
    wal: WalSync,
    work: Arc<Notify>,
    metrics: Arc<Metrics>,
    stop: Shutdown,
}

impl std::fmt::Debug for JobController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobController").finish_non_exhaustive()
    }
}

impl JobController {
    /// Opens the state database and rebuilds the schedule from it. Waiting
    /// lease calls return early once `stop` fires.
    pub fn open(config: JobctlConfig, stop: Shutdown) -> Result<Self, Error> {
        std::fs::create_dir_all(&config.state_dir)
            .map_err(|e| Error::Invalid(format!("{}: {e}", config.state_dir.display())))?;
        let state = State::open(&config.state_dir)?;
        let wal = state.wal();
        let schedule = Schedule::open(state, config, now())?;
        tracing::info!(jobs = schedule.len(), "queue state loaded");
        let schedule = Arc::new(Mutex::new(schedule));
        Ok(Self {
            metrics: Arc::new(Metrics::new(&schedule)),
            schedule,
            wal,
            work: Arc::new(Notify::new()),
            stop,
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, Schedule>, Status> {
        self.schedule
            .lock()
            .map_err(|_| Status::internal("schedule lock poisoned"))
    }

    /// Binds `listen` and serves the gRPC API until shutdown, with mutual
    /// TLS and per-call authorisation ([`policy`]) when `tls` is given;
    /// returns the bound address.
    pub async fn serve(
        &self,
        listen: std::net::SocketAddr,
        tls: Option<&ServerTls>,
        shutdown: &Shutdown,
    ) -> Result<std::net::SocketAddr, GrpcError> {
        let addr =
            mail_core::grpc::serve("jobctl.v1", listen, tls, policy, self.service(), shutdown)
                .await?;
        self.spawn_ticker(shutdown);
        Ok(addr)
    }

    /// The gRPC service, for a tonic router.
    pub fn service(&self) -> JobControllerServer<Self> {
        JobControllerServer::new(self.clone())
    }

    /// Moves due deferred jobs and expired leases back to ready, waking
    /// waiting workers, until shutdown.
    pub fn spawn_ticker(&self, shutdown: &Shutdown) {
        let me = self.clone();
        let stop = shutdown.clone();
        shutdown.spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(250));
            loop {
                tokio::select! {
                    _ = stop.triggered() => return,
                    _ = every.tick() => {}
                }
                let Ok(mut s) = me.schedule.lock() else {
                    return;
                };
                me.tick(&mut s);
            }
        });
    }

    /// Ticks the schedule and wakes every waiting Lease when a job became
    /// ready. Every tick must go through here: a tick that moves a due
    /// job to ready without waking anyone leaves that job's workers asleep
    /// for their whole Lease wait (the ticker, finding nothing due any
    /// more, would not wake them either).
    fn tick(&self, s: &mut Schedule) {
        if s.tick(now()) > 0 {
            self.work.notify_waiters();
        }
    }
}

#[tonic::async_trait]
impl Api for JobController {
    async fn submit(
        &self,
        req: Request<SubmitRequest>,
    ) -> Result<Response<SubmitResponse>, Status> {
        let job = req
            .into_inner()
            .job
            .ok_or_else(|| Status::invalid_argument("job is required"))?;
        let channel = job.channel.clone();
        let (queue_id, relay, rcpts) = (
            job.queue_id.clone(),
            job.relay.clone(),
            job.recipients.len(),
        );
        let submitted = self.lock()?.submit(job, now())?;
        if submitted == Submitted::Deleted {
            tracing::info!(queue_id = %queue_id, relay = %relay, "resubmitted job was deleted by an operator; the relay removes its file");
            return Ok(Response::new(SubmitResponse { deleted: true }));
        }
        tracing::info!(queue_id = %queue_id, channel = %channel, relay = %relay, rcpts, "job submitted");
        self.wal.sync().await?;
        self.metrics
            .submitted
            .add(1, &[KeyValue::new("channel", channel)]);
        self.work.notify_waiters();
        Ok(Response::new(SubmitResponse { deleted: false }))
    }

    async fn lease(&self, req: Request<LeaseRequest>) -> Result<Response<LeaseResponse>, Status> {
        let r = req.into_inner();
        if r.worker_id.is_empty() || r.channel.is_empty() || r.relay.is_empty() {
            return Err(Status::invalid_argument(
                "worker_id, relay and channel are required",
            ));
        }
        let lease = Duration::from_secs(u64::from(r.lease_seconds.max(1)));
        let wait = Duration::from_millis(u64::from(r.wait_millis.min(30_000)));
        let deadline = tokio::time::Instant::now() + wait;
        let mut removed = r.removed;
        loop {
            // Register for a wake-up before looking, so a submit between the
            // look and the wait is not missed.
            let woken = self.work.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let (jobs, deleted, news) = {
                let mut s = self.lock()?;
                self.tick(&mut s);
                let (deleted, news) = s.deleted_for(&r.relay, &std::mem::take(&mut removed))?;
                let jobs = s.lease(&r.worker_id, &r.relay, &r.channel, r.max_jobs, lease, now());
                (jobs, deleted, news)
            };
            for j in &jobs {
                // With "attempt reported", this shows how long a due job
                // waited for a worker and how long the attempt took.
                tracing::info!(queue_id = %j.queue_id, worker = %r.worker_id, attempts = j.attempts, "job leased");
            }
            if !jobs.is_empty()
                || news
                || tokio::time::Instant::now() >= deadline
                || self.stop.is_triggered()
            {
                return Ok(Response::new(LeaseResponse { jobs, deleted }));
            }
            let _ = tokio::time::timeout_at(deadline, async {
                tokio::select! {
                    _ = woken => {}
                    _ = self.stop.triggered() => {}
                }
            })
            .await;
        }
    }

    async fn report(
        &self,
        req: Request<ReportRequest>,
    ) -> Result<Response<ReportResponse>, Status> {
        let r = req.into_inner();
        for res in &r.results {
            let outcome = Outcome::try_from(res.outcome).unwrap_or(Outcome::Unspecified);
            self.metrics
                .results
                .add(1, &[KeyValue::new("outcome", outcome.as_str_name())]);
        }
        let (resp, wake) = {
            let mut s = self.lock()?;
            let channel = s.channel_of(&r.queue_id);
            let resp = s.report(&r.worker_id, &r.queue_id, r.results, now())?;
            // The report freed one of the channel's max_workers slots: a
            // ready job held back by the limit can go to a waiting worker.
            (resp, channel.is_some_and(|c| s.has_ready_on(&c)))
        };
        if wake {
            self.work.notify_waiters();
        }
        self.wal.sync().await?;
        tracing::info!(
            queue_id = %r.queue_id,
            worker = %r.worker_id,
            done = resp.done,
            expired = resp.expired.len(),
            next_attempt_at = resp.next_attempt_at,
            "attempt reported"
        );
        Ok(Response::new(resp))
    }

    async fn list(&self, req: Request<ListRequest>) -> Result<Response<ListResponse>, Status> {
        let r = req.into_inner();
        let state = JobState::try_from(r.state).unwrap_or(JobState::Unspecified);
        let jobs = self.lock()?.list(&r.channel, state, r.limit);
        Ok(Response::new(ListResponse { jobs }))
    }

    async fn show(&self, req: Request<JobRef>) -> Result<Response<ShowResponse>, Status> {
        let (job, history) = self.lock()?.show(&req.into_inner().queue_id)?;
        Ok(Response::new(ShowResponse {
            job: Some(job),
            history,
        }))
    }

    async fn hold(&self, req: Request<JobRef>) -> Result<Response<Ack>, Status> {
        let who = caller(&req);
        let id = req.into_inner().queue_id;
        self.lock()?.hold(&id)?;
        self.wal.sync().await?;
        tracing::info!(queue_id = %id, operator = %who, "held by operator");
        Ok(Response::new(Ack {}))
    }

    async fn release(&self, req: Request<JobRef>) -> Result<Response<Ack>, Status> {
        let who = caller(&req);
        let id = req.into_inner().queue_id;
        self.lock()?.release(&id, now())?;
        self.wal.sync().await?;
        tracing::info!(queue_id = %id, operator = %who, "released by operator");
        self.work.notify_waiters();
        Ok(Response::new(Ack {}))
    }

    async fn retry(&self, req: Request<JobRef>) -> Result<Response<Ack>, Status> {
        let who = caller(&req);
        let id = req.into_inner().queue_id;
        self.lock()?.retry(&id, now())?;
        self.wal.sync().await?;
        tracing::info!(queue_id = %id, operator = %who, "retry requested by operator");
        self.work.notify_waiters();
        Ok(Response::new(Ack {}))
    }

    async fn delete(&self, req: Request<JobRef>) -> Result<Response<Ack>, Status> {
        let who = caller(&req);
        let id = req.into_inner().queue_id;
        self.lock()?.delete(&id, now())?;
        self.wal.sync().await?;
        tracing::info!(queue_id = %id, operator = %who, "deleted by operator; its relay is told to remove the file");
        // A waiting Lease of the job's relay returns with the news.
        self.work.notify_waiters();
        Ok(Response::new(Ack {}))
    }

    async fn relay_started(
        &self,
        req: Request<RelayStartedRequest>,
    ) -> Result<Response<RelayStartedResponse>, Status> {
        let relay = req.into_inner().relay;
        if relay.is_empty() {
            return Err(Status::invalid_argument("relay is required"));
        }
        let released = self.lock()?.relay_started(&relay);
        tracing::info!(relay = %relay, released, "relay started; its old leases are void");
        if released > 0 {
            self.work.notify_waiters();
        }
        Ok(Response::new(RelayStartedResponse { released }))
    }

    async fn stats(&self, _req: Request<StatsRequest>) -> Result<Response<StatsResponse>, Status> {
        let (channels, workers) = self.lock()?.stats();
        Ok(Response::new(StatsResponse { channels, workers }))
    }
}
