//! Telling jobctl about queue entries: after each `250`, and for the whole
//! spool at start (jobctl may have lost nothing, but resubmitting is
//! harmless: it keeps one job per queue id).
//!
//! An entry jobctl cannot be told about (it is down or restarting) is kept
//! and submitted again in the background until jobctl takes it, so mail
//! accepted while jobctl is away is delivered once it is back, not only
//! after the relay's next start.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use mail_mta::{Envelope, QueueNotifier};
use mail_proto::jobctl::v1::job_controller_client::JobControllerClient;
use mail_routing::Router;
use tonic::transport::{Channel, Endpoint};

/// A lazily connected jobctl client.
#[derive(Clone)]
pub struct Jobctl {
    client: JobControllerClient<Channel>,
    relay: String,
    /// The channel table: each job carries its channel's retry keywords.
    router: Arc<Router>,
    /// Entries not yet submitted, retried in the background.
    later: Arc<Mutex<Vec<Envelope>>>,
}

/// Priority of fresh mail; jobctl admits it ahead of deferred backlog.
const NEW_MAIL_PRIORITY: i32 = 10;

impl Jobctl {
    /// A client for `address` (`host:port` or a URL) that names this relay
    /// `relay`. Connects on first use, so a relay starts while jobctl is
    /// still coming up (the spool keeps the mail meanwhile).
    pub fn new(
        address: &str,
        relay: &str,
        router: Arc<Router>,
    ) -> Result<Self, tonic::transport::Error> {
        let url = if address.contains("://") {
            address.to_string()
        } else {
            format!("http://{address}")
        };
        let channel = Endpoint::from_shared(url)?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .connect_lazy();
        Ok(Self {
            client: JobControllerClient::new(channel),
            relay: relay.to_string(),
            router,
            later: Arc::default(),
        })
    }

    /// The generated client, for leasing and reporting.
    pub fn client(&self) -> JobControllerClient<Channel> {
        self.client.clone()
    }

    /// This relay's name in jobctl.
    pub fn relay(&self) -> &str {
        &self.relay
    }

    /// Submits `entries`. What still fails stays in the spool and is
    /// submitted again in the background until jobctl takes it (and at the
    /// next start). Returns how many failed now.
    pub async fn submit(&self, entries: &[Envelope]) -> usize {
        let mut failed = 0;
        let mut client = self.client();
        for e in entries {
            let policy = mail_delivery::channel_policy(&self.router, &e.channel);
            let job = mail_delivery::job_for(&self.relay, e, NEW_MAIL_PRIORITY, policy);
            if let Err(status) = mail_delivery::submit_job(&mut client, job).await {
                failed += 1;
                // Leased: jobctl has the job already (the relay restarted
                // while one of its workers held it).
                if status.code() != tonic::Code::FailedPrecondition {
                    tracing::error!(queue_id = %e.id, "jobctl unreachable: the message waits in the spool; submitted again in the background");
                    self.submit_later(e.clone());
                }
            }
        }
        failed
    }

    /// Keeps `e` for the background submitter, starting it when idle.
    fn submit_later(&self, e: Envelope) {
        let mut later = self.later.lock().unwrap_or_else(|p| p.into_inner());
        later.push(e);
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
                for e in &pending {
                    let policy = mail_delivery::channel_policy(&this.router, &e.channel);
                    let job = mail_delivery::job_for(&this.relay, e, NEW_MAIL_PRIORITY, policy);
                    let req = mail_proto::jobctl::v1::SubmitRequest { job: Some(job) };
                    match client.submit(req).await {
                        Ok(_) => done.push(e.id.clone()),
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
                later.retain(|e| !done.contains(&e.id));
                if later.is_empty() {
                    return;
                }
            }
        });
    }
}

#[async_trait]
impl QueueNotifier for Jobctl {
    async fn queued(&self, entries: &[Envelope]) {
        self.submit(entries).await;
    }
}
