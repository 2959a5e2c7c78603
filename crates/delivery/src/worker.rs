//! The master channel programs: per channel, `max_workers` tasks that each
//! lease one job at a time from jobctl, deliver it, record every
//! recipient's state in the queue file (durably, before telling jobctl),
//! report, and send the DSNs the outcome calls for.
//!
//! Worker count: jobctl caps how many jobs of a channel are leased at once
//! across all relays (`max_workers`), and a worker blocks in `Lease` (up
//! to `lease_wait`) while there is no work, which costs one idle gRPC
//! stream. So each relay simply runs `max_workers` workers per channel;
//! `min_workers` is met by construction and idle workers are visible in
//! `mailctl queue stats`.
//!
//! Crash safety: a recipient is marked delivered or failed in the queue
//! file before the report, so a worker killed at any point leaves either
//! (a) the recipient still pending — it is tried again when the lease runs
//! out, which is the one duplicate SMTP cannot avoid (the server had
//! accepted, we had not yet recorded it) — or (b) marked done, and the next
//! worker to lease the job reports it from the file without delivering.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mail_core::shutdown::Shutdown;
use mail_proto::jobctl::v1::{
    Job, LeaseRequest, Outcome as JobOutcome, RecipientResult, ReportRequest,
};
use mail_queue::{Envelope, QueueId, QueuedRecipient, RcptState, Spool};
use mail_routing::{Channel, ChannelKind, DsnReturn};
use mail_smtp_proto::Ret;
use tracing::Instrument;

use crate::config::DeliveryConfig;
use crate::conn::{Timeouts, TlsMode};
use crate::deliver::{AttemptResult, ChannelRuntime, Outcome, RcptResult};
use crate::dns::MxResolver;
use crate::dsn::{self, Action, DsnRecipient, DsnRequest};
use crate::error::Error;
use crate::jobctl::Jobctl;
use crate::maillog;
use crate::metrics;
use crate::pool::Pool;
use crate::reply::Reply;
use crate::sink::DsnSink;

/// The running workers of a relay.
#[derive(Debug)]
pub struct Workers {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Workers per channel name.
    pub per_channel: Vec<(String, usize)>,
}

impl Workers {
    /// Waits until every worker has stopped (after the shutdown signal,
    /// each finishes the job in hand first).
    pub async fn join(self) {
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Whether this crate has a master program for `kind`.
pub fn delivers(kind: ChannelKind) -> bool {
    matches!(
        kind,
        ChannelKind::Lmtp | ChannelKind::SmtpMx | ChannelKind::SmtpRelay | ChannelKind::Bounce
    )
}

/// Starts the workers of every channel in `channels` that has a master
/// program here (or those `config.channels` names), until `shutdown`.
pub fn start(
    config: DeliveryConfig,
    channels: &[Channel],
    spool: Spool,
    sink: Arc<dyn DsnSink>,
    jobctl: &Jobctl,
    shutdown: &Shutdown,
) -> Result<Workers, Error> {
    let resolver = MxResolver::new(&config.dns)?;
    let config = Arc::new(config);
    let timeouts = Timeouts {
        connect: config.connect_timeout,
        command: config.command_timeout,
        data: config.data_timeout,
    };
    let mut tasks = Vec::new();
    let mut per_channel = Vec::new();
    for ch in channels {
        let wanted = if config.channels.is_empty() {
            delivers(ch.kind)
        } else {
            config.channels.iter().any(|n| n == &ch.name)
        };
        if !wanted {
            continue;
        }
        if !delivers(ch.kind) {
            return Err(Error::Config(format!(
                "channel {}: kind {} has no master program in delivery",
                ch.name,
                ch.kind.as_str()
            )));
        }
        let connector = match ch.tls_policy() {
            mail_routing::TlsPolicy::None => None,
            _ => Some(crate::tls::connector(
                ch.tls_verify,
                config.tls_ca_file.as_deref(),
            )?),
        };
        let rt = Arc::new(ChannelRuntime {
            channel: ch.clone(),
            tls: TlsMode {
                policy: ch.tls_policy(),
                connector,
            },
            pool: Pool::new(
                ch.max_per_destination,
                config.idle_timeout,
                config.max_messages_per_connection,
            ),
            resolver: resolver.clone(),
            hostname: config.hostname.clone(),
            relay: config.relay.clone(),
            timeouts,
        });
        let n = ch.max_workers.max(1) as usize;
        for i in 0..n {
            let w = Worker {
                id: format!("{}/{}/{}#{}", config.relay, ch.name, std::process::id(), i),
                rt: rt.clone(),
                spool: spool.clone(),
                sink: sink.clone(),
                jobctl: jobctl.clone(),
                config: config.clone(),
            };
            let stop = shutdown.clone();
            tasks.push(tokio::spawn(async move { w.run(stop).await }));
        }
        per_channel.push((ch.name.clone(), n));
        tracing::info!(channel = %ch.name, kind = ch.kind.as_str(), workers = n, "delivery workers started");
    }
    Ok(Workers { tasks, per_channel })
}

struct Worker {
    id: String,
    rt: Arc<ChannelRuntime>,
    spool: Spool,
    sink: Arc<dyn DsnSink>,
    jobctl: Jobctl,
    config: Arc<DeliveryConfig>,
}

fn to_job_outcome(o: Outcome) -> i32 {
    match o {
        Outcome::Delivered => JobOutcome::Delivered as i32,
        Outcome::Retry => JobOutcome::Retry as i32,
        Outcome::Failed => JobOutcome::Failed as i32,
    }
}

impl Worker {
    async fn run(mut self, shutdown: Shutdown) {
        let mut backoff = Duration::from_millis(200);
        while !shutdown.is_triggered() {
            let req = LeaseRequest {
                worker_id: self.id.clone(),
                channel: self.rt.channel.name.clone(),
                relay: self.config.relay.clone(),
                max_jobs: 1,
                lease_seconds: self.config.lease.as_secs().max(1) as u32,
                wait_millis: self.config.lease_wait.as_millis().min(u32::MAX as u128) as u32,
                removed: Vec::new(),
            };
            let leased = tokio::select! {
                _ = shutdown.triggered() => break,
                r = self.jobctl.lease(req) => r,
            };
            match leased {
                Ok(jobs) => {
                    backoff = Duration::from_millis(200);
                    for job in jobs {
                        self.process(job).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(worker = %self.id, error = %e, "lease failed; retrying");
                    tokio::select! {
                        _ = shutdown.triggered() => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    async fn report(
        &mut self,
        queue_id: &str,
        results: Vec<RecipientResult>,
    ) -> Option<mail_proto::jobctl::v1::ReportResponse> {
        let req = ReportRequest {
            worker_id: self.id.clone(),
            queue_id: queue_id.to_string(),
            results,
        };
        match self.jobctl.client().report(req).await {
            Ok(r) => Some(r.into_inner()),
            Err(e) => {
                // The queue file holds the outcome; the job comes back when
                // its lease runs out and is settled from the file then.
                tracing::warn!(worker = %self.id, queue_id, error = %e, "report refused");
                None
            }
        }
    }

    async fn process(&mut self, job: Job) {
        let channel = self.rt.channel.name.clone();
        let all = |outcome: JobOutcome, detail: &str| -> Vec<RecipientResult> {
            job.recipients
                .iter()
                .map(|r| RecipientResult {
                    address: r.address.clone(),
                    outcome: outcome as i32,
                    detail: detail.to_string(),
                })
                .collect()
        };
        let id: QueueId = match job.queue_id.parse() {
            Ok(id) => id,
            Err(_) => {
                let r = all(JobOutcome::Failed, "550 5.3.0 invalid queue id");
                self.report(&job.queue_id, r).await;
                return;
            }
        };
        let entry = match self.spool.open_entry(&channel, &id).await {
            Ok(e) => e,
            Err(mail_queue::Error::NotFound { .. }) => {
                // Removed after its last recipient was done; the report
                // was lost (crash) or this is a duplicate job.
                let r = all(
                    JobOutcome::Delivered,
                    "250 2.0.0 already done (no queue file)",
                );
                self.report(&job.queue_id, r).await;
                return;
            }
            Err(e) => {
                let r = all(JobOutcome::Retry, &format!("451 4.3.0 queue file: {e}"));
                self.report(&job.queue_id, r).await;
                return;
            }
        };
        let span = maillog::attempt_span(&entry.envelope, &channel, &self.id);
        self.attempt(job, entry, span.clone())
            .instrument(span)
            .await;
    }

    async fn attempt(&mut self, job: Job, entry: mail_queue::Entry, span: tracing::Span) {
        let env = entry.envelope.clone();
        let channel = self.rt.channel.name.clone();
        let mut report = Vec::new();
        let mut to_try: Vec<QueuedRecipient> = Vec::new();
        for jr in &job.recipients {
            let found = env
                .recipients
                .iter()
                .find(|r| r.address == jr.address)
                .or_else(|| {
                    env.recipients
                        .iter()
                        .find(|r| r.address.eq_ignore_ascii_case(&jr.address))
                });
            let (outcome, detail) = match found.map(|r| r.state) {
                None => (
                    JobOutcome::Failed,
                    "554 5.3.0 recipient not in the queue file",
                ),
                Some(RcptState::Delivered) => (
                    JobOutcome::Delivered,
                    "250 2.0.0 delivered before (queue file)",
                ),
                Some(RcptState::Failed) => {
                    (JobOutcome::Failed, "550 5.0.0 failed before (queue file)")
                }
                Some(RcptState::Pending) => {
                    if let Some(r) = found {
                        to_try.push(r.clone());
                    }
                    continue;
                }
            };
            report.push(RecipientResult {
                address: jr.address.clone(),
                outcome: outcome as i32,
                detail: detail.into(),
            });
        }
        let mut data: Option<Vec<u8>> = None;
        let mut attempt = AttemptResult::default();
        if !to_try.is_empty() {
            match entry.read_data().await {
                Ok(d) => {
                    let tp = maillog::outgoing_traceparent(&span, &env);
                    let started = std::time::Instant::now();
                    attempt = self.rt.deliver(&env, &d, &to_try, tp.as_deref()).await;
                    metrics::attempt(&channel, started.elapsed());
                    data = Some(d);
                }
                Err(e) => {
                    let reply = Reply::local(451, "4.3.0", &format!("queue file: {e}"));
                    attempt.results = to_try
                        .iter()
                        .map(|r| RcptResult {
                            address: r.address.clone(),
                            outcome: Outcome::Retry,
                            reply: reply.clone(),
                        })
                        .collect();
                }
            }
        }
        // Failure DSNs first: a notice that cannot be queued keeps its
        // recipients pending rather than lose it.
        let failed: Vec<&RcptResult> = attempt
            .results
            .iter()
            .filter(|r| r.outcome == Outcome::Failed)
            .collect();
        let mut unbounced: Vec<String> = Vec::new();
        if !failed.is_empty()
            && let Some(d) = &data
        {
            let rcpts: Vec<DsnRecipient> = failed
                .iter()
                .filter_map(|r| {
                    let q = to_try.iter().find(|q| q.address == r.address)?;
                    dsn::wanted(q, Action::Failed).then(|| {
                        let mut x = DsnRecipient::of(
                            q,
                            Action::Failed,
                            &r.reply.status(),
                            Some(r.reply.one_line()),
                        );
                        x.remote_mta = attempt.remote.clone();
                        x
                    })
                })
                .collect();
            if let Err(e) = self.send_dsn(&env, d, rcpts, Action::Failed).await {
                tracing::warn!(queue_id = %env.id, error = %e, "bounce not queued; the recipients stay pending");
                unbounced = failed.iter().map(|r| r.address.clone()).collect();
            }
        }
        // Success notices (RFC 3461 6.2): final delivery, or a relay to a
        // server that does not take the DSN parameters.
        if self.rt.channel.dsn.success
            && let Some(d) = &data
        {
            let action = if self.rt.channel.kind == ChannelKind::Lmtp {
                Some(Action::Delivered)
            } else if !attempt.remote_dsn {
                Some(Action::Relayed)
            } else {
                None
            };
            if let Some(action) = action {
                let rcpts: Vec<DsnRecipient> = attempt
                    .results
                    .iter()
                    .filter(|r| r.outcome == Outcome::Delivered)
                    .filter_map(|r| {
                        let q = to_try.iter().find(|q| q.address == r.address)?;
                        (q.notify.is_some() && dsn::wanted(q, action)).then(|| {
                            let mut x = DsnRecipient::of(
                                q,
                                action,
                                &r.reply.status(),
                                Some(r.reply.one_line()),
                            );
                            x.remote_mta = attempt.remote.clone();
                            x
                        })
                    })
                    .collect();
                if let Err(e) = self.send_dsn(&env, d, rcpts, action).await {
                    tracing::warn!(queue_id = %env.id, error = %e, "success notice not queued");
                }
            }
        }
        for r in &mut attempt.results {
            if unbounced.contains(&r.address) {
                r.outcome = Outcome::Retry;
            }
        }
        let marks: Vec<(String, RcptState)> = attempt
            .results
            .iter()
            .filter_map(|r| match r.outcome {
                Outcome::Delivered => Some((r.address.clone(), RcptState::Delivered)),
                Outcome::Failed => Some((r.address.clone(), RcptState::Failed)),
                Outcome::Retry => None,
            })
            .collect();
        if !marks.is_empty()
            && let Err(e) = self.spool.mark(&channel, &env.id, marks).await
        {
            // Not recorded: report nothing final, so that the file and
            // jobctl agree; the recipients are tried again.
            tracing::error!(queue_id = %env.id, error = %e, "could not record delivery states");
            for r in &mut attempt.results {
                r.outcome = Outcome::Retry;
            }
        }
        for r in &attempt.results {
            maillog::result(&env, &channel, r, attempt.remote.as_deref());
            metrics::recipient(
                &channel,
                match r.outcome {
                    Outcome::Delivered => "delivered",
                    Outcome::Retry => "deferred",
                    Outcome::Failed => "bounced",
                },
            );
            if r.outcome == Outcome::Delivered {
                metrics::delivered(&channel, env.received_at);
            }
            report.push(RecipientResult {
                address: r.address.clone(),
                outcome: to_job_outcome(r.outcome),
                detail: r.reply.one_line(),
            });
        }
        let Some(resp) = self.report(&job.queue_id, report).await else {
            return;
        };
        if !resp.expired.is_empty() || !resp.delay_notice.is_empty() {
            if data.is_none() {
                data = entry.read_data().await.ok();
            }
            let last = |addr: &str| {
                attempt
                    .results
                    .iter()
                    .find(|r| r.address == addr)
                    .map(|r| r.reply.one_line())
                    .or_else(|| (!job.last_error.is_empty()).then(|| job.last_error.clone()))
            };
            if !resp.expired.is_empty() {
                self.expire(&env, data.as_deref(), &resp.expired, &last)
                    .await;
            }
            if !resp.delay_notice.is_empty()
                && self.rt.channel.dsn.delay_notices
                && let Some(d) = &data
            {
                let rcpts: Vec<DsnRecipient> = resp
                    .delay_notice
                    .iter()
                    .filter_map(|a| {
                        let q = env.recipients.iter().find(|q| &q.address == a)?;
                        dsn::wanted(q, Action::Delayed).then(|| {
                            DsnRecipient::of(
                                q,
                                Action::Delayed,
                                &status_of(last(a).as_deref(), "4.4.7"),
                                last(a),
                            )
                        })
                    })
                    .collect();
                if let Err(e) = self.send_dsn(&env, d, rcpts, Action::Delayed).await {
                    tracing::warn!(queue_id = %env.id, error = %e, "delay notice not queued");
                }
            }
        }
        if resp.done
            && let Err(e) = self.spool.remove(&channel, &env.id).await
        {
            tracing::error!(queue_id = %env.id, error = %e, "could not remove the finished queue file");
        }
    }

    /// The queue lifetime ran out for `addrs`: final bounce, then mark them
    /// failed (which removes the file when nothing else is pending).
    async fn expire(
        &self,
        env: &Envelope,
        data: Option<&[u8]>,
        addrs: &[String],
        last: &(dyn Fn(&str) -> Option<String> + Sync),
    ) {
        let channel = &self.rt.channel.name;
        if let Some(d) = data {
            let rcpts: Vec<DsnRecipient> = addrs
                .iter()
                .filter_map(|a| {
                    let q = env.recipients.iter().find(|q| &q.address == a)?;
                    let why = last(a).unwrap_or_else(|| "delivery time expired".into());
                    dsn::wanted(q, Action::Failed).then(|| {
                        DsnRecipient::of(
                            q,
                            Action::Failed,
                            "4.4.7",
                            Some(format!("{why} (delivery time expired)")),
                        )
                    })
                })
                .collect();
            if let Err(e) = self.send_dsn(env, d, rcpts, Action::Failed).await {
                tracing::error!(queue_id = %env.id, error = %e, "final bounce not queued");
            }
        }
        for a in addrs {
            maillog::expired(env, channel, a, &last(a).unwrap_or_default());
            metrics::recipient(channel, "expired");
        }
        let marks = addrs
            .iter()
            .map(|a| (a.clone(), RcptState::Failed))
            .collect();
        if let Err(e) = self.spool.mark(channel, &env.id, marks).await {
            tracing::error!(queue_id = %env.id, error = %e, "could not mark expired recipients");
        }
    }

    async fn send_dsn(
        &self,
        env: &Envelope,
        data: &[u8],
        rcpts: Vec<DsnRecipient>,
        action: Action,
    ) -> Result<(), Error> {
        let ret_full = match env.ret {
            Some(Ret::Full) => true,
            Some(Ret::Headers) => false,
            None => self.rt.channel.dsn.default_return == DsnReturn::Full,
        };
        let until = Some(env.received_at + self.rt.channel.max_lifetime);
        let n = rcpts.len();
        let req = DsnRequest {
            reporting_mta: &self.config.hostname,
            envelope: env,
            original: data,
            return_full: ret_full,
            recipients: rcpts,
            will_retry_until: until,
            now: SystemTime::now(),
        };
        let Some(notice) = dsn::build(&req) else {
            return Ok(());
        };
        let id = notice.message_id.clone();
        self.sink.send(notice, env).await?;
        let action = match action {
            Action::Failed => "failure",
            Action::Delayed => "delay",
            Action::Delivered | Action::Relayed => "success",
        };
        maillog::dsn(env, &self.rt.channel.name, action, n, &id);
        metrics::dsn(&self.rt.channel.name, action);
        Ok(())
    }
}

fn status_of(reply: Option<&str>, default: &str) -> String {
    reply
        .and_then(|r| r.split_whitespace().nth(1))
        .filter(|s| s.split('.').count() == 3 && s.starts_with('4'))
        .map(String::from)
        .unwrap_or_else(|| default.to_string())
}
