//! Telling jobctl about queue entries: after each `250`, and for the whole
//! spool at start (jobctl may have lost nothing, but resubmitting is
//! harmless: it keeps one job per queue id).

use std::sync::Arc;
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

    /// Submits `entries`; what still fails stays in the spool and is
    /// submitted again at the next start. Returns how many failed.
    pub async fn submit(&self, entries: &[Envelope]) -> usize {
        let mut failed = 0;
        let mut client = self.client();
        for e in entries {
            let policy = mail_delivery::channel_policy(&self.router, &e.channel);
            let job = mail_delivery::job_for(&self.relay, e, NEW_MAIL_PRIORITY, policy);
            if mail_delivery::submit_job(&mut client, job).await.is_err() {
                failed += 1;
                tracing::error!(queue_id = %e.id, "jobctl unreachable: the message waits in the spool until the next start");
            }
        }
        failed
    }
}

#[async_trait]
impl QueueNotifier for Jobctl {
    async fn queued(&self, entries: &[Envelope]) {
        self.submit(entries).await;
    }
}
