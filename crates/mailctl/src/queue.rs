//! `mailctl queue`: list and steer the delivery queue through the job
//! controller's gRPC API.

use std::time::{SystemTime, UNIX_EPOCH};

use mail_proto::jobctl::v1::job_controller_client::JobControllerClient;
use mail_proto::jobctl::v1::{Job, JobRef, JobState, ListRequest, Outcome, StatsRequest};

/// Arguments of `mailctl queue`.
#[derive(Debug, clap::Args)]
pub struct QueueArgs {
    /// The job controller, as `host:port` or `http://host:port`.
    #[arg(long, env = "TIERMAIL_JOBCTL", value_name = "ADDR")]
    pub jobctl: String,
    /// The operator's certificate (jobctl with mutual TLS).
    #[command(flatten)]
    pub tls: crate::grpc::TlsArgs,
    #[command(subcommand)]
    command: QueueCommand,
}

#[derive(Debug, clap::Subcommand)]
enum QueueCommand {
    /// List queued messages, oldest first.
    List {
        /// Only this channel.
        #[arg(long)]
        channel: Option<String>,
        /// Only this state: ready, active, deferred or held.
        #[arg(long, value_parser = parse_state)]
        state: Option<JobState>,
        /// At most this many.
        #[arg(long, default_value_t = 0)]
        limit: u32,
    },
    /// Show one message's envelope and attempt history.
    Show {
        /// Queue id.
        queue_id: String,
    },
    /// Stop delivering a message until it is released.
    Hold {
        /// Queue id.
        queue_id: String,
    },
    /// Release a held message.
    Release {
        /// Queue id.
        queue_id: String,
    },
    /// Try a deferred or held message now.
    Retry {
        /// Queue id.
        queue_id: String,
    },
    /// Remove a message from the queue without delivering it.
    Delete {
        /// Queue id.
        queue_id: String,
    },
    /// Counts per channel and the worker table.
    Stats,
}

fn parse_state(s: &str) -> Result<JobState, String> {
    match s.to_ascii_lowercase().as_str() {
        "ready" => Ok(JobState::Ready),
        "active" => Ok(JobState::Active),
        "deferred" => Ok(JobState::Deferred),
        "held" => Ok(JobState::Held),
        other => Err(format!(
            "unknown state {other:?} (ready, active, deferred, held)"
        )),
    }
}

fn state_name(s: i32) -> &'static str {
    match JobState::try_from(s).unwrap_or(JobState::Unspecified) {
        JobState::Ready => "ready",
        JobState::Active => "active",
        JobState::Deferred => "deferred",
        JobState::Held => "held",
        JobState::Unspecified => "?",
    }
}

fn when(t: i64) -> String {
    if t == 0 {
        return "-".into();
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let d = t - now;
    if d >= 0 {
        format!("in {}s", d)
    } else {
        format!("{}s ago", -d)
    }
}

fn print_job_line(j: &Job) {
    println!(
        "{:<28} {:<10} {:<12} {:>8} {:>3} {:<12} {} -> {}",
        j.queue_id,
        state_name(j.state),
        j.channel,
        j.size,
        j.attempts,
        when(j.next_attempt_at),
        if j.sender.is_empty() { "<>" } else { &j.sender },
        j.recipients
            .iter()
            .map(|r| r.address.as_str())
            .collect::<Vec<_>>()
            .join(","),
    );
}

/// Runs `mailctl queue ...`.
pub async fn run(args: QueueArgs) -> anyhow::Result<()> {
    let channel = crate::grpc::connect(&args.jobctl, &args.tls, "the job controller").await?;
    let mut c = JobControllerClient::new(channel);
    match command(&mut c, args.command).await {
        Err(e) => match e.downcast::<tonic::Status>() {
            Ok(s) => Err(crate::grpc::status("jobctl", s)),
            Err(e) => Err(e),
        },
        ok => ok,
    }
}

async fn command(
    c: &mut JobControllerClient<tonic::transport::Channel>,
    command: QueueCommand,
) -> anyhow::Result<()> {
    let r = |id: String| JobRef { queue_id: id };
    match command {
        QueueCommand::List {
            channel,
            state,
            limit,
        } => {
            let jobs = c
                .list(ListRequest {
                    channel: channel.unwrap_or_default(),
                    state: state.unwrap_or(JobState::Unspecified) as i32,
                    limit,
                })
                .await?
                .into_inner()
                .jobs;
            println!(
                "{:<28} {:<10} {:<12} {:>8} {:>3} {:<12} envelope",
                "queue id", "state", "channel", "size", "try", "next"
            );
            for j in &jobs {
                print_job_line(j);
            }
            println!("{} message(s)", jobs.len());
        }
        QueueCommand::Show { queue_id } => {
            let s = c.show(r(queue_id)).await?.into_inner();
            if let Some(j) = &s.job {
                println!("queue id:    {}", j.queue_id);
                println!("state:       {}", state_name(j.state));
                println!("relay:       {}", j.relay);
                println!("channel:     {} (host {})", j.channel, j.host);
                println!("message-id:  {}", j.message_id);
                println!(
                    "sender:      {}",
                    if j.sender.is_empty() { "<>" } else { &j.sender }
                );
                for rc in &j.recipients {
                    println!("recipient:   {}", rc.address);
                }
                println!("size:        {}", j.size);
                println!("priority:    {}", j.priority);
                println!("queued:      {}", when(j.queued_at));
                println!("attempts:    {}", j.attempts);
                println!("next try:    {}", when(j.next_attempt_at));
                if !j.last_error.is_empty() {
                    println!("last error:  {}", j.last_error);
                }
            }
            for a in &s.history {
                println!("attempt {} by {}:", when(a.at), a.worker_id);
                for res in &a.results {
                    let o = Outcome::try_from(res.outcome).unwrap_or(Outcome::Unspecified);
                    println!(
                        "  {:<30} {:<10} {}",
                        res.address,
                        o.as_str_name(),
                        res.detail
                    );
                }
            }
        }
        QueueCommand::Hold { queue_id } => {
            c.hold(r(queue_id.clone())).await?;
            println!("{queue_id}: held");
        }
        QueueCommand::Release { queue_id } => {
            c.release(r(queue_id.clone())).await?;
            println!("{queue_id}: released");
        }
        QueueCommand::Retry { queue_id } => {
            c.retry(r(queue_id.clone())).await?;
            println!("{queue_id}: due now");
        }
        QueueCommand::Delete { queue_id } => {
            c.delete(r(queue_id.clone())).await?;
            println!("{queue_id}: deleted");
        }
        QueueCommand::Stats => {
            let s = c.stats(StatsRequest {}).await?.into_inner();
            println!(
                "{:<12} {:>7} {:>7} {:>9} {:>6} {:>6} {:>6}",
                "channel", "ready", "active", "deferred", "held", "busy", "idle"
            );
            for ch in &s.channels {
                println!(
                    "{:<12} {:>7} {:>7} {:>9} {:>6} {:>6} {:>6}",
                    ch.channel,
                    ch.ready,
                    ch.active,
                    ch.deferred,
                    ch.held,
                    ch.workers_busy,
                    ch.workers_idle
                );
            }
            if !s.workers.is_empty() {
                println!();
                println!(
                    "{:<24} {:<12} {:<16} {:<6} since",
                    "worker", "channel", "relay", "state"
                );
                for w in &s.workers {
                    println!(
                        "{:<24} {:<12} {:<16} {:<6} {}",
                        w.worker_id,
                        w.channel,
                        w.relay,
                        if w.busy { "busy" } else { "idle" },
                        when(w.since)
                    );
                }
            }
        }
    }
    Ok(())
}
