//! Putting generated messages (DSNs) into the queue. A DSN is mail like
//! any other: its recipient (the original sender) is routed with the
//! relay's rewrite rules, the message is written to the spool with the
//! same durability as received mail, and jobctl is told, so it is
//! delivered, retried and logged by the ordinary channels.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mail_proto::jobctl::v1::job_controller_client::JobControllerClient;
use mail_proto::jobctl::v1::{Job, Recipient, RetryPolicy, SubmitRequest};
use mail_queue::Content;
use mail_queue::{ClientRecord, Envelope, QueuedRecipient, Spool};
use mail_routing::{Channel, Router, RoutingDirectory};
use mail_smtp_proto::Body;
use tonic::transport::Channel as GrpcChannel;

use crate::deliver::host_for;
use crate::dsn::Dsn;
use crate::error::Error;
use crate::jobctl::{Jobctl, NOTICE_PRIORITY};

/// Where the workers hand the DSNs they generate. The relay provides it;
/// [`RoutedSink`] is the ordinary implementation.
#[async_trait::async_trait]
pub trait DsnSink: Send + Sync {
    /// Queues `dsn` (about the message `original`) durably; an error makes
    /// the worker keep the recipients it reports on for another attempt
    /// rather than lose the notice.
    async fn send(&self, dsn: Dsn, original: &Envelope) -> Result<(), Error>;
}

/// A message made here (a DSN, a notice) to put into the queue.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Reverse path; empty for `<>` (every DSN).
    pub sender: String,
    /// Envelope recipients.
    pub recipients: Vec<String>,
    /// The RFC 5322 message, CRLF line ends.
    pub data: Vec<u8>,
    /// The message holds 8-bit octets.
    pub eight_bit: bool,
    /// An address needs SMTPUTF8.
    pub smtputf8: bool,
    /// Its Message-ID, for the mail log.
    pub message_id: Option<String>,
    /// The trace it belongs to (the original message's).
    pub traceparent: Option<String>,
}

/// The jobctl job announcing a queue entry of `relay`. It carries the
/// retry schedule of the entry's channel ([`channel_policy`]), which jobctl
/// follows; `None` leaves jobctl's defaults.
pub fn job_for(relay: &str, env: &Envelope, priority: i32, policy: Option<RetryPolicy>) -> Job {
    let secs = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    };
    Job {
        queue_id: env.id.to_string(),
        relay: relay.to_string(),
        channel: env.channel.clone(),
        host: env.host.clone(),
        sender: env.sender.clone(),
        recipients: env
            .pending()
            .map(|r| Recipient {
                address: r.address.clone(),
                orcpt: r.orcpt_text(),
                notify: r.notify_keywords().into_iter().map(String::from).collect(),
            })
            .collect(),
        size: env.size,
        priority,
        queued_at: secs(env.received_at),
        traceparent: env.traceparent.clone().unwrap_or_default(),
        message_id: env.message_id.clone().unwrap_or_default(),
        policy,
        ..Default::default()
    }
}

/// The retry keywords (`retry`, `max_lifetime`, `delay_notice_after`,
/// `dsn.delay_notices`) of the channel named `name` in `router`, as the
/// policy its jobs carry to jobctl.
pub fn channel_policy(router: &Router, name: &str) -> Option<RetryPolicy> {
    router.channel(name).map(retry_policy)
}

/// A channel's retry keywords as jobctl's `RetryPolicy`.
pub fn retry_policy(channel: &Channel) -> RetryPolicy {
    let secs = |d: Duration| d.as_secs().max(1);
    RetryPolicy {
        retry_seconds: channel
            .retry
            .iter()
            .map(|d| u32::try_from(secs(*d)).unwrap_or(u32::MAX))
            .collect(),
        max_lifetime_seconds: secs(channel.max_lifetime),
        delay_notice_seconds: secs(channel.delay_notice_after),
        no_delay_notice: !channel.dsn.delay_notices,
    }
}

/// Tells jobctl about `job`, trying a few times over about three seconds
/// (jobctl may be restarting). [`Jobctl`] keeps what still fails for a
/// background retry; the spool is the truth either way. `Ok(true)`: an
/// operator deleted the job, so it was not queued (the caller removes the
/// file).
pub async fn submit_job(
    client: &mut JobControllerClient<GrpcChannel>,
    job: Job,
) -> Result<bool, tonic::Status> {
    let mut wait = Duration::from_millis(100);
    let mut tries = 0;
    loop {
        tries += 1;
        match client
            .submit(SubmitRequest {
                job: Some(job.clone()),
            })
            .await
        {
            Ok(r) => return Ok(r.into_inner().deleted),
            Err(status) if tries >= 5 => return Err(status),
            Err(status) => {
                tracing::warn!(queue_id = %job.queue_id, error = %status, "jobctl submit failed; retrying");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
    }
}

/// Routes every recipient of `msg`, writes one queue file per channel and
/// next hop (durably, like received mail) and submits each to jobctl.
/// Returns the envelopes queued. A recipient routing refuses is an error
/// (for a DSN: the sender's address no longer routes, so the notice is
/// dropped by the caller with a log line).
pub async fn enqueue_message<D: RoutingDirectory + ?Sized>(
    spool: &Spool,
    router: &Router,
    directory: &D,
    jobctl: &Jobctl,
    msg: NewMessage,
) -> Result<Vec<Envelope>, Error> {
    let mut groups: Vec<(String, String, Vec<QueuedRecipient>)> = Vec::new();
    for rcpt in &msg.recipients {
        let route = router
            .route(directory, rcpt)
            .await
            .map_err(|e| Error::Route {
                address: rcpt.clone(),
                reason: e.error.to_string(),
            })?;
        let host = host_for(&route.destination);
        let q = QueuedRecipient::new(route.final_address.clone());
        match groups
            .iter_mut()
            .find(|(c, h, _)| *c == route.channel && *h == host)
        {
            Some(g) => g.2.push(q),
            None => groups.push((route.channel.clone(), host, vec![q])),
        }
    }
    let now = SystemTime::now();
    let envelopes: Vec<Envelope> = groups
        .into_iter()
        .map(|(channel, host, recipients)| Envelope {
            id: spool.next_id(),
            channel,
            host,
            received_at: now,
            client: ClientRecord {
                ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                port: 0,
                helo: jobctl.relay().to_string(),
                tls: false,
                auth: None,
            },
            sender: msg.sender.clone(),
            body: msg.eight_bit.then_some(Body::EightBitMime),
            smtputf8: msg.smtputf8,
            ret: None,
            envid: None,
            mail_auth: None,
            traceparent: msg.traceparent.clone(),
            message_id: msg.message_id.clone(),
            size: 0,
            recipients,
        })
        .collect();
    let queued = spool
        .enqueue(envelopes, Vec::new(), Content::Bytes(msg.data))
        .await?;
    for env in &queued {
        tracing::info!(
            target: "mail_log",
            event = "received",
            queue_id = %env.id,
            message_id = env.message_id.as_deref().unwrap_or(""),
            channel = %env.channel,
            sender = %env.sender,
            recipients = env.recipients.len(),
            size = env.size,
            result = "generated",
        );
    }
    // The spool is the truth: what jobctl does not take now is submitted
    // again in the background (and by the relay's startup scan).
    jobctl.submit_with(&queued, NOTICE_PRIORITY).await;
    Ok(queued)
}

/// The ordinary [`DsnSink`]: routes the DSN with the relay's router and
/// directory (`RoutedSink<dyn mail_directory::Directory>` for the relay's
/// directory handle), spools it and tells jobctl.
pub struct RoutedSink<D: RoutingDirectory + ?Sized + 'static> {
    spool: Spool,
    router: Arc<Router>,
    directory: Arc<D>,
    jobctl: Jobctl,
}

impl<D: RoutingDirectory + ?Sized + 'static> RoutedSink<D> {
    /// A sink that queues on `spool` and submits through `jobctl` (which
    /// names the relay).
    pub fn new(spool: Spool, router: Arc<Router>, directory: Arc<D>, jobctl: Jobctl) -> Self {
        Self {
            spool,
            router,
            directory,
            jobctl,
        }
    }
}

#[async_trait::async_trait]
impl<D: RoutingDirectory + ?Sized + 'static> DsnSink for RoutedSink<D> {
    async fn send(&self, dsn: Dsn, original: &Envelope) -> Result<(), Error> {
        let msg = NewMessage {
            sender: String::new(),
            recipients: vec![dsn.recipient.clone()],
            data: dsn.message,
            eight_bit: dsn.eight_bit,
            smtputf8: dsn.smtputf8,
            message_id: Some(dsn.message_id),
            traceparent: original.traceparent.clone(),
        };
        match enqueue_message(
            &self.spool,
            &self.router,
            &*self.directory,
            &self.jobctl,
            msg,
        )
        .await
        {
            Err(Error::Route { address, reason }) => {
                // The sender cannot be reached any more: nothing to return
                // the notice to (it would be a double bounce).
                tracing::warn!(
                    target: "mail_log",
                    event = "dsn_dropped",
                    queue_id = %original.id,
                    recipient = %address,
                    result = %reason,
                );
                Ok(())
            }
            other => other.map(|_| ()),
        }
    }
}
