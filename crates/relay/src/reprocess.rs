//! The `reprocess` master channel: what happens to a message after it is
//! safely queued and before it reaches a mailbox.
//!
//! - A group address is expanded through the directory (nesting, dynamic
//!   members, loop cut, posting rights) and every member routed again.
//! - A user with forwarding gets the message at the forwarding addresses
//!   (and in the mailbox too with "keep a local copy").
//! - A user with an active vacation notice sends the sender one autoreply
//!   per period (RFC 3834: never to `<>`, lists, bulk or other automatic
//!   mail; `Auto-Submitted: auto-replied`; sent from `<>`).
//!
//! Every pass prepends `Delivered-To:` for the address it expanded; an
//! address already named there is a mail loop (`554 5.4.6`), which is how
//! forwarding A -> B -> A and groups that list each other end.
//!
//! The new queue entries are durable before the recipients are marked
//! done, so a crash in between queues them twice at worst (the one
//! duplicate the design allows) and never loses them.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mail_core::shutdown::Shutdown;
use mail_directory::{Address, ExpansionConfig};
use mail_proto::jobctl::v1::{
    Job, LeaseRequest, Outcome as JobOutcome, RecipientResult, ReportRequest,
};
use mail_queue::{Content, Envelope, QueueId, QueuedRecipient, RcptState};
use mail_routing::Entry;
use tracing::Instrument;

use crate::Relay;

/// How the reprocess workers behave.
#[derive(Debug, Clone)]
pub struct ReprocessConfig {
    /// The channel name in the routing file (kind `reprocess`).
    pub channel: String,
    /// Concurrent workers.
    pub workers: usize,
    /// Group expansion limits.
    pub expansion: ExpansionConfig,
    /// One vacation reply per sender and user within this period.
    pub vacation_period: Duration,
    /// Where vacation replies are remembered.
    pub state_dir: PathBuf,
    /// This relay's host name (autoreply Message-IDs).
    pub hostname: String,
    /// How long a worker holds a job (`[delivery] lease`, as the delivery
    /// channels use): what a crashed relay held is offered again after it.
    pub lease: Duration,
}

/// What became of one recipient.
struct Done {
    address: String,
    outcome: JobOutcome,
    detail: String,
}

/// Starts the workers; they stop at shutdown after the job in hand.
pub fn start(relay: Relay, cfg: ReprocessConfig, shutdown: &Shutdown) {
    for n in 0..cfg.workers.max(1) {
        let (relay, cfg, stop) = (relay.clone(), cfg.clone(), shutdown.clone());
        shutdown.spawn(async move {
            let worker = format!("{}/{}/{n}", relay.jobctl.relay(), cfg.channel);
            while !stop.is_triggered() {
                let lease = LeaseRequest {
                    worker_id: worker.clone(),
                    channel: cfg.channel.clone(),
                    relay: relay.jobctl.relay().to_string(),
                    max_jobs: 1,
                    lease_seconds: u32::try_from(cfg.lease.as_secs().max(1)).unwrap_or(u32::MAX),
                    wait_millis: 2000,
                    removed: Vec::new(),
                };
                let jobs = tokio::select! {
                    _ = stop.triggered() => break,
                    r = relay.jobctl.lease(lease) => match r {
                        Ok(jobs) => jobs,
                        Err(e) => {
                            tracing::warn!(error = %e, "reprocess: jobctl lease failed");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            continue;
                        }
                    },
                };
                for job in jobs {
                    let span = tracing::info_span!("reprocess", queue_id = %job.queue_id);
                    process(&relay, &cfg, &worker, job).instrument(span).await;
                }
            }
        });
    }
}

/// Reports every recipient of `job` with one outcome (a job that cannot
/// be worked on must still be settled, or it is leased again forever).
async fn report_all(relay: &Relay, worker: &str, job: &Job, outcome: JobOutcome, detail: &str) {
    let report = ReportRequest {
        worker_id: worker.to_string(),
        queue_id: job.queue_id.clone(),
        results: job
            .recipients
            .iter()
            .map(|r| RecipientResult {
                address: r.address.clone(),
                outcome: outcome as i32,
                detail: detail.to_string(),
            })
            .collect(),
    };
    if let Err(e) = relay.jobctl.client().report(report).await {
        tracing::warn!(error = %e, "reprocess: report failed; jobctl offers the job again");
    }
}

async fn process(relay: &Relay, cfg: &ReprocessConfig, worker: &str, job: Job) {
    let Ok(id) = job.queue_id.parse::<QueueId>() else {
        tracing::error!(queue_id = %job.queue_id, "reprocess: not a queue id");
        report_all(
            relay,
            worker,
            &job,
            JobOutcome::Failed,
            "550 5.3.0 invalid queue id",
        )
        .await;
        return;
    };
    let (env, data) = match relay.spool.read(&cfg.channel, &id).await {
        Ok(x) => x,
        // Removed once every recipient was done, by a worker that died
        // before reporting (or a duplicate job): settled, as the delivery
        // channels do.
        Err(mail_queue::Error::NotFound { .. }) => {
            report_all(
                relay,
                worker,
                &job,
                JobOutcome::Delivered,
                "250 2.0.0 already done (no queue file)",
            )
            .await;
            return;
        }
        Err(e) => {
            // Unreadable: the job comes back when its lease runs out.
            tracing::warn!(error = %e, "reprocess: queue file unreadable");
            return;
        }
    };
    let mut results = Vec::new();
    for r in env.recipients.iter() {
        match r.state {
            RcptState::Pending => results.push(handle(relay, cfg, &env, &data, r).await),
            RcptState::Delivered => results.push(Done {
                address: r.address.clone(),
                outcome: JobOutcome::Delivered,
                detail: "250 2.0.0 expanded earlier".into(),
            }),
            RcptState::Failed => results.push(Done {
                address: r.address.clone(),
                outcome: JobOutcome::Failed,
                detail: "554 5.0.0 failed earlier".into(),
            }),
        }
    }
    let marks: Vec<(String, RcptState)> = results
        .iter()
        .filter_map(|d| match d.outcome {
            JobOutcome::Delivered => Some((d.address.clone(), RcptState::Delivered)),
            JobOutcome::Failed => Some((d.address.clone(), RcptState::Failed)),
            _ => None,
        })
        .collect();
    // The notice goes into the queue before the failure is recorded, so
    // a crash in between repeats the notice rather than losing it.
    if !bounce(relay, cfg, &env, &data, &results).await {
        return;
    }
    if let Err(e) = relay.spool.mark(&cfg.channel, &id, marks).await {
        tracing::error!(error = %e, "reprocess: could not record results; retrying the job");
        return;
    }
    for d in &results {
        tracing::info!(
            target: "mail_log",
            event = match d.outcome {
                JobOutcome::Delivered => "expanded",
                JobOutcome::Failed => "bounced",
                _ => "deferred",
            },
            queue_id = %id,
            message_id = env.message_id.as_deref().unwrap_or(""),
            channel = %cfg.channel,
            recipient = %d.address,
            result = %d.detail,
        );
    }
    let report = ReportRequest {
        worker_id: worker.to_string(),
        queue_id: job.queue_id.clone(),
        results: results
            .into_iter()
            .map(|d| RecipientResult {
                address: d.address,
                outcome: d.outcome as i32,
                detail: d.detail,
            })
            .collect(),
    };
    if let Err(e) = relay.jobctl.client().report(report).await {
        tracing::warn!(error = %e, "reprocess: report failed; jobctl offers the job again");
    }
}

/// Queues one DSN (RFC 3464) for the recipients that failed in this pass,
/// where their NOTIFY asks for it. False when it could not be queued.
async fn bounce(
    relay: &Relay,
    cfg: &ReprocessConfig,
    env: &Envelope,
    data: &[u8],
    results: &[Done],
) -> bool {
    use mail_delivery::dsn::{self, Action, DsnRecipient, DsnRequest};
    let recipients: Vec<DsnRecipient> = results
        .iter()
        .filter(|d| d.outcome == JobOutcome::Failed)
        .filter_map(|d| {
            let r = env
                .recipients
                .iter()
                .find(|r| r.address == d.address && r.state == RcptState::Pending)?;
            dsn::wanted(r, Action::Failed).then(|| {
                let status = d.detail.split_whitespace().nth(1).unwrap_or("5.0.0");
                DsnRecipient::of(r, Action::Failed, status, Some(d.detail.clone()))
            })
        })
        .collect();
    if recipients.is_empty() || env.sender.is_empty() {
        return true;
    }
    let Some(notice) = dsn::build(&DsnRequest {
        reporting_mta: &cfg.hostname,
        envelope: env,
        original: data,
        return_full: env.ret == Some(mail_smtp_proto::Ret::Full),
        recipients,
        will_retry_until: None,
        now: SystemTime::now(),
    }) else {
        return true;
    };
    match relay.dsn.send(notice, env).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "reprocess: DSN not queued; retrying the job");
            false
        }
    }
}

fn retry(address: &str, why: impl std::fmt::Display) -> Done {
    Done {
        address: address.to_string(),
        outcome: JobOutcome::Retry,
        detail: format!("451 4.3.0 {why}"),
    }
}

fn failed(address: &str, detail: impl Into<String>) -> Done {
    Done {
        address: address.to_string(),
        outcome: JobOutcome::Failed,
        detail: detail.into(),
    }
}

/// Header field values named `name` (case-insensitive, unfolded).
fn header_values(data: &[u8], name: &str) -> Vec<String> {
    let text = String::from_utf8_lossy(mail_delivery::dsn::header_block(data));
    let mut out: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        if line.starts_with([' ', '\t']) {
            if let Some(c) = current.as_mut() {
                c.push(' ');
                c.push_str(line.trim());
            }
            continue;
        }
        if let Some(c) = current.take() {
            out.push(c);
        }
        if let Some((n, v)) = line.split_once(':')
            && n.trim().eq_ignore_ascii_case(name)
        {
            current = Some(v.trim().to_string());
        }
    }
    out.extend(current);
    out
}

async fn handle(
    relay: &Relay,
    cfg: &ReprocessConfig,
    env: &Envelope,
    data: &[u8],
    r: &QueuedRecipient,
) -> Done {
    let address = r.address.as_str();
    if header_values(data, "Delivered-To")
        .iter()
        .any(|d| d.eq_ignore_ascii_case(address))
    {
        return failed(
            address,
            "554 5.4.6 Mail loop: already delivered to this address",
        );
    }
    let route = match relay.router.route(&*relay.directory, address).await {
        Ok(r) => r,
        Err(e) if e.error.is_temporary() => return retry(address, e.error),
        Err(e) => {
            let (code, status, text) = e.error.smtp_reply();
            return failed(address, format!("{code} {status} {text}"));
        }
    };
    let targets: Vec<String> = match &route.entry {
        Entry::Group(g) => {
            let group = match relay.directory.group(&g.name).await {
                Ok(Some(group)) => group,
                Ok(None) => return failed(address, "550 5.1.1 The list no longer exists"),
                Err(e) if e.is_temporary() => return retry(address, e),
                Err(e) => return failed(address, format!("554 5.3.0 {e}")),
            };
            let expansion =
                match mail_directory::expand_group(&*relay.directory, &group, &cfg.expansion).await
                {
                    Ok(x) => x,
                    Err(e) if e.is_temporary() => return retry(address, e),
                    Err(e) => return failed(address, format!("554 5.3.0 {e}")),
                };
            let may = match Address::parse(&env.sender) {
                Ok(s) => mail_directory::may_post(&group, &s, Some(&expansion)),
                // Bounces to a list go to nobody (RFC 3461 loops).
                Err(_) => false,
            };
            if !may {
                return failed(address, "550 5.7.1 The sender may not post to this list");
            }
            for l in &expansion.loops {
                tracing::warn!(list = %g.name, at = %l, "group loop cut during expansion");
            }
            expansion.recipients
        }
        Entry::User(u) => {
            if u.has_vacation {
                vacation(relay, cfg, env, data, &u.uid, address).await;
            }
            if u.forward_to.is_empty() || u.keep_local_copy {
                // The mailbox itself: the route routing chose for the user.
                let host = mail_delivery::host_for(&route.destination);
                if let Err(e) = enqueue(
                    relay,
                    env,
                    data,
                    address,
                    vec![(route.channel.clone(), host, route.final_address.clone())],
                )
                .await
                {
                    return retry(address, e);
                }
            }
            u.forward_to.clone()
        }
        Entry::None => {
            // Routed somewhere without a directory entry (an outside
            // address reached by a rewrite): deliver it there.
            let host = mail_delivery::host_for(&route.destination);
            return match enqueue(
                relay,
                env,
                data,
                address,
                vec![(route.channel.clone(), host, route.final_address.clone())],
            )
            .await
            {
                Ok(()) => Done {
                    address: address.to_string(),
                    outcome: JobOutcome::Delivered,
                    detail: format!("250 2.1.5 routed to {}", route.channel),
                },
                Err(e) => retry(address, e),
            };
        }
    };
    let mut routed = Vec::new();
    for t in &targets {
        match relay.router.route(&*relay.directory, t).await {
            Ok(rt) => {
                let (channel, host) = match crate::lookup::reprocess_channel(&relay.router, &rt) {
                    Some(c) => (c, "reprocess".to_string()),
                    None => (rt.channel.clone(), mail_delivery::host_for(&rt.destination)),
                };
                routed.push((channel, host, rt.final_address.clone()));
            }
            Err(e) if e.error.is_temporary() => return retry(address, e.error),
            // One bad member does not stop the list.
            Err(e) => {
                tracing::warn!(member = %t, error = %e.error, "member does not route; skipped")
            }
        }
    }
    if let Err(e) = enqueue(relay, env, data, address, routed).await {
        return retry(address, e);
    }
    Done {
        address: address.to_string(),
        outcome: JobOutcome::Delivered,
        detail: format!("250 2.1.5 expanded to {} recipients", targets.len()),
    }
}

/// Queues `data` again for `targets` (channel, host, recipient), with a
/// `Delivered-To:` line for the address that was expanded.
async fn enqueue(
    relay: &Relay,
    env: &Envelope,
    data: &[u8],
    expanded: &str,
    targets: Vec<(String, String, String)>,
) -> Result<(), mail_queue::Error> {
    if targets.is_empty() {
        return Ok(());
    }
    let mut groups: Vec<Envelope> = Vec::new();
    for (channel, host, rcpt) in targets {
        let q = QueuedRecipient::new(rcpt);
        match groups
            .iter_mut()
            .find(|e| e.channel == channel && e.host == host)
        {
            Some(e) => {
                if !e.recipients.iter().any(|r| r.address == q.address) {
                    e.recipients.push(q);
                }
            }
            None => {
                let mut e = env.clone();
                e.id = relay.spool.next_id();
                e.channel = channel;
                e.host = host;
                e.recipients = vec![q];
                groups.push(e);
            }
        }
    }
    let prefix = format!("Delivered-To: {expanded}\r\n").into_bytes();
    let queued = relay
        .spool
        .enqueue(groups, prefix, Content::Bytes(data.to_vec()))
        .await?;
    relay.jobctl.submit(&queued).await;
    Ok(())
}

/// Sends the vacation notice of `uid` to the sender, once per period.
async fn vacation(
    relay: &Relay,
    cfg: &ReprocessConfig,
    env: &Envelope,
    data: &[u8],
    uid: &str,
    address: &str,
) {
    let sender = env.sender.trim();
    if sender.is_empty() {
        return;
    }
    // RFC 3834 2: no replies to automatic mail, lists or bulk mail.
    let automatic = header_values(data, "Auto-Submitted")
        .iter()
        .any(|v| !v.eq_ignore_ascii_case("no"))
        || header_values(data, "Precedence")
            .iter()
            .any(|v| matches!(v.to_ascii_lowercase().as_str(), "bulk" | "list" | "junk"))
        || !header_values(data, "List-Id").is_empty()
        || sender.to_ascii_lowercase().starts_with("mailer-daemon@")
        || sender.to_ascii_lowercase().starts_with("owner-");
    if automatic {
        return;
    }
    let user = match relay.directory.user(uid).await {
        Ok(Some(u)) => u,
        _ => return,
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let Some(v) = user.delivery.vacation.as_ref().filter(|v| v.active_at(now)) else {
        return;
    };
    // Small file-system work, kept off the runtime threads.
    let (dir, period) = (cfg.state_dir.clone(), cfg.vacation_period);
    let (who, to) = (uid.to_string(), sender.to_string());
    let first = tokio::task::spawn_blocking(move || first_in_period(&dir, period, &who, &to))
        .await
        .unwrap_or(true);
    if !first {
        return;
    }
    let subject = header_values(data, "Subject")
        .into_iter()
        .next()
        .unwrap_or_default();
    let original_id = env.message_id.clone().unwrap_or_default();
    let message_id = format!("<vacation.{}.{now}@{}>", env.id, cfg.hostname);
    let mut msg = format!(
        "From: {from}\r\nTo: {sender}\r\nSubject: Auto: {subject}\r\nDate: {date}\r\nAuto-Submitted: auto-replied\r\nMessage-ID: {message_id}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n",
        from = user.address,
        // RFC 5322 3.6: the origination date is required.
        date = mail_core::date::rfc5322(SystemTime::now()),
    );
    if !original_id.is_empty() {
        msg.push_str(&format!(
            "In-Reply-To: {original_id}\r\nReferences: {original_id}\r\n"
        ));
    }
    msg.push_str("\r\n");
    for line in v.text.lines() {
        msg.push_str(line);
        msg.push_str("\r\n");
    }
    let new = mail_delivery::NewMessage {
        sender: String::new(),
        recipients: vec![sender.to_string()],
        data: msg.into_bytes(),
        eight_bit: !v.text.is_ascii(),
        smtputf8: false,
        message_id: Some(message_id),
        traceparent: env.traceparent.clone(),
    };
    match mail_delivery::enqueue_message(
        &relay.spool,
        &relay.router,
        &*relay.directory,
        &relay.jobctl,
        new,
    )
    .await
    {
        Ok(_) => {
            tracing::info!(target: "mail_log", event = "vacation", recipient = %address, sender = %sender, "vacation notice queued")
        }
        Err(e) => tracing::warn!(error = %e, "vacation notice not queued"),
    }
}

/// True (and remembered) if `uid` has not answered `sender` within the
/// vacation period. A file per pair whose mtime is the last reply.
fn first_in_period(state_dir: &std::path::Path, period: Duration, uid: &str, sender: &str) -> bool {
    let mut h = DefaultHasher::new();
    (uid.to_ascii_lowercase(), sender.to_ascii_lowercase()).hash(&mut h);
    let path = state_dir.join(format!("{:016x}", h.finish()));
    if let Ok(meta) = std::fs::metadata(&path)
        && let Ok(modified) = meta.modified()
        && modified.elapsed().is_ok_and(|e| e < period)
    {
        return false;
    }
    if let Err(e) = std::fs::create_dir_all(state_dir)
        .and_then(|()| std::fs::write(&path, format!("{uid} {sender}\n")))
    {
        // Better one reply too many than none at all.
        tracing::warn!(error = %e, "vacation state not saved");
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_unfold_and_stop_at_the_body() {
        let m = b"Subject: a\r\n b\r\nDelivered-To: x@y\r\n\r\nDelivered-To: body@z\r\n";
        assert_eq!(header_values(m, "subject"), vec!["a b".to_string()]);
        assert_eq!(header_values(m, "Delivered-To"), vec!["x@y".to_string()]);
    }
}
