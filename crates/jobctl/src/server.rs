//! The `jobctl.v1.JobController` gRPC service over the [`Schedule`].

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mail_core::Shutdown;
use mail_proto::jobctl::v1::job_controller_server::{JobController as Api, JobControllerServer};
use mail_proto::jobctl::v1::{
    Ack, JobRef, JobState, LeaseRequest, LeaseResponse, ListRequest, ListResponse, Outcome,
    RelayStartedRequest, RelayStartedResponse, ReportRequest, ReportResponse, ShowResponse,
    StatsRequest, StatsResponse, SubmitRequest, SubmitResponse,
};
use opentelemetry::KeyValue;
use opentelemetry::metrics::Counter;
use tokio::sync::Notify;
use tonic::{Request, Response, Status};

use crate::config::JobctlConfig;
use crate::error::Error;
use crate::schedule::Schedule;
use crate::state::{State, WalSync};

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

struct Metrics {
    submitted: Counter<u64>,
    results: Counter<u64>,
}

impl Metrics {
    fn new() -> Self {
        let m = opentelemetry::global::meter("mail-jobctl");
        Self {
            submitted: m
                .u64_counter("jobctl_jobs_submitted")
                .with_description("Jobs submitted by relays")
                .build(),
            results: m
                .u64_counter("jobctl_recipient_results")
                .with_description("Recipient results reported by workers, by outcome")
                .build(),
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
        Ok(Self {
            schedule: Arc::new(Mutex::new(schedule)),
            wal,
            work: Arc::new(Notify::new()),
            metrics: Arc::new(Metrics::new()),
            stop,
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, Schedule>, Status> {
        self.schedule
            .lock()
            .map_err(|_| Status::internal("schedule lock poisoned"))
    }

    /// Binds `config.listen` and serves the gRPC API until shutdown; returns
    /// the bound address.
    pub async fn serve(
        &self,
        listen: std::net::SocketAddr,
        shutdown: &Shutdown,
    ) -> std::io::Result<std::net::SocketAddr> {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| std::io::Error::new(e.kind(), format!("jobctl: bind {listen}: {e}")))?;
        let addr = listener.local_addr()?;
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let svc = self.service();
        let stop = shutdown.clone();
        shutdown.spawn(async move {
            let result = tonic::transport::Server::builder()
                .trace_fn(|req| tracing::info_span!("grpc", path = %req.uri().path()))
                .add_service(svc)
                .serve_with_incoming_shutdown(incoming, stop.triggered())
                .await;
            if let Err(e) = result {
                tracing::error!(error = %e, "gRPC server failed");
            }
        });
        self.spawn_ticker(shutdown);
        tracing::info!(%addr, "jobctl.v1 listening");
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
                let due = match me.schedule.lock() {
                    Ok(mut s) => {
                        let t = now();
                        let due = s.next_due().is_some_and(|d| d <= t);
                        s.tick(t);
                        due
                    }
                    Err(_) => return,
                };
                if due {
                    me.work.notify_waiters();
                }
            }
        });
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
        tracing::info!(queue_id = %job.queue_id, channel = %channel, relay = %job.relay, rcpts = job.recipients.len(), "job submitted");
        self.lock()?.submit(job, now())?;
        self.wal.sync().await?;
        self.metrics
            .submitted
            .add(1, &[KeyValue::new("channel", channel)]);
        self.work.notify_waiters();
        Ok(Response::new(SubmitResponse {}))
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
        loop {
            // Register for a wake-up before looking, so a submit between the
            // look and the wait is not missed.
            let woken = self.work.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let jobs = {
                let mut s = self.lock()?;
                let t = now();
                s.tick(t);
                s.lease(&r.worker_id, &r.relay, &r.channel, r.max_jobs, lease, t)
            };
            for j in &jobs {
                // With "attempt reported", this shows how long a due job
                // waited for a worker and how long the attempt took.
                tracing::info!(queue_id = %j.queue_id, worker = %r.worker_id, attempts = j.attempts, "job leased");
            }
            if !jobs.is_empty()
                || tokio::time::Instant::now() >= deadline
                || self.stop.is_triggered()
            {
                return Ok(Response::new(LeaseResponse { jobs }));
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
        let resp = self
            .lock()?
            .report(&r.worker_id, &r.queue_id, r.results, now())?;
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
        let id = req.into_inner().queue_id;
        self.lock()?.hold(&id)?;
        self.wal.sync().await?;
        tracing::info!(queue_id = %id, "held by operator");
        Ok(Response::new(Ack {}))
    }

    async fn release(&self, req: Request<JobRef>) -> Result<Response<Ack>, Status> {
        let id = req.into_inner().queue_id;
        self.lock()?.release(&id, now())?;
        self.wal.sync().await?;
        tracing::info!(queue_id = %id, "released by operator");
        self.work.notify_waiters();
        Ok(Response::new(Ack {}))
    }

    async fn retry(&self, req: Request<JobRef>) -> Result<Response<Ack>, Status> {
        let id = req.into_inner().queue_id;
        self.lock()?.retry(&id, now())?;
        self.wal.sync().await?;
        tracing::info!(queue_id = %id, "retry requested by operator");
        self.work.notify_waiters();
        Ok(Response::new(Ack {}))
    }

    async fn delete(&self, req: Request<JobRef>) -> Result<Response<Ack>, Status> {
        let id = req.into_inner().queue_id;
        self.lock()?.delete(&id)?;
        self.wal.sync().await?;
        tracing::info!(queue_id = %id, "deleted by operator");
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
