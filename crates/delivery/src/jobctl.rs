//! Telling jobctl about queue entries: received mail after each `250`,
//! generated notices (DSNs, vacation replies) and expanded copies as they
//! are spooled, and the whole spool at start (jobctl may have lost nothing,
//! but resubmitting is harmless: it keeps one job per queue id). Each job
//! carries its channel's retry schedule from the routing file.
//!
//! An entry jobctl cannot be told about (it is down or restarting) is kept
//! and submitted again in the background until jobctl takes it, so mail
//! accepted while jobctl is away is delivered once it is back, not only
//! after the relay's next start.
//!
//! Jobs an operator deletes (`mailctl queue delete`) leave no file behind:
//! jobctl lists them in its Lease answers to this relay (and answers a
//! resubmission of one with `deleted`); [`Jobctl::lease`] removes their
//! queue files and confirms in the relay's next Lease, so jobctl keeps
//! each deletion, across restarts of either side, until the file is gone.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use mail_core::grpc::{ClientTls, GrpcError};
use mail_proto::jobctl::v1::job_controller_client::JobControllerClient;
use mail_proto::jobctl::v1::{DeletedJob, Job, LeaseRequest};
use mail_queue::{Envelope, QueueId, QueueNotifier, Spool};
use mail_routing::Router;
use tonic::transport::Channel;

use crate::sink::{channel_policy, job_for, submit_job};

/// A lazily connected jobctl client.
#[derive(Clone)]
pub struct Jobctl {
    /// For submits and reports: answers within 30 s or fails.
    client: JobControllerClient<Channel>,
    /// For Lease calls, which wait up to `lease_wait` for work.
    leaser: JobControllerClient<Channel>,
    relay: String,
    /// The channel table: each job carries its channel's retry keywords.
    router: Arc<Router>,
    /// The queue, for removing the files of deleted jobs.
    spool: Spool,
    /// Entries not yet submitted (with their priority), retried in the
    /// background.
    later: Arc<Mutex<Vec<(Envelope, i32)>>>,
    /// Deleted jobs whose files are gone, to confirm in the next Lease.
    removed: Arc<Mutex<Vec<String>>>,
}

/// Priority of fresh mail; jobctl admits it ahead of deferred backlog.
pub const NEW_MAIL_PRIORITY: i32 = 10;
/// Priority of generated notices (DSNs, autoreplies).
pub const NOTICE_PRIORITY: i32 = 0;

impl Jobctl {
    /// A client for `address` (`host:port` or a URL; mutual TLS with
    /// `tls`) that names this relay `relay` and keeps its files in
    /// `spool`. Connects on first use, so a relay starts while jobctl is
    /// still coming up (the spool keeps the mail meanwhile).
    pub fn new(
        address: &str,
        tls: Option<&ClientTls>,
        relay: &str,
        router: Arc<Router>,
        spool: Spool,
    ) -> Result<Self, GrpcError> {
        let endpoint = mail_core::grpc::endpoint(address, tls)?;
        let leaser = endpoint.connect_lazy();
        let channel = endpoint.timeout(Duration::from_secs(30)).connect_lazy();
        Ok(Self {
            client: JobControllerClient::new(channel),
            leaser: JobControllerClient::new(leaser),
            relay: relay.to_string(),
            router,
            spool,
            later: Arc::default(),
            removed: Arc::default(),
        })
    }

    /// The generated client, for reporting.
    pub fn client(&self) -> JobControllerClient<Channel> {
        self.client.clone()
    }

    /// Leases jobs (`req.relay` is this relay), confirming the deleted
    /// jobs whose files are gone and removing the files of those jobctl
    /// lists now.
    pub async fn lease(&self, mut req: LeaseRequest) -> Result<Vec<Job>, tonic::Status> {
        req.removed = std::mem::take(&mut *lock(&self.removed));
        let confirmed = req.removed.clone();
        match self.leaser.clone().lease(req).await {
            Ok(r) => {
                let r = r.into_inner();
                self.remove_deleted(&r.deleted).await;
                Ok(r.jobs)
            }
            Err(status) => {
                lock(&self.removed).extend(confirmed);
                Err(status)
            }
        }
    }

    /// Removes the queue files of jobs an operator deleted and remembers
    /// them for confirmation.
    async fn remove_deleted(&self, deleted: &[DeletedJob]) {
        for d in deleted {
            let removed = match d.queue_id.parse::<QueueId>() {
                Ok(id) => self.spool.remove(&d.channel, &id).await,
                // Not a queue id of ours: there is no file to remove.
                Err(_) => Ok(()),
            };
            match removed {
                Ok(()) => {
                    tracing::info!(queue_id = %d.queue_id, channel = %d.channel, "deleted by an operator: queue file removed");
                    let mut confirmed = lock(&self.removed);
                    if !confirmed.contains(&d.queue_id) {
                        confirmed.push(d.queue_id.clone());
                    }
                }
                Err(e) => {
                    tracing::error!(queue_id = %d.queue_id, error = %e, "cannot remove the queue file of a deleted job");
                }
            }
        }
    }

    /// jobctl answered a (re)submission "deleted": remove the file.
    async fn submitted_deleted(&self, e: &Envelope) {
        self.remove_deleted(&[DeletedJob {
            queue_id: e.id.to_string(),
            channel: e.channel.clone(),
        }])
        .await;
    }

    /// This relay's name in jobctl.
    pub fn relay(&self) -> &str {
        &self.relay
    }

    /// Tells jobctl this relay's process has started, so the jobs its
    /// previous process held leased are offered again now rather than when
    /// those leases run out. Tried a few times; without jobctl the leases
    /// simply expire. Call it before submitting the spool's backlog.
    pub async fn relay_started(&self) -> Result<u32, tonic::Status> {
        let mut client = self.client();
        let mut wait = Duration::from_millis(100);
        let mut tries = 0;
        loop {
            tries += 1;
            let req = mail_proto::jobctl::v1::RelayStartedRequest {
                relay: self.relay.clone(),
            };
            match client.relay_started(req).await {
                Ok(r) => return Ok(r.into_inner().released),
                Err(status) if tries >= 5 => return Err(status),
                Err(_) => {
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
            }
        }
    }

    /// Submits received mail (`entries`) at [`NEW_MAIL_PRIORITY`]; see
    /// [`Jobctl::submit_with`].
    pub async fn submit(&self, entries: &[Envelope]) -> usize {
        self.submit_with(entries, NEW_MAIL_PRIORITY).await
    }

    /// Submits `entries` at `priority`. What still fails stays in the spool
    /// and is submitted again in the background until jobctl takes it (and
    /// at the next start). Returns how many failed now.
    pub async fn submit_with(&self, entries: &[Envelope], priority: i32) -> usize {
        let mut failed = 0;
        let mut client = self.client();
        for e in entries {
            let job = self.job(e, priority);
            match submit_job(&mut client, job).await {
                Ok(true) => self.submitted_deleted(e).await,
                Ok(false) => {}
                Err(status) => {
                    failed += 1;
                    // Leased: jobctl has the job already (the relay restarted
                    // while one of its workers held it).
                    if status.code() != tonic::Code::FailedPrecondition {
                        tracing::error!(queue_id = %e.id, "jobctl unreachable: the message waits in the spool; submitted again in the background");
                        self.submit_later(e.clone(), priority);
                    }
                }
            }
        }
        failed
    }

    fn job(&self, e: &Envelope, priority: i32) -> mail_proto::jobctl::v1::Job {
        job_for(
            &self.relay,
            e,
            priority,
            channel_policy(&self.router, &e.channel),
        )
    }

    /// Keeps `e` for the background submitter, starting it when idle.
    fn submit_later(&self, e: Envelope, priority: i32) {
        let mut later = self.later.lock().unwrap_or_else(|p| p.into_inner());
        later.push((e, priority));
        if later.len() > 1 {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let mut wait = Duration::from_secs(1);
            loop {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(30));
                let pending = this.later.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let mut client = this.client();
                let mut done = Vec::new();
                for (e, priority) in &pending {
                    let job = this.job(e, *priority);
                    let req = mail_proto::jobctl::v1::SubmitRequest { job: Some(job) };
                    match client.submit(req).await {
                        Ok(r) => {
                            if r.into_inner().deleted {
                                this.submitted_deleted(e).await;
                            }
                            done.push(e.id.clone())
                        }
                        Err(s) if s.code() == tonic::Code::FailedPrecondition => {
                            done.push(e.id.clone())
                        }
                        // Still away: the rest waits for the next round.
                        Err(_) => break,
                    }
                }
                if !done.is_empty() {
                    tracing::info!(
                        submitted = done.len(),
                        "queued messages submitted to jobctl"
                    );
                }
                // Ends with the lock held, so a new entry starts a new task.
                let mut later = this.later.lock().unwrap_or_else(|p| p.into_inner());
                later.retain(|(e, _)| !done.contains(&e.id));
                if later.is_empty() {
                    return;
                }
            }
        });
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[async_trait]
impl QueueNotifier for Jobctl {
    async fn queued(&self, entries: &[Envelope]) {
        self.submit(entries).await;
    }
}
